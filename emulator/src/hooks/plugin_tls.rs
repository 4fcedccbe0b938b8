//! Thread-local storage for hook plugins.
//!
//! emu is a static executable, and a plugin (with its C library) is loaded
//! by the static C library's `dlopen`. That loader keeps the TLS modules'
//! bookkeeping in emu. But two functions a shared object calls for its
//! thread-locals resolve to the copy of glibc that came with the plugin,
//! whose loader state is empty (measured, glibc 2.36):
//!
//! - `__tls_get_addr` (ld.so's), how a shared object finds a `__thread`
//!   variable or a Rust `thread_local!`: it dereferences NULL on first use;
//! - `__cxa_thread_atexit_impl` (libc.so's), how C++ and Rust register a
//!   thread-local's destructor: it finds no link map and faults.
//!
//! So before the first plugin is loaded, emu loads that libc.so (which
//! brings its ld.so) and overwrites the entry of both functions with a jump
//! to emu's own: every object loaded later, and its constructors, call
//! emu's. `__cxa_thread_atexit_impl` goes to `thread_atexit`, which keeps
//! the thread's destructors and runs them when the thread exits (emu does
//! not link the static C library's own: emu's Rust would then register its
//! thread-locals' destructors there too, under the loader's lock, which
//! changes how every emu thread ends, plugins or not).
//! `__tls_get_addr` goes to `emu_plugin_tls_get_addr`, which finds the
//! calling thread's block of the module:
//!
//! - a module the static loader placed in static TLS (one that uses the
//!   initial-exec or TLS-descriptor models somewhere) is at the thread
//!   pointer minus the module's offset, which glibc keeps only in its
//!   private `struct link_map`: emu finds the field by the values around it
//!   (the TLS image's address, sizes and alignment, then the module id), and
//!   refuses a plugin when it cannot (`register_loaded`);
//! - any other module gets a block of emu's per thread (mmap'ed, away from
//!   emu's heap), initialized from the module's TLS image. Such a module is
//!   marked as glibc marks one it gave a dynamic block
//!   (FORCED_DYNAMIC_TLS_OFFSET), so that no later load puts it in static
//!   TLS as well.
//!
//! The modules are listed once per plugin load, before the guest runs
//! (`MODULES`), so that a lookup later takes none of the loader's locks: a
//! fork child would find one held by a thread it does not have. Each
//! thread's blocks and destructors are found through a `Cell` thread-local
//! without a destructor of its own; a pthread key's destructor runs the
//! plugins' destructors (newest first, as glibc does), which may still use
//! their variables, and then unmaps the blocks.
//!
//! Plugin code runs only in emu's context (its FS base), so emu's own
//! thread-locals and allocator are usable here.

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;

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
    fn dladdr1(addr: *const c_void, info: *mut libc::Dl_info, extra: *mut *mut c_void, flags: c_int) -> c_int;
}

const RTLD_DL_LINKMAP: c_int = 2;

/// The argument of `__tls_get_addr`.
#[repr(C)]
struct TlsIndex {
    module: usize,
    offset: usize,
}

/// One thread's block of one module.
#[derive(Clone, Copy)]
struct Block {
    start: *mut u8,
    /// The mapping (start, length), when emu made the block: unmapped when
    /// the thread exits.
    ours: Option<(*mut c_void, usize)>,
}

/// A thread-local's destructor, as `__cxa_thread_atexit_impl` is given it.
type Destructor = (unsafe extern "C" fn(*mut c_void), *mut c_void);

/// What emu keeps of one thread for its plugins.
#[derive(Default)]
struct ThreadTls {
    /// Its blocks, by module id.
    blocks: Vec<Block>,
    /// Its thread-locals' destructors, oldest first.
    destructors: Vec<Destructor>,
}

thread_local! {
    /// This thread's `ThreadTls` (null until a plugin first needs it).
    static THREAD_TLS: Cell<*mut ThreadTls> = const { Cell::new(std::ptr::null_mut()) };
}

/// The key whose destructor ends a thread's `ThreadTls` (made by `prepare`).
static THREAD_KEY: OnceLock<libc::pthread_key_t> = OnceLock::new();

/// This thread's `ThreadTls`, made on first use.
fn thread_tls() -> &'static mut ThreadTls {
    let mut state = THREAD_TLS.get();
    if state.is_null() {
        state = Box::into_raw(Box::default());
        THREAD_TLS.set(state);
        if let Some(&key) = THREAD_KEY.get() {
            // SAFETY: the key `prepare` made; the value is this thread's.
            unsafe { libc::pthread_setspecific(key, state.cast()) };
        }
    }
    // SAFETY: this thread's own state, which only this thread touches
    // (through this function, one use at a time) until `thread_done`.
    unsafe { &mut *state }
}

/// Runs this thread's plugin thread-local destructors (newest first, and
/// any they register), if it has any. Called as its guest thread ends,
/// before emu releases the guest's `clear_child_tid`: natively they have
/// run when pthread_join returns, and a plugin that reports at exit counts
/// on it (the key's destructor comes later, after the host thread's own
/// end).
pub fn run_thread_destructors() {
    if THREAD_TLS.get().is_null() {
        return;
    }
    // Popped one at a time: a destructor may register another.
    while let Some((dtor, obj)) = thread_tls().destructors.pop() {
        // SAFETY: a destructor the plugin registered for this thread.
        unsafe { dtor(obj) };
    }
}

/// The key's destructor, as the thread exits: runs the plugins'
/// thread-local destructors left (see `run_thread_destructors`), then
/// unmaps the blocks emu made.
unsafe extern "C" fn thread_done(state: *mut c_void) {
    run_thread_destructors();
    THREAD_TLS.set(std::ptr::null_mut());
    // SAFETY: the ThreadTls `thread_tls` leaked for this thread, which is
    // exiting: nothing refers to it any more.
    let state = unsafe { Box::from_raw(state as *mut ThreadTls) };
    for b in &state.blocks {
        if let Some((mapping, len)) = b.ours {
            // SAFETY: as above.
            unsafe { libc::munmap(mapping, len) };
        }
    }
}

/// What the plugins' `__cxa_thread_atexit_impl` jumps to: registers a
/// thread-local's destructor for the calling thread. (The DSO is not
/// counted: plugins are never unloaded.)
unsafe extern "C" fn thread_atexit(
    dtor: unsafe extern "C" fn(*mut c_void),
    obj: *mut c_void,
    _dso: *mut c_void,
) -> c_int {
    thread_tls().destructors.push((dtor, obj));
    0
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
    let blocks = &mut thread_tls().blocks;
    if blocks.len() <= module {
        blocks.resize(module + 1, Block { start: std::ptr::null_mut(), ours: None });
    }
    if blocks[module].start.is_null() {
        blocks[module] = module_block(module);
    }
    blocks[module].start.wrapping_add(offset)
}

/// What `dl_iterate_phdr` says of one TLS module.
#[derive(Clone, Copy, Default)]
struct Module {
    id: usize,
    image: u64,
    file_size: u64,
    mem_size: u64,
    align: u64,
}

/// The TLS modules of the objects loaded so far, with their placements:
/// replaced (and the old list leaked) by each plugin load, all before the
/// guest runs; read without a lock.
static MODULES: AtomicPtr<Vec<(Module, Placement)>> = AtomicPtr::new(std::ptr::null_mut());

/// The module with this id, and where its blocks are.
fn module_and_placement(id: usize) -> (Module, Option<Placement>) {
    let listed = MODULES.load(Ordering::Acquire);
    // SAFETY: a list `register_loaded` published and never frees.
    if let Some(&(m, placed)) = unsafe { listed.as_ref() }.and_then(|l| l.iter().find(|(m, _)| m.id == id)) {
        return (m, Some(placed));
    }
    // Not listed yet: a constructor's access while its object is being
    // loaded, before the guest runs (no other thread, no fork).
    let m = module(id);
    (m, placement(&m).map(|(placed, _)| placed))
}

/// The TLS module with this id (its image is 0 if there is none).
fn module(id: usize) -> Module {
    unsafe extern "C" fn find(info: *mut PhdrInfo, _: usize, data: *mut c_void) -> c_int {
        // SAFETY: dl_iterate_phdr's arguments; `data` is our Module.
        let (info, m) = unsafe { (&*info, &mut *(data as *mut Module)) };
        if info.tls_modid != m.id {
            return 0;
        }
        *m = tls_segment(info).unwrap_or(Module { id: m.id, ..Module::default() });
        1
    }
    let mut m = Module { id, ..Module::default() };
    // SAFETY: `find` only reads what the loader passes it and writes `m`.
    unsafe { dl_iterate_phdr(find, (&mut m as *mut Module).cast()) };
    m
}

/// An object's TLS segment, as a module.
fn tls_segment(info: &PhdrInfo) -> Option<Module> {
    // SAFETY: the object's program headers, as the loader mapped them.
    let phdrs = unsafe { std::slice::from_raw_parts(info.phdr, info.phnum as usize) };
    let tls = phdrs.iter().find(|p| p.p_type == libc::PT_TLS)?;
    Some(Module {
        id: info.tls_modid,
        image: info.addr + tls.p_vaddr,
        file_size: tls.p_filesz,
        mem_size: tls.p_memsz,
        align: tls.p_align,
    })
}

/// Where a module's TLS block is, as the static loader placed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placement {
    /// In static TLS, this many bytes below the thread pointer.
    Static(u64),
    /// Anywhere (allocated on first use, by `__tls_get_addr`).
    Dynamic,
}

/// Reads the module's placement from glibc's private `struct link_map`:
/// the fields `l_tls_initimage, l_tls_initimage_size, l_tls_blocksize,
/// l_tls_align, l_tls_firstbyte_offset, l_tls_offset, l_tls_modid` follow
/// each other there, and the first four and the last are known. With it,
/// the address of `l_tls_offset`. None if they are not found.
fn placement(m: &Module) -> Option<(Placement, *mut u64)> {
    // SAFETY: an all-zero Dl_info is valid to fill in.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let mut map: *mut c_void = std::ptr::null_mut();
    // SAFETY: asks the loader for the link map of the object holding the image.
    if unsafe { dladdr1(m.image as *const c_void, &mut info, &mut map, RTLD_DL_LINKMAP) } == 0 || map.is_null() {
        return None;
    }
    // Far enough for glibc's struct (about 1,150 bytes in 2.36), not far
    // past it: the loader allocates it with more behind it.
    const WORDS: usize = 256;
    let words = map as *const u64;
    let want = [m.image, m.file_size, m.mem_size, m.align];
    (0..WORDS - 7).find_map(|i| {
        // SAFETY: reads within the loader's link map allocation (see above).
        let at = |k: usize| unsafe { std::ptr::read(words.add(i + k)) };
        if (0..4).any(|k| at(k) != want[k]) || at(6) != m.id as u64 {
            return None;
        }
        // NO_TLS_OFFSET (0) and FORCED_DYNAMIC_TLS_OFFSET (-1): not in static TLS.
        let placed = match at(5) {
            0 | u64::MAX => Placement::Dynamic,
            offset => Placement::Static(offset),
        };
        Some((placed, words.wrapping_add(i + 5) as *mut u64))
    })
}

/// The calling thread's block of a module: its place in static TLS, or a
/// new mapping initialized from the module's image.
fn module_block(id: usize) -> Block {
    let (m, placed) = module_and_placement(id);
    if let Some(Placement::Static(offset)) = placed {
        let tp: u64;
        // SAFETY: reads the thread pointer (the TCB's self pointer at fs:0);
        // FS is emu's here.
        unsafe { std::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly, preserves_flags)) };
        return Block { start: tp.wrapping_sub(offset) as *mut u8, ours: None };
    }
    // Aligned as the segment asks: mappings are page-aligned, larger
    // alignments are made by mapping more and starting further in.
    let align = m.align.max(1) as usize;
    let extra = if align > 4096 { align } else { 0 };
    let len = (m.mem_size.max(1) as usize + extra).next_multiple_of(4096);
    // SAFETY: a new private anonymous mapping.
    let mapped = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if mapped == libc::MAP_FAILED {
        // As glibc's own __tls_get_addr does when it cannot allocate.
        log::error!("out of memory for a hook plugin's thread-local storage");
        std::process::abort();
    }
    let start = (mapped as usize).next_multiple_of(align) as *mut u8;
    if m.image != 0 {
        // SAFETY: the module's TLS image (file_size bytes), into a zeroed
        // mapping of at least mem_size bytes from `start`.
        unsafe { std::ptr::copy_nonoverlapping(m.image as *const u8, start, m.file_size.min(m.mem_size) as usize) };
    }
    Block { start, ours: Some((mapped, len)) }
}

/// Makes every object loaded from now on find its thread-locals through
/// emu (see above). Once; the first plugin's load calls it.
pub fn prepare() -> Result<(), String> {
    static PREPARED: OnceLock<Result<(), String>> = OnceLock::new();
    PREPARED
        .get_or_init(|| {
            let mut key: libc::pthread_key_t = 0;
            // SAFETY: makes a key whose destructor ends a thread's ThreadTls.
            if unsafe { libc::pthread_key_create(&mut key, Some(thread_done)) } != 0 {
                return Err("cannot create a thread key for hook plugins".into());
            }
            let _ = THREAD_KEY.set(key);
            // SAFETY: loads the system's C library (and its ld.so) into the
            // static loader's namespace, as every plugin does.
            let libc_so = unsafe { libc::dlopen(c"libc.so.6".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
            if libc_so.is_null() {
                return Err("cannot load the system's libc.so.6 for hook plugins".into());
            }
            let targets: [(&CStr, u64); 2] = [
                (c"__tls_get_addr", emu_plugin_tls_get_addr as *const () as u64),
                (c"__cxa_thread_atexit_impl", thread_atexit as *const () as u64),
            ];
            for (name, target) in targets {
                // SAFETY: looks the function up in libc.so.6 and its ld.so.
                let function = unsafe { libc::dlsym(libc_so, name.as_ptr()) };
                if function.is_null() {
                    return Err(format!("the system's libc.so.6 has no {}", name.to_string_lossy()));
                }
                // SAFETY: the copy's function, which nothing has called yet
                // and nothing else runs while emu starts.
                unsafe { jump_from(function.cast(), target) }
                    .map_err(|e| format!("cannot redirect {}: {e}", name.to_string_lossy()))?;
            }
            Ok(())
        })
        .clone()
}

/// Overwrites a function's first 13 bytes with `movabs r11, target; jmp r11`
/// (R11 is free at a call under the SysV ABI).
///
/// # Safety
/// `function` is the entry of a function at least 13 bytes long that no
/// thread is executing.
unsafe fn jump_from(function: *mut u8, target: u64) -> Result<(), std::io::Error> {
    let mut code = [0u8; 13];
    code[..2].copy_from_slice(&[0x49, 0xbb]);
    code[2..10].copy_from_slice(&target.to_le_bytes());
    code[10..].copy_from_slice(&[0x41, 0xff, 0xe3]);
    let first_page = function as usize & !0xfff;
    let len = (function as usize + code.len()).next_multiple_of(0x1000) - first_page;
    // SAFETY: the pages of the function's entry, writable only while the
    // jump is written, executable again after.
    unsafe {
        if libc::mprotect(first_page as *mut c_void, len, libc::PROT_READ | libc::PROT_WRITE) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        std::ptr::copy_nonoverlapping(code.as_ptr(), function, code.len());
        if libc::mprotect(first_page as *mut c_void, len, libc::PROT_READ | libc::PROT_EXEC) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// After a plugin is loaded: lists every loaded object's TLS module with
/// its placement (`MODULES`), and marks the dynamic ones as glibc marks a
/// module it gave a dynamic block. An object whose placement cannot be
/// read makes the plugin refused.
pub fn register_loaded() -> Result<(), String> {
    struct Listing {
        modules: Vec<(Module, Placement)>,
        unknown: Option<String>,
    }
    unsafe extern "C" fn list(info: *mut PhdrInfo, _: usize, data: *mut c_void) -> c_int {
        // SAFETY: dl_iterate_phdr's arguments; `data` is our Listing.
        let (info, listing) = unsafe { (&*info, &mut *(data as *mut Listing)) };
        // SAFETY: the loader's NUL-terminated name (empty for emu itself).
        let name = if info.name.is_null() { c"" } else { unsafe { CStr::from_ptr(info.name) } };
        let Some(m) = tls_segment(info).filter(|_| !name.is_empty()) else { return 0 };
        match placement(&m) {
            Some((placed, offset_word)) => {
                if placed == Placement::Dynamic {
                    // SAFETY: the module's l_tls_offset, as glibc's own
                    // __tls_get_addr writes it (nothing else runs now).
                    unsafe { offset_word.write(u64::MAX) };
                }
                listing.modules.push((m, placed));
                0
            }
            None => {
                listing.unknown = Some(name.to_string_lossy().into_owned());
                1
            }
        }
    }
    let mut listing = Listing { modules: Vec::new(), unknown: None };
    // SAFETY: `list` reads what the loader passes it and writes the
    // loader's l_tls_offset of dynamic modules, as above.
    unsafe { dl_iterate_phdr(list, (&mut listing as *mut Listing).cast()) };
    if let Some(object) = listing.unknown {
        return Err(format!(
            "cannot tell where {object} keeps its thread-local storage: this C library's loader is not one emu knows"
        ));
    }
    for (m, placed) in &listing.modules {
        log::debug!("hook plugin TLS module {}: {placed:?}", m.id);
    }
    // The previous list is leaked: a lookup may be reading it.
    MODULES.store(Box::into_raw(Box::new(listing.modules)), Ordering::Release);
    Ok(())
}
