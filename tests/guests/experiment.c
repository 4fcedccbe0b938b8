/* Built against the header of abi-tables/examples/linux-experiment (an
 * overlay of Linux's table: getppid at 1000, unlink and unlinkat refused,
 * rmdir dropped). Its getppid is SYS_getppid of that header; unlinkat and
 * rmdir (Linux's number 84: the experiment has none) are glibc's and
 * Linux's. Prints what each call answered. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "sys_experiment.h"

static const char *answer(long r, long expected) {
    static char buf[64];
    if (r == expected)
        return "as expected";
    if (r < 0)
        return strerrorname_np(errno);
    snprintf(buf, sizeof buf, "%ld", r);
    return buf;
}

/* The parent's pid from /proc/self/status: glibc's getppid uses Linux's
 * number, which the experiment took away. */
static long parent_pid(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long ppid = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "PPid: %ld", &ppid) == 1)
            break;
    if (f)
        fclose(f);
    return ppid;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    char file[4096], dir[4096];
    snprintf(file, sizeof file, "%s/file", argv[1]);
    snprintf(dir, sizeof dir, "%s/dir", argv[1]);
    close(open(file, O_CREAT | O_WRONLY, 0600));
    mkdir(dir, 0700);
    long parent = parent_pid();
    printf("SYS_getppid (%d): %s\n", SYS_getppid, answer(syscall(SYS_getppid), parent));
    printf("SYS_parent_pid (%d): %s\n", SYS_parent_pid, answer(syscall(SYS_parent_pid), parent));
    printf("unlinkat: %s\n", answer(unlinkat(AT_FDCWD, file, 0), 0));
    printf("rmdir (Linux's 84): %s\n", answer(syscall(84, dir), 0));
    return 0;
}
