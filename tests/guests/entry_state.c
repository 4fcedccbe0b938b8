/* The state a new program starts with, as its first instruction finds it:
 * every general register but RSP, RFLAGS, the x87 control word, MXCSR and
 * the sixteen XMM registers, printed as they are natively (the kernel's
 * start_thread and its initial FPU state). No C library: its start-up
 * would change them before anyone could look. */
typedef unsigned long u64;

u64 saved[17];           /* rax rbx rcx rdx rsi rdi rbp r8..r15, rflags */
unsigned short fcw;
unsigned int mxcsr;
unsigned char xmm[16][16];

__asm__(".globl _start\n"
        "_start:\n"
        "\tmov %rax, saved+0(%rip)\n"
        "\tmov %rbx, saved+8(%rip)\n"
        "\tmov %rcx, saved+16(%rip)\n"
        "\tmov %rdx, saved+24(%rip)\n"
        "\tmov %rsi, saved+32(%rip)\n"
        "\tmov %rdi, saved+40(%rip)\n"
        "\tmov %rbp, saved+48(%rip)\n"
        "\tmov %r8, saved+56(%rip)\n"
        "\tmov %r9, saved+64(%rip)\n"
        "\tmov %r10, saved+72(%rip)\n"
        "\tmov %r11, saved+80(%rip)\n"
        "\tmov %r12, saved+88(%rip)\n"
        "\tmov %r13, saved+96(%rip)\n"
        "\tmov %r14, saved+104(%rip)\n"
        "\tmov %r15, saved+112(%rip)\n"
        "\tpushfq\n"
        "\tpop saved+128(%rip)\n"
        "\tfnstcw fcw(%rip)\n"
        "\tstmxcsr mxcsr(%rip)\n"
        "\tmovdqu %xmm0, xmm+0(%rip)\n"
        "\tmovdqu %xmm1, xmm+16(%rip)\n"
        "\tmovdqu %xmm2, xmm+32(%rip)\n"
        "\tmovdqu %xmm3, xmm+48(%rip)\n"
        "\tmovdqu %xmm4, xmm+64(%rip)\n"
        "\tmovdqu %xmm5, xmm+80(%rip)\n"
        "\tmovdqu %xmm6, xmm+96(%rip)\n"
        "\tmovdqu %xmm7, xmm+112(%rip)\n"
        "\tmovdqu %xmm8, xmm+128(%rip)\n"
        "\tmovdqu %xmm9, xmm+144(%rip)\n"
        "\tmovdqu %xmm10, xmm+160(%rip)\n"
        "\tmovdqu %xmm11, xmm+176(%rip)\n"
        "\tmovdqu %xmm12, xmm+192(%rip)\n"
        "\tmovdqu %xmm13, xmm+208(%rip)\n"
        "\tmovdqu %xmm14, xmm+224(%rip)\n"
        "\tmovdqu %xmm15, xmm+240(%rip)\n"
        "\tand $-16, %rsp\n"
        "\tcall report\n"
        "\tmov %eax, %edi\n"
        "\tmov $60, %eax\n"
        "\tsyscall\n");

static char out[1024];
static int used;

static void put(const char *s) {
    while (*s && used < (int)sizeof out)
        out[used++] = *s++;
}

static void hex(u64 v) {
    char digits[19] = "0x";
    int n = 2;
    for (int shift = 60; shift >= 0; shift -= 4)
        if ((v >> shift) || shift == 0 || n > 2)
            digits[n++] = "0123456789abcdef"[(v >> shift) & 15];
    digits[n] = 0;
    put(digits);
}

int report(void) {
    static const char *const names[] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8",
                                        "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
    for (int i = 0; i < 15; i++) {
        put(names[i]);
        put("=");
        hex(saved[i]);
        put(i % 8 == 7 || i == 14 ? "\n" : " ");
    }
    put("rflags=");
    hex(saved[16]);
    put(" fcw=");
    hex(fcw);
    put(" mxcsr=");
    hex(mxcsr);
    int nonzero = 0;
    for (int r = 0; r < 16; r++)
        for (int b = 0; b < 16; b++)
            nonzero += xmm[r][b] != 0;
    put("\nnon-zero bytes in xmm0-15: ");
    hex(nonzero);
    put("\n");
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(1), "D"(1), "S"(out), "d"(used) : "rcx", "r11", "memory");
    return ret == used ? 0 : 1;
}
