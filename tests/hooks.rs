//! The library API: a hook written in Rust sees every call of a guest,
//! whichever road it takes to the kernel. The example `double_stdout` writes
//! everything the guest writes to stdout twice.

mod support;
use support::*;

fn double_stdout() -> std::path::PathBuf {
    let p = profile_dir().join("examples/double_stdout");
    assert!(p.exists(), "{} is not built: `cargo test` builds the examples (or `cargo build --examples`)", p.display());
    p
}

#[test]
fn catches_every_write_path_of_a_static_glibc_guest() {
    let run = Run::new(guest("write_paths-glibc"));
    let native = run.native();
    assert_eq!(native.stdout, "1 printf\n2 fwrite\n3 write\n4 syscall\n5 inline syscall\n");
    let hooked = run.under(&double_stdout());
    assert_eq!(hooked.status, 0);
    assert_eq!(
        hooked.stdout,
        "1 printf\n1 printf\n2 fwrite\n2 fwrite\n3 write\n3 write\n4 syscall\n4 syscall\n5 inline syscall\n5 inline syscall\n",
        "printf, fwrite, write(), syscall(SYS_write) and the inline syscall instruction all went through the hook"
    );
}

#[test]
fn catches_writev_of_a_musl_guest() {
    let hooked = Run::new(guest("write_paths-musl")).under(&double_stdout());
    assert_eq!(hooked.stdout.lines().filter(|l| *l == "1 printf").count(), 2, "{}", hooked.stdout);
    assert_eq!(hooked.stdout.lines().count(), 10, "{}", hooked.stdout);
}

#[test]
fn other_output_is_untouched() {
    let hooked = Run::new(guest("tour-glibc")).args(["exit=3"]).under(&double_stdout());
    assert_eq!(hooked.status, 3);
    assert_eq!(hooked.stderr, "tour: a line on stderr\n", "stderr is not doubled");
}

#[test]
fn the_example_takes_emus_options() {
    let hooked = Run::new(guest("hello-glibc")).emu_options(["--trace=write"]).under(&double_stdout());
    assert!(hooked.stderr.starts_with("write(1, \"\", 0)"), "{}", hooked.stderr);
}
