//! The files an exec reads, the way the kernel's execve reaches them.
//!
//! * [`exec_access`] asks the kernel itself whether execve could open a
//!   file (the path walk, the execute permission, a regular file, a `noexec`
//!   mount, ETXTBSY while someone writes it), without executing anything.
//! * [`ExecFile`] reads the file with `pread`, never through a mapping: a
//!   file that shrinks while emu reads it gives short reads, not SIGBUS.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};

/// What the kernel's execve of `path` would say before it reads the file:
/// `Ok` if it could open it for execution, or the errno it returns (ENOENT,
/// ENOTDIR, ELOOP, ENAMETOOLONG, EACCES for a directory, a FIFO, a file
/// without an execute bit or on a `noexec` mount, ETXTBSY for a file open
/// for writing, ...). `dirfd` and `flags` are execveat's.
///
/// The kernel opens the file before it reads the argument vector, so an
/// execveat whose argv is an address no process can read stops right
/// after the open, with EFAULT, and nothing is executed (the file's bytes are
/// not even read). A FIFO is refused before it is opened, so this never blocks.
pub fn exec_access(dirfd: i32, path: &CStr, flags: i32) -> Result<(), i32> {
    /// In the kernel's half of the address space: reading it always faults.
    const UNREADABLE: u64 = 0xffff_8000_0000_0000;
    let r: i64;
    // SAFETY: execveat with an argv the kernel cannot read returns EFAULT
    // (or an earlier error) without replacing this process.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") libc::SYS_execveat => r,
            in("rdi") dirfd as i64,
            in("rsi") path.as_ptr(),
            in("rdx") UNREADABLE,
            in("r10") UNREADABLE,
            in("r8") flags as i64,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    match r {
        0 => unreachable!("an execveat with an unreadable argv returned 0"),
        r if r == -(libc::EFAULT as i64) => Ok(()),
        r => Err(-r as i32),
    }
}

/// Bytes of a file read at an offset: a file on disk, or bytes in memory
/// (for tests and fuzzing).
pub trait Source {
    /// Fills as much of `buf` as the source has from `offset`; returns how
    /// much (less than `buf.len()` only at the end).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;

    /// Reads exactly `len` bytes at `offset`, or `None` past the end.
    fn read_exact_at(&self, offset: u64, len: usize) -> io::Result<Option<Vec<u8>>> {
        let mut buf = vec![0; len];
        let n = self.read_at(offset, &mut buf)?;
        Ok((n == len).then_some(buf))
    }
}

impl Source for [u8] {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.len());
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

/// A file opened for an exec: read with pread, and mapped by the loader.
#[derive(Debug)]
pub struct ExecFile {
    file: File,
    /// Identity and state when opened, to tell later whether it changed.
    pub stamp: FileStamp,
}

/// What says a file is still the one loaded: device, inode, size and times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
}

impl FileStamp {
    pub fn of(meta: &std::fs::Metadata) -> Self {
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

impl ExecFile {
    /// Opens a file that [`exec_access`] accepted. Opened non-blocking, so
    /// that a FIFO swapped in since then cannot hang emu.
    pub fn open(path: &std::path::Path) -> io::Result<ExecFile> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::from_raw_os_error(libc::EACCES));
        }
        Ok(ExecFile { file, stamp: FileStamp::of(&meta) })
    }

    pub fn fd(&self) -> i32 {
        self.file.as_raw_fd()
    }
}

impl Source for ExecFile {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], offset.saturating_add(done as u64)) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Past what a file offset can be: the end.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break,
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}
