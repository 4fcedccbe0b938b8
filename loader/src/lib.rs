//! Loading a guest the way Linux's execve loads a program: following `#!`
//! scripts to the ELF file, checking it as the kernel does ([`prepare`],
//! with the kernel's errno for what it refuses), mapping it and its
//! interpreter into the guest arena ([`map_exec`]), building its stack
//! ([`map_stack`], [`build_initial_stack`]) and emulating its program break
//! ([`ProgramBreak`]). The loader knows nothing of the emulator; the
//! emulator decides which auxiliary vector an ABI gets and when the guest
//! starts.

pub mod arena;
mod brk;
pub mod elf;
mod error;
mod exec;
mod file;
mod map;
pub mod script;
mod stack;

pub use arena::{page_down, page_up, AddressSpace, PAGE_SIZE};
pub use brk::ProgramBreak;
pub use elf::{ElfImage, GuestAbi, ImageKind, Segment};
pub use error::LoadError;
pub use exec::{prepare, Exec, ExecLimits, Loadable};
pub use file::{exec_access, ExecFile, FileStamp, Source};
pub use map::{map_exec, Layout, Loaded, TASK_SIZE};
pub use stack::{build_initial_stack, map_stack, AuxValue, BuiltStack, GuestStack, StackContents};
