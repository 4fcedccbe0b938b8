//! Reading and writing guest memory through guest pointers, which are never
//! trusted: an address outside the guest arena, unmapped, or without the
//! needed permission gives EFAULT, never a fault in the emulator.
//!
//! The copies are made in place (`signals::guest_copy`), with the guest's own
//! access rights, and a fault ends them with EFAULT: the kernel treats each
//! access as it treats the guest's, or its system calls' copies (a stack
//! grows, a page is copied on write, an unmapped or protected page fails).
//! Not process_vm_readv/writev: a system call per copy costs more than most
//! calls emu carries out, and those never grow a stack.

use super::arena;
use crate::sys::Errno;

/// Plain data that any bit pattern is a valid value of.
///
/// # Safety
/// Implement only for `#[repr(C)]` types made of integers (and arrays of them).
pub unsafe trait Pod: Copy + 'static {}

// SAFETY: integers: every bit pattern is a value.
unsafe impl Pod for u8 {}
// SAFETY: as above.
unsafe impl Pod for u16 {}
// SAFETY: as above.
unsafe impl Pod for u32 {}
// SAFETY: as above.
unsafe impl Pod for u64 {}
// SAFETY: as above.
unsafe impl Pod for i32 {}
// SAFETY: as above.
unsafe impl Pod for i64 {}
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

fn check(addr: u64, len: usize) -> Result<(), Errno> {
    if len == 0 {
        return Ok(());
    }
    if arena::contains(addr, len as u64) {
        Ok(())
    } else {
        Err(Errno::EFAULT)
    }
}

/// An address no system call can read or write: in the kernel's half.
const ALWAYS_FAULTS: u64 = 1 << 63;

/// A guest pointer to `len` bytes as a host call may be given it: the
/// guest's own when it lies in the arena (the host kernel then checks it
/// exactly as the guest's would), or one that faults in place of one into
/// emu's memory.
pub fn for_host(addr: u64, len: u64) -> u64 {
    if arena::contains(addr, len) {
        addr
    } else {
        ALWAYS_FAULTS
    }
}

/// Copies `buf.len()` bytes from guest address `addr`.
pub fn read(addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
    check(addr, buf.len())?;
    if buf.is_empty() {
        return Ok(());
    }
    if crate::signals::guest_copy(buf.as_mut_ptr(), addr as *const u8, buf.len()) {
        Ok(())
    } else {
        Err(Errno::EFAULT)
    }
}

/// Copies `bytes` to guest address `addr`.
pub fn write(addr: u64, bytes: &[u8]) -> Result<(), Errno> {
    check(addr, bytes.len())?;
    if bytes.is_empty() {
        return Ok(());
    }
    if crate::signals::guest_copy(addr as *mut u8, bytes.as_ptr(), bytes.len()) {
        Ok(())
    } else {
        Err(Errno::EFAULT)
    }
}

pub fn read_val<T: Pod>(addr: u64) -> Result<T, Errno> {
    let mut v = std::mem::MaybeUninit::<T>::zeroed();
    // SAFETY: T is Pod: its bytes may be filled with anything.
    let bytes = unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, std::mem::size_of::<T>()) };
    read(addr, bytes)?;
    // SAFETY: every byte was written, and any pattern is a valid T.
    Ok(unsafe { v.assume_init() })
}

pub fn write_val<T: Pod>(addr: u64, v: &T) -> Result<(), Errno> {
    // SAFETY: a Pod value seen as its bytes.
    let bytes = unsafe { std::slice::from_raw_parts(v as *const T as *const u8, std::mem::size_of::<T>()) };
    write(addr, bytes)
}

/// Reads an extensible structure as the kernel's `copy_struct_from_user`
/// does: `guest_size` bytes at `addr` into `dst`, which is emu's (newer or
/// older) version of the structure. Bytes emu does not know must be zero
/// (E2BIG otherwise); bytes the guest did not give are zero.
pub fn read_extensible(addr: u64, guest_size: usize, dst: &mut [u8]) -> Result<(), Errno> {
    let known = guest_size.min(dst.len());
    if guest_size > dst.len() {
        let mut rest = [0u8; 256];
        let mut at = addr + known as u64;
        let mut left = guest_size - known;
        while left > 0 {
            let n = left.min(rest.len());
            read(at, &mut rest[..n])?;
            if rest[..n].iter().any(|&b| b != 0) {
                return Err(Errno(libc::E2BIG));
            }
            at += n as u64;
            left -= n;
        }
    }
    dst[known..].fill(0);
    read(addr, &mut dst[..known])
}

/// Reads a NUL-terminated string of at most `max` bytes (without the NUL)
/// into `out`. Returns whether the NUL was found within `max`.
pub fn read_cstr(addr: u64, max: usize, out: &mut Vec<u8>) -> Result<bool, Errno> {
    const CHUNK: u64 = 256;
    let mut at = addr;
    let mut buf = [0u8; CHUNK as usize];
    while out.len() < max {
        // Never read across a page boundary in one go: the next page may be unmapped.
        let to_page_end = 4096 - (at % 4096);
        let n = CHUNK.min(to_page_end).min((max - out.len()) as u64) as usize;
        read(at, &mut buf[..n])?;
        match buf[..n].iter().position(|&b| b == 0) {
            Some(end) => {
                out.extend_from_slice(&buf[..end]);
                return Ok(true);
            }
            None => out.extend_from_slice(&buf[..n]),
        }
        at += n as u64;
    }
    // Exactly `max` bytes: terminated only if the next byte is the NUL.
    let mut next = [0u8; 1];
    Ok(read(at, &mut next).is_ok() && next[0] == 0)
}

/// The aligned 32-bit guest word at `addr`, read with one load as the
/// guest's own code reads it (a synchronisation word other threads change
/// under it): EFAULT outside the guest, misaligned or unreadable.
pub fn load_u32(addr: u64) -> Result<u32, Errno> {
    word_check(addr)?;
    crate::signals::guest_load32(addr).ok_or(Errno::EFAULT)
}

/// Compare-and-swap on the aligned 32-bit guest word at `addr` with the
/// guest's own `lock cmpxchg`: the value found (`new` was stored if it is
/// `expected`); EFAULT as for `load_u32`, or if the page is read-only.
pub fn cas_u32(addr: u64, expected: u32, new: u32) -> Result<u32, Errno> {
    word_check(addr)?;
    crate::signals::guest_cas32(addr, expected, new).ok_or(Errno::EFAULT)
}

/// Replaces the word at `addr` by `f(old)` atomically (a CAS loop), or
/// leaves it when `f` says None. Returns the value it replaced or kept.
pub fn update_u32(addr: u64, mut f: impl FnMut(u32) -> Option<u32>) -> Result<u32, Errno> {
    let mut old = load_u32(addr)?;
    while let Some(new) = f(old) {
        match cas_u32(addr, old, new)? {
            found if found == old => break,
            found => old = found,
        }
    }
    Ok(old)
}

fn word_check(addr: u64) -> Result<(), Errno> {
    if addr % 4 != 0 {
        return Err(Errno::EFAULT);
    }
    check(addr, 4)
}
