//! Turns every built-in table file into Rust statics (`$OUT_DIR/builtin.rs`),
//! so the emulator never parses or allocates to look a call up, and holding
//! no pointer, so the executable's start-up has none of them to relocate
//! (`src/format/pooled.rs`). A table that does not parse fails the build
//! with `file:line: message`.

#[path = "src/format/mod.rs"]
#[allow(dead_code, unused_imports)]
mod format;

use format::{ArgKind, RetKind, SetKind, Support, Table};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

/// What `format` reaches the generated data through (`format/pooled.rs`).
/// The build script only parses, so it never holds a `Built` value and
/// these stay empty.
mod built {
    use crate::format::{Arg, Syscall, Value, ValueSet};
    pub static TEXT: &str = "";
    pub static ARGS: [Arg; 0] = [];
    pub static VALUES: [Value; 0] = [];
    pub static SETS: [ValueSet; 0] = [];
    pub static CALLS: [Syscall; 0] = [];
    pub static INDEXES: [u16; 0] = [];
}

/// The built-in tables: (file under abi-tables/, Rust identifier).
const BUILTIN: &[(&str, &str)] = &[("linux-x86_64", "LINUX_X86_64"), ("freebsd-amd64", "FREEBSD_AMD64")];

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = String::new();
    let mut pools = Pools::default();
    let mut parsed: Vec<Table> = Vec::new();
    for (file, ident) in BUILTIN {
        let path = dir.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
        let earlier = parsed.clone();
        let lookup = move |name: &str| {
            earlier.iter().find(|t| t.name == name).cloned().ok_or_else(|| format!("no built-in table named `{name}`"))
        };
        let table =
            format::parse(&text, &format!("abi-tables/{file}"), &lookup).unwrap_or_else(|e| fail(&e.to_string()));
        emit(&mut out, &mut pools, ident, &table);
        parsed.push(table);
    }
    writeln!(out, "/// Every built-in table.").unwrap();
    let idents: Vec<&str> = BUILTIN.iter().map(|(_, i)| *i).collect();
    writeln!(
        out,
        "pub static BUILTIN: &[&Table] = &[{}];",
        idents.iter().map(|i| format!("&{i}")).collect::<Vec<_>>().join(", ")
    )
    .unwrap();
    pools.emit(&mut out);
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("builtin.rs");
    std::fs::write(dest, out).unwrap();
    println!("cargo:rerun-if-changed=src/format");
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}

/// The generated arrays every built-in table's text and lists are ranges
/// of, as Rust expressions (`format/pooled.rs` says why).
#[derive(Default)]
struct Pools {
    text: String,
    /// Where each distinct string already is in `text`.
    placed: HashMap<String, u32>,
    args: Vec<String>,
    values: Vec<String>,
    sets: Vec<String>,
    calls: Vec<String>,
    indexes: Vec<u16>,
}

impl Pools {
    fn text(&mut self, s: &str) -> String {
        let start = match self.placed.get(s) {
            Some(&start) => start,
            None => {
                let start = u32::try_from(self.text.len()).expect("less than 4 GiB of text");
                self.text.push_str(s);
                self.placed.insert(s.to_string(), start);
                start
            }
        };
        format!("Text::Built {{ start: {start}, len: {} }}", s.len())
    }

    /// Appends `items` to `pool` and returns their range as a `List`.
    fn list(pool: &mut Vec<String>, items: Vec<String>) -> String {
        let start = pool.len();
        pool.extend(items);
        format!("List::Built {{ start: {start}, len: {} }}", pool.len() - start)
    }

    fn indexes(&mut self, items: &[u16]) -> String {
        let start = self.indexes.len();
        self.indexes.extend_from_slice(items);
        format!("List::Built {{ start: {start}, len: {} }}", items.len())
    }

    fn emit(&self, out: &mut String) {
        writeln!(out, "/// The text of every built-in table, each string once.").unwrap();
        writeln!(out, "pub static TEXT: &str = {:?};", self.text).unwrap();
        for (name, items, ty) in [
            ("ARGS", &self.args, "Arg"),
            ("VALUES", &self.values, "Value"),
            ("SETS", &self.sets, "ValueSet"),
            ("CALLS", &self.calls, "Syscall"),
        ] {
            writeln!(out, "pub static {name}: [{ty}; {}] = [", items.len()).unwrap();
            for item in items {
                writeln!(out, "    {item},").unwrap();
            }
            writeln!(out, "];").unwrap();
        }
        writeln!(out, "pub static INDEXES: [u16; {}] = {:?};", self.indexes.len(), self.indexes).unwrap();
    }
}

fn emit(out: &mut String, pools: &mut Pools, ident: &str, t: &Table) {
    let mut sets = Vec::new();
    for set in t.sets.iter() {
        let kind = match set.kind {
            SetKind::Flags => "SetKind::Flags",
            SetKind::Enum => "SetKind::Enum",
        };
        let values: Vec<String> = set
            .values
            .iter()
            .map(|v| {
                format!(
                    "Value {{ name: {}, value: {}, mask: {:#x}, description: {} }}",
                    pools.text(&v.name),
                    v.value,
                    v.mask,
                    pools.text(&v.description)
                )
            })
            .collect();
        let values = Pools::list(&mut pools.values, values);
        sets.push(format!("ValueSet {{ name: {}, kind: {kind}, values: {values} }}", pools.text(&set.name)));
    }
    let sets = Pools::list(&mut pools.sets, sets);
    let mut calls = Vec::new();
    for c in t.calls.iter() {
        let support = match &c.support {
            Support::Supported => "Support::Supported".to_string(),
            Support::Partial => "Support::Partial".to_string(),
            Support::Unsupported => "Support::Unsupported".to_string(),
            Support::Error { errno, name } => {
                format!("Support::Error {{ errno: {errno}, name: {} }}", pools.text(name))
            }
        };
        let args: Vec<String> = c
            .args
            .iter()
            .map(|a| {
                let kind = match &a.kind {
                    ArgKind::InStruct(x) => format!("ArgKind::InStruct({})", pools.text(x)),
                    ArgKind::OutStruct(x) => format!("ArgKind::OutStruct({})", pools.text(x)),
                    ArgKind::InOutStruct(x) => format!("ArgKind::InOutStruct({})", pools.text(x)),
                    ArgKind::ErrStruct(x) => format!("ArgKind::ErrStruct({})", pools.text(x)),
                    ArgKind::StackStruct(x) => format!("ArgKind::StackStruct({})", pools.text(x)),
                    other => format!("ArgKind::{other:?}"),
                };
                let shown_if = match a.shown_if {
                    Some(c) => format!("Some(ShownIf {{ arg: {}, mask: {:#x} }})", c.arg, c.mask),
                    None => "None".into(),
                };
                format!("Arg {{ name: {}, kind: {kind}, shown_if: {shown_if} }}", pools.text(&a.name))
            })
            .collect();
        let args = Pools::list(&mut pools.args, args);
        let ret = match c.ret {
            RetKind::Int => "Int",
            RetKind::UInt => "UInt",
            RetKind::Hex => "Hex",
            RetKind::Ptr => "Ptr",
            RetKind::Fd => "Fd",
            RetKind::Pid => "Pid",
            RetKind::Mode => "Mode",
            RetKind::None => "None",
        };
        let since = match c.since {
            Some(r) => format!("Some(Release {{ major: {}, minor: {}, patch: {} }})", r.major, r.minor, r.patch),
            None => "None".into(),
        };
        calls.push(format!(
            "Syscall {{ number: {}, name: {}, support: {support}, args: {args}, ret: RetKind::{ret}, note: {}, line: {}, since: {since}, implements: {} }}",
            c.number,
            pools.text(&c.name),
            pools.text(&c.note),
            c.line,
            pools.text(&c.implements)
        ));
    }
    let calls = Pools::list(&mut pools.calls, calls);
    writeln!(out, "/// The `{}` table, from `{}`.", t.name, t.source).unwrap();
    writeln!(out, "pub static {ident}: Table = Table {{").unwrap();
    writeln!(
        out,
        "    name: {}, personality: {}, description: {}, source: {},",
        pools.text(&t.name),
        pools.text(&t.personality),
        pools.text(&t.description),
        pools.text("built-in")
    )
    .unwrap();
    writeln!(out, "    sets: {sets},").unwrap();
    writeln!(out, "    calls: {calls},").unwrap();
    writeln!(out, "    index: {},", pools.indexes(&t.index)).unwrap();
    writeln!(out, "    by_name: {},", pools.indexes(&t.by_name)).unwrap();
    writeln!(out, "}};\n").unwrap();
}
