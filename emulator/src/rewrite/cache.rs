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
//! The file also keeps, for each image emu loaded (the program, its
//! interpreter; known by device, inode, size and times), where the sites
//! an earlier run rewrote, or saw trap 4 times, are in it: those are
//! rewritten at the next run's first trap (`rewrite::consider`), while the
//! guest has one thread, so a rewrite costs neither the traps nor the IPIs
//! of membarrier and of the page's first write to the other CPUs (a write
//! takes 2 us there, median, against 40 once esbuild's threads run:
//! uprobes on `patch::Alone::write` and `patch::poke`).
//!
//! The file is a hash table: a header, `SLOTS` offsets, then records, each
//! holding the whole key it answers for (a site's input, an image's
//! identity), the answer, a checksum, and the offset of the record that
//! was in its slot before (a chain). A lookup reads the header, a slot and
//! the records of its chain (a few `pread`s, not the file: it may hold
//! thousands of sites); a new record is appended in one `write` (O_APPEND:
//! concurrent runs do not mix their records), then its slot is pointed at
//! it (a concurrent run may drop the other's from the chain: a site
//! analysed again, nothing worse). A torn, damaged or foreign record is
//! skipped, never trusted, and what one claims is checked against the
//! code (`checked_shape`; a known site's code must have an analysis here);
//! a file another user could have written is not used at all (`open`),
//! and none is made in a directory of another user's (`owned_place`).
//! VERSION is a hash of the analysis's source, of this format, of what an
//! image's offsets are, and of the dependencies' versions, so that another
//! emu's answers are never read; other versions' files go once they are a
//! week old. The file starts over once it has grown to `MAX_FILE`.

use super::decode::{self, Shape};
use crate::fds::{Held, PrivateFile};
use std::fs::File;
use std::io::{Seek, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt};
use std::path::{Path, PathBuf};

/// Changes with the analysis's code, this file's format, what an image's
/// site offsets are (`mod.rs`), and the dependencies' versions (iced-x86's
/// decoding).
const VERSION: u64 = fnv1a(
    include_bytes!("decode.rs"),
    fnv1a(
        include_bytes!("cache.rs"),
        fnv1a(include_bytes!("mod.rs"), fnv1a(include_bytes!("../../../Cargo.lock"), FNV_OFFSET)),
    ),
);
/// Other versions' files are removed once this old (another emu may be in
/// use beside this one: bench/compare.py runs two).
const OLD: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);
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
/// No record is longer (a site's input is at most 1 + 64 + 2 + 256 bytes,
/// an image's sites 2 + 4 * `MAX_IMAGE_SITES`).
const RECORD_MAX: usize = 1024;
/// An image's sites are remembered up to this many.
pub const MAX_IMAGE_SITES: usize = 200;
const _: () = assert!(RECORD_HEAD + 2 + IMAGE_KEY + 2 + 4 * MAX_IMAGE_SITES <= RECORD_MAX);
/// What a record's key is: a site's analysis input, or an image's identity.
const SITE: u8 = 0;
const IMAGE: u8 = 1;
/// An image key's length: IMAGE, then device, inode, size, mtime and ctime
/// (seconds and nanoseconds), 8 bytes each.
const IMAGE_KEY: usize = 1 + 7 * 8;
/// Chains are followed this far.
const CHAIN: usize = 8;

/// What a site's analysis said: rewrite it, moving the last `moved`
/// bytes before the `syscall` (the number they load, if they load one), or
/// leave it to the trap path, for this reason.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Rewrite { moved: usize, number: Option<u32> },
    Refuse(String),
}

/// The analysis's input: the site's address modulo 16, the code before
/// the site with its `syscall`, the code after it.
struct Input {
    line_offset: u8,
    before: Vec<u8>,
    after: Vec<u8>,
}

impl Input {
    fn new(at: u64, before: &[u8], after: &[u8]) -> Input {
        Input { line_offset: (at % 16) as u8, before: before.to_vec(), after: after.to_vec() }
    }

    /// The input as a record's key.
    fn key(&self) -> Vec<u8> {
        let mut b = vec![SITE, self.line_offset];
        for part in [&self.before, &self.after] {
            b.extend_from_slice(&(part.len() as u16).to_le_bytes());
            b.extend_from_slice(part);
        }
        b
    }
}

/// An image's identity as a record's key: a file changed in any way since
/// (a new build, even of the same size) has another.
fn image_key(stamp: &loader::FileStamp) -> Vec<u8> {
    let mut b = vec![IMAGE];
    let (mtime, ctime) = (stamp.mtime, stamp.ctime);
    for word in [stamp.dev, stamp.ino, stamp.size, mtime.0 as u64, mtime.1 as u64, ctime.0 as u64, ctime.1 as u64] {
        b.extend_from_slice(&word.to_le_bytes());
    }
    b
}

fn slot(key: &[u8]) -> u64 {
    fnv1a(key, FNV_OFFSET) % SLOTS
}

pub struct SiteCache {
    /// The file, absolute; None when none is kept, or once it turned out
    /// to be unusable.
    path: Option<PathBuf>,
}

impl SiteCache {
    /// Where the environment says, resolved before the guest runs (its
    /// chdir is the process's).
    pub fn from_environment() -> Self {
        let path = location().and_then(|p| std::path::absolute(p).ok());
        SiteCache { path }
    }

    /// Whether analyses and sites are kept for later runs.
    pub fn keeps(&self) -> bool {
        self.path.is_some()
    }

    /// The analysis of the site whose `syscall` is at `at`, from the file
    /// or made now (and added to the file). `before` ends with the
    /// `syscall`.
    pub fn analyse(&mut self, at: u64, before: &[u8], after: &[u8]) -> Result<Shape, String> {
        let input = Input::new(at, before, after);
        let key = input.key();
        if let Some(outcome) = self.path.as_ref().and_then(|p| lookup(p, &key)).and_then(|v| Outcome::decode(&v)) {
            log::debug!("site {at:#x}: analysis from the cache");
            return checked_shape(at, before, outcome);
        }
        log::debug!("site {at:#x}: decoded (its analysis is not in the cache)");
        let outcome = match decode::analyse(at, before, after) {
            Ok(s) => Outcome::Rewrite { moved: (at - s.start) as usize, number: s.number },
            Err(why) => Outcome::Refuse(why.to_string()),
        };
        self.insert(&key, &outcome.encode());
        checked_shape(at, before, outcome)
    }

    /// The file, open for the lookups of one moment (the first trap's, of
    /// the known sites: one open, where each lookup would make its own and
    /// check it, six host calls).
    pub fn reading<'h>(&self, held: &'h Held) -> Reading<'h> {
        Reading::open(held, self.path.as_deref())
    }

    /// Adds a site to the image's (while they are fewer than
    /// `MAX_IMAGE_SITES`), or takes one out, in the list the file has now
    /// (another run of the same file may have added to it since this one
    /// read it); returns that list, or None when no file is kept.
    pub fn change_image_sites(&mut self, image: &loader::FileStamp, change: SiteChange) -> Option<Vec<u32>> {
        let path = self.path.as_ref()?;
        let key = image_key(image);
        let mut sites = lookup(path, &key).and_then(|v| decode_offsets(&v)).unwrap_or_default();
        let changed = match change {
            SiteChange::Add(offset) if !sites.contains(&offset) && sites.len() < MAX_IMAGE_SITES => {
                sites.push(offset);
                true
            }
            SiteChange::Remove(offset) if sites.contains(&offset) => {
                sites.retain(|&s| s != offset);
                true
            }
            _ => false,
        };
        if changed {
            let mut value = (sites.len() as u16).to_le_bytes().to_vec();
            for offset in &sites {
                value.extend_from_slice(&offset.to_le_bytes());
            }
            self.insert(&key, &value);
        }
        Some(sites)
    }

    fn insert(&mut self, key: &[u8], value: &[u8]) {
        if let Some(path) = &self.path {
            if !insert(path, key, value) {
                log::debug!("site analyses are not kept: {} cannot be written", path.display());
                self.path = None;
            }
        }
    }
}

/// A change to an image's sites (`SiteCache::change_image_sites`), by
/// offset from its load bias.
pub enum SiteChange {
    Add(u32),
    Remove(u32),
}

/// The file open for reading (`SiteCache::reading`), or nothing to read.
pub struct Reading<'h>(Option<PrivateFile<'h>>);

impl<'h> Reading<'h> {
    /// The file at `path` if it is one to read (`open`) and of this version.
    fn open(held: &'h Held, path: Option<&Path>) -> Self {
        Reading(path.and_then(|p| open(held, p, libc::O_RDONLY)).filter(|f| header_sound(f)))
    }

    /// The analysis of a site known from an earlier run, which has not
    /// trapped in this one: only from the file. If its code is not code
    /// that trapped in some run, it is not taken for a site (a program that
    /// unpacks itself may have other bytes there at its first trap).
    pub fn known_shape(&self, at: u64, before: &[u8], after: &[u8]) -> Result<Shape, String> {
        let key = Input::new(at, before, after).key();
        match self.lookup(&key).and_then(|v| Outcome::decode(&v)) {
            Some(outcome) => checked_shape(at, before, outcome),
            None => Err("its code is not in the cache".into()),
        }
    }

    /// Where the sites an earlier run rewrote, or saw trap often, are in
    /// the image (offsets from its load bias).
    pub fn image_sites(&self, image: &loader::FileStamp) -> Vec<u32> {
        self.lookup(&image_key(image)).and_then(|v| decode_offsets(&v)).unwrap_or_default()
    }

    fn lookup(&self, key: &[u8]) -> Option<Vec<u8>> {
        find(self.0.as_ref()?, key)
    }
}

/// An image's sites as `change_image_sites` wrote them.
fn decode_offsets(value: &[u8]) -> Option<Vec<u32>> {
    let count = u16::from_le_bytes(value.get(..2)?.try_into().ok()?) as usize;
    let words = value.get(2..)?;
    (count <= MAX_IMAGE_SITES && words.len() == 4 * count)
        .then(|| words.chunks_exact(4).map(|w| u32::from_le_bytes(w.try_into().unwrap())).collect())
}

impl Outcome {
    /// 1, the moved length (u8), 1 and the number (u32) or 0; or 0, the
    /// reason's length (u8) and text.
    fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        match self {
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
        body
    }

    /// None unless `value` is exactly one encoded outcome.
    fn decode(value: &[u8]) -> Option<Outcome> {
        let mut r = Reader(value);
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
        r.0.is_empty().then_some(outcome)
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

/// The file, or None when the user keeps none (or has no home). A
/// relative XDG_CACHE_HOME is ignored, as the XDG specification says.
fn location() -> Option<PathBuf> {
    let dir = match std::env::var_os("EMU_CACHE_DIR") {
        Some(d) if d.is_empty() => return None,
        Some(d) => PathBuf::from(d),
        None => match std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).filter(|d| d.is_absolute()) {
            Some(d) => d.join("emu"),
            None => PathBuf::from(std::env::var_os("HOME").filter(|d| !d.is_empty())?).join(".cache/emu"),
        },
    };
    Some(dir.join(format!("sites-{VERSION:016x}")))
}

/// Opens the file (never through a symbolic link), if it is one this user
/// alone can have written: a cache in a shared directory, or one root left
/// in a user's home, is not read or written.
fn open<'h>(held: &'h Held, path: &Path, flags: i32) -> Option<PrivateFile<'h>> {
    use std::os::unix::fs::MetadataExt;
    let file = crate::fds::open_private(held, path, flags | libc::O_NOFOLLOW, 0o600).ok()?;
    let m = file.metadata().ok()?;
    (m.file_type().is_file() && m.uid() == euid() && m.mode() & 0o022 == 0).then_some(file)
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

/// What the file keeps for `key`, if a sound record has it.
fn lookup(path: &Path, key: &[u8]) -> Option<Vec<u8>> {
    let held = crate::fds::hold();
    let file = Reading::open(&held, Some(path));
    file.lookup(key)
}

/// The value of `key`'s record in a file whose header is sound.
fn find(file: &File, key: &[u8]) -> Option<Vec<u8>> {
    let mut at = read_u32(file, HEADER + 4 * slot(key))? as u64;
    let mut buf = [0u8; RECORD_MAX];
    for _ in 0..CHAIN {
        if at < RECORDS {
            return None;
        }
        let n = file.read_at(&mut buf, at).ok()?;
        let (found, value, prev) = parse(&buf[..n])?;
        if found == key {
            return Some(value.to_vec());
        }
        at = prev as u64;
    }
    None
}

/// Adds a record for `key` and points its slot at it; false when the
/// file cannot be had (a cache is never worth an error).
fn insert(path: &Path, key: &[u8], value: &[u8]) -> bool {
    let Some(dir) = path.parent() else { return false };
    if !path.exists() {
        if !owned_place(dir) {
            return false;
        }
        let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir);
        remove_old_versions(dir, path);
    }
    // Records through O_APPEND, the table through a descriptor without it
    // (Linux's pwrite to an O_APPEND one appends).
    let flags = libc::O_CREAT;
    let held = crate::fds::hold();
    let (Some(table), Some(records)) =
        (open(&held, path, flags | libc::O_RDWR), open(&held, path, flags | libc::O_WRONLY | libc::O_APPEND))
    else {
        return false;
    };
    let size = table.metadata().map_or(0, |m| m.len());
    if !(RECORDS..MAX_FILE).contains(&size) || !header_sound(&table) {
        // A new table (a run doing the same meanwhile makes the same one).
        let mut empty = vec![0u8; RECORDS as usize];
        empty[..8].copy_from_slice(&FILE_MAGIC);
        empty[8..16].copy_from_slice(&VERSION.to_le_bytes());
        if table.set_len(0).is_err() || table.write_all_at(&empty, 0).is_err() {
            return false;
        }
    }
    let slot = HEADER + 4 * slot(key);
    let prev = read_u32(&table, slot).unwrap_or(0);
    let record = record(key, value, prev);
    // The record lands whole at the end, and this descriptor's offset then
    // says where.
    let mut appender: &File = &records;
    let Ok(()) = appender.write_all(&record) else { return false };
    let Ok(end) = appender.stream_position() else { return false };
    let Ok(at) = u32::try_from(end - record.len() as u64) else { return false };
    table.write_all_at(&at.to_le_bytes(), slot).is_ok()
}

/// Whether the nearest existing directory of `dir` (itself, or where it
/// would be made) is this user's: root under sudo with the user's HOME
/// makes no file or directory there that the user could not use after.
fn owned_place(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    dir.ancestors().find_map(|d| std::fs::metadata(d).ok()).is_some_and(|m| m.uid() == euid())
}

fn euid() -> u32 {
    // SAFETY: no arguments, no effects.
    unsafe { libc::geteuid() }
}

/// Removes other versions' files (`sites-` and 16 hex digits) not written
/// to for `OLD`.
fn remove_old_versions(dir: &Path, path: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let versioned = name
            .strip_prefix("sites-")
            .is_some_and(|v| v.len() == 16 && v.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        let old = entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > OLD);
        if versioned && old && entry.path() != path {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// A record: RECORD_MAGIC, its length (u32), the previous record of its
/// slot (u32), the checksum of what follows (u64), the key's length (u16),
/// the key, the value.
fn record(key: &[u8], value: &[u8], prev: u32) -> Vec<u8> {
    let mut body = (key.len() as u16).to_le_bytes().to_vec();
    body.extend_from_slice(key);
    body.extend_from_slice(value);
    let mut r = RECORD_MAGIC.to_vec();
    r.extend_from_slice(&((RECORD_HEAD + body.len()) as u32).to_le_bytes());
    r.extend_from_slice(&prev.to_le_bytes());
    r.extend_from_slice(&fnv1a(&body, fnv1a(&prev.to_le_bytes(), FNV_OFFSET)).to_le_bytes());
    r.extend_from_slice(&body);
    r
}

/// The record at the start of `data`: its key, value and previous record;
/// None unless whole and sound.
fn parse(data: &[u8]) -> Option<(&[u8], &[u8], u32)> {
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
    let key_len = u16::from_le_bytes(r.bytes(2)?.try_into().ok()?) as usize;
    let key = r.bytes(key_len)?;
    Some((key, r.0, prev))
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

    fn put(path: &Path, input: &Input, outcome: &Outcome) -> bool {
        insert(path, &input.key(), &outcome.encode())
    }

    fn get(path: &Path, input: &Input) -> Option<Outcome> {
        lookup(path, &input.key()).and_then(|v| Outcome::decode(&v))
    }

    fn numbered(line_offset: u8, i: u32) -> Input {
        Input { line_offset, before: [&i.to_le_bytes()[..], &[0x0f, 0x05]].concat(), after: vec![] }
    }

    /// An empty directory of this test's, and where its file goes.
    fn scratch(name: &str) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("emu-site-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // The test's own (the temporary directory may be root's).
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("sites-{VERSION:016x}"));
        (dir, path)
    }

    #[test]
    fn no_file_in_a_directory_of_another_users() {
        // The nearest existing directory is /, root's.
        assert_eq!(owned_place(Path::new("/emu-no-such-directory/emu")), euid() == 0);
        let (dir, _) = scratch("owned");
        assert!(owned_place(&dir.join("a/b")));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn records_read_back_and_damage_is_skipped() {
        let outcomes = [Outcome::Rewrite { moved: 5, number: Some(1) }, Outcome::Refuse("a reason".into())];
        for outcome in outcomes {
            let (key, value) = (input().key(), outcome.encode());
            assert_eq!(Outcome::decode(&value), Some(outcome.clone()));
            let r = record(&key, &value, 77);
            assert_eq!(parse(&r), Some((&key[..], &value[..], 77)));
            for i in 0..r.len() {
                let mut damaged = r.clone();
                damaged[i] ^= 0x40;
                assert!(parse(&damaged).is_none_or(|p| p == (&key[..], &value[..], 77)), "byte {i}");
            }
            assert!(parse(&r[..r.len() - 1]).is_none());
            assert_eq!(Outcome::decode(&value[..value.len() - 1]), None);
            assert_eq!(Outcome::decode(&[&value[..], &[0]].concat()), None);
        }
    }

    /// A site known from an earlier run is taken only if its code is code
    /// the file has an analysis of.
    #[test]
    fn known_sites_need_known_code() {
        let (dir, path) = scratch("known-only");
        let mut cache = SiteCache { path: Some(path) };
        let (at, i) = (0x1006, input());
        let known = |cache: &SiteCache| {
            let held = crate::fds::hold();
            let shape = cache.reading(&held).known_shape(at, &i.before, &i.after);
            shape.map(|s| (s.start, s.moved))
        };
        assert_eq!(known(&cache), Err("its code is not in the cache".to_string()));
        let analysed = cache.analyse(at, &i.before, &i.after).map(|s| (s.start, s.moved));
        assert_eq!(known(&cache), analysed);
        // Another address in its line of 16 bytes is other input.
        let elsewhere = crate::fds::hold();
        assert!(cache.reading(&elsewhere).known_shape(at + 1, &i.before, &i.after).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// An image's sites read back; another image, or the same file changed
    /// in any way, has none; a change merges with what another run added
    /// meanwhile; the list is capped.
    #[test]
    fn images_keep_their_sites() {
        let (dir, path) = scratch("images");
        let mut cache = SiteCache { path: Some(path.clone()) };
        let sites_of = |cache: &SiteCache, stamp: &loader::FileStamp| {
            let held = crate::fds::hold();
            let sites = cache.reading(&held).image_sites(stamp);
            sites
        };
        let stamp = loader::FileStamp { dev: 1, ino: 2, size: 3, mtime: (4, 5), ctime: (6, 7) };
        assert_eq!(sites_of(&cache, &stamp), Vec::<u32>::new());
        assert_eq!(cache.change_image_sites(&stamp, SiteChange::Add(0x1234)), Some(vec![0x1234]));
        // Another run of the same file adds one: this run's next change keeps it.
        let mut other = SiteCache { path: Some(path.clone()) };
        other.change_image_sites(&stamp, SiteChange::Add(0x48ee84));
        assert_eq!(cache.change_image_sites(&stamp, SiteChange::Add(0x1234)), Some(vec![0x1234, 0x48ee84]));
        assert_eq!(sites_of(&cache, &stamp), vec![0x1234, 0x48ee84]);
        let changed = [
            loader::FileStamp { ino: 9, ..stamp },
            loader::FileStamp { size: 9, ..stamp },
            loader::FileStamp { mtime: (4, 9), ..stamp },
            loader::FileStamp { ctime: (9, 7), ..stamp },
        ];
        assert!(changed.iter().all(|c| sites_of(&cache, c).is_empty()));
        assert_eq!(cache.change_image_sites(&stamp, SiteChange::Remove(0x1234)), Some(vec![0x48ee84]));
        assert_eq!(sites_of(&cache, &stamp), vec![0x48ee84]);
        for offset in 0..300 {
            cache.change_image_sites(&stamp, SiteChange::Add(offset));
        }
        let capped: Vec<u32> = [0x48ee84].into_iter().chain(0..MAX_IMAGE_SITES as u32 - 1).collect();
        assert_eq!(sites_of(&cache, &stamp), capped);
        let mut none = SiteCache { path: None };
        assert_eq!(none.change_image_sites(&stamp, SiteChange::Add(1)), None);
        assert_eq!(decode_offsets(&[1, 0, 1, 2, 3]), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_table_finds_what_was_put_in_it() {
        let (dir, path) = scratch("chain");
        let numbered = |i| numbered(0, i);
        // Ten inputs that share input()'s slot: a chain longer than is followed.
        let same_slot: Vec<Input> =
            (0..).map(numbered).filter(|i| slot(&i.key()) == slot(&input().key())).take(10).collect();
        assert_eq!(get(&path, &input()), None);
        put(&path, &input(), &Outcome::Refuse("why".into()));
        for (n, i) in same_slot.iter().enumerate() {
            put(&path, i, &Outcome::Rewrite { moved: 5, number: Some(n as u32) });
        }
        for (n, i) in same_slot.iter().enumerate() {
            let found = get(&path, i);
            let kept = n >= same_slot.len() - CHAIN;
            assert_eq!(found, kept.then_some(Outcome::Rewrite { moved: 5, number: Some(n as u32) }), "{n}");
        }
        // The oldest have dropped out of the chain: analysed again, and found.
        put(&path, &input(), &Outcome::Refuse("why".into()));
        assert_eq!(get(&path, &input()), Some(Outcome::Refuse("why".into())));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Threads writing at once (one after another within a process, which
    /// `fds::Held` serialises; between processes, O_APPEND keeps records
    /// whole, which this does not test) find what they wrote; a file that
    /// is not a table is made one again.
    #[test]
    fn many_writers_and_a_foreign_file() {
        let (dir, path) = scratch("writers");
        let numbered = |i| numbered(1, i);
        std::thread::scope(|s| {
            for t in 0..4u32 {
                let (path, numbered) = (&path, &numbered);
                s.spawn(move || {
                    for i in (t * 100)..(t * 100 + 100) {
                        put(path, &numbered(i), &Outcome::Rewrite { moved: 5, number: Some(i) });
                    }
                });
            }
        });
        let found = (0..400).filter(|&i| {
            let got = get(&path, &numbered(i));
            assert!(got.is_none() || got == Some(Outcome::Rewrite { moved: 5, number: Some(i) }), "{i}: {got:?}");
            got.is_some()
        });
        assert_eq!(found.count(), 400);
        std::fs::write(&path, b"not a table").unwrap();
        assert_eq!(get(&path, &numbered(1)), None);
        assert!(put(&path, &numbered(1), &Outcome::Refuse("again".into())));
        assert_eq!(get(&path, &numbered(1)), Some(Outcome::Refuse("again".into())));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A file others could have written, or a symbolic link, is not used.
    #[test]
    fn only_the_users_own_file_is_used() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, path) = scratch("trust");
        assert!(put(&path, &input(), &Outcome::Refuse("why".into())));
        assert!(get(&path, &input()).is_some());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o620)).unwrap();
        assert!(get(&path, &input()).is_none() && !put(&path, &input(), &Outcome::Refuse("why".into())));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(get(&link, &input()).is_none() && !put(&link, &input(), &Outcome::Refuse("why".into())));
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
