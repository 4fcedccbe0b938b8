//! The guest arena: which parts of `[floor, ceiling)` the guest occupies.
//!
//! Every syscall executed from an address at or above `ceiling` (the
//! emulator's own code) escapes Syscall User Dispatch, so a guest mapping must
//! never land there. The kernel's own placement of a non-fixed mmap is
//! top-down from just below the host stack, inside that exempt range; so the
//! emulator places every guest mapping itself, from this map, and asks the
//! kernel for exactly that address. This is bookkeeping only: it never maps
//! anything.

use std::collections::BTreeMap;

pub const PAGE_SIZE: u64 = 4096;

pub fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

pub fn page_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(page_down)
}

/// Occupied ranges of the guest arena, kept disjoint and merged.
#[derive(Debug, Clone)]
pub struct AddressSpace {
    /// The lowest address a mapping may have (0 for a process that may map
    /// page zero, as root may).
    floor: u64,
    /// The lowest address emu places a mapping at (the kernel's
    /// mmap_min_addr): only a fixed mapping goes below.
    placement_floor: u64,
    ceiling: u64,
    /// Top-down searches start here (below the guest stack, like the kernel's mmap_base).
    mmap_top: u64,
    /// start -> end (exclusive).
    used: BTreeMap<u64, u64>,
}

impl AddressSpace {
    /// An empty arena covering `[floor, ceiling)`, both page-aligned.
    pub fn new(floor: u64, ceiling: u64) -> Self {
        assert!(floor < ceiling && floor % PAGE_SIZE == 0 && ceiling % PAGE_SIZE == 0);
        AddressSpace { floor, placement_floor: floor, ceiling, mmap_top: ceiling, used: BTreeMap::new() }
    }

    /// Lets fixed mappings go down to `floor` (below the placement floor).
    pub fn allow_fixed_below(&mut self, floor: u64) {
        self.floor = self.floor.min(floor & !(PAGE_SIZE - 1));
    }

    pub fn floor(&self) -> u64 {
        self.floor
    }

    pub fn ceiling(&self) -> u64 {
        self.ceiling
    }

    pub fn set_mmap_top(&mut self, top: u64) {
        self.mmap_top = top.clamp(self.placement_floor, self.ceiling);
    }

    /// Whether `[start, start + len)` lies inside the arena.
    pub fn contains(&self, start: u64, len: u64) -> bool {
        match start.checked_add(len) {
            Some(end) => start >= self.floor && end <= self.ceiling,
            None => false,
        }
    }

    /// Whether no part of `[start, start + len)` is occupied (and it is in the arena).
    pub fn is_free(&self, start: u64, len: u64) -> bool {
        if !self.contains(start, len) {
            return false;
        }
        let end = start + len;
        // The last interval starting before `end` is the only one that can reach into the range.
        match self.used.range(..end).next_back() {
            Some((_, &e)) => e <= start,
            None => true,
        }
    }

    /// Records `[start, start + len)` as occupied, merging with neighbours.
    pub fn mark_used(&mut self, start: u64, len: u64) {
        if len == 0 {
            return;
        }
        let mut start = start;
        let mut end = start.saturating_add(len);
        // Absorb every interval that overlaps or touches [start, end].
        let touching: Vec<(u64, u64)> =
            self.used.range(..=end).rev().take_while(|&(_, &e)| e >= start).map(|(&s, &e)| (s, e)).collect();
        for (s, e) in touching {
            self.used.remove(&s);
            start = start.min(s);
            end = end.max(e);
        }
        self.used.insert(start, end);
    }

    /// Records `[start, start + len)` as free, splitting intervals as needed.
    pub fn mark_free(&mut self, start: u64, len: u64) {
        if len == 0 {
            return;
        }
        let end = start.saturating_add(len);
        let overlapping: Vec<(u64, u64)> =
            self.used.range(..end).rev().take_while(|&(_, &e)| e > start).map(|(&s, &e)| (s, e)).collect();
        for (s, e) in overlapping {
            self.used.remove(&s);
            if s < start {
                self.used.insert(s, start);
            }
            if e > end {
                self.used.insert(end, e);
            }
        }
    }

    /// Finds room for `len` bytes aligned to `align` (a power of two, at least a page),
    /// top-down from the mmap top like the kernel, then anywhere else in the arena.
    /// `below` bounds the end of the range (MAP_32BIT).
    pub fn find_free(&self, len: u64, align: u64, below: Option<u64>) -> Option<u64> {
        let align = align.max(PAGE_SIZE);
        debug_assert!(align.is_power_of_two());
        if len == 0 {
            return None;
        }
        let limit = below.unwrap_or(self.ceiling).min(self.ceiling);
        let top = self.mmap_top.min(limit);
        let floor = self.placement_floor;
        self.search_down(len, align, floor, top).or_else(|| self.search_down(len, align, top, limit))
    }

    /// Room for `len` bytes within `reach` of `near` (below it first, then
    /// above): code emu writes for a site at `near` that a `jmp rel32` must reach.
    pub fn find_free_near(&self, len: u64, near: u64, reach: u64) -> Option<u64> {
        let lo = near.saturating_sub(reach).max(self.placement_floor);
        let hi = near.saturating_add(reach).min(self.ceiling);
        self.search_down(len, PAGE_SIZE, lo, near.min(hi))
            .or_else(|| self.search_down(len, PAGE_SIZE, near.max(lo), hi))
    }

    /// Highest aligned `len`-byte hole inside `[lo, hi)`.
    fn search_down(&self, len: u64, align: u64, lo: u64, hi: u64) -> Option<u64> {
        let mut hole_end = hi;
        // Intervals are visited from the highest start down; each one bounds the hole above it.
        let mut iter = self.used.range(..hi).rev().peekable();
        loop {
            let (hole_start, next_end) = match iter.peek() {
                Some(&(&s, &e)) => (e.max(lo), Some((s, e))),
                None => (lo, None),
            };
            if hole_end > hole_start && hole_end - hole_start >= len {
                let candidate = (hole_end - len) & !(align - 1);
                if candidate >= hole_start {
                    return Some(candidate);
                }
            }
            match next_end {
                Some((s, _)) => {
                    iter.next();
                    hole_end = hole_end.min(s);
                    if hole_end <= lo {
                        return None;
                    }
                }
                None => return None,
            }
        }
    }

    /// The occupied ranges, lowest first.
    pub fn ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.used.iter().map(|(&s, &e)| (s, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = PAGE_SIZE;

    #[test]
    fn merges_and_splits() {
        let mut a = AddressSpace::new(P, 1000 * P);
        a.mark_used(10 * P, 5 * P);
        a.mark_used(15 * P, 5 * P);
        assert_eq!(a.ranges().collect::<Vec<_>>(), vec![(10 * P, 20 * P)]);
        a.mark_free(12 * P, 2 * P);
        assert_eq!(a.ranges().collect::<Vec<_>>(), vec![(10 * P, 12 * P), (14 * P, 20 * P)]);
        a.mark_used(11 * P, 4 * P);
        assert_eq!(a.ranges().collect::<Vec<_>>(), vec![(10 * P, 20 * P)]);
        a.mark_free(0, 1000 * P);
        assert_eq!(a.ranges().count(), 0);
    }

    #[test]
    fn free_checks() {
        let mut a = AddressSpace::new(P, 100 * P);
        a.mark_used(10 * P, 10 * P);
        assert!(a.is_free(P, 9 * P));
        assert!(!a.is_free(P, 10 * P));
        assert!(!a.is_free(19 * P, P));
        assert!(a.is_free(20 * P, P));
        assert!(!a.is_free(99 * P, 2 * P), "past the ceiling");
        assert!(!a.is_free(0, P), "below the floor");
    }

    #[test]
    fn finds_top_down_below_mmap_top() {
        let mut a = AddressSpace::new(P, 100 * P);
        a.set_mmap_top(90 * P);
        assert_eq!(a.find_free(P, P, None), Some(89 * P));
        a.mark_used(80 * P, 10 * P);
        assert_eq!(a.find_free(2 * P, P, None), Some(78 * P));
        a.mark_used(70 * P, 8 * P);
        a.mark_used(79 * P, P);
        // The one-page hole at 78 is too small for two pages.
        assert_eq!(a.find_free(2 * P, P, None), Some(68 * P));
        assert_eq!(a.find_free(P, P, None), Some(78 * P));
        // Alignment.
        assert_eq!(a.find_free(P, 16 * P, None), Some(64 * P));
        // Below a limit.
        assert_eq!(a.find_free(P, P, Some(10 * P)), Some(9 * P));
    }

    #[test]
    fn falls_back_above_mmap_top_then_gives_up() {
        let mut a = AddressSpace::new(P, 100 * P);
        a.set_mmap_top(50 * P);
        a.mark_used(P, 49 * P);
        assert_eq!(a.find_free(3 * P, P, None), Some(97 * P));
        a.mark_used(50 * P, 50 * P);
        assert_eq!(a.find_free(P, P, None), None);
    }
}
