//! How a guest process begins anew and ends: fork (the child re-arms
//! syscall dispatch, which the kernel does not pass on), execve (the new
//! image runs under emu again, with the same options), and exit (the trace's
//! last line and the statistics).

use crate::call::Call;
use crate::fds;
use crate::memory::guest;
use crate::process::process;
use crate::sys::{self, Errno, SysResult};
use std::ffi::{CString, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

mod vfork;

/// clone3's flag to reset the child's handlers (not in the libc crate).
const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;

/// How the process ended, for the trace's last line and for hooks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// exit_group (or the last thread's exit) with this status.
    Exited(i32),
    /// Killed by this (host) signal.
    Killed(i32),
}

/// The trace's last line and the statistics, once for the process whichever
/// of its threads ends it.
fn report(ending: Ending) {
    let p = process();
    if !p.group.first_to_report() {
        return;
    }
    // Not a vfork child's end: the hooks' state is its parent's, which
    // goes on (and reports its own end).
    if !crate::process::in_vfork_child() {
        for hook in p.hooks {
            hook.exit(ending);
        }
    }
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
    sys::exit_group(status)
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
    if kernel_refuses(req.flags, req.clone3.is_none()) {
        return Err(Errno::EINVAL);
    }
    if req.flags & libc::CLONE_VM as u64 != 0 {
        if req.flags & libc::CLONE_VFORK as u64 != 0 {
            return vfork::vfork(call, req);
        }
        // A process sharing memory with its parent while both run: it
        // would need emu TLS of its own, which only a thread has.
        log::warn!("clone with CLONE_VM but neither CLONE_THREAD nor CLONE_VFORK is not supported: EINVAL");
        return Err(Errno::EINVAL);
    }
    let pid = if plain_fork(&req) { fork_with_handlers(&req)? } else { raw_fork(&req)? };
    let p = process();
    if let Some(t) = &p.tracer {
        t.several_processes();
    }
    if pid != 0 {
        return Ok(pid);
    }
    // The child: one thread, the process's first.
    fds::forked();
    call.thread.tid.set(sys::gettid());
    if req.flags & libc::CLONE_CHILD_CLEARTID as u64 != 0 {
        call.thread.clear_child_tid.set(req.child_tid);
    }
    call.thread.leave.set(None);
    p.group.reset_after_fork();
    if let Err(e) = crate::sud::arm() {
        log::error!("the child process cannot re-arm syscall dispatch: {e}");
        // The child cannot run its guest safely.
        sys::exit_group(127);
    }
    if req.flags & CLONE_CLEAR_SIGHAND != 0 {
        p.signals.reset_handlers();
    }
    if req.flags & libc::CLONE_SETTLS as u64 != 0 {
        call.thread.guest_fs.set(req.tls);
    }
    if req.stack != 0 {
        call.ctx.set_rsp(req.stack);
    }
    Ok(0)
}

/// The flag sets copy_process and kernel_clone refuse with EINVAL whatever
/// else the call asks: emu answers them as the kernel does before it looks
/// at what it supports itself. `legacy`: clone(2), whose CLONE_PIDFD and
/// CLONE_PARENT_SETTID share one pointer.
pub fn kernel_refuses(flags: u64, legacy: bool) -> bool {
    let has = |f: i32| flags & f as u64 != 0;
    (has(libc::CLONE_NEWNS) && has(libc::CLONE_FS))
        || (has(libc::CLONE_NEWUSER) && has(libc::CLONE_FS))
        || (has(libc::CLONE_THREAD) && !has(libc::CLONE_SIGHAND))
        || (has(libc::CLONE_SIGHAND) && !has(libc::CLONE_VM))
        || (has(libc::CLONE_SIGHAND) && flags & CLONE_CLEAR_SIGHAND != 0)
        || (has(libc::CLONE_THREAD) && (has(libc::CLONE_NEWUSER) || has(libc::CLONE_NEWPID)))
        || (has(libc::CLONE_PIDFD) && has(libc::CLONE_DETACHED))
        || (legacy && has(libc::CLONE_PIDFD) && has(libc::CLONE_PARENT_SETTID))
}

/// Flags a fork can have that emu carries out itself around the C
/// library's fork(): the exit signal SIGCHLD, the tid words, a pidfd.
const FORK_FLAGS: u64 = libc::SIGCHLD as u64
    | libc::CLONE_CHILD_SETTID as u64
    | libc::CLONE_CHILD_CLEARTID as u64
    | libc::CLONE_PARENT_SETTID as u64
    | libc::CLONE_PIDFD as u64
    | libc::CLONE_SETTLS as u64
    | CLONE_CLEAR_SIGHAND;

/// Whether a fork-like clone is an ordinary fork (anything else, a
/// namespace or another exit signal, is made with the raw clone).
fn plain_fork(req: &ForkRequest) -> bool {
    req.flags & !FORK_FLAGS == 0 && req.clone3.is_none_or(|a| a.set_tid_size == 0 && a.cgroup == 0)
}

/// fork through the C library, so that the locks of emu's memory
/// allocator, which another of emu's threads may hold at this moment, are
/// usable in the child (its fork handlers); and with emu's own locks held
/// across it for the same reason. Then the clone's flags, as the kernel
/// would: the parent's pid word and pidfd, the child's tid word.
fn fork_with_handlers(req: &ForkRequest) -> Result<u64, Errno> {
    let p = process();
    // The sites' table before the memory map: a site's rewrite holds the
    // table while it maps a stub chunk (the other order deadlocked a guest
    // forking while another thread's site was being rewritten).
    let sites = crate::rewrite::lock_for_fork();
    let memory = p.memory();
    let actions = p.signals.lock_for_fork();
    let evacuation = fds::lock_for_fork();
    let personality = p.personality.hold_for_fork();
    let local_time = sys::lock_local_time();
    // SAFETY: fork() in a handler that interrupted guest code, never emu's,
    // on this thread (see `signals`): no lock of emu's is held here but the
    // ones just taken, which both processes release. The C library's fork
    // handlers take and reset malloc's; localtime_r's lock is free, since
    // emu calls it only under `local_time`.
    let pid = unsafe { libc::fork() };
    drop(local_time);
    drop(personality);
    drop(evacuation);
    drop(actions);
    drop(memory);
    drop(sites);
    if pid < 0 {
        return Err(Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EAGAIN)));
    }
    let pid = pid as u64;
    if pid == 0 {
        if req.flags & libc::CLONE_CHILD_SETTID as u64 != 0 {
            let _ = guest::write_val(req.child_tid, &sys::gettid());
        }
        return Ok(0);
    }
    if req.flags & libc::CLONE_PARENT_SETTID as u64 != 0 {
        let _ = guest::write_val(req.parent_tid, &(pid as i32));
    }
    if req.flags & libc::CLONE_PIDFD as u64 != 0 {
        // SAFETY: a pidfd (close-on-exec, as clone makes it) for the child.
        let fd = sys::result(unsafe { sys::syscall6(libc::SYS_pidfd_open as u64, [pid, 0, 0, 0, 0, 0]) })? as i32;
        // clone3 has a field for it; clone(2) uses parent_tid.
        let at = req.clone3.map_or(req.parent_tid, |a| a.pidfd);
        let _ = guest::write_val(at, &fd);
    }
    Ok(pid)
}

/// A fork-like clone made by the kernel as the guest asked for it (minus
/// what emu does itself). In a process with several threads, emu's
/// allocator locks may then be held in the child: flags no ordinary fork
/// uses come this way.
fn raw_fork(req: &ForkRequest) -> Result<u64, Errno> {
    // CLONE_CLEAR_SIGHAND would take emu's own handlers from the child: the
    // child resets the guest's instead.
    let host_flags = req.flags & !(libc::CLONE_SETTLS as u64 | CLONE_CLEAR_SIGHAND);
    // SAFETY: a fork-like clone: no shared memory, no new stack; the child
    // continues here on its copy of this handler's stack.
    let r = unsafe {
        match req.clone3 {
            Some(mut a) => {
                a.flags = host_flags;
                (a.stack, a.stack_size, a.tls) = (0, 0, 0);
                sys::syscall6(
                    libc::SYS_clone3 as u64,
                    [&a as *const CloneArgs as u64, std::mem::size_of::<CloneArgs>() as u64, 0, 0, 0, 0],
                )
            }
            None => sys::syscall6(libc::SYS_clone as u64, [host_flags, 0, req.parent_tid, req.child_tid, 0, 0]),
        }
    };
    sys::result(r)
}

/// What a new image needs to run under emu as this one does.
#[derive(Clone, Debug, Default)]
pub struct Relaunch {
    /// emu's own options, as given on the command line (tables as absolute paths).
    pub options: Vec<OsString>,
}

/// The RLIMIT_STACK an exec'd emu gets for its own start, at least.
const EMU_START_STACK: u64 = 8 << 20;

/// The longest argument list emu copies for an execve (Linux: a quarter of the stack).
const ARG_MAX: usize = 2 << 20;

/// execve: the new image runs under emu again. What would make the kernel's
/// execve fail (the file's open, the arguments' size, scripts, the ELF
/// headers, the interpreter) is checked first and returned to the guest,
/// as the kernel would.
///
/// emu's reserve descriptors are closed meanwhile: a guest that filled its
/// descriptor table can still exec, as natively (see `fds`).
pub fn execve(call: &mut Call, dirfd: i32, path_ptr: u64, argv_ptr: u64, envp_ptr: u64, flags: u64) -> SysResult {
    fds::with_reserve_freed(|| relaunch(call, dirfd, path_ptr, argv_ptr, envp_ptr, flags))
}

fn relaunch(call: &mut Call, dirfd: i32, path_ptr: u64, argv_ptr: u64, envp_ptr: u64, flags: u64) -> SysResult {
    let mut path = Vec::new();
    if !guest::read_cstr(path_ptr, libc::PATH_MAX as usize, &mut path)? {
        return Err(Errno::ENAMETOOLONG);
    }
    let argv = read_string_array(argv_ptr)?;
    let envp = read_string_array(envp_ptr)?;
    let p = process();
    // The kernel's own verdict on the file (its open: existence, permission,
    // a regular file, ETXTBSY...), with the guest's very arguments.
    if fds::is_private(dirfd) {
        return Err(Errno::EBADF);
    }
    let c_path = CString::new(path.clone()).map_err(|_| Errno::ENOENT)?;
    loader::exec_access(dirfd, &c_path, flags as i32).map_err(Errno)?;
    let via_fd = if path.is_empty() {
        Some((dirfd, Vec::new()))
    } else if path[0] != b'/' && dirfd != libc::AT_FDCWD {
        Some((dirfd, path.clone()))
    } else {
        None
    };
    // A script named through a close-on-exec descriptor cannot be opened
    // by its interpreter (the kernel says ENOENT).
    let path_inaccessible = via_fd.as_ref().is_some_and(|&(fd, _)| {
        // SAFETY: reads a descriptor's flags.
        let fd_flags = unsafe { sys::syscall6(libc::SYS_fcntl as u64, [fd as u64, libc::F_GETFD as u64, 0, 0, 0, 0]) };
        fd_flags > 0 && fd_flags & libc::FD_CLOEXEC as i64 != 0
    });
    // A descriptor the new image finds the program through must outlive the
    // exec even if it is close-on-exec: emu opens the program after it.
    let exec_fd = match via_fd {
        Some((fd, _)) => Some(fds::inheritable_copy(fd)?),
        None => None,
    };
    let target: OsString = match (&via_fd, exec_fd) {
        (Some((_, rel)), Some(copy)) => {
            let mut t = format!("/proc/self/fd/{copy}").into_bytes();
            if !rel.is_empty() {
                t.push(b'/');
                t.extend_from_slice(rel);
            }
            OsString::from_vec(t)
        }
        // The guest's own executable, not emu.
        _ if is_self_exe(&path) => p.exe.clone().into_os_string(),
        _ => OsString::from_vec(path),
    };
    let close_copy = || {
        if let Some(fd) = exec_fd {
            // SAFETY: closes the copy made above.
            unsafe { sys::syscall6(libc::SYS_close as u64, [fd as u64, 0, 0, 0, 0, 0]) };
        }
    };
    // Everything else the kernel checks before it gives up the old image
    // (the argument list's size, scripts, the ELF headers, the interpreter)
    // fails the guest's execve. What the kernel would find only later kills
    // the new image: the next emu does that.
    let stack_limit = sys::stack_limit();
    let limits = loader::ExecLimits { stack: stack_limit, path_inaccessible };
    if let Err(e) = loader::prepare(target.as_bytes(), argv.clone(), &envp, limits) {
        if !e.fatal {
            close_copy();
            return Err(Errno(e.errno));
        }
    }

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
    if let Some(fd) = exec_fd {
        args.push(format!("--exec-fd={fd}").into());
    }
    args.push(format!("--guest-mask={:#x}", call.thread.signals.guest_blocked()).into());
    // The next emu starts (its C library's start-up, its own) on the
    // process's stack, which the guest's RLIMIT_STACK may have made too
    // small for it: raised for the exec, restored before the guest runs.
    let raised_stack = stack_limit.is_some_and(|l| l < EMU_START_STACK);
    if raised_stack {
        sys::set_stack_limit(Some(EMU_START_STACK));
        let limit = stack_limit.map_or("unlimited".to_string(), |l| l.to_string());
        args.push(format!("--guest-stack-limit={limit}").into());
    }
    // `--argv0=VALUE` in one word: a value that starts with `-` (a login
    // shell's "-sh") is not taken for an option.
    let mut argv0 = b"--argv0=".to_vec();
    argv0.extend(argv.first().map_or(&[][..], Vec::as_slice));
    args.push(OsString::from_vec(argv0));
    args.push("--".into());
    args.push(target);
    args.extend(argv.into_iter().skip(1).map(OsString::from_vec));

    let c_args: Vec<CString> = match args.iter().map(|a| CString::new(a.as_bytes())).collect() {
        Ok(c) => c,
        Err(_) => {
            close_copy();
            return Err(Errno::EINVAL);
        }
    };
    let mut ptrs: Vec<*const libc::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let c_env: Vec<CString> = envp.into_iter().filter_map(|e| CString::new(hide_from_loader(e)).ok()).collect();
    let mut env_ptrs: Vec<*const libc::c_char> = c_env.iter().map(|e| e.as_ptr()).collect();
    env_ptrs.push(std::ptr::null());

    if let Some(t) = &p.tracer {
        if call.slot.traced {
            t.exit(call, &crate::outcome::Outcome::value(0));
        }
    }
    fds::set_inheritable(&inherited, true);
    // The exec runs with every signal blocked that can be (not the fault
    // signals, which emu's own code must be able to take): one that
    // arrives meanwhile, or that emu held while it worked on this call,
    // stays pending across the exec, and the next emu gives the guest its
    // own mask (`--guest-mask`) at its first instruction, where it is
    // delivered, as natively. With the guest's mask set here instead, a
    // held signal came back, was held again, and the exec carried it
    // blocked into the new image for good.
    let handler_mask = sys::sigprocmask(libc::SIG_SETMASK, !crate::signals::RESERVED);
    let exe = c"/proc/self/exe";
    // SAFETY: NUL-terminated strings and arrays that live until the call.
    let r = unsafe {
        sys::syscall6(
            libc::SYS_execve as u64,
            [exe.as_ptr() as u64, ptrs.as_ptr() as u64, env_ptrs.as_ptr() as u64, 0, 0, 0],
        )
    };
    sys::sigprocmask(libc::SIG_SETMASK, handler_mask);
    fds::set_inheritable(&inherited, false);
    if raised_stack {
        sys::set_stack_limit(stack_limit);
    }
    close_copy();
    sys::result(r)
}

/// Variables emu's own dynamic loader and C library would act on when emu
/// starts again for a guest's execve (`LD_PRELOAD` would load a library into
/// emu). They travel under a prefix and are restored for the guest.
const LOADER_VARIABLES: &[&str] = &["LD_", "GLIBC_TUNABLES=", "MALLOC_"];
pub const HIDDEN_PREFIX: &str = "EMU_GUEST_ENV_";

/// emu's own (static) C library reads GLIBC_TUNABLES and MALLOC_* before
/// `main`: set for the guest, they would tune emu's allocator too. So when
/// emu finds them in its environment it starts again at once with them
/// hidden, as an exec'ing emu hands them on (`start` gives them back to the
/// guest). Returns only when there is nothing to hide or the exec failed.
pub fn restart_without_loader_variables() {
    use std::os::unix::ffi::OsStrExt;
    let tunes_emu = |var: &[u8]| var.starts_with(b"GLIBC_TUNABLES=") || var.starts_with(b"MALLOC_");
    let env: Vec<Vec<u8>> = std::env::vars_os().map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat()).collect();
    if !env.iter().any(|e| tunes_emu(e)) {
        return;
    }
    let to_c = |v: Vec<u8>| CString::new(v).ok();
    let args: Vec<CString> = std::env::args_os().filter_map(|a| to_c(a.as_bytes().to_vec())).collect();
    let vars: Vec<CString> = env.into_iter().filter_map(|e| to_c(hide_from_loader(e))).collect();
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = vars.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: NULL-terminated arrays of C strings that live across the call.
    unsafe { libc::execve(c"/proc/self/exe".as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    log::debug!("could not start again without GLIBC_TUNABLES and MALLOC_*: {}", std::io::Error::last_os_error());
}

fn hide_from_loader(var: Vec<u8>) -> Vec<u8> {
    if LOADER_VARIABLES.iter().any(|p| var.starts_with(p.as_bytes())) {
        let mut hidden = HIDDEN_PREFIX.as_bytes().to_vec();
        hidden.extend(var);
        hidden
    } else {
        var
    }
}

/// Whether a path names this process's executable link: `/proc/self/exe`,
/// `/proc/thread-self/exe`, and through the pid or any thread's tid
/// (`/proc/PID/exe`, `/proc/self/task/TID/exe`, `/proc/TID/task/TID/exe`).
pub fn is_self_exe(path: &[u8]) -> bool {
    crate::procfs::self_entry(path) == Some(b"exe")
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
