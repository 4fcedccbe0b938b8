//! Test binaries of Go's standard library (`go test -c`, built for Linux by
//! the guests' Makefile) run under emu with `-test.short -test.v`: the same
//! tests must run, with the same result, as in the native run (see
//! `support::gotest`). A native failure is not hidden: emu must fail it too
//! (Debian's Go has no `lib/time/zoneinfo.zip`, so time's
//! TestLoadLocationFromTZData fails both ways).

mod support;
use support::*;

fn run_like_native(package: &str) {
    let binary = guest(&format!("gostd-{}.test", package.replace('/', "_")));
    gotest::same_results(package, &binary, &binary, false);
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

#[test]
fn strconv() {
    run_like_native("strconv");
}

#[test]
fn strings() {
    run_like_native("strings");
}

#[test]
fn bytes() {
    run_like_native("bytes");
}

#[test]
fn sort() {
    run_like_native("sort");
}

#[test]
fn io() {
    run_like_native("io");
}

#[test]
fn bufio() {
    run_like_native("bufio");
}

#[test]
fn encoding_json() {
    run_like_native("encoding/json");
}

#[test]
fn path_filepath() {
    run_like_native("path/filepath");
}
