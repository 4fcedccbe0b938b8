//! Ordinary dynamically linked Debian programs under emu, as a new user
//! would try them: the same output and exit status as natively. Their
//! children (bash's pipelines, gcc's cc1/as/ld, make's jobs, Python's
//! subprocess) are run by emu too, through the guest's execve.

mod support;
use support::*;

use std::path::{Path, PathBuf};

/// A directory with a few files of known content, for the file tools.
fn tree(name: &str) -> PathBuf {
    let d = scratch(name);
    for (path, text) in [
        ("a/one.txt", "alpha\nbeta\ngamma\n"),
        ("a/two.txt", "delta\nalpha again\n"),
        ("b/three.log", "epsilon\nzeta alpha\n"),
        ("b/c/four.txt", "eta\ntheta\n"),
        ("unsorted", "pear\napple\nfig\nbanana\napple\n"),
    ] {
        let p = d.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }
    // Fixed times, so that `ls -l` shows the same in both runs.
    let stamp = Run::new("/usr/bin/touch").args(["-d", "2024-01-02 03:04:05"]).dir(&d);
    for p in ["a/one.txt", "a/two.txt", "b/three.log", "b/c/four.txt", "unsorted", "b/c", "a", "b"] {
        assert_eq!(stamp.clone().args([p]).native().status, 0);
    }
    d
}

/// `program args...` in `dir`, natively and under emu: the same.
fn like_native(dir: &Path, program: &str, args: &[&str]) -> Outcome {
    assert_like_native(&Run::new(program).args(args).dir(dir))
}

#[test]
fn file_tools() {
    let d = tree("linux-programs-files");
    let ls = like_native(&d, "/bin/ls", &["-la", "--time-style=long-iso", "a", "b"]);
    assert!(ls.stdout.contains("one.txt"), "{}", ls.stdout);
    let sorted = like_native(&d, "/usr/bin/sort", &["-u", "unsorted"]);
    assert_eq!(sorted.stdout, "apple\nbanana\nfig\npear\n");
    let grep = like_native(&d, "/bin/grep", &["-rn", "alpha", "."]);
    assert_eq!(grep.stdout.lines().count(), 3, "{}", grep.stdout);
    assert_eq!(like_native(&d, "/bin/grep", &["-r", "nothing-like-this", "."]).status, 1);
    like_native(&d, "/usr/bin/find", &[".", "-name", "*.txt", "-type", "f"]);
    let sums = like_native(&d, "/usr/bin/sha256sum", &["a/one.txt", "b/c/four.txt"]);
    assert_eq!(sums.stdout.lines().count(), 2);
}

#[test]
fn bash_pipelines_statuses_and_signals() {
    let d = tree("linux-programs-bash");
    let script = "tar czf - a b | tar tzf - | sort; \
                  false | true; echo \"pipestatus ${PIPESTATUS[*]}\"; \
                  (exit 7); echo \"subshell $?\"; \
                  sh -c 'kill -TERM $$'; echo \"killed $?\"; \
                  trap 'echo trapped USR1' USR1; kill -USR1 $$; \
                  echo done; exit 3";
    let out = like_native(&d, "/bin/bash", &["-c", script]);
    assert_eq!(out.status, 3);
    assert!(out.stdout.contains("a/one.txt\n"), "{}", out.stdout);
    assert!(out.stdout.contains("pipestatus 1 0\nsubshell 7\nkilled 143\ntrapped USR1\ndone\n"), "{}", out.stdout);
}

#[test]
fn python_and_perl() {
    let d = scratch("linux-programs-scripts");
    let python = "import json, os, subprocess, threading\n\
                  total = []\n\
                  def work(n): total.append(sum(range(n)))\n\
                  threads = [threading.Thread(target=work, args=(10000 * i,)) for i in range(1, 5)]\n\
                  [t.start() for t in threads]; [t.join() for t in threads]\n\
                  child = subprocess.run(['/bin/echo', 'from a child'], capture_output=True, text=True)\n\
                  print(json.dumps({'sum': sum(total), 'child': child.stdout.strip(), 'cwd': os.path.basename(os.getcwd())}, sort_keys=True))";
    let out = like_native(&d, "/usr/bin/python3", &["-c", python]);
    assert_eq!(out.stdout, "{\"child\": \"from a child\", \"cwd\": \"linux-programs-scripts\", \"sum\": 1499950000}\n");
    let out = like_native(&d, "/usr/bin/perl", &["-e", "print join(',', map { $_ * 2 } 1..5), \"\\n\"; exit 4"]);
    assert_eq!((out.status, out.stdout.as_str()), (4, "2,4,6,8,10\n"));
}

#[test]
fn gcc_and_parallel_make() {
    let d = scratch("linux-programs-build");
    std::fs::write(d.join("hello.c"), "#include <stdio.h>\nint main(void) { puts(\"built under emu\"); return 0; }\n")
        .unwrap();
    let out = like_native(&d, "/usr/bin/gcc", &["-O1", "-o", "hello", "hello.c"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(Run::new(d.join("hello")).native().stdout, "built under emu\n");
    let targets: Vec<String> = (1..=8).map(|i| format!("out{i}")).collect();
    let mut makefile = format!("all: {}\n\tcat {} > all\n", targets.join(" "), targets.join(" "));
    for t in &targets {
        makefile.push_str(&format!("{t}:\n\techo {t} > {t}\n"));
    }
    std::fs::write(d.join("Makefile"), makefile).unwrap();
    let out = like_native(&d, "/usr/bin/make", &["-s", "-j4", "-B"]);
    assert_eq!(out.status, 0, "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(d.join("all")).unwrap().lines().count(), 8);
}

/// LD_PRELOAD reaches the guest's run-time linker, in the program emu
/// starts and in the program it execs: the library (tests/guests/
/// preload_count.c) counts what it counts natively, in a process named as
/// natively. emu, static, has nothing to preload it into.
#[test]
fn ld_preload_is_the_guests() {
    let d = tree("linux-programs-preload");
    let report = |how: &str| {
        let file = d.join(format!("report-{how}"));
        let run = Run::new("/bin/bash")
            .args(["-c", "/bin/ls a > /dev/null; echo done"])
            .env("LD_PRELOAD", guests().join("libpreload_count.so").to_str().unwrap())
            .env("PRELOAD_REPORT", file.to_str().unwrap())
            .dir(&d);
        let out = if how == "native" { run.native() } else { run.under_emu() };
        assert_eq!((out.status, out.stdout.as_str()), (0, "done\n"), "{}", out.stderr);
        std::fs::read_to_string(file).unwrap()
    };
    let native = report("native");
    assert!(native.contains(" getenv calls in ls\n"), "{native}");
    assert_eq!(report("emu"), native);
}

/// The variables meant for the guest's run-time linker and C library reach
/// it unchanged, through an exec too, and /proc/self/environ shows them as
/// the guest's (emu, which its own C library would have tuned with them,
/// starts again with them hidden); emu adds no EMU_ variable of its own
/// (the harness's EMU_CACHE_DIR, in both runs, aside).
#[test]
fn loader_variables_are_the_guests() {
    let d = scratch("linux-programs-env");
    let script = "env | grep -E '^(LD_BIND_NOW|LD_LIBRARY_PATH|GLIBC_TUNABLES|MALLOC_ARENA_MAX|EMU_)' | \
                  grep -v '^EMU_CACHE_DIR=' | sort; \
                  /usr/bin/python3 -c \"import sys; e = open('/proc/self/environ', 'rb').read().split(b'\\\\0'); \
                  print(sorted(v.decode() for v in e if v.startswith((b'MALLOC', b'GLIBC', b'EMU_')) \
                  and not v.startswith(b'EMU_CACHE_DIR=')))\"";
    let run = Run::new("/bin/bash")
        .args(["-c", script])
        .env("LD_BIND_NOW", "1")
        .env("LD_LIBRARY_PATH", "/nonexistent")
        .env("GLIBC_TUNABLES", "glibc.malloc.tcache_count=0")
        .env("MALLOC_ARENA_MAX", "2")
        .dir(&d);
    let out = assert_like_native(&run);
    assert_eq!(
        out.stdout,
        "GLIBC_TUNABLES=glibc.malloc.tcache_count=0\nLD_BIND_NOW=1\nLD_LIBRARY_PATH=/nonexistent\nMALLOC_ARENA_MAX=2\n\
         ['GLIBC_TUNABLES=glibc.malloc.tcache_count=0', 'MALLOC_ARENA_MAX=2']\n"
    );
}

/// dlopen of a library that starts threads counting in its thread-local
/// storage (dynamic TLS), the program's own TLS (static, initialised), then
/// posix_spawn (a CLONE_VM vfork child) while a thread runs
/// (tests/guests/dlopen_threads.c).
#[test]
fn dlopen_threads_and_spawn() {
    let lib = guests().join("libdlthreads.so");
    let out = assert_like_native(&Run::new(guest("dlopen_threads-dynamic")).args([lib]));
    assert_eq!(
        out.stdout,
        "threads of the dlopen'ed library added up to 2002000\n\
         this thread's count in the library's TLS: 0, its tag main\n\
         spawned while a thread runs\n\
         the running thread's TLS: its own, this thread's spins: 0\n\
         posix_spawn: 0, child exited 0\n"
    );
}

/// A `#!` script whose interpreter is dynamic, and the run-time linker
/// run as a program (`ld.so PROGRAM`, `ld.so --list`).
#[test]
fn scripts_and_the_run_time_linker_itself() {
    let d = scratch("linux-programs-script");
    let script = d.join("greet");
    std::fs::write(&script, "#!/bin/bash\necho \"script $1 via ${BASH_VERSINFO[0]:+bash}\"\nexit 5\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = assert_like_native(&Run::new(&script).args(["hello"]));
    assert_eq!((out.status, out.stdout.as_str()), (5, "script hello via bash\n"));
    let ld_so = "/lib64/ld-linux-x86-64.so.2";
    let out = like_native(&d, ld_so, &["/bin/echo", "through the run-time linker"]);
    assert_eq!(out.stdout, "through the run-time linker\n");
    let listed = Run::new(ld_so).args(["--list", "/bin/true"]).under_emu();
    assert_eq!(listed.status, 0, "{}", listed.stderr);
    assert!(listed.stdout.contains("libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x"), "{}", listed.stdout);
}
