/* A guest for fault injection (tests/inject.rs): each step prints what its
 * call returned, so that a run under strace's -e inject and one under emu's
 * --inject can be compared line by line. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t usr1;

static void on_usr1(int sig) {
    (void)sig;
    usr1++;
}

int main(void) {
    /* First: a write of its own, before stdio writes anything. */
    ssize_t w = write(1, "hello\n", 6);
    signal(SIGUSR1, on_usr1);
    for (int i = 1; i <= 3; i++) {
        int fd = open("/proc/self/comm", O_RDONLY);
        printf("open %d: %s\n", i, fd >= 0 ? "ok" : strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    int p[2];
    if (pipe(p) != 0)
        return 1;
    if (write(p[1], "data", 4) != 4)
        return 1;
    char buf[8];
    ssize_t r = read(p[0], buf, sizeof buf);
    printf("read %zd, SIGUSR1 taken %d times\n", r, (int)usr1);
    int server = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(server, (struct sockaddr *)&a, sizeof a);
    listen(server, 1);
    getsockname(server, (struct sockaddr *)&a, &len);
    int client = socket(AF_INET, SOCK_STREAM, 0);
    int c = connect(client, (struct sockaddr *)&a, sizeof a);
    printf("connect: %s\n", c == 0 ? "ok" : strerror(errno));
    printf("the first write returned %zd\n", w);
    return 0;
}
