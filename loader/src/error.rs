use std::path::{Path, PathBuf};

/// Why a program could not be started, as the kernel's execve would have
/// it, with one line for the user.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", .path.display())]
pub struct LoadError {
    /// The file at fault (the program, a `#!` interpreter, a PT_INTERP).
    pub path: PathBuf,
    /// What the kernel's execve returns (ENOENT, EACCES, ENOEXEC, ELIBBAD,
    /// E2BIG, ...), or, when `fatal`, the error it meets after the point of
    /// no return.
    pub errno: i32,
    /// The kernel gets this far only after it has given up the old image:
    /// it kills the process with SIGSEGV instead of returning an error.
    pub fatal: bool,
    pub reason: String,
}

impl LoadError {
    /// An error execve returns, described by its errno alone ("No such file
    /// or directory (os error 2)").
    pub fn os(path: &Path, errno: i32) -> Self {
        let reason = std::io::Error::from_raw_os_error(errno).to_string();
        LoadError { path: path.to_path_buf(), errno, fatal: false, reason }
    }

    /// An error execve returns, with emu's words for it.
    pub fn refused(path: &Path, errno: i32, reason: impl Into<String>) -> Self {
        LoadError {
            path: path.to_path_buf(),
            errno,
            fatal: false,
            reason: format!("cannot execute: {}", reason.into()),
        }
    }

    /// An image the kernel starts to load and then kills with SIGSEGV.
    pub fn fatal(path: &Path, errno: i32, reason: impl Into<String>) -> Self {
        LoadError {
            path: path.to_path_buf(),
            errno,
            fatal: true,
            reason: format!("cannot load: {} (the kernel kills such a program with SIGSEGV)", reason.into()),
        }
    }

    /// What emu cannot do although the kernel could (not a refusal of the
    /// kernel's): execve gets ENOEXEC, the shell 126.
    pub fn unsupported(path: &Path, reason: impl Into<String>) -> Self {
        LoadError {
            path: path.to_path_buf(),
            errno: libc::ENOEXEC,
            fatal: false,
            reason: format!("cannot execute: {}", reason.into()),
        }
    }

    /// The exit status a shell gives when it cannot run a program: 127 when
    /// it is not there, 126 when it cannot be executed, 128 + SIGSEGV when
    /// the kernel kills it while loading it.
    pub fn exit_status(&self) -> i32 {
        match (self.fatal, self.errno) {
            (true, _) => 128 + libc::SIGSEGV,
            (false, libc::ENOENT) => 127,
            _ => 126,
        }
    }
}
