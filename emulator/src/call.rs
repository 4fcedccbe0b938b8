//! A trapped call as its handler sees it, and what the table's entry for
//! it turns into: the types the dispatcher, the personalities, hooks, the
//! trace and the statistics share (and nothing else of theirs).

use crate::context::GuestContext;
use crate::signals;
use crate::sys::{self, Errno, SysResult};
use crate::threads::ThreadState;
use abi_tables::{Syscall, MAX_ARGS};
use std::sync::atomic::AtomicBool;

/// Carries out one call of a personality.
pub type Handler = fn(&mut Call) -> SysResult;

/// What a call of the table turns into.
#[derive(Clone, Copy)]
pub enum Implementation {
    /// The host call with this (Linux x86-64) number, given the guest's arguments unchanged.
    Host(u64),
    /// A function of the personality.
    Emulated(Handler),
}

/// What emu does for one call of the table, decided when the table is loaded.
pub struct CallSlot {
    pub call: &'static Syscall,
    /// Position in the table (and in the statistics).
    pub index: u16,
    /// `call.args.len()`, here because every FreeBSD call needs it
    /// (`syscall_args`), and the table's entry is a cache miss away (in
    /// perf profiles of esbuild, `syscall_args` went from 0.15% to 0.09%
    /// of the samples, most of it that load).
    pub arg_count: u8,
    pub action: Action,
    /// Shown by `--trace`.
    pub traced: bool,
    /// An unsupported or absent call is reported once.
    pub(crate) reported: AtomicBool,
}

#[derive(Clone, Copy)]
pub enum Action {
    Run(Implementation),
    /// Refused with this (host) errno, as the table says.
    Refuse(Errno),
    /// ENOSYS, reported once.
    Unsupported,
    /// Not in the older release the guest is shown (`release`): what that
    /// kernel answers, ENOSYS (and FreeBSD's SIGSYS), reported once.
    Absent,
}

impl CallSlot {
    pub fn new(call: &'static Syscall, index: u16, action: Action, traced: bool) -> Self {
        let arg_count = call.args.len().min(u8::MAX as usize) as u8;
        CallSlot { call, index, arg_count, action, traced, reported: AtomicBool::new(false) }
    }

    pub fn name(&self) -> &'static str {
        &self.call.name
    }
}

/// One trapped call, as handlers see it.
pub struct Call<'a, 'u> {
    pub slot: &'static CallSlot,
    /// The number the guest used.
    pub number: u64,
    pub args: [u64; MAX_ARGS],
    pub ctx: &'a mut GuestContext<'u>,
    pub thread: &'static ThreadState,
    /// A second value to return, for a personality that has a register
    /// for it (`Retval::rdx`).
    pub(crate) second: Option<u64>,
    /// `--inject` decided its outcome (the trace says so).
    pub(crate) injected: bool,
}

impl Call<'_, '_> {
    pub fn name(&self) -> &'static str {
        self.slot.name()
    }

    /// The name of the implementation it runs (another call's, for a
    /// table's `... as NAME`).
    pub fn implements(&self) -> &'static str {
        self.slot.call.implementation_name()
    }

    /// Returns `value` in the second return register too (FreeBSD's RDX).
    pub fn set_second(&mut self, value: u64) {
        self.second = Some(value);
    }

    /// The first six arguments, as a host call takes them.
    pub fn host_args(&self) -> [u64; 6] {
        [self.args[0], self.args[1], self.args[2], self.args[3], self.args[4], self.args[5]]
    }

    /// Makes the host call `nr` with the guest's arguments, interruptibly.
    pub fn host(&mut self, nr: i64) -> SysResult {
        self.host_with(nr, self.host_args())
    }

    /// Makes the host call `nr` with these arguments, interruptibly: a signal
    /// the guest catches makes it return EINTR (or not run it at all).
    pub fn host_with(&mut self, nr: i64, args: [u64; 6]) -> SysResult {
        sys::result(signals::interruptible_syscall(nr as u64, &args, &self.thread.signals.held))
    }
}
