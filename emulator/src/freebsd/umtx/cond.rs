//! struct ucond (sys/umtx.h) {c_has_waiters, c_flags, c_clockid, c_spare}:
//! libthr's condition variables. libthr embeds the structure in its own
//! pthread_cond, so only these words are the kernel's (c_spare is not).
//!
//! c_has_waiters is the futex word: a waiter makes it nonzero before it
//! releases the mutex and sleeps on the value it saw; a signal changes it to
//! another nonzero value before it wakes one, so that a waiter between its
//! release and its sleep does not miss it; a broadcast makes it 0 and wakes
//! all. 0 therefore still means "nobody waits", which libthr's signal and
//! broadcast read to skip the system call.

use super::sleep::{self, sleepers, Sleeper, Until, ANYONE};
use super::{interrupted, mutex, timespec, OnSignal, USYNC_PROCESS_SHARED};
use crate::dispatch::Call;
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
        let id = load_u32(cv + CLOCKID)?;
        if id >= CLOCK_THREAD_CPUTIME_ID {
            return Err(Errno::EINVAL);
        }
        crate::freebsd::time::clock_to_host(id as i32).ok_or(Errno::EINVAL)?
    } else {
        libc::CLOCK_REALTIME
    };
    load_u32(cv + FLAGS)?;
    let until = timeout.map_or(Until::Forever, |ts| Until::new(ts, clock, absolute));
    let _counted = Sleeper::new(cv);
    let seen = match update_u32(cv, |v| (v == 0).then_some(1))? {
        0 => 1,
        v => v,
    };
    mutex::unlock(call, m, false)?;
    match sleep::sleep(call, cv, seen, ANYONE, until, false) {
        Ok(()) => Ok(0),
        Err(why) => Err(interrupted(why, OnSignal::Eintr)),
    }
}

/// The next value of c_has_waiters after `v`: never 0.
fn next(v: u32) -> u32 {
    v.checked_add(1).unwrap_or(1)
}

/// UMTX_OP_CV_SIGNAL: wakes one waiter.
pub fn signal(cv: u64) -> SysResult {
    let shared = load_u32(cv + FLAGS)? & USYNC_PROCESS_SHARED != 0;
    let mut now = 0;
    let before = update_u32(cv, |v| {
        now = next(v);
        (v != 0).then_some(now)
    })?;
    if before == 0 {
        return Ok(0);
    }
    sleep::wake(cv, 1, ANYONE, false);
    // Nobody left: back to 0, so that libthr skips the next call. A waiter
    // counted by then may sleep on the value replaced: it looks again.
    if sleepers(cv, shared) == 0 && cas_u32(cv, now, 0)? == now && sleepers(cv, shared) != 0 {
        sleep::wake(cv, u32::MAX, ANYONE, false);
    }
    Ok(0)
}

/// UMTX_OP_CV_BROADCAST: wakes every waiter.
pub fn broadcast(cv: u64) -> SysResult {
    load_u32(cv + FLAGS)?;
    if update_u32(cv, |v| (v != 0).then_some(0))? != 0 {
        sleep::wake(cv, u32::MAX, ANYONE, false);
    }
    Ok(0)
}
