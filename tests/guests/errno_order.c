/* Calls with two things wrong at once: the kernel reports the one it checks
 * first. Each line is a call, its arguments in words, and the errno. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BAD ((void *)16)              /* below every mapping */
#define EMU ((void *)0x7ff000000000ul) /* high: where emu lives, unmapped natively */

static void show(const char *what, long r) {
    printf("%-58s %s\n", what, r == -1 ? strerrorname_np(errno) : "ok");
}

#define CALL(what, ...) show(what, syscall(__VA_ARGS__))

int main(void) {
    uint64_t mask = 0;
    struct timespec ts = {0, 0}, bad_ts = {0, -1};
    int ep = epoll_create1(0);
    struct epoll_event ev;
    uint64_t block_bad_size[2] = {(uint64_t)&mask, 4};
    uint64_t block_bad_mask[2] = {(uint64_t)BAD, 8};
    uint64_t block_bad_both[2] = {(uint64_t)BAD, 4};
    uint64_t block_emu_mask[2] = {(uint64_t)EMU, 8};

    CALL("rt_sigaction(0, bad act)", SYS_rt_sigaction, 0, BAD, NULL, 8);
    CALL("rt_sigaction(65, bad act)", SYS_rt_sigaction, 65, BAD, NULL, 8);
    CALL("rt_sigaction(SIGKILL, bad act)", SYS_rt_sigaction, SIGKILL, BAD, NULL, 8);
    CALL("rt_sigaction(SIGKILL, bad act, size 4)", SYS_rt_sigaction, SIGKILL, BAD, NULL, 4);
    CALL("rt_sigaction(0, no act, bad oldact)", SYS_rt_sigaction, 0, NULL, BAD, 8);
    CALL("rt_sigaction(SIGKILL, no act, bad oldact)", SYS_rt_sigaction, SIGKILL, NULL, BAD, 8);
    CALL("rt_sigprocmask(how 9, bad set)", SYS_rt_sigprocmask, 9, BAD, NULL, 8);
    CALL("rt_sigprocmask(how 9, bad set, size 4)", SYS_rt_sigprocmask, 9, BAD, NULL, 4);
    CALL("rt_sigsuspend(bad mask, size 4)", SYS_rt_sigsuspend, BAD, 4);
    CALL("rt_sigsuspend(NULL, size 8)", SYS_rt_sigsuspend, NULL, 8);
    CALL("ppoll(bad mask, size 4)", SYS_ppoll, NULL, 0, &ts, BAD, 4);
    CALL("ppoll(bad timeout, bad mask, size 4)", SYS_ppoll, NULL, 0, BAD, BAD, 4);
    CALL("ppoll(invalid timeout, bad mask)", SYS_ppoll, NULL, 0, &bad_ts, BAD, 8);
    CALL("ppoll(bad fds, bad mask)", SYS_ppoll, BAD, 1, &ts, BAD, 8);
    CALL("ppoll(bad fds, mask in emu's range)", SYS_ppoll, BAD, 1, &ts, EMU, 8);
    CALL("ppoll(1<<30 fds, bad mask, size 4)", SYS_ppoll, NULL, 1 << 30, &ts, BAD, 4);
    CALL("pselect6(bad mask, size 4)", SYS_pselect6, 0, NULL, NULL, NULL, &ts, block_bad_both);
    CALL("pselect6(good mask, size 4)", SYS_pselect6, 0, NULL, NULL, NULL, &ts, block_bad_size);
    CALL("pselect6(bad timeout, bad mask)", SYS_pselect6, 0, NULL, NULL, NULL, BAD, block_bad_mask);
    CALL("pselect6(invalid timeout, bad mask)", SYS_pselect6, 0, NULL, NULL, NULL, &bad_ts, block_bad_mask);
    CALL("pselect6(n -1, bad mask)", SYS_pselect6, -1, NULL, NULL, NULL, &ts, block_bad_mask);
    CALL("pselect6(n -1, mask in emu's range)", SYS_pselect6, -1, NULL, NULL, NULL, &ts, block_emu_mask);
    CALL("pselect6(bad block)", SYS_pselect6, 0, NULL, NULL, NULL, &ts, BAD);
    CALL("epoll_pwait(bad mask, size 4)", SYS_epoll_pwait, ep, &ev, 1, 0, BAD, 4);
    CALL("epoll_pwait(bad fd, bad mask)", SYS_epoll_pwait, -1, &ev, 1, 0, BAD, 8);
    CALL("epoll_pwait(bad fd, bad mask, size 4)", SYS_epoll_pwait, -1, &ev, 1, 0, BAD, 4);
    CALL("epoll_pwait2(bad mask, size 4)", SYS_epoll_pwait2, ep, &ev, 1, &ts, BAD, 4);
    CALL("epoll_pwait2(bad timeout, bad mask, size 4)", SYS_epoll_pwait2, ep, &ev, 1, BAD, BAD, 4);
    CALL("epoll_pwait2(bad fd, mask in emu's range)", SYS_epoll_pwait2, -1, &ev, 1, &ts, EMU, 8);

    /* Memory calls on ranges that hold nothing: natively unmapped, and
     * under emu outside the guest's arena (where emu lives). */
    static const struct { const char *name; long nr, third, fourth, fifth; } calls[] = {
        {"madvise(NORMAL)", SYS_madvise, MADV_NORMAL}, {"madvise(DONTFORK)", SYS_madvise, MADV_DONTFORK},
        {"madvise(12345)", SYS_madvise, 12345}, {"mprotect(RW)", SYS_mprotect, PROT_READ | PROT_WRITE},
        {"mprotect(R|0x10)", SYS_mprotect, PROT_READ | 0x10},
        {"mprotect(GROWSDOWN|GROWSUP)", SYS_mprotect, PROT_GROWSDOWN | PROT_GROWSUP},
        {"pkey_mprotect(RW, -1)", SYS_pkey_mprotect, PROT_READ | PROT_WRITE, -1},
        {"pkey_mprotect(RW, 7)", SYS_pkey_mprotect, PROT_READ | PROT_WRITE, 7}, {"mlock", SYS_mlock},
        {"mlock2(0)", SYS_mlock2, 0}, {"mlock2(2)", SYS_mlock2, 2}, {"munlock", SYS_munlock},
        {"msync(ASYNC)", SYS_msync, MS_ASYNC}, {"msync(0x100)", SYS_msync, 0x100},
        {"msync(ASYNC|SYNC)", SYS_msync, MS_ASYNC | MS_SYNC}, {"mseal(0)", 462, 0}, {"mseal(1)", 462, 1},
        {"remap_file_pages(0)", SYS_remap_file_pages, 0, 0}, {"remap_file_pages(1)", SYS_remap_file_pages, 1, 0},
    };
    static const struct { const char *name; unsigned long start, len; } ranges[] = {
        {"page", 0x7ff000000000ul, 4096}, {"unaligned", 0x7ff000000001ul, 4096}, {"len 0", 0x7ff000000000ul, 0},
        {"unaligned, len 0", 0x7ff000000001ul, 0}, {"len 1", 0x7ff000000000ul, 1}, {"len -1", 0x7ff000000000ul, -1ul},
        {"len -4096", 0x7ff000000000ul, -4096ul}, {"len -4097", 0x7ff000000000ul, -4097ul},
        {"len 1<<63", 0x7ff000000000ul, 1ul << 63}, {"unaligned, len -1", 0x7ff000000001ul, -1ul},
        {"kernel address", 0xffff880000000000ul, 4096},
    };
    for (unsigned c = 0; c < sizeof calls / sizeof *calls; c++)
        for (unsigned r = 0; r < sizeof ranges / sizeof *ranges; r++) {
            char what[96];
            snprintf(what, sizeof what, "%s on %s", calls[c].name, ranges[r].name);
            show(what, syscall(calls[c].nr, ranges[r].start, ranges[r].len, calls[c].third, calls[c].fourth, calls[c].fifth));
        }
    /* The number is EAX: bits above it are not looked at; a negative one is
     * out of range. */
    long numbers[] = {0x100000000L | SYS_getpid, -1L, 0x7fffffffL};
    for (unsigned i = 0; i < sizeof numbers / sizeof *numbers; i++) {
        long r;
        __asm__ volatile("syscall" : "=a"(r) : "a"(numbers[i]) : "rcx", "r11", "memory");
        printf("RAX %#lx: %s\n", (unsigned long)numbers[i],
               r == getpid() ? "getpid" : r < 0 && r > -4096 ? strerrorname_np((int)-r) : "something else");
    }
    return 0;
}
