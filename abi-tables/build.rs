//! Turns every built-in table file into Rust statics (`$OUT_DIR/builtin.rs`),
//! so the emulator never parses or allocates to look a call up. A table that
//! does not parse fails the build with `file:line: message`.

#[path = "src/format/mod.rs"]
#[allow(dead_code, unused_imports)]
mod format;

use format::{ArgKind, RetKind, SetKind, Support, Table};
use std::fmt::Write as _;
use std::path::Path;

/// The built-in tables: (file under abi-tables/, Rust identifier).
const BUILTIN: &[(&str, &str)] = &[("linux-x86_64", "LINUX_X86_64"), ("freebsd-amd64", "FREEBSD_AMD64")];

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = String::new();
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
        emit(&mut out, ident, &table);
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
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("builtin.rs");
    std::fs::write(dest, out).unwrap();
    println!("cargo:rerun-if-changed=src/format");
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}

fn emit(out: &mut String, ident: &str, t: &Table) {
    let s = |x: &str| format!("Cow::Borrowed({x:?})");
    writeln!(out, "/// The `{}` table, from `{}`.", t.name, t.source).unwrap();
    writeln!(out, "pub static {ident}: Table = Table {{").unwrap();
    writeln!(
        out,
        "    name: {}, personality: {}, description: {}, source: {},",
        s(&t.name),
        s(&t.personality),
        s(&t.description),
        s("built-in")
    )
    .unwrap();
    writeln!(out, "    sets: Cow::Borrowed(&[").unwrap();
    for set in t.sets.iter() {
        let kind = match set.kind {
            SetKind::Flags => "SetKind::Flags",
            SetKind::Enum => "SetKind::Enum",
        };
        writeln!(out, "        ValueSet {{ name: {}, kind: {kind}, values: Cow::Borrowed(&[", s(&set.name)).unwrap();
        for v in set.values.iter() {
            writeln!(
                out,
                "            Value {{ name: {}, value: {}, mask: {:#x}, description: {} }},",
                s(&v.name),
                v.value,
                v.mask,
                s(&v.description)
            )
            .unwrap();
        }
        writeln!(out, "        ]) }},").unwrap();
    }
    writeln!(out, "    ]),").unwrap();
    writeln!(out, "    calls: Cow::Borrowed(&[").unwrap();
    for c in t.calls.iter() {
        let support = match &c.support {
            Support::Supported => "Support::Supported".to_string(),
            Support::Partial => "Support::Partial".to_string(),
            Support::Unsupported => "Support::Unsupported".to_string(),
            Support::Error { errno, name } => format!("Support::Error {{ errno: {errno}, name: {} }}", s(name)),
        };
        let args: Vec<String> = c
            .args
            .iter()
            .map(|a| {
                let kind = match &a.kind {
                    ArgKind::InStruct(x) => format!("ArgKind::InStruct({})", s(x)),
                    ArgKind::OutStruct(x) => format!("ArgKind::OutStruct({})", s(x)),
                    ArgKind::InOutStruct(x) => format!("ArgKind::InOutStruct({})", s(x)),
                    ArgKind::ErrStruct(x) => format!("ArgKind::ErrStruct({})", s(x)),
                    ArgKind::StackStruct(x) => format!("ArgKind::StackStruct({})", s(x)),
                    other => format!("ArgKind::{other:?}"),
                };
                let shown_if = match a.shown_if {
                    Some(c) => format!("Some(ShownIf {{ arg: {}, mask: {:#x} }})", c.arg, c.mask),
                    None => "None".into(),
                };
                format!("Arg {{ name: {}, kind: {kind}, shown_if: {shown_if} }}", s(&a.name))
            })
            .collect();
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
        writeln!(
            out,
            "        Syscall {{ number: {}, name: {}, support: {support}, args: Cow::Borrowed(&[{}]), ret: RetKind::{ret}, note: {}, line: {}, since: {since}, implements: {} }},",
            c.number,
            s(&c.name),
            args.join(", "),
            s(&c.note),
            c.line,
            s(&c.implements)
        )
        .unwrap();
    }
    writeln!(out, "    ]),").unwrap();
    writeln!(out, "    index: Cow::Borrowed(&{:?}),", t.index.as_ref()).unwrap();
    writeln!(out, "    by_name: Cow::Borrowed(&{:?}),", t.by_name.as_ref()).unwrap();
    writeln!(out, "}};\n").unwrap();
}
