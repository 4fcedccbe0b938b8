//! The guest arena's bounds, fixed once the guest is set up: what the
//! lowest layer (checked copies of guest memory) needs to judge a guest
//! pointer, without the process's state.

use std::sync::atomic::{AtomicU64, Ordering};

static FLOOR: AtomicU64 = AtomicU64::new(0);
static CEILING: AtomicU64 = AtomicU64::new(0);

pub fn set(floor: u64, ceiling: u64) {
    FLOOR.store(floor, Ordering::Relaxed);
    CEILING.store(ceiling, Ordering::Relaxed);
}

/// Whether `[addr, addr + len)` is guest arena memory.
pub fn contains(addr: u64, len: u64) -> bool {
    let (floor, ceiling) = (FLOOR.load(Ordering::Relaxed), CEILING.load(Ordering::Relaxed));
    addr >= floor && addr.checked_add(len).is_some_and(|end| end <= ceiling)
}

/// The start of the guest arena.
pub fn floor() -> u64 {
    FLOOR.load(Ordering::Relaxed)
}

/// The end of the guest arena; the page there (under the boundary) is
/// never mapped.
pub fn ceiling() -> u64 {
    CEILING.load(Ordering::Relaxed)
}
