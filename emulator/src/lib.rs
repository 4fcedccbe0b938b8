//! emu: runs x86-64 programs built for a foreign system-call ABI inside an
//! ordinary Linux process, the way Wine runs Windows programs. The guest's
//! instructions run natively; every `syscall` it executes is caught by
//! Syscall User Dispatch, looked up in the guest's ABI table and carried out
//! with native Linux calls.
//!
//! The `emu` binary is [`Emulator::new().run_from_args()`](Emulator::run_from_args).
//! A program of one's own can do the same with hooks: Rust code that sees
//! every guest call first and may answer it, change it, or pass it on to the
//! table:
//!
//! ```no_run
//! use emulator::{Emulator, Errno, GuestCall, Hook, Outcome};
//!
//! /// Refuses every unlink: the guest gets EPERM.
//! struct NoUnlink;
//!
//! impl Hook for NoUnlink {
//!     fn syscall(&self, call: &mut GuestCall) -> Outcome {
//!         match call.name() {
//!             "unlink" | "unlinkat" => Outcome::Error(Errno::EPERM),
//!             _ => call.forward(),
//!         }
//!     }
//! }
//!
//! fn main() {
//!     std::process::exit(Emulator::new().hook(NoUnlink).run_from_args());
//! }
//! ```
//!
//! The source is arranged by concern: `dispatch` (the core), `call` and
//! `outcome` (a call as handlers see it, and how it ends), `signals` (the
//! handler entry path, held and delivered signals), `threads` (per-thread
//! state), `memory` (the guest arena), `trace` and `stats`, `lifecycle`
//! (fork, exec, exit), `sud` (arming dispatch), one module per personality
//! (`linux`, `freebsd`), and `bsd` for what BSD personalities share.

mod abi_tools;
mod binfmt;
mod bsd;
mod call;
mod cli;
mod compat;
mod context;
mod dispatch;
mod fds;
mod files;
mod freebsd;
mod hooks;
mod inject;
mod lifecycle;
mod linux;
mod log;
mod memory;
mod outcome;
mod personalities;
mod personality;
mod process;
mod procfs;
mod release;
mod rewrite;
mod signals;
mod start;
mod stats;
mod sud;
mod sys;
mod threads;
mod trace;

pub use abi_tables::ArgKind;
pub use hooks::{diagnostic, Ending, GuestCall, GuestInfo, Hook};
pub use outcome::{Outcome, Retval};
pub use sys::{Errno, SysResult};

/// The emulator, with the hooks a program adds.
#[derive(Default)]
pub struct Emulator {
    hooks: Vec<Box<dyn Hook>>,
}

impl Emulator {
    pub fn new() -> Self {
        Emulator::default()
    }

    /// Adds a hook; hooks see each call in the order they were added.
    pub fn hook(mut self, hook: impl Hook) -> Self {
        self.hooks.push(Box::new(hook));
        self
    }

    /// Reads emu's command line from this process's arguments (as the `emu`
    /// binary does: `[OPTIONS] PROGRAM [ARGS...]`, or `abi ...`) and runs it.
    /// Returns only when there is nothing to run or the guest cannot start:
    /// the exit status to end with.
    pub fn run_from_args(self) -> i32 {
        lifecycle::restart_without_loader_variables();
        // Not on the process's main stack, which is as small as the guest's
        // RLIMIT_STACK.
        memory::own::run_on_own_stack(|| cli::run(self.hooks))
    }
}
