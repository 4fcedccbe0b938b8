//! Signals: emu owns every host handler; the guest's are recorded.
//!
//! * SIGSYS (a trapped syscall) goes to the dispatcher.
//! * A synchronous fault in guest code goes to the guest's handler, or
//!   kills the guest with a report of the faulting instruction.
//! * Any other signal the guest catches: if it interrupted guest code, the
//!   personality builds the guest's frame at once; if it interrupted emu, it
//!   is *held*: blocked in the interrupted context and queued again to this
//!   thread, so the kernel delivers it the moment the SIGSYS handler returns
//!   to the guest (whose mask lets it through). A blocking call emu was
//!   making on the guest's behalf returns EINTR; SA_RESTART is then applied
//!   as the guest's kernel would.
//! * Signals the guest leaves at SIG_DFL or SIG_IGN are left to the kernel.
//!
//! SIGSYS and the fault signals are never blocked on the host, whatever mask
//! the guest sets: a SUD trap while SIGSYS is blocked kills the process.

mod entry;
mod faults;

pub(crate) use entry::{detect_fsgsbase, emu_enter_guest, have_fsgsbase, interruptible_syscall, GuestStart, NOT_RUN};

use crate::context::GuestContext;
use crate::process::process;
use crate::sys::{self, Errno};
use crate::threads::ThreadState;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

pub const NSIG: usize = 64;

/// `si_code` of a Syscall User Dispatch SIGSYS.
const SYS_USER_DISPATCH: i32 = 2;

pub const fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// Signals the host must always be able to deliver to emu.
pub const RESERVED: u64 =
    bit(libc::SIGSYS) | bit(libc::SIGSEGV) | bit(libc::SIGBUS) | bit(libc::SIGILL) | bit(libc::SIGFPE) | bit(libc::SIGTRAP);

/// Signals that cannot be caught or blocked.
pub const UNCATCHABLE: u64 = bit(libc::SIGKILL) | bit(libc::SIGSTOP);

pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

/// A guest's disposition of one signal, in host terms (Linux flag values,
/// host signal numbers in the mask); the personality translates.
#[derive(Clone, Copy, Debug, Default)]
pub struct GuestAction {
    /// Guest address of the handler, or SIG_DFL / SIG_IGN.
    pub handler: u64,
    /// SA_* flags (Linux values).
    pub flags: u64,
    /// Signals blocked while the handler runs.
    pub mask: u64,
    /// Guest address the handler returns to (Linux: sa_restorer).
    pub restorer: u64,
}

#[derive(Default)]
struct ActionSlot {
    handler: AtomicU64,
    flags: AtomicU64,
    mask: AtomicU64,
    restorer: AtomicU64,
}

/// The guest's dispositions, shared by its threads. Read without locking
/// (from signal handlers); written under `write_lock`.
pub struct GuestActions {
    slots: [ActionSlot; NSIG + 1],
    write_lock: Mutex<()>,
}

impl GuestActions {
    pub fn new() -> Self {
        GuestActions { slots: std::array::from_fn(|_| ActionSlot::default()), write_lock: Mutex::new(()) }
    }

    pub fn get(&self, sig: i32) -> GuestAction {
        let s = &self.slots[sig as usize];
        GuestAction {
            handler: s.handler.load(Ordering::Acquire),
            flags: s.flags.load(Ordering::Relaxed),
            mask: s.mask.load(Ordering::Relaxed),
            restorer: s.restorer.load(Ordering::Relaxed),
        }
    }

    /// Records a new disposition and sets the host's to match; returns the old one.
    pub fn set(&self, sig: i32, new: GuestAction) -> Result<GuestAction, Errno> {
        let _guard = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.get(sig);
        let host_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | sys::SA_RESTORER;
        let reserved = bit(sig) & RESERVED != 0;
        match new.handler {
            // emu keeps its handler for the signals it needs itself.
            _ if reserved => {}
            SIG_DFL | SIG_IGN => set_host_action(sig, new.handler, 0, 0)?,
            // The host handler blocks every other catchable signal while it runs;
            // the guest's own mask applies once its handler is entered.
            _ => set_host_action(sig, entry::emu_signal_entry as *const () as u64, host_flags as u64, !(RESERVED | UNCATCHABLE))?,
        }
        let s = &self.slots[sig as usize];
        s.flags.store(new.flags, Ordering::Relaxed);
        s.mask.store(new.mask, Ordering::Relaxed);
        s.restorer.store(new.restorer, Ordering::Relaxed);
        s.handler.store(new.handler, Ordering::Release);
        Ok(old)
    }

}

impl Default for GuestActions {
    fn default() -> Self {
        Self::new()
    }
}

/// What each thread keeps about signals.
pub struct ThreadSignals {
    /// The mask as the guest set it (the host's is this without `RESERVED`).
    pub guest_blocked: u64,
    /// Number of a signal held while emu ran (0: none); read by the
    /// interruptible-syscall stub, written by signal handlers.
    pub held: AtomicU32,
    /// The guest's alternate signal stack (the host's belongs to emu).
    pub altstack: libc::stack_t,
    /// The mask to restore after the next handler, when a call with a
    /// temporary mask (sigsuspend, ppoll, ...) was interrupted.
    pub saved_mask: Option<u64>,
}

impl ThreadSignals {
    pub fn new() -> Self {
        ThreadSignals {
            guest_blocked: 0,
            held: AtomicU32::new(0),
            altstack: libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 },
            saved_mask: None,
        }
    }

    /// Whether `sp` is on the guest's alternate stack.
    pub fn on_altstack(&self, sp: u64) -> bool {
        let base = self.altstack.ss_sp as u64;
        self.altstack.ss_flags & libc::SS_DISABLE == 0 && sp > base && sp <= base + self.altstack.ss_size as u64
    }
}

impl Default for ThreadSignals {
    fn default() -> Self {
        Self::new()
    }
}

/// The host mask that stands for a guest mask.
pub fn host_mask(guest: u64) -> u64 {
    guest & !(RESERVED | UNCATCHABLE)
}

/// Kernel layout of `struct sigaction` for rt_sigaction.
#[repr(C)]
struct KernelSigaction {
    handler: u64,
    flags: u64,
    restorer: u64,
    mask: u64,
}

pub(crate) fn set_host_action(sig: i32, handler: u64, flags: u64, mask: u64) -> Result<(), Errno> {
    let restorer = if flags & sys::SA_RESTORER as u64 != 0 { entry::emu_signal_restorer as *const () as u64 } else { 0 };
    let act = KernelSigaction { handler, flags, restorer, mask };
    // SAFETY: a valid kernel sigaction, sigsetsize 8.
    let r = unsafe { sys::syscall6(libc::SYS_rt_sigaction as u64, [sig as u64, &act as *const _ as u64, 0, 8, 0, 0]) };
    sys::result(r).map(|_| ())
}

/// Installs emu's handlers for the signals it always needs. Called once per
/// process before the guest starts (dispositions are process-wide).
pub fn install_emulator_handlers() -> Result<(), Errno> {
    let flags = (libc::SA_SIGINFO | libc::SA_ONSTACK | sys::SA_RESTORER) as u64;
    let entry = entry::emu_signal_entry as *const () as u64;
    // SIGSYS runs with the guest's mask (so a blocking call stays
    // interruptible); signals that arrive meanwhile are held, see `hold`.
    set_host_action(libc::SIGSYS, entry, flags, 0)?;
    for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGTRAP] {
        set_host_action(sig, entry, flags | libc::SA_NODEFER as u64, !(RESERVED | UNCATCHABLE))?;
    }
    Ok(())
}

/// Every emu handler lands here, with FS switched to the emulator's.
/// `fs_switched` says the interrupted code had another FS base: the guest's.
pub(crate) extern "C" fn handle_signal(
    sig: i32,
    info: *mut libc::siginfo_t,
    uc: *mut libc::c_void,
    thread: *mut ThreadState,
    fs_switched: u64,
) {
    // SAFETY: the kernel passes a valid siginfo and ucontext for this frame,
    // and the trampoline the state found from this thread's alternate stack.
    let (info, uc, thread) = unsafe { (&mut *info, &mut *(uc as *mut libc::ucontext_t), &mut *thread) };
    let mut ctx = GuestContext::new(uc);
    let in_guest = fs_switched != 0 && !entry::in_trampolines(ctx.rip());
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

/// A signal interrupted the emulator: keep it for the guest. It is blocked
/// where emu was interrupted and queued again, so it stays pending until the
/// SIGSYS handler's rt_sigreturn restores the guest's mask.
fn hold(thread: &mut ThreadState, sig: i32, info: &libc::siginfo_t, ctx: &mut GuestContext) {
    ctx.set_sigmask(ctx.sigmask() | bit(sig));
    requeue(sig, info, thread.tid);
    thread.signals.held.store(sig as u32, Ordering::Release);
    if let Some(rip) = entry::interruptible_rewind(ctx.rip()) {
        ctx.set_rip(rip);
    }
}

/// Queues a copy of a received signal to this thread again.
fn requeue(sig: i32, info: &libc::siginfo_t, tid: i32) {
    // SAFETY: queues a copy of the original siginfo to this very thread,
    // which the kernel allows whatever its si_code.
    let r = unsafe {
        sys::syscall6(libc::SYS_rt_tgsigqueueinfo as u64, [sys::getpid() as u64, tid as u64, sig as u64, info as *const _ as u64, 0, 0])
    };
    if r < 0 {
        log::warn!("could not keep signal {sig} for the guest: {}", Errno(-r as i32));
    }
}

/// A signal interrupted guest code: run the guest's handler for it now.
fn deliver(thread: &mut ThreadState, sig: i32, info: &libc::siginfo_t, ctx: &mut GuestContext) {
    let p = process();
    let action = p.signals.get(sig);
    match action.handler {
        SIG_IGN => {}
        // The guest reset the disposition while the signal was on its way:
        // let the kernel apply the default action, once this handler returns.
        SIG_DFL => {
            let _ = set_host_action(sig, SIG_DFL, 0, 0);
            requeue(sig, info, thread.tid);
        }
        _ => {
            if let Some(t) = &p.tracer {
                t.signal(sig, info);
            }
            if let Err(e) = p.personality.deliver_signal(thread, sig, info, ctx, &action) {
                log::error!("cannot deliver {} to the guest ({e}): its stack is unusable", p.personality.signal_name(sig));
                crate::lifecycle::killed_by(libc::SIGSEGV);
                die_by_default(libc::SIGSEGV);
            }
        }
    }
}

/// Ends the process the way the signal's default action would.
pub fn die_by_default(sig: i32) -> ! {
    let _ = set_host_action(sig, SIG_DFL, 0, 0);
    let unblock = bit(sig);
    // SAFETY: unblocks one signal of this thread and sends it to itself.
    unsafe {
        sys::syscall6(libc::SYS_rt_sigprocmask as u64, [libc::SIG_UNBLOCK as u64, &unblock as *const u64 as u64, 0, 8, 0, 0]);
        sys::syscall6(libc::SYS_tgkill as u64, [sys::getpid() as u64, sys::gettid() as u64, sig as u64, 0, 0, 0]);
    }
    // A signal whose default is to be ignored, or that could not be sent.
    crate::lifecycle::exit_process(128 + sig)
}


/// SIGPIPE as emu's parent left it. Rust's runtime ignores SIGPIPE before
/// `main`, and a guest inherits dispositions, so a guest writing to a closed
/// pipe would get EPIPE where it natively dies. The disposition is read by a
/// constructor, which runs before the runtime changes it.
static INHERITED_SIGPIPE: AtomicU64 = AtomicU64::new(SIG_DFL);

extern "C" fn capture_inherited_sigpipe() {
    let mut old = KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };
    // SAFETY: queries a disposition into a struct of ours.
    let r = unsafe { sys::syscall6(libc::SYS_rt_sigaction as u64, [libc::SIGPIPE as u64, 0, &mut old as *mut _ as u64, 8, 0, 0]) };
    if r == 0 {
        INHERITED_SIGPIPE.store(old.handler, Ordering::Relaxed);
    }
}

#[used]
#[link_section = ".init_array"]
static CAPTURE_INHERITED_SIGPIPE: extern "C" fn() = capture_inherited_sigpipe;

/// Gives the guest the SIGPIPE disposition emu inherited.
pub fn restore_inherited_sigpipe() {
    let handler = match INHERITED_SIGPIPE.load(Ordering::Relaxed) {
        SIG_IGN => SIG_IGN,
        _ => SIG_DFL,
    };
    let _ = set_host_action(libc::SIGPIPE, handler, 0, 0);
}
