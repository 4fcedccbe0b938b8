/* pthreads as real programs use them; each argument runs one scenario and
 * prints what it saw (the same natively and under emu):
 *   many        1,000 threads created and joined, in batches of 50
 *   condvar     a producer/consumer queue over a mutex and condition variables
 *   signals     thread-directed signals, per-thread masks and altstacks
 *   blocked     a thread exits while others block in read, futex, nanosleep
 *   exit_group  exit() from a secondary thread while others block in read,
 *               futex, epoll_wait and a 30-second nanosleep
 *   fork        fork while other threads run; the child has one thread
 *   exec        execve from a secondary thread (argv[2] is the program)
 *   spawn       posix_spawn of a missing program, from a threaded process
 *   exe         the executable's /proc links, through a secondary thread's tid
 *   queued      20,000 queued real-time signals, each with its number, sent by one
 *               thread to another that is busy in its own code and in calls:
 *               each must arrive exactly once (argv[2] "order": report arrivals
 *               out of order too)
 *   faults      SIGSEGV, SIGFPE and SIGILL raised in secondary threads, each
 *               handled on the thread that raised it (while the others run)
 *   bad_words   threads that gave the kernel an unmapped clear_child_tid
 *               (set_tid_address) or robust list (set_robust_list) exit:
 *               the kernel skips the words, and the process goes on
 *   dup2_high   dup2 onto the highest descriptors again and again while another
 *               thread makes calls (under emu --trace, emu's own descriptors
 *               live there and move away: its writes must never reach the file)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* musl has no <linux/futex.h>. */
#define FUTEX_WAIT_PRIVATE 128
#define FUTEX_WAKE_PRIVATE 129

static void *identity(void *arg) {
    return arg;
}

static void many(void) {
    long sum = 0;
    for (long batch = 0; batch < 20; batch++) {
        pthread_t t[50];
        for (long i = 0; i < 50; i++)
            if (pthread_create(&t[i], NULL, identity, (void *)(batch * 50 + i)) != 0) {
                printf("pthread_create failed\n");
                exit(1);
            }
        for (int i = 0; i < 50; i++) {
            void *r;
            pthread_join(t[i], &r);
            sum += (long)r;
        }
    }
    printf("1000 threads joined, sum %ld\n", sum);
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t nonempty = PTHREAD_COND_INITIALIZER, nonfull = PTHREAD_COND_INITIALIZER;
static int queue[16], head, count, done;

static void *producer(void *arg) {
    for (int i = 1; i <= 10000; i++) {
        pthread_mutex_lock(&lock);
        while (count == 16)
            pthread_cond_wait(&nonfull, &lock);
        queue[(head + count++) % 16] = i;
        pthread_cond_signal(&nonempty);
        pthread_mutex_unlock(&lock);
    }
    return arg;
}

static void *consumer(void *arg) {
    long sum = 0;
    for (;;) {
        pthread_mutex_lock(&lock);
        while (count == 0 && !done)
            pthread_cond_wait(&nonempty, &lock);
        if (count == 0 && done) {
            pthread_mutex_unlock(&lock);
            return (void *)sum;
        }
        sum += queue[head];
        head = (head + 1) % 16;
        count--;
        pthread_cond_signal(&nonfull);
        pthread_mutex_unlock(&lock);
    }
    return arg;
}

static void condvar(void) {
    pthread_t p[3], c[3];
    for (int i = 0; i < 3; i++) {
        pthread_create(&p[i], NULL, producer, NULL);
        pthread_create(&c[i], NULL, consumer, NULL);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(p[i], NULL);
    pthread_mutex_lock(&lock);
    done = 1;
    pthread_cond_broadcast(&nonempty);
    pthread_mutex_unlock(&lock);
    long total = 0;
    for (int i = 0; i < 3; i++) {
        void *r;
        pthread_join(c[i], &r);
        total += (long)r;
    }
    printf("consumed %ld (expected %ld)\n", total, 3L * 10000 * 10001 / 2);
}

static _Thread_local int on_altstack, got;
static atomic_int handled[3];
static char altstacks[3][65536];

static void on_usr1(int sig, siginfo_t *info, void *uc) {
    (void)sig, (void)uc;
    int here;
    char *alt = altstacks[info->si_value.sival_int];
    on_altstack = (char *)&here >= alt && (char *)&here < alt + sizeof altstacks[0];
    got++;
    atomic_fetch_add(&handled[info->si_value.sival_int], 1);
}

static atomic_int ready;
static pid_t tids[3];

static void *signalled(void *arg) {
    int i = (int)(long)arg;
    stack_t ss = {.ss_sp = altstacks[i], .ss_size = sizeof altstacks[i]};
    sigaltstack(&ss, NULL);
    /* Thread 2 blocks SIGUSR1 and takes it with sigwaitinfo instead. */
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    if (i == 2)
        pthread_sigmask(SIG_BLOCK, &usr1, NULL);
    tids[i] = gettid();
    atomic_fetch_add(&ready, 1);
    if (i == 2) {
        siginfo_t info;
        sigwaitinfo(&usr1, &info);
        return (void *)(long)(100 + info.si_value.sival_int);
    }
    while (got == 0)
        usleep(1000);
    return (void *)(long)on_altstack;
}

static void signals(void) {
    struct sigaction sa = {.sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO | SA_ONSTACK};
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t t[3];
    for (long i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, signalled, (void *)i);
    while (atomic_load(&ready) < 3)
        usleep(1000);
    for (int i = 0; i < 3; i++) {
        siginfo_t info = {.si_signo = SIGUSR1, .si_code = SI_QUEUE, .si_pid = getpid(), .si_uid = getuid()};
        info.si_value.sival_int = i;
        syscall(SYS_rt_tgsigqueueinfo, getpid(), tids[i], SIGUSR1, &info);
    }
    for (int i = 0; i < 3; i++) {
        void *r;
        pthread_join(t[i], &r);
        printf("thread %d: %ld\n", i, (long)r);
    }
    printf("handled: %d %d %d\n", handled[0], handled[1], handled[2]);
}

static int fds[2];
static int futex_word;

static void *block_read(void *arg) {
    char c;
    ssize_t n = read(fds[0], &c, 1);
    return (void *)n;
}

static void *block_futex(void *arg) {
    syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    return arg;
}

static void *block_sleep(void *arg) {
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return arg;
}

static void *quick(void *arg) {
    return arg;
}

static void blocked(void) {
    pipe(fds);
    pthread_t r, f, s, q;
    pthread_create(&r, NULL, block_read, NULL);
    pthread_create(&f, NULL, block_futex, NULL);
    pthread_create(&s, NULL, block_sleep, NULL);
    pthread_create(&q, NULL, quick, (void *)7L);
    void *v;
    pthread_join(q, &v);
    printf("quick thread exited with %ld while three block\n", (long)v);
    write(fds[1], "x", 1);
    futex_word = 1;
    syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    pthread_join(r, &v);
    printf("read returned %ld\n", (long)v);
    pthread_join(f, NULL);
    pthread_join(s, NULL);
    printf("all joined\n");
}

static void *exits_the_process(void *arg) {
    usleep(20000);
    printf("secondary thread calls exit(42)\n");
    fflush(stdout);
    exit(42);
    return arg;
}

static void *block_epoll(void *arg) {
    int ep = epoll_create1(0);
    struct epoll_event ev;
    epoll_wait(ep, &ev, 1, -1);
    return arg;
}

static void *block_long_sleep(void *arg) {
    struct timespec ts = {30, 0};
    nanosleep(&ts, NULL);
    return arg;
}

static void exit_group_from_thread(void) {
    pipe(fds);
    pthread_t t[5];
    pthread_create(&t[0], NULL, block_read, NULL);
    pthread_create(&t[1], NULL, block_futex, NULL);
    pthread_create(&t[2], NULL, block_epoll, NULL);
    pthread_create(&t[3], NULL, block_long_sleep, NULL);
    pthread_create(&t[4], NULL, exits_the_process, NULL);
    pthread_join(t[0], NULL);
    printf("not reached\n");
}

static void *busy(void *arg) {
    while (!atomic_load((atomic_int *)arg))
        ;
    return NULL;
}

static void fork_threaded(void) {
    atomic_int stop = 0;
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, busy, &stop);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        /* The child has one thread; it can allocate, lock, make threads. */
        char *p = malloc(1 << 20);
        memset(p, 1, 1 << 20);
        pthread_t c;
        pthread_create(&c, NULL, identity, (void *)5L);
        void *r;
        pthread_join(c, &r);
        printf("child: malloc ok, thread returned %ld\n", (long)r);
        exit(3);
    }
    int status;
    waitpid(pid, &status, 0);
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("parent: child exited %d\n", WEXITSTATUS(status));
}

static char **exec_argv;

static void *execs(void *arg) {
    usleep(10000);
    execv(exec_argv[0], exec_argv);
    perror("execv");
    return arg;
}

static void exec_from_thread(void) {
    pthread_t t[2];
    pthread_create(&t[0], NULL, block_futex, NULL);
    pthread_create(&t[1], NULL, execs, NULL);
    pthread_join(t[0], NULL);
}

static void spawn_missing(void) {
    pthread_t t;
    atomic_int stop = 0;
    pthread_create(&t, NULL, busy, &stop);
    pid_t pid;
    char *argv[] = {"missing", NULL};
    int r = posix_spawn(&pid, "/nonexistent/emu-missing", NULL, NULL, argv, NULL);
    printf("posix_spawn of a missing program: %s\n", r ? strerror(r) : "success");
    r = posix_spawn(&pid, "/bin/busybox", NULL, NULL, (char *[]){"true", NULL}, NULL);
    int status = 0;
    if (r == 0)
        waitpid(pid, &status, 0);
    printf("posix_spawn of busybox true: %s, exit %d\n", r ? strerror(r) : "success", WEXITSTATUS(status));
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
}

/* Every name of the executable's link, read and opened from a secondary
 * thread: each must give the program (its path, then its ELF magic). */
static void *exe_links(void *unused) {
    (void)unused;
    int pid = getpid(), tid = syscall(SYS_gettid);
    char names[7][64], first[4096] = "";
    snprintf(names[0], 64, "/proc/self/exe");
    snprintf(names[1], 64, "/proc/thread-self/exe");
    snprintf(names[2], 64, "/proc/%d/exe", pid);
    snprintf(names[3], 64, "/proc/%d/exe", tid);
    snprintf(names[4], 64, "/proc/self/task/%d/exe", tid);
    snprintf(names[5], 64, "/proc/%d/task/%d/exe", pid, tid);
    snprintf(names[6], 64, "/proc/%d/task/%d/exe", tid, pid);
    for (int i = 0; i < 7; i++) {
        char link[4096];
        ssize_t n = readlink(names[i], link, sizeof link - 1);
        link[n < 0 ? 0 : n] = 0;
        if (i == 0)
            strcpy(first, link);
        char magic[4] = "";
        FILE *f = fopen(names[i], "rb");
        if (f) {
            fread(magic, 1, 4, f);
            fclose(f);
        }
        printf("%s: %s, %s\n", i == 3 ? "/proc/TID/exe" : i == 4 ? "/proc/self/task/TID/exe" : i >= 5 ? "/proc/ID/task/ID/exe" : i == 2 ? "/proc/PID/exe" : names[i],
               n < 0 ? strerror(errno) : i == 0 ? strrchr(link, '/') + 1 : !strcmp(link, first) ? "the same" : link,
               !memcmp(magic, "\177ELF", 4) ? "ELF" : "not ELF");
    }
    return NULL;
}

static void exe(void) {
    pthread_t t;
    pthread_create(&t, NULL, exe_links, NULL);
    pthread_join(t, NULL);
}

#define QUEUED 20000
static atomic_int arrived, out_of_order, last_value = -1;
static unsigned char received[QUEUED];

static void on_queued(int sig, siginfo_t *info, void *uc) {
    (void)sig, (void)uc;
    int v = info->si_value.sival_int;
    if (v >= 0 && v < QUEUED)
        received[v]++;
    if (v < atomic_load(&last_value))
        atomic_fetch_add(&out_of_order, 1);
    atomic_store(&last_value, v);
    atomic_fetch_add(&arrived, 1);
}

static atomic_int target_tid, target_stop;

static void *busy_target(void *unused) {
    (void)unused;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN + 1);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    atomic_store(&target_tid, syscall(SYS_gettid));
    volatile unsigned long spin = 0;
    while (!atomic_load(&target_stop)) {
        for (int i = 0; i < 200; i++)
            spin += i;
        syscall(SYS_getppid);
    }
    return NULL;
}

static void queued(int report_order) {
    struct sigaction sa = {.sa_sigaction = on_queued, .sa_flags = SA_SIGINFO | SA_RESTART};
    sigaction(SIGRTMIN + 1, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGRTMIN + 1);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* only the target takes it */
    pthread_t t;
    pthread_create(&t, NULL, busy_target, NULL);
    while (!atomic_load(&target_tid))
        sched_yield();
    for (int v = 0; v < QUEUED; v++) {
        for (int waited = 0; v - atomic_load(&arrived) > 64 && waited < 10000; waited++)
            usleep(100);
        siginfo_t info = {.si_signo = SIGRTMIN + 1, .si_code = SI_QUEUE, .si_pid = getpid(), .si_uid = getuid()};
        info.si_value.sival_int = v;
        if (syscall(SYS_rt_tgsigqueueinfo, getpid(), target_tid, SIGRTMIN + 1, &info)) {
            perror("rt_tgsigqueueinfo");
            exit(1);
        }
    }
    for (int waited = 0; atomic_load(&arrived) < QUEUED && waited < 10000; waited++)
        usleep(1000);
    atomic_store(&target_stop, 1);
    pthread_join(t, NULL);
    int once = 0, lost = 0, twice = 0;
    for (int v = 0; v < QUEUED; v++)
        once += received[v] == 1, lost += received[v] == 0, twice += received[v] > 1;
    printf("%d queued signals: %d arrived once, %d lost, %d more than once\n", QUEUED, once, lost, twice);
    if (report_order)
        printf("out of order: %d\n", atomic_load(&out_of_order));
}

static _Thread_local sigjmp_buf fault_return;
static _Thread_local int my_tid, handled_here;

static void on_fault(int sig, siginfo_t *info, void *uc) {
    (void)info, (void)uc;
    handled_here = syscall(SYS_gettid) == my_tid ? sig : -1;
    siglongjmp(fault_return, 1);
}

static void *faults_here(void *arg) {
    int which = (int)(long)arg;
    my_tid = syscall(SYS_gettid);
    if (!sigsetjmp(fault_return, 1)) {
        if (which == SIGSEGV)
            *(volatile int *)16 = 1;
        else if (which == SIGFPE)
            __asm__ volatile("xor %%edx, %%edx\n\txor %%ecx, %%ecx\n\tmov $1, %%eax\n\tidivl %%ecx" ::: "eax", "ecx", "edx");
        else
            __asm__ volatile("ud2");
    }
    return (void *)(long)handled_here;
}

static void faults(void) {
    struct sigaction sa = {.sa_sigaction = on_fault, .sa_flags = SA_SIGINFO | SA_NODEFER};
    int sigs[] = {SIGSEGV, SIGFPE, SIGILL};
    for (int i = 0; i < 3; i++)
        sigaction(sigs[i], &sa, NULL);
    atomic_int stop = 0;
    pthread_t busy_one, t[3];
    pthread_create(&busy_one, NULL, busy, &stop);
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, faults_here, (void *)(long)sigs[i]);
    for (int i = 0; i < 3; i++) {
        void *r;
        pthread_join(t[i], &r);
        printf("%s: %s\n", strsignal(sigs[i]), (long)r == sigs[i] ? "handled on the thread that raised it" : "handled elsewhere");
    }
    atomic_store(&stop, 1);
    pthread_join(busy_one, NULL);
}

static void *calls_until(void *stop) {
    while (!atomic_load((atomic_int *)stop))
        syscall(SYS_getppid);
    return NULL;
}

static void dup2_high(void) {
    char name[] = "/tmp/emu-dup2-high-XXXXXX";
    int file = mkstemp(name);
    unlink(name);
    atomic_int stop = 0;
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, calls_until, &stop);
    int moved = 0;
    for (int round = 0; round < 1500; round++)
        for (int fd = 1000; fd < 1024; fd++)
            if (dup2(file, fd) == fd) {
                moved++;
                close(fd);
            }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("dup2 onto the high descriptors: %s; the file holds %ld bytes\n", moved == 1500 * 24 ? "all done" : "some failed",
           (long)lseek(file, 0, SEEK_END));
}

static atomic_int bad_word_tid;

static void *exit_with_bad_word(void *arg) {
    void *unmapped = arg;
    static atomic_int which;
    if (atomic_fetch_add(&which, 1) == 0)
        syscall(SYS_set_tid_address, unmapped);
    else
        syscall(SYS_set_robust_list, unmapped, 24);
    atomic_store(&bad_word_tid, (int)syscall(SYS_gettid));
    syscall(SYS_exit, 0);
    return NULL;
}

static void bad_words(void) {
    void *unmapped = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(unmapped, 4096);
    pthread_attr_t detached;
    pthread_attr_init(&detached);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
    for (int i = 0; i < 2; i++) {
        pthread_t t;
        atomic_store(&bad_word_tid, 0);
        pthread_create(&t, &detached, exit_with_bad_word, unmapped);
        /* Gone once its tid no longer answers. */
        int tid;
        while ((tid = atomic_load(&bad_word_tid)) == 0 || syscall(SYS_tgkill, getpid(), tid, 0) == 0)
            usleep(1000);
    }
    printf("two threads exited with unmapped words; the process goes on\n");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2)
        return 2;
    const char *what = argv[1];
    if (!strcmp(what, "many"))
        many();
    else if (!strcmp(what, "condvar"))
        condvar();
    else if (!strcmp(what, "signals"))
        signals();
    else if (!strcmp(what, "blocked"))
        blocked();
    else if (!strcmp(what, "exit_group"))
        exit_group_from_thread();
    else if (!strcmp(what, "fork"))
        fork_threaded();
    else if (!strcmp(what, "exec") && argc > 2) {
        exec_argv = argv + 2;
        exec_from_thread();
    } else if (!strcmp(what, "spawn"))
        spawn_missing();
    else if (!strcmp(what, "exe"))
        exe();
    else if (!strcmp(what, "faults"))
        faults();
    else if (!strcmp(what, "queued"))
        queued(argc > 2 && !strcmp(argv[2], "order"));
    else if (!strcmp(what, "dup2_high"))
        dup2_high();
    else if (!strcmp(what, "bad_words"))
        bad_words();
    else
        return 2;
    return 0;
}
