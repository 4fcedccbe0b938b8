//! Lazy syscall-site rewriting: once a site has trapped 16 times (or at the
//! process's first trap, when an earlier run of the same file rewrote it
//! or saw it trap 4 times), it enters emu directly, without the SIGSYS
//! round trip.
//!
//! On a trap, `consider` decodes the site (`decode`); if the instruction
//! before the `syscall` can be moved, it writes a stub that runs it and
//! jumps to `emu_fast_entry` (`entry`), and rewrites the site (`patch`):
//! `jmp stub` over that instruction, `ud2` over the `syscall`. What cannot be
//! rewritten safely keeps the trap path, which stays correct for every site.
//!
//! The entry finds the thread's state through GS, which emu sets to each
//! guest thread's `ThreadState` (`set_thread_gs`). Linux and FreeBSD
//! userlands on x86-64 leave GS alone; a guest that sets it (arch_prctl
//! ARCH_SET_GS, FreeBSD's AMD64_SET_GSBASE) turns rewriting off, and every
//! rewritten site is put back first (`guest_sets_gs`). A guest that writes
//! GS with `wrgsbase` behind emu's back cannot be seen: run it with
//! `--no-rewrite`.
//!
//! # Locks and signal handlers
//!
//! The sites' table is a mutex, taken only by handlers that interrupted
//! guest code (a SIGSYS trap, and the SIGILL or SIGTRAP a rewritten site
//! raises), which the signal rule allows (see `signals`). A thread that
//! traps on the `int3` of a rewrite in progress waits on that mutex for
//! the writer to finish. fork holds it (`lock_for_fork`). Lock order: the
//! sites' table before the memory map (a rewrite maps stub chunks while it
//! holds the table; fork takes both, in that order).

mod cache;
mod decode;
mod entry;
mod patch;
mod vdso;

pub use entry::{fast_rewind, fast_roll_forward, in_fast_entry};

use crate::context::GuestContext;
use crate::memory::guest;
use crate::personality::PassThrough;
use crate::sys::Errno;
use crate::threads::ThreadState;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Whether new sites are rewritten (decided at start, off for good once a
/// guest sets GS).
static ENABLED: AtomicBool = AtomicBool::new(false);

/// A site is looked at on its this-many-th trap. Most sites a program runs
/// a few times (start-up, exit) are not worth the decoding, which costs
/// about a hundred traps the first time (iced-x86's tables are paged in:
/// half a megabyte) and a few dozen after. Sites of the images emu loaded
/// that an earlier run rewrote or kept (`keep_for_next_run`) do not wait
/// (`rewrite_known`).
const TRAPS_BEFORE_REWRITE: u8 = 16;
/// A site of an image emu loaded that traps this many times is kept for
/// the next run of the same file (`keep_for_next_run`), which rewrites it
/// at its first trap for less than this many traps cost (rewriting there
/// costs a few microseconds: one thread, no membarrier).
const TRAPS_BEFORE_KEEPING: u8 = 4;

/// An image emu loaded (the program, its interpreter): the file it came
/// from, its load bias, and the addresses its segments span. Its sites are
/// kept as offsets from the bias, which a position-independent image's
/// next run may place elsewhere.
struct LoadedImage {
    stamp: loader::FileStamp,
    bias: u64,
    span: std::ops::Range<u64>,
}

impl LoadedImage {
    fn new(file: &loader::Loadable, bias: u64) -> LoadedImage {
        LoadedImage { stamp: file.file.stamp, bias, span: span(&file.image.segments, bias) }
    }

    /// The address of the site at `offset`, if it is in the image.
    fn address(&self, offset: u32) -> Option<u64> {
        let at = self.bias.wrapping_add(offset as u64);
        self.span.contains(&at).then_some(at)
    }

    /// The offset of the site at `at`, if it is in the image.
    fn offset(&self, at: u64) -> Option<u32> {
        self.span.contains(&at).then(|| u32::try_from(at.wrapping_sub(self.bias)).ok())?
    }
}

/// The addresses an image's segments span once loaded with `bias`.
fn span(segments: &[loader::Segment], bias: u64) -> std::ops::Range<u64> {
    let low = segments.iter().map(|s| s.vaddr).min().unwrap_or(0);
    let high = segments.iter().map(|s| s.vaddr.saturating_add(s.memsz)).max().unwrap_or(0);
    bias.wrapping_add(low)..bias.wrapping_add(high)
}

/// A loaded image and the offsets (from its bias) of its sites that were
/// rewritten or kept, in earlier runs (read at the first trap) and in this
/// one.
struct KnownImage {
    image: LoadedImage,
    sites: Vec<u32>,
}

/// What a trap's `consider` did: to the trapping site (rewritten, left to
/// the trap path, or nothing yet), and how many sites known from earlier
/// runs it rewrote (at the first trap).
#[derive(Default)]
pub struct Decided {
    pub site: Option<bool>,
    pub known: u32,
}

enum Site {
    /// Trapped this many times, fewer than `TRAPS_BEFORE_REWRITE`.
    Trapped(u8),
    /// `jmp` at `start`, `ud2` at the `syscall`; `original` are the bytes
    /// from `start` to the end of the `syscall`, `written` what replaced them.
    Rewritten { start: u64, original: Vec<u8>, written: Vec<u8> },
    /// Left to the trap path (why is logged at debug level).
    Refused,
}

struct Sites {
    /// By the address of the site's `syscall`.
    by_syscall: HashMap<u64, Site>,
    /// The first byte of every site ever written (a thread may trap on its
    /// `int3` while it is written).
    written_at: HashMap<u64, u64>,
    stubs: patch::Stubs,
    /// The analyses of earlier runs, and this one's.
    analyses: cache::SiteCache,
    /// Whether `entry::learn_xsave` has read a kernel frame.
    xsave_learnt: bool,
    images: Vec<KnownImage>,
    /// Whether a guest thread has trapped yet (the first trap rewrites
    /// the known sites).
    trapped_once: bool,
}

static SITES: Mutex<Option<Sites>> = Mutex::new(None);

fn sites() -> MutexGuard<'static, Option<Sites>> {
    SITES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why rewriting is off, if it cannot be on here.
pub fn unavailable() -> Option<&'static str> {
    if !crate::sys::have_fsgsbase() {
        Some("the kernel does not let programs use rdfsbase/wrgsbase (FSGSBASE)")
    } else if !patch::can_sync_cores() {
        Some("the kernel has no membarrier SYNC_CORE")
    } else {
        None
    }
}

/// Turns rewriting on for this process, with `passthrough` the calls the
/// entry makes itself (see `entry`) and `errno_to_guest` the guest's errno
/// of a host one, for those whose result it translates.
pub fn enable(passthrough: impl Iterator<Item = (u64, PassThrough)>, errno_to_guest: impl Fn(Errno) -> i32) {
    let mut translates = false;
    for (number, how) in passthrough {
        translates |= !matches!(how, PassThrough::Raw { .. });
        entry::set_passthrough(number, how);
    }
    if translates {
        entry::set_errno_map(errno_to_guest);
    }
    *sites() = Some(Sites {
        by_syscall: HashMap::new(),
        written_at: HashMap::new(),
        stubs: patch::Stubs::new(),
        analyses: cache::SiteCache::from_environment(),
        xsave_learnt: false,
        images: Vec::new(),
        trapped_once: false,
    });
    ENABLED.store(true, Ordering::Release);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

/// The images emu loaded (the program, and its interpreter at AT_BASE,
/// which is 0 for an ET_EXEC one), before the guest runs: their sites
/// that earlier runs rewrote or kept are rewritten at its first trap.
pub fn images_loaded(exec: &loader::Exec, loaded: &loader::Loaded) {
    let mut images = vec![LoadedImage::new(&exec.program, loaded.bias)];
    if let Some(interpreter) = &exec.interpreter {
        images.push(LoadedImage::new(interpreter, loaded.interpreter_base));
    }
    if let Some(sites) = sites().as_mut() {
        sites.images = images.into_iter().map(|image| KnownImage { image, sites: Vec::new() }).collect();
    }
}

/// Points GS at the calling thread's state, for the entry. Every thread
/// that runs guest code calls it once its region is in place.
pub fn set_thread_gs(state: &ThreadState) {
    // Only while sites are rewritten: otherwise GS is the guest's, as natively (0).
    if enabled() {
        let base = state as *const ThreadState as u64;
        // SAFETY: wrgsbase only sets this thread's GS base (FSGSBASE is
        // enabled); neither emu nor its C library uses GS.
        unsafe { std::arch::asm!("wrgsbase {}", in(reg) base, options(nomem, nostack, preserves_flags)) };
    }
}

/// A trap at the `syscall` ending at `ctx.rip()`: rewrite its site if it
/// can be, and at the first trap, the sites known from earlier runs.
pub fn consider(ctx: &GuestContext) -> Decided {
    let mut decided = Decided::default();
    if !enabled() {
        return decided;
    }
    let at = ctx.rip() - 2;
    let mut guard = sites();
    let Some(sites) = guard.as_mut() else { return decided };
    if !sites.trapped_once {
        sites.trapped_once = true;
        decided.known = rewrite_known(sites, ctx);
    }
    match sites.by_syscall.get_mut(&at) {
        None => {
            sites.by_syscall.insert(at, Site::Trapped(1));
            return decided;
        }
        Some(Site::Trapped(n)) if *n + 1 < TRAPS_BEFORE_REWRITE => {
            *n += 1;
            if *n == TRAPS_BEFORE_KEEPING && keep_for_next_run(sites, at, ctx.rax()) {
                decided.site = Some(false);
            }
            return decided;
        }
        Some(Site::Trapped(_)) => {}
        Some(Site::Refused) => return decided,
        // Another thread that trapped here too has rewritten it meanwhile
        // (or this is the first trap, and an earlier run had rewritten it).
        Some(Site::Rewritten { start, written, .. }) if still_written(*start, written) => return decided,
        // A `syscall` trapped where a site was rewritten: the code was
        // replaced since (a library unmapped and another mapped there).
        Some(Site::Rewritten { .. }) => {}
    }
    // The first rewrite learns the layout of the frames the entry builds
    // from the kernel's frame of this trap.
    if !learn_xsave(sites, ctx) {
        drop(guard);
        stop("the kernel's signal frames have no usable XSAVE layout");
        decided.site = Some(false);
        return decided;
    }
    let outcome = rewrite(sites, at, ctx.rax());
    decided.site = Some(outcome.is_ok());
    match outcome {
        Ok(site) => {
            sites.by_syscall.insert(at, site);
            remember(sites, at);
        }
        Err(why) => {
            log::debug!("site {at:#x} stays on the trap path: {why}");
            sites.by_syscall.insert(at, Site::Refused);
            // This run's evidence outweighs the run that kept it.
            forget(sites, at);
        }
    }
    decided
}

fn learn_xsave(sites: &mut Sites, ctx: &GuestContext) -> bool {
    if !sites.xsave_learnt {
        sites.xsave_learnt = entry::learn_xsave(ctx.xsave_area());
    }
    sites.xsave_learnt
}

/// Rewrites the sites of the loaded images that earlier runs rewrote or
/// saw trap often (kept in the cache file, `cache::Reading::image_sites`),
/// as the guest's first trap finds them: returns how many. The guest has
/// one thread then, so the sites are written plainly (`patch::Alone`),
/// where one written while other threads run costs 40 us or more
/// (`patch::poke`'s membarriers, and the TLB shootdown of the page's first
/// write), after 16 traps. Each site's code must be code the cache has an
/// analysis of (code that trapped in an earlier run), and is checked
/// against what the analysis says; only the check of the trap's number
/// against a `mov eax, imm32` is left out (there is no trap: the run that
/// kept the site made that check on the same bytes of the same file, and a
/// run that later finds a trap's number against it takes the site out of
/// the file, `forget`).
fn rewrite_known(sites: &mut Sites, ctx: &GuestContext) -> u32 {
    // One open of the cache for every lookup.
    let (mut shapes, mut refused) = (Vec::new(), Vec::new());
    {
        let held = crate::fds::hold();
        let cache = sites.analyses.reading(&held);
        for image in sites.images.iter_mut() {
            image.sites = cache.image_sites(&image.image.stamp);
            for at in image.sites.iter().filter_map(|&offset| image.image.address(offset)) {
                let shape = read_site(&sites.by_syscall, at)
                    .ok_or_else(|| "its code cannot be read".to_string())
                    .and_then(|(bytes, after)| cache.known_shape(at, &bytes, &after).map(|shape| (bytes, shape)));
                match shape {
                    Ok((bytes, shape)) => shapes.push((at, bytes, shape)),
                    Err(why) => {
                        log::debug!("site {at:#x}, known from an earlier run, is not rewritten now: {why}");
                        refused.push(at);
                    }
                }
            }
        }
    }
    // Stubs first (they take the memory map's lock), then the writes. A
    // planned site is in the table at once: the next must not overlap it.
    let mut planned = Vec::new();
    if !shapes.is_empty() && learn_xsave(sites, ctx) {
        for (at, bytes, shape) in shapes {
            if sites.by_syscall.contains_key(&at) {
                continue;
            }
            match plan(sites, at, &bytes, shape) {
                Ok(Planned { start, original, written }) => {
                    planned.push((at, start, written.clone()));
                    sites.by_syscall.insert(at, Site::Rewritten { start, original, written });
                }
                Err(why) => {
                    log::debug!("site {at:#x}, known from an earlier run, is not rewritten now: {why}");
                    refused.push(at);
                }
            }
        }
    }
    // A site refused now is taken out of the file: it is tried again once
    // it has been kept again.
    for at in refused {
        forget(sites, at);
    }
    if planned.is_empty() {
        return 0;
    }
    let held = crate::fds::hold();
    let mut writer = patch::Alone::new(&held);
    let mut rewritten = 0;
    for (at, start, written) in planned {
        sites.written_at.insert(start, at);
        match writer.write(start, &written) {
            Ok(()) => rewritten += 1,
            Err(why) => {
                log::debug!("site {at:#x}, known from an earlier run, is not rewritten now: {why}");
                sites.by_syscall.remove(&at);
            }
        }
    }
    rewritten
}

/// A site seen to trap `TRAPS_BEFORE_KEEPING` times, in an image emu
/// loaded: if it can be rewritten, it is kept for the next run's first
/// trap, where rewriting it costs less than this many traps. It is
/// rewritten in this run too if it reaches `TRAPS_BEFORE_REWRITE`. The
/// analysis is made now (in the first run of the code: later ones find it
/// in the file), so without a cache file nothing is done.
///
/// Returns true if it found the site cannot be rewritten (it stays on the
/// trap path from now on, and is counted so).
fn keep_for_next_run(sites: &mut Sites, at: u64, rax: u64) -> bool {
    if !sites.analyses.keeps() || !sites.images.iter().any(|i| i.image.offset(at).is_some()) {
        return false;
    }
    match read_site(&sites.by_syscall, at).ok_or_else(|| "its code cannot be read".to_string()).and_then(
        |(bytes, after)| {
            let shape = sites.analyses.analyse(at, &bytes, &after)?;
            number_checked(shape, rax)
        },
    ) {
        Ok(_) => {
            remember(sites, at);
            false
        }
        Err(why) => {
            log::debug!("site {at:#x} stays on the trap path: {why}");
            sites.by_syscall.insert(at, Site::Refused);
            forget(sites, at);
            true
        }
    }
}

/// Adds a site to its image's, in the cache file.
fn remember(sites: &mut Sites, at: u64) {
    change_image_sites(sites, at, true);
}

/// Takes a site out of its image's, in the cache file: it was refused
/// (its trap's number did not match, say) after it had been kept.
fn forget(sites: &mut Sites, at: u64) {
    change_image_sites(sites, at, false);
}

fn change_image_sites(sites: &mut Sites, at: u64, add: bool) {
    let Some((offset, image)) = sites.images.iter_mut().find_map(|i| Some((i.image.offset(at)?, i))) else { return };
    if image.sites.contains(&offset) == add || (add && image.sites.len() >= cache::MAX_IMAGE_SITES) {
        return;
    }
    let change = if add { cache::SiteChange::Add(offset) } else { cache::SiteChange::Remove(offset) };
    match sites.analyses.change_image_sites(&image.image.stamp, change) {
        Some(now) => image.sites = now,
        None if add => image.sites.push(offset),
        None => image.sites.retain(|&s| s != offset),
    }
}

/// The number the trap saw must be the one a `mov eax, imm32` loads.
fn number_checked(shape: decode::Shape, rax: u64) -> Result<decode::Shape, String> {
    match shape.number {
        Some(n) if n as u64 != rax => Err("the instruction before it did not load the call's number".into()),
        _ => Ok(shape),
    }
}

/// Rewrites the site whose `syscall` is at `at`, which trapped with `rax`.
fn rewrite(sites: &mut Sites, at: u64, rax: u64) -> Result<Site, String> {
    let (bytes, after) = read_site(&sites.by_syscall, at).ok_or("its code cannot be read")?;
    let shape = number_checked(sites.analyses.analyse(at, &bytes, &after)?, rax)?;
    let Planned { start, original, written } = plan(sites, at, &bytes, shape)?;
    sites.written_at.insert(start, at);
    patch::poke(start, &written)?;
    Ok(Site::Rewritten { start, original, written })
}

/// A rewrite, its stub made: `written` goes over `original` at `start`.
struct Planned {
    start: u64,
    original: Vec<u8>,
    written: Vec<u8>,
}

/// Makes the stub of the site whose `syscall` is at `at` (`bytes`, the code
/// before it, ends with the `syscall`), rewritten as `shape` says.
fn plan(sites: &mut Sites, at: u64, bytes: &[u8], shape: decode::Shape) -> Result<Planned, String> {
    // A site's code must still be a `syscall` (a trap's is; a known one may
    // not be: a program that unpacks itself may have other bytes there).
    if !bytes.ends_with(&[0x0f, 0x05]) {
        return Err("no `syscall` there".into());
    }
    let end = at + 2;
    let original = bytes[bytes.len() - (end - shape.start) as usize..].to_vec();
    // Another site's rewritten bytes must not be in the way.
    if sites.by_syscall.iter().any(|(&s, site)| match site {
        Site::Rewritten { start, .. } => *start < end && shape.start < s + 2,
        Site::Refused | Site::Trapped(_) => false,
    }) {
        return Err("it overlaps a rewritten site".into());
    }
    let stub = sites.stubs.make(&shape.moved, end, entry::emu_fast_entry as *const () as u64)?;
    let mut written = vec![0xe9];
    let rel = stub as i64 - (shape.start as i64 + 5);
    written.extend_from_slice(&(i32::try_from(rel).map_err(|_| "its stub is out of reach")?).to_le_bytes());
    written.resize(original.len() - 2, 0xcc);
    written.extend_from_slice(&[0x0f, 0x0b]); // ud2 where the syscall was
    Ok(Planned { start: shape.start, original, written })
}

/// Whether the bytes emu wrote at `start` are all still there.
fn still_written(start: u64, written: &[u8]) -> bool {
    let mut now = vec![0u8; written.len()];
    guest::read(start, &mut now).is_ok() && now == written
}

/// The site's code: up to `LOOK_BEHIND` bytes before the `syscall`, as
/// far back as its page and the one before are readable, the `syscall`, and
/// up to `LOOK_AHEAD` bytes after it, as far as they are readable; with the
/// original bytes where emu rewrote another site. The analysis is of the
/// program's own code, and is the same whatever was rewritten around it
/// (its input is the key of its record in the cache: the first trap of the
/// next run looks it up in code where nothing is rewritten yet).
fn read_site(by_syscall: &HashMap<u64, Site>, at: u64) -> Option<(Vec<u8>, Vec<u8>)> {
    let page = |a: u64| a & !(loader::PAGE_SIZE - 1);
    let from = at.saturating_sub(decode::LOOK_BEHIND as u64);
    let before = [from, from.max(page(at))].into_iter().find_map(|start| {
        let mut buf = vec![0u8; (at + 2 - start) as usize];
        guest::read(start, &mut buf).is_ok().then(|| unpatched(by_syscall, start, buf, still_written))
    })?;
    let end = at + 2 + decode::LOOK_AHEAD as u64;
    let after = [end, end.min(page(at + 2) + loader::PAGE_SIZE)].into_iter().find_map(|end| {
        let mut buf = vec![0u8; (end - at - 2) as usize];
        guest::read(at + 2, &mut buf).is_ok().then(|| unpatched(by_syscall, at + 2, buf, still_written))
    })?;
    Some((before, after))
}

/// `code`, read at `base`, with the original bytes of every rewritten
/// site in it whose written bytes are there (a site only partly in it, if
/// `whole_there` finds all of its written bytes in memory).
fn unpatched(
    by_syscall: &HashMap<u64, Site>,
    base: u64,
    mut code: Vec<u8>,
    whole_there: impl Fn(u64, &[u8]) -> bool,
) -> Vec<u8> {
    let end = base + code.len() as u64;
    for site in by_syscall.values() {
        let Site::Rewritten { start, original, written } = site else { continue };
        let (from, to) = ((*start).max(base), (*start + written.len() as u64).min(end));
        if from >= to {
            continue;
        }
        let there = &mut code[(from - base) as usize..(to - base) as usize];
        let ours = (from - start) as usize..(to - start) as usize;
        // A site cut by the window's edge must be emu's whole (a byte or
        // two that match could be anything's).
        let whole = ours.len() == written.len();
        if there == &written[ours.clone()] && (whole || whole_there(*start, written)) {
            there.copy_from_slice(&original[ours]);
        }
    }
    code
}

/// A SIGILL or SIGTRAP in guest code: if a rewritten site raised it, deal
/// with it and return true. The `ud2` where a `syscall` was is carried out
/// as that call; the `int3` of a rewrite in progress sends the thread back
/// to the site's first byte once the rewrite is done.
pub fn on_fault(thread: &'static ThreadState, sig: i32, ctx: &mut GuestContext) -> bool {
    let rip = ctx.rip();
    let guard = sites();
    let Some(sites) = guard.as_ref() else { return false };
    if sig == libc::SIGILL {
        // Ours only if every byte emu wrote is still there: code mapped
        // where a rewritten site was (a JIT's, say) may have a ud2 of its own.
        let ours = match sites.by_syscall.get(&rip) {
            Some(Site::Rewritten { start, written, .. }) => still_written(*start, written),
            _ => false,
        };
        drop(guard);
        if ours {
            // As if the `syscall` had trapped: RIP after it, and the
            // guest's mask, with which a SIGSYS handler runs (a fault's
            // blocks every signal: a blocking call would not be interrupted).
            ctx.set_rip(rip + 2);
            crate::sys::sigprocmask(libc::SIG_SETMASK, ctx.sigmask());
            crate::dispatch::on_call(thread, ctx, false);
        }
        return ours;
    }
    if sig == libc::SIGTRAP && sites.written_at.contains_key(&(rip - 1)) {
        // The writer is done (it held the lock we hold now): what is there
        // now is either the rewrite or the original, not our int3. An int3
        // that is still there is the guest's own.
        if guest::read_val::<u8>(rip - 1) != Ok(0xcc) {
            ctx.set_rip(rip - 1);
            return true;
        }
    }
    false
}

/// The guest sets its GS base: rewriting stops, and every rewritten site is
/// put back as it was (the fast entry needs GS).
pub fn guest_sets_gs() {
    stop("the guest sets GS");
}

/// The guest asks for register state beyond what the kernel's signal
/// frames hold now (ARCH_REQ_XCOMP_PERM: AMX): the entry's frames, laid out
/// for the state it had (`entry::learn_xsave`), would no longer be the
/// kernel's, so every site goes back to the trap path.
pub fn guest_asks_for_more_xstate() {
    stop("the guest asks for more XSAVE state (ARCH_REQ_XCOMP_PERM)");
}

/// Puts every rewritten site back and rewrites no more.
fn stop(why: &str) {
    if !ENABLED.swap(false, Ordering::AcqRel) {
        return;
    }
    log::info!("{why}: syscall sites are no longer rewritten");
    let mut guard = sites();
    let Some(sites) = guard.as_mut() else { return };
    for site in sites.by_syscall.values_mut() {
        if let Site::Rewritten { start, original, written } = site {
            // Unless the code there is not the one emu rewrote any more.
            if still_written(*start, written) {
                if let Err(why) = patch::poke(*start, original) {
                    log::warn!("could not put back the rewritten syscall site at {start:#x}: {why}");
                }
            }
            *site = Site::Refused;
        }
    }
}

/// Holds the sites' table across a fork (the child's copy must not be
/// locked by a thread it does not have).
pub fn lock_for_fork() -> impl std::any::Any {
    sites()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The code around a site is read with the original bytes where emu
    /// rewrote another site (whole, or the part that lies in the window),
    /// but not where other bytes have replaced a rewrite since.
    #[test]
    fn neighbours_are_read_as_they_were() {
        let rewritten = |start, original: &[u8], written: &[u8]| Site::Rewritten {
            start,
            original: original.to_vec(),
            written: written.to_vec(),
        };
        let mut by_syscall = HashMap::new();
        by_syscall.insert(0x1005, rewritten(0x1000, &[1, 2, 3, 4, 5, 6, 7], &[0xe9, 9, 9, 9, 9, 0x0f, 0x0b]));
        by_syscall.insert(0x2005, rewritten(0x2000, &[1, 2, 3, 4, 5, 6, 7], &[0xe9, 8, 8, 8, 8, 0x0f, 0x0b]));
        by_syscall.insert(0x3000, Site::Refused);
        // Memory where every rewrite is still whole, and where none is.
        let (whole, changed) = (|_: u64, _: &[u8]| true, |_: u64, _: &[u8]| false);
        // All of the first, the tail of the second (its head is before the
        // window: checked whole in memory).
        let code = vec![0xe9, 9, 9, 9, 9, 0x0f, 0x0b, 0x90];
        assert_eq!(unpatched(&by_syscall, 0x1000, code.clone(), changed), [1, 2, 3, 4, 5, 6, 7, 0x90]);
        let tail = vec![8, 8, 0x0f, 0x0b, 0xc3];
        assert_eq!(unpatched(&by_syscall, 0x2003, tail.clone(), whole), [4, 5, 6, 7, 0xc3]);
        assert_eq!(unpatched(&by_syscall, 0x2003, tail.clone(), changed), tail);
        // Bytes in the window that are not emu's any more stay as they are.
        let replaced = vec![0xe9, 9, 9, 0x90, 9, 0x0f, 0x0b];
        assert_eq!(unpatched(&by_syscall, 0x1000, replaced.clone(), whole), replaced);
    }

    /// A site's offset is from the image's bias, and maps back to its
    /// address wherever the image is loaded; nothing outside the image has one.
    #[test]
    fn sites_are_kept_relative_to_their_image() {
        let segment = |vaddr, memsz| loader::Segment { vaddr, memsz, offset: 0, filesz: memsz, flags: 5, align: 4096 };
        let segments = [segment(0x1000, 0x3000), segment(0x0, 0x800), segment(0x5000, 0x100)];
        let stamp = loader::FileStamp { dev: 1, ino: 2, size: 3, mtime: (4, 5), ctime: (6, 7) };
        for bias in [0, 0x5555_5555_4000, 0x7fff_0000_0000] {
            let image = LoadedImage { stamp, bias, span: span(&segments, bias) };
            assert_eq!(image.span, bias..bias + 0x5100);
            assert_eq!(image.offset(bias + 0x1234), Some(0x1234));
            assert_eq!(image.address(0x1234), Some(bias + 0x1234));
            assert_eq!((image.offset(bias + 0x5100), image.address(0x5100)), (None, None));
            assert_eq!(image.offset(bias.wrapping_sub(1)), None);
        }
        // An image over 4 GiB: sites beyond a u32 offset are not kept.
        let huge = LoadedImage { stamp, bias: 0x1000, span: 0x1000..0x2_0000_1000 };
        assert_eq!(huge.offset(0x1_0000_1000), None);
    }
}
