//! Thread-local storage for hook plugins' own dynamic TLS.
//!
//! emu is a static executable, and a plugin (with its C library) is loaded
//! by the static C library's `dlopen`. That loader keeps the TLS modules'
//! bookkeeping in emu; but the plugin's `__tls_get_addr` (how code in a
//! shared object finds a `__thread` variable, or Rust's `thread_local!`)
//! resolves to the copy of ld.so that came with the plugin's libc.so,
//! whose bookkeeping is empty, and which dereferences NULL on the first
//! access (measured: glibc 2.36, both a C `__thread` and Rust's standard
//! library in a cdylib). Variables in static TLS (the initial-exec model:
//! libc.so's own errno) are fine.
//!
//! So after each `dlopen`, every loaded object's GOT entries for
//! `__tls_get_addr` are pointed at `emu_plugin_tls_get_addr`, which finds
//! the calling thread's block of the module: the one the static loader
//! allocated if there is one (`dl_iterate_phdr`'s `dlpi_tls_data`), else one
//! of its own, initialized from the module's TLS image and remembered in a
//! thread-local of emu's, which frees it when the thread exits.
//!
//! Plugin code runs only in emu's context (its FS base), so emu's own
//! thread-locals and allocator are usable here.

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_void, CStr};

/// glibc's `struct dl_phdr_info`, with the TLS fields (the libc crate
/// leaves them out on Linux).
#[repr(C)]
struct PhdrInfo {
    addr: u64,
    name: *const c_char,
    phdr: *const libc::Elf64_Phdr,
    phnum: u16,
    adds: u64,
    subs: u64,
    tls_modid: usize,
    tls_data: *mut c_void,
}

extern "C" {
    fn dl_iterate_phdr(
        callback: unsafe extern "C" fn(*mut PhdrInfo, usize, *mut c_void) -> c_int,
        data: *mut c_void,
    ) -> c_int;
}

/// An entry of a dynamic section (`Elf64_Dyn`).
#[repr(C)]
#[derive(Clone, Copy)]
struct Dyn {
    d_tag: i64,
    d_val: u64,
}

/// The argument of `__tls_get_addr`.
#[repr(C)]
struct TlsIndex {
    module: usize,
    offset: usize,
}

/// One thread's blocks, by module id.
struct Blocks(Vec<Block>);

#[derive(Clone, Copy)]
struct Block {
    start: *mut u8,
    /// Set when emu allocated the block (and frees it at thread exit).
    ours: Option<std::alloc::Layout>,
}

impl Drop for Blocks {
    fn drop(&mut self) {
        for b in &self.0 {
            if let Some(layout) = b.ours {
                // SAFETY: allocated by `block_of` with this layout, and no
                // longer reachable: its thread is exiting.
                unsafe { std::alloc::dealloc(b.start, layout) };
            }
        }
    }
}

thread_local! {
    static BLOCKS: RefCell<Blocks> = const { RefCell::new(Blocks(Vec::new())) };
}

// `__tls_get_addr`'s callers have not always kept the stack aligned (glibc's
// own realigns it for them): this does too before calling Rust.
std::arch::global_asm!(
    ".text",
    ".globl emu_plugin_tls_get_addr",
    ".type emu_plugin_tls_get_addr,@function",
    "emu_plugin_tls_get_addr:",
    "push rbp",
    "mov rbp, rsp",
    "and rsp, -16",
    "call {find}",
    "leave",
    "ret",
    ".size emu_plugin_tls_get_addr, .-emu_plugin_tls_get_addr",
    find = sym tls_get_addr,
);

extern "C" {
    fn emu_plugin_tls_get_addr(index: *const TlsIndex) -> *mut u8;
}

/// The calling thread's address of a module's variable.
unsafe extern "C" fn tls_get_addr(index: *const TlsIndex) -> *mut u8 {
    // SAFETY: the plugin's code passes its tls_index entry.
    let TlsIndex { module, offset } = unsafe { std::ptr::read(index) };
    BLOCKS.with_borrow_mut(|Blocks(blocks)| {
        if blocks.len() <= module {
            blocks.resize(module + 1, Block { start: std::ptr::null_mut(), ours: None });
        }
        if blocks[module].start.is_null() {
            blocks[module] = block_of(module);
        }
        blocks[module].start.wrapping_add(offset)
    })
}

/// What `dl_iterate_phdr` says of one TLS module.
struct Module {
    id: usize,
    /// The static loader's block for this thread, if it made one.
    data: *mut u8,
    image: *const u8,
    file_size: usize,
    mem_size: usize,
    align: usize,
}

/// The calling thread's block of `module`: the static loader's, or a new one.
fn block_of(module: usize) -> Block {
    unsafe extern "C" fn find(info: *mut PhdrInfo, _: usize, data: *mut c_void) -> c_int {
        // SAFETY: dl_iterate_phdr's arguments; `data` is our Module.
        let (info, m) = unsafe { (&*info, &mut *(data as *mut Module)) };
        if info.tls_modid != m.id {
            return 0;
        }
        m.data = info.tls_data.cast();
        // SAFETY: the object's program headers, as the loader mapped them.
        let phdrs = unsafe { std::slice::from_raw_parts(info.phdr, info.phnum as usize) };
        if let Some(tls) = phdrs.iter().find(|p| p.p_type == libc::PT_TLS) {
            m.image = (info.addr + tls.p_vaddr) as *const u8;
            (m.file_size, m.mem_size, m.align) = (tls.p_filesz as usize, tls.p_memsz as usize, tls.p_align as usize);
        }
        1
    }
    let mut m =
        Module { id: module, data: std::ptr::null_mut(), image: std::ptr::null(), file_size: 0, mem_size: 0, align: 1 };
    // SAFETY: `find` only reads what the loader passes it and writes `m`.
    unsafe { dl_iterate_phdr(find, (&mut m as *mut Module).cast()) };
    if !m.data.is_null() {
        return Block { start: m.data, ours: None };
    }
    let layout = std::alloc::Layout::from_size_align(m.mem_size.max(1), m.align.clamp(16, 4096))
        .expect("a module's TLS segment has a power-of-two alignment");
    // SAFETY: a fresh block of `mem_size` bytes, of which the image fills
    // the first `file_size` (the rest is zeroed, as .tbss is).
    unsafe {
        let block = std::alloc::alloc_zeroed(layout);
        if block.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        if !m.image.is_null() {
            std::ptr::copy_nonoverlapping(m.image, block, m.file_size.min(m.mem_size));
        }
        Block { start: block, ours: Some(layout) }
    }
}

/// Points every loaded object's `__tls_get_addr` at emu's (see above).
/// Called after each dlopen, before anything in the new objects runs
/// other than their constructors.
pub fn redirect_tls_get_addr() {
    unsafe extern "C" fn patch(info: *mut PhdrInfo, _: usize, _: *mut c_void) -> c_int {
        // SAFETY: dl_iterate_phdr's argument.
        let info = unsafe { &*info };
        // SAFETY: the object's name is a NUL-terminated string (empty for emu itself).
        if info.name.is_null() || unsafe { CStr::from_ptr(info.name) }.is_empty() {
            return 0;
        }
        // SAFETY: an object the loader mapped and relocated.
        unsafe { patch_object(info) };
        0
    }
    // SAFETY: `patch` writes only GOT slots naming __tls_get_addr.
    unsafe { dl_iterate_phdr(patch, std::ptr::null_mut()) };
}

/// Rewrites one object's GOT slots for `__tls_get_addr`.
///
/// # Safety
/// `info` describes an object the loader mapped and relocated.
unsafe fn patch_object(info: &PhdrInfo) {
    let base = info.addr;
    // SAFETY: per the caller.
    let phdrs = unsafe { std::slice::from_raw_parts(info.phdr, info.phnum as usize) };
    let Some(dynamic) = phdrs.iter().find(|p| p.p_type == libc::PT_DYNAMIC) else { return };
    let relro = phdrs.iter().find(|p| p.p_type == libc::PT_GNU_RELRO).map(|p| (base + p.p_vaddr, p.p_memsz));
    // The loader may or may not have relocated the dynamic section's addresses in place.
    let address = |v: u64| if v < base { base + v } else { v };
    let (mut symtab, mut strtab, mut tables) = (0, 0, [(0u64, 0u64); 2]);
    let mut entry = (base + dynamic.p_vaddr) as *const Dyn;
    loop {
        // SAFETY: the dynamic section, which ends with DT_NULL.
        let d = unsafe { std::ptr::read(entry) };
        match d.d_tag as u64 as u32 {
            0 => break,
            DT_SYMTAB => symtab = address(d.d_val),
            DT_STRTAB => strtab = address(d.d_val),
            DT_JMPREL => tables[0].0 = address(d.d_val),
            DT_PLTRELSZ => tables[0].1 = d.d_val,
            DT_RELA => tables[1].0 = address(d.d_val),
            DT_RELASZ => tables[1].1 = d.d_val,
            _ => {}
        }
        entry = entry.wrapping_add(1);
    }
    if symtab == 0 || strtab == 0 {
        return;
    }
    for (table, size) in tables {
        if table == 0 {
            continue;
        }
        let count = size as usize / std::mem::size_of::<libc::Elf64_Rela>();
        // SAFETY: the object's relocation table.
        let relocs = unsafe { std::slice::from_raw_parts(table as *const libc::Elf64_Rela, count) };
        for r in relocs {
            let (sym, kind) = ((r.r_info >> 32) as usize, r.r_info as u32);
            if sym == 0 || !matches!(kind, R_X86_64_GLOB_DAT | R_X86_64_JUMP_SLOT) {
                continue;
            }
            // SAFETY: the symbol table entry the relocation names, and its name.
            let name = unsafe {
                let s = &*(symtab as *const libc::Elf64_Sym).add(sym);
                CStr::from_ptr((strtab + s.st_name as u64) as *const c_char)
            };
            if name.to_bytes() == b"__tls_get_addr" {
                // SAFETY: the object's GOT slot for this relocation.
                unsafe { write_slot(base + r.r_offset, relro) };
            }
        }
    }
}

const DT_STRTAB: u32 = 5;
const DT_SYMTAB: u32 = 6;
const DT_RELA: u32 = 7;
const DT_RELASZ: u32 = 8;
const DT_PLTRELSZ: u32 = 2;
const DT_JMPREL: u32 = 23;
const R_X86_64_GLOB_DAT: u32 = 6;
const R_X86_64_JUMP_SLOT: u32 = 7;

/// Writes emu's `__tls_get_addr` into a GOT slot, which RELRO may have
/// made read-only.
///
/// # Safety
/// `slot` is a GOT slot of a loaded object.
unsafe fn write_slot(slot: u64, relro: Option<(u64, u64)>) {
    let target = emu_plugin_tls_get_addr as *const () as u64;
    let read_only = relro.is_some_and(|(start, len)| slot >= start && slot < start + len);
    let page = slot & !0xfff;
    // SAFETY: the slot's own page, made writable for the write only.
    unsafe {
        if read_only {
            libc::mprotect(page as *mut c_void, 0x1000, libc::PROT_READ | libc::PROT_WRITE);
        }
        std::ptr::write_volatile(slot as *mut u64, target);
        if read_only {
            libc::mprotect(page as *mut c_void, 0x1000, libc::PROT_READ);
        }
    }
}
