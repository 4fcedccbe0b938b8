/* Asks for the page just below emu's boundary (0x500000000000) with
 * MAP_FIXED. Natively that is an ordinary address; under emu it is refused,
 * because a `syscall` in its last two bytes would escape dispatch. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

int main(void) {
    void *want = (void *)(0x500000000000UL - 4096);
    void *p = mmap(want, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("MAP_FIXED at the boundary's last page: %s\n", p == MAP_FAILED ? strerror(errno) : "mapped");
    return 0;
}
