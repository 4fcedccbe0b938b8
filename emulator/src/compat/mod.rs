//! `emu compat`: which calls a program makes, and what would break if it
//! ran on another ABI or an older kernel. It runs the program under emu with
//! a JSON trace (or reads a trace already made, emu's or strace's) and
//! reports each distinct call against every built-in table.

mod read;
mod report;

use std::ffi::OsString;
use std::io::{Read, Seek};
use std::os::fd::FromRawFd;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

pub struct CompatOptions {
    pub format: Format,
    /// Read this trace instead of running a program.
    pub from_trace: Option<PathBuf>,
    /// The table of a trace's calls that no image line names (strace's traces).
    pub abi: String,
    /// Where the report goes (else stderr, after the program's own output,
    /// as strace -c does).
    pub output: Option<PathBuf>,
    /// emu options for the run (`--abi-table`, `--linux-version`, ...).
    pub emu_options: Vec<OsString>,
    pub program: Vec<OsString>,
}

/// Runs the command; returns the program's exit status (or 128 + the signal
/// that killed it), or 2 for bad input.
pub fn run(opts: CompatOptions) -> i32 {
    let (text, program, status) = match &opts.from_trace {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(t) => (t, path.display().to_string(), 0),
            Err(e) => return fail(2, format!("{}: {e}", path.display())),
        },
        None => match traced_run(&opts) {
            Ok((text, status)) => {
                let program = opts.program.first().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
                (text, program, status)
            }
            Err(m) => return fail(2, m),
        },
    };
    let observed = match read::trace(&text, &opts.abi) {
        Ok(o) => o,
        Err(m) => return fail(2, format!("{program}: {m}")),
    };
    let tables: Vec<&abi_tables::Table> = abi_tables::BUILTIN.to_vec();
    let report = report::Report::new(observed.program.clone().unwrap_or(program), &observed, tables);
    let rendered = match opts.format {
        Format::Text => report.text(),
        Format::Markdown => report.markdown(),
        Format::Json => report.json(),
    };
    let written = match &opts.output {
        Some(path) => std::fs::write(path, rendered).map_err(|e| format!("{}: {e}", path.display())),
        None => {
            use std::io::Write;
            std::io::stderr().write_all(rendered.as_bytes()).map_err(|e| e.to_string())
        }
    };
    match written {
        Ok(()) => status,
        Err(m) => fail(1, m),
    }
}

fn fail(status: i32, message: impl std::fmt::Display) -> i32 {
    eprintln!("emu compat: {message}");
    status
}

/// Runs the program under this emu, tracing every call as JSON into an
/// anonymous file: the trace, and how the program ended.
fn traced_run(opts: &CompatOptions) -> Result<(String, i32), String> {
    if opts.program.is_empty() {
        return Err("no program to run (or --from-trace FILE)".into());
    }
    let emu = std::env::current_exe().map_err(|e| format!("cannot find emu itself: {e}"))?;
    // SAFETY: creates a descriptor of ours (close-on-exec: the run opens
    // it by its /proc path, so that the program has no descriptor of it).
    let fd = unsafe { libc::memfd_create(c"emu-compat-trace".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!("cannot make the trace file: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the descriptor is ours alone; the File closes it.
    let mut file = unsafe { std::fs::File::from_raw_fd(fd) };
    let path = format!("/proc/{}/fd/{fd}", std::process::id());
    let status = std::process::Command::new(&emu)
        .args(["--trace", "--trace-format=json", "-o", &path])
        .args(&opts.emu_options)
        .arg("--")
        .args(&opts.program)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", emu.display()))?;
    let status = {
        use std::os::unix::process::ExitStatusExt;
        status.code().or(status.signal().map(|s| 128 + s)).unwrap_or(1)
    };
    let mut text = String::new();
    file.rewind().and_then(|_| file.read_to_string(&mut text)).map_err(|e| format!("cannot read the trace: {e}"))?;
    Ok((text, status))
}
