/* Signals as a Linux program sees them: handlers with siginfo, masks,
 * pending signals, a fault turned into a jump, the alternate stack,
 * EINTR against SA_RESTART, sigsuspend, SIGSYS raised by the program, and
 * the floating-point state kept across a handler. The output is the same
 * natively and under emu. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sys/select.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

/* musl-gcc has no kernel headers. */
#define FUTEX_WAIT 0

static volatile sig_atomic_t got, code, on_alt;
static sigjmp_buf recover;
static char altstack[64 * 1024];
static int pipefd[2];

static void on_usr1(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    got = sig;
    code = si->si_code;
}

static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)uc;
    code = si->si_addr == (void *)16;
    siglongjmp(recover, 1);
}

static void on_alt_stack(int sig) {
    char here;
    (void)sig;
    on_alt = &here >= altstack && &here < altstack + sizeof altstack;
}

static void on_alarm_write(int sig) {
    (void)sig;
    got++;
    write(pipefd[1], "x", 1);
}

static void on_alarm(int sig) {
    got = sig;
}

static void on_sys(int sig) {
    got = sig;
}

static void arm_timer(void) {
    /* Long enough that the call is surely blocking when it fires, even on a loaded machine. */
    struct itimerval t = {{0, 0}, {0, 100000}};
    setitimer(ITIMER_REAL, &t, NULL);
}

static double fpu_handler_result;
static void on_usr2(int sig) {
    (void)sig;
    volatile double x = 1.0;
    for (int i = 0; i < 10; i++)
        x = x * 3.0 + 0.5;
    fpu_handler_result = x;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);

    /* A handler with siginfo. */
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    printf("SIGUSR1 handled: sig=%d code=%s\n", (int)got, code == SI_TKILL ? "SI_TKILL" : "other");

    /* Blocked, pending, then delivered on unblock. */
    sigset_t set, old, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, &old);
    got = 0;
    raise(SIGUSR1);
    sigpending(&pending);
    printf("blocked: delivered=%d pending=%d\n", got != 0, sigismember(&pending, SIGUSR1));
    sigprocmask(SIG_SETMASK, &old, NULL);
    printf("unblocked: delivered=%d\n", got != 0);

    /* The mask reads back as set, SIGSYS included. */
    sigfillset(&set);
    sigprocmask(SIG_SETMASK, &set, &old);
    sigprocmask(SIG_SETMASK, &old, &set);
    printf("full mask reads back: SIGSYS=%d SIGSEGV=%d\n", sigismember(&set, SIGSYS), sigismember(&set, SIGSEGV));

    /* A fault, caught and jumped out of. */
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    if (sigsetjmp(recover, 1) == 0) {
        *(volatile int *)16 = 1;
        printf("not reached\n");
    } else {
        printf("SIGSEGV recovered, address right=%d\n", (int)code);
    }

    /* The alternate stack. */
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, NULL);
    sa.sa_handler = on_alt_stack;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR2);
    printf("handler ran on the alternate stack: %d\n", (int)on_alt);

    /* A blocking read interrupted: EINTR without SA_RESTART... */
    pipe(pipefd);
    sa.sa_handler = on_alarm_write;
    sa.sa_flags = 0;
    sigaction(SIGALRM, &sa, NULL);
    got = 0;
    arm_timer();
    char c;
    ssize_t r = read(pipefd[0], &c, 1);
    printf("read without SA_RESTART: %zd (%s), handler ran %d time(s)\n", r, r < 0 ? strerror(errno) : "data", (int)got);
    read(pipefd[0], &c, 1); /* the byte the handler wrote */

    /* ...and restarted with it: the read then gets the handler's byte. */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    got = 0;
    arm_timer();
    r = read(pipefd[0], &c, 1);
    printf("read with SA_RESTART: %zd (%c), handler ran %d time(s)\n", r, r == 1 ? c : '?', (int)got);

    /* A timed futex wait is never restarted, SA_RESTART or not: the kernel says so. */
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    int word = 0;
    struct timespec timeout = {0, 500000000};
    arm_timer();
    long fr = syscall(SYS_futex, &word, FUTEX_WAIT, 0, &timeout, NULL, 0);
    printf("timed futex wait with SA_RESTART: %ld (%s)\n", fr, fr < 0 ? strerror(errno) : "woken");

    /* sigsuspend: wait for a blocked signal with a mask that lets it in. */
    sa.sa_handler = on_alarm;
    sa.sa_flags = 0;
    sigaction(SIGALRM, &sa, NULL);
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    sigprocmask(SIG_BLOCK, &set, &old);
    got = 0;
    arm_timer();
    sigset_t wait_mask = old;
    sigdelset(&wait_mask, SIGALRM);
    r = sigsuspend(&wait_mask);
    sigprocmask(SIG_SETMASK, NULL, &set);
    printf("sigsuspend: %zd (%s), got %s, SIGALRM blocked again: %d\n", r, strerror(errno), got == SIGALRM ? "SIGALRM" : "nothing",
           sigismember(&set, SIGALRM));
    sigprocmask(SIG_SETMASK, &old, NULL);

    /* ppoll and pselect wait with a temporary mask, restored afterwards. */
    sigprocmask(SIG_BLOCK, &set, &old);
    got = 0;
    arm_timer();
    struct timespec five = {5, 0};
    r = ppoll(NULL, 0, &five, &wait_mask);
    sigprocmask(SIG_SETMASK, NULL, &set);
    printf("ppoll: %zd (%s), got %s, SIGALRM blocked again: %d\n", r, strerror(errno), got == SIGALRM ? "SIGALRM" : "nothing",
           sigismember(&set, SIGALRM));
    got = 0;
    arm_timer();
    r = pselect(0, NULL, NULL, NULL, &five, &wait_mask);
    sigprocmask(SIG_SETMASK, NULL, &set);
    printf("pselect: %zd (%s), got %s, SIGALRM blocked again: %d\n", r, strerror(errno), got == SIGALRM ? "SIGALRM" : "nothing",
           sigismember(&set, SIGALRM));
    sigprocmask(SIG_SETMASK, &old, NULL);

    /* SIGSYS sent by the program itself is an ordinary signal. */
    sa.sa_handler = on_sys;
    sa.sa_flags = 0;
    sigaction(SIGSYS, &sa, NULL);
    got = 0;
    kill(getpid(), SIGSYS);
    printf("SIGSYS from kill handled: %d\n", got == SIGSYS);

    /* Floating point around a handler that uses it. */
    sa.sa_handler = on_usr2;
    sa.sa_flags = 0;
    sigaction(SIGUSR2, &sa, NULL);
    volatile double a = 0.1, b = 0.2;
    double before = a + b;
    raise(SIGUSR2);
    double after = a + b;
    printf("fpu kept: %d, handler computed %.1f\n", before == after, fpu_handler_result);

    /* SIG_IGN and back to default. */
    signal(SIGUSR1, SIG_IGN);
    raise(SIGUSR1);
    printf("ignored SIGUSR1 survived\n");
    fflush(stdout);
    signal(SIGUSR1, SIG_DFL);
    raise(SIGUSR1);
    printf("not reached: default SIGUSR1 terminates\n");
    return 0;
}
