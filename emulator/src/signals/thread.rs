//! What each thread keeps about signals: the guest's view of its mask, the
//! guest's alternate stack, and signals waiting for the guest.

use super::{bit, host_mask, UNCATCHABLE};
use crate::context::GuestContext;
use crate::sys;
use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64};

/// The signals emu never blocks on the host but a guest may block:
/// SIGSYS and the fault signals, one slot each.
const DEFERRABLE: [i32; 6] = [libc::SIGSYS, libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGTRAP];

/// Mutated only by the thread that owns it, through shared references
/// (`Cell`): a signal handler that interrupts emu on the same thread may
/// run while the trap's handler holds its own reference, and touches only
/// `held` (an atomic).
pub struct ThreadSignals {
    /// The mask as the guest set it (the host's is this without `RESERVED`).
    guest_blocked: Cell<u64>,
    /// Number of a signal held while emu ran (0: none); read by the
    /// interruptible-syscall stub, written by signal handlers.
    pub held: AtomicU32,
    /// The guest's alternate signal stack (the host's belongs to emu).
    pub altstack: Cell<libc::stack_t>,
    /// The mask to restore after the next handler, when a call with a
    /// temporary mask (sigsuspend, ppoll, ...) was interrupted.
    pub saved_mask: Cell<Option<u64>>,
    /// Signals the host delivered although the guest blocks them (it cannot
    /// block SIGSYS and the fault signals): pending until the guest unblocks.
    deferred: [Cell<Option<libc::siginfo_t>>; DEFERRABLE.len()],
    /// Where the guest's last rt_sigreturn resumes, until its next call: a
    /// SIGSEGV the kernel raises there is its refusal of the frame.
    pub sigreturn_to: Cell<Option<u64>>,
    /// Signals held (bit n-1 for signal n) that `observe` counted when they
    /// arrived: their queued copy is not counted again when delivered.
    pub counted_when_held: AtomicU64,
    /// The host's mask where the guest runs may block more than the guest's
    /// (a signal its sigfastblock word holds off): until an rt_sigreturn
    /// puts the guest's back, a rewritten site's entry must not go back
    /// without one (`rewrite::entry`).
    pub mask_widened: Cell<bool>,
}

/// Where `held` is in `ThreadSignals`, for the fast entry (`rewrite`).
pub const HELD_OFFSET: usize = std::mem::offset_of!(ThreadSignals, held);

/// The altstack of a thread that has none.
pub const NO_ALTSTACK: libc::stack_t =
    libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };

impl ThreadSignals {
    /// `blocked`: the mask the thread starts with.
    pub fn new(blocked: u64) -> Self {
        ThreadSignals {
            guest_blocked: Cell::new(blocked & !UNCATCHABLE),
            held: AtomicU32::new(0),
            altstack: Cell::new(NO_ALTSTACK),
            saved_mask: Cell::new(None),
            deferred: std::array::from_fn(|_| Cell::new(None)),
            sigreturn_to: Cell::new(None),
            counted_when_held: AtomicU64::new(0),
            mask_widened: Cell::new(false),
        }
    }

    pub fn guest_blocked(&self) -> u64 {
        self.guest_blocked.get()
    }

    pub fn blocks(&self, sig: i32) -> bool {
        self.guest_blocked() & bit(sig) != 0
    }

    /// The guest's mask becomes `mask`, and the context resumes with the
    /// host's part of it. Deferred signals it no longer blocks are queued
    /// again, to reach the guest as soon as it runs.
    pub fn set_guest_mask(&self, ctx: &mut GuestContext, mask: u64) {
        let blocked = mask & !UNCATCHABLE;
        self.guest_blocked.set(blocked);
        ctx.set_sigmask(host_mask(blocked));
        for (i, slot) in self.deferred.iter().enumerate() {
            let sig = DEFERRABLE[i];
            if blocked & bit(sig) == 0 {
                if let Some(info) = slot.take() {
                    super::requeue(sig, &info, sys::gettid());
                }
            }
        }
    }

    /// Keeps a signal the guest blocks but the host could not.
    pub fn defer(&self, sig: i32, info: &libc::siginfo_t) {
        if let Some(i) = DEFERRABLE.iter().position(|&s| s == sig) {
            self.deferred[i].set(Some(*info));
        }
    }

    /// Whether `sp` is on the guest's alternate stack.
    pub fn on_altstack(&self, sp: u64) -> bool {
        let alt = self.altstack.get();
        let base = alt.ss_sp as u64;
        alt.ss_flags & libc::SS_DISABLE == 0 && sp > base && sp <= base + alt.ss_size as u64
    }
}
