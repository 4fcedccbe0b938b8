/* Syscall sites as emu rewrites them (tests/rewrite.rs), each mode printing
 * what it saw, the same natively and under emu:
 *   threads  8 threads run the same fresh sites at once, while they are
 *            being rewritten, and check every result
 *   jump     a jump straight to a rewritten `syscall` (RAX set elsewhere)
 *   kept_then_jumped  a site called 4 times, then its `syscall` reached 20
 *            times by a jump with another number
 *   jumped_at_fourth  the same site called 3 times, then reached by such a
 *            jump, then called 5 times
 *   signals  signals flood threads that sit in rewritten calls (blocking
 *            reads, and a getppid loop)
 *   prompt   signals sent one at a time to threads that loop on a call emu
 *            carries out itself (rt_sigprocmask), each handled before the
 *            next is sent: none may wait behind the entry's way back
 *   prompt_segv  the same with SIGSEGV sent by pthread_kill
 *   vector   the AVX registers' upper halves across calls emu carries out
 *            itself, both ways back (a changed mask: rt_sigreturn; none:
 *            the entry's own XRSTOR)
 *   fork     rewritten sites in a forked child and an exec'd image
 *   gs       the guest sets GS after sites were rewritten
 *   jit      code written at run time, rewritten, then written over by the
 *            guest (another call, then a ud2 of its own where the syscall was)
 *   step     the guest single-steps itself (EFLAGS.TF) through a call site
 *            100 times, counting its SIGTRAPs (emu must be told --no-rewrite)
 *   split    a site across two pages of written code; after its rewrite the
 *            second page becomes read-only, then the guest sets GS (every
 *            site is put back): the calls still answer, and each page keeps
 *            its own protection
 * The sites are written in assembly so that their shape is known: the
 * `mov eax, imm32; syscall` of glibc and musl. */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <x86intrin.h>
#include <ucontext.h>
#include <unistd.h>

long site_getppid_a(void);
long site_getppid_b(void);
long site_getppid_c(void);
long site_getppid_d(void);
long site_getpid(void);
long jump_to_site(long nr);
long site_read(long fd, void *buf, long n);
long site_write(long fd, const void *buf, long n);
long site_sigprocmask(long how, const void *set, void *old, long size);
long vector_sigprocmask(long how, const void *set, const unsigned long *in, unsigned long *out);

__asm__(".text\n"
        "site_getppid_a: mov $110, %eax\n syscall\n ret\n"
        "site_getppid_b: mov $110, %eax\n syscall\n ret\n"
        "site_getppid_c: mov $110, %eax\n syscall\n ret\n"
        "site_getppid_d: mov $110, %eax\n syscall\n ret\n"
        /* getpid; its syscall is also reached by a jump, with another number */
        "site_getpid: mov $39, %eax\n"
        "site_getpid_syscall: syscall\n ret\n"
        "jump_to_site: mov %rdi, %rax\n jmp site_getpid_syscall\n"
        "site_read: mov $0, %eax\n syscall\n ret\n"
        "site_write: mov $1, %eax\n syscall\n ret\n"
        "site_sigprocmask: mov $14, %eax\n mov %rcx, %r10\n syscall\n ret\n"
        /* ymm8 from in[4] before the call, to out[4] after it */
        "vector_sigprocmask: vmovdqu (%rdx), %ymm8\n mov %rcx, %r8\n xor %edx, %edx\n mov $8, %r10d\n"
        " mov $14, %eax\n syscall\n vmovdqu %ymm8, (%r8)\n vzeroupper\n ret\n");

static pthread_barrier_t start;
static atomic_long wrong;
static long expected_ppid;

static void *hammer(void *arg) {
    long (*sites[])(void) = {site_getppid_a, site_getppid_b, site_getppid_c, site_getppid_d};
    (void)arg;
    pthread_barrier_wait(&start);
    for (int i = 0; i < 20000; i++)
        if (sites[i % 4]() != expected_ppid)
            atomic_fetch_add(&wrong, 1);
    return NULL;
}

static int threads(void) {
    expected_ppid = getppid();
    pthread_t t[8];
    pthread_barrier_init(&start, NULL, 8);
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, hammer, NULL);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    printf("8 threads, 20000 calls each through 4 sites: %ld wrong results\n", (long)wrong);
    return 0;
}

static int jump(void) {
    long pid = getpid(), ppid = getppid();
    int ok = 1;
    for (int i = 0; i < 100; i++)
        ok &= site_getpid() == pid;
    printf("the site itself: %s\n", ok ? "getpid" : "wrong");
    printf("jumping to its syscall with getppid's number: %s\n", jump_to_site(SYS_getppid) == ppid ? "getppid" : "wrong");
    printf("and again with getpid's: %s\n", jump_to_site(SYS_getpid) == pid ? "getpid" : "wrong");
    printf("the site again: %s\n", site_getpid() == pid ? "getpid" : "wrong");
    return 0;
}

/* The getpid site 4 times (a run keeps it for the next), then its syscall
 * 20 times by a jump with getppid's number (the 16th trap refuses it: the
 * instruction before it did not load the number). */
static int kept_then_jumped(void) {
    long pid = getpid(), ppid = getppid();
    int ok = 1;
    for (int i = 0; i < 4; i++)
        ok &= site_getpid() == pid;
    for (int i = 0; i < 20; i++)
        ok &= jump_to_site(SYS_getppid) == ppid;
    printf("4 calls of the site, 20 jumps to its syscall: %s\n", ok ? "right" : "wrong");
    return 0;
}

/* The getpid site 3 times, then its syscall by a jump with getppid's
 * number: its 4th trap, where it would be kept, refuses it. */
static int jumped_at_fourth(void) {
    long pid = getpid(), ppid = getppid();
    int ok = 1;
    for (int i = 0; i < 3; i++)
        ok &= site_getpid() == pid;
    ok &= jump_to_site(SYS_getppid) == ppid;
    for (int i = 0; i < 5; i++)
        ok &= site_getpid() == pid;
    printf("3 calls, a jump, 5 calls: %s\n", ok ? "right" : "wrong");
    return 0;
}

static atomic_long handled;
static void on_usr1(int sig) {
    (void)sig;
    atomic_fetch_add(&handled, 1);
}

struct reader {
    int fd;
    char got[16];
};

static void *read_one(void *arg) {
    struct reader *r = arg;
    long n;
    /* SA_RESTART: the read goes on through every signal. */
    while ((n = site_read(r->fd, r->got, sizeof r->got - 1)) == -EINTR)
        ;
    r->got[n > 0 ? n : 0] = 0;
    return NULL;
}

static void *loop_getppid(void *arg) {
    (void)arg;
    for (int i = 0; i < 200000; i++)
        if (site_getppid_a() != expected_ppid)
            atomic_fetch_add(&wrong, 1);
    return NULL;
}

static int signals(void) {
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
    sigaction(SIGUSR1, &sa, NULL);
    expected_ppid = getppid();
    enum { READERS = 4, LOOPERS = 2 };
    int fds[READERS][2];
    struct reader r[READERS];
    pthread_t t[READERS + LOOPERS];
    for (int i = 0; i < READERS; i++) {
        pipe(fds[i]);
        r[i].fd = fds[i][0];
        pthread_create(&t[i], NULL, read_one, &r[i]);
    }
    for (int i = 0; i < LOOPERS; i++)
        pthread_create(&t[READERS + i], NULL, loop_getppid, NULL);
    for (int round = 0; round < 2000; round++)
        for (int i = 0; i < READERS + LOOPERS; i++)
            pthread_kill(t[i], SIGUSR1);
    for (int i = 0; i < READERS; i++) {
        char msg[16];
        snprintf(msg, sizeof msg, "reader %d", i);
        site_write(fds[i][1], msg, strlen(msg));
    }
    for (int i = 0; i < READERS + LOOPERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < READERS; i++)
        printf("%s got \"%s\"\n", i == 0 ? "the first reader" : "a reader", r[i].got);
    printf("getppid loops under signals: %ld wrong results; handler ran: %s\n", (long)wrong,
           handled > 0 ? "yes" : "no");
    return 0;
}

static int vector(void) {
    enum { CALLS = 800 };
    int kept = 0;
    unsigned long usr2 = 1UL << (SIGUSR2 - 1);
    for (int i = 0; i < CALLS; i++) {
        unsigned long in[4] = {0x1111 + i, 0x2222, 0x3333, 0x4444 + i}, out[4] = {0};
        if (!__builtin_cpu_supports("avx")) {
            kept++;
            continue;
        }
        /* The first half changes the mask each time; the second does not. */
        long how = i < CALLS / 2 ? (i & 1 ? SIG_UNBLOCK : SIG_BLOCK) : SIG_BLOCK;
        vector_sigprocmask(how, i < CALLS / 2 ? &usr2 : NULL, in, out);
        kept += !memcmp(in, out, sizeof in);
    }
    printf("ymm8 kept across %d of %d rt_sigprocmask calls\n", kept, CALLS);
    return 0;
}

static volatile int steps;
extern char step_done[];

static void on_step(int sig, siginfo_t *info, void *uc_) {
    ucontext_t *uc = uc_;
    (void)sig;
    (void)info;
    steps++;
    if ((char *)uc->uc_mcontext.gregs[REG_RIP] == step_done)
        uc->uc_mcontext.gregs[REG_EFL] &= ~0x100L;
}

static int step(void) {
    struct sigaction sa = {.sa_sigaction = on_step, .sa_flags = SA_SIGINFO};
    sigaction(SIGTRAP, &sa, NULL);
    long pid = 0;
    for (int i = 0; i < 100; i++)
        __asm__ volatile("pushfq\n orq $0x100, (%%rsp)\n popfq\n nop\n mov $39, %%eax\n syscall\n"
                         ".globl step_done\nstep_done: nop\n"
                         : "=a"(pid)
                         :
                         : "rcx", "r11", "memory");
    printf("getpid %s; %d single-step traps\n", pid == getpid() ? "answers" : "fails", steps);
    return 0;
}

static atomic_int prompt_done;
static atomic_long prompt_sent;
static int prompt_signal = SIGUSR1;

/* After each call, if a signal sent before it is not handled yet, waits for
 * it without making another call (a call would let a signal left blocked
 * through): the kernel delivers it as the call returns, natively and under
 * emu. A signal left blocked behind emu's way back would never come; after
 * about 20 s of spinning (rdtsc: no call), it says which. */
static void *loop_sigprocmask(void *arg) {
    (void)arg;
    unsigned long old;
    while (!prompt_done) {
        long want = prompt_sent;
        old = ~0UL;
        /* Mostly with no memory to read or write: emu's part then makes
         * no host call, where a signal would wait. */
        int copy = want % 16 == 0 || prompt_signal == SIGSEGV;
        if (site_sigprocmask(SIG_BLOCK, NULL, copy ? &old : NULL, 8) != 0 ||
            (copy && (old & (1UL << (prompt_signal - 1)))))
            atomic_fetch_add(&wrong, 1);
        unsigned long long deadline = __rdtsc() + 20000000000ULL;
        while (handled < want)
            if (__rdtsc() > deadline) {
                printf("signal %ld was not delivered as the call returned\n", want);
                exit(1);
            }
    }
    return NULL;
}

/* sig: SIGUSR1, or SIGSEGV sent with pthread_kill (a fault signal, which
 * emu never blocks on the host for the guest). */
static int prompt(int sig) {
    prompt_signal = sig;
    struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_RESTART};
    sigaction(sig, &sa, NULL);
    enum { SIGNALS = 10000 };
    pthread_t t;
    pthread_create(&t, NULL, loop_sigprocmask, NULL);
    for (long n = 0; n < SIGNALS; n++) {
        prompt_sent = n + 1;
        pthread_kill(t, sig);
        while (handled <= n)
            sched_yield();
    }
    prompt_done = 1;
    pthread_join(t, NULL);
    printf("rt_sigprocmask loop: %d signals, each delivered as it came; %ld wrong results\n", SIGNALS, (long)wrong);
    return 0;
}

static int fork_exec(const char *self) {
    /* Often enough that the sites are rewritten before the fork. */
    long pid = getpid(), ppid = getppid();
    int ok = 1;
    for (int i = 0; i < 100; i++)
        ok &= site_getpid() == pid && site_getppid_a() == ppid;
    printf("parent's site: %s\n", ok ? "ok" : "wrong");
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        int ok = site_getpid() == getpid() && site_getppid_a() == pid;
        _exit(ok ? 3 : 4);
    }
    int st;
    waitpid(child, &st, 0);
    printf("forked child's sites: exit %d\n", WEXITSTATUS(st));
    fflush(stdout);
    child = fork();
    if (child == 0) {
        execl(self, self, "exec-child", (char *)NULL);
        _exit(127);
    }
    waitpid(child, &st, 0);
    printf("exec'd image: exit %d\n", WEXITSTATUS(st));
    return 0;
}

static int exec_child(void) {
    int ok = 1;
    for (int i = 0; i < 100; i++)
        ok &= site_getpid() == getpid();
    printf("exec'd image's sites: %s\n", ok ? "ok" : "wrong");
    return ok ? 5 : 6;
}

static int gs(void) {
    long pid = getpid();
    int ok = 1;
    for (int i = 0; i < 100; i++)
        ok &= site_getpid() == pid;
    unsigned long base = 0;
    syscall(SYS_arch_prctl, ARCH_GET_GS, &base);
    printf("GS before: %#lx\n", base);
    static unsigned long word = 0x1234;
    long r = syscall(SYS_arch_prctl, ARCH_SET_GS, &word);
    unsigned long read_back;
    __asm__ volatile("mov %%gs:0, %0" : "=r"(read_back));
    for (int i = 0; i < 100; i++)
        ok &= site_getpid() == pid && site_getppid_b() == getppid();
    printf("ARCH_SET_GS: %ld, %%gs:0 reads %#lx, the sites still answer: %s\n", r, read_back, ok ? "yes" : "no");
    return 0;
}

static sigjmp_buf after_ud2;
static void on_sigill(int sig) {
    (void)sig;
    siglongjmp(after_ud2, 1);
}

static int jit(void) {
    unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        return 1;
    memset(page, 0x90, 4096);
    typedef long (*fn)(void);
    fn f = (fn)(page + 64);
    const unsigned char getpid_code[] = {0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xc3};
    const unsigned char getppid_code[] = {0xb8, 110, 0, 0, 0, 0x0f, 0x05, 0xc3};
    const unsigned char ud2_code[] = {0x90, 0x90, 0x90, 0x90, 0x90, 0x0f, 0x0b, 0xc3};
    memcpy(page + 64, getpid_code, sizeof getpid_code);
    int ok = 1;
    for (int i = 0; i < 100; i++)
        ok &= f() == getpid();
    printf("written code: %s\n", ok ? "getpid" : "wrong");
    memcpy(page + 64, getppid_code, sizeof getppid_code);
    ok = 1;
    for (int i = 0; i < 100; i++)
        ok &= f() == getppid();
    printf("written over with another call: %s\n", ok ? "getppid" : "wrong");
    memcpy(page + 64, ud2_code, sizeof ud2_code);
    struct sigaction sa = {.sa_handler = on_sigill};
    sigaction(SIGILL, &sa, NULL);
    if (sigsetjmp(after_ud2, 1) == 0) {
        f();
        printf("written over with a ud2: no SIGILL\n");
    } else {
        printf("written over with a ud2: SIGILL\n");
    }
    return 0;
}

/* The protection /proc/self/maps shows for the mapping holding `addr`. */
static void perms_at(unsigned long addr, char out[5]) {
    strcpy(out, "?");
    FILE *maps = fopen("/proc/self/maps", "r");
    if (!maps)
        return;
    unsigned long lo, hi;
    char perms[5];
    while (fscanf(maps, "%lx-%lx %4s%*[^\n]", &lo, &hi, perms) == 3)
        if (lo <= addr && addr < hi) {
            strcpy(out, perms);
            break;
        }
    fclose(maps);
}

static int split(void) {
    unsigned char *pages =
        mmap(NULL, 8192, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pages == MAP_FAILED)
        return 1;
    memset(pages, 0x90, 8192);
    /* mov eax, 39 from 3 bytes before the second page, then syscall; ret */
    const unsigned char code[] = {0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xc3};
    unsigned char *at = pages + 4096 - 3;
    memcpy(at, code, sizeof code);
    long (*f)(void) = (long (*)(void))at;
    long pid = getpid();
    int ok = 1;
    for (int i = 0; i < 100; i++)
        ok &= f() == pid;
    printf("a site across two pages: %s\n", ok ? "getpid" : "wrong");
    mprotect(pages + 4096, 4096, PROT_READ | PROT_EXEC);
    for (int i = 0; i < 100; i++)
        ok &= f() == pid;
    printf("its second page read-only: %s\n", ok ? "getpid" : "wrong");
    static unsigned long word;
    syscall(SYS_arch_prctl, ARCH_SET_GS, &word);
    for (int i = 0; i < 100; i++)
        ok &= f() == pid;
    char first[5], second[5];
    perms_at((unsigned long)pages, first);
    perms_at((unsigned long)pages + 4096, second);
    printf("after ARCH_SET_GS: %s, the pages %s and %s\n", ok ? "getpid" : "wrong", first, second);
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(mode, "threads"))
        return threads();
    if (!strcmp(mode, "jump"))
        return jump();
    if (!strcmp(mode, "kept_then_jumped"))
        return kept_then_jumped();
    if (!strcmp(mode, "jumped_at_fourth"))
        return jumped_at_fourth();
    if (!strcmp(mode, "signals"))
        return signals();
    if (!strcmp(mode, "prompt"))
        return prompt(SIGUSR1);
    if (!strcmp(mode, "prompt_segv"))
        return prompt(SIGSEGV);
    if (!strcmp(mode, "vector"))
        return vector();
    if (!strcmp(mode, "step"))
        return step();
    if (!strcmp(mode, "fork"))
        return fork_exec(argv[0]);
    if (!strcmp(mode, "exec-child"))
        return exec_child();
    if (!strcmp(mode, "gs"))
        return gs();
    if (!strcmp(mode, "split"))
        return split();
    if (!strcmp(mode, "jit"))
        return jit();
    fprintf(stderr, "usage: %s threads|jump|kept_then_jumped|jumped_at_fourth|signals|prompt|prompt_segv|vector|fork|gs|jit|step\n", argv[0]);
    return 2;
}
