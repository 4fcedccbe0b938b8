//! What a new FreeBSD image finds: the auxiliary vector
//! (`__elfN(freebsd_copyout_auxargs)`), the entry registers
//! (`exec_setregs`), and the signal trampoline the kernel keeps in its
//! shared page (`sigcode`), which emu maps into the guest arena.

use super::numbers;
use crate::personality::{EntryRegisters, InitialAuxv};
use abi_tables::Release;
use loader::{AddressSpace, AuxValue, BuiltStack, Loaded, PAGE_SIZE};
use std::sync::atomic::{AtomicU64, Ordering};

/// The FreeBSD release emu answers as, unless it shows an older one
/// (`--freebsd-version`).
const RELEASE: Release = Release { major: 14, minor: 2, patch: 0 };

/// The release the guest is shown.
pub fn release() -> Release {
    crate::release::view().unwrap_or(RELEASE)
}

/// `__FreeBSD_version` of that release (kern.osreldate, AT_OSRELDATE).
pub fn osreldate() -> u64 {
    crate::release::freebsd_osreldate(release()) as u64
}

const AT_PHDR: u64 = 3;
const AT_PHENT: u64 = 4;
const AT_PHNUM: u64 = 5;
const AT_PAGESZ: u64 = 6;
const AT_BASE: u64 = 7;
const AT_FLAGS: u64 = 8;
const AT_ENTRY: u64 = 9;
const AT_EXECPATH: u64 = 15;
const AT_CANARY: u64 = 16;
const AT_CANARYLEN: u64 = 17;
const AT_OSRELDATE: u64 = 18;
const AT_NCPUS: u64 = 19;
const AT_PAGESIZES: u64 = 20;
const AT_PAGESIZESLEN: u64 = 21;
const AT_STACKPROT: u64 = 23;
const AT_EHDRFLAGS: u64 = 24;
const AT_ARGC: u64 = 28;
const AT_ARGV: u64 = 29;
const AT_ENVC: u64 = 30;
const AT_ENVV: u64 = 31;
const AT_PS_STRINGS: u64 = 32;
const AT_USRSTACKBASE: u64 = 35;
const AT_USRSTACKLIM: u64 = 36;

/// The page sizes amd64 offers (4 KiB, 2 MiB, 1 GiB).
const PAGESIZES: [u64; 3] = [4096, 2 << 20, 1 << 30];
const CANARY_LEN: usize = 64;

/// The auxiliary vector, in the kernel's order. AT_TIMEKEEP is left out:
/// without the kernel's time page, programs ask clock_gettime, which emu
/// carries out on the host's clocks. AT_HWCAP is not given on amd64.
pub fn initial_auxv(image: &Loaded) -> InitialAuxv {
    let mut canary = vec![0u8; CANARY_LEN];
    // SAFETY: fills a buffer of ours.
    unsafe { libc::getrandom(canary.as_mut_ptr().cast(), CANARY_LEN, 0) };
    let pagesizes = PAGESIZES.iter().flat_map(|p| p.to_le_bytes()).collect();
    use AuxValue::*;
    InitialAuxv {
        entries: vec![
            (AT_PHDR, Value(image.phdr)),
            (AT_PHENT, Value(56)),
            (AT_PHNUM, Value(image.phnum)),
            (AT_PAGESZ, Value(PAGE_SIZE)),
            (AT_FLAGS, Value(0)),
            (AT_ENTRY, Value(image.program_entry)),
            (AT_BASE, Value(image.interpreter_base)),
            (AT_EHDRFLAGS, Value(0)),
            (AT_EXECPATH, ExecFn),
            (AT_OSRELDATE, Value(osreldate())),
            (AT_CANARY, Blob(0)),
            (AT_CANARYLEN, BlobLen(0)),
            (AT_NCPUS, Value(super::process::online_cpus())),
            (AT_PAGESIZES, Blob(1)),
            (AT_PAGESIZESLEN, BlobLen(1)),
            (AT_STACKPROT, Value((libc::PROT_READ | libc::PROT_WRITE) as u64)),
            (AT_ARGC, Argc),
            (AT_ARGV, Argv),
            (AT_ENVC, Envc),
            (AT_ENVV, Envv),
            (AT_PS_STRINGS, PsStrings),
            (AT_USRSTACKBASE, StackTop),
            (AT_USRSTACKLIM, Value(stack_limit())),
        ],
        blobs: vec![canary, pagesizes],
    }
}

/// RLIMIT_STACK's soft value (FreeBSD's RLIM_INFINITY for none).
fn stack_limit() -> u64 {
    crate::sys::stack_limit().map_or(i64::MAX as u64, |l| l.min(i64::MAX as u64))
}

/// Where the stack's top and `struct ps_strings` are, for kern.usrstack
/// and kern.ps_strings.
static USRSTACK: AtomicU64 = AtomicU64::new(0);
static PS_STRINGS: AtomicU64 = AtomicU64::new(0);

pub fn stack_built(stack: &BuiltStack) {
    USRSTACK.store(stack.top, Ordering::Relaxed);
    PS_STRINGS.store(stack.ps_strings, Ordering::Relaxed);
}

pub fn usrstack() -> u64 {
    USRSTACK.load(Ordering::Relaxed)
}

pub fn ps_strings() -> u64 {
    PS_STRINGS.load(Ordering::Relaxed)
}

/// exec_setregs: RDI at argc, RSP 8 bytes off 16-byte alignment, as after a call.
pub fn entry_registers(argc_at: u64) -> EntryRegisters {
    EntryRegisters { rsp: ((argc_at - 8) & !15) + 8, rdi: argc_at, rdx: 0 }
}

/// FreeBSD's sigcode (sys/amd64/amd64/sigtramp.S): a handler is entered
/// here with the frame at RSP; it calls the handler through the frame's
/// first word, then sigreturn(&frame->sf_uc).
const SIGCODE: &[u8] = &[
    0xff, 0x14, 0x24, // call *(%rsp)
    0x48, 0x8d, 0x7c, 0x24, 0x10, // lea 16(%rsp), %rdi
    0x6a, 0x00, // push $0
    0x48, 0xc7, 0xc0, 0xa1, 0x01, 0x00, 0x00, // mov $417, %rax (sigreturn)
    0x0f, 0x05, // syscall
    0xf4, // hlt
    0xeb, 0xfd, // jmp to the hlt
];

/// Where the guest's sigcode is (0: not mapped yet).
static SIGCODE_AT: AtomicU64 = AtomicU64::new(0);

pub fn sigcode() -> u64 {
    SIGCODE_AT.load(Ordering::Relaxed)
}

/// Maps a page holding the sigcode into the guest arena, read and execute
/// only: its `syscall` is the guest's, under dispatch.
pub fn map_sigcode(space: &mut AddressSpace) -> Result<(), String> {
    let at = space.find_free(PAGE_SIZE, PAGE_SIZE, None).ok_or("no room for the signal trampoline")?;
    // SAFETY: a fresh page of the guest arena, which nothing uses yet.
    let p = unsafe {
        libc::mmap(
            at as *mut _,
            PAGE_SIZE as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if p as u64 != at {
        return Err(format!("mapping the signal trampoline: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the page just mapped, writable until the mprotect below.
    unsafe {
        std::ptr::copy_nonoverlapping(SIGCODE.as_ptr(), p as *mut u8, SIGCODE.len());
        libc::mprotect(p, PAGE_SIZE as usize, libc::PROT_READ | libc::PROT_EXEC);
    }
    space.mark_used(at, PAGE_SIZE);
    SIGCODE_AT.store(at, Ordering::Relaxed);
    // The numbers' tables are built here, before any signal handler could need them.
    let _ = numbers::errno_to_guest(libc::ENOENT);
    Ok(())
}
