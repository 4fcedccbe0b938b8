//! Memory calls of a Linux guest: the flags are the host's, so these only
//! keep the guest inside its arena (see `crate::memory`).

use crate::call::Call;
use crate::memory;
use crate::process::process;
use crate::sys::{self, Errno, SysResult};
use loader::PAGE_SIZE;

pub fn brk(call: &mut Call) -> SysResult {
    memory::brk(call.args[0])
}

pub fn mmap(call: &mut Call) -> SysResult {
    let a = call.args;
    memory::mmap(a[0], a[1], a[2], a[3], a[4], a[5])
}

pub fn munmap(call: &mut Call) -> SysResult {
    memory::munmap(call.args[0], call.args[1])
}

pub fn mremap(call: &mut Call) -> SysResult {
    let a = call.args;
    memory::mremap(a[0], a[1], a[2], a[3], a[4])
}

/// shmat: a segment attached without an address goes into the arena; one
/// attached at an address must lie in it.
pub fn shmat(call: &mut Call) -> SysResult {
    let (id, addr, flags) = (call.args[0], call.args[1], call.args[2]);
    // SAFETY: an all-zero shmid_ds is a valid value for IPC_STAT to fill.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: IPC_STAT fills a shmid_ds of ours.
    sys::result(unsafe {
        sys::syscall6(libc::SYS_shmctl as u64, [id, libc::IPC_STAT as u64, &mut ds as *mut _ as u64, 0, 0, 0])
    })?;
    let len = loader::page_up(ds.shm_segsz as u64).ok_or(Errno::EINVAL)?;
    let mut mem = process().memory();
    let at = if addr == 0 {
        mem.space.find_free(len, PAGE_SIZE, None).ok_or(Errno::ENOMEM)?
    } else {
        // SHMLBA is the page size on x86.
        if !mem.space.contains(addr & !(PAGE_SIZE - 1), len) {
            return Err(Errno::EINVAL);
        }
        addr
    };
    // SAFETY: attaches inside the guest arena.
    let r = sys::result(unsafe { sys::syscall6(libc::SYS_shmat as u64, [id, at, flags, 0, 0, 0]) })?;
    mem.space.mark_used(r, len);
    Ok(r)
}
