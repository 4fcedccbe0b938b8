//! Writing a rewrite: the site's stub, then the site itself.
//!
//! Stubs live in pages emu maps in the guest arena, within a `jmp rel32` of
//! the code they serve (`AddressSpace::find_free_near`), recorded as used so
//! that no guest mapping is placed over them. A stub is written before any
//! site jumps to it.
//!
//! The site is changed while other threads may be executing it, as the
//! kernel's `text_poke_bp` does: an `int3` on its first byte, then the rest,
//! then the first byte, each step made visible to every thread's
//! instruction stream before the next (membarrier's SYNC_CORE). A thread
//! that reaches the `int3` meanwhile traps; its handler waits for the
//! rewrite (it needs the sites' lock, which the writer holds) and sends it
//! back to the first byte. A thread stopped between the moved instruction
//! and the `syscall` finds a `ud2` there, which is carried out as the call.
//! At the first trap, while the guest has one thread, the sites known from
//! earlier runs are written plainly, each at once (`Alone`).
//! The bytes go through /proc/thread-self/mem, so the page's protection
//! never changes (`CodeWriter`; where the kernel refuses such writes, the
//! page is made writable and put back as it was); a site in a shared
//! mapping is never written (it would change the file).

use crate::memory::guest;
use crate::memory::maps::Maps;
use crate::process::process;
use crate::sys::{self, Errno};

/// `jmp rel32` reaches this far (less a margin for the stub's own size).
const REACH: u64 = (1 << 31) - (1 << 20);
/// Stubs are made in chunks of this size.
const CHUNK: u64 = 64 << 10;
/// Each stub takes this many bytes: the moved instructions (at most
/// `decode::MAX_MOVED`), `movabs rcx, imm64` (10), `jmp [rip]` (6) and its
/// target (8).
const STUB: u64 = 64;
const _: () = assert!(super::decode::MAX_MOVED as u64 + 24 <= STUB);

pub struct Stubs {
    /// (base, bytes used) of each chunk.
    chunks: Vec<(u64, u64)>,
}

impl Stubs {
    pub const fn new() -> Self {
        Stubs { chunks: Vec::new() }
    }

    /// Writes the stub of a site whose instruction `moved` starts the
    /// rewritten bytes and whose `syscall` ends at `resume`; returns its address.
    pub fn make(&mut self, moved: &[u8], resume: u64, entry: u64) -> Result<u64, &'static str> {
        let near = resume;
        let slot = match self.chunks.iter_mut().find(|(base, used)| *used + STUB <= CHUNK && within(*base, near)) {
            Some((base, used)) => {
                let at = *base + *used;
                *used += STUB;
                at
            }
            None => {
                let base = map_chunk(near)?;
                self.chunks.push((base, STUB));
                base
            }
        };
        let mut code = Vec::with_capacity(STUB as usize);
        code.extend_from_slice(moved);
        code.extend_from_slice(&[0x48, 0xb9]); // movabs rcx, resume
        code.extend_from_slice(&resume.to_le_bytes());
        code.extend_from_slice(&[0xff, 0x25, 0, 0, 0, 0]); // jmp [rip]
        code.extend_from_slice(&entry.to_le_bytes());
        code.resize(STUB as usize, 0xcc);
        // SAFETY: a slot of a chunk emu mapped writable for stubs, which no
        // site jumps to yet.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), slot as *mut u8, code.len()) };
        Ok(slot)
    }
}

fn within(base: u64, near: u64) -> bool {
    base.abs_diff(near) < REACH - CHUNK
}

/// Maps a chunk for stubs near `near`, readable, writable and executable
/// (stubs are added while others run).
fn map_chunk(near: u64) -> Result<u64, &'static str> {
    let mut mem = process().memory();
    let at = mem.space.find_free_near(CHUNK, near, REACH - CHUNK).ok_or("no room for stubs within reach")?;
    let prot = libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC;
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE;
    // SAFETY: a fresh mapping in a free part of the arena (MAP_FIXED_NOREPLACE).
    let r = unsafe { sys::syscall6(libc::SYS_mmap as u64, [at, CHUNK, prot as u64, flags as u64, u64::MAX, 0]) };
    if r as u64 != at {
        return Err("cannot map a page for stubs");
    }
    mem.space.mark_used(at, CHUNK);
    Ok(at)
}

/// Makes every thread's instruction stream see what was written so far.
fn sync_cores() -> Result<(), Errno> {
    const MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE: u64 = 1 << 5;
    // SAFETY: membarrier takes no pointers.
    sys::result(unsafe {
        sys::syscall6(libc::SYS_membarrier as u64, [MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0, 0, 0, 0])
    })
    .map(|_| ())
}

/// Registers the process for `sync_cores`; false when the kernel cannot.
pub fn can_sync_cores() -> bool {
    const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE: u64 = 1 << 6;
    // SAFETY: membarrier takes no pointers.
    let r = unsafe {
        sys::syscall6(libc::SYS_membarrier as u64, [MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0, 0, 0, 0])
    };
    r == 0
}

/// Replaces the bytes at `at` with `new` (the same length as what is there)
/// while other threads may run them: `int3` first, then the tail, then the
/// head. The caller holds the sites' lock (which a thread that traps on the
/// `int3` waits for).
pub fn poke(at: u64, new: &[u8]) -> Result<(), &'static str> {
    let mut maps = Maps::open().map_err(|_| "cannot open /proc/thread-self/maps")?;
    let pages = site_pages(&mut maps, at, new.len())?;
    let held = crate::fds::hold();
    let mem = open_memory(&held);
    let code = CodeWriter::new(at, pages.as_slice(), mem.as_deref(), &[])?;
    let first = code.read(at)?;
    code.write(at, &[0xcc])?;
    if sync_cores().is_err() {
        // Nothing but the int3 was written: take it back.
        let _ = code.write(at, &[first]);
        return Err("membarrier failed");
    }
    // From here the rewrite is finished whatever happens: the int3 holds
    // every thread off the half-written bytes until the head is written. A
    // failing membarrier (registered, it cannot fail but for lack of
    // memory) leaves only the visibility to the CPU's own
    // cross-modifying-code rules; a failing write of memory just written
    // to, nothing but a kernel that changed its mind.
    let _ = code.write(at + 1, &new[1..]);
    let _ = sync_cores();
    // No sync after the head (text_poke_bp has one, before the kernel
    // forgets its int3): a thread that still runs the int3 traps, and
    // `on_fault` sends it back to the finished bytes, for as long as the
    // process lives. Its membarrier cost 2 to 200 us a site.
    let _ = code.write(at, &new[..1]);
    Ok(())
}

/// Writes sites while the guest has a single thread, the one stopped in
/// emu that asks (its first trap: no guest thread can have been started
/// without a call, and every call before it trapped or was none): no other
/// instruction stream can be in the bytes, so each site is written at once,
/// without the `int3` and the membarriers of `poke`. One maps file and one
/// memory file serve every site, and a page is probed once: a site costs
/// two host calls (the mapping's query, the write), three or four on a
/// page not seen before, where `poke` makes about fifteen.
pub struct Alone<'h> {
    maps: Option<Maps>,
    mem: Option<crate::fds::PrivateFile<'h>>,
    /// Pages the memory file has written to already.
    probed: Vec<u64>,
}

impl<'h> Alone<'h> {
    pub fn new(held: &'h crate::fds::Held) -> Self {
        Alone { maps: Maps::open().ok(), mem: open_memory(held), probed: Vec::new() }
    }

    /// Replaces the bytes at `at` with `new` (the same length as what is there).
    pub fn write(&mut self, at: u64, new: &[u8]) -> Result<(), &'static str> {
        let maps = self.maps.as_mut().ok_or("cannot open /proc/thread-self/maps")?;
        let pages = site_pages(maps, at, new.len())?;
        let code = CodeWriter::new(at, pages.as_slice(), self.mem.as_deref(), &self.probed)?;
        code.write(at, new)?;
        if let CodeWriter::Memory(_) = code {
            self.probed.extend(pages.as_slice().iter().map(|&(page, _)| page));
        }
        Ok(())
    }
}

/// The pages of the site of `len` bytes at `at` (two at most: a site is
/// under a page long), each with the protection of the mapping that holds
/// it, which may differ (the guest may have split its code since the site
/// was written); refused unless private and executable.
fn site_pages(maps: &mut Maps, at: u64, len: usize) -> Result<SitePages, &'static str> {
    let end = at + len as u64;
    let first_page = at & !(loader::PAGE_SIZE - 1);
    let last_page = (end - 1) & !(loader::PAGE_SIZE - 1);
    let mut pages = [(first_page, 0), (last_page, 0)];
    let count = if first_page == last_page { 1 } else { 2 };
    for (page, prot) in pages[..count].iter_mut() {
        let mapping = maps.covering((*page).max(at)).ok_or("not mapped")?;
        if mapping.shared {
            return Err("in a shared mapping (writing would change the file)");
        }
        if mapping.prot & libc::PROT_EXEC == 0 {
            return Err("not executable");
        }
        *prot = mapping.prot;
    }
    Ok(SitePages { pages, count })
}

/// A site's one or two pages, with their protections.
struct SitePages {
    pages: [(u64, i32); 2],
    count: usize,
}

impl SitePages {
    fn as_slice(&self) -> &[(u64, i32)] {
        &self.pages[..self.count]
    }
}

/// /proc/thread-self/mem, private while `held`; None where it cannot be opened.
fn open_memory(held: &crate::fds::Held) -> Option<crate::fds::PrivateFile<'_>> {
    crate::fds::open_private(held, std::path::Path::new("/proc/thread-self/mem"), libc::O_RDWR, 0).ok()
}

/// How emu writes to the guest's read-only code.
///
/// Through /proc/thread-self/mem, whose writes the kernel lets through a
/// private mapping's protection (as a debugger's breakpoints), copying the
/// page on the first: the protection never changes. Changing it twice for
/// each site instead, mprotect and back, costs two TLB shootdowns, each an
/// IPI to every CPU that runs another of the guest's threads (about 20 us
/// each in this project's VMs, against 2 for a write to the file). A kernel
/// that refuses such writes (proc_mem.force_override=never, a security
/// module) gets the mprotect way. thread-self: /proc/self/mem has no memory
/// once the thread-group leader has exited. The descriptor is private
/// (`fds::open_private`): no guest file can take its place while emu writes.
enum CodeWriter<'a> {
    Memory(&'a std::fs::File),
    /// The pages, with their protection, made writable until the drop.
    Protection(&'a [(u64, i32)]),
}

impl<'a> CodeWriter<'a> {
    /// Through `mem` (/proc/thread-self/mem) if it is open and the kernel
    /// lets it write the site's pages (those in `probed` it has written).
    fn new(
        at: u64,
        pages: &'a [(u64, i32)],
        mem: Option<&'a std::fs::File>,
        probed: &[u64],
    ) -> Result<Self, &'static str> {
        use std::os::unix::fs::FileExt;
        if let Some(file) = mem {
            // Writing back the byte that is there, on each page the site
            // touches, copies the page or says at once that the kernel
            // refuses: no write after the int3 can then fail.
            let mut byte = [0u8];
            let forced = pages.iter().filter(|(page, _)| !probed.contains(page)).all(|&(page, _)| {
                let one = page.max(at);
                file.read_exact_at(&mut byte, one).is_ok() && file.write_all_at(&byte, one).is_ok()
            });
            if forced {
                return Ok(CodeWriter::Memory(file));
            }
        }
        let writer = CodeWriter::Protection(pages);
        if !writer.protect(true) {
            return Err("cannot make the code writable");
        }
        Ok(writer)
    }

    /// Every page, even after one fails.
    fn protect(&self, writable: bool) -> bool {
        let CodeWriter::Protection(pages) = self else { return true };
        pages.iter().fold(true, |ok, &(page, prot)| {
            let prot = if writable { libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC } else { prot };
            // SAFETY: a page of the guest's own code, checked mapped,
            // private and executable, and given its protection back on drop.
            let done = unsafe { libc::mprotect(page as *mut libc::c_void, loader::PAGE_SIZE as usize, prot) == 0 };
            done && ok
        })
    }

    fn read(&self, at: u64) -> Result<u8, &'static str> {
        let mut byte = [0u8];
        match self {
            CodeWriter::Memory(file) => {
                use std::os::unix::fs::FileExt;
                file.read_exact_at(&mut byte, at).map_err(|_| "a read of /proc/thread-self/mem failed")?
            }
            CodeWriter::Protection(_) => guest::read(at, &mut byte).map_err(|_| "its code cannot be read")?,
        }
        Ok(byte[0])
    }

    fn write(&self, at: u64, bytes: &[u8]) -> Result<(), &'static str> {
        match self {
            CodeWriter::Memory(file) => {
                use std::os::unix::fs::FileExt;
                file.write_all_at(bytes, at).map_err(|_| "a write to /proc/thread-self/mem failed")
            }
            CodeWriter::Protection(_) => {
                for (i, &b) in bytes.iter().enumerate() {
                    // SAFETY: the guest's own code pages, private,
                    // executable, and made writable by `new`.
                    unsafe { (at as *mut u8).add(i).write_volatile(b) };
                }
                Ok(())
            }
        }
    }
}

impl Drop for CodeWriter<'_> {
    fn drop(&mut self) {
        self.protect(false);
    }
}
