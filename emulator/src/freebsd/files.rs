//! FreeBSD's file calls: its open and *at flags, fcntl commands and
//! `struct flock`, `struct stat` and `struct statfs` of FreeBSD 12 and
//! later, getdirentries' `struct dirent`, the terminal ioctls, and the
//! calls whose result differs in form (__getcwd returns 0).

use crate::call::Call;
use crate::files;
use crate::memory::guest;
use crate::sys::{Errno, SysResult};

/// FreeBSD's open flags (sys/fcntl.h) and Linux's.
const OPEN_FLAGS: [(u64, i32); 13] = [
    (0x4, libc::O_NONBLOCK),
    (0x8, libc::O_APPEND),
    (0x40, libc::O_ASYNC),
    (0x80, libc::O_SYNC),
    (0x100, libc::O_NOFOLLOW),
    (0x200, libc::O_CREAT),
    (0x400, libc::O_TRUNC),
    (0x800, libc::O_EXCL),
    (0x8000, libc::O_NOCTTY),
    (0x10000, libc::O_DIRECT),
    (0x20000, libc::O_DIRECTORY),
    (0x100000, libc::O_CLOEXEC),
    (0x1000000, libc::O_DSYNC),
];
const O_ACCMODE: u64 = 3;
const O_SHLOCK: u64 = 0x10;
const O_EXLOCK: u64 = 0x20;
const O_EXEC: u64 = 0x40000;
const O_PATH: u64 = 0x400000;

pub fn open_flags_to_host(f: u64) -> u64 {
    let mut h = f & O_ACCMODE;
    for (g, l) in OPEN_FLAGS {
        if f & g != 0 {
            h |= l as u64;
        }
    }
    if f & (O_PATH | O_EXEC) != 0 {
        h |= libc::O_PATH as u64;
    }
    h
}

pub fn open_flags_to_guest(h: u64) -> u64 {
    let mut f = h & O_ACCMODE;
    for (g, l) in OPEN_FLAGS {
        if h & l as u64 != 0 {
            f |= g;
        }
    }
    f
}

/// open and openat; O_SHLOCK and O_EXLOCK take the flock FreeBSD takes.
fn open_at(call: &mut Call, dirfd: i32, path: u64, flags: u64, mode: u64) -> SysResult {
    let flags = flags & 0xffff_ffff;
    let fd = files::open_at(call, dirfd, path, open_flags_to_host(flags), mode & 0o7777)?;
    let lock = if flags & O_EXLOCK != 0 {
        libc::LOCK_EX
    } else if flags & O_SHLOCK != 0 {
        libc::LOCK_SH
    } else {
        return Ok(fd);
    };
    let nonblocking = if flags & 0x4 != 0 { libc::LOCK_NB } else { 0 };
    if let Err(e) = call.host_with(libc::SYS_flock, [fd, (lock | nonblocking) as u64, 0, 0, 0, 0]) {
        let _ = call.host_with(libc::SYS_close, [fd, 0, 0, 0, 0, 0]);
        return Err(e);
    }
    Ok(fd)
}

pub fn open(call: &mut Call) -> SysResult {
    let a = call.args;
    open_at(call, libc::AT_FDCWD, a[0], a[1], a[2])
}

pub fn openat(call: &mut Call) -> SysResult {
    let a = call.args;
    open_at(call, a[0] as i32, a[1], a[2], a[3])
}

/// FreeBSD's AT_* flags (sys/fcntl.h) and Linux's.
const AT_FLAGS: [(u64, i32); 5] = [
    (0x100, libc::AT_EACCESS),
    (0x200, libc::AT_SYMLINK_NOFOLLOW),
    (0x400, libc::AT_SYMLINK_FOLLOW),
    (0x800, libc::AT_REMOVEDIR),
    (0x4000, libc::AT_EMPTY_PATH),
];
/// AT_RESOLVE_BENEATH: Linux has it only in openat2.
const AT_RESOLVE_BENEATH: u64 = 0x2000;

pub(super) fn at_flags_to_host(f: u64) -> Result<u64, Errno> {
    let f = f & 0xffff_ffff;
    if f & !(AT_FLAGS.iter().fold(AT_RESOLVE_BENEATH, |m, (g, _)| m | g)) != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(AT_FLAGS.iter().filter(|(g, _)| f & g != 0).fold(0, |m, (_, l)| m | *l as u64))
}

pub fn access(call: &mut Call) -> SysResult {
    let [path, mode, ..] = call.args;
    let flags = if call.implements() == "eaccess" { libc::AT_EACCESS } else { 0 };
    call.host_with(libc::SYS_faccessat2, [libc::AT_FDCWD as u64, path, mode & 7, flags as u64, 0, 0])
}

pub fn faccessat(call: &mut Call) -> SysResult {
    let [fd, path, mode, flags, ..] = call.args;
    let flags = at_flags_to_host(flags)?;
    call.host_with(libc::SYS_faccessat2, [fd as i32 as u64, path, mode & 7, flags, 0, 0])
}

pub fn unlinkat(call: &mut Call) -> SysResult {
    let [fd, path, flags, ..] = call.args;
    let flags = at_flags_to_host(flags)?;
    call.host_with(libc::SYS_unlinkat, [fd as i32 as u64, path, flags, 0, 0, 0])
}

pub fn readlink(call: &mut Call) -> SysResult {
    files::readlink(call)
}

pub fn readlinkat(call: &mut Call) -> SysResult {
    files::readlinkat(call)
}

/// __getcwd(buf, size): 0 on success, not the length.
pub fn getcwd(call: &mut Call) -> SysResult {
    call.host(libc::SYS_getcwd).map(|_| 0)
}

/// FreeBSD's UTIME_NOW and UTIME_OMIT (tv_nsec values).
const UTIME_NOW: i64 = -1;
const UTIME_OMIT: i64 = -2;

pub fn utimensat(call: &mut Call) -> SysResult {
    let [fd, path, times, flags, ..] = call.args;
    let flags = at_flags_to_host(flags)?;
    let mut host = [[0i64; 2]; 2];
    let times = if times == 0 {
        0
    } else {
        let t: [[i64; 2]; 2] = guest::read_val(times)?;
        for (h, g) in host.iter_mut().zip(t) {
            *h = match g[1] {
                UTIME_NOW => [0, libc::UTIME_NOW],
                UTIME_OMIT => [0, libc::UTIME_OMIT],
                _ => g,
            };
        }
        host.as_ptr() as u64
    };
    call.host_with(libc::SYS_utimensat, [fd as i32 as u64, path, times, flags, 0, 0])
}

/// dup2: the core's, and a kqueue that had the new number is gone.
pub fn dup2(call: &mut Call) -> SysResult {
    let [old, new, ..] = call.args;
    let r = files::dup2(call)?;
    if old != new {
        crate::bsd::kqueue::closed(new as i32);
    }
    Ok(r)
}

pub fn pipe2(call: &mut Call) -> SysResult {
    let [fds, flags, ..] = call.args;
    const O_NONBLOCK: u64 = 0x4;
    const O_CLOEXEC: u64 = 0x100000;
    if flags & !(O_NONBLOCK | O_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    call.host_with(libc::SYS_pipe2, [guest::for_host(fds, 8), open_flags_to_host(flags), 0, 0, 0, 0])
}

/// FreeBSD 10's pipe(): the read end in RAX, the write end in RDX.
pub fn freebsd10_pipe(call: &mut Call) -> SysResult {
    let mut fds = [0i32; 2];
    call.host_with(libc::SYS_pipe2, [fds.as_mut_ptr() as u64, 0, 0, 0, 0, 0])?;
    call.set_second(fds[1] as u64);
    Ok(fds[0] as u64)
}

// ---------------------------------------------------------------------------
// fcntl

const F_DUPFD: u32 = 0;
const F_GETFD: u32 = 1;
const F_SETFD: u32 = 2;
const F_GETFL: u32 = 3;
const F_SETFL: u32 = 4;
const F_GETOWN: u32 = 5;
const F_SETOWN: u32 = 6;
const F_DUP2FD: u32 = 10;
const F_GETLK: u32 = 11;
const F_SETLK: u32 = 12;
const F_SETLKW: u32 = 13;
const F_DUPFD_CLOEXEC: u32 = 17;
const F_DUP2FD_CLOEXEC: u32 = 18;

/// FreeBSD's `struct flock`: start, len, pid, short type, short whence,
/// sysid; its lock types are 1 (read), 2 (unlock), 3 (write).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Flock {
    start: i64,
    len: i64,
    pid: i32,
    kind: i16,
    whence: i16,
    sysid: i32,
    pad: i32,
}
// SAFETY: integers only.
unsafe impl guest::Pod for Flock {}

fn lock_kind_to_host(k: i16) -> Result<i16, Errno> {
    Ok(match k {
        1 => libc::F_RDLCK as i16,
        2 => libc::F_UNLCK as i16,
        3 => libc::F_WRLCK as i16,
        _ => return Err(Errno::EINVAL),
    })
}

fn lock_kind_to_guest(k: i16) -> i16 {
    match k as i32 {
        libc::F_RDLCK => 1,
        libc::F_WRLCK => 3,
        _ => 2,
    }
}

pub fn fcntl(call: &mut Call) -> SysResult {
    let [fd, cmd, arg, ..] = call.args;
    let fd = fd as i32;
    if crate::fds::is_private(fd) {
        return Err(Errno::EBADF);
    }
    let host =
        |call: &mut Call, cmd: i32, arg: u64| call.host_with(libc::SYS_fcntl, [fd as u64, cmd as u64, arg, 0, 0, 0]);
    match cmd as u32 {
        F_DUPFD => host(call, libc::F_DUPFD, arg as u32 as u64),
        F_DUPFD_CLOEXEC => host(call, libc::F_DUPFD_CLOEXEC, arg as u32 as u64),
        F_GETFD => host(call, libc::F_GETFD, 0),
        F_SETFD => host(call, libc::F_SETFD, arg & 1),
        F_GETFL => host(call, libc::F_GETFL, 0).map(open_flags_to_guest),
        F_SETFL => host(call, libc::F_SETFL, open_flags_to_host(arg & 0xffff_ffff)),
        F_GETOWN => host(call, libc::F_GETOWN, 0),
        F_SETOWN => host(call, libc::F_SETOWN, arg as u32 as i32 as u64),
        F_DUP2FD | F_DUP2FD_CLOEXEC => {
            let to = arg as u32 as i32;
            if crate::fds::is_private(to) {
                crate::fds::evacuate(to)?;
            }
            if to == fd {
                // dup3 refuses the same number; dup2 (and FreeBSD) do not.
                return host(call, libc::F_GETFD, 0).map(|_| fd as u64);
            }
            let flags = if cmd as u32 == F_DUP2FD_CLOEXEC { libc::O_CLOEXEC } else { 0 };
            let r = call.host_with(libc::SYS_dup3, [fd as u64, to as u64, flags as u64, 0, 0, 0])?;
            // A kqueue that had the number was closed by it.
            crate::bsd::kqueue::closed(to);
            Ok(r)
        }
        F_GETLK | F_SETLK | F_SETLKW => {
            let g: Flock = guest::read_val(arg)?;
            // SAFETY: zeroes are a valid flock.
            let mut l: libc::flock = unsafe { std::mem::zeroed() };
            l.l_type = lock_kind_to_host(g.kind)?;
            l.l_whence = g.whence;
            l.l_start = g.start;
            l.l_len = g.len;
            let c = match cmd as u32 {
                F_GETLK => libc::F_GETLK,
                F_SETLK => libc::F_SETLK,
                _ => libc::F_SETLKW,
            };
            host(call, c, &mut l as *mut _ as u64)?;
            if cmd as u32 == F_GETLK {
                let out = Flock {
                    start: l.l_start,
                    len: l.l_len,
                    pid: l.l_pid,
                    kind: lock_kind_to_guest(l.l_type),
                    whence: l.l_whence,
                    ..g
                };
                guest::write_val(arg, &out)?;
            }
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

// ---------------------------------------------------------------------------
// ioctl

/// The terminal and descriptor ioctls FreeBSD programs make, as Linux's:
/// same argument layout except the termios ones.
pub fn ioctl(call: &mut Call) -> SysResult {
    let [fd, request, data, ..] = call.args;
    let fd = fd as i32;
    if crate::fds::is_private(fd) {
        return Err(Errno::EBADF);
    }
    let same = |call: &mut Call, host: u64| call.host_with(libc::SYS_ioctl, [fd as u64, host, data, 0, 0, 0]);
    match request as u32 {
        0x4008_7468 => same(call, libc::TIOCGWINSZ), // TIOCGWINSZ
        0x8008_7467 => same(call, libc::TIOCSWINSZ), // TIOCSWINSZ
        0x4004_7477 => same(call, libc::TIOCGPGRP),  // TIOCGPGRP
        0x8004_7476 => same(call, libc::TIOCSPGRP),  // TIOCSPGRP
        0x4004_667f => same(call, libc::FIONREAD),   // FIONREAD
        0x8004_667e => same(call, libc::FIONBIO),    // FIONBIO
        0x2000_6601 => same(call, libc::FIOCLEX),    // FIOCLEX
        0x2000_6602 => same(call, libc::FIONCLEX),   // FIONCLEX
        0x402c_7413 => tcgets(call, fd, data),       // TIOCGETA
        0x802c_7414..=0x802c_7416 => tcsets(call, fd, data, request as u32 - 0x802c_7414), // TIOCSETA, W, F
        _ => Err(Errno::ENOTTY),
    }
}

/// FreeBSD's termios: four tcflag_t (u32), c_cc[20], two speed_t (u32).
const NCCS: usize = 20;

/// The control characters both know, FreeBSD index and Linux index.
const CC: [(usize, usize); 16] = [
    (0, libc::VEOF),
    (1, libc::VEOL),
    (2, libc::VEOL2),
    (3, libc::VERASE),
    (4, libc::VWERASE),
    (5, libc::VKILL),
    (6, libc::VREPRINT),
    (14, libc::VLNEXT),
    (15, libc::VDISCARD),
    (8, libc::VINTR),
    (9, libc::VQUIT),
    (10, libc::VSUSP),
    (12, libc::VSTART),
    (13, libc::VSTOP),
    (16, libc::VMIN),
    (17, libc::VTIME),
];

/// Local-mode bits: FreeBSD's and Linux's.
const LFLAGS: [(u32, libc::tcflag_t); 11] = [
    (0x1, libc::ECHOKE),
    (0x40, libc::ECHOCTL),
    (0x40_0000, libc::TOSTOP),
    (0x2, libc::ECHOE),
    (0x4, libc::ECHOK),
    (0x8, libc::ECHO),
    (0x10, libc::ECHONL),
    (0x80, libc::ISIG),
    (0x100, libc::ICANON),
    (0x400, libc::IEXTEN),
    (0x8000_0000, libc::NOFLSH),
];
/// Input-mode bits that differ (the low ones are the same).
const IFLAGS_SAME: u32 = 0x1ff; // IGNBRK..ICRNL share values
const IXON: (u32, libc::tcflag_t) = (0x200, libc::IXON);
const IXOFF: (u32, libc::tcflag_t) = (0x400, libc::IXOFF);
const IXANY: (u32, libc::tcflag_t) = (0x800, libc::IXANY);
const OPOST: (u32, libc::tcflag_t) = (0x1, libc::OPOST);
const ONLCR: (u32, libc::tcflag_t) = (0x2, libc::ONLCR);

fn bits(v: u32, table: &[(u32, libc::tcflag_t)], to_host: bool) -> u32 {
    table.iter().fold(0, |m, &(g, h)| {
        let (from, to) = if to_host { (g, h) } else { (h, g) };
        if v & from != 0 {
            m | to
        } else {
            m
        }
    })
}

fn tcgets(call: &mut Call, fd: i32, data: u64) -> SysResult {
    // SAFETY: zeroes are a valid termios.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    call.host_with(libc::SYS_ioctl, [fd as u64, libc::TCGETS, &mut t as *mut _ as u64, 0, 0, 0])?;
    let mut out = [0u8; 4 * 4 + NCCS + 8];
    let iflag = (t.c_iflag & IFLAGS_SAME) | bits(t.c_iflag, &[IXON, IXOFF, IXANY], false);
    let oflag = bits(t.c_oflag, &[OPOST, ONLCR], false);
    // CSIZE, CSTOPB, CREAD, PARENB, PARODD, HUPCL, CLOCAL: Linux's bits, four higher.
    let cflag = (t.c_cflag & 0xff0) << 4;
    let lflag = bits(t.c_lflag, &LFLAGS, false);
    for (i, v) in [iflag, oflag, cflag, lflag].iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
    }
    for (g, h) in CC {
        out[16 + g] = t.c_cc[h];
    }
    // The speed is in the CBAUD bits of c_cflag (the kernel's termios has no
    // speed fields).
    let baud = match t.c_cflag & libc::CBAUD {
        libc::B9600 => 9600u32,
        libc::B19200 => 19200,
        libc::B57600 => 57600,
        libc::B115200 => 115200,
        _ => 38400,
    };
    let (ispeed, ospeed) = (baud, baud);
    out[36..40].copy_from_slice(&ispeed.to_le_bytes());
    out[40..44].copy_from_slice(&ospeed.to_le_bytes());
    guest::write(data, &out)?;
    Ok(0)
}

fn tcsets(call: &mut Call, fd: i32, data: u64, when: u32) -> SysResult {
    let mut raw = [0u8; 4 * 4 + NCCS + 8];
    guest::read(data, &mut raw)?;
    let word = |i: usize| u32::from_le_bytes(raw[4 * i..4 * i + 4].try_into().unwrap());
    // SAFETY: zeroes are a valid termios.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    call.host_with(libc::SYS_ioctl, [fd as u64, libc::TCGETS, &mut t as *mut _ as u64, 0, 0, 0])?;
    t.c_iflag = (t.c_iflag & !(IFLAGS_SAME | libc::IXON | libc::IXOFF | libc::IXANY))
        | (word(0) & IFLAGS_SAME)
        | bits(word(0), &[IXON, IXOFF, IXANY], true);
    t.c_oflag = (t.c_oflag & !(libc::OPOST | libc::ONLCR)) | bits(word(1), &[OPOST, ONLCR], true);
    let lmask = LFLAGS.iter().fold(0, |m, &(_, h)| m | h);
    t.c_lflag = (t.c_lflag & !lmask) | bits(word(3), &LFLAGS, true);
    t.c_cflag = (t.c_cflag & !0xff0) | ((word(2) >> 4) & 0xff0);
    for (g, h) in CC {
        t.c_cc[h] = raw[16 + g];
    }
    let op = [libc::TCSETS, libc::TCSETSW, libc::TCSETSF][when as usize];
    call.host_with(libc::SYS_ioctl, [fd as u64, op, &t as *const _ as u64, 0, 0, 0])
}

// ---------------------------------------------------------------------------
// stat, statfs, getdirentries

/// FreeBSD's dev_t (sys/types.h makedev) from a major and minor number.
pub(super) fn freebsd_dev(major: u32, minor: u32) -> u64 {
    let (major, minor) = (major as u64, minor as u64);
    ((major & 0xffff_ff00) << 32) | ((major & 0xff) << 8) | ((minor & 0xff00) << 24) | (minor & 0xffff_00ff)
}

/// A FreeBSD dev_t as Linux's.
fn dev_to_host(dev: u64) -> u64 {
    let major = ((dev >> 32) & 0xffff_ff00) | ((dev >> 8) & 0xff);
    let minor = ((dev >> 24) & 0xff00) | (dev & 0xffff_00ff);
    libc::makedev(major as u32, minor as u32)
}

/// mknodat(fd, path, mode, dev), mkfifo and mkfifoat on Linux's mknodat.
fn mknod_at(call: &mut Call, dirfd: u64, path: u64, mode: u64, dev: u64) -> SysResult {
    call.host_with(libc::SYS_mknodat, [dirfd as i32 as u64, path, mode as u32 as u64, dev_to_host(dev), 0, 0])
}

pub fn mknodat(call: &mut Call) -> SysResult {
    let [fd, path, mode, dev, ..] = call.args;
    mknod_at(call, fd, path, mode, dev)
}

pub fn mkfifo(call: &mut Call) -> SysResult {
    let [path, mode, ..] = call.args;
    mknod_at(call, libc::AT_FDCWD as u64, path, (mode & 0o7777) | libc::S_IFIFO as u64, 0)
}

pub fn mkfifoat(call: &mut Call) -> SysResult {
    let [fd, path, mode, ..] = call.args;
    mknod_at(call, fd, path, (mode & 0o7777) | libc::S_IFIFO as u64, 0)
}

/// A statx time as FreeBSD's `struct timespec`: built in place, since a
/// Go program stats every file it opens (esbuild: 1,600 times a run, where
/// a `concat` per time cost four allocations a call).
pub(super) fn timespec_bytes(t: &libc::statx_timestamp) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&t.tv_sec.to_le_bytes());
    out[8..].copy_from_slice(&(t.tv_nsec as i64).to_le_bytes());
    out
}

/// FreeBSD 12's `struct stat` (224 bytes) from the host's statx.
fn stat_to_guest(s: &libc::statx) -> [u8; 224] {
    let mut out = [0u8; 224];
    let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
    let dev = freebsd_dev(s.stx_dev_major, s.stx_dev_minor);
    let rdev = freebsd_dev(s.stx_rdev_major, s.stx_rdev_minor);
    put(0, &dev.to_le_bytes());
    put(8, &s.stx_ino.to_le_bytes());
    put(16, &(s.stx_nlink as u64).to_le_bytes());
    put(24, &s.stx_mode.to_le_bytes());
    put(28, &s.stx_uid.to_le_bytes());
    put(32, &s.stx_gid.to_le_bytes());
    put(40, &rdev.to_le_bytes());
    let time = timespec_bytes;
    put(48, &time(&s.stx_atime));
    put(64, &time(&s.stx_mtime));
    put(80, &time(&s.stx_ctime));
    if s.stx_mask & libc::STATX_BTIME != 0 {
        put(96, &time(&s.stx_btime));
    } else {
        // FreeBSD's "no birth time".
        put(96, &(-1i64).to_le_bytes());
    }
    put(112, &(s.stx_size as i64).to_le_bytes());
    put(120, &(s.stx_blocks as i64).to_le_bytes());
    put(128, &(s.stx_blksize as i32).to_le_bytes());
    out
}

pub(super) fn statx(call: &mut Call, dirfd: i32, path: u64, flags: u64) -> Result<libc::statx, Errno> {
    // SAFETY: zeroes are a valid statx for the kernel to fill.
    let mut s: libc::statx = unsafe { std::mem::zeroed() };
    let mask = (libc::STATX_BASIC_STATS | libc::STATX_BTIME) as u64;
    call.host_with(libc::SYS_statx, [dirfd as u64, path, flags, mask, &mut s as *mut _ as u64, 0])?;
    Ok(s)
}

pub fn fstat(call: &mut Call) -> SysResult {
    let [fd, sb, ..] = call.args;
    let s = statx(call, fd as i32, c"".as_ptr() as u64, libc::AT_EMPTY_PATH as u64)?;
    guest::write(sb, &stat_to_guest(&s))?;
    Ok(0)
}

pub fn fstatat(call: &mut Call) -> SysResult {
    let [fd, path, sb, flags, ..] = call.args;
    let flags = at_flags_to_host(flags)?;
    let s = statx(call, fd as i32, path, flags)?;
    guest::write(sb, &stat_to_guest(&s))?;
    Ok(0)
}

/// The name FreeBSD would give a file system (f_fstypename), by Linux's magic.
fn fs_type_name(magic: i64) -> &'static [u8] {
    match magic as u32 {
        0xef53 => b"ext2fs",
        0x0102_1994 => b"tmpfs",
        0x9fa0 => b"procfs",
        0x6265_6572 => b"sysfs",
        0x794c_7630 => b"overlay",
        0x9123_683e => b"btrfs",
        0x5846_5342 => b"xfs",
        0x1cd1 => b"devfs",
        0x0102_1997 => b"p9fs",
        0x2fc1_2fc1 => b"zfs",
        0x6969 => b"nfs",
        _ => b"unknown",
    }
}

/// Linux's struct statfs as words: type, bsize, blocks, bfree, bavail,
/// files, ffree, fsid, namelen, frsize, flags, spare.
pub(super) type HostStatfs = [u64; 15];

/// FreeBSD 12's `struct statfs` (2344 bytes) from the host's.
pub(super) fn statfs_to_guest(s: &HostStatfs) -> Vec<u8> {
    let [f_type, bsize, blocks, bfree, bavail, files, ffree, fsid, namelen, frsize, st_flags, ..] = *s;
    let mut out = vec![0u8; 2344];
    let mut put = |at: usize, bytes: &[u8]| out[at..at + bytes.len()].copy_from_slice(bytes);
    put(0, &0x2014_0518u32.to_le_bytes()); // STATFS_VERSION
    put(4, &(f_type as u32).to_le_bytes());
    let mut flags = 0u64;
    for (linux, freebsd) in [(libc::ST_RDONLY, 0x1), (libc::ST_NOSUID, 0x8), (libc::ST_NOEXEC, 0x4)] {
        if st_flags & linux != 0 {
            flags |= freebsd;
        }
    }
    put(8, &flags.to_le_bytes());
    put(16, &frsize.to_le_bytes());
    put(24, &bsize.to_le_bytes());
    put(32, &blocks.to_le_bytes());
    put(40, &bfree.to_le_bytes());
    put(48, &bavail.to_le_bytes());
    put(56, &files.to_le_bytes());
    put(64, &ffree.to_le_bytes());
    put(184, &(namelen as u32).to_le_bytes());
    put(192, &fsid.to_le_bytes());
    put(280, fs_type_name(f_type as i64));
    out
}

pub fn fstatfs(call: &mut Call) -> SysResult {
    statfs_as(call, libc::SYS_fstatfs, statfs_to_guest)
}

pub fn statfs(call: &mut Call) -> SysResult {
    statfs_as(call, libc::SYS_statfs, statfs_to_guest)
}

/// statfs(path, buf) or fstatfs(fd, buf) (`nr`, the host's), written to
/// `buf` as `to_guest` lays it out (FreeBSD 12's, or 11's).
pub(super) fn statfs_as(call: &mut Call, nr: i64, to_guest: fn(&HostStatfs) -> Vec<u8>) -> SysResult {
    let [target, buf, ..] = call.args;
    let target = if nr == libc::SYS_fstatfs { target as i32 as u64 } else { target };
    let mut s: HostStatfs = [0; 15];
    call.host_with(nr, [target, s.as_mut_ptr() as u64, 0, 0, 0, 0])?;
    guest::write(buf, &to_guest(&s))?;
    Ok(0)
}

/// getdirentries(fd, buf, nbytes, basep): FreeBSD 12's dirents (24-byte
/// header, 8-byte aligned records) from the host's getdents64 ones. As many
/// whole entries as fit; the directory's offset is then set after the last
/// one given, so that the next call continues there. EINVAL when not even
/// one fits, as FreeBSD.
pub fn getdirentries(call: &mut Call) -> SysResult {
    dirents(call, |ino, off, kind, name| {
        let len = (24 + name.len() + 1 + 7) & !7;
        let mut entry = vec![0u8; len];
        entry[0..8].copy_from_slice(&ino.to_le_bytes());
        entry[8..16].copy_from_slice(&off.to_le_bytes());
        entry[16..18].copy_from_slice(&(len as u16).to_le_bytes());
        entry[18] = kind;
        entry[20..22].copy_from_slice(&(name.len() as u16).to_le_bytes());
        entry[24..24 + name.len()].copy_from_slice(name);
        entry
    })
}

/// getdirentries with each host entry (inode, offset, type, name) encoded
/// as the guest's `struct dirent` by `encode`.
pub(super) fn dirents(call: &mut Call, encode: impl Fn(u64, i64, u8, &[u8]) -> Vec<u8>) -> SysResult {
    let [fd, buf, nbytes, basep, ..] = call.args;
    let fd = fd as i32 as u64;
    let nbytes = (nbytes as usize).min(1 << 20);
    let base = call.host_with(libc::SYS_lseek, [fd, 0, libc::SEEK_CUR as u64, 0, 0, 0])?;
    let mut host = vec![0u8; nbytes];
    let n = match call.host_with(libc::SYS_getdents64, [fd, host.as_mut_ptr() as u64, nbytes as u64, 0, 0, 0]) {
        Err(Errno::ENOTDIR) => return Err(Errno::EINVAL),
        r => r? as usize,
    };
    let mut out = Vec::with_capacity(nbytes);
    let mut at = 0;
    let mut resume_at = None;
    while at < n {
        let rec = &host[at..];
        let ino = u64::from_le_bytes(rec[0..8].try_into().unwrap());
        let off = i64::from_le_bytes(rec[8..16].try_into().unwrap());
        let reclen = u16::from_le_bytes(rec[16..18].try_into().unwrap()) as usize;
        let kind = rec[18];
        let name = &rec[19..reclen];
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        let entry = encode(ino, off, kind, name);
        if out.len() + entry.len() > nbytes {
            break;
        }
        out.extend_from_slice(&entry);
        resume_at = Some(off);
        at += reclen;
    }
    if n > 0 && out.is_empty() {
        let _ = call.host_with(libc::SYS_lseek, [fd, base, libc::SEEK_SET as u64, 0, 0, 0]);
        return Err(Errno::EINVAL);
    }
    if at < n {
        if let Some(off) = resume_at {
            call.host_with(libc::SYS_lseek, [fd, off as u64, libc::SEEK_SET as u64, 0, 0, 0])?;
        }
    }
    // A buffer the guest cannot be given leaves the directory where it was.
    let written = guest::write(buf, &out).and_then(|_| match basep {
        0 => Ok(()),
        _ => guest::write_val(basep, &base),
    });
    if let Err(e) = written {
        let _ = call.host_with(libc::SYS_lseek, [fd, base, libc::SEEK_SET as u64, 0, 0, 0]);
        return Err(e);
    }
    Ok(out.len() as u64)
}

/// __realpathat(fd, path, buf, size, flags): the path with every symbolic
/// link resolved, as the kernel names the file it opens (through
/// /proc/self/fd of an O_PATH descriptor); ENAMETOOLONG when it does not
/// fit with its NUL.
pub fn realpathat(call: &mut Call) -> SysResult {
    let [fd, path, buf, size, flags, ..] = call.args;
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let opened =
        call.host_with(libc::SYS_openat, [fd as i32 as u64, path, (libc::O_PATH | libc::O_CLOEXEC) as u64, 0, 0, 0])?;
    let link = format!("/proc/self/fd/{opened}\0");
    let mut name = vec![0u8; libc::PATH_MAX as usize];
    let n = call.host_with(
        libc::SYS_readlinkat,
        [libc::AT_FDCWD as u64, link.as_ptr() as u64, name.as_mut_ptr() as u64, name.len() as u64, 0, 0],
    );
    let _ = call.host_with(libc::SYS_close, [opened, 0, 0, 0, 0, 0]);
    let n = n? as usize;
    name.truncate(n);
    name.push(0);
    if name.len() > size as usize {
        return Err(Errno::ENAMETOOLONG);
    }
    guest::write(buf, &name)?;
    Ok(0)
}
