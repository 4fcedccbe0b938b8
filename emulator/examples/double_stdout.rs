//! An emu with one hook: everything the guest writes to its standard output
//! is written twice. It catches every path to the kernel, libc's or not:
//! printf, fwrite, write(), syscall(SYS_write) and an inline `syscall`
//! instruction alike, which an LD_PRELOAD interposer cannot.
//!
//!     cargo run --example double_stdout -- ./guest args...

use emulator::{Emulator, GuestCall, Hook, Outcome};

struct DoubleStdout;

impl Hook for DoubleStdout {
    fn syscall(&self, call: &mut GuestCall) -> Outcome {
        let to_stdout = matches!(call.name(), "write" | "writev") && call.arg(0) == 1;
        let first = call.forward();
        if to_stdout && first.succeeded() {
            let _ = call.forward();
        }
        first
    }
}

fn main() {
    std::process::exit(Emulator::new().hook(DoubleStdout).run_from_args());
}
