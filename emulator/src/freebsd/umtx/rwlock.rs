//! struct urwlock (sys/umtx.h) {rw_state, rw_flags, rw_blocked_readers,
//! rw_blocked_writers, ...}: libthr's read-write locks, as kern_umtx.c's
//! do_rw_rdlock, do_rw_wrlock and do_rw_unlock take and release them.
//!
//! rw_state is the futex word; readers and writers sleep on it with
//! different futex bits. The waiters bits are taken away only by whoever
//! finds the lock free with a bit set (a release, or a waiter that gives
//! up), and it then wakes every sleeper of that kind (writers first unless
//! the lock prefers readers; readers too if no writer slept). emu does not
//! keep the kernel's rw_blocked_* counts: libthr does not read them.

use super::{interrupted, until, OnSignal, Timeout};
use crate::bsd::sleep::{self, Sleeper, READERS, WRITERS};
use crate::call::Call;
use crate::memory::guest::{cas_u32, load_u32, update_u32};
use crate::sys::{Errno, SysResult};

const WRITE_OWNER: u32 = 0x8000_0000;
const WRITE_WAITERS: u32 = 0x4000_0000;
const READ_WAITERS: u32 = 0x2000_0000;
const MAX_READERS: u32 = 0x1fff_ffff;
/// In rw_flags, or in the flags of UMTX_OP_RW_RDLOCK: waiting writers do
/// not keep new readers out.
const PREFER_READER: u32 = 0x2;

const FLAGS: u64 = 4;

/// UMTX_OP_RW_RDLOCK(rw, flags, size, timeout).
pub fn rdlock(call: &mut Call, rw: u64, fflags: u32, timeout: Option<Timeout>) -> SysResult {
    let flags = load_u32(rw.wrapping_add(FLAGS))?;
    let blocking = if (fflags | flags) & PREFER_READER != 0 { WRITE_OWNER } else { WRITE_OWNER | WRITE_WAITERS };
    let until = until(timeout);
    let mut pending = None;
    loop {
        let mut state = load_u32(rw)?;
        while state & blocking == 0 {
            if state & MAX_READERS == MAX_READERS {
                return Err(Errno::EAGAIN);
            }
            match cas_u32(rw, state, state + 1)? {
                found if found == state => return Ok(0),
                found => state = found,
            }
        }
        if let Some(e) = pending {
            wake_if_free(rw, flags)?;
            return Err(e);
        }
        let _counted = Sleeper::new(rw);
        let state = update_u32(rw, |s| (s & blocking != 0 && s & READ_WAITERS == 0).then_some(s | READ_WAITERS))?;
        if state & blocking == 0 {
            continue;
        }
        if let Err(why) = sleep::sleep(call, rw, state | READ_WAITERS, READERS, until, false) {
            pending = Some(interrupted(why, OnSignal::Eintr));
        }
    }
}

/// UMTX_OP_RW_WRLOCK(rw, 0, size, timeout).
pub fn wrlock(call: &mut Call, rw: u64, timeout: Option<Timeout>) -> SysResult {
    let flags = load_u32(rw.wrapping_add(FLAGS))?;
    let until = until(timeout);
    let held = WRITE_OWNER | MAX_READERS;
    let mut pending = None;
    loop {
        let mut state = load_u32(rw)?;
        while state & held == 0 {
            match cas_u32(rw, state, state | WRITE_OWNER)? {
                found if found == state => return Ok(0),
                found => state = found,
            }
        }
        if let Some(e) = pending {
            writer_gives_up(rw, flags)?;
            return Err(e);
        }
        let _counted = Sleeper::new(rw);
        let state = update_u32(rw, |s| (s & held != 0 && s & WRITE_WAITERS == 0).then_some(s | WRITE_WAITERS))?;
        if state & held == 0 {
            continue;
        }
        if let Err(why) = sleep::sleep(call, rw, state | WRITE_WAITERS, WRITERS, until, false) {
            pending = Some(interrupted(why, OnSignal::Eintr));
        }
    }
}

/// UMTX_OP_RW_UNLOCK: the write owner's, or one reader's; EPERM if the
/// lock is not held.
pub fn unlock(rw: u64) -> SysResult {
    let flags = load_u32(rw.wrapping_add(FLAGS))?;
    let state = load_u32(rw)?;
    let before = if state & WRITE_OWNER != 0 {
        update_u32(rw, |s| (s & WRITE_OWNER != 0).then_some(s & !WRITE_OWNER))?
    } else {
        update_u32(rw, |s| (s & WRITE_OWNER == 0 && s & MAX_READERS != 0).then(|| s - 1))?
    };
    let released = if state & WRITE_OWNER != 0 { before & WRITE_OWNER != 0 } else { before & MAX_READERS != 0 };
    if !released {
        return Err(Errno::EPERM);
    }
    wake_if_free(rw, flags)?;
    Ok(0)
}

/// A writer that waited gives up (timeout, signal): its write-waiters bit
/// must not keep readers out. Unless the lock is write-owned, the bit goes
/// and every sleeper is woken (a writer still waiting sets it again), as
/// FreeBSD's last waiting writer wakes the readers.
fn writer_gives_up(rw: u64, flags: u32) -> Result<(), Errno> {
    let before = update_u32(rw, |s| (s & WRITE_WAITERS != 0 && s & WRITE_OWNER == 0).then_some(s & !WRITE_WAITERS))?;
    if before & WRITE_WAITERS != 0 && before & WRITE_OWNER == 0 {
        sleep::wake(rw, u32::MAX, WRITERS, false);
        sleep::wake(rw, u32::MAX, READERS, false);
    }
    wake_if_free(rw, flags)
}

/// A free lock with waiters bits: takes a bit away and wakes its sleepers,
/// writers first (readers first for a lock that prefers them); the other
/// kind too if none of the first slept.
fn wake_if_free(rw: u64, flags: u32) -> Result<(), Errno> {
    let state = load_u32(rw)?;
    if state & (WRITE_OWNER | MAX_READERS) != 0 || state & (WRITE_WAITERS | READ_WAITERS) == 0 {
        return Ok(());
    }
    let writers = (WRITE_WAITERS, WRITERS);
    let readers = (READ_WAITERS, READERS);
    let order = if flags & PREFER_READER != 0 { [readers, writers] } else { [writers, readers] };
    for (bit, who) in order {
        let before = update_u32(rw, |s| (s & bit != 0).then_some(s & !bit))?;
        if before & bit != 0 && sleep::wake(rw, u32::MAX, who, false) > 0 {
            break;
        }
    }
    Ok(())
}
