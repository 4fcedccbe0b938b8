//! The `emu` binary. glibc calls `main` directly: Rust's runtime set-up
//! (`lang_start`) is left out, and the two parts of it emu needs are done
//! here. The rest is work emu does again its own way, about 40 us of every
//! start: the main thread's stack bounds, which glibc finds by reading and
//! parsing /proc/self/maps (emu runs on a stack of its own), and an
//! alternate signal stack with SIGSEGV and SIGBUS handlers for stack
//! overflows (emu installs its own handlers and stacks for every thread).
//! `std::env::args` needs no set-up with glibc, which gives `.init_array`
//! functions the arguments. (A test build keeps the test harness's main.)
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
mod entry {
    use std::ffi::{c_char, c_int};

    #[no_mangle]
    extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
        standard_descriptors_open();
        // As Rust's runtime: a write to a closed pipe is an error (EPIPE) for
        // emu, not its death. The guest gets the disposition emu's parent
        // left (`signals::actions`, which reads it before this).
        // SAFETY: sets a disposition, no handler.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        std::process::exit(emulator::Emulator::new().run_from_args())
    }

    /// As Rust's runtime: descriptors 0, 1 and 2 that are closed are opened on
    /// /dev/null, so that no file emu opens for itself takes their numbers.
    /// poll says which in one call; where it fails (interrupted, or refused
    /// by a sandbox), each descriptor is asked with fcntl.
    fn standard_descriptors_open() {
        let mut fds = [0, 1, 2].map(|fd| libc::pollfd { fd, events: 0, revents: 0 });
        let closed: [bool; 3] = loop {
            // SAFETY: polls three descriptors of ours without waiting.
            if unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } >= 0 {
                break fds.map(|p| p.revents & libc::POLLNVAL != 0);
            }
            if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                // SAFETY: F_GETFD only asks whether the descriptor is open.
                break [0, 1, 2].map(|fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1);
            }
        };
        for fd in (0..3).filter(|&fd| closed[fd as usize]) {
            // SAFETY: a NUL-terminated path; the lowest free number is `fd`,
            // the lower ones being open.
            let opened = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
            if opened != fd {
                std::process::abort();
            }
        }
    }
}
