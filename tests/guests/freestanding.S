/* A guest with no C library: argv[1] (or a greeting) to stdout, then the
 * process's own pid compared with getpid's, then exit(argc). */
    .intel_syntax noprefix
    .globl _start
    .text
_start:
    mov     r12, [rsp]              /* argc */
    cmp     r12, 1
    jle     1f
    mov     rsi, [rsp + 16]         /* argv[1] */
    mov     rdi, rsi
    xor     eax, eax
    mov     rcx, -1
    repne scasb
    not     rcx
    dec     rcx                     /* strlen */
    mov     rdx, rcx
    jmp     2f
1:  lea     rsi, [rip + greeting]
    mov     edx, OFFSET greeting_len
2:  mov     edi, 1
    mov     eax, 1                  /* write */
    syscall
    lea     rsi, [rip + newline]
    mov     edi, 1
    mov     edx, 1
    mov     eax, 1
    syscall
    mov     eax, 39                 /* getpid */
    syscall
    test    rax, rax
    jle     3f
    mov     rdi, r12                /* exit(argc) */
    mov     eax, 231                /* exit_group */
    syscall
3:  mov     edi, 100
    mov     eax, 231
    syscall

    .section .rodata
greeting:   .ascii "hello from assembly"
    .set greeting_len, . - greeting
newline:    .ascii "\n"
    .section .note.GNU-stack,"",@progbits
