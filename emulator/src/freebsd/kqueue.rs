//! FreeBSD's kqueue calls over the BSD kqueue (`bsd::kqueue`): its filter
//! numbers, and both layouts of its `struct kevent`: FreeBSD 12's (64
//! bytes, kevent 560) and FreeBSD 11's (32 bytes, kevent 363, which Go
//! 1.19's runtime calls).

use super::numbers;
use crate::bsd::kqueue::{self, Filter, Kevent, KeventLayout, KqueueAbi};
use crate::call::Call;
use crate::memory::guest;
use crate::sys::{Errno, SysResult};

/// FreeBSD's filter numbers (sys/event.h).
const FILTERS: [(i16, Filter); 6] = [
    (-1, Filter::Read),
    (-2, Filter::Write),
    (-5, Filter::Proc),
    (-6, Filter::Signal),
    (-7, Filter::Timer),
    (-11, Filter::User),
];

struct FreeBsdKqueue;

impl KqueueAbi for FreeBsdKqueue {
    fn filter(&self, number: i16) -> Option<Filter> {
        FILTERS.iter().find(|(n, _)| *n == number).map(|&(_, f)| f)
    }

    fn number(&self, filter: Filter) -> i16 {
        FILTERS.iter().find(|(_, f)| *f == filter).map_or(0, |&(n, _)| n)
    }

    fn errno(&self, host: Errno) -> i64 {
        numbers::errno_to_guest(host.0) as i64
    }

    fn signal(&self, ident: u64) -> Option<i32> {
        (1..=128).contains(&ident).then(|| numbers::signal_to_host(ident as i32)).flatten()
    }

    fn wait_status(&self, linux: i32) -> i32 {
        super::process::status_to_guest(linux)
    }
}

static ABI: FreeBsdKqueue = FreeBsdKqueue;

/// The layout of `struct kevent`: 64 bytes (FreeBSD 12) or 32 (11).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    Current,
    Freebsd11,
}

impl KeventLayout for Layout {
    fn size(&self) -> u64 {
        match self {
            Layout::Current => 64,
            Layout::Freebsd11 => 32,
        }
    }

    fn read(&self, at: u64) -> Result<Kevent, Errno> {
        let w: [u64; 4] = guest::read_val(at)?;
        Ok(Kevent {
            ident: w[0],
            filter: w[1] as u16 as i16,
            flags: (w[1] >> 16) as u16,
            fflags: (w[1] >> 32) as u32,
            data: w[2] as i64,
            udata: w[3],
        })
    }

    fn write(&self, at: u64, k: &Kevent) -> Result<(), Errno> {
        let mut w = [0u64; 8];
        w[0] = k.ident;
        w[1] = k.filter as u16 as u64 | (k.flags as u64) << 16 | (k.fflags as u64) << 32;
        w[2] = k.data as u64;
        w[3] = k.udata;
        match self {
            Layout::Current => guest::write_val(at, &w),
            Layout::Freebsd11 => guest::write_val(at, &[w[0], w[1], w[2], w[3]]),
        }
    }
}

/// kqueue(): an epoll descriptor (close-on-exec is the guest's to ask:
/// FreeBSD's kqueue has none).
pub fn kqueue(call: &mut Call) -> SysResult {
    kqueue::create(call, 0, &ABI)
}

/// kqueuex(flags): KQUEUE_CLOEXEC (1) only.
pub fn kqueuex(call: &mut Call) -> SysResult {
    let flags = call.args[0] as u32;
    if flags & !1 != 0 {
        return Err(Errno::EINVAL);
    }
    let cloexec = if flags & 1 != 0 { libc::EPOLL_CLOEXEC as u64 } else { 0 };
    kqueue::create(call, cloexec, &ABI)
}

pub fn kevent(call: &mut Call) -> SysResult {
    kqueue::kevent(call, &Layout::Current)
}

pub fn freebsd11_kevent(call: &mut Call) -> SysResult {
    kqueue::kevent(call, &Layout::Freebsd11)
}
