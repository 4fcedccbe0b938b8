/* Calls something the table marks unsupported (map_shadow_stack, 453) and a
 * number no table has (999), twice each, and says what came back. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    for (int i = 0; i < 2; i++) {
        long r = syscall(453, 0, 4096, 0);
        printf("map_shadow_stack: %ld (%s)\n", r, r < 0 ? strerror(errno) : "ok");
        r = syscall(999, 1, 2, 3);
        printf("syscall 999: %ld (%s)\n", r, r < 0 ? strerror(errno) : "ok");
    }
    return 0;
}
