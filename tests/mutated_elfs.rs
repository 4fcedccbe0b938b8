//! Thousands of mutated copies of real guests (seeded, so every run makes
//! the same ones): each ends as it does natively, or with one `emu:` line
//! and a shell's 126 or 127 where the kernel refuses it or emu cannot run
//! it. Never a crash of emu itself, a panic, or a hang.

mod support;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use support::*;

/// xorshift64*: small, seeded, the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    3,
    0x38,
    0x40,
    0xfff,
    0x1000,
    0x1001,
    0x20_0000,
    0x40_0000,
    0x7fff_ffff_f000,
    0x8000_0000_0000,
    u64::MAX,
    u64::MAX - 0xfff,
];

/// One to three changes to the ELF header, the program headers, or the
/// first page.
fn mutate(original: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut m = original.to_vec();
    let phoff = u64::from_le_bytes(original[32..40].try_into().unwrap()) as usize;
    let phnum = u16::from_le_bytes(original[56..58].try_into().unwrap()) as usize;
    for _ in 0..=rng.below(3) {
        let (start, len) = match rng.below(20) {
            0..=11 => (0, 64),
            12..=18 => (phoff, phnum * 56),
            _ => (0, 4096.min(m.len())),
        };
        let at = start + rng.below(len as u64) as usize;
        match rng.below(10) {
            0..=4 => m[at] = rng.next() as u8,
            5..=6 => m[at] ^= 1 << rng.below(8),
            _ => {
                let value = INTERESTING[rng.below(INTERESTING.len() as u64) as usize];
                let at = at & !7;
                let width = if rng.below(2) == 0 { 8 } else { 2 };
                let end = (at + width).min(m.len());
                m[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
            }
        }
    }
    m
}

/// How a run ended: refused by execve, or a status (128 + signal when
/// killed), with what it wrote.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Refused(i32),
    Ran { status: i32, stdout: Vec<u8>, stderr: Vec<u8> },
}

const ADDR_NO_RANDOMIZE: libc::c_ulong = 0x0040000;

/// Runs `argv` with a raw execve, no environment, stdin from /dev/null,
/// without address randomization, and at most 5 seconds of CPU (a mutant
/// may loop for ever, natively too).
fn run(argv: &[&Path], out_dir: &Path) -> End {
    let c: Vec<CString> = argv.iter().map(|a| CString::new(a.as_os_str().as_bytes()).unwrap()).collect();
    let mut ptrs: Vec<*const libc::c_char> = c.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let env = [std::ptr::null::<libc::c_char>()];
    let out = CString::new(out_dir.join("stdout").as_os_str().as_bytes()).unwrap();
    let err = CString::new(out_dir.join("stderr").as_os_str().as_bytes()).unwrap();
    let mut pipe = [0i32; 2];
    // SAFETY: after fork the child calls only async-signal-safe functions.
    let (pid, errno) = unsafe {
        assert_eq!(libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC), 0);
        let pid = libc::fork();
        if pid == 0 {
            let cpu = libc::rlimit { rlim_cur: 5, rlim_max: 5 };
            libc::setrlimit(libc::RLIMIT_CPU, &cpu);
            // A mutant may depend on where its stack is (an entry point
            // moved into the middle of an instruction that reads RSP):
            // without randomization natively, as emu does not randomize.
            libc::personality(ADDR_NO_RANDOMIZE);
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
            libc::dup2(null, 0);
            let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC;
            libc::dup2(libc::open(out.as_ptr(), flags, 0o644), 1);
            libc::dup2(libc::open(err.as_ptr(), flags, 0o644), 2);
            libc::execve(ptrs[0], ptrs.as_ptr(), env.as_ptr());
            let errno = *libc::__errno_location();
            libc::write(pipe[1], &errno as *const i32 as *const _, 4);
            libc::_exit(127);
        }
        libc::close(pipe[1]);
        let mut errno = 0i32;
        let n = libc::read(pipe[0], &mut errno as *mut i32 as *mut _, 4);
        libc::close(pipe[0]);
        (pid, (n == 4).then_some(errno))
    };
    let mut status = 0;
    // SAFETY: waits for the child just started.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if let Some(e) = errno {
        return End::Refused(e);
    }
    let status = if libc::WIFSIGNALED(status) { 128 + libc::WTERMSIG(status) } else { libc::WEXITSTATUS(status) };
    End::Ran {
        status,
        stdout: std::fs::read(out_dir.join("stdout")).unwrap_or_default(),
        stderr: std::fs::read(out_dir.join("stderr")).unwrap_or_default(),
    }
}

/// Whether emu's outcome is acceptable for a mutant whose native outcome is `native`.
fn judge(native: &End, emulated: &End) -> Result<(), String> {
    let End::Ran { status, stdout, stderr } = emulated else {
        return Err(format!("emu itself could not be started: {emulated:?}"));
    };
    let text = String::from_utf8_lossy(stderr);
    if text.contains("panicked") || text.contains("internal error") || *status == 70 || *status == 134 {
        return Err(format!("emu failed: status {status}: {text}"));
    }
    let lines: Vec<&str> = text.lines().collect();
    let emu_lines = lines.iter().filter(|l| l.starts_with("emu: ")).count();
    let one_line = lines.len() == 1 && emu_lines == 1;
    // The same end as natively: status, stdout, and stderr apart from at
    // most one line of emu's (its report of a crash).
    if let End::Ran { status: s, stdout: o, stderr: e } = native {
        let guest_stderr: String = lines.iter().filter(|l| !l.starts_with("emu: ")).map(|l| format!("{l}\n")).collect();
        if s == status && o == stdout && emu_lines <= 1 && guest_stderr == String::from_utf8_lossy(e) {
            return Ok(());
        }
    }
    // Or refused, as a shell would say it.
    if (*status == 126 || *status == 127) && stdout.is_empty() && one_line {
        return Ok(());
    }
    Err(format!(
        "natively {native:?}; under emu status {status}, stdout {:?}, stderr {text:?}",
        String::from_utf8_lossy(stdout)
    ))
}

#[test]
fn mutated_guests_end_as_natively_or_with_one_line() {
    let dir = scratch("mutated");
    let mut failures = Vec::new();
    let mut tally = std::collections::BTreeMap::<String, usize>::new();
    for (name, count) in [("freestanding", 1200), ("write_paths-musl", 600), ("write_paths-pie", 300)] {
        let original = std::fs::read(guest(name)).unwrap();
        let mut rng = Rng(0x5eed_0000 ^ original.len() as u64);
        for i in 0..count {
            let mutant = mutate(&original, &mut rng);
            let path: PathBuf = dir.join(format!("{name}-{i}"));
            write_file(&path, &mutant, 0o755);
            let native = run(&[&path], &dir);
            let emulated = run(&[&emu(), &path], &dir);
            let kind = match (&native, &emulated) {
                (End::Refused(_), _) => "refused natively",
                (End::Ran { status: 0, .. }, End::Ran { status: 0, .. }) => "ran",
                (End::Ran { .. }, End::Ran { status: 126 | 127, stderr, .. }) if stderr.starts_with(b"emu: ") => {
                    // What emu cannot do that the kernel can: said in its line.
                    eprintln!("ran natively, refused by emu: {}", String::from_utf8_lossy(stderr).trim_end());
                    "ran natively, refused by emu"
                }
                _ => "other",
            };
            *tally.entry(kind.to_string()).or_default() += 1;
            if let Err(e) = judge(&native, &emulated) {
                failures.push(format!("{}: {e}", path.display()));
            } else if kind != "ran natively, refused by emu" {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    eprintln!("mutants: {tally:?}");
    assert!(failures.is_empty(), "{} mutants went wrong:\n{}", failures.len(), failures.join("\n"));
}
