//! struct ucond (sys/umtx.h) {c_has_waiters, c_flags, c_clockid, c_spare}:
//! libthr's condition variables. libthr embeds the structure in its own
//! pthread_cond, so only these words are the kernel's (c_spare is not).
//!
//! c_has_waiters is the futex word: a waiter makes it nonzero before it
//! releases the mutex and sleeps on the value it saw; a signal or a
//! broadcast changes it to another nonzero value before it wakes one or
//! all, so that a waiter between its release and its sleep does not miss
//! it. It goes back to 0 ("nobody waits", which libthr's signal and
//! broadcast read to skip the system call) only when no thread is counted
//! as a waiter (`settle`).

use super::{interrupted, mutex, timespec, OnSignal, USYNC_PROCESS_SHARED};
use crate::bsd::sleep::{self, sleepers, Sleeper, Until, ANYONE};
use crate::call::Call;
use crate::memory::guest::{self, cas_u32, load_u32, update_u32};
use crate::sys::{Errno, SysResult};

// Offsets of c_flags and c_clockid.
const FLAGS: u64 = 4;
const CLOCKID: u64 = 8;

// The flags of UMTX_OP_CV_WAIT.
const CVWAIT_ABSTIME: u32 = 0x2;
const CVWAIT_CLOCKID: u32 = 0x4;

/// FreeBSD's CLOCK_THREAD_CPUTIME_ID: a condition variable's clock is below.
const CLOCK_THREAD_CPUTIME_ID: u32 = 14;

/// UMTX_OP_CV_WAIT(cv, wflags, m, timeout): releases mutex `m` and sleeps
/// until a signal or broadcast of `cv`, or the timeout (a timespec, of the
/// variable's clock with CVWAIT_CLOCKID, else of CLOCK_REALTIME). Never
/// started again after a handler: EINTR (libthr takes the mutex again).
pub fn wait(call: &mut Call, cv: u64, wflags: u32, m: u64, timeout_at: u64) -> SysResult {
    let absolute = wflags & CVWAIT_ABSTIME != 0;
    let timeout = if timeout_at != 0 { Some(timespec(guest::read_val(timeout_at)?, absolute)?) } else { None };
    let clock = if wflags & CVWAIT_CLOCKID != 0 {
        let id = load_u32(cv.wrapping_add(CLOCKID))?;
        if id >= CLOCK_THREAD_CPUTIME_ID {
            return Err(Errno::EINVAL);
        }
        crate::freebsd::time::clock_to_host(id as i32).ok_or(Errno::EINVAL)?
    } else {
        libc::CLOCK_REALTIME
    };
    load_u32(cv.wrapping_add(FLAGS))?;
    let until = timeout.map_or(Until::Forever, |ts| Until::new(ts, clock, absolute));
    let counted = Sleeper::new(cv);
    let seen = match update_u32(cv, |v| (v == 0).then_some(1))? {
        0 => 1,
        v => v,
    };
    let shared = load_u32(cv.wrapping_add(FLAGS))? & USYNC_PROCESS_SHARED != 0;
    let result = match mutex::unlock(call, m, false) {
        Ok(_) => match sleep::sleep(call, cv, seen, ANYONE, until, false) {
            Ok(()) => Ok(0),
            Err(why) => Err(interrupted(why, OnSignal::Eintr)),
        },
        Err(e) => Err(e),
    };
    drop(counted);
    // The last waiter to leave (woken, timed out, interrupted) clears it.
    settle(cv, shared)?;
    result
}

/// c_has_waiters back to 0 if no thread is counted as a waiter; one that
/// counted itself meanwhile may sleep on the value replaced, so every
/// thread counted then is woken to look again.
fn settle(cv: u64, shared: bool) -> Result<(), Errno> {
    if sleepers(cv, shared) != 0 {
        return Ok(());
    }
    let v = load_u32(cv)?;
    if v != 0 && cas_u32(cv, v, 0)? == v && sleepers(cv, shared) != 0 {
        sleep::wake(cv, u32::MAX, ANYONE, false);
    }
    Ok(())
}

/// The next value of c_has_waiters after `v`: never 0.
fn next(v: u32) -> u32 {
    v.checked_add(1).unwrap_or(1)
}

/// UMTX_OP_CV_SIGNAL: wakes one waiter.
pub fn signal(cv: u64) -> SysResult {
    wake(cv, 1)
}

/// UMTX_OP_CV_BROADCAST: wakes every waiter.
pub fn broadcast(cv: u64) -> SysResult {
    wake(cv, u32::MAX)
}

/// Wakes `n` waiters: a new value first, then the wake, then back to 0 if
/// nobody is left.
fn wake(cv: u64, n: u32) -> SysResult {
    let shared = load_u32(cv.wrapping_add(FLAGS))? & USYNC_PROCESS_SHARED != 0;
    if update_u32(cv, |v| (v != 0).then(|| next(v)))? == 0 {
        return Ok(0);
    }
    sleep::wake(cv, n, ANYONE, false);
    settle(cv, shared)?;
    Ok(0)
}
