//! The way into and out of every host signal handler emu installs, and the
//! other few instructions that run with the guest's FS base loaded.
//!
//! The kernel does not switch FS on signal delivery, so a handler starts
//! with the guest's TLS in FS. Nothing written in Rust may run before the
//! switch (libc's stack protector, errno and every thread-local are
//! FS-relative), which is why this part is assembly:
//!
//! 0. clear the flags emu cannot run with (alignment checking, direction),
//!    which the guest may have set;
//! 1. find the thread's `ThreadState` by masking the stack pointer (every emu
//!    handler runs on the thread's aligned alternate stack);
//! 2. if FS is not already the emulator's, save it as the guest's and load
//!    the emulator's (a signal that interrupts emu itself finds FS already
//!    switched and leaves it alone);
//! 3. call `handle_signal` (ordinary Rust from here on);
//! 4. load the guest's FS (which the handler may have changed) if step 2
//!    switched, and return to the restorer, which calls rt_sigreturn from
//!    inside the exempt range so that it does not trap.
//!
//! Everything here lives between `emu_trampolines_start` and
//! `emu_trampolines_end`, so a handler can tell that it interrupted one of
//! these sequences rather than the guest.

use crate::threads::ThreadState;
use std::mem::offset_of;
use std::sync::atomic::AtomicU32;

// The trampolines test `EMU_HAVE_FSGSBASE` (defined in `sys`, the host
// layer): with it they switch FS by `rdfsbase`/`wrfsbase`, else by arch_prctl.

extern "C" {
    /// The `sa_handler` of every emu signal handler.
    pub(crate) fn emu_signal_entry(sig: i32, info: *mut libc::siginfo_t, uc: *mut libc::c_void);
    /// The `sa_restorer` of every emu signal handler: rt_sigreturn from the exempt range.
    pub(crate) fn emu_signal_restorer();
    /// A pass-through system call that a signal can interrupt cleanly; see `interruptible_syscall`.
    fn emu_interruptible_syscall(args: *const u64, held: *const u32) -> i64;
    static emu_trampolines_start: u8;
    static emu_interruptible_check: u8;
    static emu_interruptible_syscall_insn: u8;
    static emu_interruptible_not_run: u8;
    fn emu_touch(addr: u64, write: u64) -> u64;
    fn emu_guest_load32(addr: u64) -> u64;
    fn emu_guest_cas32(addr: u64, expected: u32, new: u32) -> u64;
    fn emu_guest_copy(dst: *mut u8, src: *const u8, len: usize) -> u64;
    static emu_guest_load32_insn: u8;
    static emu_guest_cas32_insn: u8;
    static emu_guest_copy_insn: u8;
    static emu_guest_access_fault: u8;
    /// See the assembly below; `threads::spawn` uses them.
    pub(crate) fn emu_enter_thread(leave: *mut u64, uc: *const u8, guest_fs: u64) -> i32;
    pub(crate) fn emu_leave_thread(leave: *const u64, code: i32) -> !;
    /// See the assembly below; `lifecycle::vfork` uses it.
    pub(crate) fn emu_clone_vm(
        flags: u64,
        stack: u64,
        parent_tid: u64,
        child_tid: u64,
        child: extern "C" fn(*mut libc::c_void),
        arg: *mut libc::c_void,
    ) -> i64;
    static emu_touch_write: u8;
    static emu_touch_read: u8;
    static emu_touch_fault: u8;
    static emu_trampolines_end: u8;
}

/// Touches one byte of guest memory (writing without changing it, or
/// reading) the way a guest instruction would: the kernel grows a stack,
/// copies a page on write, or faults, exactly as for the guest. Returns
/// whether the access succeeded; a fault is caught (`touch_recovery`).
pub(crate) fn touch(addr: u64, write: bool) -> bool {
    // SAFETY: a single access to `addr`; a fault there is recovered by the
    // fault handler, which resumes at emu_touch_fault.
    unsafe { emu_touch(addr, write as u64) == 0 }
}

/// If a fault happened at one of the accesses of `touch`, `guest_load32`,
/// `guest_cas32` or `guest_copy`, where to resume.
pub(crate) fn touch_recovery(rip: u64) -> Option<u64> {
    // SAFETY: only the symbols' addresses are taken.
    let (write, read, fault, load32, cas32, copy, access_fault) = unsafe {
        (
            &emu_touch_write as *const u8 as u64,
            &emu_touch_read as *const u8 as u64,
            &emu_touch_fault as *const u8 as u64,
            &emu_guest_load32_insn as *const u8 as u64,
            &emu_guest_cas32_insn as *const u8 as u64,
            &emu_guest_copy_insn as *const u8 as u64,
            &emu_guest_access_fault as *const u8 as u64,
        )
    };
    if rip == write || rip == read {
        Some(fault)
    } else {
        (rip == load32 || rip == cas32 || rip == copy).then_some(access_fault)
    }
}

/// Copies `len` bytes from `src` to `dst`, one of them guest memory, with
/// the guest's own access rights: the kernel faults in, grows a stack or
/// copies a page on write exactly as for a guest instruction (and as for a
/// system call's copy_from_user/copy_to_user, protection keys included).
/// Returns false if an access faulted (some bytes may have been copied).
/// The caller has checked that the guest side lies in the arena, and owns
/// the other.
pub(crate) fn guest_copy(dst: *mut u8, src: *const u8, len: usize) -> bool {
    // SAFETY: `rep movsb` of `len` bytes; a fault on the guest's side is
    // recovered by the fault handler, which resumes at emu_guest_access_fault.
    unsafe { emu_guest_copy(dst, src, len) == 0 }
}

/// What `emu_guest_load32` and `emu_guest_cas32` return when the access
/// faulted: no 32-bit value looks like it.
const ACCESS_FAULTED: u64 = 1 << 32;

/// Reads the 32-bit word at `addr` with one instruction, as the guest's own
/// load would (an atomic read of an aligned word); None if it faults.
/// The caller has checked that `addr` is guest memory.
pub(crate) fn guest_load32(addr: u64) -> Option<u32> {
    // SAFETY: one load from `addr`; a fault there is recovered by the fault
    // handler, which resumes at emu_guest_access_fault.
    let r = unsafe { emu_guest_load32(addr) };
    (r != ACCESS_FAULTED).then_some(r as u32)
}

/// `lock cmpxchg` on the 32-bit word at `addr`, as the guest's own would:
/// the value found (the swap happened if it equals `expected`), or None if
/// the access faults. The caller has checked that `addr` is guest memory.
pub(crate) fn guest_cas32(addr: u64, expected: u32, new: u32) -> Option<u32> {
    // SAFETY: one locked read-modify-write of `addr`; a fault is recovered
    // as for `guest_load32`.
    let r = unsafe { emu_guest_cas32(addr, expected, new) };
    (r != ACCESS_FAULTED).then_some(r as u32)
}

/// Alignment checking and the direction flag: emu's code runs with both clear.
const EFLAGS_AC: i64 = 0x4_0000;
const EFLAGS_DF: i64 = 0x400;

/// Whether `rip` is inside one of the sequences above.
pub(crate) fn in_trampolines(rip: u64) -> bool {
    // SAFETY: only the symbols' addresses are taken.
    let (start, end) =
        unsafe { (&emu_trampolines_start as *const u8 as u64, &emu_trampolines_end as *const u8 as u64) };
    (start..end).contains(&rip)
}

/// If a signal interrupted an interruptible syscall before its `syscall`
/// instruction ran (or the kernel rewound it there to restart it), the
/// address to resume at instead, so that the call returns `NOT_RUN` rather
/// than blocking with the signal held.
pub(crate) fn interruptible_rewind(rip: u64) -> Option<u64> {
    // SAFETY: only the symbols' addresses are taken.
    let (check, insn, eintr) = unsafe {
        (
            &emu_interruptible_check as *const u8 as u64,
            &emu_interruptible_syscall_insn as *const u8 as u64,
            &emu_interruptible_not_run as *const u8 as u64,
        )
    };
    (check..=insn).contains(&rip).then_some(eintr)
}

/// What `interruptible_syscall` returns (negated) when it did not make the
/// call: the guest should take its signal, then execute the call again.
/// Linux's ERESTARTNOINTR, which no system call returns to user space.
pub(crate) const NOT_RUN: i32 = 513;

/// Executes system call `nr` with `args` unless `held` is (or becomes, before
/// the `syscall` instruction) non-zero, in which case it returns `-NOT_RUN`
/// without entering the kernel. `held` is set by the handler of a signal that
/// arrived while emu was running; see `signals::hold`.
pub(crate) fn interruptible_syscall(nr: u64, args: &[u64; 6], held: &AtomicU32) -> i64 {
    let block = [nr, args[0], args[1], args[2], args[3], args[4], args[5]];
    // SAFETY: the stub reads seven words and one u32, and makes the call.
    unsafe { emu_interruptible_syscall(block.as_ptr(), held.as_ptr()) }
}

core::arch::global_asm!(
    ".pushsection .text.emu_trampolines,\"ax\",@progbits",
    ".balign 16",
    ".globl emu_trampolines_start",
    "emu_trampolines_start:",

    // void emu_signal_entry(int sig, siginfo_t *info, void *uc)
    ".globl emu_signal_entry",
    ".type emu_signal_entry,@function",
    "emu_signal_entry:",
    // The kernel clears DF and TF for a handler, but leaves AC as the
    // interrupted code had it: with alignment checking on, emu's first
    // unaligned access would fault, and so would the handler of that fault.
    // The guest's own flags are in the frame and come back with rt_sigreturn.
    "    pushfq",
    "    and qword ptr [rsp], {emu_flags_mask}",
    "    popfq",
    "    push rbx",
    // No alternate stack (the kernel's uc_stack says so): a guest thread's
    // host thread in its first instructions, before it blocks every signal
    // (see `signal_without_region`); masking the stack pointer would find
    // no state there.
    "    test dword ptr [rdx + {uc_stack_flags}], {ss_disable}",
    "    jnz 14f",
    "    mov rbx, rsp",
    "    and rbx, {region_mask}",               // rbx = &ThreadState
    "    mov rax, {magic}",
    "    cmp [rbx + {magic_at}], rax",
    "    jne 12f",                              // not on a thread's region: stop here
    "    test byte ptr [rip + EMU_HAVE_FSGSBASE], 1",
    "    jz 5f",
    "    rdfsbase rax",
    "    xor ecx, ecx",
    "    cmp rax, [rbx + {host_fs}]",
    "    je 2f",
    "    mov [rbx + {guest_fs}], rax",
    "    mov rax, [rbx + {host_fs}]",
    "    wrfsbase rax",
    "    mov ecx, 1",
    "2:",
    "    push rcx",                              // remember whether FS was switched
    "    sub rsp, 8",                            // keep the call 16-byte aligned
    "    mov r8, rcx",
    "    mov rcx, rbx",
    "    call {handler}",                        // handle_signal(sig, info, uc, state, switched)
    "    add rsp, 8",
    "    pop rcx",
    "    test ecx, ecx",
    "    jz 3f",
    "    test byte ptr [rip + EMU_HAVE_FSGSBASE], 1",
    "    jz 4f",
    "    mov rax, [rbx + {guest_fs}]",
    "    wrfsbase rax",
    "3:",
    "    pop rbx",
    "    ret",                                   // into emu_signal_restorer
    // Without FSGSBASE: arch_prctl(ARCH_SET_FS, guest_fs), from the exempt range.
    "4:",
    "    mov eax, {sys_arch_prctl}",
    "    mov edi, {arch_set_fs}",
    "    mov rsi, [rbx + {guest_fs}]",
    "    syscall",
    "    pop rbx",
    "    ret",
    // Without FSGSBASE: arch_prctl(ARCH_GET_FS, &slot), compare, maybe ARCH_SET_FS.
    "5:",
    "    push rdi",
    "    push rsi",
    "    push rdx",
    "    sub rsp, 8",
    "    mov eax, {sys_arch_prctl}",
    "    mov edi, {arch_get_fs}",
    "    mov rsi, rsp",
    "    syscall",
    "    mov rax, [rsp]",
    "    add rsp, 8",
    "    xor ecx, ecx",
    "    cmp rax, [rbx + {host_fs}]",
    "    je 6f",
    "    mov [rbx + {guest_fs}], rax",
    "    mov eax, {sys_arch_prctl}",
    "    mov edi, {arch_set_fs}",
    "    mov rsi, [rbx + {host_fs}]",
    "    syscall",
    "    mov ecx, 1",
    "6:",
    "    pop rdx",
    "    pop rsi",
    "    pop rdi",
    "    jmp 2b",
    "12:",
    "    ud2",
    // On that thread's own stack, with its own FS (it runs no guest code).
    "14:",
    "    call {without_region}",                 // signal_without_region(sig, info, uc)
    "    pop rbx",
    "    ret",
    ".size emu_signal_entry, .-emu_signal_entry",

    // The restorer: the kernel's frame is at rsp.
    ".balign 16",
    ".globl emu_signal_restorer",
    ".type emu_signal_restorer,@function",
    "emu_signal_restorer:",
    "    mov eax, {sys_rt_sigreturn}",
    "    syscall",
    "    ud2",
    ".size emu_signal_restorer, .-emu_signal_restorer",

    // i64 emu_interruptible_syscall(const u64 args[7], const u32 *held)
    ".balign 16",
    ".globl emu_interruptible_syscall",
    ".type emu_interruptible_syscall,@function",
    "emu_interruptible_syscall:",
    "    mov r11, rdi",
    "    mov rax, [r11]",
    "    mov rdi, [r11 + 8]",
    "    mov rdx, [r11 + 24]",
    "    mov r10, [r11 + 32]",
    "    mov r8,  [r11 + 40]",
    "    mov r9,  [r11 + 48]",
    "    mov rcx, rsi",
    "    mov rsi, [r11 + 16]",
    ".globl emu_interruptible_check",
    "emu_interruptible_check:",
    "    cmp dword ptr [rcx], 0",
    "    jne emu_interruptible_not_run",
    ".globl emu_interruptible_syscall_insn",
    "emu_interruptible_syscall_insn:",
    "    syscall",
    "    ret",
    ".globl emu_interruptible_not_run",
    "emu_interruptible_not_run:",
    "    mov rax, {not_run}",
    "    ret",
    ".size emu_interruptible_syscall, .-emu_interruptible_syscall",

    // u64 emu_touch(u64 addr, u64 write): one access to guest memory as the
    // guest's own instruction would make it; a fault there resumes at
    // emu_touch_fault (see `touch_recovery`), which returns 1.
    ".balign 16",
    ".globl emu_touch",
    ".type emu_touch,@function",
    "emu_touch:",
    "    test esi, esi",
    "    jz 9f",
    ".globl emu_touch_write",
    "emu_touch_write:",
    "    lock or byte ptr [rdi], 0",          // a write that changes nothing, even with other threads
    "    xor eax, eax",
    "    ret",
    "9:",
    ".globl emu_touch_read",
    "emu_touch_read:",
    "    movzx eax, byte ptr [rdi]",
    "    xor eax, eax",
    "    ret",
    ".globl emu_touch_fault",
    "emu_touch_fault:",
    "    mov eax, 1",
    "    ret",
    ".size emu_touch, .-emu_touch",

    // u64 emu_guest_load32(u64 addr) and
    // u64 emu_guest_cas32(u64 addr, u32 expected, u32 new): one access to a
    // guest word, as a guest instruction makes it (what a FreeBSD kernel's
    // fueword32/casueword32 do); a fault resumes at emu_guest_access_fault
    // (see `touch_recovery`), which returns 1 << 32.
    ".balign 16",
    ".globl emu_guest_load32",
    ".type emu_guest_load32,@function",
    "emu_guest_load32:",
    ".globl emu_guest_load32_insn",
    "emu_guest_load32_insn:",
    "    mov eax, dword ptr [rdi]",
    "    ret",
    ".size emu_guest_load32, .-emu_guest_load32",
    ".globl emu_guest_cas32",
    ".type emu_guest_cas32,@function",
    "emu_guest_cas32:",
    "    mov eax, esi",
    ".globl emu_guest_cas32_insn",
    "emu_guest_cas32_insn:",
    "    lock cmpxchg dword ptr [rdi], edx",
    "    ret",
    ".size emu_guest_cas32, .-emu_guest_cas32",
    // u64 emu_guest_copy(u8 *dst, const u8 *src, u64 len): 0, or 1 << 32
    // from emu_guest_access_fault if the copy faulted.
    ".globl emu_guest_copy",
    ".type emu_guest_copy,@function",
    "emu_guest_copy:",
    "    mov rcx, rdx",
    ".globl emu_guest_copy_insn",
    "emu_guest_copy_insn:",
    "    rep movsb",
    "    xor eax, eax",
    "    ret",
    ".size emu_guest_copy, .-emu_guest_copy",
    ".globl emu_guest_access_fault",
    "emu_guest_access_fault:",
    "    mov rax, 0x100000000",
    "    ret",

    // i32 emu_enter_thread(LeaveGuest *leave, const void *uc, u64 guest_fs):
    // keeps this thread's callee-saved registers and stack pointer in
    // *leave, loads the guest's FS, and resumes the guest from the
    // ucontext at `uc` (an rt_sigframe without its pretcode) with
    // rt_sigreturn. Returns only through emu_leave_thread.
    ".balign 16",
    ".globl emu_enter_thread",
    ".type emu_enter_thread,@function",
    "emu_enter_thread:",
    "    push rbp",
    "    push rbx",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    "    mov [rdi], rsp",
    "    mov rbx, rsi",
    "    test byte ptr [rip + EMU_HAVE_FSGSBASE], 1",
    "    jz 10f",
    "    wrfsbase rdx",
    "    jmp 11f",
    "10:",
    "    mov eax, {sys_arch_prctl}",
    "    mov edi, {arch_set_fs}",
    "    mov rsi, rdx",
    "    syscall",
    "11:",
    "    mov rsp, rbx",
    "    mov eax, {sys_rt_sigreturn}",
    "    syscall",
    "    ud2",
    ".size emu_enter_thread, .-emu_enter_thread",

    // noreturn emu_leave_thread(const LeaveGuest *leave, i32 code): back to
    // where emu_enter_thread was called, which returns `code`. Called on
    // the thread's alternate stack, with emu's FS; the signal frames there
    // are abandoned.
    ".balign 16",
    ".globl emu_leave_thread",
    ".type emu_leave_thread,@function",
    "emu_leave_thread:",
    "    mov rsp, [rdi]",
    "    mov eax, esi",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop rbx",
    "    pop rbp",
    "    ret",
    ".size emu_leave_thread, .-emu_leave_thread",

    // i64 emu_clone_vm(u64 flags, u64 stack, u64 ptid, u64 ctid,
    //                  void (*child)(void *), void *arg): clone(2) of a
    // child that shares this memory; it starts on `stack` (16-byte
    // aligned) in child(arg), never touching the parent's stack. Returns
    // the child's pid or -errno in the parent.
    ".balign 16",
    ".globl emu_clone_vm",
    ".type emu_clone_vm,@function",
    "emu_clone_vm:",
    "    sub rsi, 16",
    "    mov [rsi], r8",
    "    mov [rsi + 8], r9",
    "    mov r10, rcx",
    "    xor r8d, r8d",
    "    mov eax, {sys_clone}",
    "    syscall",
    "    test rax, rax",
    "    jnz 13f",
    "    pop rax",
    "    pop rdi",
    "    call rax",
    "    ud2",
    "13:",
    "    ret",
    ".size emu_clone_vm, .-emu_clone_vm",

    ".globl emu_trampolines_end",
    "emu_trampolines_end:",
    ".popsection",

    region_mask = const !(crate::threads::REGION_SIZE as i64 - 1),
    magic = const crate::threads::MAGIC,
    magic_at = const offset_of!(ThreadState, magic),
    host_fs = const offset_of!(ThreadState, host_fs),
    guest_fs = const offset_of!(ThreadState, guest_fs),
    handler = sym super::handle_signal,
    without_region = sym super::signal_without_region,
    uc_stack_flags = const offset_of!(libc::ucontext_t, uc_stack) + offset_of!(libc::stack_t, ss_flags),
    ss_disable = const libc::SS_DISABLE,
    sys_arch_prctl = const libc::SYS_arch_prctl,
    sys_clone = const libc::SYS_clone,
    sys_rt_sigreturn = const libc::SYS_rt_sigreturn,
    arch_set_fs = const crate::sys::ARCH_SET_FS,
    arch_get_fs = const crate::sys::ARCH_GET_FS,
    not_run = const -(NOT_RUN as i64),
    emu_flags_mask = const !(EFLAGS_AC | EFLAGS_DF),
);
