/* mremap with MREMAP_DONTUNMAP moves the pages and leaves the old range
 * mapped and empty. (Natively the kernel may also refuse with EINVAL,
 * depending on how it merged neighbouring mappings; under emu the move goes
 * to an address emu picks in the arena.) */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

int main(void) {
    long len = 16 * 4096;
    char *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    strcpy(a, "payload");
    char *b = mremap(a, len, len, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
    if (b == MAP_FAILED) {
        printf("MREMAP_DONTUNMAP: %s\n", strerror(errno));
        return 1;
    }
    printf("MREMAP_DONTUNMAP: moved %d, data moved %d, old range empty %d\n", b != a, strcmp(b, "payload") == 0, a[0] == 0);
    return 0;
}
