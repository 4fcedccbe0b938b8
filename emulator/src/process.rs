//! What the emulator knows about the guest process as a whole, shared by
//! its threads and set up once before the guest's first instruction.

use crate::dispatch::CallSlot;
use crate::hooks::Hook;
use crate::memory::GuestMemory;
use crate::personality::Personality;
use crate::signals::GuestActions;
use crate::stats::Stats;
use crate::trace::Tracer;
use abi_tables::Table;
use loader::FileStamp;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

pub struct Process {
    pub personality: &'static dyn Personality,
    pub table: &'static Table,
    /// One per call of the table, in the table's order.
    pub calls: Box<[CallSlot]>,
    memory: Mutex<GuestMemory>,
    pub signals: GuestActions,
    pub tracer: Option<Tracer>,
    pub stats: Option<Stats>,
    pub hooks: Vec<Box<dyn Hook>>,
    /// The guest executable, as `/proc/self/exe` should name it.
    pub exe: PathBuf,
    /// The executable's file as it was loaded, to tell a guest that crashes
    /// because its file was rewritten under it (the kernel forbids that
    /// with ETXTBSY; emu cannot).
    pub exe_stamp: FileStamp,
    /// How the guest was started, to start the next image the same way (execve).
    pub relaunch: crate::lifecycle::Relaunch,
    /// Numbers nobody's table knows, already reported (bit per number < 64 * 64).
    unknown_reported: [AtomicU64; 64],
}

static PROCESS: OnceLock<Process> = OnceLock::new();

/// Lowest and highest guest addresses: the arena. Kept apart from `PROCESS`
/// so that checks need no lock.
static ARENA_FLOOR: AtomicU64 = AtomicU64::new(0);
static ARENA_CEILING: AtomicU64 = AtomicU64::new(0);
static SELF_PID: AtomicI32 = AtomicI32::new(0);

pub struct ProcessParts {
    pub personality: &'static dyn Personality,
    pub table: &'static Table,
    pub calls: Box<[CallSlot]>,
    pub memory: GuestMemory,
    pub tracer: Option<Tracer>,
    pub stats: Option<Stats>,
    pub hooks: Vec<Box<dyn Hook>>,
    pub exe: PathBuf,
    pub exe_stamp: FileStamp,
    pub relaunch: crate::lifecycle::Relaunch,
    /// Catch signals that would kill the guest, to trace and count its death.
    pub watch_deaths: bool,
}

/// Publishes the process state; called once, before any handler can run.
pub fn init(parts: ProcessParts) -> &'static Process {
    ARENA_FLOOR.store(parts.memory.space.floor(), Ordering::Relaxed);
    ARENA_CEILING.store(parts.memory.space.ceiling(), Ordering::Relaxed);
    refresh_pid();
    let p = Process {
        personality: parts.personality,
        table: parts.table,
        calls: parts.calls,
        memory: Mutex::new(parts.memory),
        signals: GuestActions::inherited(parts.watch_deaths),
        tracer: parts.tracer,
        stats: parts.stats,
        hooks: parts.hooks,
        exe: parts.exe,
        exe_stamp: parts.exe_stamp,
        relaunch: parts.relaunch,
        unknown_reported: std::array::from_fn(|_| AtomicU64::new(0)),
    };
    if PROCESS.set(p).is_err() {
        panic!("the process state is set up twice");
    }
    process()
}

/// The process state. Only valid once the guest is being set up.
pub fn process() -> &'static Process {
    PROCESS.get().expect("emulator state used before it was set up")
}

pub fn try_process() -> Option<&'static Process> {
    PROCESS.get()
}

/// Whether `[addr, addr + len)` is guest arena memory.
pub fn in_guest_arena(addr: u64, len: u64) -> bool {
    let (floor, ceiling) = (ARENA_FLOOR.load(Ordering::Relaxed), ARENA_CEILING.load(Ordering::Relaxed));
    addr >= floor && addr.checked_add(len).is_some_and(|end| end <= ceiling)
}

/// The start of the guest arena.
pub fn arena_floor() -> u64 {
    ARENA_FLOOR.load(Ordering::Relaxed)
}

/// The end of the guest arena; the page there (under the boundary) is
/// never mapped.
pub fn arena_ceiling() -> u64 {
    ARENA_CEILING.load(Ordering::Relaxed)
}

/// This process's pid (changes in a fork child: see `refresh_pid`).
pub fn self_pid() -> i32 {
    SELF_PID.load(Ordering::Relaxed)
}

pub fn refresh_pid() {
    SELF_PID.store(crate::sys::getpid(), Ordering::Relaxed);
}

impl Process {
    pub fn memory(&self) -> MutexGuard<'_, GuestMemory> {
        self.memory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How messages name the guest.
    pub fn guest_name(&self) -> String {
        self.exe.display().to_string()
    }

    /// Whether the guest's executable file was changed in place since it
    /// was loaded (same file, other size or times).
    pub fn exe_changed(&self) -> bool {
        match std::fs::metadata(&self.exe) {
            Ok(meta) => {
                let now = FileStamp::of(&meta);
                (now.dev, now.ino) == (self.exe_stamp.dev, self.exe_stamp.ino) && now != self.exe_stamp
            }
            Err(_) => false,
        }
    }

    /// The slot of a guest call number.
    #[inline]
    pub fn slot(&self, number: u64) -> Option<&CallSlot> {
        let i = *self.table.index.get(usize::try_from(number).ok()?)?;
        self.calls.get(i as usize)
    }

    /// True the first time an unknown number is seen.
    pub fn first_unknown(&self, number: u64) -> bool {
        match self.unknown_reported.get((number / 64) as usize) {
            Some(word) => word.fetch_or(1 << (number % 64), Ordering::Relaxed) & (1 << (number % 64)) == 0,
            None => false,
        }
    }
}
