//! FreeBSD's clocks: their ids (CLOCK_MONOTONIC is 4, and FreeBSD has
//! precise, fast and uptime variants) as the host's.

use crate::call::Call;
use crate::personality::CLOCK_IDS;
use crate::sys::{Errno, SysResult};

/// The host clock a FreeBSD clock id reads, and whether FreeBSD truncates
/// it to whole seconds (CLOCK_SECOND).
fn clock(id: i32) -> Option<(libc::clockid_t, bool)> {
    Some(match id {
        0 | 9 => (libc::CLOCK_REALTIME, false),      // REALTIME, REALTIME_PRECISE
        10 => (libc::CLOCK_REALTIME_COARSE, false),  // REALTIME_FAST
        13 => (libc::CLOCK_REALTIME_COARSE, true),   // SECOND
        4 | 11 => (libc::CLOCK_MONOTONIC, false),    // MONOTONIC, MONOTONIC_PRECISE
        12 => (libc::CLOCK_MONOTONIC_COARSE, false), // MONOTONIC_FAST
        5 | 7 | 8 => (libc::CLOCK_BOOTTIME, false),  // UPTIME, UPTIME_PRECISE, UPTIME_FAST
        1 | 2 | 15 => (libc::CLOCK_PROCESS_CPUTIME_ID, false), // VIRTUAL, PROF, PROCESS_CPUTIME_ID
        14 => (libc::CLOCK_THREAD_CPUTIME_ID, false), // THREAD_CPUTIME_ID
        _ => return None,
    })
}

pub fn clock_to_host(id: i32) -> Option<libc::clockid_t> {
    clock(id).map(|(c, _)| c)
}

/// The clocks a rewritten site's entry reads itself (`pass_through`): every
/// one `clock` maps, but CLOCK_SECOND, whose nanoseconds FreeBSD drops.
pub fn pass_through_clocks() -> [Option<i32>; CLOCK_IDS] {
    std::array::from_fn(|id| match clock(id as i32) {
        Some((host, false)) => Some(host),
        _ => None,
    })
}

pub fn clock_gettime(call: &mut Call) -> SysResult {
    let [id, tp, ..] = call.args;
    let (host, whole_seconds) = clock(id as u32 as i32).ok_or(Errno::EINVAL)?;
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    call.host_with(libc::SYS_clock_gettime, [host as u64, &mut ts as *mut _ as u64, 0, 0, 0, 0])?;
    if whole_seconds {
        ts.tv_nsec = 0;
    }
    crate::memory::guest::write_val(tp, &[ts.tv_sec, ts.tv_nsec])?;
    Ok(0)
}

pub fn clock_getres(call: &mut Call) -> SysResult {
    let [id, tp, ..] = call.args;
    let (host, whole_seconds) = clock(id as u32 as i32).ok_or(Errno::EINVAL)?;
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    call.host_with(libc::SYS_clock_getres, [host as u64, &mut ts as *mut _ as u64, 0, 0, 0, 0])?;
    if whole_seconds {
        ts = libc::timespec { tv_sec: 1, tv_nsec: 0 };
    }
    if tp != 0 {
        crate::memory::guest::write_val(tp, &[ts.tv_sec, ts.tv_nsec])?;
    }
    Ok(0)
}

/// clock_nanosleep(clock, flags, rqtp, rmtp): TIMER_ABSTIME is 1 on both.
pub fn clock_nanosleep(call: &mut Call) -> SysResult {
    let [id, flags, rqtp, rmtp, ..] = call.args;
    let (host, _) = clock(id as u32 as i32).ok_or(Errno::EINVAL)?;
    call.host_with(libc::SYS_clock_nanosleep, [host as u64, flags as u32 as u64, rqtp, rmtp, 0, 0])
}
