//! FreeBSD 11's file-status calls, which FreeBSD 12 renumbered when inode
//! numbers grew to 64 bits (ino64) and which a stock kernel still offers
//! (COMPAT_FREEBSD11): `freebsd11_stat`, `fstat`, `lstat`, `fstatat`,
//! `getdirentries`, `statfs`, `fstatfs`. Go 1.19 calls them whenever
//! kern.osreldate is below 1200031, so a Go program run with
//! `--freebsd-version 11.x` lives on them.
//!
//! Values that do not fit the old fields are cut as the kernel's
//! `freebsd11_cvtstat` cuts them with its default `vfs.ino64_trunc_error=0`
//! (device and inode numbers to 32 bits); a link count is held at 65535.

use super::files::{
    at_flags_to_host, dirents, freebsd_dev, statfs_as, statfs_to_guest, statx, timespec_bytes, HostStatfs,
};
use crate::call::Call;
use crate::memory::guest;
use crate::sys::SysResult;

/// FreeBSD 11's `struct stat` (120 bytes).
fn stat_to_guest(s: &libc::statx) -> [u8; 120] {
    let mut out = [0u8; 120];
    let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, &(freebsd_dev(s.stx_dev_major, s.stx_dev_minor) as u32).to_le_bytes());
    put(4, &(s.stx_ino as u32).to_le_bytes());
    put(8, &s.stx_mode.to_le_bytes());
    put(10, &(s.stx_nlink.min(u16::MAX as u32) as u16).to_le_bytes());
    put(12, &s.stx_uid.to_le_bytes());
    put(16, &s.stx_gid.to_le_bytes());
    put(20, &(freebsd_dev(s.stx_rdev_major, s.stx_rdev_minor) as u32).to_le_bytes());
    let time = timespec_bytes;
    put(24, &time(&s.stx_atime));
    put(40, &time(&s.stx_mtime));
    put(56, &time(&s.stx_ctime));
    put(72, &(s.stx_size as i64).to_le_bytes());
    put(80, &(s.stx_blocks as i64).to_le_bytes());
    put(88, &(s.stx_blksize as i32).to_le_bytes());
    if s.stx_mask & libc::STATX_BTIME != 0 {
        put(104, &time(&s.stx_btime));
    } else {
        put(104, &(-1i64).to_le_bytes());
    }
    out
}

fn status(call: &mut Call, dirfd: i32, path: u64, flags: u64, sb: u64) -> SysResult {
    let s = statx(call, dirfd, path, flags)?;
    guest::write(sb, &stat_to_guest(&s))?;
    Ok(0)
}

pub fn stat(call: &mut Call) -> SysResult {
    let [path, sb, ..] = call.args;
    status(call, libc::AT_FDCWD, path, 0, sb)
}

pub fn lstat(call: &mut Call) -> SysResult {
    let [path, sb, ..] = call.args;
    status(call, libc::AT_FDCWD, path, libc::AT_SYMLINK_NOFOLLOW as u64, sb)
}

pub fn fstat(call: &mut Call) -> SysResult {
    let [fd, sb, ..] = call.args;
    status(call, fd as i32, c"".as_ptr() as u64, libc::AT_EMPTY_PATH as u64, sb)
}

pub fn fstatat(call: &mut Call) -> SysResult {
    let [fd, path, sb, flags, ..] = call.args;
    let flags = at_flags_to_host(flags)?;
    status(call, fd as i32, path, flags, sb)
}

/// FreeBSD 11's dirents: a 32-bit inode, the record's length, type, a
/// one-byte name length, the name; records 4-byte aligned.
pub fn getdirentries(call: &mut Call) -> SysResult {
    dirents(call, |ino, _off, kind, name| {
        let len = (8 + name.len() + 1 + 3) & !3;
        let mut entry = vec![0u8; len];
        entry[0..4].copy_from_slice(&(ino as u32).to_le_bytes());
        entry[4..6].copy_from_slice(&(len as u16).to_le_bytes());
        entry[6] = kind;
        entry[7] = name.len().min(255) as u8;
        entry[8..8 + name.len()].copy_from_slice(name);
        entry
    })
}

/// FreeBSD 11's `struct statfs` (472 bytes): FreeBSD 12's with 88-byte
/// mount names, and its own version number.
fn statfs11(s: &HostStatfs) -> Vec<u8> {
    let mut out = statfs_to_guest(s);
    out.truncate(472);
    out[0..4].copy_from_slice(&0x2003_0518u32.to_le_bytes());
    out
}

pub fn statfs(call: &mut Call) -> SysResult {
    statfs_as(call, libc::SYS_statfs, statfs11)
}

pub fn fstatfs(call: &mut Call) -> SysResult {
    statfs_as(call, libc::SYS_fstatfs, statfs11)
}
