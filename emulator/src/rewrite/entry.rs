//! The fast entry: how a rewritten call site enters emu without a signal.
//!
//! A site's stub (see `patch`) re-executes the instruction the `jmp` replaced,
//! sets RCX to the address after the site's `syscall` (as `syscall` does) and
//! jumps to `emu_fast_entry` with every other guest register as it was at the
//! `syscall`. GS holds the thread's `ThreadState` (emu sets it for every
//! thread it runs guest code on; `rewrite` stops rewriting for a guest that
//! sets GS itself), so the thread's state is found without trusting anything
//! of the guest's. Then:
//!
//! 1. The guest's RSP, RFLAGS and return address go to the top of the
//!    thread's alternate stack (`ThreadState` region's top): the guest's red
//!    zone is never touched.
//! 2. **Pass-through** (`EMU_FAST_CALLS` has the number: a call that is one
//!    host call, not traced, counted, hooked or injected; see
//!    `Personality::pass_through`): the host call is made right here, with
//!    the guest's FS still loaded (two `wrfsbase` would cost more than all
//!    the rest) and no Rust code, under the same protocol as
//!    `signals::interruptible_syscall`: a signal that arrives before the
//!    `syscall` instruction (or is restarted onto it) makes it "not run"; a
//!    signal that arrives during the call is held. A BSD guest's result is
//!    translated first (carry flag, errno by `EMU_FAST_ERRNO`), and a clock
//!    id before the call (`EMU_FAST_CLOCKS`); the guest's RAX and RDI wait
//!    in two slots for the "not run" case. Back to the guest by an indirect
//!    `jmp` (a `ret` would mispredict on these machines), RCX and R11 as
//!    `syscall` leaves them.
//! 3. **Everything else**, and a pass-through that met a signal, builds a
//!    `ucontext` as the kernel would for a SIGSYS (the full XSAVE state
//!    included, in the kernel's format), switches to emu's FS and calls
//!    `fast_call`, which runs exactly the trap path's dispatch on it. The
//!    way back is rt_sigreturn of that frame: every register, the FPU state
//!    and the signal mask at once, so that a signal held meanwhile is
//!    delivered the moment the guest resumes, as on the trap path.
//! 4. **The direct way back.** When the call changed no more than a
//!    `syscall` does (RAX, RDX, the flags, memory), nothing was held and the
//!    mask is the same (`fast_call` decides), the entry restores the frame
//!    itself: XRSTOR of the FPU state, the registers, and the same three
//!    slots as a pass-through. Until it moves to the slots the frame is
//!    intact, so a signal there is held and the way back becomes the
//!    rt_sigreturn (`fast_rewind`); in the last instructions it is rolled
//!    forward as in a pass-through's.
//!
//! Signals that interrupt these instructions: see `signals::handle_signal`,
//! which holds them (nothing here is guest code), rewinds a not-yet-made
//! pass-through to "not run" (`fast_rewind`), and treats one that arrives in
//! the last instructions of the way back, when the call is done and only
//! registers are being restored, as arriving in the guest (`fast_roll_forward`).

use crate::context::{GuestContext, XsaveArea};
use crate::personality::{PassThrough, CLOCK_IDS};
use crate::sys::Errno;
use crate::threads::ThreadState;
use std::mem::offset_of;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicU8, Ordering};

extern "C" {
    /// Where every stub jumps.
    pub fn emu_fast_entry();
    static emu_fast_start: u8;
    static emu_fast_check: u8;
    static emu_fast_syscall_insn: u8;
    static emu_fast_not_run: u8;
    static emu_fast_return: u8;
    static emu_fast_sigreturn: u8;
    static emu_fast_direct: u8;
    static emu_fast_direct_tail: u8;
    static emu_fast_end: u8;
}

/// Entry N: how the entry makes guest call N itself (see the module's
/// comment), 0 for a call it leaves to the dispatcher: the host's number in
/// the low 16 bits, and the `PASS_*` bits. Written before the guest runs
/// (`set_passthrough`), read by the entry.
#[no_mangle]
static EMU_FAST_CALLS: [AtomicU32; PASSTHROUGH_LIMIT as usize] =
    [const { AtomicU32::new(0) }; PASSTHROUGH_LIMIT as usize];
/// Calls numbered below this can be pass-throughs.
pub const PASSTHROUGH_LIMIT: u64 = 512;
/// The entry makes this call.
const PASS: u32 = 1 << 16;
/// Its result is a BSD's: the carry flag, and the errno `EMU_FAST_ERRNO` gives.
const PASS_CARRY: u32 = 1 << 17;
/// Its first argument is a clock id (`EMU_FAST_CLOCKS`), its second 16
/// bytes in the guest's arena.
const PASS_CLOCK: u32 = 1 << 18;
/// It is clock_gettime, and the host's vDSO reads the clock
/// (`EMU_VDSO_CLOCK_GETTIME`).
const PASS_VDSO: u32 = 1 << 19;

/// The guest's errno of each host errno, for `PASS_CARRY` calls.
#[no_mangle]
static EMU_FAST_ERRNO: [AtomicU8; 4096] = [const { AtomicU8::new(0) }; 4096];
/// The host clock of each guest clock id, -1 for one left to the dispatcher.
#[no_mangle]
static EMU_FAST_CLOCKS: [AtomicI32; CLOCK_IDS] = [const { AtomicI32::new(-1) }; CLOCK_IDS];
/// The host vDSO's `__vdso_clock_gettime`, which reads those clocks (0:
/// the host call), and the vDSO's mapping (see `vdso`).
#[no_mangle]
static EMU_VDSO_CLOCK_GETTIME: AtomicU64 = AtomicU64::new(0);
static VDSO_START: AtomicU64 = AtomicU64::new(0);
static VDSO_END: AtomicU64 = AtomicU64::new(0);

/// The features the kernel's own signal frames hold and the size of their
/// XSAVE area (`learn_xsave`): what the entry saves and restores.
#[no_mangle]
static EMU_XSAVE_SIZE: AtomicU64 = AtomicU64::new(0);
#[no_mangle]
static EMU_XFEATURES: AtomicU64 = AtomicU64::new(0);
#[no_mangle]
static EMU_MXCSR_DEFAULT: u32 = MXCSR_DEFAULT;
const MXCSR_DEFAULT: u32 = 0x1f80;
/// 1 when the CPU has XSAVEOPT, which the entry saves with: it leaves out
/// the state components in their initial state (on this project's
/// machines, the AVX-512 registers of a guest that does not use them:
/// 1.6 of 2.7 KB), and an emulated call costs about 40 ns less.
///
/// It also leaves out a component not modified since the last XRSTOR from
/// the same address (the direct way back's, from this very area), trusting
/// the bytes there to be the ones restored. They are: the kernel runs an
/// XRSTOR(S) of its own at every signal delivery, sigreturn and context
/// switch, which ends that trust, and nothing else writes the area between
/// two calls (the pass-through needs no frame, and the vDSO clock path
/// runs its C functions below the area).
///
/// A component XSAVEOPT marks initial keeps whatever bytes were in the
/// area; a guest's signal frame made from this one gets them written as
/// XSAVE would (`context::materialize_initial_legacy`).
#[no_mangle]
static EMU_XSAVEOPT: AtomicU8 = AtomicU8::new(0);

/// Makes call `number` a pass-through, made as `how` says.
pub fn set_passthrough(number: u64, how: PassThrough) {
    let (host, bits) = match how {
        PassThrough::Raw { host } => (host, PASS),
        PassThrough::Carry { host } => (host, PASS | PASS_CARRY),
        PassThrough::CarryClock { host, clocks } => {
            for (slot, clock) in EMU_FAST_CLOCKS.iter().zip(clocks) {
                slot.store(clock.unwrap_or(-1), Ordering::Relaxed);
            }
            let vdso = (host == libc::SYS_clock_gettime as u64).then(super::vdso::clock_gettime).flatten();
            if let Some(vdso) = &vdso {
                VDSO_START.store(vdso.mapping.start, Ordering::Relaxed);
                VDSO_END.store(vdso.mapping.end, Ordering::Relaxed);
                EMU_VDSO_CLOCK_GETTIME.store(vdso.function, Ordering::Relaxed);
            }
            (host, PASS | PASS_CARRY | PASS_CLOCK | if vdso.is_some() { PASS_VDSO } else { 0 })
        }
    };
    if number < PASSTHROUGH_LIMIT && host <= 0xffff {
        EMU_FAST_CALLS[number as usize].store(bits | host as u32, Ordering::Relaxed);
    }
}

/// The entry gives emu's code a signal handler's FPU state, FNINIT's and
/// the default MXCSR (its sticky exception flags aside), but skips the
/// instructions where the guest's state is that already: checked in debug
/// builds, which the tests run, on every call.
#[cfg(debug_assertions)]
fn emu_fpu_state_is_default() {
    #[repr(C, align(16))]
    struct Fxsave([u8; 512]);
    let mut area = Fxsave([0; 512]);
    // SAFETY: FXSAVE stores 512 bytes into a 16-byte aligned buffer of ours.
    unsafe { std::arch::asm!("fxsave64 [{}]", in(reg) area.0.as_mut_ptr(), options(nostack)) };
    let word = |at: usize| u16::from_le_bytes([area.0[at], area.0[at + 1]]);
    let mxcsr = u32::from_le_bytes(area.0[24..28].try_into().unwrap());
    let (fcw, fsw, ftw) = (word(0), word(2), area.0[4]);
    assert!(
        fcw == 0x37f && fsw == 0 && ftw == 0 && mxcsr & !0x3f == MXCSR_DEFAULT,
        "the fast entry left emu a guest FPU state: FCW {fcw:#x}, FSW {fsw:#x}, FTW {ftw:#x}, MXCSR {mxcsr:#x}"
    );
}

/// Fills the table of guest errnos `PASS_CARRY` calls use.
pub fn set_errno_map(errno_to_guest: impl Fn(Errno) -> i32) {
    for (host, slot) in EMU_FAST_ERRNO.iter().enumerate().skip(1) {
        slot.store(errno_to_guest(Errno(host as i32)) as u8, Ordering::Relaxed);
    }
}

/// Takes the layout of the kernel's signal frames' XSAVE area from one of
/// them (a SIGSYS frame's, `GuestContext::xsave_area`): what the entry's
/// frames must hold for rt_sigreturn to restore them whole. False when the
/// frame has none (no XSAVE: no rewriting).
///
/// The kernel's own words, rather than XCR0 and CPUID's size for it:
/// those include the state a process must ask for (AMX tile data,
/// ARCH_REQ_XCOMP_PERM), which the kernel leaves out of the frames of one
/// that has not (here 2,816 bytes, against CPUID's 11,008). A frame that
/// says more than the kernel's own is restored as the legacy area alone:
/// the AVX registers' upper halves would be lost on every rt_sigreturn. A
/// guest that asks for more stops rewriting (`rewrite::stop`). Asking
/// CPUID for each component's size instead cost 60 to 75 us at every start
/// (a CPUID is a VM exit: 7 us here). Whether there is XSAVEOPT is what
/// glibc read at its start (`has_xsaveopt`).
pub fn learn_xsave(area: Option<XsaveArea>) -> bool {
    let Some(XsaveArea { size, features }) = area else { return false };
    log::debug!("the kernel's signal frames hold {size} bytes of XSAVE state, features {features:#x}");
    EMU_XSAVE_SIZE.store(size as u64, Ordering::Relaxed);
    EMU_XFEATURES.store(features, Ordering::Relaxed);
    EMU_XSAVEOPT.store(has_xsaveopt() as u8, Ordering::Relaxed);
    true
}

/// CPUID leaf 0xD, sub-leaf 1, EAX bit 0, as glibc read it before `main`
/// (`glibc_leaf_d1`): a CPUID of emu's own is a VM exit, 6 to 7 us at the
/// guest's first trap.
fn has_xsaveopt() -> bool {
    glibc_leaf_d1().is_some_and(|[eax, ..]| eax & 1 != 0)
}

/// EAX, EBX, ECX and EDX of CPUID leaf 0xD, sub-leaf 1, as glibc read them
/// before `main`: `__x86_get_cpuid_feature_leaf` of <sys/platform/x86.h>,
/// glibc 2.33 and later (emu links against glibc; Debian 12 has 2.36).
fn glibc_leaf_d1() -> Option<[u32; 4]> {
    /// glibc's `struct cpuid_feature`: the registers CPUID gave, then the
    /// bits glibc uses.
    #[repr(C)]
    struct CpuidFeature {
        cpuid: [u32; 4],
        active: [u32; 4],
    }
    extern "C" {
        fn __x86_get_cpuid_feature_leaf(index: u32) -> *const CpuidFeature;
    }
    /// `CPUID_INDEX_D_ECX_1` of <bits/platform/x86.h>.
    const LEAF_D_SUBLEAF_1: u32 = 3;
    // SAFETY: glibc's pointer to its copy of the leaf (a zeroed one for an
    // index it does not know), valid for the life of the process.
    unsafe { __x86_get_cpuid_feature_leaf(LEAF_D_SUBLEAF_1).as_ref() }.map(|leaf| leaf.cpuid)
}

/// Whether `rip` is in the fast entry (emu's code, not the guest's), or in
/// the host vDSO it calls for a BSD guest's clocks (which no such guest
/// runs itself).
pub fn in_fast_entry(rip: u64) -> bool {
    // SAFETY: only the symbols' addresses are taken.
    let (start, end) = unsafe { (&emu_fast_start as *const u8 as u64, &emu_fast_end as *const u8 as u64) };
    let vdso = VDSO_START.load(Ordering::Relaxed)..VDSO_END.load(Ordering::Relaxed);
    (start..end).contains(&rip) || vdso.contains(&rip)
}

/// Where a signal held at `rip` sends the entry: as
/// `signals::entry::interruptible_rewind` for the pass-through's call (not
/// made: "not run"), and to the rt_sigreturn for the direct way back before
/// it leaves the frame.
pub fn fast_rewind(rip: u64) -> Option<u64> {
    // SAFETY: only the symbols' addresses are taken.
    let (check, insn, not_run, sigreturn, direct, tail) = unsafe {
        (
            &emu_fast_check as *const u8 as u64,
            &emu_fast_syscall_insn as *const u8 as u64,
            &emu_fast_not_run as *const u8 as u64,
            &emu_fast_sigreturn as *const u8 as u64,
            &emu_fast_direct as *const u8 as u64,
            &emu_fast_direct_tail as *const u8 as u64,
        )
    };
    if (check..=insn).contains(&rip) {
        Some(not_run)
    } else if (direct..tail).contains(&rip) {
        Some(sigreturn)
    } else {
        None
    }
}

/// A signal interrupted the last instructions of a way back to the guest (a
/// pass-through's, or the direct one's), after its last look at `held`:
/// the guest's registers are all final but RIP, RSP, RFLAGS, RCX, R11 and
/// (direct way back) RBX, which are in the slots at the top of the alternate
/// stack or, as the way back pops them, in registers. Makes `ctx` the
/// guest's, as if the final `jmp` had been taken, and returns true; false
/// elsewhere.
///
/// Where each value is depends on how far the pops went (the stack pointer
/// says): the kernel wrote this handler's frame below the stack pointer, over
/// the slots already popped. A pass-through's R11 is the flags, as `syscall`
/// leaves it; the direct way back loaded the frame's before.
pub fn fast_roll_forward(thread: &ThreadState, ctx: &mut GuestContext) -> bool {
    // SAFETY: only the symbols' addresses are taken.
    let (ret, not_run, tail, end) = unsafe {
        (
            &emu_fast_return as *const u8 as u64,
            &emu_fast_not_run as *const u8 as u64,
            &emu_fast_direct_tail as *const u8 as u64,
            &emu_fast_end as *const u8 as u64,
        )
    };
    // At the `jne` itself, the `cmp` before it may have found a signal held:
    // then the way back is the frame's (DONE_HELD), which delivers it.
    const ZF: u64 = 0x40;
    if ctx.rip() == ret && ctx.rflags() & ZF == 0 {
        return false;
    }
    let r11_is_flags = if (ret..not_run).contains(&ctx.rip()) {
        true
    } else if (tail..end).contains(&ctx.rip()) {
        false
    } else {
        return false;
    };
    let top = thread.fast_stack_top;
    // SAFETY: a slot at the top of this thread's alternate stack, at or
    // above the interrupted stack pointer (so not under this frame).
    let slot = |below: u64| unsafe { ((top - below) as *const u64).read() };
    let mut sp = ctx.rsp();
    if sp == top - 32 {
        // Only the direct way back: RBX not popped yet.
        ctx.set_rbx(slot(32));
        sp = top - 24;
    }
    let to = if sp == top - 24 { slot(24) } else { ctx.rcx() };
    let flags = if sp == top - 24 || sp == top - 16 { slot(16) } else { ctx.rflags() };
    let rsp = if sp == top - 24 || sp == top - 16 || sp == top - 8 { slot(8) } else { sp };
    ctx.set_rip(to);
    ctx.set_rcx(to);
    ctx.set_rflags(flags);
    if r11_is_flags {
        ctx.set_r11(flags);
    }
    ctx.set_rsp(rsp);
    true
}

/// What the entry asks of `fast_call`.
const DISPATCH: u64 = 0;
/// The pass-through's call was made (RAX is its result) and a signal was held.
const DONE_HELD: u64 = 1;
/// The pass-through's call was not made: a signal came first.
const NOT_RUN: u64 = 2;

/// The Rust half of the entry, on emu's FS, on the alternate stack: `uc` is
/// the frame the entry built, which rt_sigreturn will resume the guest from.
///
/// Returns 1 when the entry may go back without rt_sigreturn (see the
/// module's comment), 0 when it must not.
extern "C" fn fast_call(thread: &'static ThreadState, uc: *mut libc::ucontext_t, kind: u64) -> u64 {
    #[cfg(debug_assertions)]
    emu_fpu_state_is_default();
    // SAFETY: the entry's frame, alive until its rt_sigreturn.
    let uc = unsafe { &mut *uc };
    // What the kernel's SIGSYS frame would hold: the thread's mask and
    // alternate stack.
    uc.uc_stack = thread.host_altstack();
    let mut ctx = GuestContext::new(uc);
    ctx.set_sigmask(crate::signals::host_mask(thread.signals.guest_blocked()));
    let before = SyscallUnchanged::of(&mut ctx);
    match kind {
        DISPATCH => {
            crate::dispatch::on_call(thread, &mut ctx, true);
        }
        NOT_RUN => {
            // Made again once the guest has taken its signal: from the
            // site's `syscall`, which is a trap now (a `ud2`: `rewrite`).
            ctx.set_rip(ctx.rip() - 2);
        }
        _ => {}
    }
    // The direct way back leaves the host's mask as it is: only with
    // nothing held (a held signal is blocked on this thread until
    // rt_sigreturn puts the guest's mask back) and no mask widened past
    // the guest's, and with GS still the thread's state (a call that sets
    // the guest's stops rewriting). A signal held from here on is seen by
    // the entry, which then takes the rt_sigreturn.
    let direct = kind == DISPATCH
        && thread.signals.held.load(Ordering::Acquire) == 0
        && !thread.signals.mask_widened.get()
        && super::enabled()
        && SyscallUnchanged::of(&mut ctx) == before;
    if !direct {
        // Whatever was held is delivered as rt_sigreturn unblocks it (or
        // stays pending, if the call made the guest block it): a stale
        // `held` would make the next pass-through take the long way.
        thread.signals.held.store(0, Ordering::Release);
        if ctx.sigmask() == crate::signals::host_mask(thread.signals.guest_blocked()) {
            thread.signals.mask_widened.set(false);
        }
    }
    direct as u64
}

/// What a `syscall` leaves as it was, and the direct way back does not
/// restore: RIP, RSP, RCX and R11 (which it takes from the slots or keeps),
/// the mask, the alternate stack, where the FPU state is. A call that
/// changed any of them (a signal delivered, a sigreturn, a restart, an
/// exec, a mask set for the guest) goes back by rt_sigreturn.
#[derive(PartialEq, Eq)]
struct SyscallUnchanged {
    registers: [u64; 4],
    mask: u64,
    altstack: (usize, i32, usize),
    fpregs: usize,
}

impl SyscallUnchanged {
    fn of(ctx: &mut GuestContext) -> Self {
        let registers = [ctx.rip(), ctx.rsp(), ctx.rcx(), ctx.r11()];
        let mask = ctx.sigmask();
        let uc = ctx.ucontext();
        SyscallUnchanged {
            registers,
            mask,
            altstack: (uc.uc_stack.ss_sp as usize, uc.uc_stack.ss_flags, uc.uc_stack.ss_size),
            fpregs: uc.uc_mcontext.fpregs as usize,
        }
    }
}

/// The offsets in a `ucontext_t` the entry fills.
mod uc {
    use libc::*;
    const GREGS: usize = 40;
    pub const R8: usize = GREGS + 8 * REG_R8 as usize;
    pub const R9: usize = GREGS + 8 * REG_R9 as usize;
    pub const R10: usize = GREGS + 8 * REG_R10 as usize;
    pub const R11: usize = GREGS + 8 * REG_R11 as usize;
    pub const R12: usize = GREGS + 8 * REG_R12 as usize;
    pub const R13: usize = GREGS + 8 * REG_R13 as usize;
    pub const R14: usize = GREGS + 8 * REG_R14 as usize;
    pub const R15: usize = GREGS + 8 * REG_R15 as usize;
    pub const RDI: usize = GREGS + 8 * REG_RDI as usize;
    pub const RSI: usize = GREGS + 8 * REG_RSI as usize;
    pub const RBP: usize = GREGS + 8 * REG_RBP as usize;
    pub const RBX: usize = GREGS + 8 * REG_RBX as usize;
    pub const RDX: usize = GREGS + 8 * REG_RDX as usize;
    pub const RAX: usize = GREGS + 8 * REG_RAX as usize;
    pub const RCX: usize = GREGS + 8 * REG_RCX as usize;
    pub const RSP: usize = GREGS + 8 * REG_RSP as usize;
    pub const RIP: usize = GREGS + 8 * REG_RIP as usize;
    pub const EFL: usize = GREGS + 8 * REG_EFL as usize;
    pub const CSGSFS: usize = GREGS + 8 * REG_CSGSFS as usize;
    pub const ERR: usize = GREGS + 8 * REG_ERR as usize;
    pub const TRAPNO: usize = GREGS + 8 * REG_TRAPNO as usize;
    pub const OLDMASK: usize = GREGS + 8 * REG_OLDMASK as usize;
    pub const CR2: usize = GREGS + 8 * REG_CR2 as usize;
    pub const FPREGS: usize = GREGS + 8 * 23;
    /// uc_flags, uc_link, uc_stack (3 words), the sigcontext, the mask.
    pub const SIZE: usize = 304;
    use crate::context::{UC_FP_XSTATE, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS};
    /// As the kernel sets them.
    pub const FLAGS: u64 = UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;
    pub const SEGMENTS: u64 = crate::context::USER_SEGMENTS;
}

/// The frame's ucontext and, above it, 16 bytes the direct way back keeps
/// the guest's RBX in (the slot under the three, at top - 32), so that its
/// writing leaves the frame whole.
const UC_ROOM: usize = (uc::SIZE + 16 + 15) & !15;

/// Alignment checking and the direction flag: emu's code runs with both clear.
const EFLAGS_AC_DF: i64 = 0x4_0000 | 0x400;

core::arch::global_asm!(
    ".pushsection .text.emu_fast,\"ax\",@progbits",
    ".balign 64",
    ".globl emu_fast_start",
    "emu_fast_start:",
    ".globl emu_fast_entry",
    ".type emu_fast_entry,@function",
    "emu_fast_entry:",
    // Off the guest's stack before anything is written: nothing here
    // changes the flags until they are saved.
    "    mov r11, rsp",
    "    mov rsp, gs:[{state_top}]",
    "    push r11",                              // top - 8: the guest's RSP
    "    pushfq",                                // top - 16: its RFLAGS
    "    push rcx",                              // top - 24: where it resumes
    "    cmp rax, {limit}",
    "    jae 20f",
    "    lea rcx, [rip + EMU_FAST_CALLS]",
    "    mov ecx, [rcx + rax * 4]",
    "    test ecx, {pass}",
    "    jz 20f",
    "    push rax",                              // top - 32: the guest's number
    "    push rdi",                              // top - 40: its first argument
    "    test ecx, {pass_clock}",
    "    jz 2f",
    // A clock the table maps, read into 16 bytes of the guest's arena.
    "    cmp rdi, {clock_ids}",
    "    jae 19f",
    "    cmp rsi, [rip + EMU_ARENA_FLOOR]",
    "    jb 19f",
    "    mov r11, [rip + EMU_ARENA_CEILING]",
    "    sub r11, 16",
    "    cmp rsi, r11",
    "    ja 19f",
    "    lea r11, [rip + EMU_FAST_CLOCKS]",
    "    mov edi, [r11 + rdi * 4]",
    "    test edi, edi",
    "    js 19f",
    "    test ecx, {pass_vdso}",
    "    jnz 30f",
    "2:",
    "    movzx eax, cx",                         // the host's number
    ".globl emu_fast_check",
    "emu_fast_check:",
    "    cmp dword ptr gs:[{held}], 0",
    "    jne emu_fast_not_run",
    ".globl emu_fast_syscall_insn",
    "emu_fast_syscall_insn:",
    "    syscall",
    "31:",
    "    pop rdi",
    "    pop rcx",
    "    lea r11, [rip + EMU_FAST_CALLS]",
    "    test dword ptr [r11 + rcx * 4], {pass_carry}",
    "    jz 4f",
    // A BSD's result: the carry flag (in the saved flags) says whether RAX
    // is an errno.
    "    cmp rax, -4095",
    "    jae 3f",
    "    and qword ptr [rsp + 8], -2",
    "    jmp 4f",
    "3:",
    "    neg rax",
    "    lea r11, [rip + EMU_FAST_ERRNO]",
    "    movzx eax, byte ptr [r11 + rax]",
    "    or qword ptr [rsp + 8], 1",
    "4:",
    "    cmp dword ptr gs:[{held}], 0",
    ".globl emu_fast_return",
    "emu_fast_return:",
    "    jne 21f",
    "    pop rcx",
    "    mov r11, [rsp]",                        // R11: the flags, as `syscall` leaves it
    "    popfq",
    "    pop rsp",
    "    jmp rcx",
    // The call was not made: the guest's registers as they were (a
    // restart put the host's number in RAX), the stack at the three slots.
    ".globl emu_fast_not_run",
    "emu_fast_not_run:",
    "    mov rsp, gs:[{state_top}]",
    "    mov rax, [rsp - 32]",
    "    mov rdi, [rsp - 40]",
    "    sub rsp, 24",
    "    mov r11d, {not_run}",
    "    jmp 22f",
    // A clock read through the host's vDSO instead of the host call: the
    // same look at `held` first ("not run"), then a C function, which may
    // change the registers a call may (RSI, RDX, R8 to R10 are the guest's
    // and kept; RDI waits in its slot; the vector registers are not saved:
    // the kernel builds its vDSO without SSE) and needs DF and AC clear
    // (the guest's flags wait in theirs). It writes to emu's stack, and the
    // 16 bytes are copied to the guest's with `emu_guest_copy`, whose fault
    // is EFAULT, as the host call's would be. A signal that arrives from here
    // on is held (the vDSO counts as the entry's code: `in_fast_entry`),
    // and the way back at 4 sees it.
    "30:",
    "    cmp dword ptr gs:[{held}], 0",
    "    jne emu_fast_not_run",
    "    push rsi",
    "    push rdx",
    "    push r8",
    "    push r9",
    "    push r10",                              // RSP: top - 80
    // The C functions run below where a frame's XSAVE area lies, so that
    // they never write over the one the last direct way back restored
    // from (see EMU_XSAVEOPT).
    "    mov r11, rsp",
    "    sub rsp, [rip + EMU_XSAVE_SIZE]",
    "    sub rsp, {below_frame}",
    "    and rsp, -16",
    "    push r11",
    "    sub rsp, 24",                           // the timespec; RSP 16-aligned
    "    pushfq",
    "    and qword ptr [rsp], {emu_flags_mask}",
    "    popfq",
    "    mov rsi, rsp",
    "    call [rip + EMU_VDSO_CLOCK_GETTIME]",
    "    movsxd rax, eax",                       // an int: 0 or -errno
    "    test rax, rax",
    "    jnz 32f",
    "    mov rdi, [rsp + 24]",
    "    mov rdi, [rdi + 32]",                   // the guest's RSI: its timespec
    "    mov rsi, rsp",
    "    mov edx, 16",
    "    call emu_guest_copy",
    "    test rax, rax",
    "    jz 32f",
    "    mov rax, {minus_efault}",
    "32:",
    "    mov rsp, [rsp + 24]",
    "    pop r10",
    "    pop r9",
    "    pop r8",
    "    pop rdx",
    "    pop rsi",
    "    jmp 31b",
    "19:",
    "    pop rdi",
    "    pop rax",
    "20:",
    "    mov r11d, {dispatch}",
    "    jmp 22f",
    "21:",
    "    mov r11d, {done_held}",
    // The frame, below the three slots: the ucontext first (every guest
    // register as it is now, RCX and R11 as `syscall` leaves them).
    "22:",
    "    sub rsp, {uc_room}",
    "    mov [rsp + {r8}], r8",
    "    mov [rsp + {r9}], r9",
    "    mov [rsp + {r10}], r10",
    "    mov [rsp + {r12}], r12",
    "    mov [rsp + {r13}], r13",
    "    mov [rsp + {r14}], r14",
    "    mov [rsp + {r15}], r15",
    "    mov [rsp + {rdi}], rdi",
    "    mov [rsp + {rsi}], rsi",
    "    mov [rsp + {rbp}], rbp",
    "    mov [rsp + {rbx}], rbx",
    "    mov [rsp + {rdx}], rdx",
    "    mov [rsp + {rax}], rax",
    "    mov rbx, rsp",                          // rbx: the ucontext
    "    mov r12, r11",                          // r12: what fast_call is to do
    "    mov rax, [rbx + {uc_room}]",
    "    mov [rbx + {rip}], rax",
    "    mov [rbx + {rcx}], rax",
    "    mov rax, [rbx + {uc_room} + 8]",
    "    mov [rbx + {efl}], rax",
    "    mov [rbx + {r11}], rax",
    "    mov rax, [rbx + {uc_room} + 16]",
    "    mov [rbx + {rsp}], rax",
    "    mov qword ptr [rbx], {uc_flags}",
    "    xor eax, eax",
    "    mov [rbx + 8], rax",                    // uc_link
    "    mov [rbx + {err}], rax",
    "    mov [rbx + {trapno}], rax",
    "    mov [rbx + {oldmask}], rax",
    "    mov [rbx + {cr2}], rax",
    "    mov rax, {segments}",
    "    mov [rbx + {csgsfs}], rax",
    "    pushfq",
    "    and qword ptr [rsp], {emu_flags_mask}",
    "    popfq",
    // The FPU state below it, in the kernel's format: XSAVE, its header
    // zeroed first, the software-reserved bytes, the trailing magic.
    "    mov rax, rbx",
    "    sub rax, [rip + EMU_XSAVE_SIZE]",
    "    sub rax, 64",
    "    and rax, -64",
    "    mov rsp, rax",
    "    xor eax, eax",
    "    mov [rsp + 512], rax",
    "    mov [rsp + 520], rax",
    "    mov [rsp + 528], rax",
    "    mov [rsp + 536], rax",
    "    mov [rsp + 544], rax",
    "    mov [rsp + 552], rax",
    "    mov [rsp + 560], rax",
    "    mov [rsp + 568], rax",
    "    mov eax, [rip + EMU_XFEATURES]",
    "    mov edx, [rip + EMU_XFEATURES + 4]",
    "    test byte ptr [rip + EMU_XSAVEOPT], 1",
    "    jz 24f",
    "    xsaveopt64 [rsp]",
    "    jmp 25f",
    "24:",
    "    xsave64 [rsp]",
    "25:",
    "    mov dword ptr [rsp + 464], {magic1}",
    "    mov rax, [rip + EMU_XSAVE_SIZE]",
    "    lea ecx, [rax + 4]",
    "    mov dword ptr [rsp + 468], ecx",       // extended_size
    "    mov rcx, [rip + EMU_XFEATURES]",
    "    mov [rsp + 472], rcx",                 // xfeatures
    "    mov dword ptr [rsp + 480], eax",       // xstate_size
    "    mov dword ptr [rsp + rax], {magic2}",
    "    mov [rbx + {fpregs}], rsp",
    // emu's own FPU state, as a signal handler starts with it: default
    // control words and an empty x87 stack (set only where the guest's
    // differ: FNINIT and LDMXCSR are slow; an x87 state XSAVE marks
    // initial is FNINIT's), and the AVX registers' upper halves clean (left
    // dirty by a guest's AVX code, they would slow every SSE instruction of
    // emu's on Intel CPUs).
    "    test byte ptr [rsp + 512], 1",
    "    jz 28f",
    "    cmp dword ptr [rsp], 0x37f",           // FCW the default, FSW clear
    "    jne 27f",
    "    cmp byte ptr [rsp + 4], 0",            // every x87 register empty
    "    je 28f",
    "27:",
    "    fninit",
    "28:",
    "    mov eax, [rsp + 24]",
    "    and eax, -64",                          // the sticky exception flags aside
    "    cmp eax, {mxcsr_default}",
    "    je 29f",
    "    ldmxcsr [rip + EMU_MXCSR_DEFAULT]",
    "29:",
    "    test byte ptr [rip + EMU_XFEATURES], 4",
    "    jz 23f",
    "    vzeroupper",
    "23:",
    // emu's FS (the guest's is kept in the state, where calls change it).
    "    rdfsbase rax",
    "    mov gs:[{guest_fs}], rax",
    "    mov rax, gs:[{host_fs}]",
    "    wrfsbase rax",
    // The state is kept in R13 across the call: a call that sets the
    // guest's GS (rewriting then stops) leaves GS the guest's.
    "    rdgsbase r13",
    "    mov rdi, r13",
    "    mov rsi, rbx",
    "    mov rdx, r12",
    "    call {fast_call}",
    "    mov rcx, [r13 + {guest_fs}]",
    "    wrfsbase rcx",
    "    test eax, eax",
    "    jnz emu_fast_direct",
    ".globl emu_fast_sigreturn",
    "emu_fast_sigreturn:",
    "    mov rsp, rbx",
    "    mov eax, {sys_rt_sigreturn}",
    "    syscall",
    "    ud2",
    // The direct way back: RBX is the frame, which stays whole (and RSP
    // under it) until the last instruction before the tail.
    ".globl emu_fast_direct",
    "emu_fast_direct:",
    "    cmp dword ptr gs:[{held}], 0",
    "    jne emu_fast_sigreturn",
    "    mov rax, [rbx + {efl}]",
    "    mov [rbx + {uc_room} + 8], rax",      // top - 16: the flags
    "    mov rax, [rbx + {rbx}]",
    "    mov [rbx + {uc_room} - 8], rax",      // top - 32: RBX
    "    mov rcx, [rbx + {fpregs}]",
    "    mov eax, [rip + EMU_XFEATURES]",
    "    mov edx, [rip + EMU_XFEATURES + 4]",
    "    xrstor64 [rcx]",
    "    mov r8, [rbx + {r8}]",
    "    mov r9, [rbx + {r9}]",
    "    mov r10, [rbx + {r10}]",
    "    mov r11, [rbx + {r11}]",
    "    mov r12, [rbx + {r12}]",
    "    mov r13, [rbx + {r13}]",
    "    mov r14, [rbx + {r14}]",
    "    mov r15, [rbx + {r15}]",
    "    mov rdi, [rbx + {rdi}]",
    "    mov rsi, [rbx + {rsi}]",
    "    mov rbp, [rbx + {rbp}]",
    "    mov rdx, [rbx + {rdx}]",
    "    mov rax, [rbx + {rax}]",
    "    lea rsp, [rbx + {uc_room} - 8]",
    ".globl emu_fast_direct_tail",
    "emu_fast_direct_tail:",
    "    pop rbx",
    "    pop rcx",
    "    popfq",
    "    pop rsp",
    "    jmp rcx",
    ".size emu_fast_entry, .-emu_fast_entry",
    ".globl emu_fast_end",
    "emu_fast_end:",
    ".popsection",

    state_top = const offset_of!(ThreadState, fast_stack_top),
    held = const offset_of!(ThreadState, signals) + crate::signals::HELD_OFFSET,
    guest_fs = const offset_of!(ThreadState, guest_fs),
    host_fs = const offset_of!(ThreadState, host_fs),
    limit = const PASSTHROUGH_LIMIT,
    pass = const PASS,
    pass_carry = const PASS_CARRY,
    pass_clock = const PASS_CLOCK,
    pass_vdso = const PASS_VDSO,
    below_frame = const UC_ROOM + 128,
    minus_efault = const -(libc::EFAULT as i64),
    mxcsr_default = const MXCSR_DEFAULT,
    clock_ids = const CLOCK_IDS,
    not_run = const NOT_RUN,
    dispatch = const DISPATCH,
    done_held = const DONE_HELD,
    uc_room = const UC_ROOM,
    r8 = const uc::R8,
    r9 = const uc::R9,
    r10 = const uc::R10,
    r11 = const uc::R11,
    r12 = const uc::R12,
    r13 = const uc::R13,
    r14 = const uc::R14,
    r15 = const uc::R15,
    rdi = const uc::RDI,
    rsi = const uc::RSI,
    rbp = const uc::RBP,
    rbx = const uc::RBX,
    rdx = const uc::RDX,
    rax = const uc::RAX,
    rcx = const uc::RCX,
    rsp = const uc::RSP,
    rip = const uc::RIP,
    efl = const uc::EFL,
    csgsfs = const uc::CSGSFS,
    err = const uc::ERR,
    trapno = const uc::TRAPNO,
    oldmask = const uc::OLDMASK,
    cr2 = const uc::CR2,
    fpregs = const uc::FPREGS,
    uc_flags = const uc::FLAGS,
    segments = const uc::SEGMENTS,
    emu_flags_mask = const !EFLAGS_AC_DF,
    magic1 = const 0x4650_5853u32,
    magic2 = const 0x4650_5845u32,
    fast_call = sym fast_call,
    sys_rt_sigreturn = const libc::SYS_rt_sigreturn,
);

#[cfg(test)]
mod tests {
    /// glibc's copy of the leaf is the leaf: all four registers.
    #[test]
    fn xsaveopt_as_cpuid_says() {
        let r = std::arch::x86_64::__cpuid_count(0xd, 1);
        assert_eq!(super::glibc_leaf_d1(), Some([r.eax, r.ebx, r.ecx, r.edx]));
        assert_eq!(super::has_xsaveopt(), r.eax & 1 != 0);
    }
}
