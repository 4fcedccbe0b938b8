/* Counts the SIGPIPEs it gets while making argv[1] (default 200000)
 * getppid calls, and exits with that count (capped at 100): a guest that
 * writes to no pipe must get none, whatever emu's own output does. */
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t got;

static void count(int sig) {
    (void)sig;
    got++;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 200000;
    signal(SIGPIPE, count);
    for (long i = 0; i < n; i++)
        syscall(SYS_getppid);
    return got > 100 ? 100 : got;
}
