/* Processes: fork and wait, a pipe between parent and child, an exec'd
 * program (argv[1], a static busybox), posix_spawn, and an exec that fails. */
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int wait_status(pid_t pid) {
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv) {
    const char *busybox = argc > 1 ? argv[1] : "/bin/busybox";
    setvbuf(stdout, NULL, _IONBF, 0);

    pid_t pid = fork();
    if (pid == 0)
        _exit(42);
    printf("fork: child exited with %d\n", wait_status(pid));

    int p[2];
    pipe(p);
    pid = fork();
    if (pid == 0) {
        close(p[0]);
        const char msg[] = "through the pipe";
        write(p[1], msg, sizeof msg - 1);
        _exit(0);
    }
    close(p[1]);
    char buf[64] = {0};
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    printf("pipe: %zd bytes: %s; child %d\n", n, buf, wait_status(pid));

    pid = fork();
    if (pid == 0) {
        char *args[] = {"echo", "exec'd", "echo", NULL};
        execve(busybox, args, environ);
        _exit(127);
    }
    printf("exec: child %d\n", wait_status(pid));

    char *spawn_args[] = {"sh", "-c", "echo spawned; exit 3", NULL};
    if (posix_spawn(&pid, busybox, NULL, NULL, spawn_args, environ) == 0)
        printf("posix_spawn: child %d\n", wait_status(pid));

    char *none[] = {"nothing", NULL};
    execve("/nonexistent/emu-nothing", none, environ);
    printf("failed exec: %s\n", strerror(errno));
    execve("/etc/hostname", none, environ);
    printf("exec of a text file: %s\n", strerror(errno));
    return 0;
}
