//! Calls that change pages in place: madvise, mprotect, pkey_mprotect,
//! mlock, mlock2, munlock, msync, mseal, remap_file_pages.
//!
//! A range inside the guest arena goes to the host as it is, so the kernel
//! judges it exactly. A range that reaches outside the arena (emu's own
//! memory, or nothing) must not: it is answered as the kernel answers a
//! range that holds no mapping, after the checks the kernel makes first,
//! in its order (measured on Linux 6.18): flags and alignment before a zero
//! length, a zero length before the mappings. Whether a flag value is valid
//! is asked of the host itself, on a page that is never mapped.

use super::arena;
use crate::call::Call;
use crate::sys::{self, Errno, SysResult};
use loader::PAGE_SIZE;

const MS_ASYNC: u64 = 1;
const MS_INVALIDATE: u64 = 2;
const MS_SYNC: u64 = 4;
const MLOCK_ONFAULT: u64 = 1;
const PROT_GROWS: u64 = (libc::PROT_GROWSDOWN | libc::PROT_GROWSUP) as u64;

/// The kernel's PAGE_ALIGN, which wraps to zero for a length near 2^64.
fn page_align(len: u64) -> u64 {
    len.wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

fn unaligned(addr: u64) -> bool {
    addr % PAGE_SIZE != 0
}

/// A page of the arena that is never mapped: the one under the boundary.
fn never_mapped() -> u64 {
    arena::ceiling()
}

fn host(nr: i64, args: [u64; 6]) -> SysResult {
    // SAFETY: the callers pass only ranges of the guest arena, or lengths
    // and addresses that touch no mapping (a zero length, the page that is
    // never mapped).
    sys::result(unsafe { sys::syscall6(nr as u64, args) })
}

/// The range the kernel would act on, page-aligned: `None` when its end
/// wraps (the call then fails before it looks at any mapping).
fn affected(name: &str, start: u64, len: u64) -> Option<(u64, u64)> {
    let (start, len) = match name {
        "mlock" | "mlock2" | "munlock" => (start & !(PAGE_SIZE - 1), page_align(len.wrapping_add(start % PAGE_SIZE))),
        "remap_file_pages" => (start & !(PAGE_SIZE - 1), len & !(PAGE_SIZE - 1)),
        _ => (start & !(PAGE_SIZE - 1), page_align(len)),
    };
    start.checked_add(len).map(|_| (start, len))
}

/// The host's number of each call handled here, without a search of the
/// table on every call (mprotect and madvise are hot for garbage
/// collectors and JITs).
fn host_number(name: &str) -> Option<i64> {
    Some(match name {
        "mprotect" => libc::SYS_mprotect,
        "madvise" => libc::SYS_madvise,
        "pkey_mprotect" => libc::SYS_pkey_mprotect,
        "mlock" => libc::SYS_mlock,
        "mlock2" => libc::SYS_mlock2,
        "munlock" => libc::SYS_munlock,
        "msync" => libc::SYS_msync,
        "mseal" => libc::SYS_mseal,
        "remap_file_pages" => libc::SYS_remap_file_pages,
        _ => return None,
    })
}

/// The Linux call of the table, with the guest's arguments.
pub fn change_in_place(call: &mut Call) -> SysResult {
    let args = call.host_args();
    change_in_place_as(call.name(), args)
}

/// The host call `name` (one of the calls above, by its Linux name) with
/// these arguments, in host terms.
pub fn change_in_place_as(name: &str, args: [u64; 6]) -> SysResult {
    let nr = host_number(name).ok_or(Errno::ENOSYS)?;
    let (start, len) = (args[0], args[1]);
    let range = affected(name, start, len);
    match range {
        Some((from, size)) if size == 0 || arena::contains(from, size) => host(nr, args),
        _ => {
            log::debug!("{name} on {start:#x}+{len:#x}: not only guest memory");
            let verdict = unmapped(name, nr, args);
            match (verdict, range) {
                // Past its checks, the kernel applies most of these calls to
                // the mappings the range does hold before it reports the
                // hole (ENOMEM): here, to the guest's part of the range.
                (Err(Errno::ENOMEM), Some((from, size))) if name != "mseal" => {
                    if let Some((part_start, part_len)) = guest_part(name, from, size) {
                        let mut part = args;
                        (part[0], part[1]) = (part_start, part_len);
                        host(nr, part)?;
                    }
                    Err(Errno::ENOMEM)
                }
                (verdict, _) => verdict,
            }
        }
    }
}

/// The part of `[from, from + size)` that lies in the guest arena and that
/// the kernel would act on before it meets the hole: from the start for
/// calls that stop at a hole (only if the range starts in the arena), the
/// whole overlap for madvise, which carries on past holes.
fn guest_part(name: &str, from: u64, size: u64) -> Option<(u64, u64)> {
    let (floor, ceiling) = (arena::floor(), arena::ceiling());
    let end = from.saturating_add(size).min(ceiling);
    let start = if name == "madvise" { from.max(floor) } else { from };
    (start >= floor && start < end).then(|| (start, end - start))
}

/// Whether `size` bytes may be locked: within RLIMIT_MEMLOCK, or with
/// CAP_IPC_LOCK (the kernel checks this before it looks at the range).
fn may_lock(size: u64) -> bool {
    const CAP_IPC_LOCK: u32 = 14;
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: fills a rlimit of ours.
    unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) };
    size / PAGE_SIZE <= lim.rlim_cur / PAGE_SIZE || crate::sys::has_capability(CAP_IPC_LOCK)
}

/// What the kernel returns for a range with no mapping in it.
fn unmapped(name: &str, nr: i64, args: [u64; 6]) -> SysResult {
    let [start, len, third, fourth, ..] = args;
    let wraps = |len: u64| start.checked_add(len).is_none();
    match name {
        "madvise" => {
            // An unknown advice is refused first: the host says which are known.
            host(nr, [0, 0, third, 0, 0, 0])?;
            if unaligned(start) || (len != 0 && page_align(len) == 0) || wraps(page_align(len)) {
                return Err(Errno::EINVAL);
            }
            if len == 0 {
                return Ok(0);
            }
            Err(Errno::ENOMEM)
        }
        "mprotect" | "pkey_mprotect" => {
            if third & PROT_GROWS == PROT_GROWS || unaligned(start) {
                return Err(Errno::EINVAL);
            }
            if len == 0 {
                return Ok(0);
            }
            if page_align(len) == 0 || wraps(page_align(len)) {
                return Err(Errno::ENOMEM);
            }
            // The protection (and key): the host's verdict on a page that is
            // never mapped is EINVAL for a bad one, ENOMEM otherwise.
            host(nr, [never_mapped(), PAGE_SIZE, third, fourth, 0, 0])
        }
        "mlock" | "mlock2" | "munlock" => {
            if name == "mlock2" && third & !MLOCK_ONFAULT != 0 {
                return Err(Errno::EINVAL);
            }
            if name != "munlock" {
                // No right to lock at all (EPERM): the host says, for nothing.
                host(nr, [never_mapped(), 0, third, 0, 0, 0])?;
            }
            let size = page_align(len.wrapping_add(start % PAGE_SIZE));
            if name != "munlock" && !may_lock(size) {
                return Err(Errno::ENOMEM);
            }
            match (start & !(PAGE_SIZE - 1)).checked_add(size) {
                None => Err(Errno::EINVAL),
                Some(_) if size == 0 => Ok(0),
                Some(_) => Err(Errno::ENOMEM),
            }
        }
        "msync" => {
            if third & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0 || unaligned(start) {
                return Err(Errno::EINVAL);
            }
            if third & MS_ASYNC != 0 && third & MS_SYNC != 0 {
                return Err(Errno::EINVAL);
            }
            if wraps(page_align(len)) {
                return Err(Errno::ENOMEM);
            }
            if page_align(len) == 0 {
                return Ok(0);
            }
            Err(Errno::ENOMEM)
        }
        "mseal" => {
            if third != 0 || unaligned(start) || (len != 0 && page_align(len) == 0) || wraps(page_align(len)) {
                return Err(Errno::EINVAL);
            }
            if len == 0 {
                return Ok(0);
            }
            Err(Errno::ENOMEM)
        }
        // remap_file_pages finds no shared mapping there: EINVAL, never ENOMEM.
        _ => Err(Errno::EINVAL),
    }
}
