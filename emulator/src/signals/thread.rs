//! What each thread keeps about signals: the guest's view of its mask, the
//! guest's alternate stack, and signals waiting for the guest.

use super::{bit, host_mask, UNCATCHABLE};
use crate::context::GuestContext;
use crate::sys;
use std::sync::atomic::AtomicU32;

/// The signals emu never blocks on the host but a guest may block:
/// SIGSYS and the fault signals, one slot each.
const DEFERRABLE: [i32; 6] = [libc::SIGSYS, libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGTRAP];

pub struct ThreadSignals {
    /// The mask as the guest set it (the host's is this without `RESERVED`).
    guest_blocked: u64,
    /// Number of a signal held while emu ran (0: none); read by the
    /// interruptible-syscall stub, written by signal handlers.
    pub held: AtomicU32,
    /// The guest's alternate signal stack (the host's belongs to emu).
    pub altstack: libc::stack_t,
    /// The mask to restore after the next handler, when a call with a
    /// temporary mask (sigsuspend, ppoll, ...) was interrupted.
    pub saved_mask: Option<u64>,
    /// Signals the host delivered although the guest blocks them (it cannot
    /// block SIGSYS and the fault signals): pending until the guest unblocks.
    deferred: [Option<libc::siginfo_t>; DEFERRABLE.len()],
    /// Where the guest's last rt_sigreturn resumes, until its next call: a
    /// SIGSEGV the kernel raises there is its refusal of the frame.
    pub sigreturn_to: Option<u64>,
}

impl ThreadSignals {
    /// `blocked`: the mask the thread starts with.
    pub fn new(blocked: u64) -> Self {
        ThreadSignals {
            guest_blocked: blocked & !UNCATCHABLE,
            held: AtomicU32::new(0),
            altstack: libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 },
            saved_mask: None,
            deferred: [None; DEFERRABLE.len()],
            sigreturn_to: None,
        }
    }

    pub fn guest_blocked(&self) -> u64 {
        self.guest_blocked
    }

    pub fn blocks(&self, sig: i32) -> bool {
        self.guest_blocked & bit(sig) != 0
    }

    /// The guest's mask becomes `mask`, and the context resumes with the
    /// host's part of it. Deferred signals it no longer blocks are queued
    /// again, to reach the guest as soon as it runs.
    pub fn set_guest_mask(&mut self, ctx: &mut GuestContext, mask: u64) {
        self.guest_blocked = mask & !UNCATCHABLE;
        ctx.set_sigmask(host_mask(self.guest_blocked));
        for (i, slot) in self.deferred.iter_mut().enumerate() {
            let sig = DEFERRABLE[i];
            if self.guest_blocked & bit(sig) == 0 {
                if let Some(info) = slot.take() {
                    super::requeue(sig, &info, sys::gettid());
                }
            }
        }
    }

    /// Keeps a signal the guest blocks but the host could not.
    pub fn defer(&mut self, sig: i32, info: &libc::siginfo_t) {
        if let Some(i) = DEFERRABLE.iter().position(|&s| s == sig) {
            self.deferred[i] = Some(*info);
        }
    }

    /// Whether `sp` is on the guest's alternate stack.
    pub fn on_altstack(&self, sp: u64) -> bool {
        let base = self.altstack.ss_sp as u64;
        self.altstack.ss_flags & libc::SS_DISABLE == 0 && sp > base && sp <= base + self.altstack.ss_size as u64
    }
}
