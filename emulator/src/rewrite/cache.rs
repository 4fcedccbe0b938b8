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
//! The file is a hash table: a header, `SLOTS` offsets, then records, each
//! holding the whole input it answers for, the outcome, a checksum, and
//! the offset of the record that was in its slot before (a chain). A lookup
//! reads the header, a slot and the records of its chain (a few `pread`s,
//! not the file: it may hold thousands of sites); a new site's record is
//! appended in one `write` (O_APPEND: concurrent runs do not mix their
//! records), then its slot is pointed at it (a concurrent run may drop
//! the other's from the chain: a site analysed again, nothing worse). A
//! torn, damaged or foreign record is skipped, never trusted, and what one
//! claims is checked against the code (`checked_shape`). VERSION is a hash
//! of the analysis's source and of this format, so that another emu's
//! answers are never read (a new version's file replaces the old ones).
//! The file starts over once it has grown to `MAX_FILE`.

use super::decode::{self, Shape};
use std::fs::{File, OpenOptions};
use std::io::{Seek, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::PathBuf;

/// Changes with the analysis's code and with this file's format.
const VERSION: u64 = fnv1a(include_bytes!("decode.rs"), fnv1a(include_bytes!("cache.rs"), FNV_OFFSET));
/// The file starts over at this size.
const MAX_FILE: u64 = 4 << 20;
const FILE_MAGIC: [u8; 8] = *b"emuSITES";
const RECORD_MAGIC: [u8; 4] = *b"emuS";
const SLOTS: u64 = 4096;
/// The header: FILE_MAGIC, VERSION; then the slots (u32 offsets, 0: empty).
const HEADER: u64 = 16;
const RECORDS: u64 = HEADER + 4 * SLOTS;
/// A record's fixed part: RECORD_MAGIC, its length (u32), the previous
/// record of its slot (u32), the checksum of the rest (u64).
const RECORD_HEAD: usize = 20;
/// No record is longer (the input is at most 64 + 2 + 256 bytes).
const RECORD_MAX: usize = 1024;
/// Chains are followed this far.
const CHAIN: usize = 8;

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
#[derive(PartialEq, Eq)]
struct Input {
    line_offset: u8,
    before: Vec<u8>,
    after: Vec<u8>,
}

impl Input {
    fn bytes(&self) -> Vec<u8> {
        let mut b = vec![self.line_offset];
        for part in [&self.before, &self.after] {
            b.extend_from_slice(&(part.len() as u16).to_le_bytes());
            b.extend_from_slice(part);
        }
        b
    }

    fn slot(&self) -> u64 {
        fnv1a(&self.bytes(), FNV_OFFSET) % SLOTS
    }
}

pub struct SiteCache {
    /// None until the first site; then the file, if there is one.
    path: Option<Option<PathBuf>>,
}

impl SiteCache {
    pub const fn new() -> Self {
        SiteCache { path: None }
    }

    /// The analysis of the site whose `syscall` is at `at`, from the file
    /// or made now (and added to the file). `before` ends with the
    /// `syscall`.
    pub fn analyse(&mut self, at: u64, before: &[u8], after: &[u8]) -> Result<Shape, String> {
        let input = Input { line_offset: (at % 16) as u8, before: before.to_vec(), after: after.to_vec() };
        let path = self.path.get_or_insert_with(location).as_ref();
        if let Some(outcome) = path.and_then(|p| lookup(p, &input)) {
            log::debug!("site {at:#x}: analysis from the cache");
            return checked_shape(at, before, outcome);
        }
        let outcome = match decode::analyse(at, before, after) {
            Ok(s) => Outcome::Rewrite { moved: (at - s.start) as usize, number: s.number },
            Err(why) => Outcome::Refuse(why.to_string()),
        };
        if let Some(path) = path {
            insert(path, &input, &outcome);
        }
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

/// Whether the file's header is this version's.
fn header_sound(file: &File) -> bool {
    let mut header = [0u8; HEADER as usize];
    file.read_exact_at(&mut header, 0).is_ok()
        && header[..8] == FILE_MAGIC
        && u64::from_le_bytes(header[8..].try_into().unwrap()) == VERSION
}

fn read_u32(file: &File, at: u64) -> Option<u32> {
    let mut b = [0u8; 4];
    file.read_exact_at(&mut b, at).ok()?;
    Some(u32::from_le_bytes(b))
}

/// The outcome the file keeps for `input`, if a sound record has it.
fn lookup(path: &PathBuf, input: &Input) -> Option<Outcome> {
    let file = File::open(path).ok()?;
    if !header_sound(&file) {
        return None;
    }
    let mut at = read_u32(&file, HEADER + 4 * input.slot())? as u64;
    let mut buf = [0u8; RECORD_MAX];
    for _ in 0..CHAIN {
        if at < RECORDS {
            return None;
        }
        let n = file.read_at(&mut buf, at).ok()?;
        let (found, outcome, prev) = parse(&buf[..n])?;
        if found == *input {
            return Some(outcome);
        }
        at = prev as u64;
    }
    None
}

/// Adds a record for `input` and points its slot at it. Nothing if the
/// file cannot be had: a cache is never worth an error.
fn insert(path: &PathBuf, input: &Input, outcome: &Outcome) {
    let Some(dir) = path.parent() else { return };
    if !path.exists() {
        let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir);
        for old in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if old.file_name().to_string_lossy().starts_with("sites-") && old.path() != *path {
                let _ = std::fs::remove_file(old.path());
            }
        }
    }
    // Records through O_APPEND, the table through a descriptor without it
    // (Linux's pwrite to an O_APPEND one appends).
    let open = |append: bool| {
        OpenOptions::new()
            .read(true)
            .write(!append)
            .append(append)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
    };
    let (Ok(table), Ok(mut records)) = (open(false), open(true)) else { return };
    let size = table.metadata().map_or(0, |m| m.len());
    if !(RECORDS..MAX_FILE).contains(&size) || !header_sound(&table) {
        // A new table (a run doing the same meanwhile makes the same one).
        let mut empty = vec![0u8; RECORDS as usize];
        empty[..8].copy_from_slice(&FILE_MAGIC);
        empty[8..16].copy_from_slice(&VERSION.to_le_bytes());
        if table.set_len(0).is_err() || table.write_all_at(&empty, 0).is_err() {
            return;
        }
    }
    let slot = HEADER + 4 * input.slot();
    let prev = read_u32(&table, slot).unwrap_or(0);
    let record = record(input, outcome, prev);
    // The record lands whole at the end, and this descriptor's offset then
    // says where.
    let Ok(()) = records.write_all(&record) else { return };
    let Ok(end) = records.stream_position() else { return };
    let Ok(at) = u32::try_from(end - record.len() as u64) else { return };
    let _ = table.write_all_at(&at.to_le_bytes(), slot);
}

/// A record: RECORD_MAGIC, its length (u32), the previous record of its
/// slot (u32), the checksum of what follows (u64), the input (`Input::
/// bytes`), then the outcome: 1, the moved length (u8), 1 and the number
/// (u32) or 0; or 0, the reason's length (u8) and text.
fn record(input: &Input, outcome: &Outcome, prev: u32) -> Vec<u8> {
    let mut body = input.bytes();
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
    let mut r = RECORD_MAGIC.to_vec();
    r.extend_from_slice(&((RECORD_HEAD + body.len()) as u32).to_le_bytes());
    r.extend_from_slice(&prev.to_le_bytes());
    r.extend_from_slice(&fnv1a(&body, fnv1a(&prev.to_le_bytes(), FNV_OFFSET)).to_le_bytes());
    r.extend_from_slice(&body);
    r
}

/// The record at the start of `data`: its input, outcome and previous
/// record; None unless whole and sound.
fn parse(data: &[u8]) -> Option<(Input, Outcome, u32)> {
    if data.get(..4)? != RECORD_MAGIC {
        return None;
    }
    let word = |at: usize| Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?));
    let (len, prev) = (word(4)? as usize, word(8)?);
    let sum = u64::from_le_bytes(data.get(12..20)?.try_into().ok()?);
    let body = data.get(RECORD_HEAD..len)?;
    if fnv1a(body, fnv1a(&prev.to_le_bytes(), FNV_OFFSET)) != sum {
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
        prev,
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

    fn input() -> Input {
        Input { line_offset: 3, before: vec![0x90, 0xb8, 1, 0, 0, 0, 0x0f, 0x05], after: vec![0xc3] }
    }

    #[test]
    fn records_read_back_and_damage_is_skipped() {
        let outcomes = [Outcome::Rewrite { moved: 5, number: Some(1) }, Outcome::Refuse("a reason".into())];
        for outcome in outcomes {
            let r = record(&input(), &outcome, 77);
            let (back, o, prev) = parse(&r).unwrap();
            assert!(back == input() && o == outcome && prev == 77);
            for i in 0..r.len() {
                let mut damaged = r.clone();
                damaged[i] ^= 0x40;
                assert!(parse(&damaged).is_none_or(|(b, o, p)| b == input() && o == outcome && p == 77), "byte {i}");
            }
            assert!(parse(&r[..r.len() - 1]).is_none());
        }
    }

    #[test]
    fn the_table_finds_what_was_put_in_it() {
        let dir = std::env::temp_dir().join(format!("emu-site-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join(format!("sites-{VERSION:016x}"));
        let numbered =
            |i: u32| Input { line_offset: 0, before: [&i.to_le_bytes()[..], &[0x0f, 0x05]].concat(), after: vec![] };
        // Ten inputs that share input()'s slot: a chain longer than is followed.
        let same_slot: Vec<Input> = (0..).map(numbered).filter(|i| i.slot() == input().slot()).take(10).collect();
        assert_eq!(lookup(&path, &input()), None);
        insert(&path, &input(), &Outcome::Refuse("why".into()));
        for (n, i) in same_slot.iter().enumerate() {
            insert(&path, i, &Outcome::Rewrite { moved: 5, number: Some(n as u32) });
        }
        for (n, i) in same_slot.iter().enumerate() {
            let found = lookup(&path, i);
            let kept = n >= same_slot.len() - CHAIN;
            assert_eq!(found, kept.then_some(Outcome::Rewrite { moved: 5, number: Some(n as u32) }), "{n}");
        }
        // The oldest have dropped out of the chain: analysed again, and found.
        insert(&path, &input(), &Outcome::Refuse("why".into()));
        assert_eq!(lookup(&path, &input()), Some(Outcome::Refuse("why".into())));
        let _ = std::fs::remove_dir_all(&dir);
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
