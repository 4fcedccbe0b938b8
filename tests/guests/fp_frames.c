/* The FPU state a signal handler finds in its frame, for signals that
 * arrive while a thread makes a call emu carries out itself (close, which
 * goes through the dispatcher: at a rewritten site, the entry's own frame
 * holds the state) or runs its own code: the x87 control word, MXCSR (set
 * to a value of the guest's), XMM8, and ST0. The calls themselves must keep
 * MXCSR and XMM8. Prints what it saw; the native run prints the same.
 *
 *   fp_frames x87       pi pushed on the x87 stack (in use); XMM8 a pattern
 *   fp_frames init      the x87 state initial (an XRSTOR of nothing, which
 *                       an XSAVEOPT then leaves out); XMM8 a pattern
 *   fp_frames sse-init  the x87 and SSE states initial: every XMM 0 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define GUEST_MXCSR 0x7f80u /* round toward zero, exceptions masked */
#define PATTERN 0x0123456789abcdefull
#define WANTED 2000

static atomic_int handled, wrong_fcw, wrong_mxcsr, wrong_xmm8, wrong_st0;
static atomic_int stop, ready;
static int x87, sse_init;
static pid_t looper;

static void on_usr1(int sig, siginfo_t *info, void *ucv) {
    (void)sig;
    (void)info;
    ucontext_t *uc = ucv;
    struct _libc_fpstate *fp = uc->uc_mcontext.fpregs;
    if (fp->cwd != 0x37f)
        atomic_fetch_add(&wrong_fcw, 1);
    if (fp->mxcsr != GUEST_MXCSR)
        atomic_fetch_add(&wrong_mxcsr, 1);
    uint64_t low;
    memcpy(&low, &fp->_xmm[8], 8);
    if (low != (sse_init ? 0 : PATTERN))
        atomic_fetch_add(&wrong_xmm8, 1);
    static const struct _libc_xmmreg zero;
    for (int i = 0; sse_init && i < 16; i++)
        if (memcmp(&fp->_xmm[i], &zero, sizeof zero) != 0) {
            atomic_fetch_add(&wrong_xmm8, 1);
            break;
        }
    if (!x87 && (fp->_st[0].significand[0] | fp->_st[0].significand[3] | fp->_st[0].exponent | fp->swd | fp->ftw))
        atomic_fetch_add(&wrong_st0, 1);
    /* pi as the x87 holds it: significand c90fdaa22168c235, exponent 4000. */
    if (x87 && !(fp->_st[0].significand[3] == 0xc90f && fp->_st[0].significand[2] == 0xdaa2 &&
                 fp->_st[0].significand[1] == 0x2168 && fp->_st[0].significand[0] == 0xc235 &&
                 fp->_st[0].exponent == 0x4000))
        atomic_fetch_add(&wrong_st0, 1);
    atomic_fetch_add(&handled, 1);
}

static void *signaller(void *arg) {
    (void)arg;
    while (!atomic_load(&ready))
        ;
    while (atomic_load(&handled) < WANTED) {
        syscall(SYS_tgkill, getpid(), looper, SIGUSR1);
        usleep(20);
    }
    atomic_store(&stop, 1);
    return NULL;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "x87";
    x87 = strcmp(mode, "x87") == 0;
    sse_init = strcmp(mode, "sse-init") == 0;
    struct sigaction sa = {0};
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    looper = gettid();
    pthread_t t;
    pthread_create(&t, NULL, signaller, NULL);
    long calls = 0, lost_mxcsr = 0, lost_xmm8 = 0;
    uint32_t mxcsr = GUEST_MXCSR;
    uint64_t pattern = PATTERN;
    __asm__ volatile("ldmxcsr %0" ::"m"(mxcsr));
    if (x87)
        __asm__ volatile("fldpi");
    if (!sse_init)
        __asm__ volatile("movq %0, %%xmm8" ::"r"(pattern) : "xmm8");
    /* An XRSTOR of a header that marks the x87 (and SSE) state initial, so
     * that the CPU tracks it as not in use: before every call, since every
     * signal's return loads a frame that marks it in use. With the SSE
     * state, it loads MXCSR from the area too. */
    static _Alignas(64) uint8_t area[576];
    memcpy(area + 24, &mxcsr, 4);
    uint32_t features = sse_init ? 3 : x87 ? 0 : 1;
    atomic_store(&ready, 1);
    while (!atomic_load(&stop)) {
        long r;
        uint64_t xmm8;
        uint32_t now;
        /* The glibc shape, which emu rewrites after a few traps. */
        __asm__ volatile("xrstor64 %4\n\tmov %3, %%eax\n\tsyscall\n\tmovq %%xmm8, %1\n\tstmxcsr %2"
                         : "=a"(r), "=r"(xmm8), "=m"(now)
                         : "i"(SYS_close), "m"(area), "D"(-1L), "a"(features), "d"(0)
                         : "rcx", "r11", "memory");
        calls++;
        lost_xmm8 += xmm8 != (sse_init ? 0 : PATTERN);
        lost_mxcsr += now != GUEST_MXCSR;
        (void)r;
    }
    pthread_join(t, NULL);
    mxcsr = 0x1f80;
    __asm__ volatile("ldmxcsr %0" ::"m"(mxcsr));
    printf("handled at least %d signals: FCW wrong %d, MXCSR wrong %d, XMM8 wrong %d, ST0 wrong %d\n",
           atomic_load(&handled) >= WANTED ? WANTED : -1, wrong_fcw, wrong_mxcsr, wrong_xmm8, wrong_st0);
    printf("calls made: more than 1000 %s; MXCSR lost %ld, XMM8 lost %ld\n", calls > 1000 ? "yes" : "no",
           lost_mxcsr, lost_xmm8);
    return 0;
}
