//! The guest's program break, emulated inside the arena (the kernel's own
//! break belongs to the emulator's process image, far above the arena).

use crate::arena::{page_up, AddressSpace};

#[derive(Debug, Clone, Copy)]
pub struct ProgramBreak {
    start: u64,
    current: u64,
}

impl ProgramBreak {
    pub fn new(start: u64) -> Self {
        ProgramBreak { start, current: start }
    }

    pub fn current(&self) -> u64 {
        self.current
    }

    /// Where the break started (the end of the program's data).
    pub fn start(&self) -> u64 {
        self.start
    }

    /// `brk(requested)` with Linux's semantics: the new break on success, the
    /// unchanged break when the request cannot be met (`brk(0)` asks).
    pub fn set(&mut self, requested: u64, space: &mut AddressSpace) -> u64 {
        if requested < self.start {
            return self.current;
        }
        let (Some(old_top), Some(new_top)) = (page_up(self.current), page_up(requested)) else {
            return self.current;
        };
        if new_top > old_top {
            let len = new_top - old_top;
            if !space.is_free(old_top, len) {
                return self.current;
            }
            // SAFETY: free guest-arena pages, asked for at exactly this address;
            // MAP_FIXED_NOREPLACE leaves anything already there alone.
            let p = unsafe {
                libc::mmap(
                    old_top as *mut _,
                    len as usize,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                    -1,
                    0,
                )
            };
            if p as u64 != old_top {
                return self.current;
            }
            space.mark_used(old_top, len);
        } else if new_top < old_top {
            // SAFETY: pages of the guest's own break.
            unsafe { libc::munmap(new_top as *mut _, (old_top - new_top) as usize) };
            space.mark_free(new_top, old_top - new_top);
        }
        self.current = requested;
        self.current
    }
}
