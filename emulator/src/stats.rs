//! `--stats`: per-call counts, errors and time, printed at exit like
//! `strace -c -w`. The time is wall-clock time spent carrying the call out
//! (the host call and emu's own work for it), from the dispatcher's point of
//! view: the trap itself, the same for every call, is not in it.
//!
//! The counters live in a shared memory file, so that forked children (and
//! the images they exec, which inherit the file) add to the same totals; the
//! process emu was started as prints them.

use crate::call::{Action, CallSlot};
use crate::outcome::Outcome;
use crate::process::Process;
use crate::sys::{self, Errno};
use std::ffi::OsString;
use std::fmt::Write;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

#[repr(C)]
struct Counter {
    calls: AtomicU64,
    errors: AtomicU64,
    nanos: AtomicU64,
    /// Calls `--inject` picked.
    injected: AtomicU64,
}

#[repr(C)]
struct Header {
    magic: u64,
    /// Counters after the header; one per call of the table that made the file.
    slots: u64,
    /// Calls of numbers no table knows.
    unknown: AtomicU64,
    /// Calls that came by a trap (SIGSYS, or a rewritten site's `ud2`), and
    /// through a rewritten site's fast entry (not counting pass-throughs,
    /// which --stats turns off).
    trapped: AtomicU64,
    fast: AtomicU64,
    /// Sites rewritten, and sites left to the trap path (`rewrite`).
    sites_rewritten: AtomicU64,
    sites_refused: AtomicU64,
    /// Of `sites_rewritten`, those rewritten at the first trap because
    /// earlier runs had rewritten or kept them (`rewrite::consider`).
    sites_known: AtomicU64,
}

const MAGIC: u64 = u64::from_le_bytes(*b"emustat4");

pub struct Stats {
    fd: AtomicI32,
    header: &'static Header,
    counters: &'static [Counter],
    /// The process that prints the summary at its exit.
    owner: i32,
}

/// A monotonic timestamp in nanoseconds.
pub fn now() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: fills a timespec of ours (through the vDSO: no system call).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Stats {
    /// Fresh counters for a table of `slots` calls.
    pub fn new(slots: usize) -> Result<Self, Errno> {
        // SAFETY: creates an anonymous memory file.
        let fd = sys::result(unsafe {
            sys::syscall6(
                libc::SYS_memfd_create as u64,
                [c"emu-stats".as_ptr() as u64, libc::MFD_CLOEXEC as u64, 0, 0, 0, 0],
            )
        })? as i32;
        let fd = crate::fds::make_private(fd).inspect(|_| {
            // SAFETY: closes the low duplicate.
            unsafe { libc::close(fd) };
        })?;
        let len = Self::len(slots);
        // SAFETY: sizes the file of ours.
        sys::result(unsafe { sys::syscall6(libc::SYS_ftruncate as u64, [fd as u64, len as u64, 0, 0, 0, 0]) })?;
        // The fresh file is zeros: counters start at zero.
        Self::map(fd, slots, sys::getpid(), true)
    }

    /// The counters of a parent, inherited through an execve (`--stats-fd`).
    /// `None` if the file is not one of ours or was made for another table.
    pub fn inherited(fd: i32, owner: i32, slots: usize) -> Option<Self> {
        let s = Self::map(fd, slots, owner, false).ok()?;
        (s.header.magic == MAGIC && s.header.slots == slots as u64).then(|| {
            crate::fds::register(fd);
            crate::fds::set_inheritable(&[fd], false);
            s
        })
    }

    fn len(slots: usize) -> usize {
        std::mem::size_of::<Header>() + slots * std::mem::size_of::<Counter>()
    }

    /// Maps the file; `fresh`: a new file, whose header is written here,
    /// through the mapping's pointer, before any reference to it exists.
    fn map(fd: i32, slots: usize, owner: i32, fresh: bool) -> Result<Self, Errno> {
        let len = Self::len(slots);
        // SAFETY: a shared mapping of our own memory file; it is never unmapped.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0)
        };
        if p == libc::MAP_FAILED {
            return Err(Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::ENOMEM)));
        }
        // SAFETY: the mapping holds a Header and `slots` Counters, all atomics
        // or plain integers, and lives for the rest of the process. A fresh
        // header is nobody else's yet.
        unsafe {
            if fresh {
                let h = p as *mut Header;
                (*h).magic = MAGIC;
                (*h).slots = slots as u64;
            }
            let header = &*(p as *const Header);
            let counters =
                std::slice::from_raw_parts(p.cast::<u8>().add(std::mem::size_of::<Header>()) as *const Counter, slots);
            Ok(Stats { fd: AtomicI32::new(fd), header, counters, owner })
        }
    }

    /// The statistics of a vfork child: the same counters.
    pub fn copy(&self) -> Self {
        Stats {
            fd: AtomicI32::new(self.fd.load(Ordering::Relaxed)),
            header: self.header,
            counters: self.counters,
            owner: self.owner,
        }
    }

    pub fn fd_moved(&self, old: i32, new: i32) {
        let _ = self.fd.compare_exchange(old, new, Ordering::AcqRel, Ordering::Relaxed);
    }

    pub fn relaunch_options(&self, args: &mut Vec<OsString>, inherited: &mut Vec<i32>) {
        let fd = self.fd.load(Ordering::Relaxed);
        args.push(format!("--stats-fd={fd}").into());
        args.push(format!("--stats-owner={}", self.owner).into());
        inherited.push(fd);
    }

    pub fn record(&self, slot: &CallSlot, outcome: &Outcome, started: u64) {
        let c = &self.counters[slot.index as usize];
        c.calls.fetch_add(1, Ordering::Relaxed);
        if outcome.errno().is_some() {
            c.errors.fetch_add(1, Ordering::Relaxed);
        }
        c.nanos.fetch_add(now().saturating_sub(started), Ordering::Relaxed);
    }

    /// Counts a call `--inject` picked (apart from the calls).
    pub fn record_injected(&self, slot: &CallSlot) {
        self.counters[slot.index as usize].injected.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts the execve that started this image under an emu that traced its parent.
    pub fn record_exec(&self, p: &Process) {
        if let Some(slot) = p.calls.iter().find(|s| s.name() == "execve") {
            self.record(slot, &Outcome::value(0), now());
        }
    }

    pub fn record_unknown(&self) {
        self.header.unknown.fetch_add(1, Ordering::Relaxed);
    }

    /// A call came by a trap, or through a rewritten site (`fast`).
    pub fn record_path(&self, fast: bool) {
        let c = if fast { &self.header.fast } else { &self.header.trapped };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// A site was rewritten, or left to the trap path.
    pub fn record_site(&self, rewritten: bool) {
        let c = if rewritten { &self.header.sites_rewritten } else { &self.header.sites_refused };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Sites that earlier runs rewrote or kept were rewritten at the first trap.
    pub fn record_known_sites(&self, count: u32) {
        if count > 0 {
            self.header.sites_rewritten.fetch_add(count as u64, Ordering::Relaxed);
            self.header.sites_known.fetch_add(count as u64, Ordering::Relaxed);
        }
    }

    /// Prints the table if this is the process emu was started as.
    pub fn report_if_owner(&self, p: &Process) {
        if sys::getpid() != self.owner {
            return;
        }
        let out = || match &p.tracer {
            Some(t) => t.fd(),
            None => crate::log::fd(),
        };
        let _ = crate::fds::write_private(out, self.render(p).as_bytes());
    }

    fn render(&self, p: &Process) -> String {
        struct Row<'a> {
            name: &'a str,
            calls: u64,
            errors: u64,
            nanos: u64,
        }
        let mut rows: Vec<Row> = p
            .calls
            .iter()
            .zip(self.counters)
            .map(|(slot, c)| Row {
                name: slot.name(),
                calls: c.calls.load(Ordering::Relaxed),
                errors: c.errors.load(Ordering::Relaxed),
                nanos: c.nanos.load(Ordering::Relaxed),
            })
            .filter(|r| r.calls > 0)
            .collect();
        rows.sort_by(|a, b| b.nanos.cmp(&a.nanos).then(b.calls.cmp(&a.calls)).then(a.name.cmp(b.name)));
        let total_nanos: u64 = rows.iter().map(|r| r.nanos).sum();
        let total_calls: u64 = rows.iter().map(|r| r.calls).sum();
        let total_errors: u64 = rows.iter().map(|r| r.errors).sum();
        let rule = "------ ----------- ----------- --------- --------- ----------------";
        let mut out = String::new();
        let _ = writeln!(out, "% time     seconds  usecs/call     calls    errors syscall");
        let _ = writeln!(out, "{rule}");
        let line = |out: &mut String, name: &str, calls: u64, errors: u64, nanos: u64| {
            let pct = if total_nanos == 0 { 0.0 } else { 100.0 * nanos as f64 / total_nanos as f64 };
            let per_call = (nanos / 1000).checked_div(calls).unwrap_or(0);
            let errors = if errors == 0 { String::new() } else { errors.to_string() };
            let _ = writeln!(out, "{pct:6.2} {:11.6} {per_call:11} {calls:9} {errors:>9} {name}", nanos as f64 / 1e9);
        };
        for r in &rows {
            line(&mut out, r.name, r.calls, r.errors, r.nanos);
        }
        let _ = writeln!(out, "{rule}");
        let pct_total = if total_nanos == 0 { "  0.00" } else { "100.00" };
        let per_call = (total_nanos / 1000).checked_div(total_calls).unwrap_or(0);
        let errors = if total_errors == 0 { String::new() } else { total_errors.to_string() };
        let _ = writeln!(
            out,
            "{pct_total} {:11.6} {per_call:11} {total_calls:9} {errors:>9} total",
            total_nanos as f64 / 1e9
        );

        let used_as = |action: fn(&Action) -> bool| -> Vec<String> {
            p.calls
                .iter()
                .zip(self.counters)
                .filter(|(slot, c)| action(&slot.action) && c.calls.load(Ordering::Relaxed) > 0)
                .map(|(slot, c)| format!("{} ({}x)", slot.name(), c.calls.load(Ordering::Relaxed)))
                .collect()
        };
        let unsupported = used_as(|a| matches!(a, Action::Unsupported));
        if !unsupported.is_empty() {
            let _ = writeln!(out, "unsupported (ENOSYS): {}", unsupported.join(", "));
        }
        let absent = used_as(|a| matches!(a, Action::Absent));
        if let (false, Some(view)) = (absent.is_empty(), crate::release::view()) {
            let kernel = p.personality.kernel_name();
            let _ = writeln!(out, "not in {kernel} {view} (ENOSYS): {}", absent.join(", "));
        }
        let injected: Vec<String> = p
            .calls
            .iter()
            .zip(self.counters)
            .filter(|(_, c)| c.injected.load(Ordering::Relaxed) > 0)
            .map(|(slot, c)| format!("{} ({}x)", slot.name(), c.injected.load(Ordering::Relaxed)))
            .collect();
        if !injected.is_empty() {
            let _ = writeln!(out, "injected: {}", injected.join(", "));
        }
        let unknown = self.header.unknown.load(Ordering::Relaxed);
        if unknown > 0 {
            let _ = writeln!(out, "unknown numbers (ENOSYS): {unknown} calls");
        }
        let h = &self.header;
        let (rewritten, refused) = (h.sites_rewritten.load(Ordering::Relaxed), h.sites_refused.load(Ordering::Relaxed));
        let known = match h.sites_known.load(Ordering::Relaxed) {
            0 => String::new(),
            n => format!(" ({n} at the first call, known from earlier runs)"),
        };
        if rewritten + refused > 0 {
            let _ = writeln!(
                out,
                "syscall sites: {rewritten} rewritten{known}, {refused} left to the trap path; calls: {} through rewritten sites, {} trapped",
                h.fast.load(Ordering::Relaxed),
                h.trapped.load(Ordering::Relaxed)
            );
        }
        out
    }
}
