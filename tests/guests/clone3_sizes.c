/* clone3 with structure sizes the kernel treats specially: larger than it
 * knows (zero or non-zero tail), above a page, below the first version, and
 * a tail that cannot be read. A call that must fail must not fork: every
 * line would be printed twice. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void try(const char *what, void *args, size_t size) {
    fflush(stdout);
    long r = syscall(SYS_clone3, args, size);
    if (r == 0)
        _exit(3);
    if (r < 0) {
        printf("%s: -1 (%s)\n", what, strerror(errno));
        return;
    }
    int status;
    waitpid(r, &status, 0);
    printf("%s: child exited %d\n", what, WEXITSTATUS(status));
}

int main(void) {
    /* Two pages, the second inaccessible: a tail that runs into it faults. */
    uint8_t *page = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(page + 4096, 4096, PROT_NONE);
    uint64_t *args = (uint64_t *)page;
    memset(page, 0, 4096);
    args[4] = SIGCHLD; /* exit_signal */

    try("size 88", args, 88);
    try("size 4096, zero tail", args, 4096);
    page[100] = 1;
    try("size 4096, non-zero tail", args, 4096);
    try("size 4097", args, 4097);
    try("size 63", args, 63);
    page[100] = 0;
    uint64_t *late = (uint64_t *)(page + 4096 - 96);
    memset(late, 0, 96);
    late[4] = SIGCHLD;
    try("size 96 at the end of the page", late, 96);
    try("size 120, tail unreadable", late, 120);
    return 0;
}
