//! System-call ABI tables as data.
//!
//! A [`Table`] lists an ABI's calls by the numbers its guests use, with the
//! kinds of their arguments, their support level and a note, and the ABI's
//! value sets (flags, enumerations, errno and signal names). The built-in
//! tables are generated at build time from the files in this folder; a user's
//! table is parsed at run time by [`load`] with the same parser. The format is
//! described in `abi-tables/README.md`.

mod classes;
mod format;
mod render;

pub use classes::{class, select, Classes, CLASSES};
pub use format::{
    parse, parse_number, Arg, ArgKind, List, ParseError, Pooled, Release, RetKind, SetId, SetKind, ShownIf, Support,
    Syscall, Table, Text, Value, ValueSet, MAX_ARGS, MAX_NUMBER, NO_CALL,
};
pub use render::{c_header, matrix, MatrixStyle};

use std::borrow::Cow;

mod generated {
    #![allow(clippy::all)]
    use super::*;
    include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
}

pub use generated::{BUILTIN, FREEBSD_AMD64, LINUX_X86_64};

/// The arrays the built-in tables' text and lists are ranges of
/// (`format/pooled.rs`).
mod built {
    pub(crate) use super::generated::{ARGS, CALLS, INDEXES, SETS, TEXT, VALUES};
}

/// A built-in table by name (`linux-x86_64`), or by a short alias (`linux`).
pub fn builtin(name: &str) -> Option<&'static Table> {
    BUILTIN.iter().copied().find(|t| t.name == name || t.personality == name)
}

/// Why a table could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    Read { path: String, error: std::io::Error },
    Parse(ParseError),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Read { path, error } => write!(f, "{path}: {error}"),
            LoadError::Parse(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LoadError {}

/// Reads and parses a table file. A `sets-from` or `calls-from` names a
/// built-in table, or (for `calls-from`) another file, relative to this one.
pub fn load(path: &str) -> Result<Table, LoadError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    /// How deep `calls-from` files are being loaded: a cycle stops here.
    static DEPTH: AtomicUsize = AtomicUsize::new(0);
    let text = std::fs::read_to_string(path).map_err(|error| LoadError::Read { path: path.to_string(), error })?;
    let dir = std::path::Path::new(path).parent().map(|d| d.to_path_buf()).unwrap_or_default();
    let base = |name: &str| {
        if let Some(t) = builtin(name) {
            return Ok(t.clone());
        }
        if DEPTH.fetch_add(1, Ordering::SeqCst) >= 8 {
            DEPTH.fetch_sub(1, Ordering::SeqCst);
            return Err(format!("`{name}`: tables start from each other more than 8 deep (a cycle?)"));
        }
        let file = dir.join(name);
        let table = match load(&file.to_string_lossy()) {
            Ok(t) => Ok(t),
            Err(LoadError::Read { error, .. }) if error.kind() == std::io::ErrorKind::NotFound => {
                Err(format!("no built-in table or table file `{name}`"))
            }
            Err(e) => Err(format!("in `{name}`: {e}")),
        };
        DEPTH.fetch_sub(1, Ordering::SeqCst);
        table
    };
    parse(&text, path, &base).map_err(LoadError::Parse)
}

/// A built-in table by name, or else a table file at that path.
pub fn find(name_or_path: &str) -> Result<Cow<'static, Table>, LoadError> {
    match builtin(name_or_path) {
        Some(t) if !name_or_path.contains('/') => Ok(Cow::Borrowed(t)),
        _ => load(name_or_path).map(Cow::Owned),
    }
}

#[cfg(test)]
mod tests;
