//! The boundary between the dispatch core and an ABI.
//!
//! A personality is a table (the guest's numbering, argument kinds, value
//! sets) plus the translators that carry its calls out on Linux: how a
//! trapped call's number and arguments are read from the registers and its
//! result written back, how its errno values map, which calls are emulated
//! rather than passed through, how its structures are shown in traces, and
//! how a signal frame of its kind is built. The core never names an ABI; it
//! asks the personality the guest's ELF brand (or the user's table) chose.

use crate::call::{CallSlot, Implementation};
use crate::context::GuestContext;
use crate::outcome::Outcome;
use crate::signals::GuestAction;
use crate::sys::Errno;
use crate::threads::ThreadState;
use crate::trace::StructWriter;
use abi_tables::{Syscall, Table, MAX_ARGS};
use loader::{AddressSpace, AuxValue, BuiltStack, Loaded};

/// How a rewritten site's entry makes a call without emu's dispatcher: the
/// host call `host` with the guest's registers, and the result in the
/// guest's terms. What the dispatcher would do for the call must come to
/// exactly this (`Personality::pass_through`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PassThrough {
    /// The host's result is the guest's: RAX, or -errno (Linux).
    Raw { host: u64 },
    /// An error is the guest's errno (`errno_to_guest`) with the carry flag
    /// set; success clears the carry flag (the BSDs).
    Carry { host: u64 },
    /// As `Carry`, for a call that reads a clock (first argument) into 16
    /// bytes (second argument): `clocks[id]` is the host clock of guest
    /// clock `id`, `None` where the dispatcher must answer. The 16 bytes
    /// must lie in the guest's arena, as `guest::write` requires.
    CarryClock { host: u64, clocks: [Option<i32>; CLOCK_IDS] },
}

/// Guest clock ids a `PassThrough::CarryClock` can map.
pub const CLOCK_IDS: usize = 16;

/// Writes a summary of a guest structure at `addr` (`{st_mode=..., ...}`).
/// Returns false when the memory could not be read.
pub type StructDecoder = fn(addr: u64, out: &mut StructWriter) -> bool;

pub trait Personality: Sync + 'static {
    /// The name tables use in their `personality` statement.
    fn name(&self) -> &'static str;

    /// The table guests of this ABI use unless the user gives another.
    fn default_table(&self) -> &'static Table;

    /// The implementation of a `supported` or `partial` call, found by name.
    /// `None` means the personality has no call by that name.
    fn implementation(&self, call: &Syscall) -> Option<Implementation>;

    /// The call number and arguments of a trapped `syscall`; EFAULT for
    /// arguments the guest's kernel would copy from memory it cannot read
    /// (FreeBSD's past the sixth, on the stack).
    fn syscall_args(&self, ctx: &GuestContext) -> (u64, Result<[u64; MAX_ARGS], Errno>);

    /// Writes a call's values or errno back the way the guest's kernel
    /// returns them (the dispatcher itself handles Restart and JustReturn).
    fn set_return(&self, ctx: &mut GuestContext, outcome: &Outcome);

    /// The guest's errno for a host errno, and back.
    fn errno_to_guest(&self, host: Errno) -> i32;
    fn errno_from_guest(&self, guest: i32) -> Errno;

    /// The trace decoder of a structure the table names.
    fn struct_decoder(&self, name: &str) -> Option<StructDecoder>;

    /// Builds the guest's signal frame for `sig` (host numbering) and points
    /// the context at the guest's handler. An error means the frame could not
    /// be written (the guest's stack is bad); the caller then kills the guest
    /// with SIGSEGV, as the guest's kernel would.
    fn deliver_signal(
        &self,
        thread: &'static ThreadState,
        sig: i32,
        info: &libc::siginfo_t,
        ctx: &mut GuestContext,
        action: &GuestAction,
    ) -> Result<(), Errno>;

    /// Whether the guest holds off the asynchronous signals of `thread` by
    /// itself, without its mask (FreeBSD's sigfastblock word): the signal
    /// then stays pending until the personality lets it through. Called
    /// from a handler that interrupted guest code, before a caught signal
    /// is delivered; it may not wait.
    fn defers_signals(&self, _thread: &ThreadState) -> bool {
        false
    }

    /// Host signals (a mask) whose default action on the guest's kernel is
    /// to ignore them where Linux's ends the process.
    fn default_ignored(&self) -> u64 {
        0
    }

    /// The guest's number of a host signal. Signal numbers are kept in
    /// host terms inside emu; they cross here.
    fn signal_to_guest(&self, host: i32) -> i32 {
        host
    }

    /// The host signal that carries a guest's, if any.
    fn signal_from_guest(&self, guest: i32) -> Option<i32> {
        (1..=64).contains(&guest).then_some(guest)
    }

    /// The name of a guest signal number, for traces.
    fn guest_signal_name(&self, guest: i32) -> SignalName;

    /// The guest's name of a host signal's `si_code`, for the trace's
    /// `--- SIG...` line. Linux's names by default; the kernel-made codes
    /// (faults, SIGCHLD) have the same names on the other systems.
    fn si_code_name(&self, sig: i32, code: i32) -> String {
        crate::trace::siginfo::code_name(sig, code)
    }

    /// The guest's name of a host signal, for messages and traces.
    fn signal_name(&self, host: i32) -> SignalName {
        self.guest_signal_name(self.signal_to_guest(host))
    }

    /// The auxiliary vector a new image of this ABI finds on its stack.
    fn initial_auxv(&self, image: &Loaded) -> InitialAuxv;

    /// A lock of the personality's own to hold across a fork (see
    /// `lifecycle`), so that the child finds its state whole.
    fn hold_for_fork(&self) -> Option<Box<dyn std::any::Any>> {
        None
    }

    /// Maps what guests of this ABI find in their address space besides
    /// their image and stack (FreeBSD's signal trampoline), once the image is
    /// mapped.
    fn prepare_address_space(&self, _space: &mut AddressSpace) -> Result<(), String> {
        Ok(())
    }

    /// Told where the new image's stack is, once it is written.
    fn stack_built(&self, _stack: &BuiltStack) {}

    /// The registers at the entry point, given the address of argc on the
    /// initial stack.
    fn entry_registers(&self, argc_at: u64) -> EntryRegisters;

    /// Whether a rewritten site's entry may make this call itself, and how
    /// (`rewrite`): only for a call whose whole effect is one host call and
    /// a result the entry can translate. Asked only when nothing watches or
    /// changes calls (trace, statistics, hooks, injections).
    fn pass_through(&self, _slot: &CallSlot) -> Option<PassThrough> {
        None
    }

    /// The guest's kernel, as people name it (`Linux`, `FreeBSD`).
    fn kernel_name(&self) -> &'static str;

    /// The (host) signal the guest's kernel sends with the ENOSYS of a call
    /// it does not have (FreeBSD's nosys() sends SIGSYS), if any.
    fn absent_call_signal(&self) -> Option<i32> {
        None
    }
}

/// The registers a new image starts with (the others are zero).
#[derive(Clone, Copy, Debug)]
pub struct EntryRegisters {
    pub rsp: u64,
    pub rdi: u64,
    pub rdx: u64,
}

/// The auxiliary vector of a new image, and the bytes on the stack its
/// entries may point to (`AuxValue::Blob`).
#[derive(Default)]
pub struct InitialAuxv {
    pub entries: Vec<(u64, AuxValue)>,
    pub blobs: Vec<Vec<u8>>,
}

/// A signal's name as a personality spells it: `SIGSEGV`, or a prefix and
/// a number (`SIGRT_3`, `SIG70`). Formatting it allocates nothing, since
/// the report of a fault inside emu prints it from a handler that may have
/// interrupted malloc.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalName {
    Named(&'static str),
    Numbered(&'static str, i32),
}

impl std::fmt::Display for SignalName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignalName::Named(name) => f.write_str(name),
            SignalName::Numbered(prefix, n) => write!(f, "{prefix}{n}"),
        }
    }
}
