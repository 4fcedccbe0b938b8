//! FreeBSD's threads: thr_new on the core's thread start (a call of the
//! start function on the given stack, the TLS base in FS, the tid words
//! written before the thread runs), thr_self, thr_exit (its state word),
//! thr_kill, thr_suspend and thr_wake, thr_set_name, and the FS base
//! through sysarch (_umtx_op is `umtx`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use super::signal;
use crate::bsd::sleep::{self, Interrupted, Until};
use crate::call::Call;
use crate::memory::guest;
use crate::sys::{self, Errno, SysResult};
use crate::threads::{self, ThreadEntry, ThreadRequest};

/// struct thr_param (sys/thr.h), 104 bytes.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct ThrParam {
    start_func: u64,
    arg: u64,
    stack_base: u64,
    stack_size: u64,
    tls_base: u64,
    tls_size: u64,
    child_tid: u64,
    parent_tid: u64,
    flags: u32,
    pad: u32,
    rtp: u64,
    spare: [u64; 3],
}
// SAFETY: integers only.
unsafe impl guest::Pod for ThrParam {}

/// The top of FreeBSD's user address space: a TLS base must lie below it.
const VM_MAXUSER_ADDRESS: u64 = 0x8000_0000_0000;

/// thr_new(param, param_size): a smaller structure is allowed (the rest is
/// zero). The new thread starts in `start_func(arg)` with RSP 16-byte
/// aligned minus a zero return address, FS = tls_base, the caller's
/// signal mask and no alternate stack; 0 is returned, the tid goes to the
/// tid words.
pub fn thr_new(call: &mut Call) -> SysResult {
    let [param, size, ..] = call.args;
    let size = size as u32 as i32;
    if size < 0 || size as usize > std::mem::size_of::<ThrParam>() {
        return Err(Errno::EINVAL);
    }
    let mut raw = [0u8; std::mem::size_of::<ThrParam>()];
    guest::read(param, &mut raw[..size as usize])?;
    // SAFETY: ThrParam is plain integers and every byte is initialised.
    let p: ThrParam = unsafe { std::mem::transmute(raw) };
    if p.rtp != 0 {
        // A real-time priority is not emu's to give.
        return Err(Errno::EPERM);
    }
    if p.tls_base >= VM_MAXUSER_ADDRESS {
        return Err(Errno::EINVAL);
    }
    let rsp = (p.stack_base.wrapping_add(p.stack_size) & !15).wrapping_sub(8);
    guest::write_val(rsp, &0u64)?;
    let mut flags = (libc::CLONE_VM
        | libc::CLONE_FS
        | libc::CLONE_FILES
        | libc::CLONE_SIGHAND
        | libc::CLONE_THREAD
        | libc::CLONE_SYSVSEM
        | libc::CLONE_SETTLS) as u64;
    if p.parent_tid != 0 {
        flags |= libc::CLONE_PARENT_SETTID as u64;
    }
    if p.child_tid != 0 {
        flags |= libc::CLONE_CHILD_SETTID as u64;
    }
    let req = ThreadRequest {
        flags,
        entry: ThreadEntry::Call { rip: p.start_func, rsp, arg: p.arg },
        parent_tid: p.parent_tid,
        child_tid: p.child_tid,
        tls: p.tls_base,
        pidfd: 0,
        legacy: false,
        tid_width: 8,
    };
    threads::spawn(call, req).map(|_| 0)
}

pub fn thr_self(call: &mut Call) -> SysResult {
    guest::write_val(call.args[0], &(call.thread.tid.get() as i64))?;
    Ok(0)
}

/// thr_exit(state): the robust mutexes the thread holds are released as
/// its owner's death, 1 is stored to the state word (a long) and its
/// waiters woken; then the thread ends, unless it is the last one: FreeBSD
/// returns to it then, and its C library calls exit.
pub fn thr_exit(call: &mut Call) -> SysResult {
    super::umtx::thread_exiting(call.thread);
    forget_wake_mark(call.thread.tid.get());
    let state = call.args[0];
    if state != 0 && guest::write_val(state, &1i64).is_ok() {
        super::umtx::wake_all(state);
    }
    if threads::is_last_thread() {
        return Ok(0);
    }
    threads::exit_thread(call.thread, 0)
}

/// thr_kill(id, sig): one thread of the process, or every other (-1).
pub fn thr_kill(call: &mut Call) -> SysResult {
    let [id, sig, ..] = call.args;
    let sig = signal::host_signal_or_zero(sig)?;
    match id as i64 {
        -1 => {
            let me = call.thread.tid.get();
            let mut sent = false;
            for tid in threads_of_this_process() {
                if tid != me {
                    let _ = signal::to_thread(tid, sig);
                    sent = true;
                }
            }
            if sent {
                Ok(0)
            } else {
                Err(Errno(libc::ESRCH))
            }
        }
        tid if tid > 0 && tid <= i32::MAX as i64 => signal::to_thread(tid as i32, sig),
        _ => Err(Errno(libc::ESRCH)),
    }
}

fn threads_of_this_process() -> Vec<i32> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

const AMD64_GET_FSBASE: u32 = 128;
const AMD64_SET_FSBASE: u32 = 129;
const AMD64_GET_GSBASE: u32 = 130;
const AMD64_SET_GSBASE: u32 = 131;

/// sysarch(op, parms): the FS base is the guest's own (emu keeps it, and
/// loads it on the way back to the guest); GS is left to the host.
pub fn sysarch(call: &mut Call) -> SysResult {
    let [op, parms, ..] = call.args;
    match op as u32 {
        AMD64_SET_FSBASE => {
            let base: u64 = guest::read_val(parms)?;
            if base >= VM_MAXUSER_ADDRESS {
                return Err(Errno::EINVAL);
            }
            call.thread.guest_fs.set(base);
            Ok(0)
        }
        AMD64_GET_FSBASE => guest::write_val(parms, &call.thread.guest_fs.get()).map(|_| 0),
        AMD64_SET_GSBASE => {
            let base: u64 = guest::read_val(parms)?;
            if base >= VM_MAXUSER_ADDRESS {
                return Err(Errno::EINVAL);
            }
            crate::rewrite::guest_sets_gs();
            call.host_with(libc::SYS_arch_prctl, [sys::ARCH_SET_GS as u64, base, 0, 0, 0, 0])
        }
        // GS holds emu's pointer until the guest sets it: the guest sees none.
        AMD64_GET_GSBASE if crate::rewrite::enabled() => guest::write_val(parms, &0u64).map(|_| 0),
        AMD64_GET_GSBASE => {
            let mut base = 0u64;
            call.host_with(libc::SYS_arch_prctl, [sys::ARCH_GET_GS as u64, &mut base as *mut u64 as u64, 0, 0, 0, 0])?;
            guest::write_val(parms, &base).map(|_| 0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// thr_wake's mark of each thread that was woken or suspended, by tid: the
/// word its thr_suspend sleeps on (a futex), kept alive by whoever uses it
/// (an Arc), so that a wake racing the thread's exit touches live memory.
/// The lock is taken in system call handlers only (never a signal's) and
/// held across fork.
static WAKE_MARKS: Mutex<BTreeMap<i32, Arc<AtomicU32>>> = Mutex::new(BTreeMap::new());

fn wake_marks() -> std::sync::MutexGuard<'static, BTreeMap<i32, Arc<AtomicU32>>> {
    WAKE_MARKS.lock().unwrap_or_else(|e| e.into_inner())
}

fn wake_mark(tid: i32) -> Arc<AtomicU32> {
    wake_marks().entry(tid).or_default().clone()
}

/// Held across a fork.
pub(super) fn lock_for_fork() -> impl std::any::Any {
    wake_marks()
}

/// A thread ends: its mark goes (a later thread with its tid starts
/// without one).
fn forget_wake_mark(tid: i32) {
    wake_marks().remove(&tid);
}

/// thr_suspend(timeout): sleeps until a thr_wake of this thread (one that
/// came before returns at once), the timeout (relative; {0, 0} only
/// looks: ETIMEDOUT) or a signal (EINTR, or the call again after an
/// SA_RESTART handler when there is no timeout), as kern_thr_suspend.
pub fn thr_suspend(call: &mut Call) -> SysResult {
    let timeout = match call.args[0] {
        0 => None,
        at => {
            let [sec, nsec]: [i64; 2] = guest::read_val(at)?;
            if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
                return Err(Errno::EINVAL);
            }
            Some(libc::timespec { tv_sec: sec, tv_nsec: nsec })
        }
    };
    let mark = wake_mark(call.thread.tid.get());
    if mark.swap(0, SeqCst) != 0 {
        return Ok(0);
    }
    let until = match timeout {
        Some(ts) if ts.tv_sec == 0 && ts.tv_nsec == 0 => return Err(Errno(libc::ETIMEDOUT)),
        Some(ts) => Until::new(ts, libc::CLOCK_MONOTONIC, false),
        None => Until::Forever,
    };
    loop {
        let slept = sleep::sleep(call, Arc::as_ptr(&mark) as u64, 0, sleep::ANYONE, until, true);
        if mark.swap(0, SeqCst) != 0 {
            return Ok(0);
        }
        match slept {
            Ok(()) => continue,
            Err(Interrupted::TimedOut) => return Err(Errno(libc::ETIMEDOUT)),
            // Started again after an SA_RESTART handler, unless it has a
            // timeout, as kern_thr_suspend.
            Err(Interrupted::Signal { restartable: true }) if timeout.is_none() => {
                return Err(Errno(crate::signals::NOT_RUN))
            }
            Err(Interrupted::Signal { .. }) => return Err(Errno::EINTR),
        }
    }
}

/// thr_wake(id): marks thread `id` of this process woken and wakes it if
/// it is suspended; ESRCH for another process's or no thread.
pub fn thr_wake(call: &mut Call) -> SysResult {
    let id = call.args[0] as i64;
    if id != call.thread.tid.get() as i64 {
        if !(1..=i32::MAX as i64).contains(&id) {
            return Err(Errno::ESRCH);
        }
        signal::to_thread(id as i32, 0)?;
    }
    let mark = wake_mark(id as i32);
    mark.store(1, SeqCst);
    // A word `mark` keeps alive.
    sleep::wake(Arc::as_ptr(&mark) as u64, 1, sleep::ANYONE, true);
    Ok(0)
}

/// MAXCOMLEN + 1: a FreeBSD thread name and its NUL.
const THREAD_NAME_SIZE: usize = 20;

/// thr_set_name(id, name): the name of thread `id` of this process (a
/// longer one is cut, a null one is empty), which Linux keeps in 15 bytes
/// (/proc/PID/task/TID/comm, what ps and top show).
pub fn thr_set_name(call: &mut Call) -> SysResult {
    let [id, name_at, ..] = call.args;
    let mut name = Vec::new();
    if name_at != 0 {
        guest::read_cstr(name_at, THREAD_NAME_SIZE - 1, &mut name)?;
    }
    let id = id as i64;
    if !(1..=i32::MAX as i64).contains(&id) {
        return Err(Errno::ESRCH);
    }
    signal::to_thread(id as i32, 0)?;
    name.truncate(15);
    let path = format!("/proc/self/task/{id}/comm");
    // A thread that ended meanwhile: as FreeBSD, the name went with it.
    let _ = std::fs::write(path, &name);
    Ok(0)
}
