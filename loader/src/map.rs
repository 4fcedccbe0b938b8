//! Mapping an inspected ELF image into the guest arena, as the kernel's
//! `load_elf_binary` would: file-backed segments with their protections, the
//! tail of the last file page zeroed, anonymous pages for the rest of the bss.

use crate::arena::{page_down, page_up, AddressSpace, PAGE_SIZE};
use crate::elf::{ElfImage, ImageKind, Segment};
use crate::error::LoadError;
use std::os::fd::AsRawFd;

/// Where an image ended up.
#[derive(Clone, Copy, Debug)]
pub struct LoadedImage {
    /// Added to every address in the file (zero for ET_EXEC).
    pub bias: u64,
    pub entry: u64,
    /// AT_PHDR, AT_PHNUM, AT_PHENT.
    pub phdr: u64,
    pub phnum: u64,
    pub phent: u64,
    /// First page of the image and the end of its last page.
    pub start: u64,
    pub end: u64,
}

impl LoadedImage {
    /// The program break starts at the end of the image.
    pub fn brk_start(&self) -> u64 {
        self.end
    }
}

/// Maps `image` into the arena. A position-independent image goes at
/// `preferred_base` if that is free, else wherever the arena has room.
pub fn map_image(image: &ElfImage, space: &mut AddressSpace, preferred_base: u64) -> Result<LoadedImage, LoadError> {
    let path = &image.path;
    let lo = image.segments.iter().map(|s| page_down(s.vaddr)).min().unwrap_or(0);
    let hi = image
        .segments
        .iter()
        .map(|s| s.vaddr + s.memsz)
        .max()
        .and_then(page_up)
        .ok_or_else(|| LoadError::map(path, "segments reach the end of the address space"))?;
    let span = hi - lo;
    let bias = match image.kind {
        ImageKind::Fixed => {
            if !space.is_free(lo, span) {
                return Err(LoadError::map(
                    path,
                    format!(
                        "its segments ({lo:#x}-{hi:#x}) fall outside the guest arena ({:#x}-{:#x})",
                        space.floor(),
                        space.ceiling()
                    ),
                ));
            }
            0
        }
        ImageKind::PositionIndependent => {
            let align = image.segments.iter().map(|s| s.align).max().unwrap_or(PAGE_SIZE).max(PAGE_SIZE);
            let base = if preferred_base % align == 0 && space.is_free(preferred_base, span) {
                preferred_base
            } else {
                space
                    .find_free(span, align, None)
                    .ok_or_else(|| LoadError::map(path, "no room for it in the guest arena"))?
            };
            base.wrapping_sub(lo)
        }
    };
    for seg in &image.segments {
        map_segment(image, seg, bias)?;
    }
    space.mark_used(lo.wrapping_add(bias), span);
    let entry = image.entry.wrapping_add(bias);
    Ok(LoadedImage {
        bias,
        entry,
        phdr: image.phdr_vaddr.wrapping_add(bias),
        phnum: image.phnum,
        phent: image.phentsize,
        start: lo.wrapping_add(bias),
        end: hi.wrapping_add(bias),
    })
}

fn map_segment(image: &ElfImage, seg: &Segment, bias: u64) -> Result<(), LoadError> {
    let fail = |what: &str, addr: u64| {
        LoadError::map(&image.path, format!("{what} at {addr:#x}: {}", std::io::Error::last_os_error()))
    };
    let start = seg.vaddr + bias;
    let map_start = page_down(start);
    let file_end = start + seg.filesz;
    let mem_end = start + seg.memsz;
    let file_pages_end = page_up(file_end).unwrap_or(u64::MAX);
    if seg.filesz > 0 {
        // SAFETY: a fixed mapping inside the guest arena, which the caller
        // checked is the guest's and free; emu's own memory is never there.
        let p = unsafe {
            libc::mmap(
                map_start as *mut _,
                (file_pages_end - map_start) as usize,
                seg.prot | if seg.memsz > seg.filesz { libc::PROT_WRITE } else { 0 },
                libc::MAP_PRIVATE | libc::MAP_FIXED,
                image.file.as_raw_fd(),
                page_down(seg.offset) as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(fail("mapping a segment", map_start));
        }
        if seg.memsz > seg.filesz {
            // The bss starts inside the last file page: clear the file's bytes after it.
            let zero_end = file_pages_end.min(mem_end.max(file_end));
            // SAFETY: [file_end, zero_end) lies in the writable mapping just made.
            unsafe { std::ptr::write_bytes(file_end as *mut u8, 0, (zero_end - file_end) as usize) };
            if seg.prot & libc::PROT_WRITE == 0 {
                // SAFETY: the same pages, back to the segment's own protection.
                unsafe { libc::mprotect(map_start as *mut _, (file_pages_end - map_start) as usize, seg.prot) };
            }
        }
    }
    let anon_start = if seg.filesz > 0 { file_pages_end } else { map_start };
    let anon_end = page_up(mem_end).unwrap_or(u64::MAX);
    if anon_end > anon_start {
        // SAFETY: as above, guest arena pages the caller reserved.
        let p = unsafe {
            libc::mmap(
                anon_start as *mut _,
                (anon_end - anon_start) as usize,
                seg.prot,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(fail("mapping the bss", anon_start));
        }
    }
    Ok(())
}
