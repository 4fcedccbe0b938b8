//! Linux calls about the process and its threads: the FS base, prctl, exit,
//! fork and clone, execve.

use crate::call::Call;
use crate::lifecycle::{self, CloneArgs, ForkRequest};
use crate::memory::guest;
use crate::sys::{self, Errno, SysResult};
use crate::threads::{self, ThreadEntry, ThreadRequest};
use loader::PAGE_SIZE;
use std::sync::atomic::{AtomicBool, Ordering};

/// clone3's flags that clone(2) has not: reset the handlers; join a cgroup.
const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The top of the user address space: an FS base must lie below it.
const TASK_SIZE: u64 = (1 << 47) - 4096;

pub fn arch_prctl(call: &mut Call) -> SysResult {
    let (code, addr) = (call.args[0] as i32, call.args[1]);
    match code {
        sys::ARCH_SET_FS => {
            if addr >= TASK_SIZE {
                return Err(Errno::EPERM);
            }
            // Loaded into FS on the way back to the guest.
            call.thread.guest_fs.set(addr);
            Ok(0)
        }
        sys::ARCH_GET_FS => guest::write_val(addr, &call.thread.guest_fs.get()).map(|_| 0),
        // GS is the guest's if it wants it: rewritten sites (which find
        // emu's state through GS) are put back first.
        sys::ARCH_SET_GS => {
            crate::rewrite::guest_sets_gs();
            call.host(libc::SYS_arch_prctl)
        }
        // GS holds emu's pointer until then: the guest sees none.
        sys::ARCH_GET_GS if crate::rewrite::enabled() => guest::write_val(addr, &0u64).map(|_| 0),
        // Granted, it changes the kernel's signal frames (once the state is
        // used): sites go back to the trap path before the guest runs again.
        sys::ARCH_REQ_XCOMP_PERM => {
            let r = call.host(libc::SYS_arch_prctl)?;
            crate::rewrite::guest_asks_for_more_xstate();
            Ok(r)
        }
        _ => call.host(libc::SYS_arch_prctl),
    }
}

/// uname: the host's answer, with the release the guest is shown when it
/// is an older one (`--linux-version`).
pub fn uname(call: &mut Call) -> SysResult {
    call.host(libc::SYS_uname)?;
    let Some(view) = crate::release::view() else {
        return Ok(0);
    };
    // `release` is the third of struct utsname's 65-byte fields.
    const RELEASE_AT: u64 = 2 * 65;
    let mut field = [0u8; 65];
    let len = crate::release::linux_release_text(view, &mut field);
    guest::write(call.args[0] + RELEASE_AT, &field[..=len]).map(|_| 0)
}

const PR_SET_SECCOMP: i32 = 22;
const PR_SET_SYSCALL_USER_DISPATCH: i32 = 59;

pub fn prctl(call: &mut Call) -> SysResult {
    match call.args[0] as i32 {
        PR_SET_SYSCALL_USER_DISPATCH => {
            static WARNED: AtomicBool = AtomicBool::new(false);
            if !WARNED.swap(true, Ordering::Relaxed) {
                log::warn!("refused the guest's prctl(PR_SET_SYSCALL_USER_DISPATCH): dispatch belongs to the emulator");
            }
            Err(Errno::EINVAL)
        }
        PR_SET_SECCOMP => Err(Errno::EINVAL),
        _ => call.host(libc::SYS_prctl),
    }
}

/// exit: the calling thread ends (the process, if it is the last one).
pub fn exit(call: &mut Call) -> SysResult {
    threads::exit_thread(call.thread, call.args[0] as i32 & 0xff)
}

pub fn exit_group(call: &mut Call) -> SysResult {
    threads::exit_group(call.args[0] as i32 & 0xff)
}

/// set_tid_address: the guest's `clear_child_tid`, kept per guest thread
/// (the host thread's own belongs to emu's C library).
pub fn set_tid_address(call: &mut Call) -> SysResult {
    call.thread.clear_child_tid.set(call.args[0]);
    Ok(call.thread.tid.get() as u64)
}

/// set_robust_list: the guest's list, kept per guest thread and released
/// when it exits, as the kernel does (the host thread's own list is emu's
/// C library's).
pub fn set_robust_list(call: &mut Call) -> SysResult {
    let [head, len, ..] = call.args;
    if len != threads::ROBUST_HEAD_SIZE {
        return Err(Errno::EINVAL);
    }
    call.thread.robust_list.set((head, len));
    Ok(0)
}

/// get_robust_list of the calling thread; another thread's is its host
/// thread's, which the guest cannot use (EPERM, as for a thread it may not
/// inspect).
pub fn get_robust_list(call: &mut Call) -> SysResult {
    let [pid, head_ptr, len_ptr, ..] = call.args;
    if pid != 0 && pid as i32 != call.thread.tid.get() {
        return Err(Errno::EPERM);
    }
    let (head, len) = call.thread.robust_list.get();
    guest::write_val(head_ptr, &head)?;
    guest::write_val(len_ptr, &len)?;
    Ok(0)
}

pub fn fork(call: &mut Call) -> SysResult {
    lifecycle::fork(call, ForkRequest { flags: libc::SIGCHLD as u64, ..Default::default() })
}

/// vfork: a child sharing the parent's memory until it execs or exits.
pub fn vfork(call: &mut Call) -> SysResult {
    let flags = (libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD) as u64;
    lifecycle::fork(call, ForkRequest { flags, ..Default::default() })
}

/// clone: a thread (CLONE_THREAD), or a new process (sharing the parent's
/// memory until it execs with CLONE_VM|CLONE_VFORK, as posix_spawn's).
pub fn clone(call: &mut Call) -> SysResult {
    let a = call.args;
    if a[0] & libc::CLONE_THREAD as u64 != 0 {
        let req = ThreadRequest {
            flags: a[0],
            entry: ThreadEntry::CloneOf { stack: a[1] },
            parent_tid: a[2],
            child_tid: a[3],
            tls: a[4],
            pidfd: a[2],
            legacy: true,
            tid_width: 4,
        };
        return threads::spawn(call, req);
    }
    lifecycle::fork(
        call,
        ForkRequest { flags: a[0], stack: a[1], parent_tid: a[2], child_tid: a[3], tls: a[4], clone3: None },
    )
}

/// clone3, for a new process, as `clone`.
pub fn clone3(call: &mut Call) -> SysResult {
    const CLONE_ARGS_SIZE_VER0: u64 = 64;
    let (ptr, size) = (call.args[0], call.args[1]);
    // The kernel's order: too big, too small, then the structure's own bytes.
    if size > PAGE_SIZE {
        return Err(Errno(libc::E2BIG));
    }
    if size < CLONE_ARGS_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    let mut raw = [0u8; std::mem::size_of::<CloneArgs>()];
    guest::read_extensible(ptr, size as usize, &mut raw)?;
    // SAFETY: CloneArgs is plain integers; every byte is initialised.
    let args: CloneArgs = unsafe { std::mem::transmute(raw) };
    // clone3_args_valid: the exit signal, a stack without a size or a size
    // without a stack.
    if args.exit_signal & !0xff != 0 || (args.stack == 0) != (args.stack_size == 0) {
        return Err(Errno::EINVAL);
    }
    let stack = if args.stack != 0 { args.stack + args.stack_size } else { 0 };
    if args.flags & libc::CLONE_THREAD as u64 != 0 {
        // A thread has no exit signal; and emu does not create threads with
        // chosen tids or in another cgroup.
        if args.exit_signal != 0
            || args.set_tid_size != 0
            || args.flags & (CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP) != 0
        {
            return Err(Errno::EINVAL);
        }
        let req = ThreadRequest {
            flags: args.flags,
            entry: ThreadEntry::CloneOf { stack },
            parent_tid: args.parent_tid,
            child_tid: args.child_tid,
            tls: args.tls,
            pidfd: args.pidfd,
            legacy: false,
            tid_width: 4,
        };
        return threads::spawn(call, req);
    }
    lifecycle::fork(
        call,
        ForkRequest {
            flags: args.flags,
            stack,
            parent_tid: args.parent_tid,
            child_tid: args.child_tid,
            tls: args.tls,
            clone3: Some(args),
        },
    )
}

pub fn execve(call: &mut Call) -> SysResult {
    let a = call.args;
    lifecycle::execve(call, libc::AT_FDCWD, a[0], a[1], a[2], 0)
}

pub fn execveat(call: &mut Call) -> SysResult {
    let a = call.args;
    lifecycle::execve(call, a[0] as i32, a[1], a[2], a[3], a[4])
}
