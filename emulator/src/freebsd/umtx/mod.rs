//! `_umtx_op(obj, op, val, uaddr1, uaddr2)`: FreeBSD's one system call for
//! user-space synchronisation, on Linux futexes.
//!
//! Each operation follows the algorithm of FreeBSD's kern_umtx.c on the
//! guest's own words (the same compare-and-swaps, the same waiters bits),
//! so that libthr's user-space fast paths, which change those words without
//! the kernel, meet the state they expect. What differs is the sleeping:
//! see `sleep` for how a futex stands in for the kernel's umtx queues.
//!
//! * `mutex`: struct umutex (normal, priority-inheriting, priority-
//!   protected, robust), and the robust lists a thread leaves at its exit;
//! * `cond`: struct ucond; `rwlock`: struct urwlock; `sem`: struct _usem2
//!   and the older struct _usem;
//! * the plain waits and wakes on a word (Go's runtime uses only these).
//!
//! Not carried out: UMTX_OP_SHM (process-shared objects of libthr's
//! pthread_*_setpshared(PTHREAD_PROCESS_SHARED), which need keys that name
//! a page across processes): EOPNOTSUPP, reported once.

mod cond;
mod mutex;
mod rwlock;
mod sem;
use crate::bsd::sleep;

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

use crate::call::Call;
use crate::memory::guest;
use crate::signals::NOT_RUN;
use crate::sys::{Errno, SysResult};
use sleep::{Interrupted, Until};

pub use mutex::thread_exiting;
pub use sleep::forget_sleepers;

/// Wakes every thread waiting on the word at `addr` (thr_exit's state word).
pub fn wake_all(addr: u64) {
    sleep::wake_both(addr, u32::MAX);
}

const UMTX_OP_WAIT: u32 = 2;
const UMTX_OP_WAKE: u32 = 3;
const UMTX_OP_MUTEX_TRYLOCK: u32 = 4;
const UMTX_OP_MUTEX_LOCK: u32 = 5;
const UMTX_OP_MUTEX_UNLOCK: u32 = 6;
const UMTX_OP_SET_CEILING: u32 = 7;
const UMTX_OP_CV_WAIT: u32 = 8;
const UMTX_OP_CV_SIGNAL: u32 = 9;
const UMTX_OP_CV_BROADCAST: u32 = 10;
const UMTX_OP_WAIT_UINT: u32 = 11;
const UMTX_OP_RW_RDLOCK: u32 = 12;
const UMTX_OP_RW_WRLOCK: u32 = 13;
const UMTX_OP_RW_UNLOCK: u32 = 14;
const UMTX_OP_WAIT_UINT_PRIVATE: u32 = 15;
const UMTX_OP_WAKE_PRIVATE: u32 = 16;
const UMTX_OP_MUTEX_WAIT: u32 = 17;
const UMTX_OP_MUTEX_WAKE: u32 = 18;
const UMTX_OP_SEM_WAIT: u32 = 19;
const UMTX_OP_SEM_WAKE: u32 = 20;
const UMTX_OP_NWAKE_PRIVATE: u32 = 21;
const UMTX_OP_MUTEX_WAKE2: u32 = 22;
const UMTX_OP_SEM2_WAIT: u32 = 23;
const UMTX_OP_SEM2_WAKE: u32 = 24;
const UMTX_OP_SHM: u32 = 25;
const UMTX_OP_ROBUST_LISTS: u32 = 26;
const UMTX_OP_GET_MIN_TIMEOUT: u32 = 27;
const UMTX_OP_SET_MIN_TIMEOUT: u32 = 28;
/// Flags or-ed into the operation by 32-bit callers.
const UMTX_OP_FLAGS: u32 = 0xc000_0000;

/// `_umtx_time._flags`: the timeout is a time of its clock.
const UMTX_ABSTIME: u32 = 1;

/// The flag of every object's flags word: shared between processes.
const USYNC_PROCESS_SHARED: u32 = 1;

/// The process's minimal timeout (UMTX_OP_SET_MIN_TIMEOUT), nanoseconds.
static MIN_TIMEOUT: AtomicI64 = AtomicI64::new(0);

/// The caller as a lock's owner: FreeBSD's thread id, which emu presents as
/// the Linux tid (so tids 16 and 17 with the contested bit would read as the
/// robust markers; a Linux tid that small exists only in a pid namespace).
fn owner_id(call: &Call) -> u32 {
    call.thread.tid.get() as u32
}

/// What FreeBSD does with an operation's sleep that a caught signal ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnSignal {
    /// Starts it again whatever the handler (a mutex lock without timeout).
    Restart,
    /// Starts it again after a handler with SA_RESTART; EINTR otherwise.
    AsHandlerSays,
    /// EINTR (waits on a word, condition variables, rwlocks, timed calls).
    Eintr,
}

/// The errno of an interrupted sleep. `Errno(NOT_RUN)` makes the dispatcher
/// run the guest's handler and then the call again.
fn interrupted(why: Interrupted, on_signal: OnSignal) -> Errno {
    match why {
        Interrupted::TimedOut => Errno(libc::ETIMEDOUT),
        Interrupted::Signal { restartable } => match on_signal {
            OnSignal::Restart => Errno(NOT_RUN),
            OnSignal::AsHandlerSays if restartable => Errno(NOT_RUN),
            _ => Errno::EINTR,
        },
    }
}

/// A timeout given as a pointer `at` and the size of what it points at
/// (`uaddr2` and `uaddr1` of most operations): a relative timespec, or a
/// `struct _umtx_time` {timespec, flags, clockid} when larger. None for a
/// null pointer.
fn umtx_time(size: u64, at: u64) -> Result<Option<Timeout>, Errno> {
    if at == 0 {
        return Ok(None);
    }
    let (ts, flags, clock) = if size <= 16 {
        (guest::read_val::<[i64; 2]>(at)?, 0, 0)
    } else {
        let raw: [u64; 3] = guest::read_val(at)?;
        ([raw[0] as i64, raw[1] as i64], raw[2] as u32, (raw[2] >> 32) as u32)
    };
    let absolute = flags & UMTX_ABSTIME != 0;
    let clock = super::time::clock_to_host(clock as i32).ok_or(Errno::EINVAL)?;
    Ok(Some(Timeout { until: Until::new(timespec(ts, absolute)?, clock, absolute), relative: !absolute }))
}

/// A guest timespec, checked as FreeBSD's umtx_copyin_timeout does, and a
/// relative one raised to the process's minimal timeout.
fn timespec(ts: [i64; 2], absolute: bool) -> Result<libc::timespec, Errno> {
    if ts[0] < 0 || !(0..1_000_000_000).contains(&ts[1]) {
        return Err(Errno::EINVAL);
    }
    let min = MIN_TIMEOUT.load(Relaxed);
    let ns = ts[0] as i128 * 1_000_000_000 + ts[1] as i128;
    if !absolute && ns < min as i128 {
        return Ok(libc::timespec { tv_sec: min / 1_000_000_000, tv_nsec: min % 1_000_000_000 });
    }
    Ok(libc::timespec { tv_sec: ts[0], tv_nsec: ts[1] })
}

/// An operation's timeout: when its sleeps end, and whether the guest gave
/// it relative (FreeBSD does not restart those after a handler).
#[derive(Clone, Copy)]
struct Timeout {
    until: Until,
    relative: bool,
}

fn until(t: Option<Timeout>) -> Until {
    t.map_or(Until::Forever, |t| t.until)
}

/// The waits on a word: while the word at `obj` (a long for UMTX_OP_WAIT,
/// an unsigned int otherwise) holds `val`. A wake or a changed word is
/// success; a signal is EINTR, as FreeBSD's do_wait says.
fn wait_on_word(call: &mut Call, obj: u64, val: u64, op: u32, timeout: Option<Timeout>) -> SysResult {
    if obj % 4 != 0 {
        return Err(Errno::EFAULT);
    }
    // An unsigned int is compared whole with the long `val`, as FreeBSD's
    // do_wait does.
    let current = if op == UMTX_OP_WAIT { guest::read_val::<u64>(obj)? } else { guest::load_u32(obj)? as u64 };
    if current != val {
        return Ok(0);
    }
    // For a long, the futex compares its low half: a wake that comes
    // between the comparison above and the sleep, after a change of the
    // high half only, is missed (FreeBSD queues the waiter first).
    let private = op == UMTX_OP_WAIT_UINT_PRIVATE;
    match sleep::sleep(call, obj, val as u32, sleep::ANYONE, until(timeout), private) {
        Ok(()) => Ok(0),
        Err(why) => Err(interrupted(why, OnSignal::Eintr)),
    }
}

/// _umtx_op(obj, op, val, uaddr1, uaddr2).
pub fn umtx_op(call: &mut Call) -> SysResult {
    let [obj, op, val, uaddr1, uaddr2, ..] = call.args;
    let op = op as u32 & !UMTX_OP_FLAGS;
    match op {
        UMTX_OP_WAIT | UMTX_OP_WAIT_UINT | UMTX_OP_WAIT_UINT_PRIVATE => {
            let timeout = umtx_time(uaddr1, uaddr2)?;
            wait_on_word(call, obj, val, op, timeout)
        }
        UMTX_OP_WAKE | UMTX_OP_WAKE_PRIVATE => {
            sleep::wake_both(obj, val.min(i32::MAX as u64) as u32);
            Ok(0)
        }
        UMTX_OP_NWAKE_PRIVATE => {
            // obj: an array of `val` (an int) addresses, each woken completely.
            for i in 0..(val as i32).max(0) as u64 {
                let addr: u64 = guest::read_val(obj.wrapping_add(8 * i))?;
                sleep::wake_both(addr, i32::MAX as u32);
            }
            Ok(0)
        }
        UMTX_OP_MUTEX_LOCK => mutex::lock(call, obj, mutex::Mode::Lock, umtx_time(uaddr1, uaddr2)?),
        UMTX_OP_MUTEX_TRYLOCK => mutex::lock(call, obj, mutex::Mode::Try, None),
        UMTX_OP_MUTEX_WAIT => mutex::lock(call, obj, mutex::Mode::Wait, umtx_time(uaddr1, uaddr2)?),
        UMTX_OP_MUTEX_UNLOCK => mutex::unlock(call, obj, false),
        UMTX_OP_MUTEX_WAKE => mutex::wake(obj),
        UMTX_OP_MUTEX_WAKE2 => mutex::wake2(obj, val as u32),
        UMTX_OP_SET_CEILING => mutex::set_ceiling(call, obj, val, uaddr1),
        UMTX_OP_CV_WAIT => cond::wait(call, obj, val as u32, uaddr1, uaddr2),
        UMTX_OP_CV_SIGNAL => cond::signal(obj),
        UMTX_OP_CV_BROADCAST => cond::broadcast(obj),
        UMTX_OP_RW_RDLOCK => rwlock::rdlock(call, obj, val as u32, umtx_time(uaddr1, uaddr2)?),
        UMTX_OP_RW_WRLOCK => rwlock::wrlock(call, obj, umtx_time(uaddr1, uaddr2)?),
        UMTX_OP_RW_UNLOCK => rwlock::unlock(obj),
        UMTX_OP_SEM2_WAIT => sem::sem2_wait(call, obj, uaddr1, uaddr2),
        UMTX_OP_SEM2_WAKE => sem::sem2_wake(obj),
        UMTX_OP_SEM_WAIT => sem::sem_wait(call, obj, umtx_time(uaddr1, uaddr2)?),
        UMTX_OP_SEM_WAKE => sem::sem_wake(obj),
        UMTX_OP_ROBUST_LISTS => mutex::robust_lists(call, val, uaddr1),
        UMTX_OP_GET_MIN_TIMEOUT => guest::write_val(uaddr1, &MIN_TIMEOUT.load(Relaxed)).map(|_| 0),
        UMTX_OP_SET_MIN_TIMEOUT => {
            if (val as i64) < 0 {
                return Err(Errno::EINVAL);
            }
            MIN_TIMEOUT.store(val as i64, Relaxed);
            Ok(0)
        }
        UMTX_OP_SHM => {
            static REPORTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
            if !REPORTED.swap(true, Relaxed) {
                log::warn!("_umtx_op UMTX_OP_SHM (process-shared pthread objects) is not carried out: EOPNOTSUPP");
            }
            Err(Errno::ENOTSUP)
        }
        // The old struct umtx lock and unlock of FreeBSD 9's libthr (a long
        // owner word), which a kernel without COMPAT_FREEBSD10 refuses so.
        0 | 1 => Err(Errno::ENOTSUP),
        // Past the kernel's table (every number below it is matched above).
        _ => Err(Errno::EINVAL),
    }
}
