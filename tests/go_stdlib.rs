//! Test binaries of Go's standard library (`go test -c`, built for Linux by
//! the guests' Makefile) run under emu with `-test.short -test.v`: the same
//! tests must run, with the same result, as in the native run.
//!
//! Several of these tests measure time or race goroutines, and the suite
//! runs them on two loaded cores: a test whose result differs is run again,
//! alone, both ways, and only a difference that holds is a failure. A
//! native failure is not hidden: emu must fail it too (Debian's Go has no
//! `lib/time/zoneinfo.zip`, so time's TestLoadLocationFromTZData fails
//! both ways).

mod support;
use support::*;

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The test's name and how it ended (PASS, FAIL, SKIP), subtests included.
type Results = BTreeMap<String, String>;

fn results(out: &str) -> Results {
    out.lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("--- ")?;
            let (verdict, rest) = rest.split_once(": ")?;
            let name = rest.split_whitespace().next()?;
            matches!(verdict, "PASS" | "FAIL" | "SKIP").then(|| (name.to_string(), verdict.to_string()))
        })
        .collect()
}

fn source_dir(package: &str) -> PathBuf {
    let out = std::process::Command::new("go").args(["env", "GOROOT"]).output().expect("go env GOROOT");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("src").join(package)
}

fn run_like_native(package: &str) {
    let binary = guest(&format!("gostd-{}.test", package.replace('/', "_")));
    let run = |only: Option<&str>| {
        let mut args = vec!["-test.short".to_string(), "-test.v".to_string()];
        if let Some(pattern) = only {
            args.push(format!("-test.run={pattern}"));
        }
        Run::new(&binary).args(args).dir(source_dir(package))
    };
    let (native, emulated) = (run(None).native(), run(None).under_emu());
    let (native_results, emulated_results) = (results(&native.stdout), results(&emulated.stdout));
    assert!(!native_results.is_empty(), "{package}: no test ran natively:\n{}", native.stdout);

    let differing: Vec<&String> = native_results
        .keys()
        .chain(emulated_results.keys())
        .filter(|name| native_results.get(*name) != emulated_results.get(*name))
        .collect();
    if differing.is_empty() {
        assert_eq!(emulated.status, native.status, "{package}: same results, different status");
        return;
    }
    // Again, alone: the top-level tests concerned.
    let mut tops: Vec<&str> = differing.iter().map(|name| name.split('/').next().unwrap()).collect();
    tops.dedup();
    let pattern = format!("^({})$", tops.join("|"));
    eprintln!("{package}: {pattern} ended differently; running it again both ways");
    let (native_again, emulated_again) = (run(Some(&pattern)).native(), run(Some(&pattern)).under_emu());
    assert_eq!(
        results(&emulated_again.stdout),
        results(&native_again.stdout),
        "{package}: {pattern} ends differently under emu, twice\n--- emu:\n{}\n{}\n--- native:\n{}",
        emulated_again.stdout,
        emulated_again.stderr,
        native_again.stdout
    );
}

#[test]
fn sync() {
    run_like_native("sync");
}

#[test]
fn time() {
    run_like_native("time");
}

#[test]
fn os() {
    run_like_native("os");
}

#[test]
fn os_exec() {
    run_like_native("os/exec");
}

#[test]
fn os_signal() {
    run_like_native("os/signal");
}

#[test]
fn net() {
    run_like_native("net");
}

#[test]
fn runtime_debug() {
    run_like_native("runtime/debug");
}

#[test]
fn context() {
    run_like_native("context");
}
