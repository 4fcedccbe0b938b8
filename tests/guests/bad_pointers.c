/* System calls given pointers no process may use (a low address, a page
 * just unmapped, a PROT_NONE page, a kernel address): each gives the
 * errno it gives natively, with or without emu's tracing. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void show(const char *call, const char *ptr, long r) {
    printf("%-16s %-10s %s\n", call, ptr, r == -1 ? strerrorname_np(errno) : "ok");
}

int main(void) {
    /* A hole between two mapped pages; a PROT_NONE page before a readable one. */
    char *three = mmap(NULL, 3 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *gone = three + 4096;
    munmap(gone, 4096);
    char *none = mmap(NULL, 2 * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(none, 4096, PROT_NONE);
    const struct { const char *name; void *p; } ptrs[] = {
        {"low", (void *)16}, {"unmapped", gone}, {"PROT_NONE", none}, {"kernel", (void *)0xffff880000000000ul},
    };
    for (unsigned i = 0; i < sizeof ptrs / sizeof *ptrs; i++) {
        void *p = ptrs[i].p;
        const char *n = ptrs[i].name;
        struct timespec zero = {0, 0};
        show("write", n, syscall(SYS_write, 1, p, 10));
        show("openat", n, syscall(SYS_openat, AT_FDCWD, p, 0));
        show("newfstatat", n, syscall(SYS_newfstatat, AT_FDCWD, "/", p, 0));
        show("clock_gettime", n, syscall(SYS_clock_gettime, CLOCK_MONOTONIC, p));
        show("rt_sigaction", n, syscall(SYS_rt_sigaction, SIGUSR1, p, NULL, 8));
        show("rt_sigaction old", n, syscall(SYS_rt_sigaction, SIGUSR1, NULL, p, 8));
        show("rt_sigprocmask", n, syscall(SYS_rt_sigprocmask, SIG_BLOCK, p, NULL, 8));
        show("sigaltstack", n, syscall(SYS_sigaltstack, p, NULL));
        show("uname", n, syscall(SYS_uname, p));
        show("getcwd", n, syscall(SYS_getcwd, p, 100));
        show("readlink exe", n, syscall(SYS_readlink, "/proc/self/exe", p, 100));
        show("readlink path", n, syscall(SYS_readlink, p, (char[100]){0}, 100));
        show("pipe2", n, syscall(SYS_pipe2, p, 0));
        show("nanosleep", n, syscall(SYS_nanosleep, p, NULL));
        show("getrandom", n, syscall(SYS_getrandom, p, 8, 0));
        show("execve path", n, syscall(SYS_execve, p, NULL, NULL));
        show("execve argv", n, syscall(SYS_execve, "/bin/true", p, NULL));
        show("clone3", n, syscall(SYS_clone3, p, 88));
        show("sysinfo", n, syscall(SYS_sysinfo, p));
        show("poll", n, syscall(SYS_poll, p, 1, 0));
        show("ppoll mask", n, syscall(SYS_ppoll, NULL, 0, &zero, p, 8));
        show("arch_prctl", n, syscall(SYS_arch_prctl, 0x1003, p));
        show("prctl name", n, syscall(SYS_prctl, PR_GET_NAME, p));
        show("wait4", n, syscall(SYS_wait4, -1, p, 1, NULL));
        show("mremap", n, syscall(SYS_mremap, p, 4096, 8192, 0));
        show("munmap", n, syscall(SYS_munmap, p, 4096));
    }
    return 0;
}
