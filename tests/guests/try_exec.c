/* For each argument, a child execs it (with one argument, "arg") and the
 * parent says how that ended: the execve's error, or the child's status.
 * An argument "big:N" execs /bin/busybox true with one N-byte argument. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            if (!strncmp(argv[i], "big:", 4)) {
                size_t n = strtoul(argv[i] + 4, NULL, 10);
                char *big = malloc(n + 1);
                memset(big, 'b', n);
                big[n] = 0;
                char *args[] = {"true", big, NULL};
                execv("/bin/busybox", args);
            } else {
                char *args[] = {argv[i], "arg", NULL};
                execv(argv[i], args);
            }
            printf("%s: %s\n", argv[i], strerrorname_np(errno));
            fflush(stdout);
            _exit(100);
        }
        int status;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status))
            printf("%s: killed by signal %d\n", argv[i], WTERMSIG(status));
        else if (WEXITSTATUS(status) != 100)
            printf("%s: exit %d\n", argv[i], WEXITSTATUS(status));
    }
    return 0;
}
