//! `--trace-format=json`: one JSON object per line, for tools. The schema is
//! docs/trace-json.schema.json. A call's line:
//!
//! ```text
//! {"pid":7,"tid":7,"name":"openat","number":257,"args":["AT_FDCWD","\"/etc/hostname\"","O_RDONLY"],
//!  "result":3,"errno":null,"duration_ns":5123,"injected":false}
//! ```
//!
//! Each image starts with `{"pid":7,"image":"/usr/bin/ls","abi":"linux-x86_64"}`,
//! which names the table of the calls after it. Each argument is the text
//! strace's format shows for it; `result` is the
//! value returned (-1 with `errno` the guest's errno name for a failure,
//! null for a call that starts again or does not return). Signals and the
//! process's end are objects of their own (`"signal"`, `"exited"`,
//! `"killed"`). Arguments are decoded when the call has returned (in the
//! strace format, those it reads are decoded before).

use super::args::{self, ArgEnv};
use super::{is_shown, Tracer};
use crate::call::Call;
use crate::outcome::Outcome;
use crate::sys::{self, SysResult};
use abi_tables::RetKind;
use std::fmt::Write;

/// `s` as a JSON string.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl Tracer {
    /// The call's line, once it returned (`outcome`), or as it is made for
    /// one that does not return (None).
    pub(super) fn json_call(&self, call: &Call, outcome: Option<&Outcome>) {
        let decl = call.slot.call;
        let result: SysResult = match outcome {
            Some(Outcome::Value(v)) => Ok(v.rax),
            Some(Outcome::Error(e)) => Err(*e),
            _ => Err(crate::sys::Errno::EINTR),
        };
        let env = ArgEnv {
            table: self.table,
            personality: self.personality,
            call: decl,
            args: &call.args,
            result: outcome.map(|_| &result),
            string_limit: self.string_limit,
            sp: call.ctx.rsp(),
        };
        let mut line = String::with_capacity(256);
        let _ = write!(line, "{{\"pid\":{},\"tid\":{},\"name\":", crate::process::self_pid(), sys::gettid());
        string(&mut line, call.name());
        let _ = write!(line, ",\"number\":{},\"args\":[", call.number);
        let mut arg = String::new();
        let mut first = true;
        for i in 0..decl.args.len() {
            if !is_shown(&decl.args[i], &call.args) || (outcome.is_none() && decl.args[i].kind.is_output()) {
                continue;
            }
            arg.clear();
            args::format_arg(&mut arg, &env, i);
            if !first {
                line.push(',');
            }
            first = false;
            string(&mut line, &arg);
        }
        line.push(']');
        let (value, errno) = match outcome {
            None => ("null".to_string(), None),
            Some(Outcome::Value(v)) => {
                let value = if matches!(decl.ret, RetKind::UInt | RetKind::Hex | RetKind::Ptr) {
                    v.rax.to_string()
                } else {
                    (v.rax as i64).to_string()
                };
                (value, None)
            }
            Some(Outcome::Error(e)) => ("-1".to_string(), Some(self.errno_name(*e))),
            Some(Outcome::Restart) => ("null".to_string(), Some("ERESTARTSYS".to_string())),
            Some(Outcome::JustReturn) => ((call.ctx.rax() as i64).to_string(), None),
        };
        let _ = write!(line, ",\"result\":{value},\"errno\":");
        match errno {
            Some(name) => string(&mut line, &name),
            None => line.push_str("null"),
        }
        let took = crate::stats::now().saturating_sub(call.thread.trace_started.get());
        let duration = if outcome.is_some() { took } else { 0 };
        let _ = writeln!(line, ",\"duration_ns\":{duration},\"injected\":{}}}", call.injected);
        self.emit(&line);
    }

    /// The guest's name of a host errno (`ENOENT`), or `E<number>`.
    fn errno_name(&self, e: crate::sys::Errno) -> String {
        let guest = self.personality.errno_to_guest(e);
        self.table
            .set_by_name("errno")
            .and_then(|s| s.name_of(guest as i64))
            .map_or_else(|| format!("E{guest}"), |v| v.name.to_string())
    }

    /// A number the table does not have.
    pub(super) fn json_unknown(&self, number: u64, a: &[u64]) {
        let mut line = String::new();
        let _ = write!(
            line,
            "{{\"pid\":{},\"tid\":{},\"name\":null,\"number\":{number},\"args\":[",
            crate::process::self_pid(),
            sys::gettid()
        );
        for (i, v) in a.iter().take(6).enumerate() {
            if i > 0 {
                line.push(',');
            }
            let _ = write!(line, "\"{v:#x}\"");
        }
        let _ = writeln!(line, "],\"result\":-1,\"errno\":\"ENOSYS\",\"duration_ns\":0,\"injected\":false}}");
        self.emit(&line);
    }

    /// An image starts (the first, and each one an execve brings): which
    /// program, and the table that names the calls of the lines after it.
    pub fn json_image(&self, program: &std::path::Path) {
        use std::os::unix::ffi::OsStrExt;
        let mut line = format!("{{\"pid\":{},\"image\":", crate::process::self_pid());
        string(&mut line, &String::from_utf8_lossy(program.as_os_str().as_bytes()));
        line.push_str(",\"abi\":");
        string(&mut line, &self.table.name);
        line.push_str("}\n");
        self.emit(&line);
    }

    /// A signal the guest takes or dies of.
    pub(super) fn json_signal(&self, name: &str, code: &str) {
        let mut line = String::new();
        let _ = write!(line, "{{\"pid\":{},\"tid\":{},\"signal\":", crate::process::self_pid(), sys::gettid());
        string(&mut line, name);
        line.push_str(",\"code\":");
        string(&mut line, code);
        line.push_str("}\n");
        self.emit(&line);
    }

    /// The process's end.
    pub(super) fn json_ended(&self, ending: crate::lifecycle::Ending) {
        let pid = crate::process::self_pid();
        let line = match ending {
            crate::lifecycle::Ending::Exited(status) => format!("{{\"pid\":{pid},\"exited\":{status}}}\n"),
            crate::lifecycle::Ending::Killed(sig) => {
                let mut l = format!("{{\"pid\":{pid},\"killed\":");
                string(&mut l, &self.personality.signal_name(sig).to_string());
                l.push_str("}\n");
                l
            }
        };
        self.emit(&line);
    }
}
