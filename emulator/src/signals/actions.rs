//! The guest's signal dispositions, and the host's that stand for them.
//!
//! A disposition is recorded in host terms (Linux flag values, host signal
//! numbers); the personality translates its own. For a signal the guest
//! catches, the host handler is emu's, with the guest's SA_RESTART (so that
//! the kernel decides, exactly as for the guest, whether an interrupted call
//! restarts) and its SA_NOCLDSTOP / SA_NOCLDWAIT (which change what the
//! kernel does with children). SIG_DFL and SIG_IGN are given to the host
//! as they are. The signals emu needs itself (`RESERVED`) keep emu's handler
//! whatever the guest asks.

use super::{bit, entry, RESERVED, UNCATCHABLE};
use crate::sys::{self, Errno};
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::Mutex;

pub const NSIG: usize = 64;
pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

/// Host flags a guest's choice carries over to the host's handler.
const PASSED_TO_HOST: u64 = (libc::SA_RESTART | libc::SA_NOCLDSTOP | libc::SA_NOCLDWAIT) as u64;

/// A guest's disposition of one signal, in host terms.
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

/// One disposition, read without a lock by a sequence count: a writer
/// (under `write_lock`) makes `seq` odd, stores the fields, makes it even
/// again; a reader retries until it has read all four between the same
/// even count. So a reader never sees the new handler with the old flags.
/// A reader never runs on a thread inside a writer (writers are system
/// calls; a signal that interrupts emu is only held), so it never waits
/// for itself.
#[derive(Default)]
struct ActionSlot {
    seq: AtomicU64,
    handler: AtomicU64,
    flags: AtomicU64,
    mask: AtomicU64,
    restorer: AtomicU64,
}

impl ActionSlot {
    fn load(&self) -> GuestAction {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            if before % 2 == 0 {
                let action = GuestAction {
                    handler: self.handler.load(Ordering::Relaxed),
                    flags: self.flags.load(Ordering::Relaxed),
                    mask: self.mask.load(Ordering::Relaxed),
                    restorer: self.restorer.load(Ordering::Relaxed),
                };
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == before {
                    return action;
                }
            }
            std::hint::spin_loop();
        }
    }

    /// Only under `write_lock`.
    fn store(&self, a: GuestAction) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        self.handler.store(a.handler, Ordering::Relaxed);
        self.flags.store(a.flags, Ordering::Relaxed);
        self.mask.store(a.mask, Ordering::Relaxed);
        self.restorer.store(a.restorer, Ordering::Relaxed);
        self.seq.store(seq + 2, Ordering::Release);
    }
}

/// The guest's dispositions, shared by its threads. Read without locking
/// (from signal handlers); written under `write_lock`.
pub struct GuestActions {
    slots: [ActionSlot; NSIG + 1],
    write_lock: Mutex<()>,
    /// With --trace or --stats, emu catches the signals whose default would
    /// kill the guest, so that its death is traced and its calls counted.
    watch_deaths: bool,
    /// Host signals whose default action the guest's kernel gives as
    /// "ignore" where Linux's ends the process (a FreeBSD SIGINFO travels
    /// as SIGPWR): the host ignores them while the guest's disposition is
    /// SIG_DFL.
    default_ignored: u64,
}

impl GuestActions {
    /// The dispositions a new image starts with, and the host's to match:
    /// what it inherited (SIG_IGN survives execve; everything else is
    /// SIG_DFL). SIGPIPE is what emu's parent left, not what Rust's runtime
    /// set before `main`.
    pub fn inherited(watch_deaths: bool, default_ignored: u64) -> Self {
        let actions = GuestActions {
            slots: std::array::from_fn(|_| ActionSlot::default()),
            write_lock: Mutex::new(()),
            watch_deaths,
            default_ignored,
        };
        for sig in 1..=NSIG as i32 {
            if bit(sig) & (RESERVED | UNCATCHABLE) != 0 {
                continue;
            }
            let inherited = match sig {
                libc::SIGPIPE => inherited_sigpipe(),
                _ => host_handler(sig).unwrap_or(SIG_DFL),
            };
            if inherited == SIG_IGN {
                actions.slots[sig as usize].store(GuestAction { handler: SIG_IGN, ..Default::default() });
                if sig == libc::SIGPIPE {
                    let _ = set_host_action(sig, SIG_IGN, 0, 0);
                }
            } else if bit(sig) & default_ignored != 0 {
                let _ = set_host_action(sig, SIG_IGN, 0, 0);
            } else if sig == libc::SIGPIPE {
                // Rust's runtime ignored it: the default again at once.
                let _ = set_host_action(sig, SIG_DFL, 0, 0);
            }
            // A death that --trace or --stats watch for is caught once the
            // thread has its region (`watch_deaths_from_now`).
        }
        actions
    }

    /// With --trace or --stats, catches the signals whose default would kill
    /// the guest (and that it left at SIG_DFL). Called once the first
    /// thread's region is in place: emu's handler cannot run on a thread
    /// without one, and a signal before this kills the process as natively.
    pub fn watch_deaths_from_now(&self) {
        if !self.watch_deaths {
            return;
        }
        for sig in 1..=NSIG as i32 {
            let left_default = self.get(sig).handler == SIG_DFL && bit(sig) & self.default_ignored == 0;
            if bit(sig) & (RESERVED | UNCATCHABLE) == 0 && left_default && default_kills(sig) {
                let _ = set_host_action(sig, emu_handler(), emu_handler_flags(), !(RESERVED | UNCATCHABLE));
            }
        }
    }

    pub fn get(&self, sig: i32) -> GuestAction {
        self.slots[sig as usize].load()
    }

    /// A copy, for a vfork child that does not share its parent's
    /// dispositions (the host's were copied by the kernel the same way).
    pub fn copy(&self) -> Self {
        let _guard = self.lock();
        let copy = GuestActions {
            slots: std::array::from_fn(|_| ActionSlot::default()),
            write_lock: Mutex::new(()),
            watch_deaths: self.watch_deaths,
            default_ignored: self.default_ignored,
        };
        for (from, to) in self.slots.iter().zip(&copy.slots) {
            to.store(from.load());
        }
        copy
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write_lock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The disposition of `sig` once no change of it by another thread is
    /// half done: the host's disposition and the guest's record agree
    /// again. A handler that finds SIG_DFL or SIG_IGN for a signal emu's
    /// handler received asks this before it acts on it, since another
    /// thread may be installing a handler right now. Only from a handler
    /// that interrupted guest code (see the module docs of `signals`).
    pub fn settled(&self, sig: i32) -> GuestAction {
        let _guard = self.lock();
        self.get(sig)
    }

    /// For a process about to die of `sig`: the host's disposition of it
    /// becomes SIG_DFL and stays so, as the write lock is never given back:
    /// no other thread's rt_sigaction can install a handler between now and
    /// the signal's arrival (it waits for the end of the process).
    pub fn default_until_death(&self, sig: i32) {
        let guard = self.lock();
        let _ = set_host_action(sig, SIG_DFL, 0, 0);
        std::mem::forget(guard);
    }

    /// Records a new disposition and sets the host's to match; returns the old one.
    pub fn set(&self, sig: i32, new: GuestAction) -> Result<GuestAction, Errno> {
        let _guard = self.lock();
        let old = self.get(sig);
        self.set_host_for(sig, &new)?;
        self.slots[sig as usize].store(new);
        Ok(old)
    }

    /// Sets the host's disposition of `sig` to what the guest's is again,
    /// after something else of the process's changed it: emu's own C
    /// library installs its handlers for the first real-time signals when
    /// emu starts its first thread (see `threads::spawn`).
    pub fn reassert_host(&self, sig: i32) {
        let _guard = self.lock();
        let _ = self.set_host_for(sig, &self.get(sig));
    }

    /// The host disposition that stands for the guest's `action`. Only
    /// under `write_lock`.
    fn set_host_for(&self, sig: i32, new: &GuestAction) -> Result<(), Errno> {
        let passed = new.flags & PASSED_TO_HOST;
        match new.handler {
            // emu keeps its handler for the signals it needs itself.
            _ if bit(sig) & RESERVED != 0 => {}
            // A watched signal the kernel would discard: emu's handler counts
            // it, then drops it. SA_RESTART: a call it interrupts goes on,
            // as it would not have been interrupted; an ignored SIGCHLD
            // still leaves no zombie.
            SIG_IGN | SIG_DFL if super::observe::watched(sig) && self.ignores(sig, new.handler) => {
                let no_zombies = if sig == libc::SIGCHLD && new.handler == SIG_IGN { libc::SA_NOCLDWAIT } else { 0 };
                let flags = emu_handler_flags() | passed | (libc::SA_RESTART | no_zombies) as u64;
                set_host_action(sig, emu_handler(), flags, !(RESERVED | UNCATCHABLE))?
            }
            SIG_DFL if bit(sig) & self.default_ignored != 0 => set_host_action(sig, SIG_IGN, 0, 0)?,
            SIG_DFL if self.watch_deaths && default_kills(sig) => {
                set_host_action(sig, emu_handler(), emu_handler_flags(), !(RESERVED | UNCATCHABLE))?
            }
            SIG_DFL | SIG_IGN => set_host_action(sig, new.handler, passed & !(libc::SA_RESTART as u64), 0)?,
            // The host handler blocks every other catchable signal while it
            // runs; the guest's own mask applies once its handler is entered.
            _ => set_host_action(sig, emu_handler(), emu_handler_flags() | passed, !(RESERVED | UNCATCHABLE))?,
        }
        Ok(())
    }

    /// Holds the write lock across a fork, so that no other thread holds it
    /// in the child.
    pub fn lock_for_fork(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock()
    }

    /// Whether the guest's kernel discards `sig` with disposition `handler`:
    /// SIG_IGN, or a SIG_DFL whose action is to ignore it (not to stop).
    pub fn ignores(&self, sig: i32, handler: u64) -> bool {
        match handler {
            SIG_IGN => true,
            SIG_DFL => {
                bit(sig) & self.default_ignored != 0
                    || matches!(sig, libc::SIGCHLD | libc::SIGCONT | libc::SIGURG | libc::SIGWINCH)
            }
            _ => false,
        }
    }

    /// Whether the guest's kernel ends the process for `sig` left at SIG_DFL.
    pub fn kills_by_default(&self, sig: i32) -> bool {
        default_kills(sig) && bit(sig) & self.default_ignored == 0
    }

    /// After a fork with CLONE_CLEAR_SIGHAND: caught signals go back to SIG_DFL.
    pub fn reset_handlers(&self) {
        for sig in 1..=NSIG as i32 {
            if self.get(sig).handler > SIG_IGN {
                let _ = self.set(sig, GuestAction::default());
            }
        }
    }
}

/// Whether a signal's default action ends the process.
pub fn default_kills(sig: i32) -> bool {
    !matches!(
        sig,
        libc::SIGCHLD
            | libc::SIGCONT
            | libc::SIGURG
            | libc::SIGWINCH
            | libc::SIGSTOP
            | libc::SIGTSTP
            | libc::SIGTTIN
            | libc::SIGTTOU
            | libc::SIGKILL
    )
}

fn emu_handler() -> u64 {
    entry::emu_signal_entry as *const () as u64
}

fn emu_handler_flags() -> u64 {
    (libc::SA_SIGINFO | libc::SA_ONSTACK | sys::SA_RESTORER) as u64
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
    let restorer =
        if flags & sys::SA_RESTORER as u64 != 0 { entry::emu_signal_restorer as *const () as u64 } else { 0 };
    let act = KernelSigaction { handler, flags, restorer, mask };
    // SAFETY: a valid kernel sigaction, sigsetsize 8.
    let r = unsafe { sys::syscall6(libc::SYS_rt_sigaction as u64, [sig as u64, &act as *const _ as u64, 0, 8, 0, 0]) };
    sys::result(r).map(|_| ())
}

/// The host's current handler of a signal.
fn host_handler(sig: i32) -> Option<u64> {
    let mut old = KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };
    // SAFETY: queries a disposition into a struct of ours.
    let r =
        unsafe { sys::syscall6(libc::SYS_rt_sigaction as u64, [sig as u64, 0, &mut old as *mut _ as u64, 8, 0, 0]) };
    (r == 0).then_some(old.handler)
}

/// Installs emu's handlers for the signals it always needs. Called once per
/// process before the guest starts (dispositions are process-wide).
pub fn install_emulator_handlers() -> Result<(), Errno> {
    // SIGSYS runs with the guest's mask (so a blocking call stays
    // interruptible); signals that arrive meanwhile are held, see `hold`.
    set_host_action(libc::SIGSYS, emu_handler(), emu_handler_flags(), 0)?;
    for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGTRAP] {
        set_host_action(sig, emu_handler(), emu_handler_flags() | libc::SA_NODEFER as u64, !(RESERVED | UNCATCHABLE))?;
    }
    Ok(())
}

/// SIGPIPE as emu's parent left it. Rust's runtime ignores SIGPIPE before
/// `main`, and a guest inherits dispositions, so a guest writing to a closed
/// pipe would get EPIPE where it natively dies. The disposition is read by a
/// constructor, which runs before the runtime changes it.
static INHERITED_SIGPIPE: AtomicU64 = AtomicU64::new(SIG_DFL);

extern "C" fn capture_inherited_sigpipe() {
    if let Some(h) = host_handler(libc::SIGPIPE) {
        INHERITED_SIGPIPE.store(h, Ordering::Relaxed);
    }
}

#[used]
#[link_section = ".init_array"]
static CAPTURE_INHERITED_SIGPIPE: extern "C" fn() = capture_inherited_sigpipe;

fn inherited_sigpipe() -> u64 {
    match INHERITED_SIGPIPE.load(Ordering::Relaxed) {
        SIG_IGN => SIG_IGN,
        _ => SIG_DFL,
    }
}
