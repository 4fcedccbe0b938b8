//! Hooks: Rust code of the user's that sees every call before the table does.
//!
//! A hook is given each trapped call and decides its result: it may return
//! one of its own, or pass the call on with [`GuestCall::forward`] (to the
//! next hook, and finally to the table) as many times as it likes, changing
//! the arguments in between. Hooks run in the emulator's signal handler, on
//! the thread's alternate stack (about 900 KiB), after the switch to the
//! emulator's TLS: ordinary Rust, allocation included, is fine; blocking for
//! long blocks the guest thread.
//!
//! Hooks of the user's own come two ways: Rust types given to
//! `Emulator::hook` by a program of one's own, and shared objects loaded at
//! run time with `emu --hook` (`plugin`), which speak the C ABI of the
//! `emu-hook` crate and are made hooks like any other.

use crate::call::Call;
use crate::dispatch;
use crate::memory::guest;
use crate::outcome::Outcome;
use crate::sys::Errno;

mod plugin;
mod plugin_tls;

pub use plugin_tls::run_thread_destructors;

pub use crate::lifecycle::Ending;
pub(crate) use plugin::{code_location, hook_fault_report, load as load_plugin};

/// The guest a hook is about to see, for [`Hook::start`].
#[derive(Clone, Copy, Debug)]
pub struct GuestInfo<'a> {
    /// `linux`, `freebsd`.
    pub personality: &'a str,
    /// The guest's table (`freebsd-amd64`, or a table file's name).
    pub table: &'a str,
}

pub trait Hook: Send + Sync + 'static {
    /// Called once, before the guest runs. An error stops emu with it.
    fn start(&self, _guest: &GuestInfo) -> Result<(), String> {
        Ok(())
    }

    /// Decides how one guest call ends: its values, its errno, or (as
    /// `forward` may say) that it restarts after a signal handler or has
    /// set the registers itself. A hook's own result converts from a
    /// `SysResult` (`Ok(n).into()`).
    fn syscall(&self, call: &mut GuestCall<'_, '_, '_>) -> Outcome;

    /// Called once when the guest process ends (by whichever thread ends
    /// it), before its trace's last line and its statistics; a fork child
    /// ends on its own copy of the hook, a vfork child (which shares its
    /// parent's memory) does not call it.
    fn exit(&self, _ending: Ending) {}
}

/// A guest call as a hook sees it.
pub struct GuestCall<'c, 'a, 'u> {
    call: &'c mut Call<'a, 'u>,
    rest: &'c [Box<dyn Hook>],
}

impl GuestCall<'_, '_, '_> {
    /// The call's name in the guest's table (`write`).
    pub fn name(&self) -> &'static str {
        self.call.name()
    }

    /// The number the guest used.
    pub fn number(&self) -> u64 {
        self.call.number
    }

    /// What argument `i` is, as the guest's table declares it (None past
    /// the call's last argument).
    pub fn arg_kind(&self, i: usize) -> Option<&'static abi_tables::ArgKind> {
        self.call.slot.call.args.get(i).map(|a| &a.kind)
    }

    /// Argument `i` (0-based) as the guest passed it.
    pub fn arg(&self, i: usize) -> u64 {
        self.call.args[i]
    }

    /// Changes argument `i` for what `forward` does next.
    pub fn set_arg(&mut self, i: usize, value: u64) {
        self.call.args[i] = value;
    }

    /// Passes the call on: to the next hook, or to the table's implementation.
    pub fn forward(&mut self) -> Outcome {
        match self.rest.split_first() {
            Some((next, rest)) => next.syscall(&mut GuestCall { call: self.call, rest }),
            None => dispatch::execute(self.call),
        }
    }

    /// Copies guest memory (EFAULT for a bad guest pointer).
    pub fn read_memory(&self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        guest::read(addr, buf)
    }

    /// The NUL-terminated guest string at `addr`, of at most `max` bytes
    /// (EFAULT for a bad pointer, ENAMETOOLONG for a longer string).
    pub fn read_string(&self, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        let mut s = Vec::new();
        match guest::read_cstr(addr, max, &mut s)? {
            true => Ok(s),
            false => Err(Errno(libc::ENAMETOOLONG)),
        }
    }

    /// Writes guest memory (EFAULT for a bad guest pointer).
    pub fn write_memory(&self, addr: u64, bytes: &[u8]) -> Result<(), Errno> {
        guest::write(addr, bytes)
    }
}

/// Writes `bytes` to emu's own standard error (a copy of the one it started
/// with, which the guest can neither close nor redirect): for what a hook
/// reports, apart from the guest's output.
pub fn diagnostic(bytes: &[u8]) {
    // As emu's own log lines are written: safely against the guest taking
    // the descriptor's number meanwhile.
    let _ = crate::fds::write_private(crate::log::fd, bytes);
}

/// Runs the hook chain for a call.
pub(crate) fn run(hooks: &[Box<dyn Hook>], call: &mut Call) -> Outcome {
    GuestCall { call, rest: hooks }.forward()
}
