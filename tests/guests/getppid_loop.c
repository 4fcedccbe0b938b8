/* The benchmark's workload: N getppid system calls (argv[1], default
 * 1000000) on each of T threads at once (argv[2], default 1: the main
 * thread alone). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static long calls;

static void *loop(void *unused) {
    (void)unused;
    long sum = 0;
    for (long i = 0; i < calls; i++)
        sum += syscall(SYS_getppid);
    return (void *)(long)(calls > 0 && sum == 0);
}

int main(int argc, char **argv) {
    calls = argc > 1 ? atol(argv[1]) : 1000000;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    if (threads <= 1)
        return loop(NULL) != NULL;
    pthread_t t[threads];
    for (int i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, loop, NULL)) {
            perror("pthread_create");
            return 2;
        }
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        void *r;
        pthread_join(t[i], &r);
        failed |= r != NULL;
    }
    return failed;
}
