//! The guest arena's bounds, fixed once the guest is set up: what the
//! lowest layer (checked copies of guest memory) needs to judge a guest
//! pointer, without the process's state.

use std::sync::atomic::{AtomicU64, Ordering};

/// Also read by a rewritten site's entry (`rewrite::entry`), by these names.
#[no_mangle]
static EMU_ARENA_FLOOR: AtomicU64 = AtomicU64::new(0);
#[no_mangle]
static EMU_ARENA_CEILING: AtomicU64 = AtomicU64::new(0);

pub fn set(floor: u64, ceiling: u64) {
    EMU_ARENA_FLOOR.store(floor, Ordering::Relaxed);
    EMU_ARENA_CEILING.store(ceiling, Ordering::Relaxed);
}

/// Whether `[addr, addr + len)` is guest arena memory.
pub fn contains(addr: u64, len: u64) -> bool {
    let (floor, ceiling) = (EMU_ARENA_FLOOR.load(Ordering::Relaxed), EMU_ARENA_CEILING.load(Ordering::Relaxed));
    addr >= floor && addr.checked_add(len).is_some_and(|end| end <= ceiling)
}

/// The start of the guest arena.
pub fn floor() -> u64 {
    EMU_ARENA_FLOOR.load(Ordering::Relaxed)
}

/// The end of the guest arena; the page there (under the boundary) is
/// never mapped.
pub fn ceiling() -> u64 {
    EMU_ARENA_CEILING.load(Ordering::Relaxed)
}
