//! The runtime's own promises: what emu refuses, what it warns about, and
//! what a guest cannot take from it.

mod support;
use support::*;

#[test]
fn int80_is_refused_with_a_warning() {
    let out = Run::new(guest("int80")).under_emu();
    assert_eq!(out.stdout, "int 0x80: ENOSYS\n");
    assert_eq!(out.status, 0);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(
        lines[0].starts_with(&format!("emu: {}: int 0x80 (i386 system call 20) at 0x", guest("int80").display())),
        "{}",
        lines[0]
    );
    assert!(lines[0].ends_with("is not supported: returning ENOSYS"), "{}", lines[0]);
}

#[test]
fn the_guest_cannot_take_syscall_dispatch() {
    let out = Run::new(guest("sud_refused-glibc")).under_emu();
    assert_eq!(out.stdout, "prctl(PR_SET_SYSCALL_USER_DISPATCH) = -1 (Invalid argument)\nstill running\n");
    assert_eq!(
        out.stderr,
        "emu: refused the guest's prctl(PR_SET_SYSCALL_USER_DISPATCH): dispatch belongs to the emulator\n"
    );
    assert_eq!(out.status, 0);
}

#[test]
fn emu_keeps_its_stderr_when_the_guest_closes_its_own() {
    let bb = busybox();
    // The shell closes its fd 2, then runs a guest that crashes: emu still reports it.
    let script = format!("exec 2>&-; {} -c 'true'; {}", bb.display(), guest("crash-glibc").display());
    let out = Run::new(&bb).args(["sh", "-c", &script]).under_emu();
    assert_eq!(out.status, 128 + libc::SIGSEGV);
    assert!(out.stderr.contains("killed by SIGSEGV"), "{}", out.stderr);
}

#[test]
fn the_log_level_comes_from_a_flag_or_the_environment() {
    let quiet = Run::new(guest("hello-glibc")).under_emu();
    assert_eq!(quiet.stderr, "");
    let flag = Run::new(guest("hello-glibc")).emu_options(["--log-level=debug"]).under_emu();
    assert!(
        flag.stderr.contains("emu: debug: ") && flag.stderr.contains("linux guest, table linux-x86_64"),
        "{}",
        flag.stderr
    );
    let env = Run::new(guest("hello-glibc")).env("EMU_LOG", "debug").under_emu();
    assert!(env.stderr.contains("emu: debug: "), "{}", env.stderr);
    let errors_only = Run::new(guest("int80")).env("EMU_LOG", "error").under_emu();
    assert_eq!(errors_only.stderr, "", "warnings are below `error`");
}

#[test]
fn unsupported_and_unknown_calls_are_reported_once_and_counted() {
    let out = Run::new(guest("unsupported-glibc")).emu_options(["--stats"]).under_emu();
    assert_eq!(out.status, 0);
    assert_eq!(
        out.stdout,
        "map_shadow_stack: -1 (Function not implemented)\nsyscall 999: -1 (Function not implemented)\n".repeat(2)
    );
    let warnings: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("emu: ")).collect();
    assert_eq!(
        warnings,
        [
            "emu: unsupported system call map_shadow_stack (453): returning ENOSYS",
            "emu: unknown system call number 999 in linux-x86_64: returning ENOSYS"
        ]
    );
    assert!(out.stderr.contains("\nunsupported (ENOSYS): map_shadow_stack (2x)\n"), "{}", out.stderr);
    assert!(out.stderr.contains("\nunknown numbers (ENOSYS): 2 calls\n"), "{}", out.stderr);
}

#[test]
fn mremap_dontunmap_moves() {
    let out = Run::new(guest("dontunmap-glibc")).under_emu();
    assert_eq!(out.stdout, "MREMAP_DONTUNMAP: moved 1, data moved 1, old range empty 1\n");
}

/// The page just under the boundary is never the guest's: a `syscall` in
/// its last two bytes would escape dispatch.
#[test]
fn the_last_page_under_the_boundary_stays_unmapped() {
    let out = Run::new(guest("edge-glibc")).under_emu();
    assert_eq!(out.stdout, "MAP_FIXED at the boundary's last page: Cannot allocate memory\n");
}
