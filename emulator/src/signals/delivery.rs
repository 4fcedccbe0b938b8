//! What every personality's signal calls and frames share, in host terms:
//! choosing the stack a handler's frame goes on, entering the handler (its
//! registers, flags, mask, a one-shot altstack or disposition), the
//! sigprocmask and sigaltstack semantics, and calls that block with a
//! temporary mask. A personality only encodes its own structures (the
//! frame, the sigset, `stack_t`, `sigaction`) around these.

use super::{bit, host_mask, GuestAction, ThreadSignals, NO_ALTSTACK, SIG_DFL, UNCATCHABLE};
use crate::call::Call;
use crate::context::GuestContext;
use crate::process::process;
use crate::sys::{self, Errno, SysResult};
use crate::threads::ThreadState;
use std::sync::atomic::Ordering;

/// Bytes below the interrupted stack pointer a frame must not touch (the
/// x86-64 red zone, in both Linux's and FreeBSD's ABIs).
pub const RED_ZONE: u64 = 128;

/// Flags the kernel clears for a handler: DF, TF, RF.
const DF_TF_RF: u64 = 0x0400 | 0x0100 | 0x10000;
/// The 64-bit user code and data selectors (`__USER_CS`, `__USER_DS`).
const USER_CS: i64 = 0x33;
const USER_DS: i64 = 0x2b;

/// Where a handler's frame goes.
#[derive(Clone, Copy, Debug)]
pub struct FrameSite {
    /// The frame (and anything the personality puts above it) goes below this.
    pub top: u64,
    /// The frame is on the guest's alternate stack, newly entered.
    pub uses_altstack: bool,
    /// The guest's alternate stack at delivery, as the frame records it
    /// (`ss_flags` with SS_ONSTACK when the thread was already on it).
    pub altstack: libc::stack_t,
}

/// The kernel's choice of stack for a handler of `action`: the guest's
/// alternate stack when the action asks for it and the thread is not on it
/// already, else below the red zone of the interrupted stack.
pub fn frame_site(thread: &ThreadState, ctx: &GuestContext, action: &GuestAction) -> FrameSite {
    let sp = ctx.rsp();
    let alt = thread.signals.altstack.get();
    let on_alt = thread.signals.on_altstack(sp);
    let uses_altstack = action.flags & libc::SA_ONSTACK as u64 != 0
        && alt.ss_flags & libc::SS_DISABLE == 0
        && alt.ss_size != 0
        && !on_alt;
    let top = if uses_altstack { alt.ss_sp as u64 + alt.ss_size as u64 } else { sp - RED_ZONE };
    let recorded = if on_alt { libc::SS_ONSTACK } else { alt.ss_flags };
    FrameSite { top, uses_altstack, altstack: libc::stack_t { ss_flags: recorded, ..alt } }
}

/// As the kernel: a frame meant for the alternate stack (or made while on
/// it) that does not fit on it is not written below it.
pub fn check_fits(thread: &ThreadState, ctx: &GuestContext, site: &FrameSite, frame: u64) -> Result<(), Errno> {
    let on_alt = site.uses_altstack || thread.signals.on_altstack(ctx.rsp());
    if on_alt && !thread.signals.on_altstack(frame) {
        return Err(Errno::ENOMEM);
    }
    Ok(())
}

/// The registers a handler starts with, as its ABI passes them.
#[derive(Clone, Copy, Debug)]
pub struct HandlerEntry {
    /// The handler itself (Linux), or a trampoline that calls it (FreeBSD's sigcode).
    pub rip: u64,
    pub rsp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
}

/// Points the context at the guest's handler once its frame is written:
/// a clean FPU state, the entry registers, DF/TF/RF cleared, the user
/// segments; the thread's mask gains the action's mask (and the signal,
/// without SA_NODEFER); an SS_AUTODISARM altstack and an SA_RESETHAND
/// disposition are used up.
pub fn enter_handler(
    thread: &ThreadState,
    ctx: &mut GuestContext,
    sig: i32,
    action: &GuestAction,
    site: &FrameSite,
    entry: HandlerEntry,
) {
    if ctx.fpstate().is_some() {
        ctx.reset_fpstate();
    }
    ctx.set_rip(entry.rip);
    ctx.set_rsp(entry.rsp);
    ctx.set_rdi(entry.rdi);
    ctx.set_rsi(entry.rsi);
    ctx.set_rdx(entry.rdx);
    ctx.set_rax(0);
    ctx.set_rflags(ctx.rflags() & !DF_TF_RF);
    // The handler runs in 64-bit mode with the user data segment, whatever
    // a sigreturn frame gave the interrupted code.
    let segments = &mut ctx.ucontext().uc_mcontext.gregs[libc::REG_CSGSFS as usize];
    *segments = (*segments & 0x0000_ffff_ffff_0000) | USER_CS | (USER_DS << 48);

    let mut blocked = thread.signals.guest_blocked() | action.mask;
    if action.flags & libc::SA_NODEFER as u64 == 0 {
        blocked |= bit(sig);
    }
    thread.signals.set_guest_mask(ctx, blocked);
    if site.uses_altstack && site.altstack.ss_flags & sys::SS_AUTODISARM != 0 {
        thread.signals.altstack.set(NO_ALTSTACK);
    }
    if action.flags & libc::SA_RESETHAND as u64 != 0 {
        let _ = process().signals.set(sig, GuestAction { handler: SIG_DFL, ..Default::default() });
    }
}

/// The mask a frame saves for the handler's return: the one a call with a
/// temporary mask replaced, else the thread's.
pub fn mask_to_save(thread: &ThreadState) -> u64 {
    thread.signals.saved_mask.take().unwrap_or(thread.signals.guest_blocked())
}

/// What a handler's return gives back: the mask its frame saved.
pub fn restore_mask(thread: &ThreadState, ctx: &mut GuestContext, mask: u64) {
    thread.signals.saved_mask.set(None);
    thread.signals.set_guest_mask(ctx, mask);
}

/// sigaction's recording, in host terms: the old disposition of `sig`,
/// and the new one (if any) in force. SIGKILL and SIGSTOP cannot be
/// changed, and never enter a handler's mask.
pub fn sigaction(sig: i32, new: Option<GuestAction>) -> Result<GuestAction, Errno> {
    if new.is_some() && bit(sig) & UNCATCHABLE != 0 {
        return Err(Errno::EINVAL);
    }
    let p = process();
    match new {
        Some(a) => p.signals.set(sig, GuestAction { mask: a.mask & !UNCATCHABLE, ..a }),
        None => Ok(p.signals.get(sig)),
    }
}

/// sigprocmask's `how`.
#[derive(Clone, Copy, Debug)]
pub enum MaskChange {
    Block,
    Unblock,
    Set,
}

/// sigprocmask: the thread's mask before, and `set` applied as `how` says.
pub fn change_mask(call: &mut Call, how: MaskChange, set: Option<u64>) -> u64 {
    let old = call.thread.signals.guest_blocked();
    if let Some(s) = set {
        let new = match how {
            MaskChange::Block => old | s,
            MaskChange::Unblock => old & !s,
            MaskChange::Set => s,
        };
        call.thread.signals.set_guest_mask(call.ctx, new);
    }
    old
}

/// Runs a call that blocks with a temporary mask (given to the host without
/// the signals emu needs): `args` are the host call's, and `point_at_mask`
/// puts the host mask's address into them. If a signal interrupts the call,
/// the guest resumes with the temporary mask still in place, so that the
/// held signal is delivered at once, and the frame saves the old mask for
/// the handler's return (Linux's saved_sigmask; FreeBSD's td_oldsigmask).
pub fn with_temporary_mask(
    call: &mut Call,
    temporary: u64,
    nr: i64,
    mut args: [u64; 6],
    point_at_mask: impl FnOnce(&mut [u64; 6], u64),
) -> SysResult {
    let host = host_mask(temporary);
    point_at_mask(&mut args, &host as *const u64 as u64);
    let r = call.host_with(nr, args);
    if r == Err(Errno::EINTR) && call.thread.signals.held.load(Ordering::Acquire) != 0 {
        let old = call.thread.signals.guest_blocked();
        call.thread.signals.saved_mask.set(Some(old));
        call.thread.signals.set_guest_mask(call.ctx, temporary);
    }
    r
}

/// The guest's alternate stack as sigaltstack reports it: SS_ONSTACK while
/// the thread runs on it.
pub fn altstack_now(signals: &ThreadSignals, sp: u64) -> libc::stack_t {
    let current = signals.altstack.get();
    if signals.on_altstack(sp) {
        libc::stack_t { ss_flags: libc::SS_ONSTACK, ..current }
    } else {
        current
    }
}

/// The kernel's `do_sigaltstack` for a new stack, in host terms: refused
/// while running on the current one, checked, then recorded as the
/// guest's. `min_size` is the guest kernel's MINSIGSTKSZ.
pub fn set_altstack(signals: &ThreadSignals, sp: u64, stack: libc::stack_t, min_size: usize) -> Result<(), Errno> {
    if signals.on_altstack(sp) {
        return Err(Errno::EPERM);
    }
    let mode = stack.ss_flags & !sys::SS_AUTODISARM;
    if mode != 0 && mode != libc::SS_DISABLE && mode != libc::SS_ONSTACK {
        return Err(Errno::EINVAL);
    }
    signals.altstack.set(if mode == libc::SS_DISABLE {
        NO_ALTSTACK
    } else if stack.ss_size < min_size {
        return Err(Errno::ENOMEM);
    } else {
        libc::stack_t { ss_flags: stack.ss_flags & sys::SS_AUTODISARM, ..stack }
    });
    Ok(())
}
