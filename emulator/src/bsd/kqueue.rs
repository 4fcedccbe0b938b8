//! kqueue and kevent on epoll, for any BSD personality.
//!
//! A kqueue is an epoll descriptor, so it is a real descriptor of the
//! guest's (select, close, exec's close-on-exec act on it as on any). What
//! epoll does not know is kept beside it, per kqueue: its knotes, by
//! (ident, filter), with their flags, fflags and udata. Read and write
//! knotes live in two epolls of emu's own nested in the kqueue's, one per
//! filter: epoll takes one registration per descriptor, and a single one
//! for both would report reading whenever writing changes (with EV_EOF,
//! which Go's poller takes for "writable" too). A timer is a timerfd and a
//! user event an eventfd of emu's, registered in the kqueue's epoll; both
//! are closed with their knote. A process filter is a pidfd (NOTE_EXIT
//! only; its status for a child of this process). A signal filter counts
//! the signal's arrivals through `signals::observe`, whose eventfd wakes
//! the kqueue (a signal the guest blocks is counted when it unblocks it).
//! Other filters are refused (EINVAL in the knote's EV_ERROR).
//!
//! The BSDs agree on the EV_* flags and the NOTE_* values used here; they
//! differ in their filter numbers, `struct kevent` layouts, errno, signal
//! numbers and wait statuses, which a personality gives (`KqueueAbi`,
//! `KeventLayout`).
//!
//! A kqueue is not inherited by the child of a fork that has a descriptor
//! table of its own (`fork_child`), as on the BSDs.
//!
//! Locking: the kqueues' table and each kqueue are locked only in the
//! handler of a call (which interrupted guest code, see `signals`), never
//! across the wait; fork takes the table's lock (`lock_for_fork`).

use crate::call::Call;
use crate::memory::guest;
use crate::signals::observe;
use crate::sys::{self, Errno, SysResult};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// The filters emu carries out, by meaning (each BSD numbers them its own
/// way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Filter {
    Read,
    Write,
    Proc,
    Signal,
    Timer,
    User,
}

/// A personality's numbers around kqueue.
pub trait KqueueAbi: Sync + 'static {
    /// The filter a guest's number names; None for one emu does not carry
    /// out (EINVAL).
    fn filter(&self, number: i16) -> Option<Filter>;
    /// The guest's number of a filter.
    fn number(&self, filter: Filter) -> i16;
    /// The guest's errno, for an EV_ERROR event.
    fn errno(&self, host: Errno) -> i64;
    /// The host signal a signal filter's ident names.
    fn signal(&self, ident: u64) -> Option<i32>;
    /// The guest's wait status of a Linux one (NOTE_EXIT's data).
    fn wait_status(&self, linux: i32) -> i32;
}

/// A personality's `struct kevent`, in guest memory.
pub trait KeventLayout {
    fn size(&self) -> u64;
    fn read(&self, at: u64) -> Result<Kevent, Errno>;
    fn write(&self, at: u64, k: &Kevent) -> Result<(), Errno>;
}

const EV_ADD: u16 = 0x1;
const EV_DELETE: u16 = 0x2;
const EV_ENABLE: u16 = 0x4;
const EV_DISABLE: u16 = 0x8;
const EV_ONESHOT: u16 = 0x10;
const EV_CLEAR: u16 = 0x20;
const EV_RECEIPT: u16 = 0x40;
const EV_DISPATCH: u16 = 0x80;
const EV_ERROR: u16 = 0x4000;
const EV_EOF: u16 = 0x8000;

/// Filter::Proc: the process exited (data: its wait status). NOTE_FORK,
/// NOTE_EXEC and NOTE_TRACK are accepted and never reported: a pidfd tells
/// only of the exit.
const NOTE_EXIT: u32 = 0x8000_0000;
const NOTE_PCTRLMASK: u32 = 0xf000_0000;

const NOTE_SECONDS: u32 = 0x1;
const NOTE_MSECONDS: u32 = 0x2;
const NOTE_USECONDS: u32 = 0x4;
const NOTE_NSECONDS: u32 = 0x8;
const NOTE_ABSTIME: u32 = 0x10;
const NOTE_TRIGGER: u32 = 0x0100_0000;
const NOTE_FFCTRLMASK: u32 = 0xc000_0000;
const NOTE_FFLAGSMASK: u32 = 0x00ff_ffff;
const NOTE_FFAND: u32 = 0x4000_0000;
const NOTE_FFOR: u32 = 0x8000_0000;
const NOTE_FFCOPY: u32 = 0xc000_0000;

/// One change or event, as any layout holds it (the filter in the
/// guest's numbering).
#[derive(Clone, Copy, Debug, Default)]
pub struct Kevent {
    pub ident: u64,
    pub filter: i16,
    pub flags: u16,
    pub fflags: u32,
    pub data: i64,
    pub udata: u64,
}

/// A registered knote.
struct Knote {
    flags: u16,
    fflags: u32,
    udata: u64,
    enabled: bool,
    /// The timerfd, eventfd or pidfd behind an Filter::Timer, Filter::User or
    /// Filter::Proc knote.
    backing: Option<i32>,
    /// Filter::User: triggered and not yet reported (or cleared).
    triggered: bool,
    /// Filter::Signal: the host signal watched, and how many of it had
    /// arrived when it was last reported (see `signals::observe`).
    signal: Option<(i32, u64)>,
}

/// A knote goes: its descriptor of emu's is closed, its signal unwatched.
fn discard(k: Knote) {
    if let Some(b) = k.backing {
        close(b);
    }
    if let Some((sig, _)) = k.signal {
        observe::unwatch(sig);
    }
}

/// epoll data words: which knote (or nested epoll) an event is for, in the
/// top three bits; the knote's ident below.
const TAG_FD: u64 = 0;
const TAG_TIMER: u64 = 1 << 61;
const TAG_USER: u64 = 2 << 61;
const TAG_NESTED: u64 = 3 << 61;
const TAG_PROC: u64 = 4 << 61;
const TAG_SIGNAL: u64 = 5 << 61;
const TAG_MASK: u64 = 7 << 61;

struct Kqueue {
    /// The numbers of the personality that made it.
    abi: &'static dyn KqueueAbi,
    knotes: HashMap<(u64, Filter), Knote>,
    /// The nested epolls of the read and write knotes (emu's private descriptors).
    read_ep: i32,
    write_ep: i32,
    /// The `observe` announcer that wakes the kqueue for its Filter::Signal
    /// knotes, once it has one.
    announcer: Option<usize>,
}

impl Kqueue {
    /// A kqueue on the epoll `epfd`, with its nested epolls.
    fn new(epfd: i32, abi: &'static dyn KqueueAbi) -> Result<Kqueue, Errno> {
        let nested = || -> Result<i32, Errno> {
            // SAFETY: a new epoll of emu's.
            let fd = sys::result(unsafe {
                sys::syscall6(libc::SYS_epoll_create1 as u64, [libc::EPOLL_CLOEXEC as u64, 0, 0, 0, 0, 0])
            })? as i32;
            let high = crate::fds::make_private(fd);
            close(fd);
            let high = high?;
            if let Err(e) = epoll_ctl(epfd, libc::EPOLL_CTL_ADD, high, libc::EPOLLIN as u32, TAG_NESTED | high as u64) {
                crate::fds::release(high);
                return Err(e);
            }
            Ok(high)
        };
        let read_ep = nested()?;
        let write_ep = nested().inspect_err(|_| crate::fds::release(read_ep))?;
        Ok(Kqueue { abi, knotes: HashMap::new(), read_ep, write_ep, announcer: None })
    }
}

/// When the last user of a closed kqueue lets go, its descriptors of
/// emu's, and its knotes', go too.
impl Drop for Kqueue {
    fn drop(&mut self) {
        for (_, k) in self.knotes.drain() {
            discard(k);
        }
        if let Some(slot) = self.announcer {
            observe::release_announcer(slot);
        }
        crate::fds::release(self.read_ep);
        crate::fds::release(self.write_ep);
    }
}

type Registry = Mutex<HashMap<i32, Arc<Mutex<Kqueue>>>>;

fn registry() -> &'static Registry {
    static KQUEUES: OnceLock<Registry> = OnceLock::new();
    KQUEUES.get_or_init(Default::default)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Held across a fork, so that the child's table is whole.
pub fn lock_for_fork() -> impl std::any::Any {
    lock(registry())
}

fn kqueue_of(fd: i32) -> Result<Arc<Mutex<Kqueue>>, Errno> {
    lock(registry()).get(&fd).cloned().ok_or(Errno::EBADF)
}

/// A new kqueue on epoll flags `flags`, for the personality of `abi`.
pub fn create(call: &mut Call, flags: u64, abi: &'static dyn KqueueAbi) -> SysResult {
    let fd = call.host_with(libc::SYS_epoll_create1, [flags, 0, 0, 0, 0, 0])? as i32;
    let kq = Kqueue::new(fd, abi).inspect_err(|_| close(fd))?;
    // A kqueue that had this number (its descriptor closed some other way,
    // by dup2 say) is replaced.
    lock(registry()).insert(fd, Arc::new(Mutex::new(kq)));
    Ok(fd as u64)
}

fn epoll_ctl(epfd: i32, op: i32, fd: i32, events: u32, data: u64) -> Result<(), Errno> {
    let ev = libc::epoll_event { events, u64: data };
    // SAFETY: epoll_ctl reads an epoll_event of ours.
    sys::result(unsafe {
        sys::syscall6(libc::SYS_epoll_ctl as u64, [epfd as u64, op as u64, fd as u64, &ev as *const _ as u64, 0, 0])
    })
    .map(|_| ())
}

fn close(fd: i32) {
    // SAFETY: closes a descriptor emu made for a knote.
    unsafe { sys::syscall6(libc::SYS_close as u64, [fd as u64, 0, 0, 0, 0, 0]) };
}

/// The nested epoll registration of a read or write knote after it changed.
fn sync_fd(kq: &Kqueue, fd: u64, filter: Filter) -> Result<(), Errno> {
    let (ep, events) = match filter {
        Filter::Read => (kq.read_ep, (libc::EPOLLIN | libc::EPOLLRDHUP) as u32),
        _ => (kq.write_ep, libc::EPOLLOUT as u32),
    };
    let fd_num = fd as i32;
    let Some(k) = kq.knotes.get(&(fd, filter)).filter(|k| k.enabled) else {
        return match epoll_ctl(ep, libc::EPOLL_CTL_DEL, fd_num, 0, 0) {
            Err(Errno::ENOENT) | Err(Errno::EBADF) => Ok(()),
            r => r,
        };
    };
    let edge = k.flags & (EV_CLEAR | EV_DISPATCH | EV_ONESHOT) != 0;
    let events = events | if edge { libc::EPOLLET as u32 } else { 0 };
    match epoll_ctl(ep, libc::EPOLL_CTL_MOD, fd_num, events, TAG_FD | fd) {
        Err(Errno::ENOENT) => epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd_num, events, TAG_FD | fd),
        r => r,
    }
}

/// An Filter::Timer period in nanoseconds, from its data and unit flags.
fn timer_period(k: &Kevent) -> Result<i64, Errno> {
    if k.data < 0 {
        return Err(Errno::EINVAL);
    }
    let unit = match k.fflags & (NOTE_SECONDS | NOTE_MSECONDS | NOTE_USECONDS | NOTE_NSECONDS) {
        NOTE_SECONDS => 1_000_000_000,
        NOTE_USECONDS => 1_000,
        NOTE_NSECONDS => 1,
        0 | NOTE_MSECONDS => 1_000_000,
        _ => return Err(Errno::EINVAL),
    };
    Ok(k.data.saturating_mul(unit))
}

fn arm_timer(tfd: i32, k: &Kevent) -> Result<(), Errno> {
    let ns = timer_period(k)?.max(1);
    let ts = |ns: i64| libc::timespec { tv_sec: ns / 1_000_000_000, tv_nsec: ns % 1_000_000_000 };
    let periodic = k.flags & EV_ONESHOT == 0 && k.fflags & NOTE_ABSTIME == 0;
    let spec = libc::itimerspec { it_interval: if periodic { ts(ns) } else { ts(0) }, it_value: ts(ns) };
    let flags = if k.fflags & NOTE_ABSTIME != 0 { libc::TFD_TIMER_ABSTIME } else { 0 };
    // SAFETY: arms a timerfd of emu's from an itimerspec of ours.
    sys::result(unsafe {
        sys::syscall6(libc::SYS_timerfd_settime as u64, [tfd as u64, flags as u64, &spec as *const _ as u64, 0, 0, 0])
    })
    .map(|_| ())
}

/// Applies one change to a kqueue.
fn apply(epfd: i32, kq: &mut Kqueue, c: &Kevent) -> Result<(), Errno> {
    let filter = kq.abi.filter(c.filter).ok_or(Errno::EINVAL)?;
    let key = (c.ident, filter);
    match filter {
        Filter::Read | Filter::Write => {
            let fd = c.ident as i32;
            if c.ident > i32::MAX as u64 || crate::fds::is_private(fd) {
                return Err(Errno::EBADF);
            }
        }
        Filter::Timer | Filter::User => {}
        Filter::Proc if c.ident > i32::MAX as u64 => return Err(Errno::ESRCH),
        Filter::Proc => {}
        Filter::Signal if kq.abi.signal(c.ident).is_none() => return Err(Errno::EINVAL),
        Filter::Signal => {}
    }
    if c.flags & EV_ADD != 0 {
        let existing = kq.knotes.remove(&key);
        let mut k = Knote {
            flags: c.flags & !(EV_ADD | EV_ENABLE | EV_RECEIPT),
            fflags: c.fflags,
            udata: c.udata,
            enabled: c.flags & EV_DISABLE == 0,
            backing: existing.as_ref().and_then(|e| e.backing),
            triggered: existing.as_ref().is_some_and(|e| e.triggered),
            signal: existing.as_ref().and_then(|e| e.signal),
        };
        match filter {
            Filter::Timer => {
                let tfd = match k.backing {
                    Some(t) => t,
                    None => {
                        // SAFETY: a timerfd of emu's, close-on-exec.
                        let t = sys::result(unsafe {
                            sys::syscall6(
                                libc::SYS_timerfd_create as u64,
                                [
                                    libc::CLOCK_MONOTONIC as u64,
                                    (libc::TFD_CLOEXEC | libc::TFD_NONBLOCK) as u64,
                                    0,
                                    0,
                                    0,
                                    0,
                                ],
                            )
                        })? as i32;
                        if let Err(e) =
                            epoll_ctl(epfd, libc::EPOLL_CTL_ADD, t, libc::EPOLLIN as u32, TAG_TIMER | c.ident)
                        {
                            close(t);
                            return Err(e);
                        }
                        t
                    }
                };
                k.backing = Some(tfd);
                k.flags |= EV_CLEAR;
                arm_timer(tfd, c)?;
            }
            Filter::User => {
                if k.backing.is_none() {
                    // SAFETY: an eventfd of emu's, close-on-exec.
                    let e = sys::result(unsafe {
                        sys::syscall6(
                            libc::SYS_eventfd2 as u64,
                            [0, (libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) as u64, 0, 0, 0, 0],
                        )
                    })? as i32;
                    if let Err(err) = epoll_ctl(epfd, libc::EPOLL_CTL_ADD, e, libc::EPOLLIN as u32, TAG_USER | c.ident)
                    {
                        close(e);
                        return Err(err);
                    }
                    k.backing = Some(e);
                }
                k.fflags = existing.map_or(0, |e| e.fflags);
                user_fflags(&mut k, c.fflags);
            }
            Filter::Proc => {
                if k.backing.is_none() {
                    // SAFETY: a pidfd of emu's (close-on-exec); ESRCH for no process.
                    let p =
                        sys::result(unsafe { sys::syscall6(libc::SYS_pidfd_open as u64, [c.ident, 0, 0, 0, 0, 0]) })?
                            as i32;
                    // One report per arming: a disabled knote's pidfd stays
                    // readable, and is armed again when it is enabled.
                    let events = (libc::EPOLLIN | libc::EPOLLONESHOT) as u32;
                    if let Err(err) = epoll_ctl(epfd, libc::EPOLL_CTL_ADD, p, events, TAG_PROC | c.ident) {
                        close(p);
                        return Err(err);
                    }
                    k.backing = Some(p);
                }
                k.fflags = c.fflags & NOTE_PCTRLMASK;
            }
            Filter::Signal => {
                if kq.announcer.is_none() {
                    let (slot, fd) = observe::announcer()?;
                    let tag = TAG_SIGNAL | slot as u64;
                    if let Err(e) = epoll_ctl(epfd, libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, tag) {
                        observe::release_announcer(slot);
                        return Err(e);
                    }
                    kq.announcer = Some(slot);
                }
                if k.signal.is_none() {
                    let sig = kq.abi.signal(c.ident).ok_or(Errno::EINVAL)?;
                    observe::watch(sig);
                    k.signal = Some((sig, observe::occurrences(sig)));
                }
                // Counts since the last report, as FreeBSD's filt_signal.
                k.flags |= EV_CLEAR;
            }
            _ => {}
        }
        kq.knotes.insert(key, k);
    } else {
        let k = kq.knotes.get_mut(&key).ok_or(Errno::ENOENT)?;
        if c.flags & EV_DELETE != 0 {
            discard(kq.knotes.remove(&key).unwrap());
        } else {
            if c.flags & EV_ENABLE != 0 {
                k.enabled = true;
                if let (Filter::Proc, Some(p)) = (filter, k.backing) {
                    let events = (libc::EPOLLIN | libc::EPOLLONESHOT) as u32;
                    epoll_ctl(epfd, libc::EPOLL_CTL_MOD, p, events, TAG_PROC | c.ident)?;
                }
            }
            if c.flags & EV_DISABLE != 0 {
                k.enabled = false;
            }
            if filter == Filter::User {
                user_fflags(k, c.fflags);
            }
        }
    }
    if let Some(k) = kq.knotes.get(&key) {
        if filter == Filter::User && k.triggered {
            if let Some(e) = k.backing {
                // SAFETY: makes emu's eventfd readable, so that epoll reports it.
                unsafe { sys::syscall6(libc::SYS_write as u64, [e as u64, &1u64 as *const u64 as u64, 8, 0, 0, 0]) };
            }
        }
    }
    if matches!(filter, Filter::Read | Filter::Write) {
        sync_fd(kq, c.ident, filter)?;
    }
    Ok(())
}

/// Filter::User's fflags: NOTE_FFAND/FFOR/FFCOPY on the low 24 bits, and
/// NOTE_TRIGGER.
fn user_fflags(k: &mut Knote, fflags: u32) {
    let value = fflags & NOTE_FFLAGSMASK;
    k.fflags = match fflags & NOTE_FFCTRLMASK {
        NOTE_FFAND => k.fflags & value,
        NOTE_FFOR => k.fflags | value,
        NOTE_FFCOPY => value,
        _ => k.fflags,
    };
    if fflags & NOTE_TRIGGER != 0 {
        k.triggered = true;
    }
}

/// The epoll wait's timeout: NULL waits for ever.
fn timeout(at: u64) -> Result<Option<libc::timespec>, Errno> {
    if at == 0 {
        return Ok(None);
    }
    let [sec, nsec]: [i64; 2] = guest::read_val(at)?;
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Some(libc::timespec { tv_sec: sec, tv_nsec: nsec }))
}

/// Reports one knote's event (and uses up a one-shot or dispatch knote).
fn report(kq: &mut Kqueue, ident: u64, filter: Filter, data: i64, eof: bool, out: &mut Vec<Kevent>) {
    let number = kq.abi.number(filter);
    let Some(k) = kq.knotes.get_mut(&(ident, filter)) else { return };
    if !k.enabled {
        return;
    }
    let mut flags = k.flags & (EV_CLEAR | EV_ONESHOT | EV_DISPATCH);
    if eof {
        flags |= EV_EOF;
    }
    if filter == Filter::Proc {
        // The exit ends the knote, as the BSDs' filt_proc does.
        flags |= EV_EOF | EV_ONESHOT;
        k.flags |= EV_ONESHOT;
    }
    out.push(Kevent { ident, filter: number, flags, fflags: k.fflags, data, udata: k.udata });
    let used_up = k.flags & (EV_DISPATCH | EV_ONESHOT) != 0;
    if k.flags & EV_DISPATCH != 0 {
        k.enabled = false;
    }
    if k.flags & EV_ONESHOT != 0 {
        discard(kq.knotes.remove(&(ident, filter)).unwrap());
    }
    // Only a knote that changed is registered again: a modification makes
    // epoll look at the descriptor afresh, and report it again.
    if used_up && matches!(filter, Filter::Read | Filter::Write) {
        let _ = sync_fd(kq, ident, filter);
    }
}

/// At most `max` ready events of a nested epoll, without waiting (the
/// others stay ready there, and the nested epoll stays ready in the
/// kqueue's, for the next call).
fn harvest(ep: i32, max: usize) -> Vec<libc::epoll_event> {
    // SAFETY: zeroes are valid epoll_events for the kernel to fill.
    let mut ready: Vec<libc::epoll_event> = vec![unsafe { std::mem::zeroed() }; max.clamp(1, 256)];
    // SAFETY: fills the events of emu's epoll into a buffer of ours.
    let n = unsafe {
        sys::syscall6(libc::SYS_epoll_wait as u64, [ep as u64, ready.as_mut_ptr() as u64, ready.len() as u64, 0, 0, 0])
    };
    ready.truncate(n.max(0) as usize);
    ready
}

/// The (Linux) wait status of the exited process behind `pidfd`, if it is
/// a child of this process (left to be waited for); 0 for another's, which
/// Linux does not tell.
fn exit_status(pidfd: i32) -> i32 {
    // SAFETY: zeroes are a valid siginfo for the kernel to fill.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    const P_PIDFD: u64 = 3;
    let options = (libc::WEXITED | libc::WNOWAIT | libc::WNOHANG) as u64;
    // SAFETY: waitid fills a siginfo of ours; WNOWAIT leaves the child.
    let r = unsafe {
        sys::syscall6(libc::SYS_waitid as u64, [P_PIDFD, pidfd as u64, &mut info as *mut _ as u64, options, 0, 0])
    };
    // SAFETY: the child fields of a SIGCHLD siginfo (or zeros).
    let (code, status) = unsafe { (info.si_code, info.si_status()) };
    match code {
        _ if r != 0 => 0,
        libc::CLD_EXITED => (status & 0xff) << 8,
        libc::CLD_KILLED => status & 0x7f,
        libc::CLD_DUMPED => (status & 0x7f) | 0x80,
        _ => 0,
    }
}

/// The kevents one event of the kqueue's epoll stands for: the ready read
/// or write knotes of a nested epoll (as many as `room` allows), a timer's
/// expirations, a user event.
fn events_for(kq: &mut Kqueue, ev: &libc::epoll_event, out: &mut Vec<Kevent>, room: usize) {
    let data = ev.u64;
    let (tag, ident) = (data & TAG_MASK, data & !TAG_MASK);
    match tag {
        TAG_NESTED if ident as i32 == kq.read_ep => {
            for e in harvest(kq.read_ep, room) {
                let fd = e.u64 & !TAG_MASK;
                let mut n = 0i32;
                // SAFETY: FIONREAD writes an int of ours; a descriptor it does not fit leaves 0.
                unsafe {
                    sys::syscall6(libc::SYS_ioctl as u64, [fd, libc::FIONREAD, &mut n as *mut i32 as u64, 0, 0, 0])
                };
                let eof = e.events & (libc::EPOLLHUP | libc::EPOLLRDHUP | libc::EPOLLERR) as u32 != 0;
                report(kq, fd, Filter::Read, n as i64, eof, out);
            }
        }
        TAG_NESTED if ident as i32 == kq.write_ep => {
            for e in harvest(kq.write_ep, room) {
                let fd = e.u64 & !TAG_MASK;
                let eof = e.events & (libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0;
                report(kq, fd, Filter::Write, 0, eof, out);
            }
        }
        TAG_TIMER => {
            let Some(tfd) = kq.knotes.get(&(ident, Filter::Timer)).and_then(|k| k.backing) else { return };
            let mut count = 0u64;
            // SAFETY: reads the expirations of emu's timerfd into a u64 of ours.
            let r = unsafe {
                sys::syscall6(libc::SYS_read as u64, [tfd as u64, &mut count as *mut u64 as u64, 8, 0, 0, 0])
            };
            if r == 8 && count > 0 {
                report(kq, ident, Filter::Timer, count as i64, false, out);
            }
        }
        TAG_PROC => {
            let Some(k) = kq.knotes.get(&(ident, Filter::Proc)) else { return };
            let (wants_exit, pidfd) = (k.fflags & NOTE_EXIT != 0, k.backing);
            if !wants_exit {
                // No event it asked for: the knote goes without a word.
                if let Some(k) = kq.knotes.remove(&(ident, Filter::Proc)) {
                    discard(k);
                }
                return;
            }
            let status = kq.abi.wait_status(pidfd.map_or(0, exit_status));
            if let Some(k) = kq.knotes.get_mut(&(ident, Filter::Proc)) {
                k.fflags = NOTE_EXIT;
            }
            report(kq, ident, Filter::Proc, status as i64, true, out);
        }
        TAG_SIGNAL => {
            observe::drain(observe::announcer_fd(ident as usize));
            // As many as there is room for; the others keep their counts
            // for the next call (the announcer is written again for any
            // new arrival, and `kevent_with` looks again while it has room).
            let mut arrived = Vec::new();
            let mut left = false;
            for (&(ident, filter), k) in kq.knotes.iter_mut() {
                if let (Filter::Signal, true, Some((sig, seen))) = (filter, k.enabled, k.signal) {
                    let now = observe::occurrences(sig);
                    if now > seen && arrived.len() < room {
                        k.signal = Some((sig, now));
                        arrived.push((ident, (now - seen) as i64));
                    } else if now > seen {
                        left = true;
                    }
                }
            }
            for (ident, count) in arrived {
                report(kq, ident, Filter::Signal, count, false, out);
            }
            if left {
                observe::announce_again(ident as usize);
            }
        }
        TAG_USER => {
            let Some(k) = kq.knotes.get_mut(&(ident, Filter::User)) else { return };
            if !k.triggered {
                return;
            }
            if let Some(e) = k.backing {
                let mut v = 0u64;
                // SAFETY: drains emu's eventfd.
                unsafe { sys::syscall6(libc::SYS_read as u64, [e as u64, &mut v as *mut u64 as u64, 8, 0, 0, 0]) };
            }
            if k.flags & EV_CLEAR != 0 {
                k.triggered = false;
            }
            let (still, backing) = (k.triggered, k.backing);
            report(kq, ident, Filter::User, 0, false, out);
            if let (true, Some(e)) = (still, backing) {
                // SAFETY: keeps emu's eventfd readable while the event stays triggered.
                unsafe { sys::syscall6(libc::SYS_write as u64, [e as u64, &1u64 as *const u64 as u64, 8, 0, 0, 0]) };
            }
        }
        _ => {}
    }
}

/// kevent(kq, changelist, nchanges, eventlist, nevents, timeout), with the
/// caller's `struct kevent`.
pub fn kevent(call: &mut Call, layout: &dyn KeventLayout) -> SysResult {
    let [kq_fd, changes, nchanges, events, nevents, timeout_at, ..] = call.args;
    let epfd = kq_fd as i32;
    let (nchanges, nevents) = (nchanges as u32 as i32, nevents as u32 as i32);
    if nchanges < 0 || nevents < 0 {
        return Err(Errno::EINVAL);
    }
    let kq = kqueue_of(epfd)?;
    let timeout = timeout(timeout_at)?;
    let size = layout.size();
    let mut placed = 0u64;
    // The changes, in order; an error goes into the event list while there
    // is room (EV_RECEIPT asks for one on success too), else fails the call.
    for i in 0..nchanges as u64 {
        let c = layout.read(changes + i * size)?;
        let r = apply(epfd, &mut lock(&kq), &c);
        let error = match r {
            Ok(()) if c.flags & EV_RECEIPT != 0 => Some(0),
            Ok(()) => None,
            Err(e) => Some(lock(&kq).abi.errno(e)),
        };
        if let Some(errno) = error {
            if placed < nevents as u64 {
                let out = Kevent { flags: EV_ERROR, data: errno, ..c };
                layout.write(events + placed * size, &out)?;
                placed += 1;
            } else {
                r?;
            }
        }
    }
    if placed > 0 || nevents == 0 {
        return Ok(placed);
    }
    let want = (nevents as usize).min(256);
    // SAFETY: zeroes are valid epoll_events for the kernel to fill.
    let mut ready: Vec<libc::epoll_event> = vec![unsafe { std::mem::zeroed() }; want];
    // A wake that brings no event (a signal another knote counts, a knote
    // disabled meanwhile) waits again, for what is left of the timeout.
    let deadline = timeout.map(|t| sys::timespec_add(sys::clock_now(libc::CLOCK_MONOTONIC), t));
    loop {
        let left = deadline.map(|d| sys::timespec_sub(d, sys::clock_now(libc::CLOCK_MONOTONIC)));
        let ts_ptr = left.as_ref().map_or(0, |t| t as *const _ as u64);
        let n = call
            .host_with(libc::SYS_epoll_pwait2, [epfd as u64, ready.as_mut_ptr() as u64, want as u64, ts_ptr, 0, 8])?
            as usize;
        let mut out = Vec::new();
        {
            let mut guard = lock(&kq);
            // Events that do not fit are left where they are: the nested
            // epolls, timerfds and eventfds stay ready for the next call.
            for ev in &ready[..n] {
                let room = nevents as usize - out.len();
                if room == 0 {
                    break;
                }
                events_for(&mut guard, ev, &mut out, room);
            }
        }
        for (i, k) in out.iter().enumerate() {
            layout.write(events + i as u64 * size, k)?;
        }
        let expired = left.is_some_and(|l| l.tv_sec == 0 && l.tv_nsec == 0);
        if !out.is_empty() || n == 0 || expired {
            return Ok(out.len() as u64);
        }
    }
}

/// A kqueue descriptor closed by the guest: its knotes go with it.
pub fn closed(fd: i32) {
    // Dropped here, or by the last thread still in kevent on it.
    let kq = lock(registry()).remove(&fd);
    drop(kq);
}

/// In the child of a fork with a descriptor table of its own: kqueues are
/// not inherited, so their descriptors (and emu's behind them)
/// are closed, and the numbers are free for the child's own.
pub fn fork_child() {
    let inherited: Vec<_> = lock(registry()).drain().collect();
    for (fd, kq) in inherited {
        close(fd);
        drop(kq);
    }
}

/// A BSD's close: the guarded close of the core, then the kqueue's state.
pub fn close_fd(call: &mut Call) -> SysResult {
    let fd = call.args[0] as i32;
    let r = crate::files::close(call);
    if r.is_ok() {
        closed(fd);
    }
    r
}
