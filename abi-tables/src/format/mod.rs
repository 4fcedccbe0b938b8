//! What an ABI table is made of (the file format is in `abi-tables/README.md`).
//!
//! This module is compiled twice: into the library, and into `build.rs` (with
//! `#[path]`), which parses the built-in tables and prints them as Rust
//! statics of these same types. That is why it depends on nothing but `std`
//! (and `crate::built`, which both define), and why every string and list is
//! a [`Text`] or a [`List`]: `Built` in generated statics, `Owned` in a table
//! parsed at run time.

mod parse;
mod pooled;

pub use parse::{parse, parse_number};
pub use pooled::{List, Pooled, Text};

use std::fmt;

/// Calls are numbered below this; it bounds the number-to-call index.
pub const MAX_NUMBER: u32 = 4096;
/// At most this many arguments per call (FreeBSD passes the 7th and 8th on the stack).
pub const MAX_ARGS: usize = 8;
/// `Table::index` entry of a number no call has.
pub const NO_CALL: u16 = u16::MAX;

/// One system-call ABI: its calls, numbered as the guest numbers them, and its value sets.
#[derive(Clone, Debug)]
pub struct Table {
    pub name: Text,
    /// The translators that implement the calls (`linux`, `freebsd`).
    pub personality: Text,
    pub description: Text,
    /// Where the table came from (a path, or `built-in`), for messages.
    pub source: Text,
    pub sets: List<ValueSet>,
    /// Sorted by number.
    pub calls: List<Syscall>,
    /// `index[number]` is the call's position in `calls`, or `NO_CALL`.
    pub index: List<u16>,
    /// The positions in `calls`, in the order of the calls' names (for
    /// `call_by_name`: emu looks up every call of a table by name as it
    /// starts).
    pub by_name: List<u16>,
}

/// Index of a `ValueSet` in its table.
pub type SetId = u16;

#[derive(Clone, Debug)]
pub struct ValueSet {
    pub name: Text,
    pub kind: SetKind,
    pub values: List<Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetKind {
    /// Bits (and fields) combined with `|`.
    Flags,
    /// Exact values.
    Enum,
}

#[derive(Clone, Debug)]
pub struct Value {
    pub name: Text,
    pub value: i64,
    /// Zero for a plain bit (or bit group); otherwise the field this value is one setting of.
    pub mask: u64,
    /// Empty when the table gives none.
    pub description: Text,
}

#[derive(Clone, Debug)]
pub struct Syscall {
    pub number: u32,
    pub name: Text,
    pub support: Support,
    pub args: List<Arg>,
    pub ret: RetKind,
    /// Empty when the table gives none.
    pub note: Text,
    /// Line of the table the call was declared on.
    pub line: u32,
    /// The release of the guest's kernel that first had the call (a `since`
    /// statement), when the table records it.
    pub since: Option<Release>,
    /// The call whose implementation this one uses (`... as NAME`); empty
    /// when it is its own.
    pub implements: Text,
}

impl Syscall {
    /// The name the personality knows the call's implementation by.
    pub fn implementation_name(&self) -> &str {
        if self.implements.is_empty() {
            &self.name
        } else {
            &self.implements
        }
    }
}

/// A release of the guest's kernel: Linux `5.3`, `2.6.16`; FreeBSD `13.0`.
/// Ordered as releases are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Release {
    pub major: u16,
    pub minor: u16,
    pub patch: u16,
}

impl Release {
    /// `MAJOR.MINOR` or `MAJOR.MINOR.PATCH`, numbers only.
    pub fn parse(s: &str) -> Option<Release> {
        let number = |p: &str| -> Option<u16> {
            if p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse().ok()
        };
        let parts: Vec<&str> = s.split('.').collect();
        match parts[..] {
            [major, minor] => Some(Release { major: number(major)?, minor: number(minor)?, patch: 0 }),
            [major, minor, patch] => {
                Some(Release { major: number(major)?, minor: number(minor)?, patch: number(patch)? })
            }
            _ => None,
        }
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        // Linux 2.x releases are named by three numbers (2.6.0), later
        // ones and FreeBSD's by two (5.3, 13.0).
        if self.patch != 0 || self.major == 2 {
            write!(f, ".{}", self.patch)?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Support {
    /// Behaves as on the guest's kernel.
    Supported,
    /// Works, with the differences the note describes.
    Partial,
    /// Returns ENOSYS; reported once and counted.
    Unsupported,
    /// Refused with this errno of the guest's ABI.
    Error { errno: i32, name: Text },
}

impl fmt::Display for Support {
    /// As tables write it: `supported`, `partial`, `unsupported`, `error(EPERM)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Support::Supported => f.write_str("supported"),
            Support::Partial => f.write_str("partial"),
            Support::Unsupported => f.write_str("unsupported"),
            Support::Error { name, .. } => write!(f, "error({name})"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Arg {
    pub name: Text,
    pub kind: ArgKind,
    /// Shown only when another (flags) argument has one of these bits.
    pub shown_if: Option<ShownIf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShownIf {
    pub arg: u8,
    pub mask: u64,
}

/// How an argument is read and shown. `u8` fields are positions of other
/// arguments of the same call; `SetId`s index the table's sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgKind {
    Int,
    UInt,
    Hex,
    Ptr,
    Fd,
    DirFd,
    Mode,
    Pid,
    Uid,
    Gid,
    Signal,
    Flags(SetId),
    Enum(SetId),
    Path,
    Str,
    In(u8),
    Out(u8),
    InStruct(Text),
    OutStruct(Text),
    InOutStruct(Text),
    IovIn(u8),
    IovOut(u8),
    Argv,
    Envp,
    /// A NUL-terminated string the call fills, at most ARG bytes (getcwd).
    OutStr(u8),
    /// Bytes the call fills, shown all in hex escapes (getrandom).
    OutHex(u8),
    /// A structure the call fills only when it fails (the rest of a sleep).
    ErrStruct(Text),
    /// A structure at the guest's stack pointer (the frame of rt_sigreturn).
    StackStruct(Text),
}

impl ArgKind {
    /// The structure an argument points to, if any.
    pub fn struct_name(&self) -> Option<&str> {
        match self {
            ArgKind::InStruct(s)
            | ArgKind::OutStruct(s)
            | ArgKind::InOutStruct(s)
            | ArgKind::ErrStruct(s)
            | ArgKind::StackStruct(s) => Some(s),
            _ => None,
        }
    }

    /// Whether the argument is shown only after the call returns.
    pub fn is_output(&self) -> bool {
        matches!(
            self,
            ArgKind::Out(_)
                | ArgKind::OutStruct(_)
                | ArgKind::IovOut(_)
                | ArgKind::OutStr(_)
                | ArgKind::OutHex(_)
                | ArgKind::ErrStruct(_)
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetKind {
    Int,
    UInt,
    Hex,
    Ptr,
    Fd,
    Pid,
    /// Octal, as a mode (`umask`).
    Mode,
    /// The call does not return (`exit_group`).
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub file: String,
    pub line: u32,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

impl Table {
    pub fn call_by_number(&self, number: u32) -> Option<&Syscall> {
        match self.index.get(number as usize) {
            Some(&i) if i != NO_CALL => Some(&self.calls[i as usize]),
            _ => None,
        }
    }

    pub fn call_by_name(&self, name: &str) -> Option<&Syscall> {
        let at = self.by_name.binary_search_by(|&i| self.calls[i as usize].name.as_ref().cmp(name)).ok()?;
        Some(&self.calls[self.by_name[at] as usize])
    }

    pub fn set(&self, id: SetId) -> &ValueSet {
        &self.sets[id as usize]
    }

    /// `by_name` for these calls.
    pub fn names_order(calls: &[Syscall]) -> Vec<u16> {
        let mut order: Vec<u16> = (0..calls.len() as u16).collect();
        order.sort_by(|&a, &b| calls[a as usize].name.cmp(&calls[b as usize].name));
        order
    }

    pub fn set_by_name(&self, name: &str) -> Option<&ValueSet> {
        self.sets.iter().find(|s| s.name == name)
    }
}

impl ValueSet {
    pub fn value(&self, name: &str) -> Option<&Value> {
        self.values.iter().find(|v| v.name == name)
    }

    /// The name of an exact value (enums, errno, signals).
    pub fn name_of(&self, value: i64) -> Option<&Value> {
        self.values.iter().find(|v| v.value == value)
    }
}
