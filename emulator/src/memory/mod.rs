//! The guest's address space: every guest mapping inside the arena, and no
//! guest call that maps, unmaps or changes the emulator's own memory.
//!
//! The operations here take Linux (host) flag values; a personality
//! translates its own flags before calling them.

pub mod arena;
pub mod guest;
pub mod in_place;
pub mod maps;
pub mod own;

use crate::process::process;
use crate::sys::{self, Errno, SysResult};
use loader::{page_up, AddressSpace, ProgramBreak, PAGE_SIZE};

/// The guest's memory bookkeeping, behind the process's lock.
pub struct GuestMemory {
    pub space: AddressSpace,
    pub brk: ProgramBreak,
}

/// Addresses below this for MAP_32BIT, as Linux gives them (the first 2 GiB).
const MAP_32BIT_LIMIT: u64 = 1 << 31;

fn host_mmap(addr: u64, len: u64, prot: u64, flags: u64, fd: u64, off: u64) -> SysResult {
    // SAFETY: the address range was checked to be the guest's, or is chosen
    // inside the arena with MAP_FIXED_NOREPLACE, which never replaces anything.
    sys::result(unsafe { sys::syscall6(libc::SYS_mmap as u64, [addr, len, prot, flags, fd, off]) })
}

fn page_aligned(x: u64) -> bool {
    x % PAGE_SIZE == 0
}

/// Page-rounded length, ENOMEM when it overflows (as Linux).
fn pages(len: u64) -> Result<u64, Errno> {
    page_up(len).ok_or(Errno::ENOMEM)
}

/// mmap: a fixed mapping must lie in the arena; any other is placed there by emu.
pub fn mmap(addr: u64, len: u64, prot: u64, flags: u64, fd: u64, off: u64) -> SysResult {
    mmap_aligned(addr, len, prot, flags, fd, off, PAGE_SIZE)
}

/// mmap with a placement aligned to `align` (a power of two; FreeBSD's
/// MAP_ALIGNED): a fixed mapping is where it is asked to be, and a hint is
/// taken only if aligned.
pub fn mmap_aligned(addr: u64, len: u64, prot: u64, flags: u64, fd: u64, off: u64, align: u64) -> SysResult {
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let len_p = pages(len)?;
    let fixed = flags & (libc::MAP_FIXED | libc::MAP_FIXED_NOREPLACE) as u64 != 0;
    let mut mem = process().memory();
    if fixed {
        if !page_aligned(addr) {
            return Err(Errno::EINVAL);
        }
        if !mem.space.contains(addr, len_p) {
            log::debug!("refused a fixed mapping at {addr:#x}+{len:#x}: outside the guest arena");
            return Err(Errno::ENOMEM);
        }
        let r = host_mmap(addr, len, prot, flags, fd, off)?;
        mem.space.mark_used(addr, len_p);
        return Ok(r);
    }
    let below = (flags & libc::MAP_32BIT as u64 != 0).then_some(MAP_32BIT_LIMIT);
    let flags = (flags & !(libc::MAP_32BIT as u64)) | libc::MAP_FIXED_NOREPLACE as u64;
    // The hint is honoured when that range is free, as the kernel does.
    let hint = page_up(addr)
        .filter(|&h| h != 0 && h % align == 0 && mem.space.is_free(h, len_p) && below.is_none_or(|b| h + len_p <= b));
    let mut candidate = hint;
    // Something emu does not know of may sit in a hole it picks (EEXIST): note it, pick again.
    for _ in 0..16 {
        let at = match candidate {
            Some(a) => a,
            None => mem.space.find_free(len_p, align, below).ok_or(Errno::ENOMEM)?,
        };
        match host_mmap(at, len, prot, flags, fd, off) {
            Ok(r) => {
                mem.space.mark_used(at, len_p);
                return Ok(r);
            }
            Err(Errno::EEXIST) => {
                mem.space.mark_used(at, len_p);
                candidate = None;
            }
            Err(e) => return Err(e),
        }
    }
    Err(Errno::ENOMEM)
}

/// munmap, refused (EINVAL) outside the arena.
pub fn munmap(addr: u64, len: u64) -> SysResult {
    if !page_aligned(addr) || len == 0 {
        return Err(Errno::EINVAL);
    }
    let len_p = pages(len).map_err(|_| Errno::EINVAL)?;
    let mut mem = process().memory();
    if !mem.space.contains(addr, len_p) {
        log::debug!("refused munmap of {addr:#x}+{len:#x}: not guest memory");
        return Err(Errno::EINVAL);
    }
    // SAFETY: guest arena pages.
    let r = sys::result(unsafe { sys::syscall6(libc::SYS_munmap as u64, [addr, len, 0, 0, 0, 0]) })?;
    mem.space.mark_free(addr, len_p);
    Ok(r)
}

/// mremap: the result stays in the arena; a move goes where emu chooses.
pub fn mremap(old: u64, old_len: u64, new_len: u64, flags: u64, new_addr: u64) -> SysResult {
    let may_move = flags & libc::MREMAP_MAYMOVE as u64 != 0;
    let fixed = flags & libc::MREMAP_FIXED as u64 != 0;
    let dont_unmap = flags & 4 /* MREMAP_DONTUNMAP */ != 0;
    if !page_aligned(old) || new_len == 0 {
        return Err(Errno::EINVAL);
    }
    let old_p = pages(old_len).map_err(|_| Errno::EINVAL)?;
    let new_p = pages(new_len)?;
    let mut mem = process().memory();
    if !mem.space.contains(old, old_p.max(PAGE_SIZE)) {
        return Err(Errno::EFAULT);
    }
    let call = |to: u64, flags: u64| -> SysResult {
        // SAFETY: source and destination are guest arena ranges.
        sys::result(unsafe { sys::syscall6(libc::SYS_mremap as u64, [old, old_len, new_len, flags, to, 0]) })
    };
    let moved = |mem: &mut GuestMemory, to: u64| {
        if !dont_unmap {
            mem.space.mark_free(old, old_p);
        }
        mem.space.mark_used(to, new_p);
    };
    if fixed {
        if !mem.space.contains(new_addr, new_p) {
            return Err(Errno::EINVAL);
        }
        let r = call(new_addr, flags)?;
        moved(&mut mem, r);
        return Ok(r);
    }
    // In place first (MREMAP_DONTUNMAP always moves): a growth must not run
    // into a neighbour emu knows of.
    let grows_into_free = new_p <= old_p || mem.space.is_free(old + old_p, new_p - old_p);
    if !dont_unmap && (grows_into_free || !may_move) {
        if !grows_into_free {
            // The kernel finds an unmapped source (EFAULT) before it finds
            // no room to grow (ENOMEM): a resize to the same size asks it.
            if old_len != 0 {
                // SAFETY: a resize of a guest range to its own size changes nothing.
                sys::result(unsafe { sys::syscall6(libc::SYS_mremap as u64, [old, old_len, old_len, 0, 0, 0]) })?;
            }
            return Err(Errno::ENOMEM);
        }
        match call(0, 0) {
            Ok(r) => {
                if new_p < old_p {
                    mem.space.mark_free(old + new_p, old_p - new_p);
                } else {
                    mem.space.mark_used(old, new_p);
                }
                return Ok(r);
            }
            Err(Errno::ENOMEM) if may_move => {}
            Err(e) => return Err(e),
        }
    }
    let to = mem.space.find_free(new_p, PAGE_SIZE, None).ok_or(Errno::ENOMEM)?;
    let r = call(to, flags | libc::MREMAP_FIXED as u64)?;
    moved(&mut mem, r);
    Ok(r)
}

/// brk, emulated in the arena.
pub fn brk(addr: u64) -> SysResult {
    let mut mem = process().memory();
    let GuestMemory { space, brk } = &mut *mem;
    Ok(brk.set(addr, space))
}
