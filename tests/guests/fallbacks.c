/* A program that uses calls newer kernels added, through glibc's wrappers,
 * each of which falls back on an older kernel: pthread_create (clone3, 5.3,
 * then clone), statx (4.11, then fstatat), closefrom (close_range, 5.9, then
 * /proc/self/fd). What it prints is the same on any kernel, but for
 * close_range called directly, which has no fallback. With `uname`, it
 * prints the kernel release it is told. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

static void *thread_main(void *arg) {
    *(int *)arg = 42;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "uname") == 0) {
        struct utsname u;
        uname(&u);
        printf("%s\n", u.release);
        return 0;
    }
    int value = 0;
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, &value) != 0 || pthread_join(t, NULL) != 0) {
        printf("thread: failed\n");
    } else {
        printf("thread: %s\n", value == 42 ? "ok" : "wrong value");
    }

    struct statx sx;
    struct stat st;
    int a = statx(AT_FDCWD, "/proc/self/exe", 0, STATX_BASIC_STATS, &sx);
    int b = stat("/proc/self/exe", &st);
    printf("statx: %s\n", a == 0 && b == 0 && (off_t)sx.stx_size == st.st_size && sx.stx_ino == st.st_ino ? "ok" : strerror(errno));

    for (int fd = 3; fd < 10; fd++) {
        dup2(1, fd);
    }
    closefrom(3);
    int open_ones = 0;
    for (int fd = 3; fd < 10; fd++) {
        open_ones += fcntl(fd, F_GETFD) != -1;
    }
    printf("closefrom: %s\n", open_ones == 0 ? "ok" : "left some open");

    dup2(1, 20);
    int r = close_range(20, 20, 0);
    printf("close_range: %s\n", r == 0 ? "ok" : strerrorname_np(errno));
    return 0;
}
