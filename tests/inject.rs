//! Fault injection (`--inject`), checked against strace's own `-e inject`
//! on the same guest (tests/guests/inject_target.c): the same output and
//! exit status, and the trace marks what was injected.

mod support;
use support::*;

/// The guest under `strace -e inject=SPEC` and under `emu --inject=SPEC`.
fn like_strace(spec: &str) -> Outcome {
    let target = guest("inject_target-glibc");
    let strace = Run::new("/usr/bin/strace")
        .args([
            "-qq".as_ref(),
            "-o".as_ref(),
            "/dev/null".as_ref(),
            "-e".as_ref(),
            format!("inject={spec}").as_ref(),
            target.as_os_str(),
        ])
        .native();
    let emu = Run::new(&target).emu_options([format!("--inject={spec}")]).under_emu();
    assert_eq!((emu.status, emu.stdout.as_str()), (strace.status, strace.stdout.as_str()), "{spec}: {}", emu.stderr);
    emu
}

#[test]
fn errors_return_values_and_signals_as_strace_injects_them() {
    let plain = Run::new(guest("inject_target-glibc")).native();
    assert!(plain.stdout.contains("open 2: ok\n") && plain.stdout.contains("connect: ok\n"), "{}", plain.stdout);
    let out = like_strace("openat:error=ENOENT:when=2");
    assert!(out.stdout.contains("open 1: ok\nopen 2: No such file or directory\nopen 3: ok\n"), "{}", out.stdout);
    let out = like_strace("write:retval=1:when=1");
    assert!(
        out.stdout.starts_with("open 1: ok\n") && out.stdout.ends_with("the first write returned 1\n"),
        "{}",
        out.stdout
    );
    let out = like_strace("read:signal=SIGUSR1");
    assert!(out.stdout.contains("read 4, SIGUSR1 taken 1 times\n"), "{}", out.stdout);
    let out = like_strace("connect:error=ECONNREFUSED");
    assert!(out.stdout.contains("connect: Connection refused\n"), "{}", out.stdout);
    like_strace("openat,close:error=EACCES:when=2+2");
    // Counted per call, as strace counts: the second socket() fails.
    let out = like_strace("%network:error=ECONNREFUSED:when=2");
    assert!(out.stdout.contains("connect: Bad file descriptor\n"), "{}", out.stdout);
    like_strace("!write,exit_group:delay_exit=100");
}

#[test]
fn the_trace_and_the_statistics_say_what_was_injected() {
    let out = Run::new(guest("inject_target-glibc"))
        .emu_options(["--inject=openat:error=ENOENT:when=2..3", "--trace=openat", "--stats"])
        .under_emu();
    assert_eq!(out.status, 0);
    let injected: Vec<&str> = out.stderr.lines().filter(|l| l.ends_with(" (INJECTED)")).collect();
    assert_eq!(injected.len(), 2, "{}", out.stderr);
    assert!(injected[0].starts_with("openat(AT_FDCWD, \"/proc/self/comm\", O_RDONLY) = -1 ENOENT"), "{}", out.stderr);
    assert!(out.stderr.contains("\ninjected: openat (2x)\n"), "{}", out.stderr);
}

#[test]
fn bad_injections_are_one_line() {
    for (spec, message) in [
        ("openat", "nothing to inject"),
        ("nosuchcall:error=ENOENT", "no call named `nosuchcall`"),
        ("openat:error=ENOTANERRNO", "no errno named `ENOTANERRNO`"),
        ("openat:error=ENOENT:when=0", "is not N, N+, N+STEP or N..M"),
        ("openat:signal=SIGNOPE", "no signal named `SIGNOPE`"),
        ("openat:colour=red", "unknown key `colour`"),
    ] {
        let out = Run::new(guest("hello-glibc")).emu_options([format!("--inject={spec}")]).under_emu();
        assert_eq!(out.status, 2, "{spec}");
        assert_eq!(out.stderr.lines().count(), 1, "{spec}: {}", out.stderr);
        assert!(
            out.stderr.starts_with(&format!("emu: --inject={spec}: ")) && out.stderr.contains(message),
            "{}",
            out.stderr
        );
    }
}

/// FreeBSD's errno names and numbers for a FreeBSD guest (ECONNREFUSED is
/// 61 there, 111 on Linux); one that no Linux errno carries is refused.
#[test]
fn freebsd_guests_take_freebsd_errno_names() {
    let out = Run::new(guest("gofreebsd-files"))
        .emu_options(["--inject=openat:error=ECONNREFUSED:when=1", "--trace=openat"])
        .under_emu();
    assert!(out.stderr.contains("= -1 ECONNREFUSED (Connection refused) (INJECTED)"), "{}", out.stderr);
    let out = Run::new(guest("gofreebsd-files")).emu_options(["--inject=openat:error=EDOOFUS"]).under_emu();
    assert_eq!(
        (out.status, out.stderr.as_str()),
        (2, "emu: --inject=openat:error=EDOOFUS: EDOOFUS has no Linux errno to carry it\n")
    );
}

/// Classes select calls as strace's do, for --trace and --inject alike,
/// and `emu abi show --class` lists each call's.
#[test]
fn classes_of_calls() {
    let out = Run::new(guest("inject_target-glibc")).emu_options(["--trace=%network"]).under_emu();
    let names: Vec<&str> =
        out.stderr.lines().filter_map(|l| l.split('(').next()).filter(|n| !n.starts_with("+++")).collect();
    assert_eq!(names, ["socket", "bind", "listen", "getsockname", "socket", "connect"], "{}", out.stderr);
    let out = Run::new(guest("inject_target-glibc")).emu_options(["--trace=%signal,!rt_sigprocmask"]).under_emu();
    assert!(out.stderr.starts_with("rt_sigaction(SIGUSR1, "), "{}", out.stderr);
    let shown = Run::new(emu()).args(["abi", "show", "linux", "--class"]).native();
    assert_eq!(shown.status, 0);
    let row =
        |name: &str| shown.stdout.lines().find(|l| l.split_whitespace().nth(1) == Some(name)).unwrap().to_string();
    assert!(row("openat").contains("%file %desc"), "{}", row("openat"));
    assert!(row("connect").contains("%desc %network"), "{}", row("connect"));
    assert!(row("mmap").contains("%desc %memory"), "{}", row("mmap"));
    assert!(row("setresuid").contains("%creds"), "{}", row("setresuid"));
    let out = Run::new(guest("hello-glibc")).emu_options(["--trace=%nosuchclass"]).under_emu();
    assert_eq!(out.status, 2);
    assert!(
        out.stderr.starts_with("emu: --trace: no class named `%nosuchclass` (%file, %desc, %network"),
        "{}",
        out.stderr
    );
}
