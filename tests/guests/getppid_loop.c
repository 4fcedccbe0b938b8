/* N getppid system calls (argv[1], default 1000000): the benchmark's workload. */
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    long sum = 0;
    for (long i = 0; i < n; i++)
        sum += syscall(SYS_getppid);
    return n > 0 && sum == 0;
}
