//! Syscall User Dispatch: every syscall executed outside `[boundary, top of
//! user space)` raises SIGSYS; emu's own code, libraries, heap and stacks
//! all lie in that range, the guest arena below it.
//!
//! Exclusive mode with a NULL selector: nothing has to be flipped on the way
//! in or out of the guest. Dispatch is per thread and is not inherited by a
//! fork child or a new thread, which must call `arm` themselves.

use crate::memory::maps::Maps;
use crate::sys::{self, Errno};
use std::sync::atomic::{AtomicU64, Ordering};

const PR_SET_SYSCALL_USER_DISPATCH: u64 = 59;
const PR_SYS_DISPATCH_ON: u64 = 1;
/// The end of the 47-bit user address space (the vsyscall page is above it).
const USER_TOP: u64 = 1 << 47;
/// The preferred boundary: above it, the kernel's own placement of emu
/// (PIE near 0x55.., libraries and stacks near 0x7f..).
const PREFERRED_BOUNDARY: u64 = 0x5000_0000_0000;
/// A boundary lower than this leaves the guest too little room.
const MIN_BOUNDARY: u64 = 1 << 36;

static BOUNDARY: AtomicU64 = AtomicU64::new(0);

/// Picks the boundary: below the lowest mapping of emu itself.
pub fn choose_boundary() -> Result<u64, String> {
    let mut maps = Maps::open().map_err(|e| format!("cannot open /proc/thread-self/maps: {e}"))?;
    let lowest = maps.at_or_after(0).ok_or("no mappings in /proc/thread-self/maps")?.start;
    // Round down to a 4 GiB line, so that the guest's view does not move with ASLR.
    let boundary = PREFERRED_BOUNDARY.min(lowest & !((1 << 32) - 1));
    if boundary < MIN_BOUNDARY {
        return Err(format!(
            "emu itself is mapped at {lowest:#x}, which leaves no room for the guest below it (was emu built as a position-independent executable?)"
        ));
    }
    BOUNDARY.store(boundary, Ordering::Relaxed);
    Ok(boundary)
}

pub fn boundary() -> u64 {
    BOUNDARY.load(Ordering::Relaxed)
}

/// Turns dispatch on for the calling thread.
pub fn arm() -> Result<(), Errno> {
    let b = boundary();
    // SAFETY: from here on, syscalls of this thread outside emu's range trap
    // to the SIGSYS handler, which must already be installed.
    let r = unsafe {
        sys::syscall6(libc::SYS_prctl as u64, [PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, b, USER_TOP - b, 0, 0])
    };
    sys::result(r).map(|_| ())
}
