//! Signals: emu owns every host handler; the guest's are recorded.
//!
//! * SIGSYS from Syscall User Dispatch (a trapped syscall) goes to the dispatcher.
//! * A synchronous fault in guest code goes to the guest's handler, or kills
//!   the guest with a report of the faulting instruction.
//! * Any other signal the guest catches: if it interrupted guest code, the
//!   personality builds the guest's frame at once; if it interrupted emu, it
//!   is *held*: blocked where emu was interrupted and queued again to this
//!   thread, so that the kernel delivers it the moment the SIGSYS handler
//!   returns to the guest (whose mask lets it through). A blocking call emu
//!   was making for the guest returns as the kernel decides from the
//!   guest's SA_RESTART, which the host handler carries.
//! * Signals the guest leaves at SIG_DFL or SIG_IGN are left to the kernel.
//!
//! SIGSYS and the fault signals are never blocked on the host, whatever mask
//! the guest sets: a SUD trap while SIGSYS is blocked kills the process. When
//! one of them arrives while the guest blocks it, it waits in the thread's
//! state until the guest unblocks it.
//!
//! # Locks and allocation in handlers: the rule
//!
//! **Only a handler that interrupted guest code may take a lock or
//! allocate. A handler that interrupted emu's own code (on that thread)
//! only blocks and re-queues the signal (`hold`), recovers a probe of guest
//! memory (`entry::touch_recovery`), or reports an internal error and lets
//! the fault kill the process.**
//!
//! Why it is enough: a lock or malloc's arena is only ever held by emu's
//! code, and guest code never runs inside emu's code on the same thread
//! (emu returns to the guest only by leaving its handler). So a handler
//! that interrupted guest code cannot be interrupting the holder of any lock
//! on its own thread; a holder on another thread lets go without needing
//! this one. The SIGSYS handler (every trapped call) and the delivery of a
//! caught signal or fault raised by guest code are such handlers. What the
//! rule costs: a signal that arrives while emu works for the guest waits,
//! blocked, until emu hands the thread back (`hold`); the handler decides
//! where it was (`in_guest`) from the FS base the entry found and the
//! trampolines' addresses, never from a lock.
//!
//! The entry itself (entry.rs) touches nothing but the thread's own
//! `ThreadState`, found from the alternate stack, until FS is emu's.
//!
//! # Held signals
//!
//! A held signal is queued again to the thread that caught it
//! (rt_tgsigqueueinfo), whether it was sent to that thread or to the
//! process: the kernel does not say which (kill gives SI_USER, but so does
//! the kernel's SIGPIPE, to one thread), and the kernel had chosen this
//! thread, which had it unblocked. The difference shows only if the call
//! emu was making then blocks the signal (sigprocmask): it waits for this
//! thread, where a process-directed signal would go to another thread that
//! has it unblocked. The README lists it among the known differences.

mod actions;
pub mod delivery;
mod entry;
mod faults;
pub mod observe;
mod thread;

pub(crate) use actions::set_host_action;
pub use actions::{install_emulator_handlers, GuestAction, GuestActions, NSIG, SIG_DFL, SIG_IGN};
pub(crate) use entry::{
    emu_clone_vm, emu_enter_thread, emu_leave_thread, guest_cas32, guest_copy, guest_load32, interruptible_syscall,
    touch, NOT_RUN,
};
pub use faults::force_segv;
pub use thread::{ThreadSignals, HELD_OFFSET, NO_ALTSTACK};

use crate::context::GuestContext;
use crate::process::process;
use crate::sys::{self, Errno};
use crate::threads::ThreadState;
use std::sync::atomic::Ordering;

/// `si_code` of a Syscall User Dispatch SIGSYS.
const SYS_USER_DISPATCH: i32 = 2;

pub const fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// Signals the host must always be able to deliver to emu.
pub const RESERVED: u64 = bit(libc::SIGSYS)
    | bit(libc::SIGSEGV)
    | bit(libc::SIGBUS)
    | bit(libc::SIGILL)
    | bit(libc::SIGFPE)
    | bit(libc::SIGTRAP);

/// Signals that cannot be caught or blocked.
pub const UNCATCHABLE: u64 = bit(libc::SIGKILL) | bit(libc::SIGSTOP);

/// The host mask that stands for a guest mask.
pub fn host_mask(guest: u64) -> u64 {
    guest & !(RESERVED | UNCATCHABLE)
}

/// A signal delivered to a thread of emu's that has no region (no alternate
/// stack, so `emu_signal_entry` finds no state): a guest thread's host
/// thread in the few instructions between glibc's start of it and the
/// first of `threads::spawn::thread_main`, which blocks every signal until
/// the thread enters the guest. glibc starts every thread with SIGCANCEL
/// (host 32) unblocked, and the first one with SIGSETXID (33) too, and a
/// guest may signal its new thread as soon as its clone returns (musl's
/// pthread_cancel sends 33 at once). Such a thread runs no guest code, so
/// its FS is emu's own.
///
/// The signal is queued again to this thread, with its siginfo, and stays
/// blocked until the thread's mask becomes the guest's as it enters the
/// guest: it is then delivered there as any other. Copies of the same
/// number already pending are taken first and queued again after it, so
/// that a real-time signal's queue keeps its order. (A process-directed
/// one taken here stays with this thread, which may block it: the one way
/// such a signal can still be lost.) A fault of emu's own code here is a
/// bug with nothing to recover from: reported, and the process ends.
///
/// Async-signal-safe: raw system calls, and the logger (which formats on
/// the stack).
extern "C" fn signal_without_region(sig: i32, info: *mut libc::siginfo_t, uc: *mut libc::ucontext_t) {
    // SAFETY: the kernel's siginfo and ucontext for this delivery.
    let (info, uc) = unsafe { (&*info, &mut *uc) };
    if RESERVED & bit(sig) != 0 && info.si_code > 0 {
        log::error!(
            "internal error: signal {sig} (code {}) in emu's code at {:#x}, on a thread without its region; please report it",
            info.si_code,
            uc.uc_mcontext.gregs[libc::REG_RIP as usize]
        );
        // No thread of the process can go on safely.
        sys::exit_group(70);
    }
    // Blocked here too: a fault signal's handler is SA_NODEFER, and the
    // copy must not come back before this handler returns.
    sys::sigprocmask(libc::SIG_BLOCK, bit(sig));
    let tid = sys::gettid();
    // The ones behind it, in order (a real-time signal's queue is bounded
    // by RLIMIT_SIGPENDING; a few are what a new thread meets).
    // SAFETY: zeroes are valid siginfo_t values for the kernel to fill.
    let mut behind: [libc::siginfo_t; 8] = unsafe { std::mem::zeroed() };
    let mut taken = 0;
    let set = bit(sig);
    let no_wait = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    while taken < behind.len() {
        // SAFETY: takes a pending `sig`, blocked here, into our own siginfo.
        let r = unsafe {
            sys::syscall6(
                libc::SYS_rt_sigtimedwait as u64,
                [&set as *const u64 as u64, &mut behind[taken] as *mut _ as u64, &no_wait as *const _ as u64, 8, 0, 0],
            )
        };
        if r != sig as i64 {
            break;
        }
        taken += 1;
    }
    requeue(sig, info, tid);
    for later in &behind[..taken] {
        requeue(sig, later, tid);
    }
    let mut context = GuestContext::new(uc);
    context.set_sigmask(context.sigmask() | bit(sig));
}

/// Every emu handler lands here, with FS switched to the emulator's.
/// `fs_switched` says the interrupted code had another FS base: the guest's.
pub(crate) extern "C" fn handle_signal(
    sig: i32,
    info: *mut libc::siginfo_t,
    uc: *mut libc::c_void,
    thread: *const ThreadState,
    fs_switched: u64,
) {
    // SAFETY: the kernel passes a valid siginfo and ucontext for this frame,
    // and the trampoline the state found from this thread's alternate stack.
    let (info, uc, thread) = unsafe { (&mut *info, &mut *(uc as *mut libc::ucontext_t), &*thread) };
    let mut ctx = GuestContext::new(uc);
    let rip = ctx.rip();
    let mut in_guest = fs_switched != 0 && !entry::in_trampolines(rip) && !crate::rewrite::in_fast_entry(rip);
    if fs_switched != 0 && crate::rewrite::in_fast_entry(rip) && crate::rewrite::fast_roll_forward(thread, &mut ctx) {
        // The last instructions of a rewritten site's way back: the call is
        // done, and what remains is the guest's.
        in_guest = true;
    }
    if sig == libc::SIGSYS && info.si_code == SYS_USER_DISPATCH {
        crate::dispatch::on_trap(thread, info, &mut ctx);
    } else if faults::is_synchronous_fault(sig, info) {
        faults::on_fault(thread, sig, info, &mut ctx, in_guest);
    } else if in_guest {
        deliver(thread, sig, info, &mut ctx);
    } else {
        hold(thread, sig, info, &mut ctx);
    }
}

/// What a trap finds of the previous one: a signal held then has been
/// delivered by now, unless it was held in this very trap, before the
/// dispatcher ran (it is then blocked in the handler's mask, not the
/// guest's); a mask that a call like sigsuspend saved and no signal took is
/// the guest's again.
pub fn trap_entered(thread: &'static ThreadState, ctx: &mut GuestContext) {
    let held = thread.signals.held.swap(0, Ordering::AcqRel);
    if held != 0 {
        let current = sys::signal_mask();
        let b = bit(held as i32);
        if current & b != 0 && ctx.sigmask() & b == 0 {
            thread.signals.held.store(held, Ordering::Release);
        }
    }
    thread.signals.sigreturn_to.set(None);
    if let Some(mask) = thread.signals.saved_mask.take() {
        thread.signals.set_guest_mask(ctx, mask);
    }
}

/// A signal interrupted the emulator: keep it for the guest. It is blocked
/// both here and where emu was interrupted, and queued again, so it stays
/// pending until the SIGSYS handler's rt_sigreturn restores the guest's mask.
/// (Blocking it here matters for the fault signals, whose handler runs with
/// SA_NODEFER: the queued copy would come straight back.)
fn hold(thread: &'static ThreadState, sig: i32, info: &libc::siginfo_t, ctx: &mut GuestContext) {
    ctx.set_sigmask(ctx.sigmask() | bit(sig));
    sys::sigprocmask(libc::SIG_BLOCK, bit(sig));
    requeue(sig, info, thread.tid.get());
    thread.signals.held.store(sig as u32, Ordering::Release);
    // Counted as it arrives, as FreeBSD's EVFILT_SIGNAL counts a signal
    // when it is sent, not when this thread gets back to the guest (atomics
    // and one eventfd write: see `observe`).
    observe::occurred(sig);
    thread.signals.counted_when_held.fetch_or(bit(sig), Ordering::AcqRel);
    if let Some(rip) = entry::interruptible_rewind(ctx.rip()).or_else(|| crate::rewrite::fast_rewind(ctx.rip())) {
        ctx.set_rip(rip);
    }
}

/// Sends `sig` to thread `tid` of this process (fault injection's
/// `signal=`): from a call's handler, it waits, blocked, until the guest
/// runs again or the call's host part lets it in.
pub(crate) fn raise_in_thread(sig: i32, tid: i32) -> Result<(), Errno> {
    // SAFETY: tgkill to a thread of this process.
    sys::result(unsafe {
        sys::syscall6(libc::SYS_tgkill as u64, [sys::getpid() as u64, tid as u64, sig as u64, 0, 0, 0])
    })
    .map(|_| ())
}

/// Queues a copy of a received signal to this thread again.
pub(crate) fn requeue(sig: i32, info: &libc::siginfo_t, tid: i32) {
    // SAFETY: queues a copy of the original siginfo to this very thread,
    // which the kernel allows whatever its si_code.
    let r = unsafe {
        sys::syscall6(
            libc::SYS_rt_tgsigqueueinfo as u64,
            [sys::getpid() as u64, tid as u64, sig as u64, info as *const _ as u64, 0, 0],
        )
    };
    if r < 0 {
        log::warn!("could not keep signal {sig} for the guest: {}", Errno(-r as i32));
    }
}

/// A signal interrupted guest code: run the guest's handler for it now.
fn deliver(thread: &'static ThreadState, sig: i32, info: &libc::siginfo_t, ctx: &mut GuestContext) {
    let p = process();
    if thread.signals.blocks(sig) {
        // Only SIGSYS and the fault signals get here blocked: the host never blocks them.
        thread.signals.defer(sig, info);
        return;
    }
    let mut action = p.signals.get(sig);
    if action.handler <= SIG_IGN {
        // Not the guest's handler (a death emu watches for, a signal a
        // kqueue counts, or another thread changing the disposition this
        // very moment): act on the settled one.
        action = p.signals.settled(sig);
    }
    if action.handler > SIG_IGN && !faults::is_synchronous_fault(sig, info) && p.personality.defers_signals(thread) {
        // Held off by the guest (sigfastblock): blocked where the guest
        // resumes and queued again, until the personality unblocks it.
        ctx.set_sigmask(ctx.sigmask() | bit(sig));
        thread.signals.mask_widened.set(true);
        requeue(sig, info, thread.tid.get());
        return;
    }
    if thread.signals.counted_when_held.fetch_and(!bit(sig), Ordering::AcqRel) & bit(sig) == 0 {
        observe::occurred(sig);
    }
    match action.handler {
        SIG_IGN => {}
        // Received only to be counted (`observe`): the kernel would have
        // discarded it.
        SIG_DFL if p.signals.ignores(sig, SIG_DFL) => {}
        // A death emu watches for (--trace, --stats): say so, then die of it.
        SIG_DFL if p.signals.kills_by_default(sig) => {
            if let Some(t) = &p.tracer {
                t.signal(sig, info);
            }
            crate::lifecycle::killed_by(sig);
            die_by_default(sig);
        }
        // The guest reset the disposition while the signal was on its way
        // (the host's is SIG_DFL by now): let the kernel apply the default
        // action, once this handler returns.
        SIG_DFL => requeue(sig, info, thread.tid.get()),
        _ => {
            if let Some(t) = &p.tracer {
                t.signal(sig, info);
            }
            if p.personality.deliver_signal(thread, sig, info, ctx, &action).is_err() {
                log::error!(
                    "{}: no room for the frame of {} on the guest's stack: killed by SIGSEGV, as its kernel would",
                    p.guest_name(),
                    p.personality.signal_name(sig)
                );
                crate::lifecycle::killed_by(libc::SIGSEGV);
                die_by_default(libc::SIGSEGV);
            }
        }
    }
}

/// Ends the process the way the signal's default action would. Only from a
/// handler that interrupted guest code, or a call's handler: it takes the
/// dispositions' lock for good.
pub fn die_by_default(sig: i32) -> ! {
    process().signals.default_until_death(sig);
    sys::sigprocmask(libc::SIG_UNBLOCK, bit(sig));
    // SAFETY: sends the signal to this thread.
    unsafe {
        sys::syscall6(libc::SYS_tgkill as u64, [sys::getpid() as u64, sys::gettid() as u64, sig as u64, 0, 0, 0]);
    }
    // A signal whose default is to be ignored, or that could not be sent.
    crate::lifecycle::exit_process(128 + sig)
}
