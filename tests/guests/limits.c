/* The guest's resource limits are its own, as natively:
 *   limits stack        RLIMIT_STACK as the guest sees it
 *   limits deep MIB     recursion through MIB megabytes of stack
 *   limits grow         a signal frame just below a freshly grown stack
 *   limits data MIB     mappings and brk against an RLIMIT_DATA of MIB megabytes
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

static long recurse(long left) {
    volatile char frame[1024];
    frame[0] = (char)left;
    if (left <= 1)
        return frame[0];
    return recurse(left - 1) + frame[0];
}

static volatile int handled;
static void on_usr1(int sig) {
    volatile char local[64];
    local[0] = (char)sig;
    handled = local[0];
}

/* 256 KiB below the current stack pointer, touched only at its lowest
 * byte; the signal frame then goes below that, into pages never touched. */
static __attribute__((noinline)) void grow_then_signal(void) {
    volatile char *low = alloca(256 << 10);
    low[0] = 1;
    raise(SIGUSR1);
}

static const char *mapped(size_t mib, int prot, int flags) {
    void *p = mmap(NULL, mib << 20, prot, flags | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return strerrorname_np(errno);
    munmap(p, mib << 20);
    return "ok";
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    if (!strcmp(argv[1], "stack")) {
        struct rlimit r;
        getrlimit(RLIMIT_STACK, &r);
        if (r.rlim_cur == RLIM_INFINITY)
            printf("RLIMIT_STACK: unlimited\n");
        else
            printf("RLIMIT_STACK: %lu KiB\n", (unsigned long)r.rlim_cur >> 10);
    } else if (!strcmp(argv[1], "deep") && argc > 2) {
        long mib = atol(argv[2]);
        recurse(mib * 1024);
        printf("recursed through %ld MiB of stack\n", mib);
    } else if (!strcmp(argv[1], "grow")) {
        signal(SIGUSR1, on_usr1);
        grow_then_signal();
        printf("handler ran below a grown stack: %d\n", handled == SIGUSR1);
    } else if (!strcmp(argv[1], "data") && argc > 2) {
        size_t mib = atol(argv[2]);
        struct rlimit r = {mib << 20, mib << 20};
        if (setrlimit(RLIMIT_DATA, &r) != 0)
            perror("setrlimit");
        printf("private writable, a quarter of the limit: %s\n", mapped(mib / 4, PROT_READ | PROT_WRITE, MAP_PRIVATE));
        printf("private writable, twice the limit: %s\n", mapped(2 * mib, PROT_READ | PROT_WRITE, MAP_PRIVATE));
        printf("private writable, MAP_NORESERVE, twice: %s\n",
               mapped(2 * mib, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE));
        printf("read-only, twice: %s\n", mapped(2 * mib, PROT_READ, MAP_PRIVATE));
        printf("shared writable, twice: %s\n", mapped(2 * mib, PROT_READ | PROT_WRITE, MAP_SHARED));
        void *p = mmap(NULL, 2 * mib << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        printf("mprotect to writable, twice: %s\n",
               mprotect(p, 2 * mib << 20, PROT_READ | PROT_WRITE) ? strerrorname_np(errno) : "ok");
        void *before = sbrk(0);
        printf("brk by twice the limit: %s\n", sbrk(2 * mib << 20) == (void *)-1 ? strerrorname_np(errno) : "ok");
        printf("brk unchanged: %d\n", sbrk(0) == before);
    } else {
        return 2;
    }
    return 0;
}
