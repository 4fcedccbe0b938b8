//! The emulator's own file descriptors (its copy of stderr, the trace file,
//! the statistics memory, two reserve slots). They sit high in the table,
//! away from the low numbers a guest expects to get from open(), and a guest
//! cannot close or overwrite them: to the guest they do not exist.
//!
//! The reserve slots are descriptors kept only to be given up: a guest may
//! fill its table to the last slot and still execve, natively. emu's exec
//! opens the program (and its interpreter) to check it, and the next emu's
//! dynamic loader opens emu's libraries; with the reserve closed for that
//! time, both find a free slot.

use crate::sys::{self, Errno};
use std::sync::atomic::{fence, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// emu's stderr, the trace, the statistics, two reserve slots, and two
/// per FreeBSD kqueue (see `freebsd::kqueue`).
const SLOTS: usize = 32;
static PRIVATE: [AtomicI32; SLOTS] = [const { AtomicI32::new(-1) }; SLOTS];

/// The reserve slots, also registered in `PRIVATE` while they are open.
static RESERVE: [AtomicI32; 2] = [const { AtomicI32::new(-1) }; 2];

/// Writes to emu's private descriptors in flight, counted by epoch: a
/// writer counts itself in the current epoch's counter before it loads the
/// descriptor's number and out after its write. `evacuate` re-points the
/// number, starts a new epoch and waits for the old epoch's writers: once
/// they are done, nobody can still write to the old number, which the guest
/// is about to take. (Two counters, as in RCU, so that a steady stream of new
/// writes cannot keep it waiting.) Atomics only: writers run in signal
/// handlers, any of them.
static EPOCH: AtomicUsize = AtomicUsize::new(0);
static IN_FLIGHT: [AtomicUsize; 2] = [const { AtomicUsize::new(0) }; 2];

/// One evacuation at a time (they flip the epoch). Taken only by a call's
/// handler, and held across a fork.
static EVACUATION: Mutex<()> = Mutex::new(());

/// Writes `bytes` whole to the private descriptor `fd()` names at the time,
/// safely against an evacuation of that descriptor by another thread.
pub fn write_private(fd: impl FnOnce() -> i32, bytes: &[u8]) -> Result<(), Errno> {
    let epoch = EPOCH.load(Ordering::Acquire) & 1;
    IN_FLIGHT[epoch].fetch_add(1, Ordering::Relaxed);
    // Pairs with the fence in `evacuate`: either it sees this writer
    // counted, or this writer sees the new number.
    fence(Ordering::SeqCst);
    let r = sys::write_all(fd(), bytes);
    IN_FLIGHT[epoch].fetch_sub(1, Ordering::Release);
    if r == Err(Errno::EPIPE) {
        take_own_sigpipe();
    }
    r
}

/// A write of emu's to a pipe nobody reads raised SIGPIPE at this thread,
/// where it waits, blocked by the handler emu writes from: it is emu's, not
/// the guest's, and is taken here before the guest could get it (a guest
/// that handles SIGPIPE would otherwise get one for every trace line).
fn take_own_sigpipe() {
    let set: u64 = 1 << (libc::SIGPIPE - 1);
    let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: dequeues a pending SIGPIPE, if any, without waiting.
    unsafe {
        sys::syscall6(
            libc::SYS_rt_sigtimedwait as u64,
            [&set as *const u64 as u64, 0, &zero as *const _ as u64, 8, 0, 0],
        )
    };
}

fn wait_for_writers_of_the_old_numbers() {
    fence(Ordering::SeqCst);
    let old = EPOCH.fetch_add(1, Ordering::AcqRel) & 1;
    while IN_FLIGHT[old].load(Ordering::Acquire) != 0 {
        std::thread::yield_now();
    }
}

/// Holds evacuations off across a fork, so that none is half done in the
/// child.
pub fn lock_for_fork() -> MutexGuard<'static, ()> {
    EVACUATION.lock().unwrap_or_else(|e| e.into_inner())
}

/// In the child of a fork, which has this thread only: the writes other
/// threads had in flight are not the child's.
pub fn forked() {
    for count in &IN_FLIGHT {
        count.store(0, Ordering::Relaxed);
    }
}

/// Who else keeps a private descriptor's number (the tracer, the
/// statistics), told when it moves: set once by the process's set-up, so
/// that this module needs nothing of the layers above it.
static MOVED: std::sync::OnceLock<fn(i32, i32)> = std::sync::OnceLock::new();

pub fn on_move(tell: fn(old: i32, new: i32)) {
    let _ = MOVED.set(tell);
}

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

/// emu's private descriptors held where they are: a guest's dup2 onto one
/// of their numbers (`evacuate`) waits until this is dropped.
pub struct Held(#[allow(dead_code)] MutexGuard<'static, ()>);

pub fn hold() -> Held {
    Held(EVACUATION.lock().unwrap_or_else(|e| e.into_inner()))
}

/// A file emu opens for a moment (the guest's memory, the site cache):
/// moved to a private number at once, which stays its own while `Held`
/// (no guest thread's dup2, close_range or open can make it one of the
/// guest's files meanwhile), and closed on drop. It is the file at `path`
/// (same device and inode) when `open_private` returns.
pub struct PrivateFile<'h> {
    file: std::mem::ManuallyDrop<std::fs::File>,
    _held: std::marker::PhantomData<&'h Held>,
}

impl std::ops::Deref for PrivateFile<'_> {
    type Target = std::fs::File;
    fn deref(&self) -> &std::fs::File {
        &self.file
    }
}

impl Drop for PrivateFile<'_> {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        release(self.file.as_raw_fd());
    }
}

/// Opens `path` (flags as open(2)'s, O_CLOEXEC added) as a `PrivateFile`.
pub fn open_private<'h>(
    _held: &'h Held,
    path: &std::path::Path,
    flags: i32,
    mode: u32,
) -> Result<PrivateFile<'h>, Errno> {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: a NUL-terminated path of ours.
    let low = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) };
    if low < 0 {
        return Err(Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)));
    }
    let high = make_private(low);
    // SAFETY: the low number is ours until this close (the race the move
    // shortens; the identity check below catches its loss).
    unsafe { libc::close(low) };
    let high = high?;
    // SAFETY: a descriptor emu just made and owns.
    let file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(high) });
    let file = PrivateFile { file, _held: std::marker::PhantomData };
    let opened = file.metadata().map_err(|_| Errno(libc::EIO))?;
    let named = if flags & libc::O_NOFOLLOW != 0 { std::fs::symlink_metadata(path) } else { std::fs::metadata(path) };
    match named {
        Ok(n) if (n.dev(), n.ino()) == (opened.dev(), opened.ino()) => Ok(file),
        _ => Err(Errno(libc::EIO)),
    }
}

pub fn register(fd: i32) {
    for slot in &PRIVATE {
        if slot.compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
            return;
        }
    }
    log::warn!("too many private descriptors: fd {fd} is not hidden from the guest");
}

/// emu's descriptor bookkeeping at one moment (see `lifecycle::vfork`).
pub struct Snapshot {
    private: [i32; SLOTS],
    reserve: [i32; 2],
    log: i32,
}

pub fn snapshot() -> Snapshot {
    Snapshot {
        private: std::array::from_fn(|i| PRIVATE[i].load(Ordering::Acquire)),
        reserve: std::array::from_fn(|i| RESERVE[i].load(Ordering::Acquire)),
        log: crate::log::fd(),
    }
}

/// Puts back what `snapshot` saw, after a vfork child with a table of its
/// own changed the (shared) bookkeeping for its table.
pub fn restore(s: Snapshot) {
    for (slot, fd) in PRIVATE.iter().zip(s.private) {
        slot.store(fd, Ordering::Release);
    }
    for (slot, fd) in RESERVE.iter().zip(s.reserve) {
        slot.store(fd, Ordering::Release);
    }
    crate::log::set_fd(s.log);
}

/// Closes a private descriptor emu no longer needs.
pub fn release(fd: i32) {
    unregister(fd);
    // SAFETY: closes a descriptor of emu's own.
    unsafe { sys::syscall6(libc::SYS_close as u64, [fd as u64, 0, 0, 0, 0, 0]) };
}

fn unregister(fd: i32) {
    for slot in &PRIVATE {
        let _ = slot.compare_exchange(fd, -1, Ordering::AcqRel, Ordering::Relaxed);
    }
}

/// Opens the reserve slots (duplicates of emu's log descriptor). Called once
/// emu has opened everything it needs, just before the guest starts.
pub fn open_reserve() {
    for slot in &RESERVE {
        if slot.load(Ordering::Relaxed) < 0 {
            match make_private(crate::log::fd()) {
                Ok(fd) => slot.store(fd, Ordering::Relaxed),
                Err(e) => log::debug!("no reserve descriptor: {e}"),
            }
        }
    }
}

/// Runs `f` with the reserve slots closed, so that it can open descriptors
/// even when the guest has filled the table; then takes the same numbers
/// again if they are still free (another guest thread may have taken one
/// meanwhile: F_DUPFD from that number then gives a higher free one, or
/// none when the table is full, and never touches the guest's).
pub fn with_reserve_freed<R>(f: impl FnOnce() -> R) -> R {
    let freed: Vec<i32> = RESERVE.iter().map(|s| s.swap(-1, Ordering::AcqRel)).filter(|&fd| fd >= 0).collect();
    for &fd in &freed {
        unregister(fd);
        // SAFETY: closes a descriptor of emu's own.
        unsafe { sys::syscall6(libc::SYS_close as u64, [fd as u64, 0, 0, 0, 0, 0]) };
    }
    let r = f();
    for (slot, &fd) in RESERVE.iter().zip(&freed) {
        // SAFETY: duplicates emu's log descriptor onto the lowest free
        // number from the one that was emu's.
        let again = unsafe {
            sys::syscall6(
                libc::SYS_fcntl as u64,
                [crate::log::fd() as u64, libc::F_DUPFD_CLOEXEC as u64, fd as u64, 0, 0, 0],
            )
        };
        if again >= 0 {
            register(again as i32);
            slot.store(again as i32, Ordering::Relaxed);
        }
    }
    r
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
/// (dup2 onto it): moves it elsewhere, tells its users, and waits for the
/// writes to the old number that other threads began.
pub fn evacuate(fd: i32) -> Result<(), Errno> {
    let _one_at_a_time = EVACUATION.lock().unwrap_or_else(|e| e.into_inner());
    if !is_private(fd) {
        return Ok(());
    }
    let close = |fd: i32| {
        // SAFETY: the number is emu's to close; the guest is about to take it.
        unsafe { sys::syscall6(libc::SYS_close as u64, [fd as u64, 0, 0, 0, 0, 0]) };
    };
    // A reserve slot is simply given up.
    if let Some(slot) = RESERVE.iter().find(|s| s.load(Ordering::Relaxed) == fd) {
        slot.store(-1, Ordering::Relaxed);
        unregister(fd);
        close(fd);
        return Ok(());
    }
    // SAFETY: duplicates a descriptor of ours.
    let moved = sys::result(unsafe {
        sys::syscall6(libc::SYS_fcntl as u64, [fd as u64, libc::F_DUPFD_CLOEXEC as u64, floor() as u64, 0, 0, 0])
    });
    let new = match moved {
        Ok(new) => new as i32,
        // A full table: onto a reserve slot's number instead.
        Err(Errno::EMFILE) => {
            let Some(slot) = RESERVE.iter().find(|s| s.load(Ordering::Relaxed) >= 0) else {
                return Err(Errno::EMFILE);
            };
            let r = slot.swap(-1, Ordering::AcqRel);
            unregister(r);
            // SAFETY: replaces emu's own reserve descriptor with a copy of another of emu's.
            sys::result(unsafe {
                sys::syscall6(libc::SYS_dup3 as u64, [fd as u64, r as u64, libc::O_CLOEXEC as u64, 0, 0, 0])
            })? as i32
        }
        Err(e) => return Err(e),
    };
    unregister(fd);
    register(new);
    if crate::log::fd() == fd {
        crate::log::set_fd(new);
    }
    if let Some(tell) = MOVED.get() {
        tell(fd, new);
    }
    wait_for_writers_of_the_old_numbers();
    close(fd);
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
