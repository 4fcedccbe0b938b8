//! The host kernel's vDSO, where the fast entry reads a BSD guest's clocks.
//!
//! A FreeBSD Go program reads the time with the clock_gettime system call
//! (FreeBSD's time page, AT_TIMEKEEP, is not something emu provides: its
//! timehands need the kernel's updates every tick), some 2,000 times in one
//! esbuild run. As a host call from the fast entry one costs about 125 ns
//! here; the vDSO's `__vdso_clock_gettime`, which reads the same clocks from
//! the kernel's data page, about 17. The vDSO lies above the dispatch
//! boundary, like emu's own code: a clock it cannot read itself it asks the
//! kernel for with a `syscall` that does not trap.
//!
//! Only for personalities whose clock reads the entry translates
//! (`PassThrough::CarryClock`): a Linux guest runs the vDSO itself, as its
//! own code, and its signals there are its own.

use crate::memory::maps::Maps;
use goblin::elf::Elf;

/// Where `__vdso_clock_gettime` is, and the vDSO's mapping (code emu runs
/// on the guest's behalf: a signal that interrupts it is held).
pub struct ClockGettime {
    pub function: u64,
    pub mapping: std::ops::Range<u64>,
}

/// Finds `__vdso_clock_gettime` in this process's vDSO, if it has one.
pub fn clock_gettime() -> Option<ClockGettime> {
    // SAFETY: getauxval reads the auxiliary vector the kernel gave emu.
    let base = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) };
    if base == 0 {
        return None;
    }
    let mapping = Maps::open().ok()?.covering(base)?;
    if mapping.start != base || mapping.prot & libc::PROT_EXEC == 0 {
        return None;
    }
    // SAFETY: the vDSO's mapping, readable (executable: x86 has no
    // execute-only pages without protection keys, which the kernel does not
    // put on its vDSO) and never unmapped by emu; the guest's munmap and
    // mremap stay in its arena.
    let image = unsafe { std::slice::from_raw_parts(base as *const u8, (mapping.end - base) as usize) };
    let elf = Elf::parse(image).ok()?;
    // The image is linked at its first PT_LOAD's address (0 on Linux).
    let linked = elf.program_headers.iter().find(|p| p.p_type == goblin::elf::program_header::PT_LOAD)?.p_vaddr;
    let symbol = elf.dynsyms.iter().find(|s| {
        s.is_function() && s.st_value != 0 && elf.dynstrtab.get_at(s.st_name) == Some("__vdso_clock_gettime")
    })?;
    let function = base.checked_add(symbol.st_value.checked_sub(linked)?)?;
    (function < mapping.end).then_some(ClockGettime { function, mapping: mapping.start..mapping.end })
}
