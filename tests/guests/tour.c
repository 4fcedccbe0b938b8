/* A tour of what an ordinary C program asks of its kernel: arguments,
 * environment, stdio, files, directories, standard input, errors and the
 * exit status. Its output must be the same natively and under emu, so it
 * prints nothing that differs between two runs (no pids, times, addresses
 * or temporary names). Usage: tour ARGS... [exit=N] */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void check(int ok, const char *what) {
    if (!ok) {
        printf("FAILED: %s: %s\n", what, strerror(errno));
        exit(99);
    }
}

int main(int argc, char **argv) {
    int status = 0;

    /* Arguments, spaces and UTF-8 included. */
    printf("argc=%d\n", argc);
    for (int i = 1; i < argc; i++) {
        printf("argv[%d]=<%s> (%zu bytes)\n", i, argv[i], strlen(argv[i]));
        if (strncmp(argv[i], "exit=", 5) == 0)
            status = atoi(argv[i] + 5);
    }

    /* Environment, read and changed. */
    const char *v = getenv("EMU_TOUR");
    printf("EMU_TOUR=%s\n", v ? v : "(unset)");
    check(setenv("EMU_TOUR_NEW", "set by the guest", 1) == 0, "setenv");
    printf("EMU_TOUR_NEW=%s\n", getenv("EMU_TOUR_NEW"));

    /* A private directory to work in. */
    char dir[] = "/tmp/emu-tour-XXXXXX";
    check(mkdtemp(dir) != NULL, "mkdtemp");
    check(chdir(dir) == 0, "chdir");

    /* Files through stdio and through file descriptors. */
    FILE *f = fopen("notes.txt", "w");
    check(f != NULL, "fopen for writing");
    for (int i = 1; i <= 5; i++)
        fprintf(f, "line %d: %s\n", i, i % 2 ? "odd" : "even");
    check(fclose(f) == 0, "fclose");
    struct stat st;
    check(stat("notes.txt", &st) == 0, "stat");
    printf("notes.txt: %lld bytes, regular=%d, mode=%o\n", (long long)st.st_size, S_ISREG(st.st_mode), st.st_mode & 0777);
    f = fopen("notes.txt", "r");
    check(f != NULL, "fopen for reading");
    char line[128];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        if (++lines == 3)
            printf("third line: %s", line);
    }
    fclose(f);
    printf("lines read: %d\n", lines);

    int fd = open("raw.bin", O_CREAT | O_WRONLY | O_TRUNC, 0640);
    check(fd >= 0, "open O_CREAT");
    unsigned char bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (unsigned char)i;
    check(write(fd, bytes, sizeof bytes) == sizeof bytes, "write");
    check(lseek(fd, 0, SEEK_CUR) == 256, "lseek");
    close(fd);
    fd = open("raw.bin", O_RDONLY);
    check(fd >= 0, "open O_RDONLY");
    unsigned char back[256];
    check(pread(fd, back, 16, 240) == 16, "pread");
    printf("pread at 240: %u..%u\n", back[0], back[15]);
    close(fd);
    check(rename("raw.bin", "renamed.bin") == 0, "rename");
    check(access("raw.bin", F_OK) != 0 && errno == ENOENT, "old name gone");
    check(symlink("notes.txt", "link") == 0, "symlink");
    char target[64] = {0};
    check(readlink("link", target, sizeof target - 1) == 9, "readlink");
    printf("link -> %s\n", target);

    /* Directories. */
    check(mkdir("sub", 0755) == 0, "mkdir");
    const char *names[] = {"zeta", "alpha", "mu", "épsilon"};
    for (int i = 0; i < 4; i++) {
        char path[64];
        snprintf(path, sizeof path, "sub/%s", names[i]);
        fd = open(path, O_CREAT | O_WRONLY, 0600);
        check(fd >= 0, "create in sub");
        close(fd);
    }
    DIR *d = opendir("sub");
    check(d != NULL, "opendir");
    char *found[16];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 16)
        if (e->d_name[0] != '.')
            found[n++] = strdup(e->d_name);
    closedir(d);
    qsort(found, n, sizeof *found, by_name);
    printf("sub:");
    for (int i = 0; i < n; i++)
        printf(" %s", found[i]);
    printf("\n");

    /* Errors come back as errno. */
    errno = 0;
    if (open("/nonexistent/emu-tour", O_RDONLY) < 0)
        printf("open missing: %s\n", strerror(errno));
    if (rmdir("sub") < 0)
        printf("rmdir non-empty: %s\n", strerror(errno));
    if (unlink("/") < 0)
        printf("unlink /: %s\n", strerror(errno));

    /* Clean up. */
    for (int i = 0; i < 4; i++) {
        char path[64];
        snprintf(path, sizeof path, "sub/%s", names[i]);
        check(unlink(path) == 0, "unlink in sub");
    }
    check(rmdir("sub") == 0, "rmdir");
    check(unlink("link") == 0 && unlink("notes.txt") == 0 && unlink("renamed.bin") == 0, "unlink");
    check(chdir("/") == 0 && rmdir(dir) == 0, "remove the work directory");

    /* The kernel's name, and standard input. */
    struct utsname u;
    check(uname(&u) == 0, "uname");
    printf("sysname=%s\n", u.sysname);
    unsigned long sum = 0, count = 0;
    int c;
    while ((c = getchar()) != EOF) {
        sum = sum * 31 + (unsigned char)c;
        count++;
    }
    printf("stdin: %lu bytes, hash %lx\n", count, sum);

    fprintf(stderr, "tour: a line on stderr\n");
    printf("exiting with %d\n", status);
    return status;
}
