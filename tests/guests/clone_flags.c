/* clone and clone3 with flag sets the kernel refuses, each answered as the
 * kernel answers it, and a thread made with CLONE_PIDFD, whose pidfd
 * becomes readable when it exits. A child made by mistake exits at once. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static char child_stack[65536] __attribute__((aligned(16)));

/* A clone whose child (should one be made) exits at once, on its own stack. */
static long raw_clone(unsigned long flags) {
    long ret;
    register long r10 __asm__("r10") = 0;
    register long r8 __asm__("r8") = 0;
    __asm__ volatile("syscall\n\ttest %%rax, %%rax\n\tjnz 1f\n\tmov $60, %%eax\n\txor %%edi, %%edi\n\tsyscall\n1:"
                     : "=a"(ret)
                     : "a"(SYS_clone), "D"(flags), "S"(child_stack + sizeof child_stack), "d"(0), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
}

static long raw_clone3(struct clone_args *a) {
    long ret;
    __asm__ volatile("syscall\n\ttest %%rax, %%rax\n\tjnz 1f\n\tmov $60, %%eax\n\txor %%edi, %%edi\n\tsyscall\n1:"
                     : "=a"(ret)
                     : "a"(SYS_clone3), "D"(a), "S"(sizeof *a)
                     : "rcx", "r11", "memory");
    return ret;
}

static void show(const char *what, long r) {
    printf("%-40s %s\n", what, r < 0 ? strerror(-r) : "made");
}

#define THREAD (CLONE_VM | CLONE_SIGHAND | CLONE_THREAD)
int main(void) {
    show("CLONE_THREAD", raw_clone(CLONE_THREAD));
    show("CLONE_THREAD|CLONE_SIGHAND", raw_clone(CLONE_THREAD | CLONE_SIGHAND));
    show("CLONE_SIGHAND", raw_clone(CLONE_SIGHAND));
    show("thread|CLONE_PIDFD", raw_clone(THREAD | CLONE_PIDFD));
    show("thread|CLONE_NEWUSER", raw_clone(THREAD | CLONE_NEWUSER));
    show("thread|CLONE_NEWPID", raw_clone(THREAD | CLONE_NEWPID));
    show("CLONE_FS|CLONE_NEWNS", raw_clone(CLONE_FS | CLONE_NEWNS | SIGCHLD));
    show("CLONE_FS|CLONE_NEWUSER", raw_clone(CLONE_FS | CLONE_NEWUSER | SIGCHLD));
    struct clone_args a = {.flags = THREAD, .exit_signal = SIGCHLD,
                           .stack = (unsigned long)child_stack, .stack_size = sizeof child_stack};
    show("clone3 thread with an exit signal", raw_clone3(&a));
    struct clone_args b = {.flags = CLONE_SIGHAND | CLONE_CLEAR_SIGHAND | CLONE_VM, .exit_signal = SIGCHLD};
    show("clone3 CLONE_SIGHAND|CLONE_CLEAR_SIGHAND", raw_clone3(&b));
    struct clone_args c = {.flags = THREAD, .stack_size = 4096};
    show("clone3 thread with a size but no stack", raw_clone3(&c));
    int pidfd = -1;
    struct clone_args d = {.flags = THREAD | CLONE_PIDFD, .pidfd = (unsigned long)&pidfd,
                           .stack = (unsigned long)child_stack, .stack_size = sizeof child_stack};
    long tid = raw_clone3(&d);
    show("clone3 thread with CLONE_PIDFD", tid);
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    printf("its pidfd: %s\n", pidfd >= 0 && poll(&p, 1, 10000) == 1 && (p.revents & POLLIN) ? "readable once it exited" : "not readable");
    /* A thread that shares its files and directory, as libraries make them
     * (emu does not wait for it to start): a bad pidfd pointer fails the
     * clone, a good one gets a pidfd. */
    const unsigned long SHARING = THREAD | CLONE_FS | CLONE_FILES | CLONE_SYSVSEM | CLONE_PIDFD;
    struct clone_args e = {.flags = SHARING, .pidfd = 8, .stack = (unsigned long)child_stack,
                           .stack_size = sizeof child_stack};
    show("clone3 sharing thread, bad pidfd pointer", raw_clone3(&e));
    int shared_pidfd = -1;
    struct clone_args f = {.flags = SHARING, .pidfd = (unsigned long)&shared_pidfd,
                           .stack = (unsigned long)child_stack, .stack_size = sizeof child_stack};
    show("clone3 sharing thread with CLONE_PIDFD", raw_clone3(&f));
    struct pollfd q = {.fd = shared_pidfd, .events = POLLIN};
    printf("its pidfd: %s\n", shared_pidfd >= 0 && poll(&q, 1, 10000) == 1 && (q.revents & POLLIN) ? "readable once it exited" : "not readable");
    return 0;
}
