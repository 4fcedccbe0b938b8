//! The guest's main stack and what the kernel puts on it before the first
//! instruction: argc, argv, envp and the auxiliary vector, with the strings
//! they point to above them.

use crate::arena::{page_up, AddressSpace, PAGE_SIZE};
use crate::error::LoadError;
use std::path::Path;

/// The mapped main stack: `[bottom, top)`, with a guard page below `bottom`.
#[derive(Clone, Copy, Debug)]
pub struct GuestStack {
    pub bottom: u64,
    pub top: u64,
}

/// Gap kept between the stack and the top of the mmap area, as the kernel
/// keeps between the stack and mmap_base.
const MIN_GAP: u64 = 128 << 20;

/// Maps a stack of `size` bytes at the top of the arena and moves the arena's
/// mmap top below it.
pub fn map_stack(space: &mut AddressSpace, size: u64, executable: bool, path: &Path) -> Result<GuestStack, LoadError> {
    let size = page_up(size.max(16 * PAGE_SIZE)).unwrap_or(u64::MAX);
    let top = space.ceiling() - PAGE_SIZE;
    let guard = top.checked_sub(size + PAGE_SIZE).filter(|&g| g >= space.floor());
    let Some(guard) = guard.filter(|&g| space.is_free(g, top - g)) else {
        return Err(LoadError::map(path, "no room for the stack in the guest arena"));
    };
    let bottom = guard + PAGE_SIZE;
    let prot = libc::PROT_READ | libc::PROT_WRITE | if executable { libc::PROT_EXEC } else { 0 };
    // SAFETY: fresh pages at the top of the guest arena, which nothing else uses yet.
    let p = unsafe {
        libc::mmap(
            guard as *mut _,
            (top - guard) as usize,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    // SAFETY: the stack part of the mapping just made.
    if p as u64 != guard || unsafe { libc::mprotect(bottom as *mut _, (top - bottom) as usize, prot) } != 0 {
        return Err(LoadError::map(path, format!("mapping the stack: {}", std::io::Error::last_os_error())));
    }
    space.mark_used(guard, top - guard);
    space.set_mmap_top(guard.saturating_sub(MIN_GAP.max(size)));
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
    /// 16 random bytes (AT_RANDOM, FreeBSD's AT_CANARY).
    Random,
}

/// What goes on a new stack.
pub struct StackContents<'a> {
    pub argv: &'a [Vec<u8>],
    pub envp: &'a [Vec<u8>],
    pub execfn: &'a [u8],
    pub platform: &'a [u8],
    pub random: [u8; 16],
    /// (type, value) pairs; AT_NULL is added.
    pub auxv: &'a [(u64, AuxValue)],
}

/// Writes the initial stack below `stack.top` and returns the stack pointer
/// to start the guest with (pointing at argc, 16-byte aligned).
pub fn build_initial_stack(stack: &GuestStack, c: &StackContents, path: &Path) -> Result<u64, LoadError> {
    let strings: usize = c.argv.iter().chain(c.envp).map(|s| s.len() + 1).sum::<usize>() + c.execfn.len() + 1;
    // Linux refuses arguments beyond a quarter of the stack (E2BIG).
    let room = (stack.top - stack.bottom) / 4;
    let table_words = 1 + c.argv.len() + 1 + c.envp.len() + 1 + 2 * (c.auxv.len() + 1);
    if strings as u64 + table_words as u64 * 8 + 256 > room {
        return Err(LoadError::map(path, "argument list too long"));
    }
    let mut w = Writer { cursor: stack.top - 8 };
    let execfn = w.push_str(c.execfn);
    let envp: Vec<u64> = c.envp.iter().map(|s| w.push_str(s)).collect();
    let argv: Vec<u64> = c.argv.iter().map(|s| w.push_str(s)).collect();
    let platform = w.push_str(c.platform);
    w.cursor &= !15;
    let random = w.push_bytes(&c.random);
    w.cursor &= !15;

    let sp = (w.cursor - table_words as u64 * 8) & !15;
    let mut words: Vec<u64> = Vec::with_capacity(table_words);
    words.push(c.argv.len() as u64);
    words.extend(&argv);
    words.push(0);
    words.extend(&envp);
    words.push(0);
    for &(key, value) in c.auxv {
        words.push(key);
        words.push(match value {
            AuxValue::Value(v) => v,
            AuxValue::ExecFn => execfn,
            AuxValue::Platform => platform,
            AuxValue::Random => random,
        });
    }
    words.extend([0, 0]);
    // SAFETY: [sp, sp + 8 * words) lies below the strings, inside the stack
    // mapping, which is writable and the loader's alone until the guest starts.
    unsafe { std::ptr::copy_nonoverlapping(words.as_ptr(), sp as *mut u64, words.len()) };
    Ok(sp)
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

    fn push_str(&mut self, s: &[u8]) -> u64 {
        self.cursor -= 1;
        // SAFETY: as above; the terminating NUL.
        unsafe { *(self.cursor as *mut u8) = 0 };
        self.push_bytes(s)
    }
}
