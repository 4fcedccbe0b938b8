//! Bad input: one line on stderr naming the file and the reason, a shell's
//! exit status (127: not found, 126: cannot execute, 2: usage), no panic.

mod support;
use std::path::{Path, PathBuf};
use support::*;

/// Runs emu on `path` and checks the single line and the status, and that
/// the kernel's execve refuses the same file with `errno`.
fn refused(path: &Path, errno: i32, reason: &str) {
    assert_eq!(native_exec(path, &[], None), NativeExec::Refused(errno), "{}: natively", path.display());
    let status = if errno == libc::ENOENT { 127 } else { 126 };
    let out = Run::new(path).under_emu();
    assert_eq!(out.status, status, "{}: {}", path.display(), out.stderr);
    assert_eq!(out.stdout, "");
    assert!(!out.stderr.contains("panicked") && !out.stderr.contains("RUST_BACKTRACE"), "{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line:\n{}", out.stderr);
    let expected = format!("emu: {}: {reason}", path.display());
    assert_eq!(lines[0], expected);
}

/// A file the kernel starts to load and then kills with SIGSEGV: emu says
/// why in one line (starting with `reason`) and dies of it too.
fn killed_while_loading(path: &Path, reason: &str) {
    assert_eq!(native_exec(path, &[], None), NativeExec::Ran(128 + libc::SIGSEGV), "{}: natively", path.display());
    let out = Run::new(path).under_emu();
    assert_eq!(out.status, 128 + libc::SIGSEGV, "{}: {}", path.display(), out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(lines[0].starts_with(&format!("emu: {}: cannot load: {reason}", path.display())), "{}", lines[0]);
    assert!(lines[0].ends_with(" (the kernel kills such a program with SIGSEGV)"), "{}", lines[0]);
}

/// A 64-byte ELF header with the given class, data and machine, then `tail`.
fn elf_header(class: u8, machine: u16, phnum: u16, tail: &[u8]) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = class;
    h[5] = 1; // little-endian
    h[6] = 1; // version
    h[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    h[18..20].copy_from_slice(&machine.to_le_bytes());
    h[20..24].copy_from_slice(&1u32.to_le_bytes());
    h[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    h[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
    h[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
    h[56..58].copy_from_slice(&phnum.to_le_bytes());
    h.extend_from_slice(tail);
    h
}

fn file(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> PathBuf {
    let p = dir.join(name);
    write_file(&p, bytes, mode);
    p
}

#[test]
fn missing_file() {
    refused(Path::new("/nonexistent/emu-guest"), libc::ENOENT, "No such file or directory (os error 2)");
}

#[test]
fn directory() {
    refused(&scratch("bad-dir"), libc::EACCES, "Permission denied (os error 13): a directory");
}

#[test]
fn text_file() {
    let d = scratch("bad-text");
    let p = file(&d, "notes.txt", b"just some text\n", 0o755);
    refused(&p, libc::ENOEXEC, "cannot execute: not an ELF executable or a #! script (exec format error)");
}

#[test]
fn not_executable() {
    let d = scratch("bad-perm");
    let p = d.join("guest");
    std::fs::copy(guest("hello-glibc"), &p).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    refused(&p, libc::EACCES, "Permission denied (os error 13): no execute permission");
}

#[test]
fn empty_file() {
    let d = scratch("bad-empty");
    refused(&file(&d, "empty", b"", 0o755), libc::ENOEXEC, "cannot execute: the file is empty");
}

#[test]
fn elf_32_bit() {
    let d = scratch("bad-32");
    let p = file(&d, "i386", &elf_header(1, 3, 0, &[0; 64]), 0o755);
    // Natively the compat loader refuses it too: it has no program headers.
    refused(&p, libc::ENOEXEC, "cannot execute: 32-bit ELF (ELFCLASS32, i386): emu runs 64-bit x86-64 guests");
}

#[test]
fn elf_for_aarch64() {
    let d = scratch("bad-arm");
    let p = file(&d, "arm64", &elf_header(2, 183, 1, &[0; 56]), 0o755);
    refused(&p, libc::ENOEXEC, "cannot execute: ELF for AArch64 (e_machine 183): emu runs x86-64 guests");
}

#[test]
fn truncated_elf() {
    let d = scratch("bad-truncated");
    let whole = std::fs::read(guest("hello-glibc")).unwrap();
    let p = file(&d, "truncated", &whole[..100], 0o755);
    refused(&p, libc::ENOEXEC, "cannot execute: truncated ELF: the program headers lie beyond the end of the file");
    let p = file(&d, "header-only", &whole[..40], 0o755);
    refused(&p, libc::ENOEXEC, "cannot execute: truncated ELF: the file is shorter than an ELF header");
    // The data segment's last page, which the loader must zero, lies past the end.
    let p = file(&d, "segments-cut", &whole[..4096], 0o755);
    killed_while_loading(&p, "zeroing the end of the page at 0x");
}

/// A dynamically linked program: its interpreter (the system's ld.so) is
/// loaded as the kernel loads it, and runs it.
#[test]
fn dynamically_linked() {
    let out = assert_like_native(&Run::new(guest("hello-dynamic")));
    assert_eq!(out.status, 0);
}

#[test]
fn script_with_a_missing_interpreter() {
    let d = scratch("bad-script");
    let p = file(&d, "script", b"#!/nonexistent/interpreter -x\necho hi\n", 0o755);
    refused(&p, libc::ENOENT, "bad interpreter: /nonexistent/interpreter: No such file or directory (os error 2)");
}

#[test]
fn scripts_run_their_interpreter() {
    let d = scratch("script");
    let body = format!("#!{} sh\necho \"script says $1\"\nexit 4\n", busybox().display());
    let p = file(&d, "script.sh", body.as_bytes(), 0o755);
    let out = assert_like_native(&Run::new(&p).args(["hi"]));
    assert_eq!(out.stdout, "script says hi\n");
    assert_eq!(out.status, 4);
}

#[test]
fn usage_errors() {
    let out = Run::new("").emu_options(["--no-such-option"]).under_emu();
    assert_eq!(out.status, 2);
    let out = std::process::Command::new(emu()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "emu: no program to run (see emu --help)\n");
    let out = Run::new(guest("hello-glibc")).env("EMU_LOG", "loud").emu_options(["--log-level=loud"]).under_emu();
    assert_eq!(out.status, 2);
    assert_eq!(out.stderr, "emu: unknown log level `loud` (error, warn, info, debug, trace)\n");
}

#[test]
fn a_bad_table_names_file_and_line() {
    let d = scratch("bad-table");
    let t = file(&d, "my.tbl", b"abi mine\npersonality linux\n\n0 read sometimes (fd fd)\n", 0o644);
    let out = Run::new(guest("hello-glibc")).emu_options(["--abi-table".as_ref(), t.as_os_str()]).under_emu();
    assert_eq!(out.status, 2);
    assert_eq!(
        out.stderr,
        format!(
            "emu: {}:4: `sometimes` is not a support level (supported, partial, unsupported, error(ENAME))\n",
            t.display()
        )
    );
    let t = file(&d, "unknown.tbl", b"abi mine\npersonality linux\n0 frobnicate supported (fd fd)\n", 0o644);
    let out = Run::new(guest("hello-glibc")).emu_options(["--abi-table".as_ref(), t.as_os_str()]).under_emu();
    assert_eq!(out.status, 2);
    assert_eq!(
        out.stderr,
        format!(
            "emu: {}:3: the linux personality has no implementation of `frobnicate`; mark it `unsupported`\n",
            t.display()
        )
    );
    let out = Run::new(guest("hello-glibc")).emu_options(["--abi-table=/nonexistent/table"]).under_emu();
    assert_eq!(out.status, 2);
    assert_eq!(out.stderr, "emu: /nonexistent/table: No such file or directory (os error 2)\n");
}
