//! Guests run under emu exactly as they run natively: the same stdout,
//! stderr and exit status. Linux guests can be run both ways, which makes
//! the native run the reference.

mod support;
use support::*;

fn tour(variant: &str) {
    let run = Run::new(guest(&format!("tour-{variant}")))
        .args(["plain", "with space", "ütf-8 ✓ naïve", "", "exit=7"])
        .env("EMU_TOUR", "from the environment")
        .stdin("standard input\nsecond line\n");
    let out = assert_like_native(&run);
    assert_eq!(out.status, 7);
    assert!(out.stdout.contains("argv[3]=<ütf-8 ✓ naïve>"), "{}", out.stdout);
    assert!(out.stdout.contains("sub: alpha mu zeta épsilon"), "{}", out.stdout);
    assert_eq!(out.stderr, "tour: a line on stderr\n");
}

#[test]
fn static_glibc() {
    tour("glibc");
}

#[test]
fn static_pie_glibc() {
    tour("pie");
}

#[test]
fn static_musl() {
    tour("musl");
}

#[test]
fn exit_statuses() {
    for code in ["0", "1", "42", "255"] {
        let out = assert_like_native(&Run::new(guest("tour-glibc")).args([format!("exit={code}")]));
        assert_eq!(out.status.to_string(), code);
    }
}

#[test]
fn freestanding_assembly() {
    let out = assert_like_native(&Run::new(guest("freestanding")));
    assert_eq!(out.stdout, "hello from assembly\n");
    assert_eq!(out.status, 1);
    let out = assert_like_native(&Run::new(guest("freestanding")).args(["argument one", "two"]));
    assert_eq!(out.stdout, "argument one\n");
    assert_eq!(out.status, 3);
}

/// The first instruction finds what a new program finds natively: every
/// general register but RSP zero, RFLAGS 0x202, the initial x87 control
/// word and MXCSR, zeroed XMM registers (emu's own vector state once
/// leaked into them: it entered the guest by a jump).
#[test]
fn the_first_instruction_finds_a_fresh_state() {
    let out = assert_like_native(&Run::new(guest("entry_state")));
    assert!(
        out.stdout.ends_with("rflags=0x202 fcw=0x37f mxcsr=0x1f80\nnon-zero bytes in xmm0-15: 0x0\n"),
        "{}",
        out.stdout
    );
}

/// The FPU state across calls emu carries out itself (the entry's frame,
/// saved with XSAVEOPT where the CPU has it) and in the frames of signals
/// that keep arriving meanwhile: a guest MXCSR, XMM8, ST0, with the x87
/// state in use, initial, and the SSE state initial too.
#[test]
fn fpu_state_survives_calls_and_signals() {
    for mode in ["x87", "init", "sse-init"] {
        let out = assert_like_native(&Run::new(guest("fp_frames-glibc")).args([mode]));
        assert_eq!(
            out.stdout,
            "handled at least 2000 signals: FCW wrong 0, MXCSR wrong 0, XMM8 wrong 0, ST0 wrong 0\n\
             calls made: more than 1000 yes; MXCSR lost 0, XMM8 lost 0\n",
            "{mode}"
        );
    }
}

#[test]
fn every_write_path() {
    for v in ["glibc", "musl"] {
        let out = assert_like_native(&Run::new(guest(&format!("write_paths-{v}"))));
        assert_eq!(out.stdout, "1 printf\n2 fwrite\n3 write\n4 syscall\n5 inline syscall\n");
    }
}

#[test]
fn signals() {
    for v in ["glibc", "pie", "musl"] {
        let out = assert_like_native(&Run::new(guest(&format!("signals-{v}"))));
        // The last act is a default-action SIGUSR1.
        assert_eq!(out.status, 128 + libc::SIGUSR1, "{v}");
        assert!(out.stdout.contains("read with SA_RESTART: 1 (x)"), "{v}: {}", out.stdout);
        assert!(
            out.stdout.contains("sigsuspend: -1 (Interrupted system call), got SIGALRM, SIGALRM blocked again: 1"),
            "{v}"
        );
    }
}

#[test]
fn fork_exec_and_spawn() {
    let out = assert_like_native(&Run::new(guest("fork_exec-glibc")).args([busybox()]));
    assert_eq!(
        out.stdout,
        "fork: child exited with 42\n\
         pipe: 16 bytes: through the pipe; child 0\n\
         exec'd echo\n\
         exec: child 0\n\
         spawned\n\
         posix_spawn: child 3\n\
         failed exec: No such file or directory\n\
         exec of a text file: Exec format error\n"
    );
}

#[test]
fn a_crash_is_reported_and_kills_like_natively() {
    let run = Run::new(guest("crash-glibc"));
    let native = run.native();
    let emulated = run.under_emu();
    assert_eq!(native.status, 128 + libc::SIGSEGV);
    assert_eq!(emulated.status, native.status);
    assert_eq!(emulated.stdout, "");
    let lines: Vec<&str> = emulated.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", emulated.stderr);
    assert!(
        lines[0].starts_with(&format!("emu: {}: killed by SIGSEGV at 0x", guest("crash-glibc").display())),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("(address 0x0 not mapped)") && lines[0].ends_with(": mov dword ptr [0],1"),
        "{}",
        lines[0]
    );
}

/// Debian's busybox-static: one static binary, many programs.
mod busybox_applets {
    use super::*;

    fn applet(args: &[&str], stdin: &str) -> Outcome {
        assert_like_native(&Run::new(busybox()).args(args).stdin(stdin))
    }

    /// A directory of files for one test (tests run in parallel: each its own).
    fn fixture(test: &str) -> std::path::PathBuf {
        let d = scratch(&format!("busybox-{test}"));
        for (name, body) in [("b.txt", "banana\napple\ncherry\n"), ("a.txt", "one two three\n"), ("c d.txt", "")] {
            std::fs::write(d.join(name), body).unwrap();
        }
        std::fs::create_dir(d.join("sub")).unwrap();
        // Fixed times, so that `ls -l` shows the same thing twice.
        for name in ["b.txt", "a.txt", "c d.txt", "sub"] {
            let p = std::ffi::CString::new(d.join(name).to_str().unwrap()).unwrap();
            let t = [libc::timespec { tv_sec: 1_700_000_000, tv_nsec: 0 }; 2];
            // SAFETY: a valid path and times.
            unsafe { libc::utimensat(libc::AT_FDCWD, p.as_ptr(), t.as_ptr(), 0) };
        }
        d
    }

    #[test]
    fn echo() {
        let out = applet(&["echo", "-e", "hello\\tworld", "ütf-8"], "");
        assert_eq!(out.stdout, "hello\tworld ütf-8\n");
    }

    #[test]
    fn cat() {
        let d = fixture("cat");
        let out = applet(&["cat", d.join("b.txt").to_str().unwrap(), "-"], "from stdin\n");
        assert_eq!(out.stdout, "banana\napple\ncherry\nfrom stdin\n");
        let missing = applet(&["cat", "/nonexistent/emu"], "");
        assert_eq!(missing.status, 1);
    }

    #[test]
    fn ls() {
        let d = fixture("ls");
        let out = applet(&["ls", "-la", "--full-time", d.to_str().unwrap()], "");
        assert!(out.stdout.contains("c d.txt"), "{}", out.stdout);
        applet(&["ls", "-1R", d.to_str().unwrap()], "");
    }

    #[test]
    fn sort() {
        let out = applet(&["sort", "-r"], "pear\napple\nzucchini\nfig\n");
        assert_eq!(out.stdout, "zucchini\npear\nfig\napple\n");
    }

    #[test]
    fn wc() {
        let d = fixture("wc");
        let out = applet(&["wc", d.join("a.txt").to_str().unwrap(), d.join("b.txt").to_str().unwrap()], "");
        assert!(out.stdout.contains("total"));
    }

    #[test]
    fn sha256sum() {
        let out = applet(&["sha256sum"], "abc");
        assert_eq!(out.stdout, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  -\n");
    }

    #[test]
    fn seq() {
        let out = applet(&["seq", "-s", ",", "1", "3", "20"], "");
        assert_eq!(out.stdout, "1,4,7,10,13,16,19\n");
    }

    /// A writer to a closed pipe dies of SIGPIPE, as natively: emu hands the
    /// guest the disposition it inherited, not the one Rust's runtime sets.
    #[test]
    fn sigpipe_kills_like_natively() {
        let bb = busybox();
        let script = format!("({bb} yes; echo \"yes ended with $?\" >&2) | {bb} head -n 2", bb = bb.display());
        let out = applet(&["sh", "-c", &script], "");
        assert_eq!(out.stdout, "y\ny\n");
        assert_eq!(out.stderr, format!("yes ended with {}\n", 128 + libc::SIGPIPE));
    }

    #[test]
    fn shell_pipeline_forks_and_execs() {
        let bb = busybox();
        let script = format!("{bb} echo one two | {bb} wc -w; {bb} sh -c 'exit 3'; echo status $?", bb = bb.display());
        let out = applet(&["sh", "-c", &script], "");
        assert_eq!(out.stdout, "2\nstatus 3\n");
    }
}

/// argc, argv, envp and the auxiliary vector as the kernel lays them out.
#[test]
fn initial_stack_and_auxv() {
    for v in ["glibc", "pie", "musl"] {
        let out = assert_like_native(&Run::new(guest(&format!("auxv-{v}"))).args(["one", "two"]));
        assert!(out.stdout.contains("AT_PHDR points at the program headers: 1"), "{v}: {}", out.stdout);
        assert!(out.stdout.contains("AT_SYSINFO_EHDR is an ELF image: 1"), "{v}: {}", out.stdout);
        assert!(!out.stdout.contains(": 0"), "{v}: {}", out.stdout);
    }
}

/// A static-PIE from the distribution itself (Debian's glibc ldconfig).
#[test]
fn debian_ldconfig() {
    let out = assert_like_native(&Run::new("/sbin/ldconfig").args(["-p"]));
    assert!(out.stdout.contains("libs found in cache"), "{}", out.stdout);
    assert_like_native(&Run::new("/sbin/ldconfig").args(["--version"]));
}

/// Memory calls: hints, MAP_FIXED_NOREPLACE, MAP_32BIT, mremap, munmap, brk, a file.
#[test]
fn memory_calls() {
    // glibc only: musl's sbrk refuses to move the break.
    let out = assert_like_native(&Run::new(guest("memory-glibc")));
    assert!(out.stdout.contains("MAP_FIXED_NOREPLACE over a mapping: File exists"), "{}", out.stdout);
    assert!(!out.stdout.contains(": 0"), "{}", out.stdout);
}

/// clone3 with CLONE_CLEAR_SIGHAND, SA_NOCLDSTOP and SA_NOCLDWAIT, and what
/// an exec passes on (mask, ignored signals, environment), through a
/// close-on-exec descriptor of /proc/self/exe and through its name.
#[test]
fn process_corners() {
    let out = assert_like_native(&Run::new(guest("processes-glibc")));
    assert_eq!(
        out.stdout,
        "clone3 CLONE_CLEAR_SIGHAND: child exited 7\n\
         SA_NOCLDSTOP: stopped=1, SIGCHLD on stop=0\n\
         SA_NOCLDWAIT: waitpid=-1 (No child processes)\n\
         exec'd via fd: 1 signals blocked (SIGSYS 0, SIGUSR2 1), SIGHUP ignored, LD_PRELOAD=/nonexistent/emu-test-preload.so, exe processes-glibc\n\
         exec'd via path: 1 signals blocked (SIGSYS 0, SIGUSR2 1), SIGHUP ignored, LD_PRELOAD=/nonexistent/emu-test-preload.so, exe processes-glibc\n"
    );
}

/// A timer fires at every point of emu's way into and out of a blocking
/// call; every read ends in EINTR (a lost signal would block it for ever).
#[test]
fn signals_racing_the_emulator() {
    let out = assert_like_native(&Run::new(guest("signal_race-glibc")));
    assert_eq!(out.stdout, "3000 reads, 3000 ended in EINTR\n");
}

/// A frame that does not fit on the alternate stack kills with SIGSEGV.
#[test]
fn alternate_stack_overflow() {
    let run = Run::new(guest("altstack_overflow-glibc"));
    let (native, emulated) = (run.native(), run.under_emu());
    assert_eq!(native.status, 128 + libc::SIGSEGV);
    assert_eq!((emulated.status, emulated.stdout.as_str()), (native.status, native.stdout.as_str()));
    assert!(emulated.stderr.contains("no room for the frame of SIGUSR1"), "{}", emulated.stderr);
}

/// /proc/self shows the guest, not emu: its arguments, name, mappings
/// (its code, `[stack]`, `[heap]`, no emu), auxiliary vector and
/// descriptors (none of emu's), statically and dynamically linked.
#[test]
fn proc_self_shows_the_guest() {
    for name in ["proc_self-glibc", "proc_self-dynamic"] {
        let out = assert_like_native(&Run::new(guest(name)).args(["one", "two words"]));
        for line in [
            "cmdline is argv: yes",
            "exe is the program: yes",
            "main's mapping is the program: yes",
            "a local's mapping: [stack]",
            "the break's mapping: [heap]",
            "maps names emu: no",
            "maps through a directory descriptor names emu: no",
            "smaps has main's mapping: yes",
            "auxv: 4 of AT_PHDR, AT_ENTRY, AT_PAGESZ, AT_RANDOM, as getauxval says: yes",
            "each one's link reads: yes",
        ] {
            assert!(out.stdout.lines().any(|l| l == line), "{name}: no line {line:?} in\n{}", out.stdout);
        }
        let comm = &name[..name.len().min(15)];
        assert!(out.stdout.contains(&format!("comm: {comm}\n")), "{}", out.stdout);
    }
}
