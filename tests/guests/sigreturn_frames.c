/* A handler changes its saved context before it returns; the kernel's
 * rt_sigreturn accepts some changes and kills with SIGSEGV for others.
 * Each case runs in a child; the parent prints how the child ended. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

static int mode;
static void *unmapped;

static void on_usr1(int sig, siginfo_t *info, void *ucv) {
    (void)sig, (void)info;
    ucontext_t *uc = ucv;
    uint8_t *fp = (uint8_t *)uc->uc_mcontext.fpregs;
    uint16_t *cs = (uint16_t *)&uc->uc_mcontext.gregs[REG_CSGSFS];
    switch (mode) {
    case 1: uc->uc_mcontext.fpregs = NULL; break;
    case 2: uc->uc_mcontext.fpregs = unmapped; break;
    case 3: uc->uc_mcontext.fpregs = (void *)0xffff880000000000ul; break;
    case 4: *(uint32_t *)(fp + 24) |= 0xffff0000u; break;      /* MXCSR reserved bits */
    case 5: *(uint64_t *)(fp + 512) = ~0ull; break;            /* XSAVE header: xstate_bv */
    case 6: *(uint64_t *)(fp + 520) = 1ull << 63; break;       /* XSAVE header: xcomp_bv */
    case 7: memset(fp + 32, 0xa5, 416 - 32); break;            /* x87 and XMM registers */
    case 8: memset(fp + 464, 0x5a, 48); break;                 /* the software-reserved bytes */
    case 9: cs[0] = 0; break;
    case 10: cs[0] = 0x1234; break;
    case 11: cs[3] = 0x1234; break;                            /* SS, restored strictly */
    case 12: uc->uc_stack.ss_flags = 0x55; break;              /* ignored by the kernel */
    case 13: uc->uc_mcontext.gregs[REG_RIP] += 0; uc->uc_mcontext.gregs[REG_RAX] = 42; break;
    }
}

static void on_segv(int sig, siginfo_t *info, void *ucv) {
    (void)sig, (void)ucv;
    char line[64];
    int n = snprintf(line, sizeof line, "SIGSEGV handler: si_code %d\n", info->si_code);
    write(1, line, n);
    _exit(3);
}

static const char *const names[] = {
    "unchanged", "fpregs NULL", "fpregs unmapped", "fpregs in the kernel", "MXCSR reserved bits",
    "xstate_bv garbage", "xcomp_bv set", "x87/XMM garbage", "sw_reserved garbage", "CS 0", "CS 0x1234",
    "SS 0x1234", "uc_stack flags garbage", "RAX changed", "frame unreadable", "MXCSR with a SIGSEGV handler",
};

int main(void) {
    unmapped = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(unmapped, 4096);
    for (mode = 0; mode < (int)(sizeof names / sizeof *names); mode++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            struct sigaction sa = {.sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO};
            sigaction(SIGUSR1, &sa, NULL);
            if (mode == 15) {
                struct sigaction segv = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO};
                sigaction(SIGSEGV, &segv, NULL);
                mode = 4;
            }
            if (mode == 14) {
                /* rt_sigreturn with the stack pointer at nothing readable. */
                __asm__ volatile("mov $0x1000, %rsp\n\tmov $15, %eax\n\tsyscall");
            }
            raise(SIGUSR1);
            double x = 1.5;
            __asm__ volatile("" : "+x"(x));
            printf("returned, x87/SSE still work: %d\n", x * 2 == 3.0);
            fflush(stdout);
            _exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status))
            printf("%s: killed by signal %d\n", names[mode], WTERMSIG(status));
        else
            printf("%s: exited %d\n", names[mode], WEXITSTATUS(status));
    }
    return 0;
}
