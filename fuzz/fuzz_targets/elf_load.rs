//! Mapping an arbitrary ELF into an arena, as emu maps a guest: the bytes
//! go into a memory file, the loader reads and maps them inside a region
//! this process reserved, which is reset after each input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loader::{AddressSpace, Exec, ExecFile, Layout, Loadable};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The arena: from 64 KiB to just under 2 GiB, where ET_EXEC images live
/// and which AddressSanitizer leaves to the program (its shadow starts at
/// 0x7fff8000).
const FLOOR: u64 = 0x1_0000;
const CEILING: u64 = 0x7fff_0000;

fn reserve() {
    // SAFETY: maps inaccessible pages over a range nothing of this process
    // uses (the fuzzer's own code and heap are far above).
    let p = unsafe {
        libc::mmap(
            FLOOR as *mut _,
            (CEILING - FLOOR) as usize,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
            -1,
            0,
        )
    };
    assert_eq!(p as u64, FLOOR, "cannot reserve the arena");
}

struct Memfd {
    file: std::fs::File,
    path: PathBuf,
}

fn memfd() -> &'static std::sync::Mutex<Memfd> {
    static FD: OnceLock<std::sync::Mutex<Memfd>> = OnceLock::new();
    FD.get_or_init(|| {
        // SAFETY: a new memory file of this process.
        let fd = unsafe { libc::memfd_create(c"elf".as_ptr(), 0) };
        assert!(fd >= 0);
        // SAFETY: the descriptor just made, owned from here on.
        let file = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        std::sync::Mutex::new(Memfd { file, path: PathBuf::from(format!("/proc/self/fd/{fd}")) })
    })
}

fuzz_target!(|data: &[u8]| {
    let m = memfd().lock().unwrap();
    let _ = m.file.set_len(0);
    let _ = std::os::unix::fs::FileExt::write_at(&m.file, data, 0);
    let Ok(file) = ExecFile::open(&m.path) else { return };
    let head = &data[..data.len().min(256)];
    let Ok(image) = loader::elf::read_program(&file, head, &m.path) else { return };
    reserve();
    let mut space = AddressSpace::new(FLOOR, CEILING);
    space.set_mmap_top(CEILING / 2);
    let exec = Exec { program: Loadable { path: m.path.clone(), file, image }, interpreter: None, argv: Vec::new(), scripts: 0 };
    let _ = loader::map_exec(&exec, &mut space, Layout { program_base: CEILING / 3 * 2 & !0xfff });
    reserve();
});
