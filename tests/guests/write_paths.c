/* Writes one line to stdout by each road to the kernel: stdio's printf and
 * fwrite, the write() wrapper, syscall(SYS_write), and a `syscall`
 * instruction of its own. glibc makes its calls with inlined `syscall`
 * instructions, which an LD_PRELOAD interposer of write() or syscall()
 * cannot see; Syscall User Dispatch sees them all. */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

static long raw_write(int fd, const void *buf, unsigned long len) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(SYS_write), "D"(fd), "S"(buf), "d"(len) : "rcx", "r11", "memory");
    return ret;
}

int main(void) {
    printf("1 printf\n");
    fflush(stdout);
    fwrite("2 fwrite\n", 1, 9, stdout);
    fflush(stdout);
    write(1, "3 write\n", 8);
    syscall(SYS_write, 1, "4 syscall\n", 10);
    raw_write(1, "5 inline syscall\n", 17);
    return 0;
}
