/* Process corners: clone3 with CLONE_CLEAR_SIGHAND, SA_NOCLDSTOP and
 * SA_NOCLDWAIT, exec through a close-on-exec descriptor of /proc/self/exe,
 * exec of /proc/self/exe by name, the signal mask and ignored signals
 * across exec, and the environment an exec passes on. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static volatile int chld;

static void on_chld(int sig) {
    (void)sig;
    chld++;
}

static void on_usr1(int sig) {
    (void)sig;
}

/* What the image exec'd by the parent reports. */
static int child_report(const char *how) {
    sigset_t mask;
    sigprocmask(SIG_SETMASK, NULL, &mask);
    int blocked = 0;
    for (int s = 1; s < 32; s++)
        if (sigismember(&mask, s))
            blocked++;
    struct sigaction old;
    sigaction(SIGHUP, NULL, &old);
    const char *pre = getenv("LD_PRELOAD");
    char exe[4096] = {0};
    readlink("/proc/self/exe", exe, sizeof exe - 1);
    const char *base = strrchr(exe, '/');
    printf("exec'd via %s: %d signals blocked (SIGSYS %d, SIGUSR2 %d), SIGHUP %s, LD_PRELOAD=%s, exe %s\n", how, blocked,
           sigismember(&mask, SIGSYS), sigismember(&mask, SIGUSR2), old.sa_handler == SIG_IGN ? "ignored" : "default",
           pre ? pre : "(unset)", base ? base + 1 : exe);
    return 0;
}

static void run_exec(const char *how) {
    pid_t pid = fork();
    if (pid == 0) {
        char *args[] = {"processes", (char *)how, NULL};
        if (strcmp(how, "fd") == 0) {
            int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
            fexecve(fd, args, environ);
        } else {
            execve("/proc/self/exe", args, environ);
        }
        perror("exec");
        _exit(1);
    }
    int st;
    waitpid(pid, &st, 0);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1)
        return child_report(argv[1]);

    /* clone3 with CLONE_CLEAR_SIGHAND: the child's handlers are reset, its syscalls still work. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = CLONE_CLEAR_SIGHAND;
    ca.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &ca, sizeof ca);
    if (pid == 0) {
        struct sigaction now;
        sigaction(SIGUSR1, NULL, &now);
        _exit(now.sa_handler == SIG_DFL ? 7 : 8);
    }
    int st;
    waitpid(pid, &st, 0);
    printf("clone3 CLONE_CLEAR_SIGHAND: child exited %d\n", WEXITSTATUS(st));

    /* SA_NOCLDSTOP: no SIGCHLD when a child stops. */
    sa.sa_handler = on_chld;
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, NULL);
    pid = fork();
    if (pid == 0) {
        raise(SIGSTOP);
        _exit(0);
    }
    waitpid(pid, &st, WUNTRACED);
    printf("SA_NOCLDSTOP: stopped=%d, SIGCHLD on stop=%d\n", WIFSTOPPED(st), chld);
    kill(pid, SIGCONT);
    waitpid(pid, &st, 0);

    /* SA_NOCLDWAIT: children are reaped by the kernel. */
    sa.sa_handler = SIG_DFL;
    sa.sa_flags = SA_NOCLDWAIT;
    sigaction(SIGCHLD, &sa, NULL);
    pid = fork();
    if (pid == 0)
        _exit(0);
    errno = 0;
    long w = waitpid(pid, &st, 0);
    printf("SA_NOCLDWAIT: waitpid=%ld (%s)\n", w, w < 0 ? strerror(errno) : "reaped by the caller");
    sa.sa_flags = 0;
    sigaction(SIGCHLD, &sa, NULL);

    /* Exec: the mask, an ignored signal and the environment carry over. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGHUP, SIG_IGN);
    setenv("LD_PRELOAD", "/nonexistent/emu-test-preload.so", 1);
    run_exec("fd");
    run_exec("path");
    return 0;
}
