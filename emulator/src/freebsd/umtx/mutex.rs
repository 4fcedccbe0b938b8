//! struct umutex (sys/umtx.h): libthr's pthread mutexes, as kern_umtx.c's
//! do_lock_normal, do_lock_pi, do_lock_pp, do_unlock_*, do_wake_umutex,
//! do_wake2_umutex and do_set_ceiling treat them; and the robust lists a
//! thread leaves behind.
//!
//! The owner word holds the owner's thread id, with the contested bit when
//! someone sleeps (or slept) on it, so that its release comes here. Priority
//! inheritance and protection are kept as states (a priority-protected
//! mutex is "contested" even when free), not as scheduling priorities:
//! emu changes no thread's priority.

use super::{interrupted, owner_id, until, OnSignal, Timeout, USYNC_PROCESS_SHARED};
use crate::bsd::sleep::{self, sleepers, Sleeper, Until, ANYONE};
use crate::call::Call;
use crate::memory::guest::{self, cas_u32, load_u32, update_u32};
use crate::sys::{Errno, SysResult};
use crate::threads::ThreadState;

const UNOWNED: u32 = 0;
const CONTESTED: u32 = 0x8000_0000;
/// A robust mutex whose owner died holding it, and one declared lost.
const RB_OWNERDEAD: u32 = CONTESTED | 0x10;
const RB_NOTRECOV: u32 = CONTESTED | 0x11;

// m_flags.
const PRIO_INHERIT: u32 = 0x4;
const PRIO_PROTECT: u32 = 0x8;
const ROBUST: u32 = 0x10;
const NONCONSISTENT: u32 = 0x20;

/// The highest real-time priority, the bound of a ceiling.
const RTP_PRIO_MAX: u32 = 31;

// Offsets in struct umutex {m_owner, m_flags, m_ceilings[2], m_rb_lnk, ...}.
const FLAGS: u64 = 4;
const CEILING: u64 = 8;
const RESTORE_CEILING: u64 = 12;
const RB_LNK: u64 = 16;

/// UMTX_OP_MUTEX_LOCK, UMTX_OP_MUTEX_TRYLOCK and UMTX_OP_MUTEX_WAIT (which
/// returns once the mutex is free, without taking it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Lock,
    Try,
    Wait,
}

/// m_flags, refused (EINVAL) when they ask for both priority protocols.
fn flags_of(m: u64) -> Result<u32, Errno> {
    let flags = load_u32(m.wrapping_add(FLAGS))?;
    if flags & (PRIO_INHERIT | PRIO_PROTECT) == PRIO_INHERIT | PRIO_PROTECT {
        return Err(Errno::EINVAL);
    }
    Ok(flags)
}

pub fn lock(call: &mut Call, m: u64, mode: Mode, timeout: Option<Timeout>) -> SysResult {
    let flags = flags_of(m)?;
    let on_signal = match (timeout.is_some(), mode) {
        (true, _) => OnSignal::Eintr,
        (false, Mode::Wait) => OnSignal::AsHandlerSays,
        (false, _) => OnSignal::Restart,
    };
    let until = until(timeout);
    if flags & PRIO_PROTECT != 0 {
        lock_protected(call, m, mode, until, on_signal)
    } else {
        lock_normal(call, m, flags, mode, until, on_signal)
    }
}

/// A normal or priority-inheriting mutex: free is UNOWNED (or CONTESTED,
/// left by a release that knew of other sleepers).
fn lock_normal(call: &mut Call, m: u64, flags: u32, mode: Mode, until: Until, on_signal: OnSignal) -> SysResult {
    let id = owner_id(call);
    let inheriting = flags & PRIO_INHERIT != 0;
    // The kernel's do_lock_pi takes a free mutex in every mode and only
    // sleeps for a plain lock.
    let waits_only = mode == Mode::Wait && !inheriting;
    let mut pending = None;
    loop {
        let mut owner = load_u32(m)?;
        if waits_only {
            if matches!(owner, UNOWNED | CONTESTED | RB_OWNERDEAD | RB_NOTRECOV) {
                return Ok(0);
            }
        } else {
            if owner == RB_OWNERDEAD {
                if cas_u32(m, RB_OWNERDEAD, id | CONTESTED)? == RB_OWNERDEAD {
                    return Err(Errno(libc::EOWNERDEAD));
                }
                continue;
            }
            if owner == RB_NOTRECOV {
                return Err(Errno(libc::ENOTRECOVERABLE));
            }
            owner = cas_u32(m, UNOWNED, id)?;
            if owner == UNOWNED {
                return Ok(0);
            }
            if owner == CONTESTED {
                if cas_u32(m, CONTESTED, id | CONTESTED)? == CONTESTED {
                    return Ok(0);
                }
                continue;
            }
        }
        if inheriting && owner & !CONTESTED == id {
            return Err(Errno(libc::EDEADLK));
        }
        if mode == Mode::Try || (mode == Mode::Wait && inheriting) {
            return Err(Errno(libc::EBUSY));
        }
        // A sleep a signal or the timeout ended: one more try, then this.
        if let Some(e) = pending {
            return Err(e);
        }
        let _counted = Sleeper::new(m);
        // The contested bit makes the owner's release come to the kernel.
        if cas_u32(m, owner, owner | CONTESTED)? != owner {
            continue;
        }
        if let Err(why) = sleep::sleep(call, m, owner | CONTESTED, ANYONE, until, false) {
            pending = Some(interrupted(why, on_signal));
        }
    }
}

/// A priority-protected mutex: free is CONTESTED, so that every lock and
/// unlock comes here; the ceiling must be a real-time priority.
fn lock_protected(call: &mut Call, m: u64, mode: Mode, until: Until, on_signal: OnSignal) -> SysResult {
    let id = owner_id(call);
    if load_u32(m.wrapping_add(CEILING))? > RTP_PRIO_MAX {
        return Err(Errno::EINVAL);
    }
    let mut pending = None;
    loop {
        let owner = cas_u32(m, CONTESTED, id | CONTESTED)?;
        if owner == CONTESTED {
            return Ok(0);
        }
        if owner == RB_OWNERDEAD {
            if cas_u32(m, RB_OWNERDEAD, id | CONTESTED)? == RB_OWNERDEAD {
                return Err(Errno(libc::EOWNERDEAD));
            }
            continue;
        }
        if mode != Mode::Lock {
            return Err(Errno(libc::EBUSY));
        }
        if owner == RB_NOTRECOV {
            return Err(Errno(libc::ENOTRECOVERABLE));
        }
        if let Some(e) = pending {
            return Err(e);
        }
        let _counted = Sleeper::new(m);
        if let Err(why) = sleep::sleep(call, m, owner, ANYONE, until, false) {
            pending = Some(interrupted(why, on_signal));
        }
    }
}

/// UMTX_OP_MUTEX_UNLOCK, and a dead thread's robust mutex (`owner_died`:
/// it is left RB_OWNERDEAD for the next locker to hear of).
pub fn unlock(call: &mut Call, m: u64, owner_died: bool) -> SysResult {
    release(m, owner_id(call), owner_died)
}

fn release(m: u64, id: u32, owner_died: bool) -> SysResult {
    let flags = flags_of(m)?;
    let shared = flags & USYNC_PROCESS_SHARED != 0;
    // kern_umtx.c's umtx_unlock_val.
    let free = if owner_died {
        RB_OWNERDEAD
    } else if flags & NONCONSISTENT != 0 {
        RB_NOTRECOV
    } else if flags & PRIO_PROTECT != 0 {
        CONTESTED
    } else {
        UNOWNED
    };
    if flags & PRIO_PROTECT != 0 {
        let owner = load_u32(m)?;
        if owner & !CONTESTED != id {
            return Err(Errno::EPERM);
        }
        let restore = load_u32(m.wrapping_add(RESTORE_CEILING))?;
        if restore != u32::MAX && restore > RTP_PRIO_MAX {
            return Err(Errno::EINVAL);
        }
        update_u32(m, |_| Some(free))?;
        sleep::wake(m, 1, ANYONE, false);
        return Ok(0);
    }
    loop {
        let owner = load_u32(m)?;
        if owner & !CONTESTED != id {
            return Err(Errno::EPERM);
        }
        if owner & CONTESTED == 0 {
            // Nobody sleeps: released as user space would have done.
            if cas_u32(m, owner, free)? == owner {
                return Ok(0);
            }
            continue;
        }
        // Several sleepers: the next owner's release must come here too.
        let free = if sleepers(m, shared) > 1 { free | CONTESTED } else { free };
        let found = cas_u32(m, owner, free)?;
        if found != owner {
            // Someone else's value: the kernel still wakes one first.
            sleep::wake(m, 1, ANYONE, false);
            return Err(Errno::EINVAL);
        }
        wake_after_release(m, free, shared);
        return Ok(0);
    }
}

/// Wakes the sleepers of a mutex just released as `free`. With the
/// contested bit kept one is enough, as in the kernel (the next release
/// comes here again); without it, every thread counted as a sleeper now
/// (the count is read after the release) must look at the word again.
fn wake_after_release(m: u64, free: u32, shared: bool) {
    let n = if free & CONTESTED != 0 { 1 } else { sleepers(m, shared).max(1) };
    sleep::wake(m, n, ANYONE, false);
}

/// UMTX_OP_MUTEX_WAKE: the old wake of a mutex released in user space
/// (do_wake_umutex).
pub fn wake(m: u64) -> SysResult {
    let owner = load_u32(m)?;
    let dead = matches!(owner, RB_OWNERDEAD | RB_NOTRECOV);
    if owner & !CONTESTED != 0 && !dead {
        return Ok(0);
    }
    let shared = load_u32(m.wrapping_add(FLAGS))? & USYNC_PROCESS_SHARED != 0;
    let count = sleepers(m, shared);
    if count <= 1 && !dead && cas_u32(m, CONTESTED, UNOWNED)? & !CONTESTED != 0 {
        // Taken meanwhile: its owner's release wakes.
        return Ok(0);
    }
    if count != 0 {
        sleep::wake(m, 1, ANYONE, false);
    }
    Ok(0)
}

/// UMTX_OP_MUTEX_WAKE2 (`flags`: the mutex's m_flags): after user space
/// released a contested mutex, puts the contested bit back if others still
/// sleep, and wakes one if the mutex is free.
pub fn wake2(m: u64, flags: u32) -> SysResult {
    if flags & (PRIO_INHERIT | PRIO_PROTECT) == PRIO_INHERIT | PRIO_PROTECT {
        return Err(Errno::EINVAL);
    }
    let shared = flags & USYNC_PROCESS_SHARED != 0;
    // Read after user space's release: a thread sleeping on the word it
    // replaced counted itself before.
    let count = sleepers(m, shared);
    let owner = match count {
        0 => load_u32(m),
        1 => update_u32(m, |o| (o & !CONTESTED != 0 && o & CONTESTED == 0).then_some(o | CONTESTED)),
        _ => update_u32(m, |o| (o & CONTESTED == 0).then_some(o | CONTESTED)),
    };
    match owner {
        Err(e) => {
            sleep::wake(m, u32::MAX, ANYONE, false);
            Err(e)
        }
        Ok(owner) => {
            if count != 0 && (owner & !CONTESTED == 0 || owner == RB_OWNERDEAD || owner == RB_NOTRECOV) {
                sleep::wake(m, 1, ANYONE, false);
            }
            Ok(0)
        }
    }
}

/// UMTX_OP_SET_CEILING(m, ceiling, old): the ceiling of a priority-
/// protected mutex, changed while holding it (or taking it for a moment).
pub fn set_ceiling(call: &mut Call, m: u64, ceiling: u64, old: u64) -> SysResult {
    if flags_of(m)? & PRIO_PROTECT == 0 || ceiling > RTP_PRIO_MAX as u64 {
        return Err(Errno::EINVAL);
    }
    let id = owner_id(call);
    let mut pending = None;
    let saved = loop {
        let saved = load_u32(m.wrapping_add(CEILING))?;
        let owner = cas_u32(m, CONTESTED, id | CONTESTED)?;
        if owner == CONTESTED {
            guest::write_val(m.wrapping_add(CEILING), &(ceiling as u32))?;
            update_u32(m, |_| Some(CONTESTED))?;
            break saved;
        }
        if owner == RB_OWNERDEAD {
            return Err(Errno(libc::EOWNERDEAD));
        }
        if owner == RB_NOTRECOV {
            return Err(Errno(libc::ENOTRECOVERABLE));
        }
        if owner & !CONTESTED == id {
            guest::write_val(m.wrapping_add(CEILING), &(ceiling as u32))?;
            break saved;
        }
        // A sleep a signal ended: one more try, then this.
        if let Some(e) = pending {
            return Err(e);
        }
        let _counted = Sleeper::new(m);
        if let Err(why) = sleep::sleep(call, m, owner, ANYONE, Until::Forever, false) {
            pending = Some(interrupted(why, OnSignal::AsHandlerSays));
        }
    };
    sleep::wake(m, u32::MAX, ANYONE, false);
    if old != 0 {
        guest::write_val(old, &saved)?;
    }
    Ok(0)
}

/// struct umtx_robust_lists_params: three addresses.
const ROBUST_PARAMS_SIZE: u64 = 24;
/// The kernel's umtx_max_rb: entries walked per list.
const MAX_ROBUST: usize = 1000;

/// UMTX_OP_ROBUST_LISTS(val: the size, uaddr1: the parameters).
pub fn robust_lists(call: &mut Call, size: u64, params: u64) -> SysResult {
    if size > ROBUST_PARAMS_SIZE {
        return Err(Errno::EINVAL);
    }
    let mut raw = [0u8; ROBUST_PARAMS_SIZE as usize];
    guest::read(params, &mut raw[..size as usize])?;
    let word = |i: usize| u64::from_le_bytes(raw[8 * i..8 * i + 8].try_into().unwrap());
    call.thread.umtx_robust_lists.set([word(0), word(1), word(2)]);
    Ok(0)
}

/// A thread's exit (thr_exit, or exit for the last one): the robust
/// mutexes it still holds are left RB_OWNERDEAD and a sleeper woken, as
/// kern_umtx.c's umtx_thread_cleanup does. Errors end a walk silently.
pub fn thread_exiting(thread: &ThreadState) {
    let [shared_list, private_list, inactive_at] = thread.umtx_robust_lists.get();
    let id = thread.tid.get() as u32;
    let mut inactive = if inactive_at != 0 { guest::read_val::<u64>(inactive_at).unwrap_or(0) } else { 0 };
    release_list(id, shared_list, &mut inactive);
    release_list(id, private_list, &mut inactive);
    if inactive != 0 {
        let _ = release_robust(id, inactive, true);
    }
}

/// One list, from the head pointer at `head`. The mutex `inactive` points
/// at (being locked or unlocked when the thread ended) is not an error if
/// someone else owns it; any other stops the walk.
fn release_list(id: u32, head: u64, inactive: &mut u64) {
    if head == 0 {
        return;
    }
    let Ok(mut m) = guest::read_val::<u64>(head) else { return };
    for _ in 0..MAX_ROBUST {
        if m == 0 {
            return;
        }
        let lenient = m == *inactive;
        if lenient {
            *inactive = 0;
        }
        match release_robust(id, m, lenient) {
            Ok(next) => m = next,
            Err(_) => return,
        }
    }
    log::warn!("a robust mutex list of thread {id} is longer than {MAX_ROBUST}: the rest is not released");
}

/// Releases robust mutex `m` if `id` holds it; the next on its list.
fn release_robust(id: u32, m: u64, lenient: bool) -> Result<u64, Errno> {
    let next = guest::read_val::<u64>(m.wrapping_add(RB_LNK))?;
    if load_u32(m.wrapping_add(FLAGS))? & ROBUST == 0 {
        return Err(Errno::EINVAL);
    }
    if load_u32(m)? & !CONTESTED != id {
        return if lenient { Ok(next) } else { Err(Errno::EINVAL) };
    }
    release(m, id, true)?;
    Ok(next)
}
