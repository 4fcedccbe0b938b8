/* A library dlopen'ed by dlopen_threads.c: it starts threads of its own,
 * each counting in a thread-local variable of the library (dynamic TLS,
 * reached through __tls_get_addr in a library loaded after start). */
#include <pthread.h>

static long total;
static __thread long mine;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *add(void *arg) {
    long n = (long)arg;
    for (long i = 1; i <= n; i++)
        mine += i;
    pthread_mutex_lock(&lock);
    total += mine;
    pthread_mutex_unlock(&lock);
    return 0;
}

/* The calling thread's own count: untouched by the others. */
long own_count(void) {
    return mine;
}

long start_and_join(int threads, long each) {
    pthread_t t[16];
    for (int i = 0; i < threads && i < 16; i++)
        pthread_create(&t[i], 0, add, (void *)each);
    for (int i = 0; i < threads && i < 16; i++)
        pthread_join(t[i], 0);
    return total;
}
