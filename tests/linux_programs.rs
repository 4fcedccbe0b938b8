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
