//! File calls that must show the guest rather than the emulator: the
//! executable `/proc/self/exe` names and opens, and descriptors that are
//! emu's own.

use crate::dispatch::Call;
use crate::fds;
use crate::lifecycle::is_self_exe;
use crate::memory::guest;
use crate::process::process;
use crate::sys::{Errno, SysResult};
use std::os::unix::ffi::OsStrExt;

fn self_exe_link(dirfd: i32, path_ptr: u64, buf: u64, size: u64) -> Option<SysResult> {
    let mut path = Vec::new();
    match guest::read_cstr(path_ptr, libc::PATH_MAX as usize, &mut path) {
        Ok(true) => {}
        _ => return None, // let the host report the bad path
    }
    if !is_self_exe(&path) || (dirfd != libc::AT_FDCWD && !path.starts_with(b"/")) {
        return None;
    }
    if size as i64 <= 0 {
        return Some(Err(Errno::EINVAL));
    }
    let exe = process().exe.as_os_str().as_bytes();
    let n = exe.len().min(size as usize);
    Some(guest::write(buf, &exe[..n]).map(|_| n as u64))
}

pub fn readlink(call: &mut Call) -> SysResult {
    let a = call.args;
    match self_exe_link(libc::AT_FDCWD, a[0], a[1], a[2]) {
        Some(r) => r,
        None => call.host(libc::SYS_readlink),
    }
}

pub fn readlinkat(call: &mut Call) -> SysResult {
    let a = call.args;
    match self_exe_link(a[0] as i32, a[1], a[2], a[3]) {
        Some(r) => r,
        None => call.host(libc::SYS_readlinkat),
    }
}

/// open and openat of `/proc/self/exe` open the guest's executable.
fn self_exe_open(call: &mut Call, dirfd: i32, path_ptr: u64, flags: u64, mode: u64) -> Option<SysResult> {
    let mut path = Vec::new();
    if !matches!(guest::read_cstr(path_ptr, libc::PATH_MAX as usize, &mut path), Ok(true)) || !is_self_exe(&path) {
        return None;
    }
    // An absolute path: the directory descriptor does not matter.
    let _ = dirfd;
    let exe = std::ffi::CString::new(process().exe.as_os_str().as_bytes()).ok()?;
    Some(call.host_with(libc::SYS_openat, [libc::AT_FDCWD as u64, exe.as_ptr() as u64, flags, mode, 0, 0]))
}

pub fn open(call: &mut Call) -> SysResult {
    let a = call.args;
    match self_exe_open(call, libc::AT_FDCWD, a[0], a[1], a[2]) {
        Some(r) => r,
        None => call.host(libc::SYS_open),
    }
}

pub fn openat(call: &mut Call) -> SysResult {
    let a = call.args;
    match self_exe_open(call, a[0] as i32, a[1], a[2], a[3]) {
        Some(r) => r,
        None => call.host(libc::SYS_openat),
    }
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
    let nr = if call.name() == "dup3" { libc::SYS_dup3 } else { libc::SYS_dup2 };
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
