/* Thread creation and join: N threads (argv[1], default 10000), each
 * created and joined before the next, each doing nothing. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *nothing(void *arg) {
    return arg;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000;
    for (long i = 0; i < n; i++) {
        pthread_t t;
        void *r;
        if (pthread_create(&t, NULL, nothing, (void *)i) || pthread_join(t, &r) || r != (void *)i) {
            fprintf(stderr, "thread_churn: thread %ld failed\n", i);
            return 1;
        }
    }
    return 0;
}
