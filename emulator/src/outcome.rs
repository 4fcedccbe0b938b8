//! How a system call ends, as everything after its handler sees it: the
//! dispatcher, hooks, the trace, the statistics, and the personality that
//! writes it into the guest's registers.
//!
//! Inside a handler a result is a `SysResult` (a value or an errno), and
//! the two endings that are not results travel as errno values no kernel
//! returns: the host's ERESTARTNOINTR for a call a signal kept from being
//! made (`signals::NOT_RUN`), and `Errno::RESTART` and `Errno::JUST_RETURN`.
//! They stop here: past the handler they are `Outcome::Restart` and
//! `Outcome::JustReturn`, which no errno can be mistaken for.

use crate::signals::NOT_RUN;
use crate::sys::{Errno, SysResult};

/// What a call returns: RAX, and for a personality with a second return
/// register (FreeBSD's RDX: fork's "this is the child") maybe a value there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retval {
    pub rax: u64,
    pub rdx: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Returned values.
    Value(Retval),
    /// Failed, with a host errno (the personality translates it).
    Error(Errno),
    /// The guest executes its `syscall` again once its signal handler has
    /// run: a signal came before the call could be made, or interrupted it
    /// with SA_RESTART.
    Restart,
    /// The handler set every register itself (sigreturn): nothing to write.
    JustReturn,
}

impl Outcome {
    /// One value in RAX.
    pub fn value(rax: u64) -> Outcome {
        Outcome::Value(Retval { rax, rdx: None })
    }

    /// A handler's result, with the second value it set (`Call::set_second`).
    pub fn from_handler(result: SysResult, rdx: Option<u64>) -> Outcome {
        match result {
            Ok(rax) => Outcome::Value(Retval { rax, rdx }),
            Err(Errno(NOT_RUN)) | Err(Errno::RESTART) => Outcome::Restart,
            Err(Errno::JUST_RETURN) => Outcome::JustReturn,
            Err(e) => Outcome::Error(e),
        }
    }

    /// The errno of a failed call.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Outcome::Error(e) => Some(*e),
            _ => None,
        }
    }

    /// Whether the call returned values (it may have filled its buffers).
    pub fn succeeded(&self) -> bool {
        matches!(self, Outcome::Value(_))
    }
}

impl From<SysResult> for Outcome {
    /// A result without a second value (a hook's own, say).
    fn from(result: SysResult) -> Outcome {
        Outcome::from_handler(result, None)
    }
}
