/* What a program finds about itself in /proc/self, compared with what it
 * knows: its arguments, its name, its mappings (its code, its stack, its
 * break), its auxiliary vector, its descriptors and its executable. Each
 * line prints the same natively and under emu (tests/runs_like_native.rs). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

static char *slurp(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        *len = 0;
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n == cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + n, cap - n);
        if (r <= 0)
            break;
        n += r;
    }
    close(fd);
    *len = n;
    return buf;
}

/* The maps line holding `addr`: its name (the rest of the line), or "". */
static const char *mapping_of(const char *maps, size_t len, unsigned long addr, char *name, size_t size) {
    name[0] = 0;
    const char *line = maps;
    while (line < maps + len) {
        const char *end = memchr(line, '\n', maps + len - line);
        if (!end)
            end = maps + len;
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo <= addr && addr < hi) {
            const char *p = line;
            for (int field = 0; field < 5 && p < end; field++) {
                p = memchr(p, ' ', end - p);
                if (!p)
                    return name;
                while (p < end && *p == ' ')
                    p++;
            }
            snprintf(name, size, "%.*s", (int)(end - p), p);
            return name;
        }
        line = end + 1;
    }
    return name;
}

int main(int argc, char **argv) {
    size_t len;
    char *cmdline = slurp("/proc/self/cmdline", &len);
    size_t want = 0;
    for (int i = 0; i < argc; i++)
        want += strlen(argv[i]) + 1;
    int same = cmdline && len == want;
    for (size_t off = 0, i = 0; same && i < (size_t)argc; i++) {
        same = strcmp(cmdline + off, argv[i]) == 0;
        off += strlen(argv[i]) + 1;
    }
    printf("cmdline is argv: %s\n", same ? "yes" : "no");

    char *comm = slurp("/proc/self/comm", &len);
    printf("comm: %.*s", (int)len, comm ? comm : "");
    char *thread_comm = slurp("/proc/thread-self/comm", &len);
    printf("thread-self comm: %.*s", (int)len, thread_comm ? thread_comm : "");

    char *status = slurp("/proc/self/status", &len);
    char *name = status ? strstr(status, "Name:\t") : NULL;
    printf("status %.*s\n", name ? (int)strcspn(name, "\n") : 0, name ? name : "");

    char exe[4096] = {0};
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *real = realpath(argv[0], NULL);
    printf("exe is the program: %s\n", n > 0 && real && strcmp(exe, real) == 0 ? "yes" : "no");

    void *grown = sbrk(0);
    sbrk(4096);
    char *maps = slurp("/proc/self/maps", &len);
    char where[512];
    int local;
    const char *base = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
    mapping_of(maps, len, (unsigned long)&main, where, sizeof where);
    printf("main's mapping is the program: %s\n", strstr(where, base) ? "yes" : "no");
    printf("a local's mapping: %s\n", mapping_of(maps, len, (unsigned long)&local, where, sizeof where));
    printf("the break's mapping: %s\n", mapping_of(maps, len, (unsigned long)grown, where, sizeof where));
    printf("maps names emu: %s\n", maps && memmem(maps, len, "/emu", 4) ? "yes" : "no");
    int self_dir = open("/proc/self", O_RDONLY | O_DIRECTORY);
    int rel = openat(self_dir, "maps", O_RDONLY);
    char relbuf[1 << 16];
    ssize_t got = rel >= 0 ? read(rel, relbuf, sizeof relbuf) : -1;
    printf("maps through a directory descriptor names emu: %s\n",
           got > 0 && memmem(relbuf, got, "/emu", 4) ? "yes" : got > 0 ? "no" : "unreadable");
    close(rel);
    close(self_dir);
    char *smaps = slurp("/proc/self/smaps", &len);
    printf("smaps has main's mapping: %s\n",
           smaps && mapping_of(smaps, len, (unsigned long)&main, where, sizeof where)[0] ? "yes" : "no");

    unsigned long *auxv = (unsigned long *)slurp("/proc/self/auxv", &len);
    int found = 0, agree = 1;
    for (size_t i = 0; auxv && i + 1 < len / sizeof *auxv && auxv[i]; i += 2) {
        if (auxv[i] == AT_PHDR || auxv[i] == AT_ENTRY || auxv[i] == AT_PAGESZ || auxv[i] == AT_RANDOM) {
            found++;
            agree &= auxv[i + 1] == getauxval(auxv[i]);
        }
    }
    printf("auxv: %d of AT_PHDR, AT_ENTRY, AT_PAGESZ, AT_RANDOM, as getauxval says: %s\n", found, agree ? "yes" : "no");

    int file = open("/proc/self/cmdline", O_RDONLY);
    DIR *dir = opendir("/proc/self/fd");
    printf("descriptors:");
    struct dirent *e;
    int listed = 0, readable = 1;
    char fds[64][16];
    while (dir && (e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        if (listed < 64)
            snprintf(fds[listed++], sizeof fds[0], "%.15s", e->d_name);
    }
    qsort(fds, listed, sizeof fds[0], (int (*)(const void *, const void *))strcmp);
    for (int i = 0; i < listed; i++) {
        char link[1100], target[256];
        snprintf(link, sizeof link, "/proc/self/fd/%s", fds[i]);
        readable &= readlink(link, target, sizeof target) > 0;
        printf(" %s", fds[i]);
    }
    printf("\neach one's link reads: %s\n", readable ? "yes" : "no");
    printf("fdinfo of the file: %s\n", access("/proc/self/fdinfo/3", R_OK) == 0 ? "yes" : "no");
    printf("write to maps: %s\n", open("/proc/self/maps", O_WRONLY) < 0 ? "refused" : "allowed");
    (void)file;
    return 0;
}
