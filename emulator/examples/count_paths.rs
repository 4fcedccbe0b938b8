//! An emu with one hook written against the library: the guest's path
//! arguments counted by prefix, printed when it exits. The same hook as
//! the plugin in hooks/count_paths (which shares its counting, `tally.rs`),
//! so the tests can hold the plugin ABI to what the Rust API gives.
//!
//!     EMU_COUNT_PATHS=/etc,/usr cargo run --example count_paths -- ./guest args...

#[path = "../../hooks/count_paths/src/tally.rs"]
mod tally;

use emulator::{ArgKind, Emulator, Ending, GuestCall, Hook, Outcome};
use tally::Tally;

struct CountPaths(Tally);

impl Hook for CountPaths {
    fn syscall(&self, call: &mut GuestCall) -> Outcome {
        // Read before the call runs: it may change what the pointer holds.
        let paths: Vec<Vec<u8>> = (0..6)
            .filter(|&i| matches!(call.arg_kind(i), Some(ArgKind::Path)))
            .filter_map(|i| call.read_string(call.arg(i), 4095).ok())
            .collect();
        let outcome = call.forward();
        for path in paths {
            self.0.record(&path, !outcome.succeeded());
        }
        outcome
    }

    fn exit(&self, _ending: Ending) {
        emulator::diagnostic(self.0.report().as_bytes());
    }
}

fn main() {
    let prefixes = std::env::var("EMU_COUNT_PATHS").unwrap_or_default();
    std::process::exit(Emulator::new().hook(CountPaths(Tally::new(&prefixes))).run_from_args());
}
