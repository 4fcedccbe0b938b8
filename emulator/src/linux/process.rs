//! Linux calls about the process and its threads: the FS base, prctl, exit,
//! fork and clone, execve.

use crate::dispatch::Call;
use crate::lifecycle::{self, CloneArgs, ForkRequest};
use crate::memory::guest;
use crate::sys::{self, Errno, SysResult};
use loader::PAGE_SIZE;
use std::sync::atomic::{AtomicBool, Ordering};

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
            call.thread.guest_fs = addr;
            Ok(0)
        }
        sys::ARCH_GET_FS => guest::write_val(addr, &call.thread.guest_fs).map(|_| 0),
        // GS is not the emulator's: the guest may have it.
        _ => call.host(libc::SYS_arch_prctl),
    }
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

pub fn exit(call: &mut Call) -> SysResult {
    // One guest thread: its exit is the process's.
    lifecycle::exit_process(call.args[0] as i32 & 0xff)
}

pub fn exit_group(call: &mut Call) -> SysResult {
    lifecycle::exit_process(call.args[0] as i32 & 0xff)
}

pub fn fork(call: &mut Call) -> SysResult {
    lifecycle::fork(call, ForkRequest { flags: libc::SIGCHLD as u64, ..Default::default() })
}

/// vfork: the parent waits for the child's exec or exit, but the child
/// works on a copy of the parent's memory (a real shared vfork would need
/// the child to run on the parent's stack under emu).
pub fn vfork(call: &mut Call) -> SysResult {
    lifecycle::fork(call, ForkRequest { flags: (libc::CLONE_VFORK | libc::SIGCHLD) as u64, ..Default::default() })
}

/// Threads are not supported yet: a clone that asks for one fails.
fn refuse_thread() -> SysResult {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        log::warn!("the guest asked for a thread (CLONE_THREAD): threads are not supported yet, returning ENOSYS");
    }
    Err(Errno::ENOSYS)
}

/// clone for a new process. CLONE_VM without CLONE_THREAD is posix_spawn's
/// vfork-like child: it runs as a fork, on a copy of memory, on the stack
/// the caller gave it.
pub fn clone(call: &mut Call) -> SysResult {
    let a = call.args;
    if a[0] & libc::CLONE_THREAD as u64 != 0 {
        return refuse_thread();
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
    if args.flags & libc::CLONE_THREAD as u64 != 0 {
        return refuse_thread();
    }
    let stack = if args.stack != 0 { args.stack + args.stack_size } else { 0 };
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
