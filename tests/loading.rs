//! ELF loading as the kernel does it: hand-built executables, each run
//! natively and under emu. What the kernel runs, emu runs the same way;
//! what it refuses, emu refuses with the same errno (a shell's 126 or 127
//! from the command line); what it kills while loading, emu kills.

mod support;
use std::path::{Path, PathBuf};
use support::elf::{code, Elf, Phdr, ET_DYN, ET_EXEC, PF_R, PF_W, PF_X, PT_PHDR};
use support::*;

const TEXT: u64 = 0x40_0000;
const CODE: u64 = 0x40_1000;
const DATA: u64 = 0x60_0000;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    write_file(&p, bytes, 0o755);
    p
}

/// An ET_EXEC whose text (headers and `code` at CODE) is one segment.
fn exec_with(code: Vec<u8>) -> Elf {
    Elf::new(ET_EXEC, CODE).phdr(Phdr::load(PF_R | PF_X, 0, TEXT, 0x2000, 0x2000)).at(0x1000, &code).len(0x2000)
}

/// Runs the file natively and under emu; both must end the same way with the same output.
fn runs_like_natively(name: &str, elf: &Elf) -> Outcome {
    let dir = scratch(&format!("loading-{name}"));
    let path = write(&dir, name, &elf.bytes());
    let run = Run::new(&path);
    let (native, emulated) = (run.native(), run.under_emu());
    assert_eq!((emulated.status, &emulated.stdout), (native.status, &native.stdout), "{name}: {}", emulated.stderr);
    native
}

/// The kernel's execve refuses the file with `errno`; so does emu.
fn refused_like_natively(name: &str, elf: &Elf, errno: i32) {
    let dir = scratch(&format!("loading-{name}"));
    let path = write(&dir, name, &elf.bytes());
    assert_eq!(native_exec(&path, &[], None), NativeExec::Refused(errno), "{name} natively");
    let out = Run::new(&path).under_emu();
    assert_eq!(out.status, if errno == libc::ENOENT { 127 } else { 126 }, "{name}: {}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{name}: {}", out.stderr);
}

/// The kernel starts to load the file and kills the process with SIGSEGV; so does emu, with one line.
fn killed_like_natively(name: &str, elf: &Elf) {
    let dir = scratch(&format!("loading-{name}"));
    let path = write(&dir, name, &elf.bytes());
    assert_eq!(native_exec(&path, &[], None), NativeExec::Ran(128 + libc::SIGSEGV), "{name} natively");
    let out = Run::new(&path).under_emu();
    assert_eq!(out.status, 128 + libc::SIGSEGV, "{name}: {}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{name}: {}", out.stderr);
    assert!(lines[0].ends_with("(the kernel kills such a program with SIGSEGV)"), "{name}: {}", lines[0]);
}

#[test]
fn a_plain_executable() {
    let out = runs_like_natively("plain", &exec_with(code::print(b"hello\n", 42)));
    assert_eq!((out.status, out.stdout.as_str()), (42, "hello\n"));
}

/// A segment with no file bytes at all, and a data segment whose bss spans
/// several pages: zero, beyond the end of the file's bytes.
#[test]
fn anonymous_segments_and_long_bss() {
    let anon = exec_with(code::exit_with_byte(CODE, DATA + 0x2000)).phdr(Phdr::load(PF_R | PF_W, 0, DATA, 0, 0x3000));
    assert_eq!(runs_like_natively("anonymous", &anon).status, 0);
    let with_data = |target: u64, flags: u32| {
        exec_with(code::exit_with_byte(CODE, target))
            .phdr(Phdr::load(flags, 0x2000, DATA, 0x10, 0x5000))
            .at(0x2000, &[0xaa; 0x10])
            .at(0x2010, &[0xbb; 0x100])
    };
    assert_eq!(runs_like_natively("data-file-byte", &with_data(DATA + 8, PF_R | PF_W)).status, 0xaa);
    // The rest of the file's last page is zeroed, and so are the pages after.
    assert_eq!(runs_like_natively("data-page-tail", &with_data(DATA + 0x20, PF_R | PF_W)).status, 0);
    assert_eq!(runs_like_natively("data-far-bss", &with_data(DATA + 0x4ff0, PF_R | PF_W)).status, 0);
    // Not in a read-only segment: the kernel cannot write there, and leaves the file's bytes.
    assert_eq!(runs_like_natively("readonly-page-tail", &with_data(DATA + 0x20, PF_R)).status, 0xbb);
}

/// Segments out of address order, and a later segment over an earlier one's
/// page (the kernel maps it over: here the code's page loses its execute
/// permission, and the program dies at its first instruction).
#[test]
fn unordered_and_overlapping_segments() {
    let unordered = Elf::new(ET_EXEC, CODE)
        .phdr(Phdr::load(PF_R | PF_W, 0x2000, DATA, 0x10, 0x1000))
        .phdr(Phdr::load(PF_R | PF_X, 0, TEXT, 0x2000, 0x2000))
        .at(0x1000, &code::print(b"unordered\n", 7))
        .len(0x2010);
    assert_eq!(runs_like_natively("unordered", &unordered).stdout, "unordered\n");
    let overlapping =
        exec_with(code::print(b"never\n", 1)).phdr(Phdr::load(PF_R | PF_W, 0x1800, CODE + 0x800, 0x100, 0x100));
    assert_eq!(runs_like_natively("overlapping", &overlapping).status, 128 + libc::SIGSEGV);
}

/// A segment that is executable and not readable.
#[test]
fn execute_only_segment() {
    let elf = Elf::new(ET_EXEC, CODE)
        .phdr(Phdr::load(PF_X, 0, TEXT, 0x2000, 0x2000))
        .at(0x1000, &code::print(b"x only\n", 3));
    assert_eq!(runs_like_natively("execute-only", &elf).stdout, "x only\n");
}

/// A file offset not congruent to the address modulo the page size: the
/// kernel cannot map it, whatever p_align says, with or without a bss.
#[test]
fn incongruent_offsets_kill_while_loading() {
    for (name, align, memsz) in [("align-0-bss", 0, 0x3000), ("align-0", 0, 0x10), ("align-page-bss", 0x1000, 0x3000)] {
        let mut data = Phdr::load(PF_R | PF_W, 0x2010, DATA, 0x10, memsz);
        data.align = align;
        killed_like_natively(name, &exec_with(code::exit(0)).phdr(data).len(0x2100));
    }
    // p_filesz above p_memsz, and a segment beyond the address space.
    killed_like_natively(
        "filesz-above-memsz",
        &exec_with(code::exit(0)).phdr(Phdr::load(PF_R, 0x1000, DATA, 0x1000, 0x800)),
    );
    killed_like_natively(
        "beyond-user-space",
        &exec_with(code::exit(0)).phdr(Phdr::load(PF_R, 0x1000, 1 << 47, 0x1000, 0x1000)),
    );
}

/// Position-independent images: the first segment need not start at 0, and
/// without an interpreter the kernel places the image near the top (emu:
/// near the top of the guest's arena), aligned as p_align asks.
#[test]
fn position_independent_images() {
    let pie = |vaddr: u64, align: u64| {
        let mut text = Phdr::load(PF_R | PF_X, 0, vaddr, 0x2000, 0x2000);
        text.align = align;
        Elf::new(ET_DYN, vaddr + 0x1000).phdr(text).at(0x1000, &code::print(b"pie\n", 5)).len(0x2000)
    };
    assert_eq!(runs_like_natively("pie-at-0", &pie(0, 0x1000)).stdout, "pie\n");
    assert_eq!(runs_like_natively("pie-not-at-0", &pie(0x10000, 0x1000)).stdout, "pie\n");
    assert_eq!(runs_like_natively("pie-2m-aligned", &pie(0, 0x20_0000)).stdout, "pie\n");
    // The program headers found from e_phoff, for a PIE too.
    let check = Elf::new(ET_DYN, 0x1000)
        .phdr(Phdr::load(PF_R | PF_X, 0, 0, 0x2000, 0x2000))
        .at(0x1000, &code::check_aux(0x1000, 3, 0x40))
        .len(0x2000);
    assert_eq!(runs_like_natively("pie-phdr", &check).status, 0);
}

/// AT_PHDR is where e_phoff falls in a loaded segment, whatever a PT_PHDR
/// claims (a static glibc program reads its TLS template through it).
#[test]
fn at_phdr_ignores_a_bogus_pt_phdr() {
    let bogus = Phdr { p_type: PT_PHDR, flags: PF_R, offset: 64, vaddr: 0x50_0000, filesz: 112, memsz: 112, align: 8 };
    let elf = exec_with(code::check_aux(CODE, 3, TEXT + 64)).phdr(bogus);
    assert_eq!(runs_like_natively("bogus-pt-phdr", &elf).status, 0);
    // Headers in no loaded segment: AT_PHDR is 0, as natively.
    let mut away = exec_with(code::check_aux(CODE, 3, TEXT + 64));
    away.phoff = 0x2000;
    assert_eq!(runs_like_natively("phdrs-not-loaded", &away.len(0x2100)).status, 1);
}

/// The break starts right after the highest segment (natively without
/// address randomization, which emu does not do).
#[test]
fn the_break_follows_the_image() {
    let elf = exec_with(code::check_brk(CODE, DATA + 0x5000))
        .phdr(Phdr::load(PF_R | PF_W, 0x2000, DATA, 0x10, 0x4321))
        .len(0x2010);
    let dir = scratch("loading-brk");
    let path = write(&dir, "brk", &elf.bytes());
    let native = Run::new("/usr/bin/setarch").args(["-R".as_ref(), path.as_os_str()]).native();
    let emulated = Run::new(&path).under_emu();
    assert_eq!(native.status, 0, "natively");
    assert_eq!(emulated.status, 0, "{}", emulated.stderr);
}

/// An ELF that asks for an interpreter (here a static program of ours, which
/// jumps to AT_ENTRY as a dynamic loader does once it has done its work):
/// the kernel maps both and starts the interpreter.
#[test]
fn a_static_program_as_interpreter() {
    let dir = scratch("loading-interp");
    const INTERP: u64 = 0x1000_0000;
    let fixed = Elf::new(ET_EXEC, INTERP + 0x1000).phdr(Phdr::load(PF_R | PF_X, 0, INTERP, 0x2000, 0x2000));
    let fixed = fixed.at(0x1000, &code::jump_to_entry()).len(0x2000);
    write(&dir, "interp-exec", &fixed.bytes());
    let movable = Elf::new(ET_DYN, 0x1000).phdr(Phdr::load(PF_R | PF_X, 0, 0, 0x2000, 0x2000));
    write(&dir, "interp-dyn", &movable.at(0x1000, &code::jump_to_entry()).len(0x2000).bytes());
    for interp in ["interp-exec", "interp-dyn"] {
        let main = |path: &[u8]| exec_with(code::print(b"main ran\n", 9)).interp(0x1800, path);
        let absolute = dir.join(interp);
        let p = write(&dir, &format!("main-{interp}"), &main(absolute.to_str().unwrap().as_bytes()).bytes());
        let out = assert_like_native(&Run::new(&p));
        assert_eq!((out.status, out.stdout.as_str()), (9, "main ran\n"), "{interp}");
        // A relative interpreter is found from the current directory.
        let p = write(&dir, &format!("relative-{interp}"), &main(interp.as_bytes()).bytes());
        let out = assert_like_native(&Run::new(&p).dir(&dir));
        assert_eq!(out.stdout, "main ran\n", "{interp}");
        assert_eq!(native_exec(&p, &[], Some(Path::new("/"))), NativeExec::Refused(libc::ENOENT));
        let out = Run::new(&p).dir("/").under_emu();
        assert_eq!(out.status, 127, "{}", out.stderr);
    }
    // A position-independent program with an interpreter.
    let pie = Elf::new(ET_DYN, 0x11000).phdr(Phdr::load(PF_R | PF_X, 0, 0x10000, 0x2000, 0x2000));
    let interp = dir.join("interp-dyn");
    let pie =
        pie.at(0x1000, &code::print(b"pie ran\n", 8)).interp(0x1800, interp.to_str().unwrap().as_bytes()).len(0x2000);
    let p = write(&dir, "pie-with-interp", &pie.bytes());
    assert_eq!(assert_like_native(&Run::new(&p)).stdout, "pie ran\n");
}

/// What the kernel refuses in a PT_INTERP or in the interpreter, with its errno.
#[test]
fn interpreter_errors() {
    let dir = scratch("loading-interp-errors");
    let main = |path: &[u8]| exec_with(code::exit(0)).interp(0x1800, path);
    let mut arm = Elf::new(ET_EXEC, 0).phdr(Phdr::load(PF_R, 0, 0x1000_0000, 0x100, 0x100));
    arm.machine = 183;
    let arm = write(&dir, "arm", &arm.bytes());
    let text = write(&dir, "text", &[b'x'; 100]);
    let short = write(&dir, "short", b"\x7fELF\x02\x01\x01");
    refused_like_natively("interp-missing", &main(b"/nonexistent/ld.so"), libc::ENOENT);
    refused_like_natively("interp-arm", &main(arm.to_str().unwrap().as_bytes()), libc::ELIBBAD);
    refused_like_natively("interp-not-elf", &main(text.to_str().unwrap().as_bytes()), libc::ELIBBAD);
    refused_like_natively("interp-short", &main(short.to_str().unwrap().as_bytes()), libc::EIO);
    // An empty name is the current directory to the kernel.
    refused_like_natively("interp-empty", &main(b"\0"), libc::EACCES);
    let mut unterminated = main(b"/bin/sh");
    unterminated.phdrs[1].filesz -= 1;
    refused_like_natively("interp-unterminated", &unterminated, libc::ENOEXEC);
    let mut one_byte = main(b"/bin/sh");
    one_byte.phdrs[1].filesz = 1;
    refused_like_natively("interp-one-byte", &one_byte, libc::ENOEXEC);
    let mut beyond = main(b"/bin/sh");
    beyond.phdrs[1].offset = 0x10_0000;
    refused_like_natively("interp-beyond-eof", &beyond, libc::EIO);
}

/// Header fields the kernel does not check (the class, the header size),
/// and many program headers.
#[test]
fn what_the_kernel_does_not_check() {
    let mut bytes = exec_with(code::exit(11)).bytes();
    bytes[4] = 1; // ELFCLASS32, with a 64-bit layout and machine
    bytes[52] = 0; // e_ehsize
    let dir = scratch("loading-unchecked");
    let p = write(&dir, "class32", &bytes);
    assert_eq!(assert_like_native(&Run::new(&p)).status, 11);
    let mut many = exec_with(code::exit(12));
    many.phoff = 0x2000;
    for _ in 0..100 {
        many = many.phdr(Phdr { p_type: 0, flags: 0, offset: 0, vaddr: 0, filesz: 0, memsz: 0, align: 0 });
    }
    assert_eq!(runs_like_natively("many-headers", &many).status, 12);
}
