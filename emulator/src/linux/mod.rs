//! The Linux x86-64 personality. A Linux guest speaks the host's own ABI,
//! so almost every call passes straight through; what is emulated is what
//! would let the guest escape or damage the emulator (memory outside the
//! arena, signal handlers, the FS base, syscall dispatch itself) or what
//! must show the guest rather than emu (`/proc/self/exe`, execve).

mod memory;
mod process;
mod signal;
mod structs;

use crate::call::{Action, CallSlot, Handler, Implementation};
use crate::context::GuestContext;
use crate::files;
use crate::memory::in_place;
use crate::outcome::Outcome;
use crate::personality::{EntryRegisters, InitialAuxv, PassThrough, Personality, SignalName, StructDecoder};
use crate::signals::GuestAction;
use crate::sys::{self, Errno};
use crate::threads::ThreadState;
use abi_tables::{Syscall, Table, LINUX_X86_64, MAX_ARGS};
use loader::{AuxValue, Loaded, PAGE_SIZE};
use std::collections::HashMap;
use std::sync::LazyLock;

pub struct Linux;

pub static LINUX: Linux = Linux;

/// Calls emu carries out itself, by name.
const EMULATED: &[(&str, Handler)] = &[
    ("brk", memory::brk),
    ("mmap", memory::mmap),
    ("munmap", memory::munmap),
    ("mremap", memory::mremap),
    ("mprotect", in_place::change_in_place),
    ("pkey_mprotect", in_place::change_in_place),
    ("madvise", in_place::change_in_place),
    ("mlock", in_place::change_in_place),
    ("munlock", in_place::change_in_place),
    ("mlock2", in_place::change_in_place),
    ("msync", in_place::change_in_place),
    ("mseal", in_place::change_in_place),
    ("remap_file_pages", in_place::change_in_place),
    ("shmat", memory::shmat),
    ("arch_prctl", process::arch_prctl),
    ("uname", process::uname),
    ("prctl", process::prctl),
    ("exit", process::exit),
    ("set_tid_address", process::set_tid_address),
    ("set_robust_list", process::set_robust_list),
    ("get_robust_list", process::get_robust_list),
    ("exit_group", process::exit_group),
    ("fork", process::fork),
    ("vfork", process::vfork),
    ("clone", process::clone),
    ("clone3", process::clone3),
    ("execve", process::execve),
    ("execveat", process::execveat),
    ("rt_sigaction", signal::rt_sigaction),
    ("rt_sigprocmask", signal::rt_sigprocmask),
    ("rt_sigreturn", signal::rt_sigreturn),
    ("sigaltstack", signal::sigaltstack),
    ("rt_sigsuspend", signal::rt_sigsuspend),
    ("ppoll", signal::ppoll),
    ("pselect6", signal::pselect6),
    ("epoll_pwait", signal::epoll_pwait),
    ("epoll_pwait2", signal::epoll_pwait),
    ("open", files::open),
    ("openat", files::openat),
    ("readlink", files::readlink),
    ("readlinkat", files::readlinkat),
    ("getdents64", files::getdents64),
    ("close", files::close),
    ("close_range", files::close_range),
    ("dup2", files::dup2),
    ("dup3", files::dup2),
];

/// `EMULATED` by name: start-up looks up every call of the table (a
/// linear search was 70 us of every start).
static EMULATED_BY_NAME: LazyLock<HashMap<&str, Handler>> = LazyLock::new(|| EMULATED.iter().copied().collect());

/// Host number of a Linux call, by name.
fn host_number(name: &str) -> Option<u64> {
    LINUX_X86_64.call_by_name(name).map(|c| c.number as u64)
}

impl Personality for Linux {
    fn name(&self) -> &'static str {
        "linux"
    }

    fn default_table(&self) -> &'static Table {
        &LINUX_X86_64
    }

    fn implementation(&self, call: &Syscall) -> Option<Implementation> {
        let name = call.implementation_name();
        if let Some(f) = EMULATED_BY_NAME.get(name) {
            return Some(Implementation::Emulated(*f));
        }
        // A call of the host's own table, as itself: its own number (no
        // search by name, for each of the table's calls at start).
        let own_table = LINUX_X86_64.calls.as_ptr_range().contains(&(call as *const Syscall));
        if own_table && name == call.name.as_ref() {
            return Some(Implementation::Host(call.number as u64));
        }
        host_number(name).map(Implementation::Host)
    }

    /// The number is EAX: the kernel reads the low 32 bits of RAX (as an
    /// int; a negative one is out of range).
    fn syscall_args(&self, ctx: &GuestContext) -> (u64, Result<[u64; MAX_ARGS], Errno>) {
        let a = ctx.syscall_args();
        (ctx.rax() as u32 as u64, Ok([a[0], a[1], a[2], a[3], a[4], a[5], 0, 0]))
    }

    fn set_return(&self, ctx: &mut GuestContext, outcome: &Outcome) {
        match *outcome {
            // Linux has one return register.
            Outcome::Value(v) => ctx.set_rax(v.rax),
            Outcome::Error(e) => ctx.set_rax(sys::raw(Err(e)) as u64),
            Outcome::Restart | Outcome::JustReturn => {}
        }
    }

    fn errno_to_guest(&self, host: Errno) -> i32 {
        host.0
    }

    fn errno_from_guest(&self, guest: i32) -> Errno {
        Errno(guest)
    }

    fn struct_decoder(&self, name: &str) -> Option<StructDecoder> {
        structs::decoder(name)
    }

    fn deliver_signal(
        &self,
        thread: &'static ThreadState,
        sig: i32,
        info: &libc::siginfo_t,
        ctx: &mut GuestContext,
        action: &GuestAction,
    ) -> Result<(), Errno> {
        signal::deliver(thread, sig, info, ctx, action)
    }

    fn guest_signal_name(&self, sig: i32) -> SignalName {
        signal_name(sig)
    }

    fn initial_auxv(&self, image: &Loaded) -> InitialAuxv {
        InitialAuxv { entries: initial_auxv(image), blobs: Vec::new() }
    }

    /// The x86-64 psABI: RSP at argc, RDX a function for atexit (none).
    fn kernel_name(&self) -> &'static str {
        "Linux"
    }

    /// A host call (under its own number or, in a table that renumbers
    /// calls, another): the guest reads the host's result as it is.
    fn pass_through(&self, slot: &CallSlot) -> Option<PassThrough> {
        match slot.action {
            Action::Run(Implementation::Host(nr)) => Some(PassThrough::Raw { host: nr }),
            _ => None,
        }
    }

    fn entry_registers(&self, argc_at: u64) -> EntryRegisters {
        EntryRegisters { rsp: argc_at, rdi: 0, rdx: 0 }
    }
}

/// The Linux auxiliary vector, in the kernel's order.
fn initial_auxv(image: &Loaded) -> Vec<(u64, AuxValue)> {
    let host = |t: u64| crate::sys::host_auxv(t).unwrap_or(0);
    // SAFETY: plain getters.
    let (uid, euid, gid, egid) = unsafe { (libc::getuid(), libc::geteuid(), libc::getgid(), libc::getegid()) };
    use AuxValue::*;
    let mut v = vec![
        (libc::AT_SYSINFO_EHDR, Value(host(libc::AT_SYSINFO_EHDR))),
        (libc::AT_MINSIGSTKSZ, Value(host(libc::AT_MINSIGSTKSZ))),
        (libc::AT_HWCAP, Value(host(libc::AT_HWCAP))),
        (libc::AT_PAGESZ, Value(PAGE_SIZE)),
        (libc::AT_CLKTCK, Value(host(libc::AT_CLKTCK))),
        (libc::AT_PHDR, Value(image.phdr)),
        (libc::AT_PHENT, Value(56)),
        (libc::AT_PHNUM, Value(image.phnum)),
        (libc::AT_BASE, Value(image.interpreter_base)),
        (libc::AT_FLAGS, Value(0)),
        (libc::AT_ENTRY, Value(image.program_entry)),
        (libc::AT_UID, Value(uid as u64)),
        (libc::AT_EUID, Value(euid as u64)),
        (libc::AT_GID, Value(gid as u64)),
        (libc::AT_EGID, Value(egid as u64)),
        (libc::AT_SECURE, Value(0)),
        (libc::AT_RANDOM, Random),
        (libc::AT_HWCAP2, Value(host(libc::AT_HWCAP2))),
        (libc::AT_EXECFN, ExecFn),
        (libc::AT_PLATFORM, Platform),
    ];
    v.retain(|(t, val)| !(*t == libc::AT_SYSINFO_EHDR && matches!(val, Value(0))));
    v
}

/// The kernel's first real-time signal (glibc keeps 32 and 33 for itself and calls 34 SIGRTMIN).
const KERNEL_SIGRTMIN: i32 = 32;

/// `SIGSEGV`, or `SIG42` for a number without a name.
pub fn signal_name(sig: i32) -> SignalName {
    let table: &'static Table = &LINUX_X86_64;
    match table.set_by_name("signal").and_then(|s| s.name_of(sig as i64)) {
        Some(v) => SignalName::Named(v.name.as_ref()),
        None if sig == KERNEL_SIGRTMIN => SignalName::Named("SIGRTMIN"),
        None if sig > 64 => SignalName::Numbered("", sig),
        None if sig > KERNEL_SIGRTMIN => SignalName::Numbered("SIGRT_", sig - KERNEL_SIGRTMIN),
        None => SignalName::Numbered("SIG", sig),
    }
}
