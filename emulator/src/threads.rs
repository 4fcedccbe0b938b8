//! Per-thread emulator state, found without the guest's help.
//!
//! Every thread that runs guest code owns a region of `REGION_SIZE` bytes,
//! aligned to its size: a `ThreadState` at the base, a guard page, and the
//! alternate signal stack above. Every emu signal handler runs on that stack
//! (SA_ONSTACK), so the entry trampoline finds the thread's state by masking
//! the stack pointer, before any thread-local, FS-relative access is
//! possible. The guest's registers (and its FS, which is still loaded) are
//! never trusted for this.

use crate::signals::ThreadSignals;
use crate::sys;

/// Size and alignment of a thread's region. 1 MiB of address space, of which
/// only the pages a handler touches are ever committed.
pub const REGION_SIZE: usize = 1 << 20;
/// Space reserved for `ThreadState` at the base of the region.
const STATE_SIZE: usize = 64 << 10;
const GUARD_SIZE: usize = 4096;

/// Marks a region as a live thread region.
const MAGIC: u64 = u64::from_le_bytes(*b"emuthrd\0");

/// What emu keeps for each guest thread. `#[repr(C)]` because the entry
/// trampoline reads `host_fs` and writes `guest_fs` by offset.
#[repr(C)]
pub struct ThreadState {
    /// The emulator's FS base for this thread (its TLS).
    pub host_fs: u64,
    /// The guest's FS base: saved on entry to a handler, loaded on the way back.
    /// A guest `arch_prctl(ARCH_SET_FS)` changes it here.
    pub guest_fs: u64,
    magic: u64,
    pub tid: i32,
    pub signals: ThreadSignals,
    /// Scratch space for the tracer, reused for every line.
    pub trace_line: String,
    /// Where the tracer resumes when the call returns: the first output
    /// argument, and how many arguments it has shown.
    pub trace_resume: (u8, u8),
    /// The process that entered the traced call (a fork child differs).
    pub trace_pid: i32,
}

const _: () = assert!(std::mem::size_of::<ThreadState>() <= STATE_SIZE);

impl ThreadState {
    /// Allocates the region for the calling thread and installs its alternate
    /// signal stack. The caller is the thread that will run guest code, with
    /// `blocked` as the guest's signal mask.
    pub fn new_for_current_thread(blocked: u64) -> std::io::Result<&'static mut ThreadState> {
        // Out of the guest's resource limits (see `memory::own`).
        let region = crate::memory::own::map_region(REGION_SIZE, REGION_SIZE)?;
        let base = region.as_ptr();
        // SAFETY: the guard page lies inside the region just mapped.
        if unsafe { libc::mprotect(base.add(STATE_SIZE).cast(), GUARD_SIZE, libc::PROT_NONE) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let stack = libc::stack_t {
            // SAFETY: inside the region.
            ss_sp: unsafe { base.add(STATE_SIZE + GUARD_SIZE) }.cast(),
            ss_flags: 0,
            ss_size: REGION_SIZE - STATE_SIZE - GUARD_SIZE,
        };
        // SAFETY: a valid stack_t describing memory this thread owns for good.
        if unsafe { libc::sigaltstack(&stack, std::ptr::null_mut()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let state = base.cast::<ThreadState>();
        // SAFETY: the base of a fresh, writable, suitably aligned region that
        // nothing else refers to; it lives as long as the thread (forever).
        unsafe {
            state.write(ThreadState {
                host_fs: sys::fs_base(),
                guest_fs: 0,
                magic: MAGIC,
                tid: sys::gettid(),
                signals: ThreadSignals::new(blocked),
                trace_line: String::with_capacity(512),
                trace_resume: (0, 0),
                trace_pid: 0,
            });
            Ok(&mut *state)
        }
    }
}
