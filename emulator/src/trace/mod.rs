//! `--trace`: strace's line format, so that habits and tools carry over.
//!
//! ```text
//! openat(AT_FDCWD, "/etc/hostname", O_RDONLY) = 3
//! read(3, "vm\n", 200)                    = 3
//! openat(AT_FDCWD, "/nonexistent", O_RDONLY) = -1 ENOENT (No such file or directory)
//! exit_group(0)                           = ?
//! +++ exited with 0 +++
//! ```
//!
//! A line is composed in the thread's scratch buffer: the arguments the call
//! reads when it is entered, the ones it fills when it returns, and written
//! with one write(2) when the call is done, so lines of several processes
//! sharing the output do not interleave. A call that does not return
//! (`exit_group`) is written when it is entered, with `= ?`.

mod args;
pub mod common;
mod json;
pub mod quote;

pub use args::flags;
pub mod siginfo;

use crate::call::Call;
use crate::lifecycle::Ending;
use crate::outcome::Outcome;
use crate::personality::Personality;
use crate::sys::{self, SysResult};
use abi_tables::RetKind;
use abi_tables::Table;
use std::ffi::OsString;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// strace writes `= result` at this column.
const RESULT_COLUMN: usize = 40;

pub struct Tracer {
    fd: AtomicI32,
    string_limit: usize,
    /// Once the guest has forked, every line names its process.
    several: AtomicBool,
    /// Numbers the table does not know are shown only when every call is.
    shows_unknown: bool,
    /// The guest's table and personality, which name what is shown.
    table: &'static Table,
    personality: &'static dyn Personality,
    /// One JSON object per line (`--trace-format=json`, see `json`).
    json: bool,
}

/// Where a structure decoder writes: `{st_mode=S_IFREG|0644, st_size=3, ...}`.
pub struct StructWriter<'a> {
    pub out: &'a mut String,
    pub string_limit: usize,
    /// The call's result, once it has succeeded (a length or a count).
    pub result: Option<i64>,
}

impl StructWriter<'_> {
    /// Appends formatted text.
    pub fn text(&mut self, args: std::fmt::Arguments) {
        let _ = self.out.write_fmt(args);
    }

    /// Appends a quoted guest string read from `addr`, cut at the string limit.
    pub fn quoted(&mut self, bytes: &[u8]) {
        let cut = bytes.len() > self.string_limit;
        quote::quote(self.out, &bytes[..bytes.len().min(self.string_limit)], cut);
    }
}

impl Tracer {
    /// `fd` is emu's own (see `fds`); `several` is true when this process
    /// was started by a traced parent (its lines carry pids from the start).
    pub fn new(
        fd: i32,
        string_limit: usize,
        several: bool,
        shows_unknown: bool,
        table: &'static Table,
        personality: &'static dyn Personality,
        json: bool,
    ) -> Self {
        Tracer {
            fd: AtomicI32::new(fd),
            string_limit,
            several: AtomicBool::new(several),
            shows_unknown,
            table,
            personality,
            json,
        }
    }

    /// The tracer of a vfork child: the same output, which now names processes.
    pub fn copy(&self) -> Self {
        Tracer::new(self.fd(), self.string_limit, true, self.shows_unknown, self.table, self.personality, self.json)
    }

    pub fn shows_unknown(&self) -> bool {
        self.shows_unknown
    }

    pub fn fd(&self) -> i32 {
        self.fd.load(Ordering::Relaxed)
    }

    pub fn fd_moved(&self, old: i32, new: i32) {
        let _ = self.fd.compare_exchange(old, new, Ordering::AcqRel, Ordering::Relaxed);
    }

    pub fn several_processes(&self) {
        self.several.store(true, Ordering::Relaxed);
    }

    /// Options that let an exec'd emu write to the same trace.
    pub fn relaunch_options(&self, args: &mut Vec<OsString>, inherited: &mut Vec<i32>) {
        args.push(format!("--trace-fd={}", self.fd()).into());
        if self.several.load(Ordering::Relaxed) {
            args.push("--trace-pids".into());
        }
        inherited.push(self.fd());
    }

    fn prefix(&self, line: &mut String) {
        if self.several.load(Ordering::Relaxed) {
            // strace -f names the thread (a process's first thread has its pid).
            let _ = write!(line, "[pid {:>5}] ", sys::gettid());
        }
    }

    /// Puts the prefix before a line composed without one: whether it is
    /// needed is known only when the line is complete (a fork in between).
    fn prefix_line(&self, line: &mut String) {
        if self.several.load(Ordering::Relaxed) {
            let mut prefix = String::new();
            self.prefix(&mut prefix);
            line.insert_str(0, &prefix);
        }
    }

    /// Whether lines are JSON objects (`--trace-format=json`).
    pub fn is_json(&self) -> bool {
        self.json
    }

    fn emit(&self, line: &str) {
        let _ = crate::fds::write_private(|| self.fd(), line.as_bytes());
    }

    /// The call is about to be carried out: its name and the arguments it reads.
    pub fn enter(&self, call: &mut Call) {
        if self.json {
            call.thread.trace_started.set(crate::stats::now());
            call.thread.trace_pid.set(crate::process::self_pid());
            if call.slot.call.ret == RetKind::None {
                self.json_call(call, None);
            }
            return;
        }
        let mut line = call.thread.trace_line.take();
        line.clear();
        line.push_str(call.name());
        line.push('(');
        let decl = call.slot.call;
        let noreturn = decl.ret == RetKind::None;
        let env = args::ArgEnv {
            table: self.table,
            personality: self.personality,
            call: decl,
            args: &call.args,
            result: None,
            string_limit: self.string_limit,
            sp: call.ctx.rsp(),
        };
        let mut shown = 0;
        let mut resume = decl.args.len();
        for (i, a) in decl.args.iter().enumerate() {
            if a.kind.is_output() && !noreturn {
                resume = i;
                break;
            }
            if !is_shown(a, &call.args) {
                continue;
            }
            if shown > 0 {
                line.push_str(", ");
            }
            args::format_arg(&mut line, &env, i);
            shown += 1;
        }
        call.thread.trace_resume.set((resume as u8, shown as u8));
        call.thread.trace_pid.set(crate::process::self_pid());
        if noreturn {
            line.push(')');
            self.prefix_line(&mut line);
            pad(&mut line);
            line.push_str("= ?\n");
            self.emit(&line);
            line.clear();
        }
        call.thread.trace_line.replace(line);
    }

    /// The call returned: the arguments it filled, and its result.
    pub fn exit(&self, call: &mut Call, outcome: &Outcome) {
        // What the argument decoders go by: a call that did not succeed
        // filled nothing.
        let result: SysResult = match outcome {
            Outcome::Value(v) => Ok(v.rax),
            Outcome::Error(e) => Err(*e),
            Outcome::Restart | Outcome::JustReturn => Err(crate::sys::Errno::EINTR),
        };
        let result = &result;
        let decl = call.slot.call;
        if decl.ret == RetKind::None {
            return;
        }
        if self.json {
            // The child of fork, vfork or clone: one line, in the parent.
            if call.thread.trace_pid.get() == crate::process::self_pid() {
                self.json_call(call, Some(outcome));
            }
            return;
        }
        let mut line = call.thread.trace_line.take();
        if call.thread.trace_pid.get() != crate::process::self_pid() {
            // The child of fork, vfork or clone: strace shows the call once, in the parent.
            line.clear();
            call.thread.trace_line.replace(line);
            return;
        }
        let (resume, mut shown) = call.thread.trace_resume.get();
        let env = args::ArgEnv {
            table: self.table,
            personality: self.personality,
            call: decl,
            args: &call.args,
            result: Some(result),
            string_limit: self.string_limit,
            sp: call.ctx.rsp(),
        };
        for i in resume as usize..decl.args.len() {
            if !is_shown(&decl.args[i], &call.args) {
                continue;
            }
            if shown > 0 {
                line.push_str(", ");
            }
            args::format_arg(&mut line, &env, i);
            shown += 1;
        }
        line.push(')');
        self.prefix_line(&mut line);
        pad(&mut line);
        line.push_str("= ");
        match outcome {
            // sigreturn and the like: the value the guest resumes with.
            Outcome::JustReturn => match call.ctx.rax() as i64 {
                v @ -4095..=-1 => args::format_return(
                    &mut line,
                    self.table,
                    self.personality,
                    RetKind::Int,
                    &Outcome::Error(crate::sys::Errno(-v as i32)),
                ),
                v => {
                    let _ = write!(line, "{v}");
                }
            },
            o => args::format_return(&mut line, self.table, self.personality, decl.ret, o),
        }
        if call.injected {
            line.push_str(" (INJECTED)");
        }
        line.push('\n');
        self.emit(&line);
        line.clear();
        call.thread.trace_line.replace(line);
    }

    /// The program emu started, as strace shows the exec it starts with:
    /// `execve("/bin/ls", ["ls", "-l"], 0x4ffffffde0f8 /* 23 vars */) = 0`.
    pub fn initial_exec(&self, path: &[u8], argv: &[Vec<u8>], envp: u64, envc: usize) {
        if self.json {
            let mut args = [String::new(), String::from("["), format!("{envp:#x} /* {envc} vars */")];
            quote::quote(&mut args[0], path, false);
            for (i, arg) in argv.iter().enumerate() {
                if i > 0 {
                    args[1].push_str(", ");
                }
                quote::quote(&mut args[1], &arg[..arg.len().min(self.string_limit)], arg.len() > self.string_limit);
            }
            args[1].push(']');
            let number = self.table.call_by_name("execve").map_or(0, |c| c.number);
            let mut line = format!(
                "{{\"pid\":{},\"tid\":{},\"name\":\"execve\",\"number\":{number},\"args\":[",
                crate::process::self_pid(),
                sys::gettid()
            );
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                json::string(&mut line, a);
            }
            line.push_str("],\"result\":0,\"errno\":null,\"duration_ns\":0,\"injected\":false}\n");
            self.emit(&line);
            return;
        }
        let mut line = String::new();
        self.prefix(&mut line);
        line.push_str("execve(");
        quote::quote(&mut line, path, false);
        line.push_str(", [");
        for (i, arg) in argv.iter().enumerate() {
            if i > 0 {
                line.push_str(", ");
            }
            let cut = arg.len() > self.string_limit;
            quote::quote(&mut line, &arg[..arg.len().min(self.string_limit)], cut);
        }
        let _ = write!(line, "], {envp:#x} /* {envc} vars */)");
        pad(&mut line);
        line.push_str("= 0\n");
        self.emit(&line);
    }

    /// A number the table does not have: `syscall_0x3e7(0x1, ...) = -1 ENOSYS (...)`.
    pub fn unknown(&self, number: u64, a: &[u64]) {
        if self.json {
            return self.json_unknown(number, a);
        }
        let mut line = String::new();
        self.prefix(&mut line);
        let _ = write!(
            line,
            "syscall_{number:#x}({:#x}, {:#x}, {:#x}, {:#x}, {:#x}, {:#x})",
            a[0], a[1], a[2], a[3], a[4], a[5]
        );
        pad(&mut line);
        line.push_str("= ");
        args::format_return(
            &mut line,
            self.table,
            self.personality,
            RetKind::Int,
            &Outcome::Error(crate::sys::Errno::ENOSYS),
        );
        line.push('\n');
        self.emit(&line);
    }

    /// A signal the guest is about to take, or die of:
    /// `--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---`.
    pub fn signal(&self, sig: i32, info: &libc::siginfo_t) {
        let name = self.personality.signal_name(sig);
        if self.json {
            return self.json_signal(&name.to_string(), &self.personality.si_code_name(sig, info.si_code));
        }
        let mut line = String::new();
        self.prefix(&mut line);
        let _ =
            write!(line, "--- {name} {{si_signo={name}, si_code={}", self.personality.si_code_name(sig, info.si_code));
        siginfo::details(&mut line, sig, info);
        line.push_str("} ---\n");
        self.emit(&line);
    }

    /// The last line: `+++ exited with 0 +++`.
    pub fn process_ended(&self, ending: Ending) {
        if self.json {
            return self.json_ended(ending);
        }
        let mut line = String::new();
        self.prefix(&mut line);
        let _ = match ending {
            Ending::Exited(status) => writeln!(line, "+++ exited with {status} +++"),
            Ending::Killed(sig) => writeln!(line, "+++ killed by {} +++", self.personality.signal_name(sig)),
        };
        self.emit(&line);
    }
}

/// Whether an argument with a condition (`mode if flags has O_CREAT`) is shown.
fn is_shown(arg: &abi_tables::Arg, values: &[u64]) -> bool {
    match arg.shown_if {
        Some(c) => values[c.arg as usize] & c.mask != 0,
        None => true,
    }
}

fn pad(line: &mut String) {
    // As strace counts it: from the start of the line, pid prefix included.
    let start = line.rfind('\n').map_or(0, |i| i + 1);
    let width = line[start..].chars().count();
    if width < RESULT_COLUMN {
        line.extend(std::iter::repeat_n(' ', RESULT_COLUMN - width));
    } else {
        line.push(' ');
    }
}
