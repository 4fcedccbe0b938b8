//! Signals a personality counts as they arrive (FreeBSD's kqueue
//! EVFILT_SIGNAL), whatever the guest does with them: caught, ignored, or
//! left at a default that ignores them.
//!
//! While a signal is watched, emu's handler stands for SIG_IGN and for an
//! ignoring SIG_DFL too (see `actions`), so that the kernel does not
//! discard it unseen; `deliver` counts it, then drops it or runs the
//! guest's handler. Each occurrence is announced on the eventfds of
//! `announcer` (one per kqueue that watches), which a kqueue's epoll
//! waits on. Atomics only, and a write to an eventfd of emu's: `occurred`
//! runs in signal handlers. An announcer's eventfd, once made, is never
//! closed but reused, so a handler that read its number can only ever
//! write to it (see `fds::write_private` for a number that moves).

use super::actions::NSIG;
use crate::fds;
use crate::sys::{self, Errno};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering::SeqCst};

/// How many watch each host signal (knotes of all kqueues).
static WATCHERS: [AtomicU32; NSIG + 1] = [const { AtomicU32::new(0) }; NSIG + 1];
/// How often each watched signal arrived, since emu started.
static OCCURRED: [AtomicU64; NSIG + 1] = [const { AtomicU64::new(0) }; NSIG + 1];
/// Signals the guest sent to its own process, counted when sent (as
/// FreeBSD's EVFILT_SIGNAL counts them), not yet arrived: their arrival is
/// not counted again.
static SENT: [AtomicU32; NSIG + 1] = [const { AtomicU32::new(0) }; NSIG + 1];

const ANNOUNCERS: usize = 16;
/// The announcers' eventfds (emu's private descriptors), -1 before one is made.
static ANNOUNCER_FDS: [AtomicI32; ANNOUNCERS] = [const { AtomicI32::new(-1) }; ANNOUNCERS];
static ANNOUNCER_USED: [AtomicBool; ANNOUNCERS] = [const { AtomicBool::new(false) }; ANNOUNCERS];

fn valid(sig: i32) -> bool {
    (1..=NSIG as i32).contains(&sig)
}

/// Whether anyone watches `sig`.
pub fn watched(sig: i32) -> bool {
    valid(sig) && WATCHERS[sig as usize].load(SeqCst) != 0
}

/// One more watcher of `sig`; the first makes emu's handler receive it.
pub fn watch(sig: i32) {
    if valid(sig) && WATCHERS[sig as usize].fetch_add(1, SeqCst) == 0 {
        crate::process::process().signals.reassert_host(sig);
    }
}

/// One watcher less; after the last, the host's disposition is the guest's
/// own again.
pub fn unwatch(sig: i32) {
    if valid(sig) && WATCHERS[sig as usize].fetch_sub(1, SeqCst) == 1 {
        crate::process::process().signals.reassert_host(sig);
    }
}

/// How often `sig` arrived while watched.
pub fn occurrences(sig: i32) -> u64 {
    if valid(sig) {
        OCCURRED[sig as usize].load(SeqCst)
    } else {
        0
    }
}

/// `sig` arrived (from `deliver`, in a signal handler): counted and
/// announced if watched.
pub(super) fn occurred(sig: i32) {
    if !watched(sig) {
        return;
    }
    if SENT[sig as usize].fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)).is_ok() {
        return;
    }
    count(sig);
}

/// The guest sends `sig` to its own process (kill): counted now, when
/// FreeBSD counts it, rather than when some thread of emu's gets it (a
/// thread busy in emu gets it only when it goes back to the guest). Two
/// sends the kernel merges into one arrival leave one count behind, so a
/// later arrival from outside goes uncounted: the price of counting sends.
pub fn sent_to_self(sig: i32) {
    if watched(sig) {
        SENT[sig as usize].fetch_add(1, SeqCst);
        count(sig);
    }
}

/// A `sent_to_self` whose kill failed.
pub fn not_sent(sig: i32) {
    if valid(sig) && SENT[sig as usize].fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)).is_ok() {
        OCCURRED[sig as usize].fetch_sub(1, SeqCst);
    }
}

fn count(sig: i32) {
    OCCURRED[sig as usize].fetch_add(1, SeqCst);
    for (fd, used) in ANNOUNCER_FDS.iter().zip(&ANNOUNCER_USED) {
        if used.load(SeqCst) {
            let _ = fds::write_private(|| fd.load(SeqCst), &1u64.to_ne_bytes());
        }
    }
}

/// An eventfd told of every watched signal, for a kqueue to wait on: its
/// slot and descriptor. ENOMEM when all are taken.
pub fn announcer() -> Result<(usize, i32), Errno> {
    for (slot, used) in ANNOUNCER_USED.iter().enumerate() {
        if used.compare_exchange(false, true, SeqCst, SeqCst).is_err() {
            continue;
        }
        let mut fd = ANNOUNCER_FDS[slot].load(SeqCst);
        if fd < 0 {
            // SAFETY: a new eventfd of emu's.
            let made = sys::result(unsafe {
                sys::syscall6(
                    libc::SYS_eventfd2 as u64,
                    [0, (libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) as u64, 0, 0, 0, 0],
                )
            });
            let private = made.and_then(|e| {
                let high = fds::make_private(e as i32);
                // SAFETY: the eventfd just made, now copied high.
                unsafe { sys::syscall6(libc::SYS_close as u64, [e, 0, 0, 0, 0, 0]) };
                high
            });
            match private {
                Ok(high) => {
                    fd = high;
                    ANNOUNCER_FDS[slot].store(fd, SeqCst);
                }
                Err(e) => {
                    used.store(false, SeqCst);
                    return Err(e);
                }
            }
        }
        drain(fd);
        return Ok((slot, fd));
    }
    Err(Errno::ENOMEM)
}

/// The announcer of `slot` is free again (its eventfd stays, for the next).
pub fn release_announcer(slot: usize) {
    if let Some(used) = ANNOUNCER_USED.get(slot) {
        used.store(false, SeqCst);
    }
}

/// The announcer's descriptor now: it moves when the guest takes its number.
pub fn announcer_fd(slot: usize) -> i32 {
    ANNOUNCER_FDS.get(slot).map_or(-1, |fd| fd.load(SeqCst))
}

/// Wakes the announcer of `slot` again: events stayed behind.
pub fn announce_again(slot: usize) {
    if let Some(fd) = ANNOUNCER_FDS.get(slot) {
        let _ = fds::write_private(|| fd.load(SeqCst), &1u64.to_ne_bytes());
    }
}

/// Reads an eventfd's count away (non-blocking).
pub fn drain(fd: i32) {
    let mut count = 0u64;
    // SAFETY: reads 8 bytes into a u64 of ours from emu's eventfd.
    unsafe { sys::syscall6(libc::SYS_read as u64, [fd as u64, &mut count as *mut u64 as u64, 8, 0, 0, 0]) };
}

/// A private descriptor moved (`fds::evacuate`).
pub fn fd_moved(old: i32, new: i32) {
    for fd in &ANNOUNCER_FDS {
        let _ = fd.compare_exchange(old, new, SeqCst, SeqCst);
    }
}
