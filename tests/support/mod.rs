//! What the integration tests share: the guests (built from source by
//! `tests/guests/Makefile`, once per test run), and running a program natively
//! or under emu to compare the two.

#![allow(dead_code)]

pub mod elf;
pub mod gotest;
pub mod schema;

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The emu binary under test.
pub fn emu() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_emu"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// target/<triple>/debug (or release): where emu and the examples are.
pub fn profile_dir() -> PathBuf {
    emu().parent().unwrap().to_path_buf()
}

/// The site cache of this test binary's runs, emptied as it starts: what
/// earlier suite runs left there (sites rewritten at a guest's first trap,
/// known from earlier runs) must not change what these runs test, so a
/// fresh clone and a used tree test the same (within a test binary, a
/// guest's later runs find what its earlier ones left, as a user's do).
pub fn site_cache() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        scratch(&format!("site-cache-{}", exe.file_name().unwrap().to_string_lossy()))
    })
}

/// Builds every guest (make is incremental; a file lock keeps concurrent
/// test binaries from building at once) and returns their directory.
pub fn guests() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = profile_dir().parent().unwrap().join("guests");
        std::fs::create_dir_all(&out).unwrap();
        let lock = std::fs::File::create(out.join(".lock")).unwrap();
        // SAFETY: flock on a descriptor we own.
        unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
        let result = Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(repo().join("tests/guests"))
            .arg(format!("OUT={}", out.display()))
            .arg(format!("EMU={}", emu().display()))
            .output()
            .expect("running make (is it installed? ./scripts/test installs everything the tests need)");
        assert!(
            result.status.success(),
            "building the test guests failed (./scripts/test installs gcc, musl-tools and the rest):\n{}{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
        out
    })
}

/// Installs the npm packages tests/npm pins (its package-lock.json, with
/// `npm ci`; again only when the lock file changed) into target/npm, and
/// returns its node_modules.
pub fn npm_packages() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = profile_dir().parent().unwrap().parent().unwrap().join("npm");
        std::fs::create_dir_all(&dir).unwrap();
        let lock = std::fs::File::create(dir.join(".lock")).unwrap();
        // SAFETY: flock on a descriptor we own.
        unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
        let pinned = std::fs::read(repo().join("tests/npm/package-lock.json")).unwrap();
        let installed = dir.join("installed-lock.json");
        if std::fs::read(&installed).ok().as_ref() != Some(&pinned) {
            for file in ["package.json", "package-lock.json"] {
                std::fs::copy(repo().join("tests/npm").join(file), dir.join(file)).unwrap();
            }
            let result = Command::new("npm")
                .args(["ci", "--force", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir)
                .output()
                .expect("running npm (is it installed? ./scripts/test installs everything the tests need)");
            assert!(
                result.status.success(),
                "npm ci in {} failed:\n{}{}",
                dir.display(),
                String::from_utf8_lossy(&result.stdout),
                String::from_utf8_lossy(&result.stderr)
            );
            std::fs::write(&installed, &pinned).unwrap();
        }
        dir.join("node_modules")
    })
}

/// A guest built from tests/guests.
pub fn guest(name: &str) -> PathBuf {
    let p = guests().join(name);
    assert!(p.exists(), "no guest {name} in {}", guests().display());
    p
}

/// Debian's busybox-static, checked to be static.
pub fn busybox() -> PathBuf {
    let p = PathBuf::from("/bin/busybox");
    let limits = loader::ExecLimits { stack: Some(8 << 20), path_inaccessible: false };
    match loader::prepare(b"/bin/busybox", vec![b"busybox".to_vec()], &[], limits) {
        Ok(exec) if exec.interpreter.is_none() => p,
        Ok(_) => panic!("/bin/busybox is dynamically linked: install busybox-static (./scripts/test does)"),
        Err(e) => panic!("{e}: ./scripts/test installs busybox-static"),
    }
}

/// How a run ended, stdout and stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The status as a shell shows it: the exit code, or 128 + signal.
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    /// Killed for running past its limit: what its threads were doing then
    /// (each one's state and, if it slept in a system call, which).
    pub hung: Option<String>,
}

/// A command to run, natively or under emu.
#[derive(Clone, Default)]
pub struct Run {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub emu_options: Vec<OsString>,
    pub stdin: Vec<u8>,
    pub env: Vec<(OsString, OsString)>,
    /// Start from an empty environment (then `env`).
    pub clear_env: bool,
    pub dir: Option<PathBuf>,
    /// How long it may run before it is killed as hung (else `HANG`).
    pub hang_limit: Option<Duration>,
    /// RLIMIT_DATA (soft and hard) in bytes, for a program that may
    /// allocate without end.
    pub data_limit: Option<u64>,
}

/// Whether this run of the suite keeps every call on the trap path
/// (`EMU_TEST_NO_REWRITE=1`, the second run of scripts/test): every guest
/// runs under `emu --no-rewrite`.
pub fn trap_path_only() -> bool {
    std::env::var_os("EMU_TEST_NO_REWRITE").is_some_and(|v| v == "1")
}

/// Long enough for any guest here; only a hang reaches it.
const HANG: Duration = Duration::from_secs(120);

impl Run {
    pub fn new(program: impl AsRef<Path>) -> Self {
        Run { program: program.as_ref().to_path_buf(), ..Default::default() }
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    pub fn emu_options<I, S>(mut self, opts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.emu_options.extend(opts.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = bytes.into();
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    /// Only the variables given with `env`: an ordinary, small environment
    /// rather than the test harness's.
    pub fn clear_env(mut self) -> Self {
        self.clear_env = true;
        self
    }

    pub fn dir(mut self, d: impl AsRef<Path>) -> Self {
        self.dir = Some(d.as_ref().to_path_buf());
        self
    }

    /// Kill it as hung after `limit` rather than `HANG`.
    pub fn hang_after(mut self, limit: Duration) -> Self {
        self.hang_limit = Some(limit);
        self
    }

    /// Run it with RLIMIT_DATA at `bytes`: a runaway allocation fails with
    /// ENOMEM instead of waking the OOM killer.
    pub fn data_limit(mut self, bytes: u64) -> Self {
        self.data_limit = Some(bytes);
        self
    }

    pub fn native(&self) -> Outcome {
        let mut c = Command::new(&self.program);
        c.args(&self.args);
        self.finish(c)
    }

    pub fn under_emu(&self) -> Outcome {
        self.under(&emu())
    }

    /// Under another emu-like binary (an example with hooks).
    pub fn under(&self, runner: &Path) -> Outcome {
        let mut c = Command::new(runner);
        if trap_path_only() {
            c.arg("--no-rewrite");
        }
        c.args(&self.emu_options).arg(&self.program).args(&self.args);
        self.finish(c)
    }

    fn finish(&self, mut c: Command) -> Outcome {
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        c.env_remove("EMU_LOG");
        // The harness's own switch (see `trap_path_only`), not the guest's.
        c.env_remove("EMU_TEST_NO_REWRITE");
        // Site analyses kept across runs (emulator/src/rewrite/cache.rs):
        // the suite's own, so that what the user's cache holds changes
        // nothing here (a test may name another).
        c.env("EMU_CACHE_DIR", site_cache());
        if self.clear_env {
            c.env_clear();
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if let Some(d) = &self.dir {
            c.current_dir(d);
        }
        if let Some(bytes) = self.data_limit {
            use std::os::unix::process::CommandExt;
            let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
            // SAFETY: setrlimit is async-signal-safe and touches nothing
            // of the parent's (the closure runs in the forked child).
            unsafe {
                c.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_DATA, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = c.spawn().unwrap_or_else(|e| panic!("cannot start {:?}: {e}", c.get_program()));
        let mut stdin = child.stdin.take().unwrap();
        let input = self.stdin.clone();
        let feeder = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let pid = child.id() as i32;
        let limit = self.hang_limit.unwrap_or(HANG);
        // The watchdog is told when the child has been reaped: after that
        // its pid may be another process's, which it must never kill.
        let (reaped, reaped_rx) = std::sync::mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            if reaped_rx.recv_timeout(limit) != Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                return None;
            }
            let threads = describe_threads(pid);
            // SAFETY: kills the hung child we started, not yet reaped (the
            // waiting thread would have said so), so the pid is still its.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            Some(threads)
        });
        let out = child.wait_with_output().unwrap();
        let _ = reaped.send(());
        let _ = feeder.join();
        let hung = watchdog.join().unwrap();
        let status = match (out.status.code(), out.status.signal()) {
            (Some(code), _) => code,
            (None, Some(sig)) => 128 + sig,
            _ => unreachable!(),
        };
        Outcome {
            status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            hung,
        }
    }
}

/// Each thread of process `pid`: its state letter, and the system call it
/// sleeps in (from /proc/PID/task/TID/syscall: "running" when in user mode).
fn describe_threads(pid: i32) -> String {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return "(gone)".into();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        let dir = task.path();
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        // The state follows the command name's closing parenthesis.
        let state = stat.rsplit_once(") ").map_or("?", |(_, rest)| &rest[..1]).to_string();
        let call = std::fs::read_to_string(dir.join("syscall")).unwrap_or_default();
        let call = call.split_whitespace().next().unwrap_or("?").to_string();
        out.push(format!("{} {state} {call}", task.file_name().to_string_lossy()));
    }
    out.join(", ")
}

/// Runs natively and under emu, and asserts both end the same way with the
/// same output. Returns the outcome.
pub fn assert_like_native(run: &Run) -> Outcome {
    let native = run.native();
    let emulated = run.under_emu();
    assert_eq!(
        emulated,
        native,
        "{} {:?} under emu differs from the native run\n--- emu stderr:\n{}\n--- native stderr:\n{}",
        run.program.display(),
        run.args,
        emulated.stderr,
        native.stderr
    );
    emulated
}

/// A fresh directory under target/ for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = profile_dir().parent().unwrap().join("test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// How the kernel's execve of a program ends: refused with an errno, or
/// run (the shell status of the process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NativeExec {
    Refused(i32),
    Ran(i32),
}

/// Runs `path` with a raw execve (no shell or C library fallback for
/// scripts), from `dir` if given, with stdio to /dev/null.
pub fn native_exec(path: &Path, args: &[&str], dir: Option<&Path>) -> NativeExec {
    let mut argv = vec![path.as_os_str()];
    argv.extend(args.iter().map(OsStr::new));
    raw_exec(&RawExec { argv: &argv, dir, ..Default::default() })
}

/// How `raw_exec` runs a program.
#[derive(Default)]
pub struct RawExec<'a> {
    /// The program's path, then its arguments.
    pub argv: &'a [&'a OsStr],
    pub dir: Option<&'a Path>,
    /// Files for stdout and stderr (else /dev/null); stdin is /dev/null.
    pub stdout: Option<&'a Path>,
    pub stderr: Option<&'a Path>,
    /// RLIMIT_CPU, for a program that may loop for ever.
    pub cpu_seconds: Option<u64>,
    /// Without address randomization (personality ADDR_NO_RANDOMIZE).
    pub no_randomize: bool,
}

/// fork and a raw execve, with no environment: the kernel's own verdict
/// (the errno execve returned) or how the program ended.
pub fn raw_exec(spec: &RawExec) -> NativeExec {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    const ADDR_NO_RANDOMIZE: libc::c_ulong = 0x0040000;
    let cstr = |p: &OsStr| CString::new(p.as_bytes()).unwrap();
    let c_args: Vec<CString> = spec.argv.iter().map(|a| cstr(a)).collect();
    let mut argv: Vec<*const libc::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let env = [std::ptr::null::<libc::c_char>()];
    let c_dir = spec.dir.map(|d| cstr(d.as_os_str()));
    let c_out = spec.stdout.map(|p| cstr(p.as_os_str()));
    let c_err = spec.stderr.map(|p| cstr(p.as_os_str()));
    let mut pipe = [0i32; 2];
    // SAFETY: a close-on-exec pipe; after fork the child only calls
    // async-signal-safe functions (chdir, open, dup2, setrlimit,
    // personality, execve, write, _exit).
    unsafe {
        assert_eq!(libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC), 0);
        let pid = libc::fork();
        if pid == 0 {
            if let Some(d) = &c_dir {
                libc::chdir(d.as_ptr());
            }
            if let Some(seconds) = spec.cpu_seconds {
                let cpu = libc::rlimit { rlim_cur: seconds, rlim_max: seconds };
                libc::setrlimit(libc::RLIMIT_CPU, &cpu);
            }
            if spec.no_randomize {
                libc::personality(ADDR_NO_RANDOMIZE);
            }
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            let file = |p: &Option<CString>| match p {
                Some(p) => libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644),
                None => null,
            };
            libc::dup2(null, 0);
            libc::dup2(file(&c_out), 1);
            libc::dup2(file(&c_err), 2);
            libc::execve(argv[0], argv.as_ptr(), env.as_ptr());
            let errno = *libc::__errno_location();
            libc::write(pipe[1], &errno as *const i32 as *const _, 4);
            libc::_exit(127);
        }
        libc::close(pipe[1]);
        let mut errno = 0i32;
        let n = libc::read(pipe[0], &mut errno as *mut i32 as *mut _, 4);
        libc::close(pipe[0]);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        if n == 4 {
            NativeExec::Refused(errno)
        } else if libc::WIFSIGNALED(status) {
            NativeExec::Ran(128 + libc::WTERMSIG(status))
        } else {
            NativeExec::Ran(libc::WEXITSTATUS(status))
        }
    }
}

/// Writes a file with `mode`. If it is executable, waits until no other
/// process holds it open for writing: a test thread that forked while the
/// file was being written gives its child the descriptor until that child
/// execs, and an exec of the file meanwhile would fail with ETXTBSY.
pub fn write_file(path: &Path, bytes: &[u8], mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    if mode & 0o111 != 0 {
        let c = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str())).unwrap();
        let started = Instant::now();
        while loader::exec_access(libc::AT_FDCWD, &c, 0) == Err(libc::ETXTBSY) && started.elapsed() < HANG {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
