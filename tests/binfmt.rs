//! `emu binfmt`: a FreeBSD program runs directly once the handler is
//! installed (as root, where binfmt_misc can be written), with the argv[0]
//! it was given; not after it is removed. Where it cannot be installed, the
//! refusal is one clear line.

mod support;
use std::os::unix::process::CommandExt;
use std::process::Command;
use support::*;

const NAME: &str = "emu-freebsd-test";

fn binfmt(command: &str) -> Outcome {
    Run::new(emu()).args(["binfmt", command, "--name", NAME]).native()
}

/// Removes the handler however the test ends.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        binfmt("uninstall");
    }
}

fn run_directly(program: &std::path::Path) -> std::process::Output {
    Command::new(program).arg0("given-name").args(["args", "two words"]).output().unwrap()
}

#[test]
fn freebsd_programs_run_directly_while_the_handler_is_installed() {
    let d = scratch("binfmt");
    let program = d.join("freebsd-calls");
    write_file(&program, &std::fs::read(guest("gofreebsd-calls")).unwrap(), 0o755);
    let installed = binfmt("install");
    if installed.status != 0 {
        // Not root, or binfmt_misc cannot be mounted or written here.
        let line = installed.stderr.trim();
        assert_eq!(installed.status, 1, "{line}");
        assert!(
            line.starts_with("emu: binfmt: ") && !line.contains('\n') && line.contains("binfmt_misc"),
            "not one clear line: {line}"
        );
        eprintln!("binfmt_misc is not writable here, so only the refusal was checked: {line}");
        return;
    }
    let _guard = Installed;
    assert!(installed.stdout.starts_with(&format!("{NAME}: installed: ")), "{}", installed.stdout);
    let status = binfmt("status");
    assert_eq!(status.status, 0);
    assert!(
        status.stdout.starts_with(&format!("{NAME}: enabled, interpreter {}", emu().display())),
        "{}",
        status.stdout
    );
    assert_eq!(binfmt("install").stdout.trim(), format!("{NAME}: already installed for {}", emu().display()));

    let direct = run_directly(&program);
    let via_emu = Run::new(&program).args(["args", "two words"]).emu_options(["--argv0", "given-name"]).under_emu();
    assert_eq!(String::from_utf8_lossy(&direct.stdout), "given-name\nargs\ntwo words\n");
    assert_eq!(
        (direct.status.code(), String::from_utf8_lossy(&direct.stdout).as_ref()),
        (Some(0), via_emu.stdout.as_str())
    );

    assert_eq!(binfmt("uninstall").stdout.trim(), format!("{NAME}: uninstalled"));
    let gone = binfmt("status");
    assert_eq!((gone.status, gone.stderr.trim()), (1, format!("emu: binfmt: {NAME}: not installed").as_str()));
    // Without the handler the kernel runs it as a Linux program, which it is not.
    let direct = run_directly(&program);
    assert!(!direct.status.success() && direct.stdout.is_empty(), "{direct:?}");
}

#[test]
fn bad_handler_names_are_refused() {
    let out = Run::new(emu()).args(["binfmt", "status", "--name", "../register"]).native();
    assert_eq!(
        (out.status, out.stderr.trim()),
        (2, "emu: binfmt: `../register` is not a handler name (letters, digits, - _ .)")
    );
}
