/* Signals sent to a new thread the moment its clone returns.
 *
 *   early_signals cancel N      pthread_create then pthread_cancel at once,
 *                               N times (musl's cancel is signal 33)
 *   early_signals tgkill N SIG  a raw clone3 thread, then tgkill(SIG) at
 *                               once; the thread waits for its handler to
 *                               run, and the handler records its tid
 *   early_signals queue N SIG   the same with three rt_tgsigqueueinfo
 *                               (values 1, 2, 3); counts the threads that
 *                               took them out of order (natively none)
 *
 * Signals 32 and 33 are the C libraries' own, and glibc starts every
 * thread with them unblocked: emu's host thread may receive one before it
 * has set itself up. Natively each signal reaches its thread. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *wait_forever(void *arg) {
    for (;;)
        pause();
    return arg;
}

static int cancel(int n) {
    for (int i = 0; i < n; i++) {
        pthread_t t;
        void *result;
        if (pthread_create(&t, NULL, wait_forever, NULL) || pthread_cancel(t) || pthread_join(t, &result)) {
            printf("thread %d: create, cancel or join failed\n", i);
            return 1;
        }
        if (result != PTHREAD_CANCELED) {
            printf("thread %d was not cancelled\n", i);
            return 1;
        }
    }
    printf("%d threads created and cancelled\n", n);
    return 0;
}

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
/* The kernel's struct clone_args (musl has no <linux/sched.h>). */
struct clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static char child_stack[65536] __attribute__((aligned(16)));
/* handled: how many signals the thread has taken; wanted: how many it
 * waits for before it exits. */
static volatile int handled, wanted, exited;
static volatile long handler_tid;
static volatile int values[3], codes[3];

static void on_signal(int sig, siginfo_t *info, void *context) {
    (void)sig;
    (void)context;
    handler_tid = syscall(SYS_gettid);
    if (handled < 3) {
        values[handled] = info->si_value.sival_int;
        codes[handled] = info->si_code;
    }
    handled++;
}

/* The C libraries refuse handlers for their own signals: the raw call,
 * with a restorer of our own. */
void early_signals_restorer(void);
__asm__(".text\n.globl early_signals_restorer\nearly_signals_restorer:\n\tmov $15, %eax\n\tsyscall\n");
struct kernel_sigaction {
    void (*handler)(int, siginfo_t *, void *);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

/* The child waits until `handled` reaches `wanted`, counts itself out and
 * exits, all in registers: it has no stack frame of its own. */
static long clone3_waiting_child(struct clone_args *args) {
    long ret;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 2f\n"
                     "1:\tpause\n\t"
                     "mov %2, %%edx\n\t"
                     "cmpl %%edx, %1\n\t"
                     "jl 1b\n\t"
                     "lock incl %3\n\t"
                     "mov $60, %%eax\n\t"
                     "xor %%edi, %%edi\n\t"
                     "syscall\n"
                     "2:"
                     : "=a"(ret), "+m"(handled), "+m"(wanted), "+m"(exited)
                     : "a"(SYS_clone3), "D"(args), "S"(sizeof *args)
                     : "rcx", "r11", "rdx", "memory");
    return ret;
}

/* Each of N new threads is sent SIG as its clone returns: once by tgkill,
 * or three times by rt_tgsigqueueinfo with the values 1, 2, 3. */
static int signal_new(int n, int sig, int queue) {
    struct kernel_sigaction sa = {.handler = on_signal,
                                  .flags = SA_SIGINFO | 0x04000000 /* SA_RESTORER */ | SA_RESTART,
                                  .restorer = early_signals_restorer};
    if (syscall(SYS_rt_sigaction, sig, &sa, NULL, 8)) {
        perror("rt_sigaction");
        return 1;
    }
    int out_of_order = 0;
    for (int i = 0; i < n; i++) {
        handled = 0;
        wanted = queue ? 3 : 1;
        struct clone_args args = {.flags = CLONE_VM | CLONE_SIGHAND | CLONE_THREAD | CLONE_FS | CLONE_FILES |
                                           CLONE_SYSVSEM,
                                  .stack = (unsigned long)child_stack,
                                  .stack_size = sizeof child_stack};
        long tid = clone3_waiting_child(&args);
        if (tid < 0) {
            printf("clone3: %s\n", strerror(-tid));
            return 1;
        }
        for (int v = 1; v <= (queue ? 3 : 0); v++) {
            siginfo_t info;
            memset(&info, 0, sizeof info);
            info.si_signo = sig;
            info.si_code = SI_QUEUE;
            info.si_pid = getpid();
            info.si_uid = getuid();
            info.si_value.sival_int = v;
            if (syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, sig, &info)) {
                perror("rt_tgsigqueueinfo");
                return 1;
            }
        }
        if (!queue && syscall(SYS_tgkill, getpid(), tid, sig)) {
            perror("tgkill");
            return 1;
        }
        while (exited != i + 1)
            usleep(100);
        if (handler_tid != tid) {
            printf("thread %d: the handler ran in %ld, not in %ld\n", i, handler_tid, tid);
            return 1;
        }
        if (queue) {
            int sum = values[0] + values[1] + values[2], product = values[0] * values[1] * values[2];
            if (sum != 6 || product != 6 || codes[0] != SI_QUEUE || codes[1] != SI_QUEUE || codes[2] != SI_QUEUE) {
                printf("thread %d: values %d %d %d, codes %d %d %d\n", i, values[0], values[1], values[2], codes[0],
                       codes[1], codes[2]);
                return 1;
            }
            out_of_order += values[0] != 1 || values[1] != 2;
        }
    }
    if (queue)
        printf("%d threads each took three queued signals %d sent as their clone returned, %d out of order\n", n, sig,
               out_of_order);
    else
        printf("%d threads each caught signal %d sent as their clone returned\n", n, sig);
    return 0;
}

int main(int argc, char **argv) {
    int n = argc > 2 ? atoi(argv[2]) : 100;
    if (argc > 1 && strcmp(argv[1], "cancel") == 0)
        return cancel(n);
    if (argc > 3 && (strcmp(argv[1], "tgkill") == 0 || strcmp(argv[1], "queue") == 0))
        return signal_new(n, atoi(argv[3]), strcmp(argv[1], "queue") == 0);
    fprintf(stderr, "usage: early_signals cancel N | tgkill N SIG | queue N SIG\n");
    return 2;
}
