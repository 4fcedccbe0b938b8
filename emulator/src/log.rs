//! emu's diagnostics: a `log` backend that is safe in the signal path.
//!
//! Written by hand because the usual backends (env_logger and friends) lock
//! and allocate. This one formats each record into a buffer on the stack and
//! hands it to the kernel with one raw write(2), so it neither allocates, nor
//! locks, nor touches a thread-local; lines from several threads do not
//! interleave. Records go to the emulator's private duplicate of stderr, so a
//! guest that closes or redirects its fd 2 does not silence emu.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicI32, Ordering};

/// Where diagnostics go: emu's private copy of stderr (fd 2 until start-up moves it).
static LOG_FD: AtomicI32 = AtomicI32::new(2);

pub fn set_fd(fd: i32) {
    LOG_FD.store(fd, Ordering::Relaxed);
}

pub fn fd() -> i32 {
    LOG_FD.load(Ordering::Relaxed)
}

struct Logger;

static LOGGER: Logger = Logger;

/// Installs the logger. `level` comes from `--log-level`, else `EMU_LOG`, else `warn`.
pub fn init(level: log::LevelFilter) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// A level name as `--log-level` and `EMU_LOG` spell it.
pub fn parse_level(s: &str) -> Option<log::LevelFilter> {
    s.parse().ok()
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut line = StackLine::new();
        let _ = match record.level() {
            log::Level::Error | log::Level::Warn | log::Level::Info => write!(line, "emu: {}", record.args()),
            level => write!(line, "emu: {}: {}", level.as_str().to_ascii_lowercase(), record.args()),
        };
        line.finish();
        let _ = crate::fds::write_private(fd, line.as_bytes());
    }

    fn flush(&self) {}
}

/// A line formatted on the stack; overlong text is cut and marked.
pub struct StackLine {
    buf: [u8; 1024],
    len: usize,
    cut: bool,
}

impl StackLine {
    pub fn new() -> Self {
        StackLine { buf: [0; 1024], len: 0, cut: false }
    }

    fn finish(&mut self) {
        if self.cut {
            let tail = b"...\n";
            self.len = self.len.min(self.buf.len() - tail.len());
            self.buf[self.len..self.len + tail.len()].copy_from_slice(tail);
            self.len += tail.len();
        } else if self.len < self.buf.len() {
            self.buf[self.len] = b'\n';
            self.len += 1;
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Default for StackLine {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for StackLine {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Keep one byte for the newline.
        let room = self.buf.len() - 1 - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if n < s.len() {
            self.cut = true;
        }
        Ok(())
    }
}
