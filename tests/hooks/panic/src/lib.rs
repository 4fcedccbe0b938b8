//! A hook that panics on the guest's first write: emu must stop the guest
//! with a report naming the hook, and the panic's message must reach emu's
//! stderr, not the guest's.

use emu_hook::{export_hook, Call, EmuOutcome, Hook, Host};

struct Panics;

impl Hook for Panics {
    fn new(_host: Host, _argument: &str) -> Result<Self, i32> {
        Ok(Panics)
    }

    fn syscall(&self, call: &mut Call) -> EmuOutcome {
        if call.name() == "write" {
            panic!("this hook does not like writes");
        }
        call.forward()
    }
}

export_hook!(Panics, "panics");
