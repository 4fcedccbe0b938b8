//! Go test binaries (`go test -c`) run natively and under emu, compared
//! test by test. Several of Go's tests measure time or race goroutines,
//! and the suite runs them on two loaded cores: a test whose result
//! differs is run again, alone, both ways, and only a difference that
//! holds is a failure.

use super::Run;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The test's name and how it ended (PASS, FAIL, SKIP), subtests included.
type Results = BTreeMap<String, String>;

pub fn results(out: &str) -> Results {
    out.lines()
        .filter_map(|line| {
            let rest = line.trim_start().strip_prefix("--- ")?;
            let (verdict, rest) = rest.split_once(": ")?;
            let name = rest.split_whitespace().next()?;
            matches!(verdict, "PASS" | "FAIL" | "SKIP").then(|| (name.to_string(), verdict.to_string()))
        })
        .collect()
}

pub fn source_dir(package: &str) -> PathBuf {
    let out = std::process::Command::new("go").args(["env", "GOROOT"]).output().expect("go env GOROOT");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("src").join(package)
}

/// Runs `native` (a Linux test binary of `package`) natively and
/// `emulated` (the same package, built for Linux or another ABI) under emu,
/// each with `-test.short -test.v` from the package's source directory,
/// and compares which tests ran and how they ended.
///
/// Built for another OS (`other_os`), the two binaries do not hold the same
/// tests, and some tests skip themselves on one OS: then no test may fail
/// under emu that does not fail natively.
pub fn same_results(package: &str, native: &Path, emulated: &Path, other_os: bool) {
    let run = |binary: &Path, only: Option<&str>| {
        let mut args = vec!["-test.short".to_string(), "-test.v".to_string()];
        if let Some(pattern) = only {
            args.push(format!("-test.run={pattern}"));
        }
        Run::new(binary).args(args).dir(source_dir(package))
    };
    let (native_bin, emu_bin) = (native, emulated);
    let (native, emulated) = (run(native_bin, None).native(), run(emu_bin, None).under_emu());
    let (native_results, emulated_results) = (results(&native.stdout), results(&emulated.stdout));
    assert!(!native_results.is_empty(), "{package}: no test ran natively:\n{}", native.stdout);

    let differ = |native_results: &Results, emulated_results: &Results| -> Vec<String> {
        native_results
            .keys()
            .chain(emulated_results.keys())
            .filter(|&name| match (native_results.get(name), emulated_results.get(name)) {
                (n, Some(e)) if other_os => e == "FAIL" && n.is_none_or(|n| n != "FAIL"),
                (_, None) if other_os => false,
                // A native run's line lost (Go 1.19's parallel subtests under
                // SIGHUP can drop one): only a failure under emu counts.
                (None, Some(e)) => e == "FAIL",
                (n, e) => n != e,
            })
            .cloned()
            .collect()
    };
    let differing = differ(&native_results, &emulated_results);
    if differing.is_empty() {
        let tail =
            |s: &str| s.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        assert_eq!(
            emulated.status,
            native.status,
            "{package}: same results, different status\n--- emu stdout (end):\n{}\n--- emu stderr (end):\n{}",
            tail(&emulated.stdout),
            tail(&emulated.stderr)
        );
        return;
    }
    // Again, alone: the top-level tests concerned.
    let mut tops: Vec<&str> = differing.iter().map(|name| name.split('/').next().unwrap()).collect();
    tops.dedup();
    let pattern = format!("^({})$", tops.join("|"));
    eprintln!("{package}: {pattern} ended differently; running it again both ways");
    let (native_again, emulated_again) =
        (run(native_bin, Some(&pattern)).native(), run(emu_bin, Some(&pattern)).under_emu());
    let still = differ(&results(&native_again.stdout), &results(&emulated_again.stdout));
    assert!(
        still.is_empty(),
        "{package}: {still:?} end differently under emu, twice\n--- emu:\n{}\n{}\n--- native:\n{}",
        emulated_again.stdout,
        emulated_again.stderr,
        native_again.stdout
    );
}
