//! From a path given to execve to the images to map, with the checks and
//! errors of the kernel's execve in its order: the open of each file, the
//! argument list's size, `#!` scripts (five at most before the program),
//! the ELF headers, and the interpreter a PT_INTERP names. Everything here
//! happens before the kernel's point of no return: each error is one the
//! guest's execve returns.

use crate::elf::{self, ElfImage, GuestAbi};
use crate::error::LoadError;
use crate::file::{exec_access, ExecFile, Source};
use crate::script::{self, BadShebang};
use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// How many `#!` scripts may precede the program (the kernel's
/// `exec_binprm` allows five rewrites).
const MAX_SCRIPTS: usize = 5;
/// The longest single argument or environment string, its NUL included
/// (MAX_ARG_STRLEN).
const MAX_ARG_STRLEN: usize = 32 * 4096;
/// The kernel's bounds on the argument area: at most 3/4 of its 8 MiB
/// default stack, at least ARG_MAX.
const ARGS_MAX: u64 = (8 << 20) / 4 * 3;
const ARGS_MIN: u64 = 128 << 10;

/// An ELF file to map, with its headers.
#[derive(Debug)]
pub struct Loadable {
    pub path: PathBuf,
    pub file: ExecFile,
    pub image: ElfImage,
}

/// What an execve runs: the program, its interpreter, and the arguments
/// after any `#!` rewrites.
#[derive(Debug)]
pub struct Exec {
    pub program: Loadable,
    pub interpreter: Option<Loadable>,
    pub argv: Vec<Vec<u8>>,
    /// How many `#!` scripts led to the program.
    pub scripts: usize,
}

/// What the new image's arguments are checked against.
#[derive(Clone, Copy, Debug)]
pub struct ExecLimits {
    /// RLIMIT_STACK's soft value (None: unlimited).
    pub stack: Option<u64>,
    /// The file was named through a close-on-exec descriptor: a script's
    /// interpreter could not open it by its /dev/fd name (ENOENT).
    pub path_inaccessible: bool,
}

fn c_path(path: &[u8], whose: &Path) -> Result<CString, LoadError> {
    CString::new(path).map_err(|_| LoadError::os(whose, libc::ENOENT))
}

/// Opens a file the way execve's `open_exec` does: the kernel's own verdict
/// first, then a descriptor to read it with.
fn open_exec(path: &[u8]) -> Result<ExecFile, LoadError> {
    let shown = Path::new(OsStr::from_bytes(path));
    // The kernel opens an empty interpreter name as a path to the current
    // directory (EACCES); from user space it would be ENOENT.
    if path.is_empty() {
        return Err(LoadError::os(shown, libc::EACCES));
    }
    exec_access(libc::AT_FDCWD, &c_path(path, shown)?, 0).map_err(|errno| explained(shown, errno))?;
    ExecFile::open(shown).map_err(|e| explained(shown, e.raw_os_error().unwrap_or(libc::EIO)))
}

/// An open error, with what makes a file one the kernel will not execute
/// when that is not obvious from the errno.
fn explained(path: &Path, errno: i32) -> LoadError {
    let mut e = LoadError::os(path, errno);
    if errno == libc::EACCES {
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        let why = match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => Some("a directory"),
            Ok(m) if m.file_type().is_fifo() => Some("a FIFO, not a regular file"),
            Ok(m) if m.file_type().is_socket() => Some("a socket, not a regular file"),
            Ok(m) if m.file_type().is_block_device() || m.file_type().is_char_device() => {
                Some("a device, not a regular file")
            }
            Ok(m) if m.permissions().mode() & 0o111 == 0 => Some("no execute permission"),
            _ => None,
        };
        if let Some(why) = why {
            e.reason = format!("{}: {why}", e.reason);
        }
    }
    e
}

/// Follows `filename` to the program execve would run, reading and checking
/// every file on the way.
pub fn prepare(filename: &[u8], argv: Vec<Vec<u8>>, envp: &[Vec<u8>], limits: ExecLimits) -> Result<Exec, LoadError> {
    let shown = |p: &[u8]| PathBuf::from(OsStr::from_bytes(p));
    let mut file = open_exec(filename)?;
    let room = ArgRoom::new(&argv, envp, limits.stack);
    room.check(filename, &argv, envp).map_err(|e| LoadError::os(&shown(filename), e))?;

    // The kernel adds an empty argv[0] to an empty argv.
    let mut argv = if argv.is_empty() { vec![Vec::new()] } else { argv };
    let mut path = filename.to_vec();
    // What a script's interpreter is told to run: the path execve was given,
    // then each interpreter's name as its `#!` line spelled it.
    let mut script_name = filename.to_vec();
    for scripts in 0.. {
        if scripts > MAX_SCRIPTS {
            return Err(LoadError::refused(&shown(filename), libc::ELOOP, "too many levels of #! interpreters"));
        }
        let here = shown(&path);
        let mut head = vec![0u8; script::HEAD_SIZE];
        let n = file.read_at(0, &mut head).map_err(|e| LoadError::os(&here, e.raw_os_error().unwrap_or(libc::EIO)))?;
        head.truncate(n);
        if head.is_empty() {
            return Err(LoadError::refused(&here, libc::ENOEXEC, "the file is empty"));
        }
        let shebang = match script::parse(&head) {
            None => {
                let image = elf::read_program(&file, &head, &here)?;
                if image.abi == GuestAbi::FreeBsd && image.interpreter.is_some() {
                    return Err(LoadError::refused(
                        &here,
                        libc::ENOEXEC,
                        "a dynamically linked FreeBSD program needs FreeBSD's run-time linker (ld-elf.so.1) and \
                         libraries, which emu does not have: run a static build",
                    ));
                }
                let interpreter = match &image.interpreter {
                    Some(name) => Some(open_interpreter(name)?),
                    None => None,
                };
                return Ok(Exec { program: Loadable { path: here, file, image }, interpreter, argv, scripts });
            }
            Some(Err(BadShebang::NoInterpreter)) => {
                return Err(LoadError::refused(&here, libc::ENOEXEC, "the #! line names no interpreter"))
            }
            Some(Err(BadShebang::TooLong)) => {
                return Err(LoadError::refused(&here, libc::ENOEXEC, "the #! line is longer than 255 bytes"))
            }
            Some(Ok(s)) => s,
        };
        if limits.path_inaccessible {
            return Err(LoadError::refused(&here, libc::ENOENT, "a script named by a close-on-exec descriptor"));
        }
        let mut next = vec![shebang.interpreter.clone()];
        next.extend(shebang.argument);
        next.push(std::mem::take(&mut script_name));
        next.extend(argv.drain(..).skip(1));
        argv = next;
        room.check(filename, &argv, envp).map_err(|e| LoadError::os(&here, e))?;
        file = open_exec(&shebang.interpreter).map_err(|e| bad_interpreter(&here, e))?;
        script_name = shebang.interpreter.clone();
        path = shebang.interpreter;
    }
    unreachable!("the loop returns")
}

/// A script's interpreter that cannot be opened, said as a shell says it.
fn bad_interpreter(script: &Path, e: LoadError) -> LoadError {
    LoadError {
        reason: format!("bad interpreter: {}: {}", e.path.display(), e.reason),
        path: script.to_path_buf(),
        ..e
    }
}

/// The interpreter a PT_INTERP names (relative to the current directory,
/// as for the kernel).
fn open_interpreter(name: &[u8]) -> Result<Loadable, LoadError> {
    let file = open_exec(name)?;
    let path = PathBuf::from(OsStr::from_bytes(name));
    let image = elf::read_interpreter(&file, &path)?;
    Ok(Loadable { path, file, image })
}

/// The room for arguments and environment on the new stack, as the kernel's
/// `bprm_stack_limits` reckons it: computed once, from the arguments execve
/// was given, and applied again after each `#!` rewrite.
struct ArgRoom {
    /// Bytes of strings (each with its NUL) that fit.
    strings: u64,
}

impl ArgRoom {
    fn new(argv: &[Vec<u8>], envp: &[Vec<u8>], stack: Option<u64>) -> ArgRoom {
        let rlimit = stack.unwrap_or(u64::MAX);
        let limit = (rlimit / 4).clamp(ARGS_MIN, ARGS_MAX);
        let pointers = (argv.len().max(1) as u64 + envp.len() as u64).saturating_mul(8);
        let mut strings = limit.saturating_sub(pointers);
        // A stack smaller than that minimum holds no more than itself.
        if rlimit < ARGS_MIN {
            strings = strings.min(rlimit.saturating_sub(8));
        }
        ArgRoom { strings }
    }

    fn check(&self, filename: &[u8], argv: &[Vec<u8>], envp: &[Vec<u8>]) -> Result<(), i32> {
        let all =
            || std::iter::once(filename).chain(argv.iter().map(Vec::as_slice)).chain(envp.iter().map(Vec::as_slice));
        if all().any(|s| s.len() + 1 > MAX_ARG_STRLEN) {
            return Err(libc::E2BIG);
        }
        let total: u64 = all().map(|s| s.len() as u64 + 1).sum::<u64>() + u64::from(argv.is_empty());
        if total > self.strings {
            return Err(libc::E2BIG);
        }
        Ok(())
    }
}
