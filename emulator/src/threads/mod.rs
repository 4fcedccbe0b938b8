//! Per-thread emulator state, found without the guest's help.
//!
//! Every thread that runs guest code owns a region of `REGION_SIZE` bytes,
//! aligned to its size: a `ThreadState` at the base, a guard page, and the
//! alternate signal stack above. Every emu signal handler runs on that stack
//! (SA_ONSTACK), so the entry trampoline finds the thread's state by masking
//! the stack pointer, before any thread-local, FS-relative access is
//! possible; it checks `magic` there and stops (ud2) on a stack that is not
//! a thread region. A guest thread's host thread that has no alternate
//! stack yet (its first instructions, see `signals::signal_without_region`)
//! is told apart first, by the kernel's `uc_stack`. The guest's registers
//! (and its FS, which is still loaded) are never trusted for this.
//!
//! A `ThreadState` belongs to its thread alone and is reached through
//! shared references: a handler nested in another (a signal that interrupts
//! emu) gets its own `&ThreadState` while the outer one still holds one, so
//! what changes is in `Cell`s (touched only by the owning thread) or atomics
//! (`ThreadSignals::held`, the one field a nested handler writes).

mod exit;
mod resume;
mod spawn;

pub use exit::{exit_group, exit_thread, is_last_thread, ThreadGroup, ROBUST_HEAD_SIZE};
pub use resume::Resume;
pub use spawn::{spawn, ThreadEntry, ThreadRequest};

use crate::signals::ThreadSignals;
use crate::sys;
use std::cell::{Cell, RefCell};
use std::ptr::NonNull;

/// Size and alignment of a thread's region. 1 MiB of address space, of which
/// only the pages a handler touches are ever committed.
pub const REGION_SIZE: usize = 1 << 20;
/// Space reserved for `ThreadState` at the base of the region.
const STATE_SIZE: usize = 64 << 10;
const GUARD_SIZE: usize = 4096;

/// Marks a region as a live thread region (checked by the entry).
pub const MAGIC: u64 = u64::from_le_bytes(*b"emuthrd\0");

/// What emu keeps for each guest thread. `#[repr(C)]` because the entry
/// trampoline reads `host_fs` and `magic` and writes `guest_fs` by offset.
#[repr(C)]
pub struct ThreadState {
    /// The emulator's FS base for this thread (its TLS). Set once.
    pub host_fs: u64,
    /// The guest's FS base: saved on entry to a handler, loaded on the way back.
    /// A guest `arch_prctl(ARCH_SET_FS)` changes it here.
    pub guest_fs: Cell<u64>,
    /// `MAGIC` while the region is a live thread's (a `Cell`: `free`
    /// clears it through the shared reference every user holds).
    pub(crate) magic: Cell<u64>,
    pub tid: Cell<i32>,
    pub signals: ThreadSignals,
    /// Scratch space for the tracer, reused for every line.
    pub trace_line: RefCell<String>,
    /// Where the tracer resumes when the call returns: the first output
    /// argument, and how many arguments it has shown.
    pub trace_resume: Cell<(u8, u8)>,
    /// The process that entered the traced call (a fork child differs).
    pub trace_pid: Cell<i32>,
    /// When the call being traced began (a JSON trace gives its duration).
    pub trace_started: Cell<u64>,
    /// The guest's `clear_child_tid` (set_tid_address, CLONE_CHILD_CLEARTID):
    /// zeroed and woken when the thread exits, as the kernel does.
    pub clear_child_tid: Cell<u64>,
    /// The guest's robust futex list (set_robust_list): its head and length.
    pub robust_list: Cell<(u64, u64)>,
    /// FreeBSD's robust mutex lists (UMTX_OP_ROBUST_LISTS): the addresses of
    /// the shared and private list heads and of the "inactive" pointer,
    /// walked when the thread exits.
    pub umtx_robust_lists: Cell<[u64; 3]>,
    /// FreeBSD's sigfastblock word (0: none): while it counts blocks, the
    /// thread's asynchronous signals wait (`Personality::defers_signals`).
    pub signal_block_word: Cell<u64>,
    /// How a thread emu started leaves the guest for good (see
    /// `lifecycle::exit_thread`); the process's first thread has none.
    pub(crate) leave: Cell<Option<NonNull<LeaveGuest>>>,
    /// The top of the region (of its alternate stack), where the fast entry
    /// of a rewritten site keeps the guest's registers (`rewrite`).
    pub(crate) fast_stack_top: u64,
}

const _: () = assert!(std::mem::size_of::<ThreadState>() <= STATE_SIZE);

/// Where a thread emu started returns to when its guest thread exits: the
/// stack pointer `emu_enter_thread` saved (see `spawn`).
#[repr(C)]
pub struct LeaveGuest {
    rsp: u64,
}

impl ThreadState {
    /// Allocates the region for the calling thread and installs its alternate
    /// signal stack. The caller is the thread that will run guest code, with
    /// `blocked` as the guest's signal mask.
    pub fn new_for_current_thread(blocked: u64) -> std::io::Result<&'static ThreadState> {
        let (state, _) = ThreadState::allocate(blocked, sys::fs_base(), sys::gettid())?;
        if let Err(e) = state.install() {
            // SAFETY: the region just made, which nothing uses.
            unsafe { ThreadState::free(state) };
            return Err(e);
        }
        Ok(state)
    }

    /// Makes this region the calling thread's: its alternate signal stack,
    /// and GS for the fast entry. The caller is the thread `allocate` was
    /// told of (its FS base and tid).
    pub fn install(&self) -> std::io::Result<()> {
        let altstack = self.host_altstack();
        // SAFETY: a valid stack_t describing memory this thread owns until
        // `release`.
        if unsafe { libc::sigaltstack(&altstack, std::ptr::null_mut()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        crate::rewrite::set_thread_gs(self);
        Ok(())
    }

    /// The alternate stack of the thread's region (what emu installs).
    pub fn host_altstack(&self) -> libc::stack_t {
        let base = self as *const ThreadState as usize;
        libc::stack_t {
            ss_sp: (base + STATE_SIZE + GUARD_SIZE) as *mut libc::c_void,
            ss_flags: 0,
            ss_size: REGION_SIZE - STATE_SIZE - GUARD_SIZE,
        }
    }

    /// Makes a region (state, guard page, alternate stack) for a thread
    /// whose emu TLS is `host_fs`; returns its state and the alternate
    /// stack that thread is to install.
    pub fn allocate(blocked: u64, host_fs: u64, tid: i32) -> std::io::Result<(&'static ThreadState, libc::stack_t)> {
        let base = match spare::take() {
            Some(region) => region.as_ptr(),
            None => {
                // Out of the guest's resource limits (see `memory::own`).
                let region = crate::memory::own::map_region(REGION_SIZE, REGION_SIZE)?;
                // SAFETY: the guard page lies inside the region just mapped.
                if unsafe { libc::mprotect(region.as_ptr().add(STATE_SIZE).cast(), GUARD_SIZE, libc::PROT_NONE) } != 0 {
                    let e = std::io::Error::last_os_error();
                    // SAFETY: the region just mapped, which nothing uses yet.
                    unsafe { crate::memory::own::unmap_region(region, REGION_SIZE) };
                    return Err(e);
                }
                region.as_ptr()
            }
        };
        let stack = libc::stack_t {
            // SAFETY: inside the region.
            ss_sp: unsafe { base.add(STATE_SIZE + GUARD_SIZE) }.cast(),
            ss_flags: 0,
            ss_size: REGION_SIZE - STATE_SIZE - GUARD_SIZE,
        };
        let state = base.cast::<ThreadState>();
        // SAFETY: the base of a fresh, writable, suitably aligned region that
        // nothing else refers to (fresh, or a spare that no thread uses);
        // it lives until `release`.
        unsafe {
            state.write(ThreadState {
                host_fs,
                guest_fs: Cell::new(0),
                magic: Cell::new(MAGIC),
                tid: Cell::new(tid),
                signals: ThreadSignals::new(blocked),
                trace_line: RefCell::new(String::with_capacity(512)),
                trace_resume: Cell::new((0, 0)),
                trace_pid: Cell::new(0),
                trace_started: Cell::new(0),
                clear_child_tid: Cell::new(0),
                robust_list: Cell::new((0, 0)),
                umtx_robust_lists: Cell::new([0; 3]),
                signal_block_word: Cell::new(0),
                leave: Cell::new(None),
                fast_stack_top: base as u64 + REGION_SIZE as u64,
            });
            Ok((&*state, stack))
        }
    }

    /// Gives the region back: the thread's alternate stack is disabled and
    /// the region kept for another thread or unmapped (`free`). Called by
    /// the thread itself, once it no longer runs on that stack and will
    /// take no more signals into emu.
    ///
    /// # Safety
    /// `state` is the calling thread's, and nothing refers to it afterwards.
    pub unsafe fn release(state: &'static ThreadState) {
        let disable = libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
        libc::sigaltstack(&disable, std::ptr::null_mut());
        ThreadState::free(state);
    }

    /// Gives back a region no thread uses (any more): kept as a spare for
    /// the next thread, or unmapped when enough wait.
    ///
    /// # Safety
    /// No thread runs on the region or refers to `state` afterwards.
    pub unsafe fn free(state: &'static ThreadState) {
        // No longer a live region for the entry's check.
        state.magic.set(0);
        let region = NonNull::from(state).cast::<u8>();
        std::ptr::drop_in_place(region.cast::<ThreadState>().as_ptr());
        if !spare::keep(region) {
            crate::memory::own::unmap_region(region, REGION_SIZE);
        }
    }
}

/// Regions of threads that have exited, kept for the next ones. Making a
/// region takes five calls that change the address space (an aligned mmap,
/// two trims, two guard pages) and giving it back one more; each must flush
/// the TLB of every other CPU running a thread of the process, an IPI per
/// CPU, which in a VM costs more than the rest of a thread's start (a
/// program that creates and joins threads one after another spent a third
/// of its time there while the new thread ran beside its parent).
///
/// Lock-free slots, not a locked list: a fork child inherits them as they
/// are, where a lock held by another thread would stay held for good, and
/// they are used from the SIGSYS handler of a clone.
mod spare {
    use super::REGION_SIZE;
    use std::ptr::NonNull;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// At most this many regions wait: a few touched pages each.
    static REGIONS: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];

    /// A region to reuse (its guard pages in place), if one waits.
    pub fn take() -> Option<NonNull<u8>> {
        REGIONS.iter().find_map(|slot| match slot.load(Ordering::Relaxed) {
            0 => None,
            region => slot
                .compare_exchange(region, 0, Ordering::Acquire, Ordering::Relaxed)
                .ok()
                .and_then(|r| NonNull::new(r as *mut u8)),
        })
    }

    /// Keeps a region no thread uses any more; false when every slot is full.
    pub fn keep(region: NonNull<u8>) -> bool {
        debug_assert!(region.as_ptr() as usize % REGION_SIZE == 0);
        let region = region.as_ptr() as usize;
        REGIONS.iter().any(|slot| slot.compare_exchange(0, region, Ordering::Release, Ordering::Relaxed).is_ok())
    }
}
