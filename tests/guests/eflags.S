/* The guest's own EFLAGS across system calls and signal returns:
 *  1. alignment checking (AC) set with popfq, then system calls;
 *  2. AC set by a SIGUSR1 handler in its saved context, then system calls
 *     after the handler's rt_sigreturn;
 *  3. the trap flag (TF) set around a few instructions and a system call,
 *     with a SIGTRAP handler that counts the single-step traps.
 * Each step prints a line; the count of traps must be the native one. */
    .intel_syntax noprefix
    .globl _start
    .text

    .set SYS_write, 1
    .set SYS_rt_sigaction, 13
    .set SYS_rt_sigreturn, 15
    .set SYS_getpid, 39
    .set SYS_kill, 62
    .set SYS_getppid, 110
    .set SYS_exit_group, 231
    .set SIGUSR1, 10
    .set SIGTRAP, 5
    .set SA_SIGINFO_RESTORER, 0x04000004
    .set EFLAGS_AC, 0x40000
    .set EFLAGS_TF, 0x100
    .set REG_EFL_OFFSET, 40 + 17 * 8        /* uc_mcontext.gregs[REG_EFL] in ucontext_t */

/* print(label, length) */
    .macro print label
    mov     eax, SYS_write
    mov     edi, 1
    lea     rsi, [rip + \label]
    mov     edx, OFFSET \label\()_len
    syscall
    .endm

/* Prints "set" or "clear" for AC as it is now. */
    .macro print_ac
    pushfq
    pop     rax
    test    eax, EFLAGS_AC
    jz      91f
    print   set
    jmp     92f
91: print   clear
92:
    .endm

/* sigaction(signal, handler) with our restorer. */
    .macro sigaction sig, handler
    lea     rax, [rip + \handler]
    mov     [rip + act], rax
    mov     eax, SYS_rt_sigaction
    mov     edi, \sig
    lea     rsi, [rip + act]
    xor     edx, edx
    mov     r10d, 8
    syscall
    .endm

_start:
    /* 1. AC set, then calls. */
    pushfq
    or      qword ptr [rsp], EFLAGS_AC
    popfq
    print   ac_write
    mov     eax, SYS_getppid
    syscall
    print   ac_after
    print_ac
    pushfq
    and     qword ptr [rsp], ~EFLAGS_AC
    popfq

    /* 2. AC set by a handler through its frame. */
    sigaction SIGUSR1, on_usr1
    mov     eax, SYS_getpid
    syscall
    mov     edi, eax
    mov     esi, SIGUSR1
    mov     eax, SYS_kill
    syscall
    print   sigreturn_write
    print   sigreturn_after
    print_ac
    pushfq
    and     qword ptr [rsp], ~EFLAGS_AC
    popfq

    /* 3. TF around a system call, traps counted. */
    sigaction SIGTRAP, on_trap
    pushfq
    or      qword ptr [rsp], EFLAGS_TF
    popfq
    nop
    nop
    mov     eax, SYS_getppid
    syscall
    nop
    pushfq
    and     qword ptr [rsp], ~EFLAGS_TF
    popfq
    mov     eax, [rip + traps]
    mov     ecx, 10
    xor     edx, edx
    div     ecx
    add     al, '0'
    add     dl, '0'
    mov     [rip + trap_digits], al
    mov     [rip + trap_digits + 1], dl
    print   trap_count

    xor     edi, edi
    mov     eax, SYS_exit_group
    syscall

on_usr1:
    or      qword ptr [rdx + REG_EFL_OFFSET], EFLAGS_AC
    ret

on_trap:
    inc     dword ptr [rip + traps]
    ret

restorer:
    mov     eax, SYS_rt_sigreturn
    syscall
    hlt

    .data
    .balign 8
act:        .quad 0, SA_SIGINFO_RESTORER, restorer, 0
traps:      .long 0
trap_count: .ascii "single-step traps: "
trap_digits: .ascii "00\n"
    .set trap_count_len, . - trap_count

    .section .rodata
ac_write:   .ascii "write with AC set: ok\n"
    .set ac_write_len, . - ac_write
ac_after:   .ascii "AC after the calls: "
    .set ac_after_len, . - ac_after
sigreturn_write: .ascii "write after a sigreturn that set AC: ok\n"
    .set sigreturn_write_len, . - sigreturn_write
sigreturn_after: .ascii "AC after the handler: "
    .set sigreturn_after_len, . - sigreturn_after
set:        .ascii "set\n"
    .set set_len, . - set
clear:      .ascii "clear\n"
    .set clear_len, . - clear
    .section .note.GNU-stack,"",@progbits
