//! Older-kernel views (`--linux-version`, `--freebsd-version`): the calls a
//! release did not have answer as it answered (ENOSYS; FreeBSD adds
//! SIGSYS), a program's fallbacks run, the trace and --stats show it, and
//! the release the guest reads is that release.

mod support;
use support::*;

/// What tests/guests/fallbacks.c prints on a kernel without close_range.
const WITHOUT_CLOSE_RANGE: &str = "thread: ok\nstatx: ok\nclosefrom: ok\nclose_range: ENOSYS\n";

#[test]
fn glibc_falls_back_on_older_linux_kernels() {
    let program = guest("fallbacks-glibc");
    let native = Run::new(&program).native();
    assert_eq!(native.stdout, "thread: ok\nstatx: ok\nclosefrom: ok\nclose_range: ok\n");
    assert_like_native(&Run::new(&program));

    // 5.3 has clone3 and statx, not close_range (5.9): closefrom falls back.
    let out =
        Run::new(&program).emu_options(["--linux-version=5.3", "--trace=clone3,clone,statx,close_range"]).under_emu();
    assert_eq!((out.status, out.stdout.as_str()), (0, WITHOUT_CLOSE_RANGE), "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(
        lines.iter().any(|l| l.contains("clone3({") && !l.ends_with("ENOSYS (Function not implemented)")),
        "{}",
        out.stderr
    );
    assert!(lines.iter().any(|l| l.contains("close_range(3, 4294967295, 0) = -1 ENOSYS (Function not implemented)")));
    assert!(
        lines.contains(&"emu: close_range is not in Linux 5.3 (it came in 5.9): returning ENOSYS"),
        "{}",
        out.stderr
    );

    // 4.19 has no clone3: pthread_create falls back to clone.
    let out = Run::new(&program).emu_options(["--linux-version=4.19", "--trace=clone3,clone"]).under_emu();
    assert_eq!((out.status, out.stdout.as_str()), (0, WITHOUT_CLOSE_RANGE), "{}", out.stderr);
    let clone3 = out
        .stderr
        .lines()
        .position(|l| l.contains("clone3({") && l.ends_with("= -1 ENOSYS (Function not implemented)"));
    let clone = out.stderr.lines().position(|l| l.contains("clone(CLONE_VM"));
    assert!(clone3.is_some() && clone > clone3, "clone3 refused, then clone:\n{}", out.stderr);

    // 4.10 has no statx (4.11): glibc's statx falls back to fstatat.
    let out =
        Run::new(&program).emu_options(["--linux-version=4.10", "--trace=statx,newfstatat", "--stats"]).under_emu();
    assert_eq!((out.status, out.stdout.as_str()), (0, WITHOUT_CLOSE_RANGE), "{}", out.stderr);
    assert!(out.stderr.contains("statx(AT_FDCWD, \"/proc/self/exe\", AT_STATX_SYNC_AS_STAT, STATX_BASIC_STATS, "));
    assert!(out.stderr.contains(") = -1 ENOSYS (Function not implemented)\n"), "{}", out.stderr);
    let summary = out.stderr.lines().find(|l| l.starts_with("not in Linux 4.10 (ENOSYS): ")).expect(&out.stderr);
    for call in ["clone3 (1x)", "statx (1x)", "close_range (2x)"] {
        assert!(summary.contains(call), "{summary}");
    }
}

#[test]
fn the_release_a_linux_guest_reads_is_the_older_one() {
    let program = guest("fallbacks-glibc");
    let out = Run::new(&program).args(["uname"]).emu_options(["--linux-version=4.19"]).under_emu();
    assert_eq!(out.stdout, "4.19.0\n");
    let out = Run::new(&program).args(["uname"]).emu_options(["--linux-version=2.6.32"]).under_emu();
    assert_eq!(out.stdout, "2.6.32\n");
    // Without a view, the host's.
    assert_like_native(&Run::new(&program).args(["uname"]));
}

/// A shell the view was given runs a program: the program has it too.
#[test]
fn a_view_follows_exec() {
    let script = format!("{} uname", guest("fallbacks-glibc").display());
    let out = Run::new(busybox()).args(["sh", "-c", &script]).emu_options(["--linux-version=5.4"]).under_emu();
    assert_eq!((out.status, out.stdout.as_str()), (0, "5.4.0\n"), "{}", out.stderr);
}

#[test]
fn freebsd_releases() {
    let program = guest("gofreebsd-calls");
    let out = Run::new(&program).args(["release"]).under_emu();
    assert_eq!(out.stdout, "14.2-RELEASE 1402000\n__realpathat: errno 0, SIGSYS false\n", "{}", out.stderr);
    let out = Run::new(&program).args(["release"]).emu_options(["--freebsd-version=13.0"]).under_emu();
    assert_eq!(out.stdout, "13.0-RELEASE 1300139\n__realpathat: errno 0, SIGSYS false\n", "{}", out.stderr);
    // 12.2 had no __realpathat: ENOSYS (78) and SIGSYS, which Go ignores
    // unless asked (the program asks).
    let out = Run::new(&program).args(["release"]).emu_options(["--freebsd-version=12.2"]).under_emu();
    assert_eq!(out.stdout, "12.2-RELEASE 1202000\n__realpathat: errno 78, SIGSYS true\n", "{}", out.stderr);
    assert!(out.stderr.contains("emu: __realpathat is not in FreeBSD 12.2 (it came in 13.0): returning ENOSYS"));
}

/// Go 1.19 picks FreeBSD 11's stat family and dirents (the COMPAT_FREEBSD11
/// calls a FreeBSD 14 kernel still has) when kern.osreldate is below
/// 1200031: under --freebsd-version 11.4 the program still does what its
/// Linux build does natively, through those calls.
#[test]
fn a_go_program_on_freebsd_11() {
    let native = Run::new(guest("go-files")).env("EMU_TEST_VARIABLE", "yes").native();
    let out = Run::new(guest("gofreebsd-files"))
        .env("EMU_TEST_VARIABLE", "yes")
        .emu_options(["--freebsd-version=11.4", "--stats"])
        .under_emu();
    assert_eq!((out.status, &out.stdout), (native.status, &native.stdout), "{}", out.stderr);
    for call in ["freebsd11_fstat", "freebsd11_lstat", "freebsd11_getdirentries"] {
        assert!(out.stderr.lines().any(|l| l.ends_with(&format!(" {call}"))), "{call} unused:\n{}", out.stderr);
    }
    assert!(!out.stderr.contains("unsupported"), "{}", out.stderr);
}

#[test]
fn views_that_cannot_be_given_are_refused() {
    let hello = guest("hello-glibc");
    let cases: [(&[&str], &std::path::Path, &str); 4] = [
        (
            &["--linux-version=2.4"],
            &hello,
            "emu: --linux-version 2.4.0: the table linux-x86_64 records calls from 2.6.0 on",
        ),
        (
            &["--freebsd-version=13.0"],
            &hello,
            "emu: --freebsd-version: the program is run by the linux personality (use --linux-version)",
        ),
        (
            &["--linux-version=5"],
            &hello,
            "error: invalid value '5' for '--linux-version <VERSION>': expected a release such as 4.19, 5.3 or 2.6.32",
        ),
        (
            &["--linux-version=5.3", "--freebsd-version=13.0"],
            &hello,
            "error: the argument '--linux-version <VERSION>' cannot be used with '--freebsd-version <VERSION>'",
        ),
    ];
    for (options, program, message) in cases {
        let out = Run::new(program).emu_options(options.iter().copied()).under_emu();
        assert_eq!(out.status, 2, "{options:?}: {}", out.stderr);
        assert_eq!(out.stderr.lines().next().unwrap_or(""), message, "{options:?}");
    }
}
