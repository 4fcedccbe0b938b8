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
    // Lowered by the guest (a shell under emu), then an exec.
    let sh = busybox();
    let script = format!("ulimit -s 16 && exec {} stack", limits.display());
    let out = assert_like_native(&Run::new(&sh).args(["sh", "-c", &script]));
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
