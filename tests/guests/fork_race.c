/* fork while other threads keep starting threads: each new thread's first
 * calls trap at sites emu is rewriting, and the rewrite maps stub chunks
 * (the memory map's lock) while it holds the sites' table, which fork holds
 * too. Each child starts a thread of its own. A deadlock between the two
 * locks hung the parent here. argv[1]: how many forks. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int stop;

static void *call_once(void *arg)
{
    getppid();
    return arg;
}

static void *spawner(void *arg)
{
    while (!stop) {
        pthread_t t;
        if (pthread_create(&t, 0, call_once, 0) == 0)
            pthread_join(t, 0);
    }
    return arg;
}

int main(int argc, char **argv)
{
    int forks = argc > 1 ? atoi(argv[1]) : 300, bad = 0;
    pthread_t spawners[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&spawners[i], 0, spawner, 0);
    for (int i = 0; i < forks; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            pthread_t t;
            pthread_create(&t, 0, call_once, 0);
            pthread_join(t, 0);
            _exit(0);
        }
        int status;
        waitpid(pid, &status, 0);
        bad += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    stop = 1;
    for (int i = 0; i < 3; i++)
        pthread_join(spawners[i], 0);
    printf("%d forks, %d children failed\n", forks, bad);
    return 0;
}
