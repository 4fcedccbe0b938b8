//! emu's own memory, kept out of the guest's resource limits.
//!
//! The guest's RLIMIT_DATA and RLIMIT_STACK are the host process's: a guest
//! that lowers them (or a user who runs `ulimit -d 8192 -s 24`) limits
//! everything in the process. emu's own large regions must therefore
//! neither count against RLIMIT_DATA nor grow under RLIMIT_STACK:
//!
//! * they are mapped `MAP_GROWSDOWN`, which the kernel accounts as stack
//!   (`VmStk`), not data (`is_data_mapping` leaves out `VM_STACK`), and
//!   whole from the start, so that RLIMIT_STACK, which only limits how far a
//!   stack *grows*, never applies; a `PROT_NONE` page below each keeps it
//!   from growing at all (an access there faults, it does not extend);
//! * `MAP_NORESERVE`: only the pages emu touches are ever committed.
//!
//! emu's main stack is one of them (`run_on_own_stack`): the process's own
//! main stack is as small as the guest's RLIMIT_STACK says, and emu's start
//! (argument parsing, loading) needs more than a small one.

use std::ptr::NonNull;

/// Maps `len` bytes (a multiple of the page size) aligned to `align` (a power
/// of two, at least a page), with an inaccessible page just below. Returns
/// the start of the usable part.
pub fn map_region(len: usize, align: usize) -> std::io::Result<NonNull<u8>> {
    const PAGE: usize = 4096;
    debug_assert!(len % PAGE == 0 && align.is_power_of_two() && align >= PAGE);
    // Room for the alignment, the guard page, then trim what is not needed.
    let reserve = len + align + PAGE;
    let prot = libc::PROT_READ | libc::PROT_WRITE;
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_GROWSDOWN;
    // SAFETY: a fresh anonymous mapping where the kernel chooses (emu's side
    // of the boundary: the guest's mappings are all placed by emu, fixed).
    let p = unsafe { libc::mmap(std::ptr::null_mut(), reserve, prot, flags, -1, 0) };
    if p == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    let start = p as usize;
    let usable = (start + PAGE).next_multiple_of(align);
    let guard = usable - PAGE;
    let end = usable + len;
    // SAFETY: every range here lies inside the mapping just made, which
    // nothing else knows of yet.
    unsafe {
        if guard > start {
            libc::munmap(p, guard - start);
        }
        if start + reserve > end {
            libc::munmap(end as *mut _, start + reserve - end);
        }
        if libc::mprotect(guard as *mut _, PAGE, libc::PROT_NONE) != 0 {
            let e = std::io::Error::last_os_error();
            libc::munmap(guard as *mut _, end - guard);
            return Err(e);
        }
    }
    Ok(NonNull::new(usable as *mut u8).expect("mmap returned a non-null address"))
}

/// Unmaps a region `map_region` made, with its guard page.
///
/// # Safety
/// Nothing uses the region any more (no thread runs on it).
pub unsafe fn unmap_region(region: NonNull<u8>, len: usize) {
    libc::munmap(region.as_ptr().sub(4096).cast(), len + 4096);
}

/// The size of emu's own main stack.
const MAIN_STACK: usize = 8 << 20;

/// Runs `f` on a stack of emu's own (see the module's comment), and returns
/// what it returns. If no such stack can be had, `f` runs where it is.
pub fn run_on_own_stack<R, F: FnOnce() -> R>(f: F) -> R {
    struct Slot<F, R> {
        f: Option<F>,
        result: Option<R>,
    }

    extern "C" fn call<R, F: FnOnce() -> R>(slot: *mut u8) {
        // SAFETY: the pointer to the `Slot` below, alive for the whole call.
        let slot = unsafe { &mut *(slot as *mut Slot<F, R>) };
        if let Some(f) = slot.f.take() {
            slot.result = Some(f());
        }
    }

    let Ok(base) = map_region(MAIN_STACK, 4096) else {
        return f();
    };
    let mut slot = Slot { f: Some(f), result: None };
    let top = base.as_ptr() as usize + MAIN_STACK;
    // SAFETY: switches to a fresh 16-byte aligned stack that nothing else
    // uses, calls `call` there with the C convention, and comes back to this
    // stack (r12 is callee-saved, so it survives the call). emu is built with
    // panic=abort: nothing unwinds through this.
    unsafe {
        core::arch::asm!(
            "mov r12, rsp",
            "mov rsp, {top}",
            "call {call}",
            "mov rsp, r12",
            top = in(reg) top,
            call = in(reg) call::<R, F> as *const () as usize,
            in("rdi") &mut slot as *mut Slot<F, R> as *mut u8,
            out("r12") _,
            clobber_abi("C"),
        );
        // Back on the process's stack (a guest that started never comes back).
        unmap_region(base, MAIN_STACK);
    }
    slot.result.expect("the function ran on emu's own stack")
}
