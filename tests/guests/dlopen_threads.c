/* A dynamic program that dlopens a library starting threads, then, with a
 * thread of its own still running, posix_spawns a program (glibc's clone
 * with CLONE_VM|CLONE_VFORK) and waits for it. argv[1]: the library. */
#include <dlfcn.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static volatile int running = 1;
/* The program's own thread-local variables (static TLS), one initialised. */
static __thread int spins;
static __thread char tag[16] = "main";

static void *busy(void *arg) {
    (void)arg;
    /* At least once, however late the thread gets to run. */
    do {
        spins++;
        usleep(1000);
    } while (running);
    return spins > 0 && tag[0] == 'm' ? 0 : (void *)1;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    void *lib = dlopen(argv[1], RTLD_NOW);
    if (!lib) {
        printf("dlopen: %s\n", dlerror());
        return 1;
    }
    long (*start_and_join)(int, long) = (long (*)(int, long))dlsym(lib, "start_and_join");
    long (*own_count)(void) = (long (*)(void))dlsym(lib, "own_count");
    printf("threads of the dlopen'ed library added up to %ld\n", start_and_join(4, 1000));
    printf("this thread's count in the library's TLS: %ld, its tag %s\n", own_count(), tag);
    pthread_t t;
    pthread_create(&t, 0, busy, 0);
    char *child[] = {"/bin/echo", "spawned while a thread runs", 0};
    pid_t pid;
    /* Before the child writes: otherwise whether its line or this buffer
     * reaches the pipe first is a race (natively too). */
    fflush(stdout);
    int r = posix_spawn(&pid, child[0], 0, 0, child, environ);
    int status = 0;
    waitpid(pid, &status, 0);
    running = 0;
    void *spun = 0;
    pthread_join(t, &spun);
    printf("the running thread's TLS: %s, this thread's spins: %d\n", spun ? "wrong" : "its own", spins);
    printf("posix_spawn: %d, child exited %d\n", r, WEXITSTATUS(status));
    dlclose(lib);
    return 0;
}
