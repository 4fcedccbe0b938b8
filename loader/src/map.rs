//! Mapping a program and its interpreter into the guest arena the way the
//! kernel's `load_elf_binary`, `elf_load` and `load_elf_interp` do:
//!
//! * PT_LOADs in table order; the first one places a position-independent
//!   image (reserving its whole span), the others are mapped over whatever
//!   is there (MAP_FIXED), so overlapping segments replace earlier pages;
//! * a file page whose bytes run into the bss gets its tail zeroed, if the
//!   segment is writable (a read-only one keeps the file's bytes there);
//!   the rest of the bss is anonymous, always read-write (and executable if
//!   the segment is);
//! * AT_PHDR from the segment that holds the program headers, the break
//!   after the highest segment.
//!
//! Every error here comes after the kernel's point of no return: it kills
//! the process with SIGSEGV ([`LoadError::fatal`]). The exception is a
//! segment the kernel could map but emu cannot, because it lies where emu
//! itself lives ([`LoadError::unsupported`]).

use crate::arena::{page_down, page_up, AddressSpace, PAGE_SIZE};
use crate::elf::{phdr_vaddr, ImageKind, Segment};
use crate::error::LoadError;
use crate::exec::{Exec, Loadable};
use std::path::Path;

/// The end of the x86-64 user address space (TASK_SIZE): an address at or
/// above it is one the kernel refuses (`BAD_ADDR`).
pub const TASK_SIZE: u64 = 0x7fff_ffff_f000;

fn page_offset(x: u64) -> u64 {
    x & (PAGE_SIZE - 1)
}

/// Where an exec's images ended up.
#[derive(Clone, Copy, Debug, Default)]
pub struct Loaded {
    /// Added to every address of the program's file (zero for ET_EXEC).
    pub bias: u64,
    /// AT_ENTRY: the program's entry point.
    pub program_entry: u64,
    /// AT_PHDR, AT_PHNUM.
    pub phdr: u64,
    pub phnum: u64,
    /// AT_BASE: where the interpreter was loaded (0: none, or an ET_EXEC one).
    pub interpreter_base: u64,
    /// Where the first instruction is: the interpreter's entry, if any.
    pub start: u64,
    /// Where the program break starts.
    pub brk: u64,
}

/// Where position-independent images go: `program_base` is the arena's
/// counterpart of the kernel's ELF_ET_DYN_BASE (a PIE with an interpreter
/// goes there, and a static PIE's break); the rest is placed top-down from
/// the arena's mmap top, as the kernel places it from mmap_base.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub program_base: u64,
}

/// Maps the program and its interpreter. The stack must be mapped already
/// (it decides the mmap top).
pub fn map_exec(exec: &Exec, space: &mut AddressSpace, layout: Layout) -> Result<Loaded, LoadError> {
    let program = &exec.program;
    let image = &program.image;
    let path = &program.path;
    let has_interp = exec.interpreter.is_some();
    let mut bias = 0u64;
    let mut brk_end = 0u64;
    for (i, seg) in image.segments.iter().enumerate() {
        check_segment(seg, path)?;
        let placement = if i > 0 {
            Placement::Fixed
        } else if image.kind == ImageKind::Fixed {
            Placement::FixedNoReplace
        } else {
            let (total, align) = span(&image.segments, path)?;
            let base = if has_interp {
                page_down(layout.program_base) & !(align - 1)
            } else {
                if seg.filesz == 0 {
                    return Err(LoadError::fatal(
                        path,
                        libc::EPERM,
                        "the first segment of a static PIE has no file bytes",
                    ));
                }
                top_down(space, total, align, path)?
            };
            Placement::Reserve { base, total }
        };
        let mapped = load_segment(program, seg, placement, bias, space)?;
        if i == 0 && image.kind != ImageKind::Fixed {
            bias = mapped.wrapping_sub(page_down(seg.vaddr));
        }
        brk_end = brk_end.max(seg.vaddr.wrapping_add(seg.memsz).wrapping_add(bias));
    }
    let program_entry = image.entry.wrapping_add(bias);
    let (interpreter_base, start) = match &exec.interpreter {
        Some(interp) => map_interpreter(interp, bias != 0, space)?,
        None => {
            check_entry(program_entry, space, path)?;
            (0, program_entry)
        }
    };
    // A static PIE's break goes to the program base, as the kernel moves it
    // to ELF_ET_DYN_BASE (the image itself is near the mmap top).
    let brk = if image.kind == ImageKind::PositionIndependent && !has_interp { layout.program_base } else { brk_end };
    Ok(Loaded {
        bias,
        program_entry,
        phdr: phdr_vaddr(image).wrapping_add(bias),
        phnum: image.phnum,
        interpreter_base,
        start,
        brk: page_up(brk).unwrap_or(brk),
    })
}

/// The kernel's `load_elf_interp`. Returns its load address (AT_BASE) and
/// entry point. `program_moved`: the program itself was placed by the
/// loader (a PIE), so a position-independent interpreter is placed freely.
fn map_interpreter(interp: &Loadable, program_moved: bool, space: &mut AddressSpace) -> Result<(u64, u64), LoadError> {
    let (image, path) = (&interp.image, &interp.path);
    if let ImageKind::Other(t) = image.kind {
        return Err(LoadError::fatal(
            path,
            libc::EINVAL,
            format!("the interpreter is of ELF type {t}, not an executable"),
        ));
    }
    let (total, _) = span(&image.segments, path)?;
    let mut load_addr = 0u64;
    let mut placed = false;
    for seg in &image.segments {
        check_segment(seg, path)?;
        let placement = if image.kind == ImageKind::Fixed || placed {
            Placement::Fixed
        } else {
            // A hint at the interpreter's own address, unless the program
            // was moved (then none): free, or top-down.
            let hint = if program_moved { 0 } else { page_down(seg.vaddr) };
            let base =
                if hint != 0 && space.is_free(hint, total) { hint } else { top_down(space, total, PAGE_SIZE, path)? };
            Placement::Reserve { base, total }
        };
        let mapped = load_segment(interp, seg, placement, load_addr, space)?;
        if !placed && image.kind == ImageKind::PositionIndependent {
            load_addr = mapped.wrapping_sub(page_down(seg.vaddr));
        }
        placed = true;
    }
    let entry = load_addr.wrapping_add(image.entry);
    check_entry(entry, space, path)?;
    Ok((load_addr, entry))
}

/// Room for an image of `total` bytes, top-down from the mmap top.
fn top_down(space: &AddressSpace, total: u64, align: u64, path: &Path) -> Result<u64, LoadError> {
    space.find_free(total, align, None).ok_or_else(|| LoadError::fatal(path, libc::ENOMEM, "no room for it"))
}

/// Maps one segment: the first one of a placed image where the placement
/// says, any other at its address plus `bias`.
fn load_segment(
    file: &Loadable,
    seg: &Segment,
    placement: Placement,
    bias: u64,
    space: &mut AddressSpace,
) -> Result<u64, LoadError> {
    let at = match placement {
        Placement::Reserve { base, .. } => base + page_offset(seg.vaddr),
        _ => bias.wrapping_add(seg.vaddr),
    };
    elf_load(file, seg, at, placement, space)
}

/// The size checks `load_elf_binary` makes on every PT_LOAD.
fn check_segment(seg: &Segment, path: &Path) -> Result<(), LoadError> {
    if seg.vaddr >= TASK_SIZE || seg.filesz > seg.memsz || seg.memsz > TASK_SIZE || TASK_SIZE - seg.memsz < seg.vaddr {
        return Err(LoadError::fatal(
            path,
            libc::EINVAL,
            format!("a segment at {:#x} of {:#x} bytes ({:#x} in the file)", seg.vaddr, seg.memsz, seg.filesz),
        ));
    }
    Ok(())
}

/// An entry point the process could start at.
fn check_entry(entry: u64, space: &AddressSpace, path: &Path) -> Result<(), LoadError> {
    if entry >= space.ceiling() {
        return Err(LoadError::fatal(
            path,
            libc::EINVAL,
            format!("its entry point {entry:#x} lies outside its memory"),
        ));
    }
    Ok(())
}

/// The span a position-independent image reserves (the kernel's
/// `total_mapping_size`, over every PT_LOAD) and its alignment (the largest
/// power-of-two p_align, at least a page).
fn span(segments: &[Segment], path: &Path) -> Result<(u64, u64), LoadError> {
    let lo = segments.iter().map(|s| page_down(s.vaddr)).min();
    let hi = segments.iter().map(|s| s.vaddr.wrapping_add(s.memsz)).max();
    let total = match (lo, hi) {
        (Some(lo), Some(hi)) if hi > lo => hi - lo,
        _ => return Err(LoadError::fatal(path, libc::EINVAL, "no loadable segment with any size")),
    };
    let align =
        segments.iter().map(|s| s.align).filter(|a| a.is_power_of_two()).max().unwrap_or(PAGE_SIZE).max(PAGE_SIZE);
    let total = page_up(total).ok_or_else(|| LoadError::fatal(path, libc::EINVAL, "segments too large"))?;
    Ok((total, align))
}

#[derive(Clone, Copy)]
enum Placement {
    /// At the given address, over whatever is there.
    Fixed,
    /// At the given address, which must be free (the first segment of ET_EXEC).
    FixedNoReplace,
    /// The first segment of a placed image: `total` bytes from `base` are the image's.
    Reserve { base: u64, total: u64 },
}

/// Checks that the kernel could make a mapping of `[start, start + len)`
/// and that it lies in the guest arena.
fn check_range(start: u64, len: u64, space: &AddressSpace, path: &Path) -> Result<(), LoadError> {
    let end = start.checked_add(len).filter(|&e| e <= TASK_SIZE);
    if end.is_none() || start < space.floor() {
        return Err(LoadError::fatal(path, libc::ENOMEM, format!("a segment at {start:#x} that cannot be mapped")));
    }
    if !space.contains(start, len) {
        return Err(LoadError::unsupported(
            path,
            format!(
                "its segment at {start:#x} lies outside the guest arena ({:#x}-{:#x}), where emu itself lives",
                space.floor(),
                space.ceiling()
            ),
        ));
    }
    Ok(())
}

/// The kernel's `elf_load` of one segment at `at`. Returns the address of
/// the first page mapped.
fn elf_load(
    file: &Loadable,
    seg: &Segment,
    at: u64,
    placement: Placement,
    space: &mut AddressSpace,
) -> Result<u64, LoadError> {
    let path = &file.path;
    let map_start = page_down(at);
    let prot = seg.prot();
    if let Placement::Reserve { base, total } = placement {
        check_range(base, total, space, path)?;
        if !space.is_free(base, total) {
            return Err(LoadError::fatal(path, libc::EEXIST, format!("its place at {base:#x} is taken")));
        }
        space.mark_used(base, total);
    }
    let (zero_start, zero_end);
    if seg.filesz > 0 {
        let size = page_up(seg.filesz + page_offset(seg.vaddr)).unwrap_or(u64::MAX);
        let offset = seg.offset.wrapping_sub(page_offset(seg.vaddr));
        if page_offset(offset) != 0 {
            return Err(LoadError::fatal(
                path,
                libc::EINVAL,
                format!(
                    "segment at {:#x}: its file offset {:#x} is not congruent to it modulo the page size",
                    seg.vaddr, seg.offset
                ),
            ));
        }
        check_range(map_start, size, space, path)?;
        let no_replace = matches!(placement, Placement::FixedNoReplace);
        if no_replace && !space.is_free(map_start, size) {
            return Err(LoadError::fatal(
                path,
                libc::EEXIST,
                format!("its segment at {map_start:#x} overlaps another mapping"),
            ));
        }
        let flags = libc::MAP_PRIVATE | if no_replace { libc::MAP_FIXED_NOREPLACE } else { libc::MAP_FIXED };
        // SAFETY: a mapping inside the guest arena (checked above), over
        // nothing but the guest's own pages.
        let p = unsafe {
            libc::mmap(map_start as *mut _, size as usize, prot, flags, file.file.fd(), offset as libc::off_t)
        };
        if p == libc::MAP_FAILED {
            let e = std::io::Error::last_os_error();
            return Err(LoadError::fatal(
                path,
                e.raw_os_error().unwrap_or(libc::ENOMEM),
                format!("mapping its segment at {map_start:#x}: {e}"),
            ));
        }
        space.mark_used(map_start, size);
        zero_start = map_start + page_offset(seg.vaddr) + seg.filesz;
        zero_end = map_start + page_offset(seg.vaddr) + seg.memsz;
        if seg.memsz > seg.filesz && page_offset(zero_start) != 0 {
            let tail = PAGE_SIZE - page_offset(zero_start);
            // Through the kernel, which respects the page's protection and
            // fails (rather than raising SIGBUS) beyond the end of the file.
            if let Err(e) = write_zeros(zero_start, tail as usize) {
                if prot & libc::PROT_WRITE != 0 {
                    return Err(LoadError::fatal(
                        path,
                        libc::EFAULT,
                        format!("zeroing the end of the page at {zero_start:#x}: {e}"),
                    ));
                }
            }
        }
    } else {
        zero_start = map_start;
        zero_end = map_start + page_offset(seg.vaddr) + seg.memsz;
    }
    if seg.memsz > seg.filesz {
        let (Some(from), Some(to)) = (page_up(zero_start), page_up(zero_end)) else {
            return Err(LoadError::fatal(path, libc::EINVAL, "a bss past the end of the address space"));
        };
        if to > from {
            check_range(from, to - from, space, path)?;
            let bss_prot = libc::PROT_READ | libc::PROT_WRITE | (prot & libc::PROT_EXEC);
            // SAFETY: as above, guest arena pages.
            let p = unsafe {
                libc::mmap(
                    from as *mut _,
                    (to - from) as usize,
                    bss_prot,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if p == libc::MAP_FAILED {
                let e = std::io::Error::last_os_error();
                return Err(LoadError::fatal(
                    path,
                    e.raw_os_error().unwrap_or(libc::ENOMEM),
                    format!("mapping its bss at {from:#x}: {e}"),
                ));
            }
            space.mark_used(from, to - from);
        }
    }
    Ok(map_start)
}

/// Writes `len` zero bytes at `addr` of this process as a system call
/// would: EFAULT for a page that is read-only or beyond the end of its file.
fn write_zeros(addr: u64, len: usize) -> std::io::Result<()> {
    let zeros = [0u8; PAGE_SIZE as usize];
    let local = libc::iovec { iov_base: zeros.as_ptr() as *mut _, iov_len: len };
    let remote = libc::iovec { iov_base: addr as *mut _, iov_len: len };
    // SAFETY: reads from a local buffer; the kernel checks the destination.
    let n = unsafe { libc::process_vm_writev(libc::getpid(), &local, 1, &remote, 1, 0) };
    match n {
        n if n == len as isize => Ok(()),
        -1 => Err(std::io::Error::last_os_error()),
        _ => Err(std::io::Error::from_raw_os_error(libc::EFAULT)),
    }
}
