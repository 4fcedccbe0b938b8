//! The emulator's own file descriptors (its copy of stderr, the trace file,
//! the statistics memory). They sit high in the table, away from the low
//! numbers a guest expects to get from open(), and a guest cannot close or
//! overwrite them: to the guest they do not exist.

use crate::sys::{self, Errno};
use std::sync::atomic::{AtomicI32, Ordering};

const SLOTS: usize = 4;
static PRIVATE: [AtomicI32; SLOTS] = [const { AtomicI32::new(-1) }; SLOTS];

/// Lowest number a private descriptor takes.
fn floor() -> i32 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: fills a rlimit of ours.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    (lim.rlim_cur.min(1024) as i32 - 24).max(10)
}

/// Moves `fd` to a high private number (close-on-exec) and registers it.
pub fn make_private(fd: i32) -> Result<i32, Errno> {
    // SAFETY: duplicates a descriptor of ours.
    let high = sys::result(unsafe {
        sys::syscall6(libc::SYS_fcntl as u64, [fd as u64, libc::F_DUPFD_CLOEXEC as u64, floor() as u64, 0, 0, 0])
    })? as i32;
    register(high);
    Ok(high)
}

pub fn register(fd: i32) {
    for slot in &PRIVATE {
        if slot.compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            return;
        }
    }
    log::warn!("too many private descriptors: fd {fd} is not hidden from the guest");
}

pub fn is_private(fd: i32) -> bool {
    fd >= 0 && PRIVATE.iter().any(|s| s.load(Ordering::Relaxed) == fd)
}

/// The private descriptors, lowest first.
pub fn private() -> Vec<i32> {
    let mut v: Vec<i32> = PRIVATE.iter().map(|s| s.load(Ordering::Relaxed)).filter(|&fd| fd >= 0).collect();
    v.sort_unstable();
    v
}

/// Gets a private descriptor out of the way of a guest that wants its number
/// (dup2 onto it): moves it elsewhere and tells its users.
pub fn evacuate(fd: i32) -> Result<(), Errno> {
    for slot in &PRIVATE {
        if slot.load(Ordering::Relaxed) == fd {
            // SAFETY: duplicates a descriptor of ours.
            let new = sys::result(unsafe {
                sys::syscall6(
                    libc::SYS_fcntl as u64,
                    [fd as u64, libc::F_DUPFD_CLOEXEC as u64, floor() as u64, 0, 0, 0],
                )
            })? as i32;
            slot.store(new, Ordering::Release);
            if crate::log::fd() == fd {
                crate::log::set_fd(new);
            }
            if let Some(t) = crate::process::try_process().and_then(|p| p.tracer.as_ref()) {
                t.fd_moved(fd, new);
            }
            if let Some(s) = crate::process::try_process().and_then(|p| p.stats.as_ref()) {
                s.fd_moved(fd, new);
            }
            // SAFETY: the old number is ours to close; the guest is about to take it.
            unsafe { sys::syscall6(libc::SYS_close as u64, [fd as u64, 0, 0, 0, 0, 0]) };
        }
    }
    Ok(())
}

/// A copy of a guest descriptor, high and without close-on-exec, for an
/// exec'd emu to open the program through (`--exec-fd` closes it there).
pub fn inheritable_copy(fd: i32) -> Result<i32, Errno> {
    // SAFETY: duplicates a descriptor; F_DUPFD leaves close-on-exec clear.
    sys::result(unsafe {
        sys::syscall6(libc::SYS_fcntl as u64, [fd as u64, libc::F_DUPFD as u64, floor() as u64, 0, 0, 0])
    })
    .map(|fd| fd as i32)
}

/// Lets private descriptors survive an execve of emu (or not).
pub fn set_inheritable(fds: &[i32], inheritable: bool) {
    for &fd in fds {
        let flags = if inheritable { 0 } else { libc::FD_CLOEXEC };
        // SAFETY: changes a flag of a descriptor of ours.
        unsafe { sys::syscall6(libc::SYS_fcntl as u64, [fd as u64, libc::F_SETFD as u64, flags as u64, 0, 0, 0]) };
    }
}
