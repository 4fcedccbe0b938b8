//! What hostile, broken and resource-limited guests do to emu: each case is
//! run natively and under emu, and must end the same way.

mod support;
use support::*;

/// The guest's EFLAGS are its own: alignment checking set by popfq or by a
/// handler's sigreturn frame does not reach emu's code (which would fault
/// on its first unaligned access), and single-step traps count as natively.
#[test]
fn guest_eflags_alignment_check_and_trap_flag() {
    let run = Run::new(guest("eflags"));
    let out = assert_like_native(&run);
    assert_eq!(
        out.stdout,
        "write with AC set: ok\nAC after the calls: set\n\
         write after a sigreturn that set AC: ok\nAC after the handler: set\n\
         single-step traps: 07\n"
    );
    // Tracing and counting run much more of emu per call.
    for option in ["--trace", "--stats"] {
        let traced = run.clone().emu_options([option]).under_emu();
        assert_eq!((traced.status, traced.stdout.as_str()), (0, out.stdout.as_str()), "{option}: {}", traced.stderr);
    }
}

/// Nothing the guest passes to execve is taken for emu's options: argv[0]
/// as a login shell has it ("-sh"), "--help", "--", bytes that are not
/// UTF-8; nor does an EMU_LOG in the guest's environment change emu.
#[test]
fn exec_argv0_is_never_an_option() {
    let out = assert_like_native(&Run::new(guest("exec_argv0-glibc")));
    let expected: String = ["-sh", "--help", "--", "-", "--trace", "\u{fffd}-not-utf8"]
        .iter()
        .map(|a| format!("argv[0]=<{a}> argv[1]=<--argv0> argc=3\n"))
        .collect();
    assert_eq!(out.stdout, expected);
    // The same spelling on emu's own command line.
    let direct = Run::new(guest("exec_argv0-glibc")).args(["x"]).emu_options(["--argv0", "-sh"]).under_emu();
    assert_eq!(direct.stdout, "argv[0]=<-sh> argv[1]=<x> argc=2\n");
}

/// clone3 reads its structure as the kernel does: bytes past the fields it
/// knows must be zero (E2BIG, and no child), a size above a page is E2BIG,
/// one below the first version EINVAL, an unreadable tail EFAULT.
#[test]
fn clone3_structure_sizes() {
    let out = assert_like_native(&Run::new(guest("clone3_sizes-glibc")));
    assert_eq!(
        out.stdout,
        "size 88: child exited 3\n\
         size 4096, zero tail: child exited 3\n\
         size 4096, non-zero tail: -1 (Argument list too long)\n\
         size 4097: -1 (Argument list too long)\n\
         size 63: -1 (Invalid argument)\n\
         size 96 at the end of the page: child exited 3\n\
         size 120, tail unreadable: -1 (Bad address)\n"
    );
}

/// A handler's changes to its saved context are judged as the kernel judges
/// them: the FPU state (NULL, unmapped, in the kernel, reserved MXCSR bits,
/// a bad XSAVE header), CS and SS, the altstack words. What the kernel
/// refuses kills with SIGSEGV (or reaches a SIGSEGV handler with
/// SI_KERNEL), and emu says why in one line.
#[test]
fn sigreturn_of_corrupted_frames() {
    let run = Run::new(guest("sigreturn_frames-glibc"));
    let (native, emulated) = (run.native(), run.under_emu());
    assert_eq!((emulated.status, emulated.stdout.as_str()), (native.status, native.stdout.as_str()));
    for killed in [
        "fpregs unmapped",
        "fpregs in the kernel",
        "MXCSR reserved bits",
        "xstate_bv garbage",
        "CS 0x1234",
        "SS 0x1234",
    ] {
        assert!(native.stdout.contains(&format!("{killed}: killed by signal 11\n")), "{killed}: {}", native.stdout);
    }
    for survived in ["unchanged", "fpregs NULL", "x87/XMM garbage", "sw_reserved garbage", "uc_stack flags garbage"] {
        assert!(native.stdout.contains(&format!("{survived}: exited 0\n")), "{survived}: {}", native.stdout);
    }
    assert!(native.stdout.contains("SIGSEGV handler: si_code 128\n"), "{}", native.stdout);
    let refused = emulated.stderr.lines().filter(|l| l.ends_with(": rt_sigreturn refused the signal frame")).count();
    assert_eq!(refused, native.stdout.matches("killed by signal 11").count() - 1, "{}", emulated.stderr);
    assert!(
        emulated.stderr.contains(": rt_sigreturn could not read the signal frame at 0x1000\n"),
        "{}",
        emulated.stderr
    );
}

/// Two things wrong at once: the errno is the one the kernel checks first
/// (a wrong set size before a bad mask pointer, a bad action pointer before
/// a bad signal number, a bad timeout before either).
#[test]
fn errno_order_of_argument_checks() {
    let out = assert_like_native(&Run::new(guest("errno_order-glibc")));
    assert!(out.stdout.contains("ppoll(bad mask, size 4)"), "{}", out.stdout);
    assert!(out.stdout.contains("RAX 0x100000027: getpid\n"), "{}", out.stdout);
}

/// A guest that has used every descriptor can still execve (emu's own exec
/// work takes its reserve slots, not the guest's).
#[test]
fn exec_with_a_full_descriptor_table() {
    let bb = busybox();
    let run = Run::new(guest("full_fd_table-glibc")).args([bb.to_str().unwrap(), "echo", "exec'd with a full table"]);
    let out = assert_like_native(&run);
    assert_eq!(out.stdout, "exec'd with a full table\n");
    // And with a small table, under a shell that lowered the limit.
    let script =
        format!("ulimit -n 64 && exec {} {} echo small table", guest("full_fd_table-glibc").display(), bb.display());
    let out = assert_like_native(&Run::new(&bb).args(["sh", "-c", &script]));
    assert_eq!(out.stdout, "small table\n");
}

/// Runs `script` with a native shell, once with GUEST standing for the
/// guest and once for `emu GUEST`: emu started with small limits.
///
/// With a small environment, as a login shell's: the stack a small limit
/// leaves is shared with the environment, natively as under emu.
fn shell_with_limits(script: &str, guest_path: &std::path::Path) -> (Outcome, Outcome) {
    let sh = |script: String| Run::new(busybox()).args(["sh".into(), "-c".into(), script]).clear_env().env("HOME", "/");
    let native = sh(script.replace("GUEST", guest_path.to_str().unwrap())).native();
    let under = format!("{} {}", emu().display(), guest_path.display());
    let emulated = sh(script.replace("GUEST", &under)).native();
    (native, emulated)
}

/// emu's own stack does not depend on the guest's RLIMIT_STACK (a shell's
/// `ulimit -s 24`, or 16), and the guest sees the limit it was given; a
/// guest that lowers it and execs runs the same.
#[test]
fn small_stack_limits() {
    let limits = guest("limits-glibc");
    for kib in ["16", "24"] {
        let (native, emulated) = shell_with_limits(&format!("ulimit -s {kib} && exec GUEST stack"), &limits);
        assert_eq!(native, emulated, "ulimit -s {kib}");
        assert_eq!(native.stdout, format!("RLIMIT_STACK: {kib} KiB\n"));
    }
    // Lowered by the guest (a shell under emu), then an exec. With the
    // harness's environment (several KiB) this fails now and then under emu
    // where it works natively: emu's exec of itself adds its options to the
    // arguments, and a 16 KiB limit leaves the kernel no room to spare
    // (a known limit, in the README).
    let sh = busybox();
    let script = format!("ulimit -s 16 && exec {} stack", limits.display());
    let out = assert_like_native(&Run::new(&sh).args(["sh", "-c", &script]).clear_env().env("HOME", "/"));
    assert_eq!(out.stdout, "RLIMIT_STACK: 16 KiB\n");
}

/// The guest's stack grows as a process's main stack does: to RLIMIT_STACK
/// whatever it is (unlimited: far beyond 8 MiB), for the guest's own
/// accesses and for the signal frames emu writes there.
#[test]
fn the_stack_grows_as_natively() {
    let limits = guest("limits-glibc");
    let sh = busybox();
    let script = format!("ulimit -s unlimited && exec {} deep 64", limits.display());
    let out = assert_like_native(&Run::new(&sh).args(["sh", "-c", &script]));
    assert_eq!(out.stdout, "recursed through 64 MiB of stack\n");
    // And no further than the limit: 16 MiB of recursion in 8 dies.
    let script = format!("ulimit -s 8192 && exec {} deep 16", limits.display());
    let run = Run::new(&sh).args(["sh", "-c", &script]);
    let (native, emulated) = (run.native(), run.under_emu());
    assert_eq!((native.status, native.stdout.as_str()), (128 + libc::SIGSEGV, ""));
    assert_eq!((emulated.status, emulated.stdout.as_str()), (native.status, ""), "{}", emulated.stderr);
    let out = assert_like_native(&Run::new(&limits).args(["grow"]));
    assert_eq!(out.stdout, "handler ran below a grown stack: 1\n");
}

/// RLIMIT_DATA is the guest's: emu's own memory does not count against it
/// (a shell's `ulimit -d 8192` starts the guest), and the guest's private
/// writable mappings and break do, as natively.
#[test]
fn data_limits() {
    let limits = guest("limits-glibc");
    let (native, emulated) = shell_with_limits("ulimit -d 8192 && exec GUEST stack", &limits);
    assert_eq!(native, emulated);
    let out = assert_like_native(&Run::new(&limits).args(["data", "16"]));
    assert_eq!(
        out.stdout,
        "private writable, a quarter of the limit: ok\n\
         private writable, twice the limit: ENOMEM\n\
         private writable, MAP_NORESERVE, twice: ENOMEM\n\
         read-only, twice: ok\n\
         shared writable, twice: ok\n\
         mprotect to writable, twice: ENOMEM\n\
         brk by twice the limit: ENOMEM\n\
         brk unchanged: 1\n"
    );
}

/// What the kernel's execve refuses, a guest's execve gets as its error
/// (not a 126 from a new image after the fact): #! chains (five scripts,
/// then ELOOP), a missing or non-executable interpreter, a #! line too long,
/// an interpreter path that is not UTF-8, a FIFO (EACCES at once, not a
/// hang), a directory, text, a file open for writing (ETXTBSY), an argument
/// too long (E2BIG). What the kernel kills while loading dies the same way.
#[test]
fn exec_errors_reach_the_guest() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let d = scratch("exec-errors");
    let bb = busybox();
    for (chain, scripts) in [("chain5", 5), ("chain6", 6)] {
        std::fs::create_dir(d.join(chain)).unwrap();
        for i in 1..=scripts {
            let line =
                if i == scripts { format!("#!{} echo\n", bb.display()) } else { format!("#!./{chain}/s{}\n", i + 1) };
            write_file(&d.join(chain).join(format!("s{i}")), line.as_bytes(), 0o755);
        }
    }
    write_file(&d.join("missing-interp"), b"#!/nonexistent/interp\n", 0o755);
    write_file(&d.join("plain.txt"), b"text\n", 0o644);
    write_file(&d.join("noexec-interp"), b"#!./plain.txt\n", 0o755);
    write_file(&d.join("long-line"), format!("#!{}\n", "a".repeat(300)).as_bytes(), 0o755);
    write_file(&d.join("text"), b"just text\n", 0o755);
    let weird = OsStr::from_bytes(b"\xff-interp");
    std::os::unix::fs::symlink(guest("exec_argv0-glibc"), d.join(weird)).unwrap();
    write_file(&d.join("non-utf8"), b"#!./\xff-interp\n", 0o755);
    let fifo = std::ffi::CString::new(d.join("fifo").as_os_str().as_bytes()).unwrap();
    // SAFETY: a path of ours.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o755) }, 0);
    std::fs::create_dir(d.join("dir")).unwrap();
    write_file(&d.join("busy"), &std::fs::read(guest("hello-glibc")).unwrap(), 0o755);
    let _writer = std::fs::OpenOptions::new().write(true).open(d.join("busy")).unwrap();
    let incongruent = support::elf::Elf::new(support::elf::ET_EXEC, 0x401000)
        .phdr(support::elf::Phdr::load(support::elf::PF_R | support::elf::PF_X, 0x10, 0x400000, 0x2000, 0x2000))
        .len(0x3000);
    write_file(&d.join("incongruent"), &incongruent.bytes(), 0o755);

    let names = [
        "./chain5/s1",
        "./chain6/s1",
        "./missing-interp",
        "./noexec-interp",
        "./long-line",
        "./non-utf8",
        "./fifo",
        "./dir",
        "./text",
        "./busy",
        "./incongruent",
        "big:100000",
        "big:200000",
    ];
    let run = Run::new(guest("try_exec-glibc")).args(names).dir(&d);
    let (native, emulated) = (run.native(), run.under_emu());
    assert_eq!((emulated.status, &emulated.stdout), (native.status, &native.stdout), "{}", emulated.stderr);
    for expected in [
        "./chain5/s5 ./chain5/s4 ./chain5/s3 ./chain5/s2 ./chain5/s1 arg\n./chain5/s1: exit 0\n",
        "./chain6/s1: ELOOP\n",
        "./missing-interp: ENOENT\n",
        "./noexec-interp: EACCES\n",
        "./long-line: ENOEXEC\n",
        "argv[0]=<./\u{fffd}-interp> argv[1]=<./non-utf8> argc=3\n",
        "./fifo: EACCES\n",
        "./dir: EACCES\n",
        "./text: ENOEXEC\n",
        "./busy: ETXTBSY\n",
        "./incongruent: killed by signal 11\n",
        "big:100000: exit 0\n",
        "big:200000: E2BIG\n",
    ] {
        assert!(native.stdout.contains(expected), "{expected:?} in:\n{}", native.stdout);
    }
    // From emu's command line: one line and the shell's status.
    for (name, status, end) in [
        ("chain6/s1", 126, "cannot execute: too many levels of #! interpreters"),
        ("fifo", 126, "Permission denied (os error 13): a FIFO, not a regular file"),
        ("busy", 126, "Text file busy (os error 26)"),
    ] {
        let out = Run::new(d.join(name)).dir(&d).under_emu();
        assert_eq!(out.status, status, "{name}: {}", out.stderr);
        assert_eq!(out.stderr, format!("emu: {}: {end}\n", d.join(name).display()), "{name}");
    }
}

/// The kernel keeps a running program's file from being written (ETXTBSY).
/// emu cannot give the guest's image that protection (PR_SET_MM_EXE_FILE
/// needs privilege and an executable emu's own code does not keep mapped):
/// a guest whose file is rewritten under it crashes, and emu says why.
#[test]
fn a_rewritten_executable_is_reported() {
    let d = scratch("self-rewrite");
    let copy = d.join("self_rewrite");
    write_file(&copy, &std::fs::read(guest("self_rewrite-glibc")).unwrap(), 0o755);
    let native = Run::new(&copy).native();
    assert_eq!((native.status, native.stdout.as_str()), (0, "cannot open itself for writing: ETXTBSY\n"));
    let emulated = Run::new(&copy).under_emu();
    assert_eq!((emulated.status, emulated.stdout.as_str()), (128 + libc::SIGILL, "rewrote itself\n"));
    assert!(
        emulated.stderr.trim_end().ends_with(": ud2 (its executable file was changed while it ran)"),
        "{}",
        emulated.stderr
    );
}

/// A file that another process truncates and rewrites while emu loads it
/// (which the kernel would forbid with ETXTBSY): emu never dies silently.
/// Each start runs the program, or ends with a line of emu's.
#[test]
fn a_file_that_shrinks_while_loading() {
    let d = scratch("shrinking");
    let path = d.join("hello");
    let whole = std::fs::read(guest("hello-glibc")).unwrap();
    write_file(&path, &whole, 0o755);
    let expected = Run::new(&path).native();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, path, whole) = (stop.clone(), path.clone(), whole.clone());
        std::thread::spawn(move || {
            use std::os::unix::fs::FileExt;
            let mut cut = 64;
            let open = || std::fs::OpenOptions::new().write(true).open(&path);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Open for writing only a moment each time (emu says
                // ETXTBSY for the starts that meet a writer).
                if let Ok(f) = open() {
                    let _ = f.set_len(cut);
                }
                std::thread::sleep(std::time::Duration::from_micros(200));
                if let Ok(f) = open() {
                    let _ = f.write_all_at(&whole, 0);
                }
                std::thread::sleep(std::time::Duration::from_micros(700));
                cut = (cut * 7 + 4096) % whole.len() as u64;
            }
        })
    };
    let mut outcomes = std::collections::BTreeMap::new();
    for _ in 0..150 {
        // The guest's code comes from the file as it is when a page is
        // first touched, so a start may run a half-written program, which
        // may loop forever (natively the kernel forbids the writes). A start
        // that hangs is ended and its threads' states shown; only a death
        // without a word is emu's failure.
        // A half-written program may also allocate without end: the data
        // limit makes that an ENOMEM rather than a start the OOM killer ends.
        let out = Run::new(&path).hang_after(std::time::Duration::from_secs(20)).data_limit(1 << 30).under_emu();
        if let Some(threads) = &out.hung {
            eprintln!("a start ran a changed file and hung: threads {threads}, stderr {:?}", out.stderr);
            *outcomes.entry(-1).or_insert(0) += 1;
            continue;
        }
        if out.status == 128 + libc::SIGKILL {
            // emu never sends itself SIGKILL: the kernel does, for a
            // memory-hungry process when the machine runs short (a
            // half-written program's mappings outside the data limit).
            // That is not a silent death of emu's own.
            eprintln!("a start ran a changed file and was killed from outside (SIGKILL), stderr {:?}", out.stderr);
            *outcomes.entry(-2).or_insert(0) += 1;
            continue;
        }
        let ran = out.status == expected.status && out.stdout == expected.stdout;
        let said = out.stderr.lines().any(|l| l.starts_with("emu: "));
        assert!(
            ran || said,
            "a start ended silently: status {}, stdout {:?}, stderr {:?}",
            out.status,
            out.stdout,
            out.stderr
        );
        *outcomes.entry(out.status).or_insert(0) += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    eprintln!("exit statuses while the file changed (-1: hung, ended by the test; -2: SIGKILL): {outcomes:?}");
}

/// Pointers no process may use (low, just unmapped, PROT_NONE, in the
/// kernel) give each call the errno they give natively, traced or not.
#[test]
fn bad_pointers_give_native_errnos() {
    let run = Run::new(guest("bad_pointers-glibc"));
    let out = assert_like_native(&run);
    assert!(out.stdout.lines().count() > 100 && out.stdout.contains("EFAULT"), "{}", out.stdout);
    let traced = run.clone().emu_options(["--trace", "-o", "/dev/null"]).under_emu();
    assert_eq!((traced.status, &traced.stdout), (out.status, &out.stdout), "{}", traced.stderr);
}
