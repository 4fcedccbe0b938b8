//! Hooks: Rust code of the user's that sees every call before the table does.
//!
//! A hook is given each trapped call and decides its result: it may return
//! one of its own, or pass the call on with [`GuestCall::forward`] (to the
//! next hook, and finally to the table) as many times as it likes, changing
//! the arguments in between. Hooks run in the emulator's signal handler, on
//! the thread's alternate stack (about 900 KiB), after the switch to the
//! emulator's TLS: ordinary Rust, allocation included, is fine; blocking for
//! long blocks the guest thread.

use crate::call::Call;
use crate::dispatch;
use crate::memory::guest;
use crate::outcome::Outcome;
use crate::sys::Errno;

pub trait Hook: Send + Sync + 'static {
    /// Decides how one guest call ends: its values, its errno, or (as
    /// `forward` may say) that it restarts after a signal handler or has
    /// set the registers itself. A hook's own result converts from a
    /// `SysResult` (`Ok(n).into()`).
    fn syscall(&self, call: &mut GuestCall<'_, '_, '_>) -> Outcome;
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

    /// Writes guest memory (EFAULT for a bad guest pointer).
    pub fn write_memory(&self, addr: u64, bytes: &[u8]) -> Result<(), Errno> {
        guest::write(addr, bytes)
    }
}

/// Runs the hook chain for a call.
pub(crate) fn run(hooks: &[Box<dyn Hook>], call: &mut Call) -> Outcome {
    GuestCall { call, rest: hooks }.forward()
}
