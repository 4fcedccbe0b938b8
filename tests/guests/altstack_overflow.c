/* A signal handler on an alternate stack too small for the frame: Linux
 * kills the process with SIGSEGV rather than write below the stack. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

static char guard_below[8192];
static char small[2048];

static void on_usr1(int sig) {
    (void)sig;
}

int main(void) {
    stack_t ss = {.ss_sp = small, .ss_size = sizeof small};
    if (sigaltstack(&ss, NULL) != 0) {
        perror("sigaltstack");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR1, &sa, NULL);
    raise(SIGUSR1);
    int clean = 1;
    for (unsigned i = 0; i < sizeof guard_below; i++)
        clean &= guard_below[i] == 0;
    printf("survived; memory below the stack %s\n", clean ? "untouched" : "overwritten");
    return 0;
}
