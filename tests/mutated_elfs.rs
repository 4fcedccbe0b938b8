//! Thousands of mutated copies of real guests (seeded, so every run makes
//! the same ones): each ends as it does natively, or with one `emu:` line
//! and a shell's 126 or 127 where the kernel refuses it or emu cannot run
//! it. Never a crash of emu itself, a panic, or a hang.

mod support;
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
    // The Linux kernel runs an ELF whatever its EI_OSABI says; emu runs one
    // marked FreeBSD (9) under its FreeBSD personality, which a Linux
    // program's calls mean something else to: mutants keep their brand.
    if m[7] == ELFOSABI_FREEBSD {
        m[7] = original[7];
    }
    m
}

const ELFOSABI_FREEBSD: u8 = 9;

/// How a run ended: refused by execve, or a status (128 + signal when
/// killed), with what it wrote.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Refused(i32),
    Ran { status: i32, stdout: Vec<u8>, stderr: Vec<u8> },
}

/// Runs `argv` with a raw execve, no environment, stdin from /dev/null,
/// without address randomization (a mutant may depend on where its stack
/// is, natively as under emu, which does not randomize), and at most 5
/// seconds of CPU (a mutant may loop for ever, natively too).
fn run(argv: &[&Path], out_dir: &Path) -> End {
    let argv: Vec<&std::ffi::OsStr> = argv.iter().map(|p| p.as_os_str()).collect();
    let (stdout, stderr) = (out_dir.join("stdout"), out_dir.join("stderr"));
    let spec = RawExec {
        argv: &argv,
        stdout: Some(&stdout),
        stderr: Some(&stderr),
        cpu_seconds: Some(5),
        no_randomize: true,
        ..Default::default()
    };
    match raw_exec(&spec) {
        NativeExec::Refused(errno) => End::Refused(errno),
        NativeExec::Ran(status) => End::Ran {
            status,
            stdout: std::fs::read(&stdout).unwrap_or_default(),
            stderr: std::fs::read(&stderr).unwrap_or_default(),
        },
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
