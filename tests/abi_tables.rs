//! ABI tables as data: a guest built against a remapped numbering runs with
//! that table and not without it; the matrix and the header come from the table.

mod support;
use support::*;
use std::process::Command;

fn shuffled() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../abi-tables/examples/linux-shuffled")
}

fn emu_stdout(args: &[&str]) -> String {
    let out = Command::new(emu()).args(args).output().unwrap();
    assert!(out.status.success(), "emu {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn remapped_guest_runs_with_its_table() {
    let out = Run::new(guest("remapped")).emu_options(["--abi-table".as_ref(), shuffled().as_os_str()]).under_emu();
    assert_eq!(out.stderr, "");
    assert_eq!(out.stdout, "hello through a shuffled table\ngetpid and getppid answer\nopened and closed /dev/null\n");
    assert_eq!(out.status, 0);
}

#[test]
fn remapped_guest_fails_without_its_table() {
    // Under Linux's numbering its write is getresgid, its exit_group mount_setattr
    // (see the table's header): nothing is printed and it ends at its trap.
    let out = Run::new(guest("remapped")).under_emu();
    assert_eq!(out.stdout, "");
    assert_eq!(out.status, 128 + libc::SIGILL);
}

#[test]
fn remapped_calls_are_traced_by_name() {
    let out = Run::new(guest("remapped")).emu_options(["--trace=write,openat".as_ref(), "--abi-table".as_ref(), shuffled().as_os_str()]).under_emu();
    assert!(out.stderr.starts_with("write(1, \"hello through a shuffled table\\n\", 31) = 31\n"), "{}", out.stderr);
    assert!(out.stderr.contains("openat(AT_FDCWD, \"/dev/null\", O_RDONLY) = 3"), "{}", out.stderr);
}

#[test]
fn header_defines_the_tables_numbers() {
    let header = emu_stdout(&["abi", "header", shuffled().to_str().unwrap()]);
    let table = std::fs::read_to_string(shuffled()).unwrap();
    let write = table.lines().find(|l| l.split_whitespace().nth(1) == Some("write")).unwrap();
    let number = write.split_whitespace().next().unwrap();
    assert!(header.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["#define", "SYS_write", number]), "{header}");
    assert_eq!(header.matches("#define SYS_").count(), 384);
    let linux = emu_stdout(&["abi", "header", "linux"]);
    assert!(linux.contains("#define SYS_read") && linux.lines().any(|l| l.split_whitespace().eq(["#define", "SYS_exit_group", "231"])));
}

#[test]
fn matrix_comes_from_the_table() {
    let text = emu_stdout(&["abi", "show", "linux"]);
    let first = text.lines().next().unwrap();
    assert!(first.starts_with("linux-x86_64 (Linux x86-64, numbered as arch/x86/entry/syscalls/syscall_64.tbl): 384 calls"), "{first}");
    let mmap = text.lines().find(|l| l.split_whitespace().nth(1) == Some("mmap")).unwrap();
    assert!(mmap.contains("partial") && mmap.contains("guest arena"), "{mmap}");
    let seccomp = text.lines().find(|l| l.split_whitespace().nth(1) == Some("seccomp")).unwrap();
    assert!(seccomp.contains("error(EINVAL)"), "{seccomp}");
    let md = emu_stdout(&["abi", "show", "linux", "--markdown"]);
    assert!(md.contains("| 9 | `mmap` | partial |"), "{md}");
}

#[test]
fn builtin_tables_are_listed() {
    let list = emu_stdout(&["abi", "list"]);
    assert!(list.starts_with("linux-x86_64"), "{list}");
    assert_eq!(emu_stdout(&["--list-abis"]), list);
}
