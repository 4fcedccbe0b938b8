/* The small guest of the trace tests: open, read, write, close, and an error. */
#include <fcntl.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char buf[64];
    int fd = open(argc > 1 ? argv[1] : "/dev/null", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf);
    write(1, buf, n > 0 ? (size_t)n : 0);
    close(fd);
    open("/nonexistent/emu-hello", O_RDONLY | O_CLOEXEC);
    return 0;
}
