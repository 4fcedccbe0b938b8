//! `--trace` and `--stats`: strace's formats, checked line by line.

mod support;
use support::*;

/// The small guest's input, at a path of ours.
fn input() -> std::path::PathBuf {
    let d = scratch(&format!("trace-{}", std::process::id()));
    let p = d.join("input.txt");
    std::fs::write(&p, "golden input\n\tline two\n").unwrap();
    p
}

/// A trace line as strace aligns it: the result at column 40.
fn line(call: &str, result: &str) -> String {
    if call.chars().count() < 40 {
        format!("{call:<40}= {result}")
    } else {
        format!("{call} = {result}")
    }
}

fn trace_file(test: &str) -> std::path::PathBuf {
    scratch(&format!("trace-out-{test}")).join("trace.txt")
}

#[test]
fn golden_lines_for_open_read_write_close() {
    let input = input();
    let out_file = trace_file("golden");
    let run = Run::new(guest("hello-glibc")).args([&input]).emu_options([
        "--trace=openat,read,write,close,exit_group".as_ref(),
        "-o".as_ref(),
        out_file.as_os_str(),
    ]);
    let out = run.under_emu();
    assert_eq!(out.status, 0);
    assert_eq!(out.stdout, "golden input\n\tline two\n");
    assert_eq!(out.stderr, "", "the trace went to the file");
    let golden = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/golden/hello.trace"))
        .unwrap()
        .replace("@INPUT@", input.to_str().unwrap());
    let traced = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(traced, golden);
}

#[test]
fn trace_goes_to_stderr_by_default_and_strings_are_cut() {
    let input = input();
    let out = Run::new(guest("hello-glibc")).args([&input]).emu_options(["--trace=write", "-s", "6"]).under_emu();
    assert_eq!(out.stderr, format!("{}\n+++ exited with 0 +++\n", line("write(1, \"golden\"..., 23)", "23")));
}

#[test]
fn a_call_can_be_left_out() {
    let out = Run::new(guest("hello-glibc")).emu_options(["--trace=!brk,!mprotect"]).under_emu();
    assert!(!out.stderr.contains("brk("), "{}", out.stderr);
    assert!(out.stderr.contains("arch_prctl(ARCH_SET_FS, 0x"), "{}", out.stderr);
    // /proc/self/exe names the guest, not emu.
    let exe = guest("hello-glibc");
    let expected = format!(
        "readlink(\"/proc/self/exe\", \"{}\"..., 4096) = {}",
        &exe.to_str().unwrap()[..32],
        exe.as_os_str().len()
    );
    assert!(out.stderr.contains(&expected), "{expected}\n{}", out.stderr);
}

#[test]
fn structures_and_flags_are_decoded() {
    let out = Run::new(guest("tour-glibc")).emu_options(["--trace=newfstatat,openat,mkdir,rt_sigaction"]).under_emu();
    let t = &out.stderr;
    assert!(t.contains("newfstatat(AT_FDCWD, \"notes.txt\", {st_mode=S_IFREG|0644, st_size=62, ...}, 0) = 0"), "{t}");
    assert!(t.contains("openat(AT_FDCWD, \"raw.bin\", O_WRONLY|O_CREAT|O_TRUNC, 0640) = 3"), "{t}");
    assert!(t.contains(&line("mkdir(\"sub\", 0755)", "0")), "{t}");
    let sig = Run::new(guest("signals-glibc")).emu_options(["--trace=rt_sigaction"]).under_emu();
    assert!(
        sig.stderr.contains("rt_sigaction(SIGUSR1, {sa_handler=0x")
            && sig.stderr.contains("sa_flags=SA_RESTORER|SA_SIGINFO"),
        "{}",
        sig.stderr
    );
}

#[test]
fn signals_and_deaths_are_shown() {
    let out = Run::new(guest("crash-glibc")).emu_options(["--trace=exit_group"]).under_emu();
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert!(lines.contains(&"--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---"), "{}", out.stderr);
    assert_eq!(lines.last(), Some(&"+++ killed by SIGSEGV +++"));
    let sig = Run::new(guest("signals-glibc")).emu_options(["--trace=exit_group"]).under_emu();
    assert!(sig.stderr.contains("--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_TKILL, si_pid="), "{}", sig.stderr);
}

#[test]
fn lines_carry_pids_once_the_guest_forks() {
    let out =
        Run::new(guest("fork_exec-glibc")).args([busybox()]).emu_options(["--trace=exit_group,execve"]).under_emu();
    let t = &out.stderr;
    // The exec emu starts with comes before any fork: it has no pid.
    let (first, rest) = t.split_once('\n').unwrap();
    assert!(first.starts_with("execve(\"") && first.ends_with(" = 0"), "{t}");
    assert!(rest.lines().all(|l| l.starts_with("[pid ") || l.starts_with("emu:")), "{t}");
    assert!(t.contains("] exit_group(42)"), "{t}");
    // The exec'd busybox is traced too, in the same output.
    assert!(t.contains(&format!("] execve(\"{}\", [\"echo\", \"exec'd\", \"echo\"], 0x", busybox().display())), "{t}");
    assert!(t.matches("+++ exited with 0 +++").count() >= 3, "{t}");
}

#[test]
fn unknown_call_names_are_refused() {
    let out = Run::new(guest("hello-glibc")).emu_options(["--trace=openat,nosuchcall"]).under_emu();
    assert_eq!(out.status, 2);
    assert_eq!(out.stderr, "emu: --trace: the linux-x86_64 table has no call named `nosuchcall`\n");
}

#[test]
fn stats_count_calls_and_errors() {
    let input = input();
    let out = Run::new(guest("hello-glibc")).args([&input]).emu_options(["--stats"]).under_emu();
    assert_eq!(out.status, 0);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines[0], "% time     seconds  usecs/call     calls    errors syscall");
    assert_eq!(lines[1], "------ ----------- ----------- --------- --------- ----------------");
    let row = |name: &str| lines.iter().find(|l| l.split_whitespace().last() == Some(name)).copied();
    let openat: Vec<&str> = row("openat").expect("an openat row").split_whitespace().collect();
    assert_eq!(&openat[3..], ["2", "1", "openat"], "calls and errors of openat");
    let write: Vec<&str> = row("write").expect("a write row").split_whitespace().collect();
    assert_eq!(&write[3..], ["1", "write"]);
    let total: Vec<&str> = row("total").unwrap().split_whitespace().collect();
    let sum: u64 = lines[2..]
        .iter()
        .take_while(|l| !l.starts_with("------"))
        .map(|l| l.split_whitespace().nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total[3].parse::<u64>().unwrap(), sum);
}

#[test]
fn stats_add_up_the_children() {
    let out = Run::new(guest("fork_exec-glibc")).args([busybox()]).emu_options(["--stats"]).under_emu();
    let lines: Vec<&str> = out.stderr.lines().collect();
    let exits = lines.iter().find(|l| l.ends_with(" exit_group")).expect("an exit_group row");
    // The parent does not return from exit_group before printing: the children's exits are counted.
    let calls: u64 = exits.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert!(calls >= 5, "{}", out.stderr);
    assert_eq!(out.stderr.matches("% time").count(), 1, "one table, printed by the first process");
}

#[test]
fn numbers_the_table_lacks_are_shown_raw_when_everything_is_traced() {
    let all = Run::new(guest("unsupported-glibc")).emu_options(["--trace"]).under_emu();
    let raw = all.stderr.lines().find(|l| l.starts_with("syscall_0x3e7(")).expect("a line for number 999");
    assert!(
        raw.starts_with("syscall_0x3e7(0x1, 0x2, 0x3, ") && raw.ends_with(") = -1 ENOSYS (Function not implemented)"),
        "{raw}"
    );
    assert!(
        all.stderr.contains(&line("map_shadow_stack(NULL, 4096, 0)", "-1 ENOSYS (Function not implemented)")),
        "{}",
        all.stderr
    );
    let some = Run::new(guest("unsupported-glibc")).emu_options(["--trace=write"]).under_emu();
    assert!(!some.stderr.contains("syscall_0x3e7"), "{}", some.stderr);
}

#[test]
fn process_calls_read_like_strace() {
    let out = Run::new(guest("fork_exec-glibc"))
        .args([busybox()])
        .emu_options(["--trace=clone,clone3,wait4,pipe2"])
        .under_emu();
    let t = &out.stderr;
    let lines: Vec<&str> = t.lines().collect();
    // Each fork shows once, in the parent, with its pid; the child's return is not a line.
    let clones: Vec<&&str> = lines.iter().filter(|l| l.contains("] clone(")).collect();
    assert_eq!(clones.len(), 3, "{t}");
    assert!(
        clones.iter().all(|l| l.contains("clone(CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, NULL, 0x")),
        "{t}"
    );
    assert!(lines.iter().all(|l| !l.ends_with(") = 0") || l.contains("pipe2")), "{t}");
    // posix_spawn's clone3, with its arguments.
    assert!(t.contains("clone3({flags=CLONE_VM|CLONE_VFORK, exit_signal=SIGCHLD, stack=0x"), "{t}");
    assert!(t.contains("wait4(") && t.contains(", [{WIFEXITED(s) && WEXITSTATUS(s) == 42}], 0, NULL) = "), "{t}");
    assert!(lines.iter().any(|l| l.contains("] pipe2([3, 4], 0) ") && l.ends_with(" = 0")), "{t}");
}

#[test]
fn signal_returns_and_filled_strings_read_like_strace() {
    let out = Run::new(guest("signals-glibc")).emu_options(["--trace=rt_sigreturn,read"]).under_emu();
    // The interrupted read: the handler's return gives back EINTR, with the mask it restores.
    assert!(
        out.stderr.contains(&line("rt_sigreturn({mask=[]})", "-1 EINTR (Interrupted system call)")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&line("rt_sigreturn({mask=[ALRM]})", "-1 EINTR (Interrupted system call)")),
        "{}",
        out.stderr
    );
    let cwd = Run::new(busybox()).args(["pwd"]).dir("/tmp").emu_options(["--trace=getcwd"]).under_emu();
    assert!(
        cwd.stderr.starts_with("getcwd(\"/tmp\", ") && cwd.stderr.lines().next().unwrap().ends_with("= 5"),
        "{}",
        cwd.stderr
    );
}

/// A signal whose default kills the guest is traced and counted like strace
/// shows it, and the statistics are printed before the end.
#[test]
fn deaths_by_default_signals_are_traced_and_counted() {
    let out = Run::new(guest("signals-glibc")).emu_options(["--trace=tgkill", "--stats"]).under_emu();
    assert_eq!(out.status, 128 + libc::SIGUSR1);
    let lines: Vec<&str> = out.stderr.lines().collect();
    let death = lines.iter().position(|l| *l == "+++ killed by SIGUSR1 +++").expect("the death line");
    assert!(lines[death - 1].starts_with("--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_TKILL, si_pid="), "{}", out.stderr);
    assert!(lines[death + 1].starts_with("% time"), "the statistics follow: {}", out.stderr);
    // Without --trace or --stats, emu leaves such signals to the kernel.
    let plain = Run::new(guest("signals-glibc")).under_emu();
    assert_eq!((plain.status, plain.stderr.as_str()), (128 + libc::SIGUSR1, ""));
}

#[test]
fn a_death_by_sigpipe_is_traced() {
    let bb = busybox();
    let script = format!("{} yes | {} head -n 1 >/dev/null", bb.display(), bb.display());
    let out = Run::new(&bb).args(["sh", "-c", &script]).emu_options(["--trace=exit_group"]).under_emu();
    assert!(out.stderr.contains("--- SIGPIPE {si_signo=SIGPIPE, si_code=SI_USER, si_pid="), "{}", out.stderr);
    assert!(out.stderr.contains("] +++ killed by SIGPIPE +++"), "{}", out.stderr);
}

#[test]
fn deaths_by_sigterm_and_abort_are_traced() {
    for (args, sig, name) in [(vec!["term"], libc::SIGTERM, "SIGTERM"), (vec![], libc::SIGABRT, "SIGABRT")] {
        let run = Run::new(guest("abort-glibc")).args(args).emu_options(["--trace=exit_group"]);
        let out = run.under_emu();
        assert_eq!(out.status, run.native().status);
        assert_eq!(out.status, 128 + sig);
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.last(), Some(&format!("+++ killed by {name} +++").as_str()), "{}", out.stderr);
        assert!(
            lines[lines.len() - 2].starts_with(&format!("--- {name} {{si_signo={name}, si_code=SI_TKILL")),
            "{}",
            out.stderr
        );
    }
}

/// A trace written to a pipe whose reader has gone: emu's writes fail, and
/// the SIGPIPE they raise is emu's, never the guest's (which handles
/// SIGPIPE and counts them in its exit status).
#[test]
fn a_closed_trace_pipe_sends_the_guest_no_sigpipe() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(emu())
        .args(["--trace"])
        .arg(guest("handles_sigpipe-glibc"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap()).read_line(&mut first).unwrap();
    // The reader is gone now; the guest goes on making traced calls.
    let status = child.wait().unwrap();
    assert!(!first.is_empty());
    assert_eq!(status.code(), Some(0), "the guest got SIGPIPEs: {status:?}");
}

/// A dynamically linked program's trace shows its run-time linker's calls,
/// and its calls by name are strace's, the exec it starts with included.
#[test]
fn a_dynamic_program_traces_as_strace_shows_it() {
    let d = scratch("trace-ls");
    for f in ["one", "two", "three"] {
        std::fs::write(d.join(f), f).unwrap();
    }
    let names = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| {
                // strace -f: "PID name(...", emu: "name(..." or "[pid N] name(...".
                let l = l.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ');
                let l = l.strip_prefix("[pid").map_or(l, |r| r.split_once("] ").map_or(r, |(_, r)| r));
                let name: String = l.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                (!name.is_empty() && l[name.len()..].starts_with('(')).then_some(name)
            })
            .collect()
    };
    let strace_out = trace_file("ls.strace");
    let native = Run::new("/usr/bin/strace")
        .args(["-f".as_ref(), "-qq".as_ref(), "-o".as_ref(), strace_out.as_os_str(), "/bin/ls".as_ref()])
        .dir(&d)
        .native();
    assert_eq!(native.status, 0, "{}", native.stderr);
    let emu_out = trace_file("ls.emu");
    let emulated =
        Run::new("/bin/ls").emu_options(["--trace".as_ref(), "-o".as_ref(), emu_out.as_os_str()]).dir(&d).under_emu();
    assert_eq!((emulated.status, emulated.stdout.as_str()), (0, "one\nthree\ntwo\n"));
    let traced = std::fs::read_to_string(&emu_out).unwrap();
    assert!(
        traced.contains("openat(AT_FDCWD, \"/lib/x86_64-linux-gnu/libc.so.6\", O_RDONLY|O_CLOEXEC) = 3"),
        "{traced}"
    );
    assert!(traced.contains("mprotect(0x"), "{traced}");
    assert_eq!(names(&traced), names(&std::fs::read_to_string(&strace_out).unwrap()));
}

/// `--trace-format=json`: every line is an object of the schema in
/// docs/trace-json.schema.json (checked here for its required keys, their
/// types and no others), and says what the strace format says.
#[test]
fn json_traces_follow_their_schema() {
    use serde_json::Value;
    let schema: Value = serde_json::from_str(include_str!("../docs/trace-json.schema.json")).unwrap();
    let input = input();
    let out = Run::new(guest("hello-glibc"))
        .args([&input])
        .emu_options(["--trace=openat,read,write,close,exit_group", "--trace-format=json", "--inject=close:retval=0"])
        .under_emu();
    assert_eq!(out.status, 0, "{}", out.stderr);
    let lines: Vec<Value> = out.stderr.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for line in &lines {
        support::schema::check(&schema, line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    assert_eq!(
        (&lines[0]["image"], &lines[0]["abi"]),
        (&Value::from(guest("hello-glibc").to_str().unwrap()), &Value::from("linux-x86_64"))
    );
    let open = lines.iter().find(|l| l["name"] == "openat").unwrap();
    assert_eq!(open["args"][1], format!("\"{}\"", input.display()));
    assert_eq!(open["result"], 3);
    let close = lines.iter().find(|l| l["name"] == "close").unwrap();
    assert_eq!((&close["result"], &close["injected"]), (&Value::from(0), &Value::from(true)));
    assert_eq!(lines.last().unwrap()["exited"], 0);
    let failed = Run::new(guest("hello-glibc"))
        .args(["/nonexistent"])
        .emu_options(["--trace=openat", "--trace-format=json"])
        .under_emu();
    let line: Value = serde_json::from_str(failed.stderr.lines().nth(1).unwrap()).unwrap();
    assert_eq!((&line["result"], &line["errno"]), (&Value::from(-1), &Value::from("ENOENT")));
}
