//! Starting a guest thread (clone with CLONE_THREAD).
//!
//! The new guest thread is a host thread of emu's own, a pthread, so that
//! emu's C library and Rust have their per-thread state in it (its FS base
//! is the thread's `host_fs`). It installs its region (state and alternate
//! stack: made by the parent, or by itself when it is waited for), arms
//! dispatch, and only then becomes the guest's thread, with the guest's
//! mask: `emu_enter_thread` resumes it from a copy of
//! the registers the parent had at its `syscall` (RAX 0, the requested
//! stack), with the parent's FPU state, the guest's requested TLS in FS and
//! the parent's guest mask, through rt_sigreturn, as the kernel starts a
//! clone child. Both tid words (CLONE_PARENT_SETTID, CLONE_CHILD_SETTID) are
//! written before the child runs guest code.
//!
//! The parent does not wait for the child to run. Natively a clone returns
//! as soon as the task exists; here the child's first instructions come
//! only once the kernel has woken a CPU for it, which in the VMs this was
//! measured on took 0.1 to 0.5 ms a thread, on the spawning thread's path
//! (esbuild starts three: Go's main thread waited about 1 ms in all). So the
//! parent makes the thread's region itself, and learns the tid from glibc's
//! `struct pthread`, where pthread_create's clone put it (`created_tid`).
//! Only a thread that needs its own file table or working directory
//! (unshare, which the thread must call itself and which may fail) is waited
//! for, and so is every thread where that glibc layout does not check out.
//!
//! Locks and allocation: all of this runs in the parent's SIGSYS handler,
//! which interrupted guest code, never emu's (see `signals`): pthread_create
//! may lock and allocate there.

use super::{LeaveGuest, Resume, ThreadState};
use crate::call::Call;
use crate::context::GuestContext;
use crate::memory::guest;
use crate::signals;
use crate::sys::{self, Errno, SysResult};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU32, Ordering};
use std::sync::{Arc, Once, OnceLock};

/// A new guest thread, in Linux clone terms (a FreeBSD thr_new is put in
/// them: CLONE_VM|CLONE_THREAD..., with its tid words).
#[derive(Clone, Copy, Debug)]
pub struct ThreadRequest {
    pub flags: u64,
    /// Where the new thread starts.
    pub entry: ThreadEntry,
    pub parent_tid: u64,
    pub child_tid: u64,
    pub tls: u64,
    /// Where CLONE_PIDFD puts the thread's pidfd (clone: `parent_tid`).
    pub pidfd: u64,
    /// clone(2) rather than clone3.
    pub legacy: bool,
    /// Bytes of the tid words CLONE_PARENT_SETTID and CLONE_CHILD_SETTID
    /// write: 4 (Linux's pid_t), 8 (FreeBSD's long).
    pub tid_width: usize,
}

/// The registers a new guest thread starts with.
#[derive(Clone, Copy, Debug)]
pub enum ThreadEntry {
    /// Linux's clone child: the parent's registers at its `syscall`, RAX 0,
    /// on `stack` (0: the parent's stack pointer).
    CloneOf { stack: u64 },
    /// FreeBSD's thr_new: `rip` called with `arg` in RDI, on `rsp`, RBP 0.
    Call { rip: u64, rsp: u64, arg: u64 },
}

const CLONE_VM: u64 = libc::CLONE_VM as u64;
const CLONE_FS: u64 = libc::CLONE_FS as u64;
const CLONE_FILES: u64 = libc::CLONE_FILES as u64;
const CLONE_SIGHAND: u64 = libc::CLONE_SIGHAND as u64;
const CLONE_THREAD: u64 = libc::CLONE_THREAD as u64;
const CLONE_SYSVSEM: u64 = libc::CLONE_SYSVSEM as u64;
const CLONE_SETTLS: u64 = libc::CLONE_SETTLS as u64;
const CLONE_PARENT_SETTID: u64 = libc::CLONE_PARENT_SETTID as u64;
const CLONE_CHILD_SETTID: u64 = libc::CLONE_CHILD_SETTID as u64;
const CLONE_CHILD_CLEARTID: u64 = libc::CLONE_CHILD_CLEARTID as u64;
const CLONE_PIDFD: u64 = libc::CLONE_PIDFD as u64;
/// pidfd_open's flag for a pidfd that names one thread (O_EXCL).
const PIDFD_THREAD: u64 = libc::O_EXCL as u64;
/// The exit signal's bits, and flags that mean nothing for a thread.
const IGNORED: u64 = 0xff
    | libc::CLONE_DETACHED as u64
    | libc::CLONE_PTRACE as u64
    | libc::CLONE_UNTRACED as u64
    | libc::CLONE_PARENT as u64
    | libc::CLONE_IO as u64;
/// What a guest thread may be created with: the thread flags glibc, musl,
/// Go and Rust use. Without CLONE_FS, CLONE_FILES or CLONE_SYSVSEM the new
/// thread gets its own copy (unshare); the rest (CLONE_VFORK, namespaces,
/// clone3's set_tid and cgroup) is refused with EINVAL.
const SUPPORTED: u64 = CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_THREAD
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_PIDFD
    | IGNORED;

/// The host thread's own stack: emu's start and end of the thread run on it
/// (the guest's code on the guest's stack, emu's handlers on the region).
const HOST_STACK: usize = 256 << 10;

/// The kernel's checks on a thread's flags (copy_process), then emu's own.
fn check_flags(flags: u64, legacy: bool) -> Result<(), Errno> {
    if crate::lifecycle::kernel_refuses(flags, legacy) {
        return Err(Errno::EINVAL);
    }
    if flags & !SUPPORTED != 0 {
        log::warn!("a thread with clone flags {:#x} emu does not support: EINVAL", flags & !SUPPORTED);
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// What the new thread starts from, shared with it until it runs.
struct ThreadStart {
    flags: u64,
    child_tid: u64,
    guest_fs: u64,
    resume: Resume,
    /// Whether the parent waits for the thread to report (see the module's
    /// comment): the thread then makes its own region.
    waited_for: bool,
    /// The child's tid once it is ready (0: not yet; negative: -errno).
    tid: AtomicI32,
    /// WAIT until the parent has written the pidfd and the tid words (and
    /// `state`, for a thread not waited for); then GO, or ABANDON when the
    /// clone failed after all.
    go: AtomicU32,
    /// The region the parent made for a thread it does not wait for, set
    /// before GO.
    state: AtomicPtr<ThreadState>,
}

/// clone with CLONE_THREAD: a new guest thread. Returns its tid.
pub fn spawn(call: &mut Call, req: ThreadRequest) -> SysResult {
    check_flags(req.flags, req.legacy)?;
    let waited_for = unshared(req.flags) != 0 || !pthread_layout_known();
    let start = Arc::new(ThreadStart::capture(call.ctx, call.thread, &req, waited_for));
    let p = crate::process::process();
    p.group.thread_starting();
    if let Some(t) = &p.tracer {
        t.several_processes();
    }
    let created = create_host_thread(start.clone());
    let tid = match created {
        Ok(_) if waited_for => start.wait_for_tid(),
        Ok(thread) => created_tid(thread),
        Err(e) => -e.0,
    };
    let abandon = |e: Errno| {
        start.go.store(ABANDON, Ordering::Release);
        futex_wake(start.go.as_ptr());
        p.group.thread_gone();
        Err(e)
    };
    if tid <= 0 && created.is_ok() && !waited_for {
        // The layout checked out on this thread but gave no tid here.
        log::error!("internal error: no tid in a new thread's struct pthread; please report it");
        return abandon(Errno::EAGAIN);
    }
    if tid < 0 {
        p.group.thread_gone();
        return Err(Errno(-tid));
    }
    // The region of a thread not waited for: its FS base is its pthread_t,
    // as in every glibc thread on x86-64 (checked with the layout).
    let made = if waited_for {
        None
    } else {
        match ThreadState::allocate(start.resume.guest_mask, created.unwrap_or(0), tid) {
            Ok((state, _)) => Some(state),
            Err(e) => return abandon(Errno(e.raw_os_error().unwrap_or(libc::ENOMEM))),
        }
    };
    // The kernel writes the pidfd before the new task exists, and a bad
    // pointer fails the clone: here the thread, made but not yet in the
    // guest, is told to go away.
    if req.flags & CLONE_PIDFD != 0 {
        if let Err(e) = thread_pidfd(tid, req.pidfd) {
            if let Some(state) = made {
                // SAFETY: the region just made, which the thread never saw.
                unsafe { ThreadState::free(state) };
            }
            return abandon(e);
        }
    }
    // Both tid words are written before the thread runs; as the kernel, a
    // bad pointer is not the clone's error.
    let write_tid = |at: u64| match req.tid_width {
        8 => guest::write_val(at, &(tid as i64)),
        _ => guest::write_val(at, &tid),
    };
    if req.flags & CLONE_PARENT_SETTID != 0 {
        let _ = write_tid(req.parent_tid);
    }
    if req.flags & CLONE_CHILD_SETTID != 0 {
        let _ = write_tid(req.child_tid);
    }
    if let Some(state) = made {
        start.state.store(std::ptr::from_ref(state).cast_mut(), Ordering::Relaxed);
    }
    start.go.store(GO, Ordering::Release);
    futex_wake(start.go.as_ptr());
    Ok(tid as u64)
}

/// Values of `ThreadStart::go`.
const WAIT: u32 = 0;
const GO: u32 = 1;
const ABANDON: u32 = 2;

/// A pidfd for the new thread (close-on-exec, as the kernel makes it),
/// written where the guest asked; closed again if it cannot be.
fn thread_pidfd(tid: i32, at: u64) -> Result<(), Errno> {
    // SAFETY: opens a pidfd for a thread of this process.
    let fd = sys::result(unsafe { sys::syscall6(libc::SYS_pidfd_open as u64, [tid as u64, PIDFD_THREAD, 0, 0, 0, 0]) })?
        as i32;
    guest::write_val(at, &fd).inspect_err(|_| {
        // SAFETY: closes the descriptor just made, which the guest never saw.
        unsafe { sys::syscall6(libc::SYS_close as u64, [fd as u64, 0, 0, 0, 0, 0]) };
    })
}

impl ThreadStart {
    fn capture(ctx: &mut GuestContext, parent: &ThreadState, req: &ThreadRequest, waited_for: bool) -> ThreadStart {
        let guest_fs = if req.flags & CLONE_SETTLS != 0 { req.tls } else { parent.guest_fs.get() };
        ThreadStart {
            flags: req.flags,
            child_tid: req.child_tid,
            guest_fs,
            resume: match req.entry {
                ThreadEntry::CloneOf { stack } => Resume::clone_child(ctx, parent, stack),
                ThreadEntry::Call { rip, rsp, arg } => Resume::call(ctx, parent, rip, rsp, arg),
            },
            waited_for,
            tid: AtomicI32::new(0),
            go: AtomicU32::new(WAIT),
            state: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Waits until the child says it is ready (its tid) or failed (-errno).
    fn wait_for_tid(&self) -> i32 {
        loop {
            let tid = self.tid.load(Ordering::Acquire);
            if tid != 0 {
                return tid;
            }
            futex_wait(self.tid.as_ptr().cast(), 0);
        }
    }

    fn report(&self, tid_or_errno: i32) {
        self.tid.store(tid_or_errno, Ordering::Release);
        futex_wake(self.tid.as_ptr().cast());
    }

    /// Waits for the parent's word: whether the thread is to run the guest.
    fn wait_for_go(&self) -> bool {
        loop {
            match self.go.load(Ordering::Acquire) {
                WAIT => futex_wait(self.go.as_ptr(), WAIT),
                word => return word == GO,
            }
        }
    }
}

/// glibc keeps a thread's tid in its `struct pthread`, which the thread's
/// pthread_t and FS base both point to, at this offset on x86-64 (the TCB
/// header with its SSE save area, then a list head). glibc has no call
/// that reads it before 2.42 (pthread_gettid_np).
const PTHREAD_TID_OFFSET: usize = 0x2d0;

/// Whether the glibc emu is linked with keeps the layout `created_tid`
/// reads: checked once, on the calling thread's own `struct pthread` (its
/// tid, which glibc set at start or the clone wrote, and its FS base).
fn pthread_layout_known() -> bool {
    static KNOWN: OnceLock<bool> = OnceLock::new();
    *KNOWN.get_or_init(|| {
        // SAFETY: pthread_self is this thread's own `struct pthread`, whose
        // first kilobyte is glibc's thread descriptor.
        let (me, tid) = unsafe {
            let me = libc::pthread_self();
            (me, (me as *const u8).add(PTHREAD_TID_OFFSET).cast::<i32>().read())
        };
        let known = me == sys::fs_base() && tid == sys::gettid();
        if !known {
            log::debug!("glibc's struct pthread is not as expected: each new thread is waited for");
        }
        known
    })
}

/// The tid of a thread pthread_create just made, from its `struct pthread`:
/// the kernel wrote it there (CLONE_PARENT_SETTID) before pthread_create
/// returned, and the thread cannot have exited yet (it waits for GO).
fn created_tid(thread: libc::pthread_t) -> i32 {
    // SAFETY: the new thread's descriptor, alive until the thread exits,
    // at the offset `pthread_layout_known` checked.
    unsafe { (thread as *const u8).add(PTHREAD_TID_OFFSET).cast::<i32>().read_volatile() }
}

/// Starts a pthread running `thread_main` with every signal blocked but
/// those glibc insists on: it takes this thread's mask for the moment of
/// the creation, less SIGCANCEL (host 32), and at its first pthread_create
/// it also unblocks 32 and SIGSETXID (33) on the creator. `thread_main`
/// blocks them again first thing.
///
/// That first pthread_create sets up the C library's threads machinery,
/// which may install its own handlers for 32 and 33 (which are the
/// guest's; Go uses 33) in the process's dispositions: the guest's are
/// given back to the host right after it, before this thread's mask is
/// restored (a signal that arrives on it meanwhile is held, as in any of
/// emu's code).
fn create_host_thread(start: Arc<ThreadStart>) -> Result<libc::pthread_t, Errno> {
    static C_LIBRARY_THREADED: Once = Once::new();
    // Every signal blocked on this thread for the creation, then the mask back.
    let old = sys::sigprocmask(libc::SIG_SETMASK, !0);
    // SAFETY: the attribute object and the thread handle are ours.
    let created = unsafe {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
        libc::pthread_attr_init(attr.as_mut_ptr());
        libc::pthread_attr_setstacksize(attr.as_mut_ptr(), HOST_STACK);
        libc::pthread_attr_setdetachstate(attr.as_mut_ptr(), libc::PTHREAD_CREATE_DETACHED);
        let mut thread = std::mem::MaybeUninit::<libc::pthread_t>::uninit();
        let arg = Arc::into_raw(start) as *mut libc::c_void;
        let r = libc::pthread_create(thread.as_mut_ptr(), attr.as_ptr(), thread_main, arg);
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        if r == 0 {
            Ok(thread.assume_init())
        } else {
            drop(Arc::from_raw(arg as *const ThreadStart));
            Err(Errno(libc::EAGAIN))
        }
    };
    C_LIBRARY_THREADED.call_once(|| {
        for sig in [32, 33] {
            crate::process::process().signals.reassert_host(sig);
        }
    });
    sys::sigprocmask(libc::SIG_SETMASK, old);
    created
}

/// The host thread of a new guest thread: set up, run the guest, clean up.
extern "C" fn thread_main(arg: *mut libc::c_void) -> *mut libc::c_void {
    // glibc unblocked SIGCANCEL (and, on its first thread, SIGSETXID) for
    // this thread: blocked again at once, so that a signal sent to the new
    // tid waits, queued in order, until the guest's mask is loaded as the
    // thread enters the guest, and a process-directed one goes to a thread
    // that can take it. What comes before this line meets
    // `signals::signal_without_region`.
    sys::sigprocmask(libc::SIG_SETMASK, !0);
    // SAFETY: the reference `create_host_thread` gave away for this thread.
    let start = unsafe { Arc::from_raw(arg as *const ThreadStart) };
    let state = if start.waited_for {
        match set_up_reporting(&start) {
            Some(state) => state,
            None => return std::ptr::null_mut(),
        }
    } else {
        if !start.wait_for_go() {
            return std::ptr::null_mut();
        }
        // SAFETY: the region the parent made for this thread before GO
        // (Acquire in `wait_for_go`), which only this thread uses from here.
        let state = unsafe { &*start.state.load(Ordering::Relaxed) };
        if state.host_fs != sys::fs_base() || state.tid.get() != sys::gettid() {
            thread_set_up_failed("its region names another thread".into());
        }
        if let Err(e) = state.install() {
            thread_set_up_failed(e.to_string());
        }
        if let Err(e) = crate::sud::arm() {
            thread_set_up_failed(e.to_string());
        }
        state
    };
    if start.flags & CLONE_CHILD_CLEARTID != 0 {
        state.clear_child_tid.set(start.child_tid);
    }
    state.guest_fs.set(start.guest_fs);
    let mut altstack = signals::NO_ALTSTACK;
    // SAFETY: reads this thread's alternate stack (the region's).
    unsafe { libc::sigaltstack(std::ptr::null(), &mut altstack) };
    let (frame, uc) = start.resume.frame(altstack);
    let guest_fs = start.guest_fs;
    drop(start);

    let mut leave = LeaveGuest { rsp: 0 };
    state.leave.set(Some(NonNull::from(&mut leave)));
    // SAFETY: resumes the guest from a frame built for this very thread,
    // with dispatch armed and its region in place; returns once the guest
    // thread has exited (emu_leave_thread with the same `leave`).
    let _code = unsafe { signals::emu_enter_thread(&mut leave.rsp, frame[uc..].as_ptr(), guest_fs) };
    drop(frame);
    // SAFETY: the guest thread is gone and this thread is back on its own
    // stack, off the region's.
    unsafe { super::exit::finish(state) };
    std::ptr::null_mut()
}

/// A waited-for thread's set-up: its region, what it does not share with
/// the parent, dispatch; then its tid (or the error) to the parent, and
/// its GO. None when it is not to run the guest.
fn set_up_reporting(start: &ThreadStart) -> Option<&'static ThreadState> {
    let state = match ThreadState::new_for_current_thread(start.resume.guest_mask) {
        Ok(s) => s,
        Err(e) => {
            start.report(-e.raw_os_error().unwrap_or(libc::ENOMEM));
            return None;
        }
    };
    if let Err(e) = unshare(start.flags).and_then(|_| crate::sud::arm()) {
        // SAFETY: this thread's region, which nothing else knows of.
        unsafe { ThreadState::release(state) };
        start.report(-e.0);
        return None;
    }
    start.report(state.tid.get());
    if !start.wait_for_go() {
        // SAFETY: this thread's region, which the guest never saw.
        unsafe { ThreadState::release(state) };
        return None;
    }
    Some(state)
}

/// A thread whose clone has already returned to the guest cannot run: what
/// it was to do is lost, so the process stops, with the reason.
fn thread_set_up_failed(why: String) -> ! {
    log::error!("internal error: a new thread could not be set up ({why}); please report it");
    // No thread of the process can go on correctly.
    sys::exit_group(70)
}

/// The attributes a new thread does not share with its parent (flags for
/// unshare).
fn unshared(flags: u64) -> u64 {
    [CLONE_FS, CLONE_FILES, CLONE_SYSVSEM].iter().filter(|&&f| flags & f == 0).fold(0, |a, f| a | f)
}

/// Gives the new thread what the clone did not share with its parent.
fn unshare(flags: u64) -> Result<(), Errno> {
    let own = unshared(flags);
    if own == 0 {
        return Ok(());
    }
    // SAFETY: unshare of this thread's own attributes.
    sys::result(unsafe { sys::syscall6(libc::SYS_unshare as u64, [own, 0, 0, 0, 0, 0]) }).map(|_| ())
}

/// Sleeps while `*word == expected` (a private futex of emu's own).
pub(crate) fn futex_wait(word: *const u32, expected: u32) {
    // SAFETY: a futex wait on a word of emu's; spurious wake-ups are fine.
    unsafe {
        sys::syscall6(
            libc::SYS_futex as u64,
            [word as u64, (libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG) as u64, expected as u64, 0, 0, 0],
        )
    };
}

pub(crate) fn futex_wake(word: *const u32) {
    // SAFETY: wakes waiters on a word of emu's.
    unsafe {
        sys::syscall6(
            libc::SYS_futex as u64,
            [word as u64, (libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG) as u64, i32::MAX as u64, 0, 0, 0],
        )
    };
}
