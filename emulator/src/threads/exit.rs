//! How guest threads end, and with them the process.
//!
//! * A thread's `exit` ends that thread only. A thread emu started goes
//!   back to its host thread's function (`emu_leave_thread`), which zeroes
//!   and wakes the guest's `clear_child_tid`, releases the guest's robust
//!   futexes and gives the region back, off the region's stack. The
//!   process's first thread ends with a raw `exit`, leaving the process
//!   to its other threads, as natively.
//! * The last thread's `exit` ends the process, with the status the kernel
//!   would give: the first thread's exit code if it exited before.
//! * `exit_group` (or a fatal signal) ends the process at once; the trace's
//!   last line and the statistics are written once, whichever thread ends it.

use super::ThreadState;
use crate::memory::guest;
use crate::sys;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

/// The guest's threads as a group.
pub struct ThreadGroup {
    /// Guest threads that have not exited (or are being started).
    live: AtomicUsize,
    /// The first thread's exit code, once it has exited (else `NONE`).
    first_exit: AtomicI32,
    /// Whether the end of the process has been reported.
    reported: AtomicBool,
}

const NONE: i32 = i32::MIN;

impl ThreadGroup {
    /// A process of one thread.
    pub fn new() -> Self {
        ThreadGroup { live: AtomicUsize::new(1), first_exit: AtomicI32::new(NONE), reported: AtomicBool::new(false) }
    }

    pub(super) fn thread_starting(&self) {
        self.live.fetch_add(1, Ordering::AcqRel);
    }

    pub(super) fn thread_gone(&self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
    }

    /// True once: whoever ends the process reports it.
    pub fn first_to_report(&self) -> bool {
        !self.reported.swap(true, Ordering::AcqRel)
    }

    /// In a fork child: the one thread there is.
    pub fn reset_after_fork(&self) {
        self.live.store(1, Ordering::Release);
        self.first_exit.store(NONE, Ordering::Release);
        self.reported.store(false, Ordering::Release);
    }
}

/// Whether the calling thread is the process's only one left.
pub fn is_last_thread() -> bool {
    crate::process::process().group.live.load(Ordering::Acquire) == 1
}

/// exit_group: the whole process ends with `status`.
pub fn exit_group(status: i32) -> ! {
    crate::lifecycle::exit_process(status)
}

/// exit: the calling guest thread ends.
pub fn exit_thread(thread: &'static ThreadState, status: i32) -> ! {
    let group = &crate::process::process().group;
    let first = thread.leave.get().is_none();
    if first {
        group.first_exit.store(status, Ordering::Release);
    }
    if group.live.fetch_sub(1, Ordering::AcqRel) == 1 {
        // The last thread: the process ends, with its first thread's status.
        let first_status = group.first_exit.load(Ordering::Acquire);
        exit_group(if first_status != NONE { first_status } else { status });
    }
    match thread.leave.get() {
        // SAFETY: `leave` is where this thread's host function entered the
        // guest; it returns there, off the region's stack, and cleans up.
        Some(leave) => unsafe { crate::signals::emu_leave_thread(leave.as_ptr().cast(), status) },
        None => {
            crate::hooks::run_thread_destructors();
            // SAFETY: the first thread stays on its region; only the guest's
            // words are cleaned up before the raw exit.
            unsafe { release_guest_words(thread) };
            // SAFETY: ends this thread only; the others go on.
            unsafe { sys::syscall6(libc::SYS_exit as u64, [status as u64, 0, 0, 0, 0, 0]) };
            unreachable!("exit returned")
        }
    }
}

/// The end of a thread emu started, back on its host thread's own stack.
///
/// # Safety
/// `state` is the calling thread's, its guest thread has exited, and the
/// thread runs on its host stack, not the region's.
pub(super) unsafe fn finish(state: &'static ThreadState) {
    // Every signal blocked before the state goes (its handlers find it),
    // but the faults of the guest words' accesses until then: a fault
    // taken while blocked kills the process, where a bad address the guest
    // gave (set_tid_address, set_robust_list) must only be skipped, as the
    // kernel skips it (`touch` and the copies recover from the fault).
    let all = !0u64;
    let faults = crate::signals::bit(libc::SIGSEGV) | crate::signals::bit(libc::SIGBUS);
    let all_but_faults = all & !faults;
    sys::sigprocmask(libc::SIG_SETMASK, all_but_faults);
    // Before the guest's join can return, as natively.
    crate::hooks::run_thread_destructors();
    release_guest_words(state);
    sys::sigprocmask(libc::SIG_SETMASK, all);
    ThreadState::release(state);
}

/// What the kernel does with a dead thread's guest words: its robust
/// futexes are marked OWNER_DIED (and a waiter woken), then its
/// `clear_child_tid` is zeroed and woken (pthread_join waits on it).
unsafe fn release_guest_words(state: &ThreadState) {
    let tid = state.tid.get();
    let (head, len) = state.robust_list.get();
    if head != 0 && len == ROBUST_HEAD_SIZE {
        release_robust_list(head, tid as u32);
    }
    let ctid = state.clear_child_tid.get();
    if ctid != 0 && guest::write_val(ctid, &0u32).is_ok() {
        futex_wake_shared(ctid);
    }
}

/// sizeof(struct robust_list_head): next, futex_offset, list_op_pending.
pub const ROBUST_HEAD_SIZE: u64 = 24;
/// The kernel walks at most this many entries (ROBUST_LIST_LIMIT).
const ROBUST_LIST_LIMIT: usize = 2048;
const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// The kernel's `exit_robust_list`: every futex on the list (and the one
/// pending) that this thread owns is marked OWNER_DIED.
fn release_robust_list(head: u64, tid: u32) {
    let Ok([first, offset, pending]): Result<[u64; 3], _> = guest::read_val(head) else { return };
    // Entries have their lowest bit set for PI futexes; the address is the rest.
    let mut entry = first;
    for _ in 0..ROBUST_LIST_LIMIT {
        if entry & !1 == head {
            break;
        }
        let next = guest::read_val::<u64>(entry & !1);
        if entry & !1 != pending & !1 {
            futex_death((entry & !1).wrapping_add(offset), tid, false);
        }
        let Ok(next) = next else { break };
        entry = next;
    }
    if pending != 0 {
        futex_death((pending & !1).wrapping_add(offset), tid, true);
    }
}

/// The kernel's `handle_futex_death` for one futex word; `pending`: the
/// one the thread was about to take or release.
fn futex_death(word: u64, tid: u32, pending: bool) {
    if word % 4 != 0 || !crate::memory::arena::contains(word, 4) {
        return;
    }
    // Only a word the guest may write (the same check a write would make),
    // then an atomic update, as other threads may hold the lock word.
    if !crate::signals::touch(word, true) {
        return;
    }
    // SAFETY: a mapped, writable, aligned guest word (checked just above),
    // updated atomically.
    let atomic = unsafe { std::sync::atomic::AtomicU32::from_ptr(word as *mut u32) };
    let mut value = atomic.load(Ordering::Acquire);
    // A lock the thread was about to take: a waiter may need to be woken.
    if pending && value == 0 {
        futex_wake_shared(word);
        return;
    }
    loop {
        if value & FUTEX_TID_MASK != tid {
            return;
        }
        let dead = (value & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
        match atomic.compare_exchange(value, dead, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(now) => value = now,
        }
    }
    if value & FUTEX_WAITERS != 0 {
        futex_wake_shared(word);
    }
}

/// FUTEX_WAKE of one waiter, not private: as the kernel wakes a
/// `clear_child_tid` (a waiter may use either kind).
fn futex_wake_shared(word: u64) {
    // SAFETY: a wake-up changes no memory.
    unsafe { sys::syscall6(libc::SYS_futex as u64, [word, libc::FUTEX_WAKE as u64, 1, 0, 0, 0]) };
}
