//! File calls that must show the guest rather than the emulator, whatever
//! its personality: the executable `/proc/self/exe` names and opens, and
//! descriptors that are emu's own. The host calls are Linux's; a
//! personality whose flags differ translates them before it calls in.

use crate::call::Call;
use crate::fds;
use crate::lifecycle::is_self_exe;
use crate::memory::guest;
use crate::process::process;
use crate::procfs;
use crate::sys::{Errno, SysResult};
use std::os::unix::ffi::OsStrExt;

/// The guest's path, copied once: emu decides on this copy and the host
/// call gets it too, so another guest thread rewriting the path meanwhile
/// cannot make emu's decision wrong. `None` when the guest's pointer or
/// string is bad: the host call then gets the guest's pointer and reports
/// it (EFAULT, ENAMETOOLONG) as natively.
pub(crate) fn copy_path(path_ptr: u64) -> Option<Vec<u8>> {
    // Room for most paths and their NUL: one allocation, not a grow per chunk.
    let mut path = Vec::with_capacity(256);
    match guest::read_cstr(path_ptr, libc::PATH_MAX as usize, &mut path) {
        Ok(true) => {
            path.push(0);
            Some(path)
        }
        _ => None,
    }
}

/// The path without its NUL.
fn bytes(path: &[u8]) -> &[u8] {
    &path[..path.len() - 1]
}

/// readlink and readlinkat: `/proc/self/exe` names the guest's executable.
fn readlink_at(call: &mut Call, dirfd: i32, path_ptr: u64, buf: u64, size: u64) -> SysResult {
    let Some(path) = copy_path(path_ptr) else {
        return call.host_with(libc::SYS_readlinkat, [dirfd as u64, path_ptr, buf, size, 0, 0]);
    };
    if procfs::self_entry(bytes(&path)).is_some_and(procfs::hides) {
        return Err(Errno::ENOENT);
    }
    if is_self_exe(bytes(&path)) {
        if size as i64 <= 0 {
            return Err(Errno::EINVAL);
        }
        let exe = process().exe.as_os_str().as_bytes();
        let n = exe.len().min(size as usize);
        return guest::write(buf, &exe[..n]).map(|_| n as u64);
    }
    call.host_with(libc::SYS_readlinkat, [dirfd as u64, path.as_ptr() as u64, buf, size, 0, 0])
}

pub fn readlink(call: &mut Call) -> SysResult {
    let a = call.args;
    readlink_at(call, libc::AT_FDCWD, a[0], a[1], a[2])
}

pub fn readlinkat(call: &mut Call) -> SysResult {
    let a = call.args;
    readlink_at(call, a[0] as i32, a[1], a[2], a[3])
}

/// open and openat: `/proc/self/exe` opens the guest's executable.
pub(crate) fn open_at(call: &mut Call, dirfd: i32, path_ptr: u64, flags: u64, mode: u64) -> SysResult {
    let Some(mut path) = copy_path(path_ptr) else {
        return call.host_with(libc::SYS_openat, [dirfd as u64, path_ptr, flags, mode, 0, 0]);
    };
    let absolute = procfs::with_directory(dirfd, bytes(&path));
    let named = absolute.as_deref().unwrap_or(bytes(&path));
    if let Some(entry) = procfs::self_entry(named) {
        let read_only = flags & libc::O_ACCMODE as u64 == libc::O_RDONLY as u64;
        if let (Some(which), true) = (procfs::generated(entry), read_only) {
            return procfs::open_generated(which, flags);
        }
        if procfs::hides(entry) {
            return Err(Errno::ENOENT);
        }
    }
    if is_self_exe(bytes(&path)) {
        path = process().exe.as_os_str().as_bytes().to_vec();
        path.push(0);
    }
    call.host_with(libc::SYS_openat, [dirfd as u64, path.as_ptr() as u64, flags, mode, 0, 0])
}

/// getdents64: emu's private descriptors are not in a listing of
/// /proc/self/fd or fdinfo.
pub fn getdents64(call: &mut Call) -> SysResult {
    let [dirfd, buf, ..] = call.args;
    let n = call.host(libc::SYS_getdents64)?;
    procfs::list_without_private(call, dirfd as i32, buf, n)
}

pub fn open(call: &mut Call) -> SysResult {
    let a = call.args;
    open_at(call, libc::AT_FDCWD, a[0], a[1], a[2])
}

pub fn openat(call: &mut Call) -> SysResult {
    let a = call.args;
    open_at(call, a[0] as i32, a[1], a[2], a[3])
}

pub fn close(call: &mut Call) -> SysResult {
    if fds::is_private(call.args[0] as i32) {
        return Err(Errno::EBADF);
    }
    call.host(libc::SYS_close)
}

/// dup2 and dup3: the old descriptor must be the guest's; a new one that is
/// emu's is moved out of the way first.
pub fn dup2(call: &mut Call) -> SysResult {
    let (old, new) = (call.args[0] as i32, call.args[1] as i32);
    if fds::is_private(old) {
        return Err(Errno::EBADF);
    }
    if fds::is_private(new) {
        fds::evacuate(new)?;
    }
    let nr = if call.implements() == "dup3" { libc::SYS_dup3 } else { libc::SYS_dup2 };
    call.host(nr)
}

/// close_range over the guest's descriptors only: the range is closed
/// around emu's.
pub fn close_range(call: &mut Call) -> SysResult {
    let (first, last, flags) = (call.args[0] as u32, call.args[1] as u32, call.args[2]);
    if first > last {
        return Err(Errno::EINVAL);
    }
    let mut lo = first;
    for fd in fds::private() {
        let fd = fd as u32;
        if fd < lo || fd > last {
            continue;
        }
        if fd > lo {
            call.host_with(libc::SYS_close_range, [lo as u64, (fd - 1) as u64, flags, 0, 0, 0])?;
        }
        lo = fd + 1;
    }
    if lo <= last {
        call.host_with(libc::SYS_close_range, [lo as u64, last as u64, flags, 0, 0, 0])?;
    }
    Ok(0)
}
