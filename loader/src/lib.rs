//! Loading a guest: reading its ELF file ([`inspect`]), placing it in the
//! guest arena ([`map_image`]), building its stack ([`map_stack`],
//! [`build_initial_stack`]) and emulating its program break
//! ([`ProgramBreak`]). The loader knows nothing of the emulator; the emulator
//! decides which auxiliary vector an ABI gets and when the guest starts.

pub mod arena;
mod brk;
mod elf;
mod error;
mod map;
mod stack;

pub use arena::{page_down, page_up, AddressSpace, PAGE_SIZE};
pub use brk::ProgramBreak;
pub use elf::{inspect, ElfImage, Executable, GuestAbi, ImageKind, Segment};
pub use error::LoadError;
pub use map::{map_image, LoadedImage};
pub use stack::{build_initial_stack, map_stack, AuxValue, GuestStack, StackContents};
