//! Older-kernel views: the guest may be shown an older release of its
//! kernel (`--linux-version 4.19`, `--freebsd-version 13.0`) than the one
//! its table describes. Every call the table says came later is then absent,
//! as on that kernel, so a program's fallbacks can be tried: glibc's from
//! `clone3` to `clone`, from `statx` to `fstatat`, `closefrom` from
//! `close_range` to reading /proc/self/fd. The release the guest reads
//! (uname, kern.osreldate, AT_OSRELDATE) is that release too.
//!
//! What an older kernel did differently inside a call that it had (a flag
//! it refused, a field it did not fill) is not modelled: only which calls
//! exist.

use abi_tables::{Release, Syscall, Table};
use std::sync::OnceLock;

/// The view, set once before the guest starts (and before any handler can
/// run); the signal path only reads it, which is one atomic load.
static VIEW: OnceLock<Release> = OnceLock::new();

/// An older release asked for on the command line, and for which kernel.
#[derive(Clone, Copy, Debug)]
pub struct Requested {
    /// The personality it applies to (`linux`, `freebsd`).
    pub personality: &'static str,
    pub release: Release,
}

impl Requested {
    /// The option that asks for it, for messages.
    pub fn option(&self) -> String {
        format!("--{}-version", self.personality)
    }
}

/// Makes `requested` the guest's view, after checking that it applies to
/// this guest and that the table can tell which calls that release had.
pub fn choose(requested: Requested, personality: &str, table: &Table) -> Result<(), String> {
    let option = requested.option();
    if requested.personality != personality {
        return Err(format!(
            "{option}: the program is run by the {personality} personality (use --{personality}-version)"
        ));
    }
    let Some(oldest) = oldest(table) else {
        return Err(format!("{option}: the table {} records no releases (no `since` statements)", table.source));
    };
    if requested.release < oldest {
        return Err(format!("{option} {}: the table {} records calls from {oldest} on", requested.release, table.name));
    }
    let _ = VIEW.set(requested.release);
    Ok(())
}

/// The oldest release a table records.
pub fn oldest(table: &Table) -> Option<Release> {
    table.calls.iter().filter_map(|c| c.since).min()
}

/// The older release the guest is shown, if one was asked for.
pub fn view() -> Option<Release> {
    VIEW.get().copied()
}

/// Whether the release the guest is shown predates `call`: it is absent.
pub fn lacks(call: &Syscall) -> bool {
    matches!((view(), call.since), (Some(view), Some(since)) if since > view)
}

/// What `uname` reports as the release under a view (`4.19.0`), written
/// into `field` (without allocating: a handler writes it) and NUL-ended;
/// returns its length.
pub fn linux_release_text(r: Release, field: &mut [u8; 65]) -> usize {
    use std::io::Write;
    let mut rest = &mut field[..64];
    let _ = write!(rest, "{}.{}.{}", r.major, r.minor, r.patch);
    let len = 64 - rest.len();
    field[len] = 0;
    len
}

/// The FreeBSD release under a view, as uname and kern.osrelease say it:
/// `13.0-RELEASE`.
pub fn freebsd_release_text(r: Release) -> String {
    format!("{}.{}-RELEASE", r.major, r.minor)
}

/// `__FreeBSD_version` of a FreeBSD release (kern.osreldate, AT_OSRELDATE):
/// the value of its release tag where known (sys/sys/param.h), else the
/// first of its branch, MAJOR * 100000 + MINOR * 1000.
pub fn freebsd_osreldate(r: Release) -> u32 {
    RELEASE_DATES
        .iter()
        .find(|(major, minor, _)| (*major, *minor) == (r.major, r.minor))
        .map_or(r.major as u32 * 100_000 + r.minor as u32 * 1000, |d| d.2)
}

/// (major, minor, __FreeBSD_version at the release tag), from the Porter's
/// Handbook and the release trees' sys/sys/param.h; 12.3, 13.2, 13.4, 13.5
/// and 14.1 to 14.3 follow the handbook's pattern rather than a tree read.
const RELEASE_DATES: &[(u16, u16, u32)] = &[
    (10, 0, 1000510),
    (10, 1, 1001000),
    (10, 2, 1002000),
    (10, 3, 1003000),
    (10, 4, 1004000),
    (11, 0, 1100122),
    (11, 1, 1101001),
    (11, 2, 1102000),
    (11, 3, 1103000),
    (11, 4, 1104001),
    (12, 0, 1200086),
    (12, 1, 1201000),
    (12, 2, 1202000),
    (12, 3, 1203000),
    (12, 4, 1204000),
    (13, 0, 1300139),
    (13, 1, 1301000),
    (13, 2, 1302001),
    (13, 3, 1303001),
    (13, 4, 1304000),
    (13, 5, 1305000),
    (14, 0, 1400097),
    (14, 1, 1401000),
    (14, 2, 1402000),
    (14, 3, 1403000),
    (15, 0, 1500068),
];
