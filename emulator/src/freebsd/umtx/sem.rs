//! Semaphores: struct _usem2 {_count, _flags} (the count with a waiters
//! bit; FreeBSD 10 and later) and the older struct _usem {_has_waiters,
//! _count, _flags}. A wait returns once the count is not 0 (the caller
//! takes it in user space); a wake wakes one sleeper, and with the last
//! one takes the waiters bit away (see `sleep` for why it then wakes every
//! thread counted). Every post changes the word the sleepers sleep on, so
//! a thread about to sleep when one comes does not sleep.

use super::{interrupted, umtx_time, until, OnSignal, Timeout, USYNC_PROCESS_SHARED};
use crate::bsd::sleep::{self, sleepers, Sleeper, ANYONE};
use crate::call::Call;
use crate::memory::guest::{self, load_u32, update_u32};
use crate::sys::{Errno, SysResult};

const HAS_WAITERS: u32 = 0x8000_0000;
/// sizeof(struct _umtx_time): a relative timeout's remaining time follows it.
const UMTX_TIME_SIZE: u64 = 24;

/// UMTX_OP_SEM2_WAIT(sem, 0, size, timeout). A relative timeout is not
/// restarted after a handler: EINTR, and the time left is written after
/// the `_umtx_time` if the caller's size leaves room for a timespec.
pub fn sem2_wait(call: &mut Call, sem: u64, size: u64, at: u64) -> SysResult {
    load_u32(sem.wrapping_add(4))?;
    let timeout = umtx_time(size, at)?;
    let relative = timeout.is_some_and(|t| t.relative);
    let on_signal = if relative { OnSignal::Eintr } else { OnSignal::AsHandlerSays };
    let until = until(timeout);
    let _counted = Sleeper::new(sem);
    if update_u32(sem, |c| (c == 0).then_some(HAS_WAITERS))? & !HAS_WAITERS != 0 {
        return Ok(0);
    }
    match sleep::sleep(call, sem, HAS_WAITERS, ANYONE, until, false) {
        Ok(()) => Ok(0),
        Err(why) => {
            let e = interrupted(why, on_signal);
            if e == Errno::EINTR && relative && size >= UMTX_TIME_SIZE + 16 {
                let left = until.remaining();
                guest::write_val(at + UMTX_TIME_SIZE, &[left.tv_sec, left.tv_nsec])?;
            }
            Err(e)
        }
    }
}

/// UMTX_OP_SEM2_WAKE, after user space raised the count.
pub fn sem2_wake(sem: u64) -> SysResult {
    let shared = load_u32(sem.wrapping_add(4))? & USYNC_PROCESS_SHARED != 0;
    match sleepers(sem, shared) {
        0 => {}
        1 => {
            // The last sleeper: the bit goes (a change of the futex word, so
            // a thread about to sleep looks again), and every thread counted
            // by then is woken.
            update_u32(sem, |c| (c & HAS_WAITERS != 0).then_some(c & !HAS_WAITERS))?;
            sleep::wake(sem, sleepers(sem, shared).max(1), ANYONE, false);
        }
        _ => {
            sleep::wake(sem, 1, ANYONE, false);
        }
    }
    Ok(0)
}

// struct _usem: the futex word is _count, which every post changes. The
// waiters word is set by a wait and never cleared here: with no word that
// both changes, emu could not clear it without a lost wakeup, and a set
// word only makes a post make this call.
const OLD_COUNT: u64 = 4;
const OLD_FLAGS: u64 = 8;

/// UMTX_OP_SEM_WAIT(sem, 0, size, timeout): the semaphore of FreeBSD 9's
/// libc.
pub fn sem_wait(call: &mut Call, sem: u64, timeout: Option<Timeout>) -> SysResult {
    load_u32(sem.wrapping_add(OLD_FLAGS))?;
    let relative = timeout.is_some_and(|t| t.relative);
    let on_signal = if relative { OnSignal::Eintr } else { OnSignal::AsHandlerSays };
    let _counted = Sleeper::new(sem.wrapping_add(OLD_COUNT));
    update_u32(sem, |w| (w == 0).then_some(1))?;
    if load_u32(sem.wrapping_add(OLD_COUNT))? != 0 {
        return Ok(0);
    }
    match sleep::sleep(call, sem.wrapping_add(OLD_COUNT), 0, ANYONE, until(timeout), false) {
        Ok(()) => Ok(0),
        Err(why) => Err(interrupted(why, on_signal)),
    }
}

/// UMTX_OP_SEM_WAKE.
pub fn sem_wake(sem: u64) -> SysResult {
    let shared = load_u32(sem.wrapping_add(OLD_FLAGS))? & USYNC_PROCESS_SHARED != 0;
    if sleepers(sem.wrapping_add(OLD_COUNT), shared) != 0 {
        sleep::wake(sem.wrapping_add(OLD_COUNT), 1, ANYONE, false);
    }
    Ok(0)
}
