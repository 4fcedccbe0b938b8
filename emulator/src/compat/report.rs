//! The compatibility report: each distinct call a program made, with what
//! every table says of the call of that name (support level, note, the
//! release that first had it), and per table what the program needs: the
//! oldest release that has all its calls, the calls it lacks or refuses.
//! Rendered as text, Markdown, or JSON (docs/compat-report.schema.json).

use super::read::{Count, Observed};
use abi_tables::{Release, Support, Syscall, Table};
use std::fmt::Write as _;

pub struct Report<'t> {
    pub program: String,
    pub rows: Vec<Row<'t>>,
    pub tables: Vec<&'t Table>,
}

pub struct Row<'t> {
    /// The table of the guest that made it.
    pub abi: String,
    pub name: String,
    pub count: Count,
    /// For each of `Report::tables`, its call of that name.
    pub entries: Vec<Option<&'t Syscall>>,
}

/// What one table makes of the program's calls.
struct Needs<'t> {
    /// The oldest release with every call it has, and the call that sets it.
    release: Option<(Release, &'t str)>,
    absent: Vec<&'t str>,
    unsupported: Vec<&'t str>,
    refused: Vec<&'t str>,
    partial: Vec<&'t str>,
}

impl<'t> Report<'t> {
    /// `tables` in the order of their columns; the tables the program's
    /// calls were made in come first.
    pub fn new(program: String, observed: &Observed, mut tables: Vec<&'t Table>) -> Self {
        tables.sort_by_key(|t| !observed.calls.keys().any(|(abi, _)| *abi == t.name));
        let rows = observed
            .calls
            .iter()
            .map(|((abi, name), count)| Row {
                abi: abi.clone(),
                name: name.clone(),
                count: *count,
                entries: tables.iter().map(|t| t.call_by_name(name)).collect(),
            })
            .collect();
        Report { program, rows, tables }
    }

    fn needs(&self, column: usize) -> Needs<'_> {
        let mut n = Needs { release: None, absent: vec![], unsupported: vec![], refused: vec![], partial: vec![] };
        for row in &self.rows {
            let Some(call) = row.entries[column] else {
                n.absent.push(&row.name);
                continue;
            };
            if let Some(since) = call.since {
                if n.release.is_none_or(|(r, _)| since > r) {
                    n.release = Some((since, &row.name));
                }
            }
            match call.support {
                Support::Supported => {}
                Support::Partial => n.partial.push(&row.name),
                Support::Unsupported => n.unsupported.push(&row.name),
                Support::Error { .. } => n.refused.push(&row.name),
            }
        }
        n
    }

    fn totals(&self) -> (u64, u64) {
        self.rows.iter().fold((0, 0), |(c, e), r| (c + r.count.calls, e + r.count.errors))
    }

    fn headline(&self) -> String {
        let (calls, errors) = self.totals();
        format!("{}: {} distinct calls, {calls} in all, {errors} failed", self.program, self.rows.len())
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}\n", self.headline());
        let name_w = self.rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
        let col_w = 22;
        let mut head = format!("{:<name_w$}  {:>7}  {:>6}", "CALL", "CALLS", "ERRORS");
        for t in &self.tables {
            let _ = write!(head, "  {:<col_w$}", t.name);
        }
        let _ = writeln!(out, "{}", head.trim_end());
        for row in &self.rows {
            let mut line = format!("{:<name_w$}  {:>7}  {:>6}", row.name, row.count.calls, row.count.errors);
            for e in &row.entries {
                let _ = write!(line, "  {:<col_w$}", cell(*e));
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        out.push('\n');
        for (i, t) in self.tables.iter().enumerate() {
            let _ = writeln!(out, "{}: {}", t.name, self.needs(i).summary());
        }
        out
    }

    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}\n", self.headline());
        let _ = write!(out, "| call | calls | errors |");
        for t in &self.tables {
            let _ = write!(out, " {} |", t.name);
        }
        let _ = write!(out, "\n| --- | ---: | ---: |");
        for _ in &self.tables {
            out.push_str(" --- |");
        }
        out.push('\n');
        for row in &self.rows {
            let _ = write!(out, "| `{}` | {} | {} |", row.name, row.count.calls, row.count.errors);
            for e in &row.entries {
                let _ = write!(out, " {} |", cell(*e));
            }
            out.push('\n');
        }
        out.push('\n');
        for (i, t) in self.tables.iter().enumerate() {
            let _ = writeln!(out, "* **{}**: {}", t.name, self.needs(i).summary());
        }
        out
    }

    pub fn json(&self) -> String {
        use serde_json::{json, Value};
        let (calls, errors) = self.totals();
        let entry = |e: Option<&Syscall>| match e {
            None => Value::Null,
            Some(c) => json!({
                "support": level(&c.support),
                "since": c.since.map(|r| r.to_string()),
                "note": c.note.as_ref(),
            }),
        };
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                let tables: serde_json::Map<String, Value> =
                    self.tables.iter().zip(&r.entries).map(|(t, e)| (t.name.to_string(), entry(*e))).collect();
                json!({ "name": r.name, "abi": r.abi, "calls": r.count.calls, "errors": r.count.errors, "tables": tables })
            })
            .collect();
        let needs: serde_json::Map<String, Value> = self
            .tables
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let n = self.needs(i);
                let value = json!({
                    "oldest_release": n.release.map(|(r, _)| r.to_string()),
                    "set_by": n.release.map(|(_, c)| c),
                    "absent": n.absent,
                    "unsupported": n.unsupported,
                    "refused": n.refused,
                    "partial": n.partial,
                });
                (t.name.to_string(), value)
            })
            .collect();
        let report = json!({
            "program": self.program,
            "distinct_calls": self.rows.len(),
            "calls": calls,
            "errors": errors,
            "rows": rows,
            "tables": needs,
        });
        let mut text = serde_json::to_string_pretty(&report).unwrap_or_default();
        text.push('\n');
        text
    }
}

impl Needs<'_> {
    fn summary(&self) -> String {
        let mut parts = Vec::new();
        match self.release {
            Some((r, call)) => parts.push(format!("every call it made is there from {r} on (the newest: {call})")),
            None => parts.push("records no releases".to_string()),
        }
        let list = |what: &str, calls: &[&str]| (!calls.is_empty()).then(|| format!("{what}: {}", calls.join(", ")));
        parts.extend(list("no call of that name", &self.absent));
        parts.extend(list("unsupported", &self.unsupported));
        parts.extend(list("refused", &self.refused));
        parts.extend(list("partial", &self.partial));
        parts.join("; ")
    }
}

/// A table's entry in a row: `supported 2.6.16`, or `-` for no such call.
fn cell(e: Option<&Syscall>) -> String {
    match e {
        None => "-".to_string(),
        Some(c) => match c.since {
            Some(r) => format!("{} {r}", level(&c.support)),
            None => level(&c.support),
        },
    }
}

fn level(s: &Support) -> String {
    s.to_string()
}
