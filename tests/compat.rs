//! `emu compat`: the report of a Linux program and of a FreeBSD Go program
//! against their traces, its JSON against docs/compat-report.schema.json,
//! and the same report from a trace file (emu's JSON and strace formats).

mod support;
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use support::*;

fn schema() -> Value {
    serde_json::from_str(include_str!("../docs/compat-report.schema.json")).unwrap()
}

/// `emu compat --format=json ARGS...`: the program's outcome and the report.
fn compat(d: &Path, args: &[&OsStr]) -> (Outcome, Value) {
    let report = d.join(format!("report-{}.json", rand_suffix()));
    let mut all: Vec<&OsStr> = vec!["compat".as_ref(), "--format=json".as_ref(), "-o".as_ref(), report.as_os_str()];
    all.extend_from_slice(args);
    let out = Run::new(emu()).args(all).native();
    let text = std::fs::read_to_string(&report).unwrap_or_else(|e| panic!("no report ({e}): {}", out.stderr));
    let value: Value = serde_json::from_str(&text).unwrap();
    support::schema::check(&schema(), &value).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (out, value)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Calls and failures by name, as a JSON trace shows them.
fn counted(trace: &str) -> BTreeMap<String, (u64, u64)> {
    let mut counts = BTreeMap::new();
    for line in trace.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let (Some(name), Some(_)) = (v["name"].as_str(), v.get("number")) else { continue };
        // A call a signal interrupted before it ran (Go's preemption signal
        // can) is made again, and counted then: as the report counts it.
        if v["errno"] == "ERESTARTSYS" {
            continue;
        }
        let c = counts.entry(name.to_string()).or_insert((0, 0));
        c.0 += 1;
        c.1 += v["errno"].is_string() as u64;
    }
    counts
}

/// Calls and failures by name, as a report shows them.
fn reported(report: &Value) -> BTreeMap<String, (u64, u64)> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["name"].as_str().unwrap().to_string(), (r["calls"].as_u64().unwrap(), r["errors"].as_u64().unwrap()))
        })
        .collect()
}

/// A JSON trace of `program` under emu.
fn json_trace(d: &Path, program: &Path, args: &[&str]) -> (PathBuf, String) {
    let file = d.join(format!("{}-{}.trace.json", program.file_name().unwrap().to_string_lossy(), rand_suffix()));
    let out = Run::new(program)
        .args(args)
        .emu_options(["--trace".as_ref(), "--trace-format=json".as_ref(), "-o".as_ref(), file.as_os_str()])
        .under_emu();
    assert!(out.hung.is_none());
    (file.clone(), std::fs::read_to_string(&file).unwrap())
}

#[test]
fn a_linux_programs_report_matches_its_trace() {
    let d = scratch("compat-linux");
    let hello = guest("hello-glibc");
    let (out, report) = compat(&d, &[hello.as_os_str(), "/nonexistent".as_ref()]);
    // The program's own output and status are its own.
    let native = Run::new(&hello).args(["/nonexistent"]).native();
    assert_eq!((out.status, &out.stdout), (native.status, &native.stdout));
    let (file, trace) = json_trace(&d, &hello, &["/nonexistent"]);
    let counts = counted(&trace);
    assert_eq!(reported(&report), counts);
    assert!(counts["openat"].1 >= 1, "the failed open is counted: {counts:?}");
    let rows = report["rows"].as_array().unwrap();
    let openat = rows.iter().find(|r| r["name"] == "openat").unwrap();
    assert_eq!(openat["abi"], "linux-x86_64");
    assert_eq!(openat["tables"]["linux-x86_64"]["since"], "2.6.16");
    assert_eq!(openat["tables"]["freebsd-amd64"]["support"], "partial");
    let linux = &report["tables"]["linux-x86_64"];
    // The newest call it makes sets the oldest kernel it runs on.
    let newest = rows.iter().filter_map(|r| r["tables"]["linux-x86_64"]["since"].as_str()).max_by_key(|s| {
        let v: Vec<u32> = s.split('.').map(|p| p.parse().unwrap()).collect();
        v
    });
    assert_eq!(linux["oldest_release"].as_str(), newest);
    assert!(report["tables"]["freebsd-amd64"]["absent"].as_array().unwrap().contains(&Value::from("set_tid_address")));

    // The same from the trace file, and from a strace-format trace.
    let (_, from_file) = compat(&d, &["--from-trace".as_ref(), file.as_os_str()]);
    assert_eq!(reported(&from_file), counts);
    assert_eq!(from_file["program"], hello.to_str().unwrap());
    let strace_format = file.with_extension("strace");
    let traced = Run::new(&hello)
        .args(["/nonexistent"])
        .emu_options(["--trace".as_ref(), "-o".as_ref(), strace_format.as_os_str()])
        .under_emu();
    assert_eq!(traced.status, native.status);
    let (_, from_strace_format) = compat(&d, &["--from-trace".as_ref(), strace_format.as_os_str()]);
    assert_eq!(reported(&from_strace_format), counts);

    // strace's own trace of the native run (`strace -f -o`): the same calls,
    // as often (rseq, which emu refuses, succeeds natively).
    let by_strace = d.join("native.strace");
    let native_traced = Run::new("/usr/bin/strace")
        .args(["-f".as_ref(), "-o".as_ref(), by_strace.as_os_str(), hello.as_os_str(), "/nonexistent".as_ref()])
        .native();
    assert_eq!(native_traced.status, native.status, "{}", native_traced.stderr);
    let (_, from_strace) = compat(&d, &["--from-trace".as_ref(), by_strace.as_os_str()]);
    let calls = |m: BTreeMap<String, (u64, u64)>| m.into_iter().map(|(k, (c, _))| (k, c)).collect::<Vec<_>>();
    assert_eq!(calls(reported(&from_strace)), calls(counts));
}

#[test]
fn a_freebsd_programs_report_matches_its_trace() {
    let d = scratch("compat-freebsd");
    let program = guest("gofreebsd-files");
    let (file, trace) = json_trace(&d, &program, &[]);
    let (_, report) = compat(&d, &["--from-trace".as_ref(), file.as_os_str()]);
    assert_eq!(reported(&report), counted(&trace));
    let rows = report["rows"].as_array().unwrap();
    assert!(rows.iter().all(|r| r["abi"] == "freebsd-amd64"));
    let openat = rows.iter().find(|r| r["name"] == "openat").expect("a Go program opens files with openat");
    assert!(openat["tables"]["freebsd-amd64"]["support"].is_string());
    // A live run: the same calls (Go's counts vary from run to run).
    let (out, live) = compat(&d, &[program.as_os_str()]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    let names = |r: &Value| -> Vec<String> {
        r["rows"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_string()).collect()
    };
    for name in ["openat", "read", "write", "mmap", "exit"] {
        assert!(names(&live).iter().any(|n| n == name), "{name} missing from {:?}", names(&live));
    }
    assert!(live["tables"]["freebsd-amd64"]["oldest_release"].is_string());
}

#[test]
fn the_text_report_and_bad_input() {
    let out = Run::new(emu()).args(["compat".as_ref(), guest("hello-glibc").as_os_str()]).stdin("").native();
    assert_eq!(out.status, 0);
    let head = out.stderr.lines().find(|l| l.contains("distinct calls")).expect(&out.stderr);
    assert!(head.ends_with(" failed"), "{head}");
    assert!(
        out.stderr.lines().any(|l| l.starts_with("linux-x86_64: every call it made is there from ")),
        "{}",
        out.stderr
    );
    let out = Run::new(emu()).args(["compat", "--from-trace", "/nonexistent/trace"]).native();
    assert_eq!(
        (out.status, out.stderr.trim()),
        (2, "emu compat: /nonexistent/trace: No such file or directory (os error 2)")
    );
    let out = Run::new(emu()).args(["compat", "--abi", "nosuch", "--from-trace", "/dev/null"]).native();
    assert_eq!((out.status, out.stderr.trim()), (2, "emu: compat: --abi nosuch: no such table"));
}
