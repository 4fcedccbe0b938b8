/* execs itself with argv[0] values an option parser could take for its own
 * ("-sh" as login shells have it, "--help", "--", bytes that are not UTF-8),
 * and prints what the new image got. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    static char *const names[] = {"-sh", "--help", "--", "-", "--trace", "\xff-not-utf8"};
    if (argc > 1) {
        printf("argv[0]=<%s> argv[1]=<%s> argc=%d\n", argv[0], argv[1], argc);
        return 0;
    }
    /* emu reads EMU_LOG from its environment: not from the guest's on an exec. */
    setenv("EMU_LOG", "debug", 1);
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++) {
        fflush(stdout);
        if (fork() == 0) {
            char *const args[] = {names[i], "--argv0", "-c", NULL};
            execv("/proc/self/exe", args);
            perror("execv");
            return 1;
        }
        int status;
        wait(&status);
    }
    return 0;
}
