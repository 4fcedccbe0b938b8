//! Reading a guest executable: what kind of file it is, whether emu can run
//! it, and which ABI it was built for. Nothing is mapped here.

use crate::error::LoadError;
use goblin::container::{Container, Ctx, Endian};
use goblin::elf::header;
use goblin::elf64::header::{Header, SIZEOF_EHDR};
const SIZEOF_PHDR: usize = 56;
use goblin::elf::program_header::{self, ProgramHeader};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The system-call ABI a guest was built for, from its ELF brand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestAbi {
    Linux,
    FreeBsd,
}

impl GuestAbi {
    pub fn name(self) -> &'static str {
        match self {
            GuestAbi::Linux => "linux",
            GuestAbi::FreeBsd => "freebsd",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// ET_EXEC: mapped at its own addresses.
    Fixed,
    /// ET_DYN: position-independent, slid to a base the loader picks.
    PositionIndependent,
}

/// A loadable segment (PT_LOAD).
#[derive(Clone, Copy, Debug)]
pub struct Segment {
    pub vaddr: u64,
    pub memsz: u64,
    pub offset: u64,
    pub filesz: u64,
    /// PROT_* bits.
    pub prot: i32,
    pub align: u64,
}

/// What `inspect` found at a path.
#[derive(Debug)]
pub enum Executable {
    Elf(ElfImage),
    /// A `#!` script: run the interpreter with the optional argument and the script's path.
    Script {
        interpreter: String,
        argument: Option<String>,
    },
}

/// An ELF executable emu can map.
#[derive(Debug)]
pub struct ElfImage {
    pub path: PathBuf,
    pub(crate) file: File,
    pub kind: ImageKind,
    pub abi: GuestAbi,
    pub entry: u64,
    pub segments: Vec<Segment>,
    /// Where the program headers are in the image (before sliding), for AT_PHDR.
    pub phdr_vaddr: u64,
    pub phnum: u64,
    pub phentsize: u64,
    /// PT_INTERP: the dynamic linker the image asks for.
    pub interpreter: Option<String>,
    /// PT_GNU_STACK asks for an executable stack.
    pub exec_stack: bool,
}

const EM_NAMES: &[(u16, &str)] = &[
    (header::EM_386, "i386"),
    (header::EM_ARM, "32-bit ARM"),
    (header::EM_AARCH64, "AArch64"),
    (header::EM_RISCV, "RISC-V"),
    (header::EM_PPC, "PowerPC"),
    (header::EM_PPC64, "PowerPC 64"),
    (header::EM_S390, "s390"),
    (header::EM_MIPS, "MIPS"),
    (header::EM_SPARCV9, "SPARC v9"),
    (258, "LoongArch"),
];

const ELFOSABI_NONE: u8 = 0;
const ELFOSABI_GNU: u8 = 3;
const ELFOSABI_FREEBSD: u8 = 9;
const NT_ABI_TAG: u32 = 1;
/// Linux's BINPRM_BUF_SIZE: how much of a `#!` line the kernel reads.
const SHEBANG_MAX: usize = 256;

/// Reads the file at `path` and says whether and how it can be run.
pub fn inspect(path: &Path) -> Result<Executable, LoadError> {
    let open_err = |error| LoadError::Open { path: path.to_path_buf(), error };
    let file = File::open(path).map_err(open_err)?;
    let meta = file.metadata().map_err(open_err)?;
    if meta.is_dir() {
        return Err(open_err(std::io::Error::from_raw_os_error(libc::EISDIR)));
    }
    if !meta.is_file() {
        return Err(LoadError::not_executable(path, "not a regular file"));
    }
    if !may_execute(path, &meta) {
        return Err(open_err(std::io::Error::from_raw_os_error(libc::EACCES)));
    }
    if meta.len() == 0 {
        return Err(LoadError::not_executable(path, "the file is empty"));
    }
    // SAFETY: the map is read-only and private to this function's callers; a
    // guest file changed underneath us can at worst make the checks below see
    // inconsistent bytes, never unsafe Rust memory.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| LoadError::map(path, e.to_string()))?;
    let bytes: &[u8] = &map;

    if bytes.starts_with(b"#!") {
        return script(path, bytes);
    }
    if !bytes.starts_with(header::ELFMAG) {
        return Err(LoadError::not_executable(path, "not an ELF executable or a #! script (exec format error)"));
    }
    if bytes.len() < SIZEOF_EHDR {
        return Err(LoadError::not_executable(path, "truncated ELF: the file is shorter than an ELF header"));
    }
    match bytes[header::EI_CLASS] {
        header::ELFCLASS64 => {}
        header::ELFCLASS32 => {
            return Err(LoadError::not_executable(path, "32-bit ELF (ELFCLASS32): emu runs 64-bit x86-64 guests"))
        }
        c => return Err(LoadError::not_executable(path, format!("unknown ELF class {c}"))),
    }
    if bytes[header::EI_DATA] != header::ELFDATA2LSB {
        return Err(LoadError::not_executable(path, "big-endian ELF: emu runs x86-64 guests"));
    }
    let hdr = Header::parse(bytes).map_err(|e| LoadError::not_executable(path, format!("bad ELF header: {e}")))?;
    if hdr.e_machine != header::EM_X86_64 {
        let name = EM_NAMES.iter().find(|(m, _)| *m == hdr.e_machine).map_or("another architecture", |(_, n)| n);
        return Err(LoadError::not_executable(
            path,
            format!("ELF for {name} (e_machine {}): emu runs x86-64 guests", hdr.e_machine),
        ));
    }
    let kind = match hdr.e_type {
        header::ET_EXEC => ImageKind::Fixed,
        header::ET_DYN => ImageKind::PositionIndependent,
        header::ET_REL => {
            return Err(LoadError::not_executable(path, "a relocatable object file (ET_REL), not an executable"))
        }
        header::ET_CORE => return Err(LoadError::not_executable(path, "a core dump (ET_CORE), not an executable")),
        t => return Err(LoadError::not_executable(path, format!("unknown ELF type {t}"))),
    };
    if hdr.e_phentsize as usize != SIZEOF_PHDR {
        return Err(LoadError::not_executable(path, format!("unexpected program header size {}", hdr.e_phentsize)));
    }
    let ph_end = (hdr.e_phnum as u64).checked_mul(hdr.e_phentsize as u64).and_then(|n| n.checked_add(hdr.e_phoff));
    if hdr.e_phnum == 0 || ph_end.is_none_or(|end| end > bytes.len() as u64) {
        return Err(LoadError::not_executable(
            path,
            "truncated ELF: the program headers lie beyond the end of the file",
        ));
    }
    let ctx = Ctx::new(Container::Big, Endian::Little);
    let phdrs = ProgramHeader::parse(bytes, hdr.e_phoff as usize, hdr.e_phnum as usize, ctx)
        .map_err(|e| LoadError::not_executable(path, format!("bad program headers: {e}")))?;

    let mut segments = Vec::new();
    let mut interpreter = None;
    let mut phdr_vaddr = None;
    let mut exec_stack = false;
    let mut abi_from_notes = None;
    for (i, ph) in phdrs.iter().enumerate() {
        let in_file = ph.p_offset.checked_add(ph.p_filesz).is_some_and(|end| end <= bytes.len() as u64);
        match ph.p_type {
            program_header::PT_LOAD => {
                if !in_file {
                    return Err(LoadError::not_executable(
                        path,
                        format!("truncated ELF: segment {i} extends beyond the end of the file"),
                    ));
                }
                if ph.p_memsz < ph.p_filesz
                    || ph.p_vaddr.checked_add(ph.p_memsz).is_none()
                    || (ph.p_align > 1 && (!ph.p_align.is_power_of_two() || ph.p_vaddr % 4096 != ph.p_offset % 4096))
                {
                    return Err(LoadError::not_executable(path, format!("malformed loadable segment {i}")));
                }
                let mut prot = 0;
                if ph.is_read() {
                    prot |= libc::PROT_READ;
                }
                if ph.is_write() {
                    prot |= libc::PROT_WRITE;
                }
                if ph.is_executable() {
                    prot |= libc::PROT_EXEC;
                }
                segments.push(Segment {
                    vaddr: ph.p_vaddr,
                    memsz: ph.p_memsz,
                    offset: ph.p_offset,
                    filesz: ph.p_filesz,
                    prot,
                    align: ph.p_align.max(1),
                });
            }
            program_header::PT_INTERP => {
                if !in_file {
                    return Err(LoadError::not_executable(
                        path,
                        "truncated ELF: PT_INTERP lies beyond the end of the file",
                    ));
                }
                let raw = &bytes[ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize];
                let name = raw.split(|&b| b == 0).next().unwrap_or_default();
                interpreter = Some(String::from_utf8_lossy(name).into_owned());
            }
            program_header::PT_PHDR => phdr_vaddr = Some(ph.p_vaddr),
            program_header::PT_GNU_STACK => exec_stack = ph.is_executable(),
            program_header::PT_NOTE if in_file => {
                let notes = &bytes[ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize];
                abi_from_notes = abi_from_notes.or(abi_note(notes));
            }
            _ => {}
        }
    }
    if segments.is_empty() {
        return Err(LoadError::not_executable(path, "no loadable segments"));
    }
    // Without PT_PHDR, the headers are wherever the segment mapping their file offset puts them.
    let phdr_vaddr = match phdr_vaddr {
        Some(v) => v,
        None => segments
            .iter()
            .find(|s| hdr.e_phoff >= s.offset && hdr.e_phoff < s.offset + s.filesz)
            .map(|s| s.vaddr + (hdr.e_phoff - s.offset))
            .unwrap_or(0),
    };
    let abi = match (bytes[header::EI_OSABI], abi_from_notes) {
        (ELFOSABI_FREEBSD, _) | (_, Some(GuestAbi::FreeBsd)) => GuestAbi::FreeBsd,
        (ELFOSABI_NONE | ELFOSABI_GNU, _) => GuestAbi::Linux,
        (other, _) => {
            return Err(LoadError::not_executable(
                path,
                format!("ELF OS ABI {other} is not one emu knows (Linux, FreeBSD)"),
            ))
        }
    };
    Ok(Executable::Elf(ElfImage {
        path: path.to_path_buf(),
        file,
        kind,
        abi,
        entry: hdr.e_entry,
        segments,
        phdr_vaddr,
        phnum: hdr.e_phnum as u64,
        phentsize: hdr.e_phentsize as u64,
        interpreter,
        exec_stack,
    }))
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
        let desc = notes.get(desc_start..desc_start + descsz)?;
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

fn script(path: &Path, bytes: &[u8]) -> Result<Executable, LoadError> {
    let head = &bytes[2..bytes.len().min(SHEBANG_MAX)];
    let line = match head.iter().position(|&b| b == b'\n') {
        Some(end) => &head[..end],
        None if bytes.len() <= SHEBANG_MAX => head,
        None => return Err(LoadError::not_executable(path, "the #! line is too long")),
    };
    let line = std::str::from_utf8(line).map_err(|_| LoadError::not_executable(path, "the #! line is not UTF-8"))?;
    let line = line.trim_matches([' ', '\t', '\r']);
    let (interpreter, argument) = match line.split_once([' ', '\t']) {
        Some((i, a)) => (i, Some(a.trim_matches([' ', '\t']).to_string()).filter(|a| !a.is_empty())),
        None => (line, None),
    };
    if interpreter.is_empty() {
        return Err(LoadError::not_executable(path, "the #! line names no interpreter"));
    }
    Ok(Executable::Script { interpreter: interpreter.to_string(), argument })
}

/// Execute permission as the kernel checks it (root needs one x bit).
fn may_execute(path: &Path, meta: &std::fs::Metadata) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path.
    let ok = unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0;
    ok && meta.mode() & 0o111 != 0
}
