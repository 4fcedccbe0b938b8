//! How a guest process begins anew and ends: fork (the child re-arms
//! syscall dispatch, which the kernel does not pass on), execve (the new
//! image runs under emu again, with the same options), and exit (the trace's
//! last line and the statistics).

use crate::dispatch::Call;
use crate::fds;
use crate::memory::guest;
use crate::process::{self, process};
use crate::sys::{self, Errno, SysResult};
use std::ffi::{CString, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// How the process ended, for the trace's last line.
#[derive(Clone, Copy, Debug)]
pub enum Ending {
    Exited(i32),
    Killed(i32),
}

fn report(ending: Ending) {
    let p = process();
    if let Some(t) = &p.tracer {
        t.process_ended(ending);
    }
    if let Some(s) = &p.stats {
        s.report_if_owner(p);
    }
}

/// Ends the guest process with `status` (exit_group).
pub fn exit_process(status: i32) -> ! {
    report(Ending::Exited(status));
    // SAFETY: ends the process.
    unsafe { sys::syscall6(libc::SYS_exit_group as u64, [status as u64, 0, 0, 0, 0, 0]) };
    unreachable!("exit_group returned")
}

/// The guest is about to die of `sig`.
pub fn killed_by(sig: i32) {
    report(Ending::Killed(sig));
}

/// A fork-like clone, in host terms.
#[derive(Clone, Copy, Debug, Default)]
pub struct ForkRequest {
    /// clone flags, without CLONE_VM and CLONE_THREAD.
    pub flags: u64,
    /// The child's stack pointer (0: the parent's).
    pub stack: u64,
    pub parent_tid: u64,
    pub child_tid: u64,
    /// The child's FS base, with CLONE_SETTLS.
    pub tls: u64,
    /// The guest's `struct clone_args`, when it called clone3.
    pub clone3: Option<CloneArgs>,
}

/// `struct clone_args` of clone3 (up to CLONE_ARGS_SIZE_VER2).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct CloneArgs {
    pub flags: u64,
    pub pidfd: u64,
    pub child_tid: u64,
    pub parent_tid: u64,
    pub exit_signal: u64,
    pub stack: u64,
    pub stack_size: u64,
    pub tls: u64,
    pub set_tid: u64,
    pub set_tid_size: u64,
    pub cgroup: u64,
}
// SAFETY: integers only.
unsafe impl guest::Pod for CloneArgs {}

/// Forks the guest. The kernel's clone runs here, inside the SIGSYS handler,
/// so both processes return from it in emulator code: the child re-arms
/// dispatch before it returns to the guest. What the kernel must not do
/// while emu runs (load the child's FS, switch its stack) is done to the
/// child's saved guest registers instead.
pub fn fork(call: &mut Call, req: ForkRequest) -> SysResult {
    let host_flags = req.flags & !(libc::CLONE_SETTLS | libc::CLONE_VM) as u64;
    // SAFETY: a fork-like clone: no shared memory, no new stack; the child
    // continues here on its copy of this handler's stack.
    let r = unsafe {
        match req.clone3 {
            Some(mut a) => {
                a.flags = host_flags;
                (a.stack, a.stack_size, a.tls) = (0, 0, 0);
                sys::syscall6(libc::SYS_clone3 as u64, [&a as *const CloneArgs as u64, std::mem::size_of::<CloneArgs>() as u64, 0, 0, 0, 0])
            }
            None => sys::syscall6(libc::SYS_clone as u64, [host_flags, 0, req.parent_tid, req.child_tid, 0, 0]),
        }
    };
    let pid = sys::result(r)?;
    let p = process();
    if let Some(t) = &p.tracer {
        t.several_processes();
    }
    if pid != 0 {
        return Ok(pid);
    }
    // The child.
    process::refresh_pid();
    call.thread.tid = sys::gettid();
    if let Err(e) = crate::sud::arm() {
        log::error!("the child process cannot re-arm syscall dispatch: {e}");
        // SAFETY: ends the child, which cannot run its guest safely.
        unsafe { sys::syscall6(libc::SYS_exit_group as u64, [127, 0, 0, 0, 0, 0]) };
    }
    if req.flags & libc::CLONE_SETTLS as u64 != 0 {
        call.thread.guest_fs = req.tls;
    }
    if req.stack != 0 {
        call.ctx.set_rsp(req.stack);
    }
    Ok(0)
}

/// What a new image needs to run under emu as this one does.
#[derive(Clone, Debug, Default)]
pub struct Relaunch {
    /// emu's own options, as given on the command line (tables as absolute paths).
    pub options: Vec<OsString>,
}

/// The longest argument list emu copies for an execve (Linux: a quarter of the stack).
const ARG_MAX: usize = 2 << 20;

/// execve: the new image runs under emu again. What would make the kernel's
/// execve fail (no such file, no permission, not executable) is checked
/// first and returned to the guest, as the kernel would.
pub fn execve(call: &mut Call, dirfd: i32, path_ptr: u64, argv_ptr: u64, envp_ptr: u64, flags: u64) -> SysResult {
    let mut path = Vec::new();
    if !guest::read_cstr(path_ptr, libc::PATH_MAX as usize, &mut path)? {
        return Err(Errno::ENAMETOOLONG);
    }
    let argv = read_string_array(argv_ptr)?;
    let target: OsString = if path.is_empty() && flags & libc::AT_EMPTY_PATH as u64 != 0 {
        format!("/proc/self/fd/{dirfd}").into()
    } else if path.is_empty() {
        return Err(Errno::ENOENT);
    } else if path[0] == b'/' || dirfd == libc::AT_FDCWD {
        OsString::from_vec(path)
    } else {
        let mut t = format!("/proc/self/fd/{dirfd}/").into_bytes();
        t.extend_from_slice(&path);
        OsString::from_vec(t)
    };
    if let Err(e) = loader::inspect(std::path::Path::new(&target)) {
        return Err(match e {
            loader::LoadError::Open { error, .. } => Errno(error.raw_os_error().unwrap_or(libc::ENOENT)),
            _ => Errno(libc::ENOEXEC),
        });
    }

    let p = process();
    let mut args: Vec<OsString> = vec!["emu".into()];
    args.extend(p.relaunch.options.iter().cloned());
    let mut inherited = vec![crate::log::fd()];
    args.push(format!("--log-fd={}", crate::log::fd()).into());
    if let Some(t) = &p.tracer {
        t.relaunch_options(&mut args, &mut inherited);
    }
    if let Some(s) = &p.stats {
        s.relaunch_options(&mut args, &mut inherited);
    }
    let argv0 = argv.first().cloned().unwrap_or_default();
    args.push("--argv0".into());
    args.push(OsString::from_vec(argv0));
    args.push("--".into());
    args.push(target);
    args.extend(argv.into_iter().skip(1).map(OsString::from_vec));

    let c_args: Vec<CString> = args
        .iter()
        .map(|a| CString::new(a.as_bytes()).map_err(|_| Errno::EINVAL))
        .collect::<Result<_, _>>()?;
    let mut ptrs: Vec<*const libc::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());

    if let Some(t) = &p.tracer {
        if call.slot.traced {
            t.exit(call, &Ok(0));
        }
    }
    fds::set_inheritable(&inherited, true);
    let exe = c"/proc/self/exe";
    // SAFETY: NUL-terminated arguments that live until the call; the
    // environment is the guest's own array, which the kernel checks.
    let r = unsafe { sys::syscall6(libc::SYS_execve as u64, [exe.as_ptr() as u64, ptrs.as_ptr() as u64, envp_ptr, 0, 0, 0]) };
    fds::set_inheritable(&inherited, false);
    sys::result(r)
}

/// A NULL-terminated array of guest strings (argv).
fn read_string_array(mut at: u64) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    let mut total = 0usize;
    if at == 0 {
        return Ok(out);
    }
    loop {
        let ptr: u64 = guest::read_val(at)?;
        if ptr == 0 {
            return Ok(out);
        }
        let mut s = Vec::new();
        if !guest::read_cstr(ptr, ARG_MAX - total, &mut s)? {
            return Err(Errno(libc::E2BIG));
        }
        total += s.len() + 1 + 8;
        out.push(s);
        at += 8;
    }
}
