/* Asks for Syscall User Dispatch itself. Under emu, dispatch is the
 * emulator's and the request is refused; the guest says so and goes on. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#endif

int main(void) {
    int r = prctl(PR_SET_SYSCALL_USER_DISPATCH, 1, 0, 0, 0);
    printf("prctl(PR_SET_SYSCALL_USER_DISPATCH) = %d (%s)\n", r, r ? strerror(errno) : "armed");
    printf("still running\n");
    return 0;
}
