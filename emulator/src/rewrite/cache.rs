//! Site analyses kept across runs, in a file of the user's cache.
//!
//! Deciding a site (`decode::analyse`) needs iced-x86's decoder tables,
//! which the first decoder of a process builds: 0.35 to 0.55 ms in this
//! project's VMs, more than the rest of a site's rewrite, paid again by every
//! run of the same program. The analysis is a function of the code around
//! the site (and of its address modulo 16) alone, so its outcome is kept,
//! with that code, in `sites-VERSION` under `$EMU_CACHE_DIR`,
//! `$XDG_CACHE_HOME/emu` or `~/.cache/emu`; `EMU_CACHE_DIR=` (empty)
//! keeps nothing. A run whose sites are all there never builds the tables.
//!
//! The file holds records appended by each process as it decides a new
//! site, one `write` each (O_APPEND: concurrent runs do not mix their
//! records). Each record carries the whole input it answers for and a
//! checksum: a torn, damaged or foreign record is skipped, never trusted,
//! and what it claims is checked against the code (`Outcome::Rewrite`'s
//! moved bytes must be the ones before the `syscall`). VERSION is a hash
//! of the analysis's source and of this format, so that another emu's
//! answers are never read (and a new version's file replaces the old
//! ones). The file starts over once it has grown to `MAX_FILE`.

use super::decode::{self, Shape};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

/// Changes with the analysis's code and with this file's format.
const VERSION: u64 = fnv1a(include_bytes!("decode.rs"), fnv1a(include_bytes!("cache.rs"), FNV_OFFSET));
/// Records are read from and appended to a file up to this size.
const MAX_FILE: u64 = 4 << 20;
const MAGIC: [u8; 4] = *b"emuS";

/// What a site's analysis said: rewrite it, moving the last `moved`
/// bytes before the `syscall` (the number they load, if they load one), or
/// leave it to the trap path, for this reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Rewrite { moved: usize, number: Option<u32> },
    Refuse(String),
}

/// The analysis's input: the site's address modulo 16, the code before
/// the site with its `syscall`, the code after it.
#[derive(Hash, PartialEq, Eq)]
struct Input {
    line_offset: u8,
    before: Vec<u8>,
    after: Vec<u8>,
}

pub struct SiteCache {
    path: Option<PathBuf>,
    known: Option<HashMap<Input, Outcome>>,
}

impl SiteCache {
    pub const fn new() -> Self {
        SiteCache { path: None, known: None }
    }

    /// The analysis of the site whose `syscall` is at `at`, from the file
    /// or made now (and added to the file). `before` ends with the
    /// `syscall`.
    pub fn analyse(&mut self, at: u64, before: &[u8], after: &[u8]) -> Result<Shape, String> {
        let input = Input { line_offset: (at % 16) as u8, before: before.to_vec(), after: after.to_vec() };
        if self.known.is_none() {
            self.path = location();
            self.known = Some(self.path.as_ref().map(load).unwrap_or_default());
        }
        let known = self.known.as_mut().expect("loaded above");
        if let Some(outcome) = known.get(&input) {
            log::debug!("site {at:#x}: analysis from the cache");
            return checked_shape(at, before, outcome.clone());
        }
        let outcome = match decode::analyse(at, before, after) {
            Ok(s) => Outcome::Rewrite { moved: (at - s.start) as usize, number: s.number },
            Err(why) => Outcome::Refuse(why.to_string()),
        };
        if let Some(path) = &self.path {
            append(path, &record(&input, &outcome));
        }
        known.insert(input, outcome.clone());
        checked_shape(at, before, outcome)
    }
}

/// The shape an outcome gives the site, checked against its code.
fn checked_shape(at: u64, before: &[u8], outcome: Outcome) -> Result<Shape, String> {
    match outcome {
        Outcome::Refuse(why) => Err(why),
        Outcome::Rewrite { moved, number } => {
            let code = &before[..before.len() - 2];
            if !(5..=decode::MAX_MOVED.min(code.len())).contains(&moved) {
                return Err("its cached analysis does not fit its code".into());
            }
            Ok(Shape { start: at - moved as u64, moved: code[code.len() - moved..].to_vec(), number })
        }
    }
}

/// The file, or None when the user keeps none (or has no home).
fn location() -> Option<PathBuf> {
    let dir = match std::env::var_os("EMU_CACHE_DIR") {
        Some(d) if d.is_empty() => return None,
        Some(d) => PathBuf::from(d),
        None => match std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
            Some(d) => PathBuf::from(d).join("emu"),
            None => PathBuf::from(std::env::var_os("HOME").filter(|d| !d.is_empty())?).join(".cache/emu"),
        },
    };
    Some(dir.join(format!("sites-{VERSION:016x}")))
}

/// Every sound record of the file.
fn load(path: &PathBuf) -> HashMap<Input, Outcome> {
    let mut known = HashMap::new();
    let mut data = Vec::new();
    let Ok(file) = File::open(path) else { return known };
    if file.take(MAX_FILE).read_to_end(&mut data).is_err() {
        return known;
    }
    let mut rest = &data[..];
    while let Some(at) = find(rest, &MAGIC) {
        rest = &rest[at..];
        match parse(rest) {
            Some((input, outcome, len)) => {
                known.insert(input, outcome);
                rest = &rest[len..];
            }
            // Damaged: look for the next record from the next byte.
            None => rest = &rest[1..],
        }
    }
    known
}

fn find(data: &[u8], what: &[u8]) -> Option<usize> {
    data.windows(what.len()).position(|w| w == what)
}

/// A record: MAGIC, its length (u32), the checksum of what follows it
/// (u64), the line offset (u8), the code before and after (u16 length,
/// bytes, each), then the outcome: 1, the moved length (u8), 1 and the
/// number (u32) or 0; or 0, the reason's length (u8) and text.
fn record(input: &Input, outcome: &Outcome) -> Vec<u8> {
    let mut body = vec![input.line_offset];
    for part in [&input.before, &input.after] {
        body.extend_from_slice(&(part.len() as u16).to_le_bytes());
        body.extend_from_slice(part);
    }
    match outcome {
        Outcome::Rewrite { moved, number } => {
            body.extend_from_slice(&[1, *moved as u8]);
            match number {
                Some(n) => {
                    body.push(1);
                    body.extend_from_slice(&n.to_le_bytes());
                }
                None => body.push(0),
            }
        }
        Outcome::Refuse(why) => {
            let why = &why.as_bytes()[..why.len().min(255)];
            body.extend_from_slice(&[0, why.len() as u8]);
            body.extend_from_slice(why);
        }
    }
    let mut r = MAGIC.to_vec();
    r.extend_from_slice(&((16 + body.len()) as u32).to_le_bytes());
    r.extend_from_slice(&fnv1a(&body, FNV_OFFSET).to_le_bytes());
    r.extend_from_slice(&body);
    r
}

/// The record at the start of `data`, and its length; None unless whole
/// and sound.
fn parse(data: &[u8]) -> Option<(Input, Outcome, usize)> {
    let len = u32::from_le_bytes(data.get(4..8)?.try_into().ok()?) as usize;
    let sum = u64::from_le_bytes(data.get(8..16)?.try_into().ok()?);
    let body = data.get(16..len)?;
    if fnv1a(body, FNV_OFFSET) != sum {
        return None;
    }
    let mut r = Reader(body);
    let line_offset = r.bytes(1)?[0];
    let before_len = u16::from_le_bytes(r.bytes(2)?.try_into().ok()?) as usize;
    let before = r.bytes(before_len)?.to_vec();
    let after_len = u16::from_le_bytes(r.bytes(2)?.try_into().ok()?) as usize;
    let after = r.bytes(after_len)?.to_vec();
    let outcome = match r.bytes(1)?[0] {
        1 => {
            let moved = r.bytes(1)?[0] as usize;
            let number = match r.bytes(1)?[0] {
                1 => Some(u32::from_le_bytes(r.bytes(4)?.try_into().ok()?)),
                _ => None,
            };
            Outcome::Rewrite { moved, number }
        }
        _ => {
            let n = r.bytes(1)?[0] as usize;
            Outcome::Refuse(String::from_utf8_lossy(r.bytes(n)?).into_owned())
        }
    };
    (line_offset < 16 && before.ends_with(&[0x0f, 0x05])).then_some((
        Input { line_offset, before, after },
        outcome,
        len,
    ))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, tail) = (self.0.get(..n)?, &self.0[n..]);
        self.0 = tail;
        Some(head)
    }
}

/// Adds a record, in one write, to a file emptied first once it has grown
/// to `MAX_FILE`; a new file replaces those of other versions. Nothing if
/// the file cannot be had: a cache is never worth an error.
fn append(path: &PathBuf, record: &[u8]) {
    let Some(dir) = path.parent() else { return };
    if !path.exists() {
        let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir);
        for old in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if old.file_name().to_string_lossy().starts_with("sites-") && old.path() != *path {
                let _ = std::fs::remove_file(old.path());
            }
        }
    }
    let file = OpenOptions::new().append(true).create(true).mode(0o600).custom_flags(libc::O_CLOEXEC).open(path);
    if let Ok(mut file) = file {
        if file.metadata().is_ok_and(|m| m.len() >= MAX_FILE) {
            let _ = file.set_len(0);
        }
        let _ = file.write_all(record);
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, 64 bits: a checksum against damage, not against an adversary
/// (the file is the user's own, like the rest of their cache).
const fn fnv1a(data: &[u8], mut hash: u64) -> u64 {
    let mut i = 0;
    while i < data.len() {
        hash ^= data[i] as u64;
        hash = hash.wrapping_mul(0x100_0000_01b3);
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_and_damage_is_skipped() {
        let input = || Input { line_offset: 3, before: vec![0x90, 0xb8, 1, 0, 0, 0, 0x0f, 0x05], after: vec![0xc3] };
        let outcomes = [Outcome::Rewrite { moved: 5, number: Some(1) }, Outcome::Refuse("a reason".into())];
        for outcome in outcomes {
            let r = record(&input(), &outcome);
            let (back, o, len) = parse(&r).unwrap();
            assert!(back == input() && o == outcome && len == r.len());
            for i in 4..r.len() {
                let mut damaged = r.clone();
                damaged[i] ^= 0x40;
                assert!(parse(&damaged).is_none_or(|(b, o, _)| b == input() && o == outcome), "byte {i}");
            }
            assert!(parse(&r[..r.len() - 1]).is_none());
        }
    }

    #[test]
    fn a_cached_shape_must_fit_the_code() {
        let before = [0x90, 0xb8, 1, 0, 0, 0, 0x0f, 0x05];
        let at = 0x1006;
        let shape = checked_shape(at, &before, Outcome::Rewrite { moved: 5, number: Some(1) }).unwrap();
        assert_eq!((shape.start, shape.moved), (0x1001, vec![0xb8, 1, 0, 0, 0]));
        assert!(checked_shape(at, &before, Outcome::Rewrite { moved: 7, number: None }).is_err());
        assert!(checked_shape(at, &before, Outcome::Rewrite { moved: 4, number: None }).is_err());
    }
}
