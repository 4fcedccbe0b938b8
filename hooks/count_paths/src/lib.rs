//! A hook plugin in Rust (a cdylib): counts the guest's path arguments by
//! prefix, and whether their calls failed, and prints the table when the
//! guest exits. Every call whose table entry declares a path argument
//! counts, whatever its name or number (open, openat, stat, execve,
//! FreeBSD's __realpathat...).
//!
//!     CARGO_ENCODED_RUSTFLAGS= cargo build --release
//!     emu --hook ./target/x86_64-unknown-linux-gnu/release/libcount_paths.so,/etc,/usr ./guest
//!
//! Without an argument, paths are grouped by their first component.

mod tally;

use emu_hook::{export_hook, Call, EmuOutcome, Hook, Host, EMU_ARG_PATH};
use std::cell::RefCell;
use tally::Tally;

thread_local! {
    /// The paths of the call this thread is in, kept between calls so that
    /// a call does not allocate the list anew.
    static PATHS: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

struct CountPaths {
    host: Host,
    tally: Tally,
}

impl Hook for CountPaths {
    fn new(host: Host, argument: &str) -> Result<Self, i32> {
        Ok(CountPaths { host, tally: Tally::new(argument) })
    }

    fn syscall(&self, call: &mut Call) -> EmuOutcome {
        // Read before the call runs: it may change what the pointer holds.
        let mut paths = PATHS.take();
        paths.clear();
        paths.extend(
            (0..call.args().len())
                .filter(|&i| call.arg_class(i) == EMU_ARG_PATH)
                .filter_map(|i| call.host().read_string(call.arg(i)).ok()),
        );
        let outcome = call.forward();
        for path in &paths {
            self.tally.record(path, !outcome.succeeded());
        }
        PATHS.set(paths);
        outcome
    }

    fn exit(&self, _status: i32, _signal: i32) {
        self.host.diagnostic(&self.tally.report());
    }
}

export_hook!(CountPaths, "count-paths");
