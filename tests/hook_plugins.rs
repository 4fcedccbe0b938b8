//! Hook plugins (`emu --hook LIB.so`): shared objects built against the
//! header `emu abi hook-header` prints, loaded at run time. The examples in
//! hooks/ (a C plugin that doubles stdout, a Rust cdylib that counts path
//! arguments by prefix) must behave exactly as the same hooks written
//! against the Rust API (emulator/examples), on static, dynamic and
//! FreeBSD guests; the test plugins in tests/guests/hook_*.c check
//! thread-local state, a crash, and a plugin of another ABI version.

mod support;
use support::*;

fn plugin(name: &str) -> String {
    let p = guests().join(format!("lib{name}.so"));
    assert!(p.exists(), "{} is not built (tests/guests/Makefile builds it)", p.display());
    p.display().to_string()
}

fn example(name: &str) -> std::path::PathBuf {
    let p = profile_dir().join("examples").join(name);
    assert!(p.exists(), "{} is not built: `cargo test` builds the examples", p.display());
    p
}

/// A file whose first bytes hello-* copies to stdout.
fn hello_input() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/guests/hello.c").display().to_string()
}

#[test]
fn c_plugin_doubles_stdout_as_the_rust_example_does() {
    let runs = [
        Run::new(guest("write_paths-glibc")),
        Run::new(guest("write_paths-pie")),
        Run::new(guest("write_paths-musl")),
        Run::new(guest("hello-dynamic")).args([hello_input()]),
        Run::new(guest("fork_exec-glibc")),
    ];
    for run in runs {
        let native = run.native();
        let by_plugin = run.clone().emu_options(["--hook", &plugin("double_stdout")]).under_emu();
        let by_example = run.under(&example("double_stdout"));
        assert_eq!(by_plugin, by_example, "{}: the C plugin and the Rust hook agree", run.program.display());
        let as_cxx = run.clone().emu_options(["--hook", &plugin("double_stdout_cxx")]).under_emu();
        assert_eq!(as_cxx, by_plugin, "the same plugin built as C++ with -fvisibility=hidden");
        assert_eq!(by_plugin.status, native.status);
        if !native.stdout.ends_with('\n') {
            // One write, without a newline (hello's copy of its input).
            assert_eq!(by_plugin.stdout, native.stdout.repeat(2));
            continue;
        }
        for line in native.stdout.lines() {
            let copies = by_plugin.stdout.lines().filter(|l| *l == line).count();
            let natively = native.stdout.lines().filter(|l| *l == line).count();
            assert_eq!(copies, 2 * natively, "{line:?} in {}", by_plugin.stdout);
        }
    }
}

#[test]
fn rust_plugin_counts_paths_as_the_rust_example_does() {
    let runs = [
        (Run::new(guest("hello-dynamic")).args([hello_input()]), ""),
        (Run::new(guest("tour-glibc")), "/etc,/proc,/dev"),
        (Run::new(guest("fork_exec-glibc")), ""),
        // 1,000 threads, each leaving the plugin's thread_local! (whose
        // destructor runs when the thread exits).
        (Run::new(guest("threads-glibc")).args(["many"]), "/proc"),
        (Run::new(guest("gofreebsd-files")), "/tmp,/dev"),
    ];
    for (run, prefixes) in runs {
        let mut spec = plugin("count_paths");
        if !prefixes.is_empty() {
            spec = format!("{spec},{prefixes}");
        }
        let by_plugin = run.clone().emu_options(["--hook", &spec]).under_emu();
        let by_example = run.clone().env("EMU_COUNT_PATHS", prefixes).under(&example("count_paths"));
        assert_eq!(by_plugin, by_example, "{}: the cdylib plugin and the Rust hook agree", run.program.display());
        assert!(by_plugin.stderr.contains("count-paths: path arguments by prefix\n"), "{}", by_plugin.stderr);
    }
}

#[test]
fn rust_plugin_sees_a_dynamic_guests_loader_and_its_failures() {
    let out = Run::new(guest("hello-dynamic"))
        .args([hello_input()])
        .emu_options(["--hook", &format!("{},/etc,/nonexistent", plugin("count_paths"))])
        .under_emu();
    assert_eq!(out.status, 0);
    let rows: Vec<(u64, u64, &str)> = out
        .stderr
        .lines()
        .skip_while(|l| !l.starts_with("count-paths:"))
        .skip(2)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].parse().unwrap(), f[1].parse().unwrap(), f[2])
        })
        .collect();
    // ld.so opens /etc/ld.so.cache (and may look for /etc/ld.so.preload,
    // which fails); the guest opens /nonexistent/emu-hello, which fails.
    assert!(rows.iter().any(|&(n, _, p)| p == "/etc" && n >= 1), "{}", out.stderr);
    assert!(rows.contains(&(1, 1, "/nonexistent")), "{}", out.stderr);
    assert!(rows.iter().any(|&(_, _, p)| p == "(other)"), "libc.so.6 and the input file: {}", out.stderr);
}

/// A plugin changes a call's argument before forwarding it (stdout's
/// writes go to stderr) and answers a call itself (an open of a `.c` file
/// fails with ENOENT), on static, dynamic and FreeBSD guests.
#[test]
fn a_plugin_changes_and_answers_calls() {
    let edit = plugin("hook_edit");
    let run = Run::new(guest("write_paths-glibc"));
    let native = run.native();
    let out = run.emu_options(["--hook", &edit]).under_emu();
    assert_eq!((out.status, out.stdout.as_str(), out.stderr.as_str()), (0, "", native.stdout.as_str()));
    // hello copies the file it opens to stdout: the open is refused, and
    // the (empty) write goes to stderr.
    for hello in ["hello-glibc", "hello-dynamic"] {
        let run = Run::new(guest(hello)).args([hello_input()]);
        assert!(!run.native().stdout.is_empty());
        let out = run.emu_options(["--hook", &edit, "--trace=open,openat"]).under_emu();
        assert_eq!((out.status, out.stdout.as_str()), (0, ""), "{hello}: {}", out.stderr);
        let refused = out
            .stderr
            .lines()
            .filter(|l| l.contains("hello.c") && l.ends_with("= -1 ENOENT (No such file or directory)"));
        assert_eq!(refused.count(), 1, "{hello}: {}", out.stderr);
    }
    let bsd = Run::new(guest("gofreebsd-files"));
    let plain = bsd.under_emu();
    let out = bsd.emu_options(["--hook", &edit]).under_emu();
    assert_eq!((out.status, out.stdout.as_str()), (0, ""), "{}", out.stderr);
    let first = plain.stdout.lines().next().expect("gofreebsd-files writes to stdout");
    assert!(out.stderr.contains(first), "{first:?} went to stderr: {}", out.stderr);
}

#[test]
fn hooks_chain_in_order() {
    // The Rust hook comes first and forwards twice; each forward goes
    // through the plugin, which forwards twice: four copies.
    let run = Run::new(guest("write_paths-glibc")).emu_options(["--hook", &plugin("double_stdout")]);
    let out = run.under(&example("double_stdout"));
    assert_eq!(out.status, 0);
    assert_eq!(out.stdout.lines().filter(|l| *l == "3 write").count(), 4, "{}", out.stdout);
    // Two plugins: the counter sees the doubled writes' paths no differently.
    let two = Run::new(guest("hello-dynamic"))
        .args([hello_input()])
        .emu_options(["--hook", &plugin("double_stdout"), "--hook", &plugin("count_paths")])
        .under_emu();
    let native = Run::new(guest("hello-dynamic")).args([hello_input()]).native();
    assert_eq!(two.stdout, native.stdout.repeat(2));
    assert!(two.stderr.contains("count-paths:"), "{}", two.stderr);
}

#[test]
fn plugin_thread_locals_are_per_thread() {
    let out = Run::new(guest("threads-glibc")).args(["many"]).emu_options(["--hook", &plugin("hook_tls")]).under_emu();
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("hook-tls: linux, 1001 threads made calls, 0 found a thread-local wrong, constructor's 7, exit 0 signal 0\n"),
        "{}",
        out.stderr
    );
    let bsd = Run::new(guest("gofreebsd-files")).emu_options(["--hook", &plugin("hook_tls")]).under_emu();
    assert_eq!(bsd.status, 0, "{}", bsd.stderr);
    assert!(bsd.stderr.contains("hook-tls: freebsd, "), "{}", bsd.stderr);
    // Which thread reports depends on Go's scheduler: the constructor's
    // value is on the main thread only.
    assert!(bsd.stderr.contains(" 0 found a thread-local wrong, constructor's "), "{}", bsd.stderr);
    assert!(bsd.stderr.contains(", exit 0 signal 0\n"), "{}", bsd.stderr);
}

/// A thread-local's destructor (C++, initial-exec) that touches another
/// thread-local (general-dynamic) while its thread exits.
#[test]
fn plugin_thread_local_destructors_run_as_threads_exit() {
    let out =
        Run::new(guest("threads-glibc")).args(["many"]).emu_options(["--hook", &plugin("hook_tls_dtor")]).under_emu();
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(out.stderr.contains("hook-tls-dtor: 1000 destroyed\n"), "the main thread's is not run: {}", out.stderr);
    // Slow destructors: pthread_join returns only after them. Run after
    // the join, they were cut short by the exit (999 or fewer).
    let slow = format!("{},slow", plugin("hook_tls_dtor"));
    let out = Run::new(guest("threads-glibc")).args(["many"]).emu_options(["--hook", &slow]).under_emu();
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert!(out.stderr.contains("hook-tls-dtor: 1000 destroyed\n"), "a destructor ran after its join: {}", out.stderr);
}

#[test]
fn a_vfork_child_leaves_its_parents_hook_state_alone() {
    let run = Run::new(guest("vfork_exit-glibc"));
    let out = run.clone().emu_options(["--hook", &plugin("hook_tls")]).under_emu();
    assert_eq!((out.status, out.stdout.as_str()), (0, "vfork child exited 3\n"));
    let reports: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("hook-tls:")).collect();
    assert_eq!(reports.len(), 1, "only the parent's end is reported: {}", out.stderr);
    assert!(reports[0].ends_with("exit 0 signal 0"), "{}", out.stderr);
}

#[test]
fn plugin_is_told_how_the_guest_died() {
    let out = Run::new(guest("crash-glibc")).emu_options(["--hook", &plugin("hook_tls")]).under_emu();
    assert_eq!(out.status, 128 + 11, "{}", out.stderr);
    assert!(out.stderr.contains(", exit 0 signal 11\n"), "{}", out.stderr);
}

#[test]
fn a_crashing_plugin_is_named_and_stops_the_guest() {
    let out = Run::new(guest("write_paths-glibc")).emu_options(["--hook", &plugin("hook_crash")]).under_emu();
    assert_eq!(out.status, 128 + 11, "killed by SIGSEGV, as the shell shows it: {}", out.stderr);
    assert_eq!(out.stdout, "", "the first write never happened");
    let line = out.stderr.lines().next().unwrap_or("");
    let expected_start =
        format!("emu: hook `crash` ({}) crashed during the guest's write: SIGSEGV at 0x", plugin("hook_crash"));
    assert!(line.starts_with(&expected_start), "{line}");
    assert!(line.contains(" in libhook_crash.so+0x"), "{line}");
    assert!(line.ends_with("(address 0x0 not mapped); the guest is stopped"), "{line}");
    assert!(!out.stderr.contains("internal error") && !out.stderr.contains("panicked"), "{}", out.stderr);
    // In its init, before the guest has run at all.
    let lib = plugin("hook_crash");
    let out = Run::new(guest("write_paths-glibc")).emu_options(["--hook", &format!("{lib},init")]).under_emu();
    assert_eq!(out.status, 128 + 11, "{}", out.stderr);
    let expected_start = format!("emu: hook `crash` ({lib}) crashed during its init: SIGSEGV at 0x");
    assert!(out.stderr.starts_with(&expected_start), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    // In its exit, once the guest has ended.
    let out = Run::new(guest("hello-glibc")).emu_options(["--hook", &format!("{lib},exit")]).under_emu();
    assert_eq!(out.status, 128 + 11, "{}", out.stderr);
    let expected_start = format!("emu: hook `crash` ({lib}) crashed during its exit: SIGSEGV at 0x");
    assert!(out.stderr.starts_with(&expected_start), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    // In its constructor, while emu loads it.
    let out = Run::new(guest("write_paths-glibc"))
        .env("HOOK_CRASH_IN_CONSTRUCTOR", "1")
        .emu_options(["--hook", &lib])
        .under_emu();
    assert_eq!(out.status, 128 + 11, "{}", out.stderr);
    let expected_start = format!("emu: hook {lib} crashed while loading (in its constructors): SIGSEGV at 0x");
    assert!(out.stderr.starts_with(&expected_start), "{}", out.stderr);
    assert!(out.stderr.contains(" in libhook_crash.so+0x"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

#[test]
fn a_plugin_returning_nonsense_is_named_and_stops_the_guest() {
    let lib = plugin("hook_crash");
    let out = Run::new(guest("write_paths-glibc")).emu_options(["--hook", &format!("{lib},ending")]).under_emu();
    assert_eq!(out.status, 128 + 6, "killed by SIGABRT: {}", out.stderr);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        format!("emu: hook `crash` ({lib}) returned an ending of 9 for the guest's write; the guest is stopped\n")
    );
}

#[test]
fn a_panicking_rust_plugin_is_named_and_stops_the_guest() {
    let lib = plugin("hook_panic");
    let out = Run::new(guest("write_paths-glibc")).emu_options(["--hook", &lib]).under_emu();
    assert_eq!(out.status, 128 + 6, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.starts_with("hook `panics` panicked at src/lib.rs:"),
        "the panic's message, on emu's stderr: {}",
        out.stderr
    );
    assert!(out.stderr.contains("this hook does not like writes\n"), "{}", out.stderr);
    assert!(
        out.stderr
            .ends_with(&format!("emu: hook `panics` ({lib}) failed during the guest's write; the guest is stopped\n")),
        "{}",
        out.stderr
    );
}

#[test]
fn a_plugin_of_another_abi_version_is_refused() {
    let lib = plugin("hook_wrong_version");
    let out = Run::new(guest("hello-glibc")).emu_options(["--hook", &lib]).under_emu();
    assert_eq!(out.status, 2);
    assert_eq!(
        out.stderr,
        format!("emu: {lib} was built for version 2 of emu's hook ABI; this emu speaks version 1 (rebuild the hook against `emu abi hook-header`)\n")
    );
}

#[test]
fn bad_plugins_get_one_line_each() {
    let missing = scratch("hook-missing").join("libnothing.so");
    let cases = [
        (
            missing.display().to_string(),
            format!(
                "emu: cannot load hook {0}: {0}: cannot open shared object file: No such file or directory\n",
                missing.display()
            ),
        ),
        (
            plugin("dlthreads"),
            format!(
                "emu: {} is not an emu hook: it exports no `emu_hook` (see `emu abi hook-header`)\n",
                plugin("dlthreads")
            ),
        ),
        (
            format!("{},refuse", plugin("hook_tls")),
            format!("emu: hook `tls` ({}) refused to start: Invalid argument\n", plugin("hook_tls")),
        ),
        (
            format!("{},minus-one", plugin("hook_tls")),
            format!("emu: hook `tls` ({}) refused to start (its init returned -1, not an errno)\n", plugin("hook_tls")),
        ),
        (
            plugin("hook_not_data"),
            format!(
                "emu: {} is not an emu hook: its `emu_hook` is not a data object (see `emu abi hook-header`)\n",
                plugin("hook_not_data")
            ),
        ),
        (",/etc".to_string(), "emu: --hook ,/etc: no shared object named (--hook LIB.so[,ARGUMENT])\n".to_string()),
    ];
    for (spec, message) in cases {
        let out = Run::new(guest("hello-glibc")).emu_options(["--hook", &spec]).under_emu();
        assert_eq!((out.status, out.stderr.as_str()), (2, message.as_str()), "--hook {spec}");
    }
}

#[test]
fn the_header_compiles_on_its_own() {
    let dir = scratch("hook-header");
    let header = dir.join("emu_hook.h");
    let out = std::process::Command::new(emu()).args(["abi", "hook-header"]).output().unwrap();
    assert!(out.status.success());
    std::fs::write(&header, &out.stdout).unwrap();
    // Compiles `text` next to the header, warnings as errors.
    let compiles = |compiler: &str, standard: &str, file: &str, text: &str| {
        let source = dir.join(file);
        std::fs::write(&source, text).unwrap();
        let out = std::process::Command::new(compiler)
            .args([standard, "-Wall", "-Wextra", "-pedantic", "-Werror", "-fsyntax-only"])
            .arg(&source)
            .output()
            .unwrap();
        assert!(out.status.success(), "{compiler}: {}", String::from_utf8_lossy(&out.stderr));
    };
    compiles(
        "gcc",
        "-std=c99",
        "use.c",
        "#include \"emu_hook.h\"\n_Static_assert(sizeof(struct emu_call) == 112, \"layout\");\n\
         _Static_assert(sizeof(struct emu_outcome) == 32, \"layout\");\nint main(void) { return EMU_HOOK_ABI_VERSION; }\n",
    );
    compiles(
        "g++",
        "-std=c++11",
        "use.cc",
        "#include \"emu_hook.h\"\nstatic_assert(sizeof(emu_call) == 112, \"layout\");\n\
         static emu_outcome pass(void *, emu_call *call) { return emu_forward(call); }\n\
         EMU_HOOK_DEFINE(\"pass\", NULL, pass, NULL);\n",
    );
}

/// A signal that arrives after emu has installed its handlers and before
/// the guest's first instruction (here while a plugin's init waits for it)
/// reaches the guest as that instruction runs: SIGTERM ends it, as it
/// would natively. With `--stats` emu catches SIGTERM to see the death;
/// entered by a jump, the guest once kept it blocked and ran to its end.
#[test]
fn a_signal_sent_as_the_guest_starts_reaches_it() {
    use std::os::unix::process::ExitStatusExt;
    for stats in [false, true] {
        let mut command = std::process::Command::new(emu());
        if stats {
            command.args(["--stats", "-o", "/dev/null"]);
        }
        command.args(["--hook", &plugin("hook_wait_start")]).arg(guest("write_paths-glibc"));
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::null());
        let child = command.spawn().expect("emu starts");
        // Whenever it lands (before emu's handlers, in the init's wait, or
        // later), the answer is the same: death by SIGTERM, nothing written.
        std::thread::sleep(std::time::Duration::from_millis(300));
        // SAFETY: sends SIGTERM to the child just spawned.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let out = child.wait_with_output().expect("emu ends");
        assert_eq!(out.status.signal(), Some(libc::SIGTERM), "--stats {stats}: {:?}", out.status);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "--stats {stats}: the guest ran");
    }
}

/// A signal that arrives while emu carries out a guest's execve (here sent
/// by a plugin as the call starts, so that emu holds it) reaches the new
/// image at its first instruction, as natively: the child of try_exec dies
/// of it. The exec once carried it into the new image blocked for good, and
/// the new program ran to its end.
#[test]
fn a_signal_held_during_execve_reaches_the_new_image() {
    let plugin = plugin("hook_signal_on_exec");
    let target = guest("write_paths-glibc");
    for stats in [&[][..], &["--stats", "-o", "/dev/null"][..]] {
        let mut options: Vec<&str> = stats.to_vec();
        options.extend(["--hook", &plugin]);
        let out = Run::new(guest("try_exec-glibc")).args([target.to_str().unwrap()]).emu_options(options).under_emu();
        assert_eq!(out.stdout, format!("{}: killed by signal 15\n", target.display()), "{stats:?}: {}", out.stderr);
    }
}
