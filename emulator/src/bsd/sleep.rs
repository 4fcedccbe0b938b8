//! How a BSD wait object's operation sleeps on a Linux futex, and how many
//! may sleep (FreeBSD's umtx first).
//!
//! A BSD kernel keeps a sleep queue per object (FreeBSD: per umtx key) and
//! looks at it under a chain lock: it knows exactly how many threads sleep
//! on an object when it decides whether to leave a waiters bit set. A futex gives no count and no
//! such lock, so emu keeps its own count of the threads that sleep or are
//! about to ([`Sleeper`]), and every operation that takes a waiters bit away
//! reads that count *after* its own compare-and-swap and wakes as many
//! threads as it says. The order makes it safe: a sleeper counts itself
//! before it sets a waiters bit and before the futex compares the word, so
//! one that sleeps on the value being replaced is always counted.
//!
//! The counts are process-local: for an object shared between processes
//! (FreeBSD's USYNC_PROCESS_SHARED) the count is unknown and taken as "many", which
//! keeps waiters bits set and costs only system calls, never a lost wakeup.

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

use crate::call::Call;
use crate::signals::NOT_RUN;
use crate::sys::{self, Errno};

/// Threads of this process sleeping (or about to) per object, by a hash of
/// its address: two objects with one slot share a count, which can only
/// make it too large. Atomics only: the system call handlers that use them
/// run in a signal handler on several threads at once.
static SLEEPERS: [AtomicU32; 251] = [const { AtomicU32::new(0) }; 251];

fn slot(addr: u64) -> &'static AtomicU32 {
    &SLEEPERS[((addr >> 2) % SLEEPERS.len() as u64) as usize]
}

/// A count that says "many": other processes may sleep there too.
pub const UNKNOWN: u32 = u32::MAX;

/// How many may sleep on the object at `addr` (`shared`: between processes).
pub fn sleepers(addr: u64, shared: bool) -> u32 {
    if shared {
        UNKNOWN
    } else {
        slot(addr).load(SeqCst)
    }
}

/// This thread, counted among the sleepers of an object while it lives.
pub struct Sleeper(u64);

impl Sleeper {
    pub fn new(addr: u64) -> Sleeper {
        slot(addr).fetch_add(1, SeqCst);
        Sleeper(addr)
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        slot(self.0).fetch_sub(1, SeqCst);
    }
}

/// After fork, in the child: the parent's other threads, counted as they
/// slept, do not exist here.
pub fn forget_sleepers() {
    for s in &SLEEPERS {
        s.store(0, SeqCst);
    }
}

/// Which of a word's sleepers a wake is for (futex bitsets): an rwlock's
/// readers and writers sleep on the same word.
pub const ANYONE: u32 = u32::MAX;
pub const READERS: u32 = 1;
pub const WRITERS: u32 = 2;

/// When a sleep ends by itself: an absolute time of CLOCK_MONOTONIC or
/// CLOCK_REALTIME (futexes know these two), or never.
#[derive(Clone, Copy)]
pub enum Until {
    Forever,
    Monotonic(libc::timespec),
    Realtime(libc::timespec),
}

impl Until {
    /// A FreeBSD timeout on host clock `clock`: relative (measured from now,
    /// once, so that a sleep that starts again does not wait longer) or
    /// absolute. Other clocks than the two become CLOCK_MONOTONIC.
    pub fn new(ts: libc::timespec, clock: libc::clockid_t, absolute: bool) -> Until {
        if absolute && clock == libc::CLOCK_REALTIME {
            return Until::Realtime(ts);
        }
        if absolute && clock == libc::CLOCK_MONOTONIC {
            return Until::Monotonic(ts);
        }
        let remaining = if absolute { sys::timespec_sub(ts, sys::clock_now(clock)) } else { ts };
        Until::Monotonic(sys::timespec_add(sys::clock_now(libc::CLOCK_MONOTONIC), remaining))
    }

    /// Time left, for a relative timeout's report after EINTR.
    pub fn remaining(&self) -> libc::timespec {
        match *self {
            Until::Forever => libc::timespec { tv_sec: 0, tv_nsec: 0 },
            Until::Monotonic(end) => sys::timespec_sub(end, sys::clock_now(libc::CLOCK_MONOTONIC)),
            Until::Realtime(end) => sys::timespec_sub(end, sys::clock_now(libc::CLOCK_REALTIME)),
        }
    }
}

/// How a sleep ended, other than by a wake or a changed word.
pub enum Interrupted {
    TimedOut,
    /// A signal the guest catches; `restartable` when its handler has
    /// SA_RESTART.
    Signal {
        restartable: bool,
    },
}

/// Sleeps while the 32-bit word at `addr` holds `expected`, until a wake
/// for `bits` or `until`. Ok(()) for a wake, a changed word, or a spurious
/// return: the callers look at the word again.
pub fn sleep(
    call: &mut Call,
    addr: u64,
    expected: u32,
    bits: u32,
    until: Until,
    private: bool,
) -> Result<(), Interrupted> {
    let private_flag = if private { libc::FUTEX_PRIVATE_FLAG } else { 0 };
    let (ts, realtime) = match &until {
        Until::Forever => (std::ptr::null(), 0),
        Until::Monotonic(ts) => (ts as *const libc::timespec, 0),
        Until::Realtime(ts) => (ts as *const libc::timespec, libc::FUTEX_CLOCK_REALTIME),
    };
    let op = libc::FUTEX_WAIT_BITSET | private_flag | realtime;
    let r = call.host_with(libc::SYS_futex, [addr, op as u64, expected as u64, ts as u64, 0, bits as u64]);
    match r {
        Ok(_) | Err(Errno::EAGAIN) => Ok(()),
        Err(Errno(libc::ETIMEDOUT)) => Err(Interrupted::TimedOut),
        Err(Errno::EINTR) => Err(Interrupted::Signal { restartable: false }),
        // The kernel restarted the sleep for an SA_RESTART handler, or the
        // signal came before it began: the held signal's flags say which.
        Err(Errno(NOT_RUN)) => {
            let held = call.thread.signals.held.load(std::sync::atomic::Ordering::Acquire) as i32;
            let flags = if held > 0 { crate::process::process().signals.get(held).flags } else { 0 };
            Err(Interrupted::Signal { restartable: flags & libc::SA_RESTART as u64 != 0 })
        }
        // EFAULT for a word that went away: the caller's next look says so.
        Err(_) => Ok(()),
    }
}

/// Wakes up to `n` sleepers on `addr` whose bits meet `bits`; how many.
pub fn wake(addr: u64, n: u32, bits: u32, private: bool) -> u32 {
    let private_flag = if private { libc::FUTEX_PRIVATE_FLAG } else { 0 };
    let op = libc::FUTEX_WAKE_BITSET | private_flag;
    let n = n.min(i32::MAX as u32) as u64;
    // SAFETY: wakes sleepers on a guest address; no memory is touched.
    let r = unsafe { sys::syscall6(libc::SYS_futex as u64, [addr, op as u64, n, 0, 0, bits as u64]) };
    r.max(0) as u32
}

/// Wakes sleepers of either kind of futex: FreeBSD's keys do not tell a
/// private wait from a shared one apart as Linux's do.
pub fn wake_both(addr: u64, n: u32) {
    wake(addr, n, ANYONE, true);
    wake(addr, n, ANYONE, false);
}
