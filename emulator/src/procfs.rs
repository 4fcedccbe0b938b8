//! The guest's /proc/self: what a program reads there about itself is the
//! guest's, not emu's, as qemu-user shows it.
//!
//! * `exe` names and opens the guest's executable (`files`);
//! * `maps` and `smaps` list the guest arena's mappings (and the vDSO the
//!   guest was given), its stack and break named `[stack]` and `[heap]`;
//! * `auxv` is the guest's auxiliary vector, `cmdline` its arguments,
//!   `environ` its environment (as it started, as the kernel's), and
//!   `comm` the guest's name (set when it starts, so `stat` and `status`
//!   agree);
//! * `fd` and `fdinfo` neither list emu's private descriptors nor open them.
//!
//! Each is reached through `/proc/self`, `/proc/PID`, `/proc/thread-self`
//! and `/proc/PID/task/TID` for a thread of this process, by path or
//! relative to a descriptor of one of those directories. A generated file
//! is a memfd with the text in it: it reads, seeks and stats as a file.

use crate::call::Call;
use crate::fds;
use crate::memory::{arena, guest};
use crate::process::process;
use crate::sys::{self, Errno, SysResult};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// What the guest started with, read back from its initial stack.
struct Started {
    /// Its arguments, each with its NUL, as /proc/self/cmdline holds them.
    cmdline: Vec<u8>,
    /// Its environment, the same way (/proc/self/environ).
    environ: Vec<u8>,
    /// Its auxiliary vector, AT_NULL included, as /proc/self/auxv holds it.
    auxv: Vec<u8>,
    /// The initial stack pointer: the mapping that holds it is `[stack]`.
    sp: u64,
}

static STARTED: OnceLock<Started> = OnceLock::new();

/// Reads the guest's arguments, environment and auxiliary vector from its
/// initial stack, `sp` (argc, argv, NULL, envp, NULL, auxv) up to `top`,
/// copied in one piece; and gives this process the guest's name: `comm` is
/// the base name of the file executed (as the kernel's exec sets it), and
/// the command line `ps` shows is the guest's.
pub fn guest_started(sp: u64, top: u64, execfn: &[u8]) {
    let mut stack = vec![0u8; top.saturating_sub(sp).min(16 << 20) as usize];
    if guest::read(sp, &mut stack).is_err() {
        stack.clear();
    }
    let word = |at: u64| -> u64 {
        let off = at.wrapping_sub(sp) as usize;
        off.checked_add(8).and_then(|end| stack.get(off..end)).map_or(0, |b| u64::from_ne_bytes(b.try_into().unwrap()))
    };
    // A string the stack holds, with its NUL.
    let string = |at: u64| -> &[u8] {
        let off = (at.wrapping_sub(sp) as usize).min(stack.len());
        let rest = &stack[off..];
        &rest[..rest.iter().position(|&b| b == 0).map_or(rest.len(), |n| n + 1)]
    };
    let argc = word(sp).min(1 << 20);
    let mut cmdline = Vec::new();
    for i in 0..argc {
        cmdline.extend_from_slice(string(word(sp + 8 * (1 + i))));
    }
    let mut at = sp + 8 * (argc + 2);
    let mut environ = Vec::new();
    while word(at) != 0 {
        environ.extend_from_slice(string(word(at)));
        at += 8;
    }
    at += 8;
    let mut auxv = Vec::new();
    loop {
        let (kind, value) = (word(at), word(at + 8));
        auxv.extend_from_slice(&kind.to_ne_bytes());
        auxv.extend_from_slice(&value.to_ne_bytes());
        if kind == 0 || auxv.len() > 4096 {
            break;
        }
        at += 16;
    }
    let name = execfn.rsplit(|&b| b == b'/').next().unwrap_or(execfn);
    let mut comm = [0u8; 16];
    let n = name.len().min(15);
    comm[..n].copy_from_slice(&name[..n]);
    // SAFETY: PR_SET_NAME reads 16 bytes of ours.
    unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr()) };
    show_command_line(&cmdline);
    let _ = STARTED.set(Started { cmdline, environ, auxv, sp });
}

/// Makes the kernel's view of this process's arguments (what `ps` and
/// other processes' /proc/PID/cmdline read) the guest's: they are written
/// over emu's own argument strings, which hold `emu [OPTIONS] PROGRAM
/// ARGS...` and so room for the guest's (emu has parsed its own by now and
/// reads them no more); the rest is NUL. (PR_SET_MM would point the kernel
/// elsewhere but needs CAP_SYS_RESOURCE.)
fn show_command_line(cmdline: &[u8]) {
    let (start, end) = (ARGUMENTS[0].load(Ordering::Relaxed), ARGUMENTS[1].load(Ordering::Relaxed));
    if end <= start || end - start > 1 << 20 {
        return;
    }
    let room = (end - start) as usize;
    let n = cmdline.len().min(room);
    // SAFETY: [start, end) is this process's own argument area (the
    // kernel's arg_start and arg_end), mapped and writable, which nothing
    // of emu's reads any more.
    unsafe {
        let area = std::slice::from_raw_parts_mut(start as *mut u8, room);
        area[..n].copy_from_slice(&cmdline[..n]);
        area[n..].fill(0);
        area[room - 1] = 0;
    }
}

/// Where the kernel put emu's own argument strings, `[start, end)`: its
/// arg_start and arg_end, which /proc/self/stat shows (reading that took
/// about 15 us of every start). The strings lie there one after another,
/// each with its NUL, so the area runs from the first to the end of the
/// last.
static ARGUMENTS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// glibc calls the functions of `.init_array` with `main`'s arguments (as
/// Rust's standard library takes them); this one notes where emu's own
/// argument strings are.
#[used]
#[link_section = ".init_array"]
static NOTE_ARGUMENTS: extern "C" fn(libc::c_int, *const *const libc::c_char, *const *const libc::c_char) =
    note_arguments;

extern "C" fn note_arguments(argc: libc::c_int, argv: *const *const libc::c_char, _: *const *const libc::c_char) {
    if argc < 1 || argv.is_null() {
        return;
    }
    // SAFETY: the kernel's argument vector: argc pointers to NUL-terminated strings.
    let (first, last) = unsafe { (*argv, *argv.add(argc as usize - 1)) };
    if first.is_null() || last.is_null() {
        return;
    }
    // SAFETY: as above.
    let end = last as u64 + unsafe { libc::strlen(last) } as u64 + 1;
    ARGUMENTS[0].store(first as u64, Ordering::Relaxed);
    ARGUMENTS[1].store(end, Ordering::Relaxed);
}

/// The entry a path names below this process's (or one of its threads')
/// /proc directory: `maps` for `/proc/self/maps`, `/proc/PID/maps`,
/// `/proc/thread-self/maps` or `/proc/PID/task/TID/maps`; `fd/3` for
/// `/proc/self/fd/3`. None for anything else.
pub fn self_entry(path: &[u8]) -> Option<&[u8]> {
    let ours = |id: &[u8]| match id {
        b"self" => true,
        _ => std::str::from_utf8(id).ok().and_then(|s| s.parse::<i32>().ok()).is_some_and(|tid| {
            tid > 0 && !id.starts_with(b"0") && {
                // SAFETY: tgkill with signal 0 only checks that the thread exists.
                unsafe { sys::syscall6(libc::SYS_tgkill as u64, [sys::getpid() as u64, tid as u64, 0, 0, 0, 0]) == 0 }
            }
        }),
    };
    let rest = path.strip_prefix(b"/proc/")?;
    let (first, rest) = split_once(rest)?;
    if first == b"thread-self" {
        return Some(rest);
    }
    if !ours(first) {
        return None;
    }
    match split_once(rest) {
        Some((b"task", rest)) => {
            let (thread, rest) = split_once(rest)?;
            (thread != b"self" && ours(thread)).then_some(rest)
        }
        _ => Some(rest),
    }
}

/// A path relative to directory descriptor `dirfd` made absolute, when it
/// may name one of the entries emu answers (`openat(fd_of_proc_self,
/// "maps")`): the name is looked at first, so that only those cost the
/// readlink of the descriptor.
pub fn with_directory(dirfd: i32, path: &[u8]) -> Option<Vec<u8>> {
    if path.starts_with(b"/") || dirfd == libc::AT_FDCWD {
        return None;
    }
    let first = path.split(|&b| b == b'/').next().unwrap_or(path);
    let answered = generated(path).is_some()
        || matches!(first, b"fd" | b"fdinfo" | b"task" | b"self" | b"thread-self")
        || first.iter().all(u8::is_ascii_digit);
    if !answered {
        return None;
    }
    let mut dir = descriptor_target(dirfd)?;
    dir.push(b'/');
    dir.extend_from_slice(path);
    Some(dir)
}

/// The path a descriptor of this process is open on.
fn descriptor_target(fd: i32) -> Option<Vec<u8>> {
    let link = format!("/proc/self/fd/{fd}\0");
    let mut target = [0u8; 4096];
    // SAFETY: readlink into a buffer of ours.
    let n = unsafe { libc::readlink(link.as_ptr().cast(), target.as_mut_ptr().cast(), target.len()) };
    (n > 0).then(|| target[..n as usize].to_vec())
}

fn split_once(p: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = p.iter().position(|&b| b == b'/')?;
    Some((&p[..i], &p[i + 1..]))
}

/// The files emu writes for the guest.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Generated {
    Maps,
    Smaps,
    Auxv,
    Cmdline,
    Environ,
}

/// Which generated file an entry of this process's /proc directory is.
pub fn generated(entry: &[u8]) -> Option<Generated> {
    match entry {
        b"maps" => Some(Generated::Maps),
        b"smaps" => Some(Generated::Smaps),
        b"auxv" => Some(Generated::Auxv),
        b"cmdline" => Some(Generated::Cmdline),
        b"environ" => Some(Generated::Environ),
        _ => None,
    }
}

/// Whether an entry names one of emu's private descriptors through `fd/N`
/// or `fdinfo/N`: to the guest it does not exist.
pub fn hides(entry: &[u8]) -> bool {
    let number = entry.strip_prefix(b"fd/").or_else(|| entry.strip_prefix(b"fdinfo/"));
    number.and_then(|n| std::str::from_utf8(n).ok()?.parse::<i32>().ok()).is_some_and(fds::is_private)
}

/// Opens a generated file for reading (`flags` are open(2)'s): a memfd
/// holding the text. An open for writing is the host's to answer, on the
/// real file (EACCES, or for root a file whose writes fail).
pub fn open_generated(which: Generated, flags: u64) -> SysResult {
    let text = match which {
        Generated::Maps => guest_maps(false)?,
        Generated::Smaps => guest_maps(true)?,
        Generated::Auxv => STARTED.get().map(|s| s.auxv.clone()).unwrap_or_default(),
        Generated::Cmdline => STARTED.get().map(|s| s.cmdline.clone()).unwrap_or_default(),
        Generated::Environ => STARTED.get().map(|s| s.environ.clone()).unwrap_or_default(),
    };
    let cloexec = if flags & libc::O_CLOEXEC as u64 != 0 { libc::MFD_CLOEXEC } else { 0 };
    let name = match which {
        Generated::Maps => c"maps",
        Generated::Smaps => c"smaps",
        Generated::Auxv => c"auxv",
        Generated::Cmdline => c"cmdline",
        Generated::Environ => c"environ",
    };
    // SAFETY: a new memfd of the guest's, named by a static string.
    let fd = sys::result(unsafe {
        sys::syscall6(libc::SYS_memfd_create as u64, [name.as_ptr() as u64, cloexec as u64, 0, 0, 0, 0])
    })? as i32;
    let written = sys::write_all(fd, &text).and_then(|_| {
        // SAFETY: rewinds the memfd just written.
        sys::result(unsafe { sys::syscall6(libc::SYS_lseek as u64, [fd as u64, 0, libc::SEEK_SET as u64, 0, 0, 0]) })
    });
    if let Err(e) = written {
        // SAFETY: closes the memfd just made.
        unsafe { sys::syscall6(libc::SYS_close as u64, [fd as u64, 0, 0, 0, 0, 0]) };
        return Err(e);
    }
    Ok(fd as u64)
}

/// The host's maps (or smaps) of this process, the guest's part of it: the
/// mappings in the guest arena and the kernel's vDSO pages the guest uses.
fn guest_maps(smaps: bool) -> Result<Vec<u8>, Errno> {
    let host = std::fs::read(if smaps { "/proc/self/smaps" } else { "/proc/self/maps" })
        .map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let (brk_start, brk_end) = {
        let memory = process().memory();
        (memory.brk.start(), memory.brk.current())
    };
    let sp = STARTED.get().map_or(0, |s| s.sp);
    let mut out = Vec::with_capacity(host.len() / 2);
    let mut keep = false;
    for line in host.split_inclusive(|&b| b == b'\n') {
        let Some((start, end, name_at)) = mapping_line(line) else {
            // An smaps field line belongs to the mapping above it.
            if keep {
                out.extend_from_slice(line);
            }
            continue;
        };
        let name = line[name_at..].trim_ascii();
        keep = arena::contains(start, end - start) || matches!(name, b"[vdso]" | b"[vvar]" | b"[vsyscall]");
        if !keep {
            continue;
        }
        let label: &[u8] = if !name.is_empty() {
            b""
        } else if (start..end).contains(&sp) {
            b"[stack]"
        } else if start < brk_end.max(brk_start + 1) && end > brk_start && brk_end > brk_start {
            b"[heap]"
        } else {
            b""
        };
        if label.is_empty() {
            out.extend_from_slice(line);
        } else {
            // The kernel pads the name to column 74 (73 bytes before it).
            let mut l = line[..name_at].trim_ascii_end().to_vec();
            while l.len() < 73 {
                l.push(b' ');
            }
            l.push(b' ');
            l.extend_from_slice(label);
            l.push(b'\n');
            out.extend_from_slice(&l);
        }
    }
    Ok(out)
}

/// A maps line `start-end perms offset dev inode [name]`: its range and
/// where its name starts (after the inode and its padding).
fn mapping_line(line: &[u8]) -> Option<(u64, u64, usize)> {
    let text = std::str::from_utf8(line).ok()?;
    let mut fields = text.splitn(6, ' ');
    let (start, end) = fields.next()?.split_once('-')?;
    let (start, end) = (u64::from_str_radix(start, 16).ok()?, u64::from_str_radix(end, 16).ok()?);
    let perms = fields.next()?;
    if perms.len() != 4 || end <= start {
        return None;
    }
    let (_offset, _dev, _inode) = (fields.next()?, fields.next()?, fields.next()?);
    let name_at = line.len() - fields.next().map_or(0, |rest| rest.len());
    Some((start, end, name_at))
}

/// getdents64 of a directory that lists this process's descriptors (`fd`,
/// `fdinfo`): emu's private ones are taken out of what the kernel wrote.
/// Returns the new length of the records at `buf` (0 only at the end).
pub fn list_without_private(call: &mut Call, dirfd: i32, buf: u64, n: u64) -> SysResult {
    if n == 0 || !lists_descriptors(dirfd) {
        return Ok(n);
    }
    let mut n = n;
    loop {
        let mut records = vec![0u8; n as usize];
        guest::read(buf, &mut records)?;
        let mut kept = Vec::with_capacity(records.len());
        let mut off = 0usize;
        while off + 19 <= records.len() {
            let reclen = u16::from_ne_bytes([records[off + 16], records[off + 17]]) as usize;
            if reclen == 0 || off + reclen > records.len() {
                break;
            }
            let record = &records[off..off + reclen];
            let name = &record[19..];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            let private =
                std::str::from_utf8(name).ok().and_then(|s| s.parse::<i32>().ok()).is_some_and(fds::is_private);
            if !private {
                kept.extend_from_slice(record);
            }
            off += reclen;
        }
        if !kept.is_empty() {
            guest::write(buf, &kept)?;
            return Ok(kept.len() as u64);
        }
        // Every record was emu's: the next ones, so that 0 still means the end.
        let count = call.args[2];
        n = call.host_with(libc::SYS_getdents64, [dirfd as u64, buf, count, 0, 0, 0])?;
        if n == 0 {
            return Ok(0);
        }
    }
}

/// Whether `dirfd` is open on this process's (or a thread's) `fd` or
/// `fdinfo` directory.
fn lists_descriptors(dirfd: i32) -> bool {
    descriptor_target(dirfd).is_some_and(|target| self_entry(&target).is_some_and(|e| matches!(e, b"fd" | b"fdinfo")))
}
