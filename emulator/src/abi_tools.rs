//! `emu abi check` and `emu abi diff`: table files looked at without running
//! anything, for scripts and for people editing tables.

use abi_tables::{ArgKind, Syscall, Table};
use std::fmt::Write as _;

/// Parses, resolves and checks a table against its personality: every
/// problem on a line of its own (`file:line: message`), or `ok`. The exit
/// status: 0 when clean, 1 when not, 2 when the file cannot be parsed.
pub fn check(name_or_path: &str) -> (i32, String) {
    let table = match abi_tables::find(name_or_path) {
        Ok(t) => t,
        Err(e) => return (2, format!("{e}\n")),
    };
    let Some(personality) = crate::personalities::named(&table.personality) else {
        return (1, format!("{}:1: no personality named `{}`\n", table.source, table.personality));
    };
    let mut problems = String::new();
    for call in table.calls.iter() {
        if let Err(m) = crate::dispatch::action_for(personality, call) {
            let _ = writeln!(problems, "{}:{}: {m}", table.source, call.line);
        }
        for a in call.args.iter() {
            if let Some(s) = a.kind.struct_name() {
                if personality.struct_decoder(s).is_none() {
                    let _ = writeln!(
                        problems,
                        "{}:{}: `{}`: the {} personality cannot show a `{s}`",
                        table.source,
                        call.line,
                        call.name,
                        personality.name()
                    );
                }
            }
        }
    }
    if problems.is_empty() {
        let what =
            if table.source == "built-in" { format!("{} (built-in)", table.name) } else { table.source.to_string() };
        (0, format!("{what}: ok ({} calls, {} value sets)\n", table.calls.len(), table.sets.len()))
    } else {
        (1, problems)
    }
}

/// One way two tables differ about a call.
struct Difference {
    name: String,
    what: &'static str,
    a: String,
    b: String,
}

/// The calls two tables disagree on, by name: present in one only, another
/// number, other argument kinds, another support level. As a table, or
/// JSON (`[{"call","what","a","b"}]`).
pub fn diff(a: &str, b: &str, json: bool) -> (i32, String) {
    let (ta, tb) = match (abi_tables::find(a), abi_tables::find(b)) {
        (Ok(ta), Ok(tb)) => (ta, tb),
        (Err(e), _) | (_, Err(e)) => return (2, format!("{e}\n")),
    };
    let mut out = Vec::new();
    for ca in ta.calls.iter() {
        match tb.call_by_name(&ca.name) {
            None => out.push(Difference {
                name: ca.name.to_string(),
                what: "only in a",
                a: ca.number.to_string(),
                b: "-".into(),
            }),
            Some(cb) => compare(&ta, ca, &tb, cb, &mut out),
        }
    }
    for cb in tb.calls.iter().filter(|cb| ta.call_by_name(&cb.name).is_none()) {
        out.push(Difference { name: cb.name.to_string(), what: "only in b", a: "-".into(), b: cb.number.to_string() });
    }
    let status = if out.is_empty() { 0 } else { 1 };
    if json {
        let rows: Vec<serde_json::Value> =
            out.iter().map(|d| serde_json::json!({ "call": d.name, "what": d.what, "a": d.a, "b": d.b })).collect();
        return (status, format!("{}\n", serde_json::Value::Array(rows)));
    }
    let mut text = format!("a: {} ({})\nb: {} ({})\n", ta.name, ta.source, tb.name, tb.source);
    if out.is_empty() {
        text.push_str("no differences\n");
        return (status, text);
    }
    let w = out.iter().map(|d| d.name.len()).max().unwrap_or(4).max(4);
    let _ = writeln!(text, "\n{:<w$}  {:<10}  {:<30}  B", "CALL", "WHAT", "A");
    for d in &out {
        let _ = writeln!(text, "{:<w$}  {:<10}  {:<30}  {}", d.name, d.what, d.a, d.b);
    }
    (status, text)
}

fn compare(ta: &Table, ca: &Syscall, tb: &Table, cb: &Syscall, out: &mut Vec<Difference>) {
    let name = ca.name.to_string();
    if ca.number != cb.number {
        out.push(Difference { name: name.clone(), what: "number", a: ca.number.to_string(), b: cb.number.to_string() });
    }
    let (ka, kb) = (kinds(ta, ca), kinds(tb, cb));
    if ka != kb {
        out.push(Difference { name: name.clone(), what: "arguments", a: ka, b: kb });
    }
    if ca.support != cb.support {
        out.push(Difference {
            name: name.clone(),
            what: "support",
            a: ca.support.to_string(),
            b: cb.support.to_string(),
        });
    }
    // Which of emu's implementations runs it (`... as NAME` changes it).
    if ca.implementation_name() != cb.implementation_name() {
        let (a, b) = (ca.implementation_name().to_string(), cb.implementation_name().to_string());
        out.push(Difference { name: name.clone(), what: "runs as", a, b });
    }
    // The release that introduced it (what --linux-version and --freebsd-version go by).
    if ca.since != cb.since {
        let release = |r: Option<abi_tables::Release>| r.map_or_else(|| "-".to_string(), |r| r.to_string());
        out.push(Difference { name, what: "since", a: release(ca.since), b: release(cb.since) });
    }
}

/// A call's argument kinds as a table writes them (sets by name).
fn kinds(t: &Table, c: &Syscall) -> String {
    let kind = |k: &ArgKind| match k {
        ArgKind::Flags(s) => format!("flags<{}>", t.set(*s).name),
        ArgKind::Enum(s) => format!("enum<{}>", t.set(*s).name),
        other => format!("{other:?}").to_lowercase(),
    };
    c.args.iter().map(|a| kind(&a.kind)).collect::<Vec<_>>().join(", ")
}
