/* Fills the descriptor table (dup until EMFILE), then execs argv[1] with
 * the rest of the arguments: a full table does not stop execve. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    int last = -1;
    while (1) {
        int fd = dup(0);
        if (fd < 0) {
            if (errno != EMFILE) {
                perror("dup");
                return 1;
            }
            break;
        }
        last = fd;
    }
    fprintf(stderr, "table full (dup: EMFILE), the last descriptor %s\n", last > 0 ? "taken" : "missing");
    execv(argv[1], argv + 1);
    fprintf(stderr, "execv: %s\n", strerror(errno));
    return 1;
}
