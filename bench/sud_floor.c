/* The bare Syscall User Dispatch floor: the benchmark's getppid loop, with
 * every `syscall` of the loop trapped to a SIGSYS handler that only performs
 * the call and returns. No table, no FS switch, no tracing: what any
 * SUD-based emulator must pay at least.
 *
 *   sud_floor N [T]   N trapped getppid calls on each of T threads at once
 *                     (default 1: the main thread alone)
 *
 * The exempt range starts at the C library, so the handler's own calls (and
 * its return through glibc's restorer) do not trap; the loop's `syscall`
 * instruction is in this program's text, below it. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_ON 1
#define PR_SYS_DISPATCH_OFF 0
#endif

static void on_sigsys(int sig, siginfo_t *si, void *ctx) {
    (void)sig, (void)si;
    greg_t *r = ((ucontext_t *)ctx)->uc_mcontext.gregs;
    r[REG_RAX] = syscall(r[REG_RAX], r[REG_RDI], r[REG_RSI], r[REG_RDX], r[REG_R10], r[REG_R8], r[REG_R9]);
}

static unsigned long libc_start(void) {
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    unsigned long lowest = 0;
    while (maps && fgets(line, sizeof line, maps)) {
        unsigned long start;
        if (strstr(line, "libc.so") && sscanf(line, "%lx-", &start) == 1 && (!lowest || start < lowest))
            lowest = start;
    }
    if (maps)
        fclose(maps);
    return lowest;
}

static unsigned long exempt_start;
static long calls;

/* Dispatch is per thread: each thread arms its own. */
static void *loop(void *unused) {
    (void)unused;
    if (prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, exempt_start, (1UL << 47) - exempt_start, 0)) {
        perror("sud_floor: cannot arm Syscall User Dispatch");
        exit(2);
    }
    long sum = 0;
    for (long i = 0; i < calls; i++) {
        long ret;
        __asm__ volatile("syscall" : "=a"(ret) : "a"(SYS_getppid) : "rcx", "r11", "memory");
        sum += ret;
    }
    prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0, 0);
    return (void *)(long)(calls > 0 && sum == 0);
}

int main(int argc, char **argv) {
    calls = argc > 1 ? atol(argv[1]) : 1000000;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, NULL);
    exempt_start = libc_start();
    if (!exempt_start) {
        fputs("sud_floor: no libc.so in /proc/self/maps\n", stderr);
        return 2;
    }
    if (threads <= 1)
        return loop(NULL) != NULL;
    pthread_t t[threads];
    for (int i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, loop, NULL)) {
            perror("pthread_create");
            return 2;
        }
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        void *r;
        pthread_join(t[i], &r);
        failed |= r != NULL;
    }
    return failed;
}
