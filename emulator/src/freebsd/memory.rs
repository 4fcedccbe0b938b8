//! FreeBSD's memory calls, over the core's placement in the guest arena:
//! FreeBSD's mmap flags (MAP_ANON is 0x1000, MAP_GUARD, MAP_EXCL,
//! MAP_32BIT, MAP_ALIGNED) and madvise advice as Linux's.

use crate::call::Call;
use crate::memory::{self, in_place};
use crate::sys::{Errno, SysResult};

const MAP_SHARED: u64 = 0x1;
const MAP_PRIVATE: u64 = 0x2;
const MAP_FIXED: u64 = 0x10;
const MAP_HASSEMAPHORE: u64 = 0x200;
const MAP_STACK: u64 = 0x400;
const MAP_NOSYNC: u64 = 0x800;
const MAP_ANON: u64 = 0x1000;
const MAP_GUARD: u64 = 0x2000;
const MAP_EXCL: u64 = 0x4000;
const MAP_NOCORE: u64 = 0x20000;
const MAP_PREFAULT_READ: u64 = 0x40000;
const MAP_32BIT: u64 = 0x80000;
/// MAP_ALIGNED(n): log2 of the alignment in bits 24..31 (1: a superpage).
const MAP_ALIGNMENT_MASK: u64 = 0xff00_0000;
const MAP_ALIGNMENT_SHIFT: u64 = 24;
const MAP_ALIGNED_SUPER: u64 = 1 << MAP_ALIGNMENT_SHIFT;
/// amd64's superpage: 2 MiB.
const SUPERPAGE: u64 = 2 << 20;
/// Flags that only tune FreeBSD's VM: accepted and ignored.
const IGNORED: u64 = MAP_HASSEMAPHORE | MAP_NOSYNC | MAP_NOCORE | MAP_PREFAULT_READ;
const KNOWN: u64 = MAP_SHARED
    | MAP_PRIVATE
    | MAP_FIXED
    | MAP_STACK
    | MAP_ANON
    | MAP_GUARD
    | MAP_EXCL
    | MAP_32BIT
    | MAP_ALIGNMENT_MASK
    | IGNORED;
/// PROT_MAX(p) is p << 16: the most a later mprotect may grant.
const PROT_MASK: u64 = 0x7;

/// The alignment MAP_ALIGNED asks for, checked as FreeBSD's kern_mmap does
/// (from a page to 2^63); a superpage when the mapping holds one.
fn alignment(flags: u64, len: u64) -> Result<u64, Errno> {
    match flags & MAP_ALIGNMENT_MASK {
        0 => Ok(4096),
        MAP_ALIGNED_SUPER => Ok(if len >= SUPERPAGE { SUPERPAGE } else { 4096 }),
        a => match a >> MAP_ALIGNMENT_SHIFT {
            shift @ 12..=63 => Ok(1 << shift),
            _ => Err(Errno::EINVAL),
        },
    }
}

/// mmap(addr, len, prot, flags, fd, pos). As FreeBSD: an anonymous mapping
/// needs fd -1 and offset 0; MAP_GUARD reserves inaccessible address
/// space; MAP_EXCL with MAP_FIXED refuses to replace a mapping (ENOMEM);
/// MAP_ALIGNED places the mapping at a multiple of its alignment (a fixed
/// one stays where it is asked to be, as FreeBSD's).
pub fn mmap(call: &mut Call) -> SysResult {
    let [addr, len, prot, flags, fd, pos, ..] = call.args;
    let (prot, flags, fd) = (prot & 0xffff_ffff, flags & 0xffff_ffff, fd as u32 as i32);
    if flags & !KNOWN != 0 || (flags & MAP_EXCL != 0 && flags & MAP_FIXED == 0) {
        return Err(Errno::EINVAL);
    }
    let align = alignment(flags, len)?;
    let anon = flags & (MAP_ANON | MAP_STACK | MAP_GUARD) != 0;
    if anon && (fd != -1 || pos != 0) {
        return Err(Errno::EINVAL);
    }
    if flags & MAP_GUARD != 0 && (prot & PROT_MASK != 0 || flags & (MAP_SHARED | MAP_STACK) != 0) {
        return Err(Errno::EINVAL);
    }
    let mut host = match flags & (MAP_SHARED | MAP_PRIVATE) {
        MAP_SHARED => libc::MAP_SHARED,
        _ => libc::MAP_PRIVATE,
    } as u64;
    if anon {
        host |= libc::MAP_ANONYMOUS as u64;
    }
    if flags & MAP_GUARD != 0 {
        host |= libc::MAP_NORESERVE as u64;
    }
    if flags & MAP_FIXED != 0 {
        host |= if flags & MAP_EXCL != 0 { libc::MAP_FIXED_NOREPLACE } else { libc::MAP_FIXED } as u64;
    }
    if flags & MAP_32BIT != 0 {
        host |= libc::MAP_32BIT as u64;
    }
    let fd = if anon { -1i64 as u64 } else { fd as i64 as u64 };
    match memory::mmap_aligned(addr, len, prot & PROT_MASK, host, fd, pos, align) {
        Err(Errno::EEXIST) => Err(Errno::ENOMEM),
        r => r,
    }
}

pub fn munmap(call: &mut Call) -> SysResult {
    memory::munmap(call.args[0], call.args[1])
}

pub fn mprotect(call: &mut Call) -> SysResult {
    let [addr, len, prot, ..] = call.args;
    in_place::change_in_place_as("mprotect", [addr, len, prot & PROT_MASK, 0, 0, 0])
}

/// madvise: FreeBSD's advice as Linux's; the ones that only tune FreeBSD's
/// VM (MADV_NOSYNC, MADV_AUTOSYNC, MADV_PROTECT) change nothing here.
pub fn madvise(call: &mut Call) -> SysResult {
    let [addr, len, advice, ..] = call.args;
    let host = match advice as u32 {
        0 => libc::MADV_NORMAL,
        1 => libc::MADV_RANDOM,
        2 => libc::MADV_SEQUENTIAL,
        3 => libc::MADV_WILLNEED,
        4 => libc::MADV_DONTNEED,
        5 => libc::MADV_FREE,
        8 => libc::MADV_DONTDUMP,
        9 => libc::MADV_DODUMP,
        6 | 7 | 10 => libc::MADV_NORMAL,
        _ => return Err(Errno::EINVAL),
    };
    in_place::change_in_place_as("madvise", [addr, len, host as u64, 0, 0, 0])
}

/// minherit(addr, len, inherit): what a fork gives the child of the range,
/// as Linux's madvise says it: INHERIT_SHARE (0) is not Linux's to give.
pub fn minherit(call: &mut Call) -> SysResult {
    let [addr, len, inherit, ..] = call.args;
    let advice = match inherit as u32 {
        1 => libc::MADV_DOFORK,     // INHERIT_COPY
        2 => libc::MADV_DONTFORK,   // INHERIT_NONE
        3 => libc::MADV_WIPEONFORK, // INHERIT_ZERO
        _ => return Err(Errno::EINVAL),
    };
    in_place::change_in_place_as("madvise", [addr, len, advice as u64, 0, 0, 0])
}
