//! vfork and posix_spawn: a child that shares its parent's memory
//! (CLONE_VM|CLONE_VFORK) until it execs or exits, the parent suspended
//! meanwhile. What the child writes (posix_spawn's exec error, say) the
//! parent sees, as natively.
//!
//! The child needs emu state of its own while it shares the parent's
//! memory:
//! * a region (its `ThreadState` and alternate stack; its first
//!   instructions run on that stack too, never on its parent's, whose
//!   frames the suspended parent still needs);
//! * a `Process` of its own ([`Process::for_vfork_child`]): the same memory
//!   map (one address space), its own signal dispositions unless it shares
//!   them (CLONE_SIGHAND), its own thread group;
//! * dispatch armed, which the kernel does not pass on.
//!
//! It runs on its parent thread's emu TLS (the clone gives it no TLS of
//! its own), which is safe only because that thread is suspended until
//! the child is done: the child's process is found there
//! ([`crate::process::enter_vfork_child`]), and the parent takes its own
//! back, frees what it made for the child, and returns the child's pid.

use super::ForkRequest;
use crate::call::Call;
use crate::process::{self, Process};
use crate::signals;
use crate::sys::{self, Errno, SysResult};
use crate::threads::{Resume, ThreadState};

/// What the child starts from; the parent's, on its stack, while it waits.
struct Child {
    state: &'static ThreadState,
    altstack: libc::stack_t,
    process: &'static Process,
    resume: Resume,
    clear_sighand: bool,
}

/// Flags the host clone takes from the guest's as they are; the rest are
/// emu's business (CLONE_SETTLS: the child's host FS stays its parent's,
/// the guest's TLS is the child's guest FS).
const PASSED: u64 = 0xff
    | libc::CLONE_VM as u64
    | libc::CLONE_VFORK as u64
    | libc::CLONE_FS as u64
    | libc::CLONE_FILES as u64
    | libc::CLONE_SIGHAND as u64
    | libc::CLONE_PARENT_SETTID as u64
    | libc::CLONE_CHILD_SETTID as u64
    | libc::CLONE_CHILD_CLEARTID as u64
    | libc::CLONE_PARENT as u64
    | libc::CLONE_SYSVSEM as u64
    | libc::CLONE_UNTRACED as u64
    | libc::CLONE_PTRACE as u64
    | libc::CLONE_IO as u64;

/// A clone with CLONE_VM and CLONE_VFORK (and without CLONE_THREAD).
pub fn vfork(call: &mut Call, req: ForkRequest) -> SysResult {
    if req.flags & !PASSED & !(libc::CLONE_SETTLS as u64 | super::CLONE_CLEAR_SIGHAND) != 0 {
        log::warn!("a vfork child with clone flags {:#x} emu does not support: EINVAL", req.flags & !PASSED);
        return Err(Errno::EINVAL);
    }
    let parent = call.thread;
    let p = process::process();
    let share_sighand = req.flags & libc::CLONE_SIGHAND as u64 != 0;
    let (state, altstack) = ThreadState::allocate(parent.signals.guest_blocked(), parent.host_fs, 0)
        .map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::ENOMEM)))?;
    // The kernel keeps the parent's alternate stack for a vfork child.
    state.signals.altstack.set(parent.signals.altstack.get());
    state.guest_fs.set(if req.flags & libc::CLONE_SETTLS as u64 != 0 { req.tls } else { parent.guest_fs.get() });
    let process: &'static Process = Box::leak(Box::new(p.for_vfork_child(share_sighand)));
    let child = Child {
        state,
        altstack,
        process,
        resume: Resume::clone_child(call.ctx, parent, req.stack),
        clear_sighand: req.flags & super::CLONE_CLEAR_SIGHAND != 0,
    };
    if let Some(t) = &p.tracer {
        t.several_processes();
    }
    // emu's descriptor bookkeeping is the parent's again afterwards, unless
    // the child shares the table (CLONE_FILES): its changes are then real.
    let fds = crate::fds::snapshot();
    // The child's first stack: the top of its alternate stack.
    let stack = (altstack.ss_sp as u64 + altstack.ss_size as u64) & !15;
    // The child starts with every signal blocked: it inherits this
    // thread's mask.
    let old = sys::sigprocmask(libc::SIG_SETMASK, !0);
    // SAFETY: the child runs on a stack of its own, in `child_main` with
    // `child`, which lives on this stack until the clone returns: the parent
    // is suspended until the child has exec'd or exited (CLONE_VFORK).
    let r = unsafe {
        signals::emu_clone_vm(
            req.flags & PASSED,
            stack,
            req.parent_tid,
            req.child_tid,
            child_main,
            &child as *const Child as *mut libc::c_void,
        )
    };
    sys::sigprocmask(libc::SIG_SETMASK, old);
    // The child is done with this memory: it has exec'd or exited (or was
    // never made). It ran on this thread's emu TLS: take it back.
    process::enter_vfork_child(None);
    if req.flags & libc::CLONE_FILES as u64 == 0 {
        crate::fds::restore(fds);
    }
    // SAFETY: the child no longer runs in this address space.
    unsafe {
        ThreadState::free(child.state);
        p.free_vfork_child(child.process);
    }
    sys::result(r)
}

/// The child: on its own stack, with its parent's emu TLS, every signal
/// blocked. It becomes the guest's child and never returns.
extern "C" fn child_main(arg: *mut libc::c_void) {
    // SAFETY: the parent's `Child`, alive until this child execs or exits.
    let child = unsafe { &*(arg as *const Child) };
    process::enter_vfork_child(Some(child.process));
    child.state.tid.set(sys::gettid());
    // SAFETY: the child's own region, on whose stack it runs already.
    if unsafe { libc::sigaltstack(&child.altstack, std::ptr::null_mut()) } != 0 || crate::sud::arm().is_err() {
        log::error!("a vfork child cannot set up its emulation");
        // The child cannot run its guest safely.
        sys::exit_group(127);
    }
    crate::rewrite::set_thread_gs(child.state);
    if child.clear_sighand {
        child.process.signals.reset_handlers();
    }
    let (frame, uc) = child.resume.frame(child.altstack);
    let mut leave = 0u64;
    // SAFETY: resumes the guest's child from its frame, with dispatch armed
    // and its region in place. It leaves by exec or exit, never back here.
    unsafe { signals::emu_enter_thread(&mut leave, frame[uc..].as_ptr(), child.state.guest_fs.get()) };
    unreachable!("a vfork child came back to emu");
}
