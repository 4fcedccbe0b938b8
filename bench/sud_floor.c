/* The bare Syscall User Dispatch floor: the benchmark's getppid loop, with
 * every `syscall` of the loop trapped to a SIGSYS handler that only performs
 * the call and returns. No table, no FS switch, no tracing: what any
 * SUD-based emulator must pay at least.
 *
 *   sud_floor N     N trapped getppid calls
 *
 * The exempt range starts at the C library, so the handler's own calls (and
 * its return through glibc's restorer) do not trap; the loop's `syscall`
 * instruction is in this program's text, below it. */
#define _GNU_SOURCE
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

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSYS, &sa, NULL);
    unsigned long start = libc_start();
    if (!start || prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, start, (1UL << 47) - start, 0)) {
        perror("sud_floor: cannot arm Syscall User Dispatch");
        return 2;
    }
    long sum = 0;
    for (long i = 0; i < n; i++) {
        long ret;
        __asm__ volatile("syscall" : "=a"(ret) : "a"(SYS_getppid) : "rcx", "r11", "memory");
        sum += ret;
    }
    prctl(PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF, 0, 0, 0);
    return n > 0 && sum == 0;
}
