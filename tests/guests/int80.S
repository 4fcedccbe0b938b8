/* Executes `int 0x80` (i386 getpid, 20) from 64-bit code, prints whether it
 * came back with -ENOSYS, then exits 0. */
    .intel_syntax noprefix
    .globl _start
    .text
_start:
    mov     eax, 20
    int     0x80
    cmp     eax, -38                /* -ENOSYS */
    lea     rsi, [rip + enosys]
    mov     edx, OFFSET enosys_len
    je      1f
    lea     rsi, [rip + other]
    mov     edx, OFFSET other_len
1:  mov     edi, 1
    mov     eax, 1
    syscall
    xor     edi, edi
    mov     eax, 231
    syscall

    .section .rodata
enosys: .ascii "int 0x80: ENOSYS\n"
    .set enosys_len, . - enosys
other:  .ascii "int 0x80: ran\n"
    .set other_len, . - other
    .section .note.GNU-stack,"",@progbits
