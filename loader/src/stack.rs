//! The guest's main stack and what the kernel puts on it before the first
//! instruction: argc, argv, envp and the auxiliary vector, with the strings
//! they point to above them.

use crate::arena::{page_down, page_up, AddressSpace, PAGE_SIZE};
use crate::error::LoadError;
use std::path::Path;

/// The mapped main stack: `[bottom, top)` when it was mapped; it grows
/// down from there as the guest touches it, as far as RLIMIT_STACK allows.
#[derive(Clone, Copy, Debug)]
pub struct GuestStack {
    pub bottom: u64,
    pub top: u64,
}

/// How far the kernel lets the first stack reach beyond its arguments
/// before it has to grow (`setup_arg_pages`).
const STACK_EXPAND: u64 = 128 << 10;
/// The gap the kernel keeps between a growing stack and the mapping below
/// it (`stack_guard_gap`).
const STACK_GUARD_GAP: u64 = 1 << 20;
/// The least room the kernel leaves for the stack above its mmap base.
const MIN_GAP: u64 = 128 << 20;

/// Maps the main stack at the top of the arena, as the kernel's
/// `setup_arg_pages` and `mmap_base` lay it out: a stack that the kernel
/// itself grows on demand (`MAP_GROWSDOWN`: it grows up to RLIMIT_STACK,
/// whatever that is when it grows, and counts as stack, not data), first as
/// large as its contents plus 128 KiB or the limit, whichever is smaller;
/// and the arena's mmap top below the room it may grow into.
///
/// `limit` is RLIMIT_STACK's soft value (None: unlimited); `contents` the
/// bytes the initial stack holds.
pub fn map_stack(
    space: &mut AddressSpace,
    limit: Option<u64>,
    contents: u64,
    executable: bool,
    path: &Path,
) -> Result<GuestStack, LoadError> {
    let top = space.ceiling() - PAGE_SIZE;
    let used = page_up(contents).unwrap_or(u64::MAX);
    let limit_pages = limit.map_or(u64::MAX, page_down);
    if used > limit_pages.max(PAGE_SIZE) {
        return Err(LoadError::fatal(path, libc::EFAULT, "the arguments do not fit in the stack RLIMIT_STACK allows"));
    }
    let size = used.saturating_add(STACK_EXPAND).min(limit_pages).max(used);
    let Some(bottom) = top.checked_sub(size).filter(|&b| space.is_free(b, size)) else {
        return Err(LoadError::fatal(path, libc::ENOMEM, "no room for the stack in the guest arena"));
    };
    let prot = libc::PROT_READ | libc::PROT_WRITE | if executable { libc::PROT_EXEC } else { 0 };
    // SAFETY: fresh pages at the top of the guest arena, which nothing else uses yet.
    let p = unsafe {
        libc::mmap(
            bottom as *mut _,
            size as usize,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE | libc::MAP_GROWSDOWN,
            -1,
            0,
        )
    };
    if p as u64 != bottom {
        return Err(LoadError::fatal(
            path,
            libc::ENOMEM,
            format!("mapping the stack: {}", std::io::Error::last_os_error()),
        ));
    }
    space.mark_used(bottom, size);
    // The kernel's mmap_base: below the stack's top by its limit and the
    // guard gap, at least 128 MiB, at most 5/6 of the address space.
    let arena = space.ceiling() - space.floor();
    let gap = limit.and_then(|l| l.checked_add(STACK_GUARD_GAP)).unwrap_or(u64::MAX).clamp(MIN_GAP, arena / 6 * 5);
    space.set_mmap_top(page_down(top.saturating_sub(gap)));
    Ok(GuestStack { bottom, top })
}

/// A value of the auxiliary vector: a number, or the address of one of the
/// things the builder places on the stack.
#[derive(Clone, Copy, Debug)]
pub enum AuxValue {
    Value(u64),
    /// The executable's name (AT_EXECFN, FreeBSD's AT_EXECPATH).
    ExecFn,
    /// The platform string (AT_PLATFORM).
    Platform,
    /// 16 random bytes (AT_RANDOM).
    Random,
    /// The address of `StackContents::blobs[i]` (FreeBSD's AT_CANARY and
    /// AT_PAGESIZES), or its length in bytes.
    Blob(usize),
    BlobLen(usize),
    /// argc and envc, and where argv[0] and envp[0] are (FreeBSD's
    /// AT_ARGC, AT_ARGV, AT_ENVC, AT_ENVV).
    Argc,
    Argv,
    Envc,
    Envv,
    /// A `struct ps_strings` the builder writes at the top of the stack:
    /// argv, argc, envp, envc (FreeBSD's AT_PS_STRINGS, kern.ps_strings).
    PsStrings,
    /// The top of the stack mapping (FreeBSD's AT_USRSTACKBASE).
    StackTop,
}

/// The size of FreeBSD's `struct ps_strings`.
const PS_STRINGS_SIZE: u64 = 32;

/// Where the builder put what the auxiliary vector may point to.
#[derive(Clone, Copy, Debug)]
pub struct BuiltStack {
    /// The stack pointer to start with: the address of argc.
    pub sp: u64,
    pub ps_strings: u64,
    pub top: u64,
}

/// What goes on a new stack.
pub struct StackContents<'a> {
    pub argv: &'a [Vec<u8>],
    pub envp: &'a [Vec<u8>],
    pub execfn: &'a [u8],
    pub platform: &'a [u8],
    pub random: [u8; 16],
    /// Further bytes the auxiliary vector points to, each 8-byte aligned.
    pub blobs: &'a [Vec<u8>],
    /// (type, value) pairs; AT_NULL is added.
    pub auxv: &'a [(u64, AuxValue)],
}

impl StackContents<'_> {
    /// Bytes the initial stack takes: the strings, the random bytes, the
    /// pointer tables and auxv, and the alignment between them.
    pub fn size(&self) -> u64 {
        let strings: usize = self.argv.iter().chain(self.envp).map(|s| s.len() + 1).sum::<usize>()
            + self.execfn.len()
            + 1
            + self.platform.len()
            + 1;
        let blobs: usize = self.blobs.iter().map(|b| b.len() + 8).sum();
        (8 + PS_STRINGS_SIZE as usize + strings + 16 + 32 + blobs + 8 * self.table_words() + 16) as u64
    }

    fn table_words(&self) -> usize {
        1 + self.argv.len() + 1 + self.envp.len() + 1 + 2 * (self.auxv.len() + 1)
    }
}

/// Writes the initial stack below `stack.top` (which `map_stack` sized for
/// `c`) and returns the stack pointer to start the guest with (pointing at
/// argc, 16-byte aligned). The layout is the kernel's: the executable's
/// name at the top, then the environment and argument strings, the
/// platform string, the random bytes, and the tables. (When the auxiliary
/// vector asks for a `struct ps_strings`, it goes at the very top, as
/// FreeBSD puts it.)
pub fn build_initial_stack(stack: &GuestStack, c: &StackContents) -> BuiltStack {
    let table_words = c.table_words();
    let wants_ps_strings = c.auxv.iter().any(|(_, v)| matches!(v, AuxValue::PsStrings));
    let mut w = Writer { cursor: stack.top - 8 };
    let ps_strings = if wants_ps_strings { w.push_aligned(&[0; PS_STRINGS_SIZE as usize], 8) } else { 0 };
    let execfn = w.push_str(c.execfn);
    let envp: Vec<u64> = c.envp.iter().rev().map(|s| w.push_str(s)).collect::<Vec<_>>().into_iter().rev().collect();
    let argv: Vec<u64> = c.argv.iter().rev().map(|s| w.push_str(s)).collect::<Vec<_>>().into_iter().rev().collect();
    w.cursor &= !15;
    let platform = w.push_str(c.platform);
    let random = w.push_bytes(&c.random);
    let blobs: Vec<u64> = c.blobs.iter().map(|b| w.push_aligned(b, 8)).collect();

    let sp = (w.cursor - table_words as u64 * 8) & !15;
    debug_assert!(sp >= stack.bottom, "the stack was sized for its contents");
    let mut words: Vec<u64> = Vec::with_capacity(table_words);
    words.push(c.argv.len() as u64);
    words.extend(&argv);
    words.push(0);
    words.extend(&envp);
    words.push(0);
    let (argv_at, envp_at) = (sp + 8, sp + 8 * (2 + c.argv.len() as u64));
    for &(key, value) in c.auxv {
        words.push(key);
        words.push(match value {
            AuxValue::Value(v) => v,
            AuxValue::ExecFn => execfn,
            AuxValue::Platform => platform,
            AuxValue::Random => random,
            AuxValue::Blob(i) => blobs[i],
            AuxValue::BlobLen(i) => c.blobs[i].len() as u64,
            AuxValue::Argc => c.argv.len() as u64,
            AuxValue::Argv => argv_at,
            AuxValue::Envc => c.envp.len() as u64,
            AuxValue::Envv => envp_at,
            AuxValue::PsStrings => ps_strings,
            AuxValue::StackTop => stack.top,
        });
    }
    words.extend([0, 0]);
    // SAFETY: [sp, sp + 8 * words) lies below the strings, inside the stack
    // mapping, which is writable and the loader's alone until the guest starts.
    unsafe { std::ptr::copy_nonoverlapping(words.as_ptr(), sp as *mut u64, words.len()) };
    if wants_ps_strings {
        let ps = [argv_at, c.argv.len() as u64, envp_at, c.envp.len() as u64];
        // SAFETY: the 32 bytes reserved for it at the top of the stack mapping.
        unsafe { std::ptr::copy_nonoverlapping(ps.as_ptr(), ps_strings as *mut u64, ps.len()) };
    }
    BuiltStack { sp, ps_strings, top: stack.top }
}

struct Writer {
    cursor: u64,
}

impl Writer {
    fn push_bytes(&mut self, bytes: &[u8]) -> u64 {
        self.cursor -= bytes.len() as u64;
        // SAFETY: the caller checked that everything pushed fits in the stack mapping.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.cursor as *mut u8, bytes.len()) };
        self.cursor
    }

    /// Bytes starting at an `align`-aligned address.
    fn push_aligned(&mut self, bytes: &[u8], align: u64) -> u64 {
        self.cursor = (self.cursor - bytes.len() as u64) & !(align - 1);
        // SAFETY: as above.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.cursor as *mut u8, bytes.len()) };
        self.cursor
    }

    fn push_str(&mut self, s: &[u8]) -> u64 {
        self.cursor -= 1;
        // SAFETY: as above; the terminating NUL.
        unsafe { *(self.cursor as *mut u8) = 0 };
        self.push_bytes(s)
    }
}
