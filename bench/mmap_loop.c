/* The benchmark's emulated-call workload: N pairs of mmap and munmap of
 * one anonymous page (argv[1], default 1000000), calls emu carries out
 * itself (the guest arena), made inline as glibc makes them. */
#include <stdlib.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    for (long i = 0; i < n; i++) {
        void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED || munmap(p, 4096) != 0)
            return 1;
    }
    return 0;
}
