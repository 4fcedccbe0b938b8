//! Which calls a trace shows, and how often they failed: emu's JSON traces
//! (`--trace-format=json`, whose image lines name each process's table) and
//! strace-format ones, emu's or strace's own (`[pid N] name(...) = -1 E...`,
//! `N name(...)`, and the `<unfinished ...>` / `<... name resumed>` halves).

use std::collections::{BTreeMap, HashMap};

/// How often a call was made, and how often it failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    pub calls: u64,
    pub errors: u64,
}

/// What a trace shows: calls by (table, name).
#[derive(Debug, Default)]
pub struct Observed {
    /// The program of the first image, when the trace names it.
    pub program: Option<String>,
    pub calls: BTreeMap<(String, String), Count>,
}

impl Observed {
    fn add(&mut self, abi: &str, name: &str, made: bool, failed: bool) {
        let c = self.calls.entry((abi.to_string(), name.to_string())).or_default();
        c.calls += made as u64;
        c.errors += failed as u64;
    }
}

/// What a strace-format line shows of a call.
#[derive(Debug, PartialEq, Eq)]
enum Shown<'a> {
    /// The whole call, and whether it failed.
    Whole(&'a str, bool),
    /// Its first half (`<unfinished ...>`): the call is counted here.
    Started(&'a str),
    /// Its second half (`<... name resumed>`): its failure is counted here.
    Resumed(&'a str, bool),
}

/// Reads a trace; `abi` is the table of calls no image line names (every
/// call of a strace-format trace).
pub fn trace(text: &str, abi: &str) -> Result<Observed, String> {
    let mut seen = Observed::default();
    // The table of each process, from its image lines; a process without
    // one (a fork's child) is taken to run the first image's.
    let mut tables: HashMap<i64, String> = HashMap::new();
    let mut first_table: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('{') {
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("line {}: not a JSON object: {e}", i + 1))?;
            let pid = v["pid"].as_i64().unwrap_or(0);
            if let (Some(image), Some(table)) = (v["image"].as_str(), v["abi"].as_str()) {
                seen.program.get_or_insert_with(|| image.to_string());
                first_table.get_or_insert_with(|| table.to_string());
                tables.insert(pid, table.to_string());
                continue;
            }
            // Calls have a number; a number no table knows has no name.
            let (Some(name), true) = (v["name"].as_str(), v.get("number").is_some()) else {
                continue;
            };
            let table = tables.get(&pid).or(first_table.as_ref()).map_or(abi, String::as_str);
            let failed = v["errno"].as_str().is_some_and(|e| e != "ERESTARTSYS");
            if v["errno"].as_str() == Some("ERESTARTSYS") {
                // Counted when it is made again.
                continue;
            }
            seen.add(table, name, true, failed);
        } else {
            match strace_line(line) {
                Some(Shown::Whole(name, failed)) => seen.add(abi, name, true, failed),
                Some(Shown::Started(name)) => seen.add(abi, name, true, false),
                Some(Shown::Resumed(name, failed)) => seen.add(abi, name, false, failed),
                None => {}
            }
        }
    }
    Ok(seen)
}

/// The call of a strace-format line; None for signals, exits, calls that
/// start again (counted when they do) and anything else.
fn strace_line(line: &str) -> Option<Shown<'_>> {
    let mut rest = line;
    if let Some(after) = rest.strip_prefix("[pid") {
        rest = after.split_once(']')?.1.trim_start();
    } else if let Some((pid, after)) = rest.split_once(' ') {
        // `strace -f -o FILE` starts each line with the pid.
        if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
            rest = after.trim_start();
        }
    }
    if let Some(resumed) = rest.strip_prefix("<... ") {
        let name = resumed.split_whitespace().next()?;
        return Some(Shown::Resumed(name, failed(rest)));
    }
    let open = rest.find('(')?;
    let name = &rest[..open];
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return None;
    }
    if name.starts_with("syscall_") {
        // A number the tracer did not know.
        return None;
    }
    if rest.ends_with("<unfinished ...>") {
        return Some(Shown::Started(name));
    }
    if result(rest).is_some_and(|r| r.starts_with("? ERESTART")) {
        return None;
    }
    Some(Shown::Whole(name, failed(rest)))
}

/// What follows a line's last ` = ` (strace pads before it to a column).
fn result(line: &str) -> Option<&str> {
    line.rsplit_once(" = ").map(|(_, r)| r)
}

/// Whether a line's result is a failure: `= -1 ENAME`.
fn failed(line: &str) -> bool {
    result(line).is_some_and(|r| r.starts_with("-1 E"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strace_lines() {
        let line = r#"openat(AT_FDCWD, "/x", O_RDONLY) = -1 ENOENT (No such file or directory)"#;
        assert_eq!(strace_line(line), Some(Shown::Whole("openat", true)));
        assert_eq!(strace_line("[pid  1234] read(3, \"a\", 1) = 1"), Some(Shown::Whole("read", false)));
        assert_eq!(
            strace_line("close(3)                 = -1 EBADF (Bad file descriptor)"),
            Some(Shown::Whole("close", true))
        );
        assert_eq!(strace_line("1234 write(1, \"a) = 1\", 1) = 1"), Some(Shown::Whole("write", false)));
        assert_eq!(strace_line("wait4(-1,  <unfinished ...>"), Some(Shown::Started("wait4")));
        assert_eq!(strace_line("<... wait4 resumed>NULL, 0) = -1 ECHILD (x)"), Some(Shown::Resumed("wait4", true)));
        assert_eq!(strace_line("read(0, \"\", 1) = ? ERESTARTSYS (To be restarted)"), None);
        assert_eq!(strace_line("--- SIGCHLD {si_signo=SIGCHLD} ---"), None);
        assert_eq!(strace_line("+++ exited with 0 +++"), None);
        assert_eq!(strace_line("exit_group(0)                           = ?"), Some(Shown::Whole("exit_group", false)));
    }

    #[test]
    fn json_lines_name_their_table() {
        let text = r#"{"pid":5,"image":"/bin/x","abi":"freebsd-amd64"}
{"pid":5,"tid":5,"name":"read","number":3,"args":[],"result":-1,"errno":"EBADF","duration_ns":1,"injected":false}
{"pid":6,"tid":6,"name":"read","number":3,"args":[],"result":1,"errno":null,"duration_ns":1,"injected":false}
{"pid":5,"exited":0}"#;
        let seen = trace(text, "linux-x86_64").unwrap();
        assert_eq!(seen.program.as_deref(), Some("/bin/x"));
        assert_eq!(seen.calls[&("freebsd-amd64".into(), "read".into())], Count { calls: 2, errors: 1 });
    }
}
