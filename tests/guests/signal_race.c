/* A fast timer and a blocking read, many times over, with a spin of random
 * length before each read, so that the timer fires at every point of emu's
 * way into and out of the call. Every read must end in EINTR; under a bug
 * that loses the signal, a read blocks for ever. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static void on_alarm(int sig) {
    (void)sig;
}

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

int main(int argc, char **argv) {
    long iterations = argc > 1 ? atol(argv[1]) : 3000;
    int p[2];
    pipe(p);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 200}, {0, 200}};
    setitimer(ITIMER_REAL, &it, NULL);
    srand(1);
    long eintr = 0;
    char c;
    for (long i = 0; i < iterations; i++) {
        long until = now_ns() + rand() % 250000;
        while (now_ns() < until) {
        }
        if (read(p[0], &c, 1) < 0 && errno == EINTR)
            eintr++;
    }
    printf("%ld reads, %ld ended in EINTR\n", iterations, eintr);
    return 0;
}
