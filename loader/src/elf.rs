//! An ELF executable's headers, read and checked the way Linux's binfmt_elf
//! checks them before it gives up the old image (`load_elf_binary` up to
//! `begin_new_exec`), with the errno it returns. What the kernel checks
//! only later, while mapping, is left to `map` (and is fatal there).
//!
//! Not checked, as by the kernel: EI_CLASS, EI_DATA, EI_VERSION, e_version,
//! e_ehsize. The file is always read as a little-endian ELF64.

use crate::error::LoadError;
use crate::file::Source;
use std::path::Path;

const ELFMAG: &[u8; 4] = goblin::elf::header::ELFMAG;
// goblin names the constants; its parser is not used, because it checks
// more than the kernel (the class, the header size) and in another order.
use goblin::elf::header::{EM_386, EM_X86_64, ET_CORE, ET_DYN, ET_EXEC, ET_REL};
use goblin::elf::program_header::{PF_R, PF_W, PF_X, PT_GNU_STACK, PT_INTERP, PT_LOAD, PT_NOTE};
/// An ELF64 header, and a program header.
const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
/// The kernel reads at most this much of program headers.
const PHDRS_MAX: u64 = 65536;
/// And at most this much of a PT_INTERP path (PATH_MAX).
const INTERP_MAX: u64 = 4096;
const ELFOSABI_FREEBSD: u8 = 9;
const NT_ABI_TAG: u32 = 1;

/// The system-call ABI a guest was built for, from its ELF brand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestAbi {
    Linux,
    FreeBsd,
    /// Another system's brand (EI_OSABI), which emu has no personality for.
    Other(u8),
}

impl GuestAbi {
    pub fn name(self) -> &'static str {
        match self {
            GuestAbi::Linux => "linux",
            GuestAbi::FreeBsd => "freebsd",
            GuestAbi::Other(1) => "HP-UX",
            GuestAbi::Other(2) => "NetBSD",
            GuestAbi::Other(6) => "Solaris",
            GuestAbi::Other(7) => "AIX",
            GuestAbi::Other(8) => "IRIX",
            GuestAbi::Other(10) => "Tru64",
            GuestAbi::Other(12) => "OpenBSD",
            GuestAbi::Other(13) => "OpenVMS",
            GuestAbi::Other(17) => "CloudABI",
            GuestAbi::Other(_) => "other systems'",
        }
    }
}

/// EI_OSABI values of other systems, which Linux runs as its own but emu
/// refuses: their calls would mean something else. (SYSV, 0, and GNU, 3,
/// are Linux's; values no system uses are taken as Linux's too, as the
/// kernel does.)
const OTHER_SYSTEMS: [u8; 9] = [1, 2, 6, 7, 8, 10, 12, 13, 17];

/// e_type, as far as loading goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// ET_EXEC: mapped at its own addresses.
    Fixed,
    /// ET_DYN: position-independent, placed where the loader chooses.
    PositionIndependent,
    /// Anything else: only an interpreter can get this far, and the kernel
    /// refuses it after the point of no return.
    Other(u16),
}

/// A program header of type PT_LOAD, as the file has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub memsz: u64,
    pub offset: u64,
    pub filesz: u64,
    /// PF_R, PF_W, PF_X.
    pub flags: u32,
    pub align: u64,
}

impl Segment {
    /// PROT_* bits for the flags (on x86-64, no flag implies another).
    pub fn prot(&self) -> i32 {
        let mut prot = 0;
        if self.flags & PF_R != 0 {
            prot |= libc::PROT_READ;
        }
        if self.flags & PF_W != 0 {
            prot |= libc::PROT_WRITE;
        }
        if self.flags & PF_X != 0 {
            prot |= libc::PROT_EXEC;
        }
        prot
    }
}

/// What the headers of an ELF file say.
#[derive(Clone, Debug)]
pub struct ElfImage {
    pub kind: ImageKind,
    pub abi: GuestAbi,
    pub entry: u64,
    /// e_phoff and e_phnum, for AT_PHDR and AT_PHNUM.
    pub phoff: u64,
    pub phnum: u64,
    /// The PT_LOAD headers in table order (the order matters: the first
    /// decides where a position-independent image goes).
    pub segments: Vec<Segment>,
    /// The first PT_INTERP's path (up to its first NUL).
    pub interpreter: Option<Vec<u8>>,
    /// PT_GNU_STACK asks for an executable stack.
    pub exec_stack: bool,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

const MACHINES: &[(u16, &str)] = &[
    (2, "SPARC"),
    (EM_386, "i386"),
    (8, "MIPS"),
    (20, "PowerPC"),
    (21, "PowerPC 64"),
    (22, "s390"),
    (40, "32-bit ARM"),
    (43, "SPARC v9"),
    (183, "AArch64"),
    (243, "RISC-V"),
    (258, "LoongArch"),
];

fn read_err(path: &Path, e: std::io::Error) -> LoadError {
    LoadError::os(path, e.raw_os_error().unwrap_or(libc::EIO))
}

/// Program headers, or why the kernel's `load_elf_phdrs` refuses them.
fn program_headers(src: &(impl Source + ?Sized), ehdr: &[u8], path: &Path) -> Result<Vec<u8>, LoadError> {
    let phentsize = u16_at(ehdr, 54) as u64;
    let phnum = u16_at(ehdr, 56) as u64;
    if phentsize != PHDR_SIZE as u64 {
        return Err(LoadError::refused(path, libc::ENOEXEC, format!("program headers of {phentsize} bytes, not 56")));
    }
    let size = phnum * PHDR_SIZE as u64;
    if size == 0 || size > PHDRS_MAX {
        return Err(LoadError::refused(path, libc::ENOEXEC, format!("{phnum} program headers")));
    }
    match src.read_exact_at(u64_at(ehdr, 32), size as usize).map_err(|e| read_err(path, e))? {
        Some(bytes) => Ok(bytes),
        None => Err(LoadError::refused(
            path,
            libc::ENOEXEC,
            "truncated ELF: the program headers lie beyond the end of the file",
        )),
    }
}

/// Reads the headers of the program execve was given, `head` being its
/// first bytes (at least the ELF header, if the file has one). Errors are
/// the kernel's, in its order.
pub fn read_program(src: &(impl Source + ?Sized), head: &[u8], path: &Path) -> Result<ElfImage, LoadError> {
    if !head.starts_with(ELFMAG) {
        return Err(LoadError::refused(
            path,
            libc::ENOEXEC,
            "not an ELF executable or a #! script (exec format error)",
        ));
    }
    if head.len() < EHDR_SIZE {
        return Err(LoadError::refused(path, libc::ENOEXEC, "truncated ELF: the file is shorter than an ELF header"));
    }
    let mut ehdr = [0u8; EHDR_SIZE];
    let n = head.len().min(EHDR_SIZE);
    ehdr[..n].copy_from_slice(&head[..n]);
    let e_type = u16_at(&ehdr, 16);
    let kind = match e_type {
        ET_EXEC => ImageKind::Fixed,
        ET_DYN => ImageKind::PositionIndependent,
        ET_REL => {
            return Err(LoadError::refused(
                path,
                libc::ENOEXEC,
                "a relocatable object file (ET_REL), not an executable",
            ))
        }
        ET_CORE => return Err(LoadError::refused(path, libc::ENOEXEC, "a core dump (ET_CORE), not an executable")),
        t => return Err(LoadError::refused(path, libc::ENOEXEC, format!("unknown ELF type {t}"))),
    };
    check_machine(&ehdr, path, false)?;
    let phdrs = program_headers(src, &ehdr, path)?;
    let image = headers(src, &ehdr, &phdrs, kind, path)?;
    Ok(image)
}

/// Reads the headers of a PT_INTERP interpreter: ELIBBAD for what the
/// kernel refuses in it before the point of no return. Its type is not
/// checked until it is mapped.
pub fn read_interpreter(src: &(impl Source + ?Sized), path: &Path) -> Result<ElfImage, LoadError> {
    let Some(ehdr) = src.read_exact_at(0, EHDR_SIZE).map_err(|e| read_err(path, e))? else {
        return Err(LoadError::refused(path, libc::EIO, "an interpreter shorter than an ELF header"));
    };
    if !ehdr.starts_with(ELFMAG) {
        return Err(LoadError::refused(path, libc::ELIBBAD, "the interpreter is not an ELF file"));
    }
    check_machine(&ehdr, path, true)?;
    let phdrs = program_headers(src, &ehdr, path).map_err(|e| LoadError { errno: libc::ELIBBAD, ..e })?;
    let kind = match u16_at(&ehdr, 16) {
        ET_EXEC => ImageKind::Fixed,
        ET_DYN => ImageKind::PositionIndependent,
        t => ImageKind::Other(t),
    };
    let mut image = headers(src, &ehdr, &phdrs, kind, path)?;
    // An interpreter's own PT_INTERP is not followed.
    image.interpreter = None;
    Ok(image)
}

/// e_machine must be x86-64. A real 32-bit i386 program would run through
/// the kernel's compat loader: emu does not run those.
fn check_machine(ehdr: &[u8], path: &Path, interpreter: bool) -> Result<(), LoadError> {
    let machine = u16_at(ehdr, 18);
    if machine == EM_X86_64 {
        return Ok(());
    }
    if machine == EM_386 && ehdr[4] == 1 && !interpreter {
        return Err(LoadError::unsupported(path, "32-bit ELF (ELFCLASS32, i386): emu runs 64-bit x86-64 guests"));
    }
    let name = MACHINES.iter().find(|(m, _)| *m == machine).map_or("another architecture", |(_, n)| n);
    let what = format!("ELF for {name} (e_machine {machine}): emu runs x86-64 guests");
    Err(if interpreter {
        LoadError::refused(path, libc::ELIBBAD, format!("interpreter {what}"))
    } else {
        LoadError::refused(path, libc::ENOEXEC, what)
    })
}

fn headers(
    src: &(impl Source + ?Sized),
    ehdr: &[u8],
    phdrs: &[u8],
    kind: ImageKind,
    path: &Path,
) -> Result<ElfImage, LoadError> {
    let mut segments = Vec::new();
    let mut interpreter = None;
    let mut exec_stack = false;
    let mut abi_from_notes = None;
    for ph in phdrs.chunks_exact(PHDR_SIZE) {
        let (p_type, p_flags) = (u32_at(ph, 0), u32_at(ph, 4));
        let (offset, vaddr, filesz, memsz, align) =
            (u64_at(ph, 8), u64_at(ph, 16), u64_at(ph, 32), u64_at(ph, 40), u64_at(ph, 48));
        match p_type {
            PT_LOAD => segments.push(Segment { vaddr, memsz, offset, filesz, flags: p_flags, align }),
            PT_INTERP if interpreter.is_none() => interpreter = Some(interp_path(src, offset, filesz, path)?),
            PT_GNU_STACK => exec_stack = p_flags & PF_X != 0,
            // Only emu reads notes (for the ABI brand); a note it cannot read is none.
            PT_NOTE if abi_from_notes.is_none() && filesz <= PHDRS_MAX => {
                if let Ok(Some(notes)) = src.read_exact_at(offset, filesz as usize) {
                    abi_from_notes = abi_note(&notes);
                }
            }
            _ => {}
        }
    }
    let abi = match (ehdr[7], abi_from_notes) {
        (ELFOSABI_FREEBSD, _) | (_, Some(GuestAbi::FreeBsd)) => GuestAbi::FreeBsd,
        (osabi, None) if OTHER_SYSTEMS.contains(&osabi) => GuestAbi::Other(osabi),
        // Linux runs whatever the brand says; so does emu, as Linux.
        _ => GuestAbi::Linux,
    };
    Ok(ElfImage {
        kind,
        abi,
        entry: u64_at(ehdr, 24),
        phoff: u64_at(ehdr, 32),
        phnum: u16_at(ehdr, 56) as u64,
        segments,
        interpreter,
        exec_stack,
    })
}

/// The PT_INTERP path, checked as the kernel checks it.
fn interp_path(src: &(impl Source + ?Sized), offset: u64, filesz: u64, path: &Path) -> Result<Vec<u8>, LoadError> {
    if !(2..=INTERP_MAX).contains(&filesz) {
        return Err(LoadError::refused(path, libc::ENOEXEC, format!("a PT_INTERP of {filesz} bytes")));
    }
    let Some(raw) = src.read_exact_at(offset, filesz as usize).map_err(|e| read_err(path, e))? else {
        return Err(LoadError::refused(path, libc::EIO, "truncated ELF: PT_INTERP lies beyond the end of the file"));
    };
    if raw.last() != Some(&0) {
        return Err(LoadError::refused(path, libc::ENOEXEC, "the PT_INTERP path is not NUL-terminated"));
    }
    Ok(raw.split(|&b| b == 0).next().unwrap_or_default().to_vec())
}

/// The ABI an ELF note names: a FreeBSD ABI tag, or a GNU ABI tag (OS 0 is Linux).
fn abi_note(mut notes: &[u8]) -> Option<GuestAbi> {
    let word = |b: &[u8], at: usize| -> Option<u32> { Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?)) };
    let align4 = |n: usize| n.checked_add(3).map(|n| n & !3);
    while notes.len() >= 12 {
        let namesz = word(notes, 0)? as usize;
        let descsz = word(notes, 4)? as usize;
        let kind = word(notes, 8)?;
        let name_end = 12usize.checked_add(namesz)?;
        let desc_start = align4(name_end)?;
        let next = align4(desc_start.checked_add(descsz)?)?;
        let name = notes.get(12..name_end)?;
        let desc = notes.get(desc_start..desc_start.checked_add(descsz)?)?;
        if kind == NT_ABI_TAG {
            match name {
                b"FreeBSD\0" => return Some(GuestAbi::FreeBsd),
                b"GNU\0" if word(desc, 0) == Some(0) => return Some(GuestAbi::Linux),
                _ => {}
            }
        }
        notes = notes.get(next..)?;
    }
    None
}

/// Where the program headers are once the image is mapped, as the kernel
/// finds them for AT_PHDR: inside the file range of the (last) PT_LOAD that
/// holds e_phoff; 0 when none does. PT_PHDR is not consulted.
pub fn phdr_vaddr(image: &ElfImage) -> u64 {
    image
        .segments
        .iter()
        .rev()
        .find(|s| s.offset <= image.phoff && image.phoff - s.offset < s.filesz)
        .map_or(0, |s| s.vaddr.wrapping_add(image.phoff - s.offset))
}
