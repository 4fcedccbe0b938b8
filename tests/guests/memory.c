/* Memory calls whose results do not depend on where things land: hints,
 * MAP_FIXED_NOREPLACE, MAP_32BIT, mremap growing and moving, partial
 * munmap, brk, and a file mapping. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static const long P = 4096;

static int mapped(void *addr) {
    unsigned char v;
    return mincore(addr, P, &v) == 0;
}

int main(void) {
    char *a = mmap(NULL, 4 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("anonymous map: %s, zeroed %d\n", a == MAP_FAILED ? "failed" : "ok", a[0] == 0 && a[4 * P - 1] == 0);
    strcpy(a, "payload");

    /* A hint that is free is honoured. */
    char *hint = a + 64 * P;
    char *h = mmap(hint, P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("free hint honoured: %d\n", h == hint);
    munmap(h, P);

    /* MAP_FIXED_NOREPLACE onto a mapping fails with EEXIST. */
    void *r = mmap(a, P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    printf("MAP_FIXED_NOREPLACE over a mapping: %s\n", r == MAP_FAILED ? strerror(errno) : "mapped");

    /* MAP_32BIT lands in the first 2 GiB. */
    char *low = mmap(NULL, P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    printf("MAP_32BIT below 2 GiB: %d\n", low != MAP_FAILED && (uintptr_t)low < (1UL << 31));

    /* mremap: grow (moving if need be), keep the data. */
    char *b = mremap(a, 4 * P, 64 * P, MREMAP_MAYMOVE);
    printf("mremap grow: %s, data kept %d\n", b == MAP_FAILED ? strerror(errno) : "ok", strcmp(b, "payload") == 0);
    /* Without MAYMOVE, growth into a neighbour fails. */
    char *d = mmap(NULL, 2 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(d + P, P);
    mmap(d + P, P, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    void *e = mremap(d, P, 2 * P, 0);
    printf("mremap into a neighbour without MAYMOVE: %s\n", e == MAP_FAILED ? strerror(errno) : "grew");

    /* Partial munmap. */
    char *f = mmap(NULL, 3 * P, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(f + P, P);
    printf("munmap of the middle page: first %d middle %d last %d\n", mapped(f), mapped(f + P), mapped(f + 2 * P));
    printf("munmap of an unaligned address: %s\n", munmap(f + 1, P) ? strerror(errno) : "ok");

    /* brk grows and shrinks. */
    char *brk0 = sbrk(0);
    char *grown = sbrk(10 * P);
    grown[10 * P - 1] = 1;
    printf("sbrk grows from the old break: %d\n", grown == brk0);
    sbrk(-10 * P);
    printf("sbrk shrinks back: %d\n", sbrk(0) == brk0);

    /* A file mapping shows the file. */
    int fd = open("/proc/self/exe", O_RDONLY);
    char *g = mmap(NULL, P, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("file mapping starts with ELF magic: %d\n", g != MAP_FAILED && memcmp(g, "\177ELF", 4) == 0);
    return 0;
}
