//! ELF headers and `#!` lines from arbitrary bytes: the checks the kernel
//! makes before its point of no return, as a program and as an interpreter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzzed");
    let head = &data[..data.len().min(loader::script::HEAD_SIZE)];
    let _ = loader::script::parse(head);
    if let Ok(image) = loader::elf::read_program(data, head, path) {
        let _ = loader::elf::phdr_vaddr(&image);
    }
    let _ = loader::elf::read_interpreter(data, path);
});
