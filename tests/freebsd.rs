//! FreeBSD programs under emu: Go programs and Go's own test binaries built
//! with GOOS=freebsd print what their Linux builds print natively; the
//! esbuild release for FreeBSD bundles three.js byte for byte as the Linux
//! release does; bad FreeBSD input ends with EFAULT, ENOSYS or one line.

mod support;
use support::*;

use std::path::PathBuf;

/// The Linux build (natively) and the FreeBSD build (under emu) of a Go
/// program of tests/go.
fn go_program_like_linux(name: &str) -> Outcome {
    let native = Run::new(guest(&format!("go-{name}"))).env("EMU_TEST_VARIABLE", "yes").native();
    let emulated = Run::new(guest(&format!("gofreebsd-{name}"))).env("EMU_TEST_VARIABLE", "yes").under_emu();
    assert_eq!(
        (emulated.status, &emulated.stdout),
        (native.status, &native.stdout),
        "{name}: the FreeBSD build under emu differs from the Linux build\n--- emu stderr:\n{}",
        emulated.stderr
    );
    emulated
}

/// Goroutines on many threads (thr_new, _umtx_op), timers (kqueue), os/exec
/// of another FreeBSD program with pipes and exit codes (fork, execve,
/// wait6), os/signal (SIGINT, SIGUSR1), a recovered nil dereference
/// (SIGSEGV through the sigcode and sigreturn), preemption (SIGURG by
/// thr_kill), TCP over loopback.
#[test]
fn go_threads_program() {
    let out = go_program_like_linux("threads");
    assert!(out.stdout.contains("preemption: the loop was interrupted"), "{}", out.stdout);
}

/// Calls a rewritten site's entry makes itself (`Personality::pass_through`),
/// repeated until their sites are rewritten: FreeBSD's errno and carry flag
/// on failures (EAGAIN is 35 there), clock ids translated in the entry (and
/// the ones it leaves to the dispatcher: an unknown id, a result outside
/// the arena, a read-only page the entry's copy faults on), clock reads
/// (through the host's vDSO) under a storm of signals, and blocking reads
/// restarted under another (the FreeBSD number must be what the restarted
/// site makes again). On the trap path (`EMU_TEST_NO_REWRITE`), the same
/// answers.
#[test]
fn go_fastcalls_program() {
    let out = go_program_like_linux("fastcalls");
    assert!(out.stdout.contains("20 of 20 rounds read what was written"), "{}", out.stdout);
    assert!(out.stdout.contains("into a read-only page: bad address (200 of 200)"), "{}", out.stdout);
    assert!(out.stdout.contains("clock reads under 500 signals: 0 failed, 0 backwards"), "{}", out.stdout);
}

/// Files and directories (create, rename, stat, readdir, symlink, chmod, a
/// FIFO), UDP over loopback, os.Executable, runtime.NumCPU, the environment.
#[test]
fn go_files_program() {
    let out = go_program_like_linux("files");
    assert!(out.stdout.ends_with("done\n"), "{}", out.stdout);
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

fn go_test_like_linux(package: &str) {
    let name = package.replace('/', "_");
    let (linux, freebsd) = (guest(&format!("gostd-{name}.test")), guest(&format!("gostd-freebsd-{name}.test")));
    gotest::same_results(package, &linux, &freebsd, true);
}

macro_rules! go_tests {
    ($($test:ident => $package:expr),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                go_test_like_linux($package);
            }
        )*
    };
}

go_tests! {
    go_test_strconv => "strconv",
    go_test_strings => "strings",
    go_test_bytes => "bytes",
    go_test_sort => "sort",
    go_test_sync => "sync",
    go_test_time => "time",
    go_test_io => "io",
    go_test_bufio => "bufio",
    go_test_os => "os",
    go_test_os_exec => "os/exec",
    go_test_os_signal => "os/signal",
    go_test_net => "net",
    go_test_encoding_json => "encoding/json",
    go_test_path_filepath => "path/filepath",
}

fn esbuild(os: &str) -> PathBuf {
    npm_packages().join(format!("@esbuild/{os}-x64/bin/esbuild"))
}

#[test]
fn esbuild_version() {
    let native = Run::new(esbuild("linux")).args(["--version"]).native();
    let emulated = Run::new(esbuild("freebsd")).args(["--version"]).under_emu();
    assert_eq!(emulated, native);
    assert_eq!(native.stdout, "0.28.2\n");
}

/// The FreeBSD release under emu and the Linux release natively bundle
/// three.js, minified, into the same bytes.
#[test]
fn esbuild_bundles_three_as_the_linux_release() {
    let dir = scratch("freebsd-esbuild");
    let bundle = |binary: PathBuf, out: &str, under_emu: bool| {
        let run = Run::new(binary)
            .args(["three/src/Three.js", "--bundle", "--minify", "--log-level=warning"])
            .args([format!("--outfile={}", dir.join(out).display())])
            .dir(npm_packages());
        let outcome = if under_emu { run.under_emu() } else { run.native() };
        assert_eq!((outcome.status, outcome.stderr.as_str()), (0, ""), "{out}");
        std::fs::read(dir.join(out)).unwrap()
    };
    let native = bundle(esbuild("linux"), "linux.js", false);
    let emulated = bundle(esbuild("freebsd"), "freebsd.js", true);
    assert!(native.len() > 300_000);
    assert!(emulated == native, "the FreeBSD release's bundle differs from the Linux release's");
}

/// Bad pointers to calls emu translates fail with EFAULT, as FreeBSD's
/// kernel fails them; calls emu does not carry out return ENOSYS and are
/// reported once each.
#[test]
fn bad_calls_fail_as_on_freebsd() {
    let out = Run::new(guest("gofreebsd-badcalls")).under_emu();
    assert_eq!(out.status, 0, "{}", out.stderr);
    let mut lines = out.stdout.lines();
    let mut checked = 0;
    for line in lines.by_ref() {
        if line.starts_with("-- calls emu does not") {
            break;
        }
        if !line.starts_with("--") {
            assert!(line.ends_with(": bad address"), "{line}");
            checked += 1;
        }
    }
    assert_eq!(checked, 34);
    let rest: Vec<&str> = lines.collect();
    assert_eq!(
        rest,
        [
            "kldload: function not implemented",
            "kldload again: function not implemented",
            "jail_attach: function not implemented",
            "done"
        ]
    );
    assert_eq!(
        out.stderr,
        "emu: unsupported system call kldload (304): returning ENOSYS\n\
         emu: unsupported system call jail_attach (436): returning ENOSYS\n"
    );
}

/// A FreeBSD program with a PT_INTERP: emu has no FreeBSD run-time linker.
#[test]
fn dynamic_freebsd_program_is_refused() {
    use support::elf::{code, Elf, Phdr};
    let dir = scratch("freebsd-dynamic");
    let mut bytes = Elf::new(2, 0x400100)
        .phdr(Phdr::load(5, 0, 0x400000, 0x1000, 0x1000))
        .interp(0x200, b"/libexec/ld-elf.so.1")
        .at(0x100, &code::exit(0))
        .len(0x1000)
        .bytes();
    bytes[7] = 9; // ELFOSABI_FREEBSD
    let path = dir.join("dynamic");
    write_file(&path, &bytes, 0o755);
    let out = Run::new(&path).under_emu();
    assert_eq!(out.status, 126);
    assert!(
        out.stderr.starts_with(&format!("emu: {}: ", path.display()))
            && out.stderr.contains("FreeBSD's run-time linker")
            && out.stderr.lines().count() == 1,
        "{}",
        out.stderr
    );
}

/// A program branded for a system emu has no personality for (NetBSD).
#[test]
fn unknown_brand_is_refused() {
    use support::elf::{code, Elf, Phdr};
    let dir = scratch("freebsd-brand");
    let mut bytes = Elf::new(2, 0x400100)
        .phdr(Phdr::load(5, 0, 0x400000, 0x1000, 0x1000))
        .at(0x100, &code::exit(0))
        .len(0x1000)
        .bytes();
    bytes[7] = 2; // ELFOSABI_NETBSD
    let path = dir.join("netbsd");
    write_file(&path, &bytes, 0o755);
    let out = Run::new(&path).under_emu();
    assert_eq!(out.status, 126);
    assert_eq!(
        out.stderr,
        format!("emu: {}: cannot execute: NetBSD binaries (EI_OSABI 2) are not supported\n", path.display())
    );
}

/// FreeBSD guests are traced in FreeBSD's names and spellings.
#[test]
fn traces_use_freebsd_names() {
    let out =
        Run::new(guest("gofreebsd-files")).emu_options(["--trace=__sysctl,sigaction,mmap,thr_new,openat"]).under_emu();
    assert_eq!(out.status, 0);
    let has = |s: &str| out.stderr.lines().any(|l| l.contains(s));
    assert!(has("sigaction(SIGUSR1, {sa_handler=0x"), "{}", out.stderr);
    assert!(has("MAP_PRIVATE|MAP_ANON, -1, 0) = 0x"), "{}", out.stderr);
    assert!(has("thr_new({start_func=0x"), "{}", out.stderr);
    assert!(has("O_RDONLY|O_CLOEXEC") || has("O_WRONLY|O_CREAT|O_EXCL|O_APPEND|O_CLOEXEC"), "{}", out.stderr);
}

/// FreeBSD calls Go's library does not make, made directly, answered as
/// FreeBSD answers them.
#[test]
fn calls_go_does_not_make() {
    let out = Run::new(guest("gofreebsd-calls")).under_emu();
    assert_eq!((out.status, out.stderr.as_str()), (0, ""));
    let expected = "__realpathat: errno 0, resolves the link: true\n\
         __realpathat into 4 bytes: file name too long\n\
         sigpending holds SIGUSR2: true\n\
         sigtimedwait: 31 errno 0, si_signo 31, si_code 0x10007\n\
         sigtimedwait with nothing pending: resource temporarily unavailable\n\
         sigwait: returned 0, signal 31\n\
         cpuset_getaffinity then setaffinity with it: errno 0, errno 0\n\
         minherit INHERIT_NONE: errno 0; INHERIT_SHARE: invalid argument\n\
         getresuid agrees with getuid/geteuid: true\n\
         seteuid to itself: errno 0\n\
         ps_strings below usrstack: true, argc true, argv[0] true\n\
         rfork(RFPROC|RFFDG): errno 0, child exited 7 (<nil>)\n\
         rfork(RFMEM) alone: invalid argument\n\
         mmap MAP_ALIGNED(21): errno 0, aligned true\n\
         mmap MAP_ALIGNED(30): errno 0, aligned true\n\
         mmap MAP_ALIGNED_SUPER of 4 MiB: errno 0, aligned true\n\
         mmap MAP_ALIGNED(5): invalid argument\n";
    // The login name: the user of the audit login uid, or empty.
    let loginuid = std::fs::read_to_string("/proc/self/loginuid").unwrap_or_default();
    let login = match loginuid.trim().parse::<u32>() {
        Ok(uid) if uid != u32::MAX => {
            let id = std::process::Command::new("id").args(["-nu", &uid.to_string()]).output().unwrap();
            String::from_utf8(id.stdout).unwrap().trim().to_string()
        }
        _ => String::new(),
    };
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let (set, now, long) = if root {
        ("errno 0", "emu-login", "invalid argument")
    } else {
        ("operation not permitted", login.as_str(), "operation not permitted")
    };
    let expected = format!(
        "{expected}getlogin: errno 0, {login:?}\n\
         getlogin without room for the NUL: result too large\n\
         setlogin emu-login: {set}, now {now:?}\n\
         setlogin of 40 bytes: {long}\n\
         EVFILT_PROC of a child exiting with 5: 1 <nil>, ident is the child true, fflags 0x80000000, data 0x500, \
         EV_EOF|EV_ONESHOT true\n\
         then wait4: <nil>, exit status 5\n\
         EVFILT_PROC of no process: no such process\n\
         EVFILT_SIGNAL: SIGUSR1 ignored, sent twice: 2; SIGUSR2 caught, sent once: 1\n\
         EVFILT_SIGNAL with nothing sent since: 0 <nil>\n\
         EVFILT_SIGNAL of signal 200: invalid argument\n\
         sigfastblock SETPTR: errno 0, again: device busy, misaligned: device busy\n\
         sigfastblock UNBLOCK with nothing pending: device busy\n\
         SIGWINCH while blocked: waits, word 0x11\n\
         sigfastblock UNSETPTR while blocked: device busy\n\
         sigfastblock UNBLOCK: errno 0, SIGWINCH delivered, word 0x0\n\
         sigfastblock UNSETPTR: errno 0, again: invalid argument; command 9: invalid argument\n\
         pipe(): two descriptors true, read from the RAX one what went into the RDX one: \"through\"\n\
         kevent on a kqueue's number after dup2: bad file descriptor\n"
    );
    assert_eq!(out.stdout, expected);
}

/// Signals are traced in FreeBSD's names: SIGUSR1 (30 there) sent by
/// kill, a fault's SIGSEGV, SIGURG sent to a thread (SI_LWP).
#[test]
fn signal_lines_use_freebsd_names() {
    let out = Run::new(guest("gofreebsd-threads")).emu_options(["--trace=kill"]).under_emu();
    assert_eq!(out.status, 0);
    let has = |s: &str| out.stderr.lines().any(|l| l.contains(s));
    assert!(has("kill(") && has(", SIGUSR1) "), "{}", out.stderr);
    assert!(has("--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_USER, si_pid="), "{}", out.stderr);
    assert!(has("--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---"), "{}", out.stderr);
}

/// thr_suspend, thr_wake and thr_set_name, and libthr's synchronisation on
/// _umtx_op (tests/go/umtx): mutexes of each
/// kind with and without libthr's user-space fast paths, robust mutexes of
/// a thread that ends, condition variables, rwlocks, semaphores, and the
/// errors, as FreeBSD's kern_umtx.c answers them.
#[test]
fn umtx_synchronisation_like_freebsd() {
    let out = Run::new(guest("gofreebsd-umtx")).under_emu();
    assert_eq!((out.status, out.stderr.as_str()), (0, ""), "stopped as hung: {:?}; stdout: {}", out.hung, out.stdout);
    assert_eq!(
        out.stdout,
        "thr_wake of itself: errno 0, then thr_suspend: errno 0\n\
         thr_suspend for 0: operation timed out\n\
         thr_suspend for 20ms: operation timed out\n\
         thr_suspend for -1s: invalid argument\n\
         thr_wake of a suspended thread: errno 0, its thr_suspend: errno 0\n\
         thr_wake of no thread: no such process\n\
         thr_set_name: errno 0; of no thread: no such process\n\
         normal mutex, libthr's fast paths: total 12000, free afterwards true\n\
         normal mutex, kernel only: total 12000, free afterwards true\n\
         priority-inheriting mutex: total 12000, free afterwards true\n\
         priority-protected mutex: total 12000, free afterwards true\n\
         priority-protected mutex free is contested: true\n\
         kernel lock of a free mutex: owner is the caller true\n\
         its trylock again: device busy\n\
         another thread's trylock: device busy\n\
         another thread's unlock: operation not permitted\n\
         another thread's lock for 20ms: operation timed out\n\
         unlock of a free mutex: operation not permitted\n\
         mutex wait on a free mutex: errno 0\n\
         priority-inheriting mutex locked again by its owner: resource deadlock avoided\n\
         priority-protected mutex with ceiling 40: invalid argument\n\
         set ceiling 12: errno 0, old 3, now 12, free true\n\
         set ceiling 32: invalid argument\n\
         set ceiling of a normal mutex: invalid argument\n\
         set ceiling of a dead owner's mutex: previous owner died\n\
         set ceiling of a mutex not recoverable: state not recoverable\n\
         lock of a mutex both priority-inheriting and -protected: invalid argument\n\
         robust mutex of a thread that ended: previous owner died, owner is the caller true\n\
         after an unlock as not consistent: state not recoverable\n\
         robust lists with a size of 32: invalid argument\n\
         condition variables: sum 2001000\n\
         broadcast: 3 woken, has_waiters 0\n\
         condition wait for 20ms: operation timed out, mutex released true\n\
         condition wait with 1e9 nanoseconds: invalid argument, mutex still held true\n\
         rwlock: a 3000, b 3000, a reader saw them differ false, state 0x0\n\
         rwlock unlock of a free lock: operation not permitted\n\
         write lock of a read-locked rwlock for 20ms: operation timed out\n\
         then a second read lock: errno 0, state 0x2\n\
         rwlock state at the end: 0x0\n\
         semaphore: 4000 taken, count 0\n\
         semaphore wait for 20ms: operation timed out\n\
         semaphore wait with a count: errno 0\n\
         old semaphore wait, woken by a post: errno 0\n\
         operation 0: operation not supported\n\
         operation 29: invalid argument\n\
         mutex lock at 0x1000: bad address\n\
         condition signal at 0x1000: bad address\n\
         mutex lock with a negative timeout: invalid argument\n"
    );
}
