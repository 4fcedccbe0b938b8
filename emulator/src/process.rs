//! What the emulator knows about the guest process as a whole, shared by
//! its threads and set up once before the guest's first instruction.

use crate::call::CallSlot;
use crate::hooks::Hook;
use crate::memory::GuestMemory;
use crate::personality::Personality;
use crate::signals::GuestActions;
use crate::stats::Stats;
use crate::threads::ThreadGroup;
use crate::trace::Tracer;
use abi_tables::Table;
use loader::FileStamp;
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The process: what its threads share. A `CLONE_VM` child that is not a
/// thread (vfork, posix_spawn) has a `Process` of its own that shares the
/// memory map with its parent's (the same address space) and, unless it
/// shares them too (CLONE_SIGHAND), not the signal dispositions
/// (see `for_vfork_child`).
pub struct Process {
    pub personality: &'static dyn Personality,
    pub table: &'static Table,
    /// One per call of the table, in the table's order.
    pub calls: &'static [CallSlot],
    memory: &'static Mutex<GuestMemory>,
    pub signals: &'static GuestActions,
    pub tracer: Option<Tracer>,
    pub stats: Option<Stats>,
    pub hooks: &'static [Box<dyn Hook>],
    /// `--inject` rules, when there are any.
    pub injections: Option<&'static crate::inject::Injections>,
    /// The guest executable, as `/proc/self/exe` should name it.
    pub exe: PathBuf,
    /// The executable's file as it was loaded, to tell a guest that crashes
    /// because its file was rewritten under it (the kernel forbids that
    /// with ETXTBSY; emu cannot).
    pub exe_stamp: FileStamp,
    /// How the guest was started, to start the next image the same way (execve).
    pub relaunch: crate::lifecycle::Relaunch,
    /// Numbers nobody's table knows, already reported (bit per number < 64 * 64).
    unknown_reported: &'static [AtomicU64; 64],
    /// The guest's threads, and who reports the end of the process.
    pub group: ThreadGroup,
}

static PROCESS: OnceLock<Process> = OnceLock::new();

thread_local! {
    /// The process of a vfork child, while it runs on the (suspended)
    /// parent thread's emu TLS; `None` everywhere else.
    static VFORK_CHILD: Cell<Option<&'static Process>> = const { Cell::new(None) };
}

/// What `init` makes the process from.
pub struct ProcessParts {
    pub personality: &'static dyn Personality,
    pub table: &'static Table,
    pub calls: Box<[CallSlot]>,
    pub memory: GuestMemory,
    pub tracer: Option<Tracer>,
    pub stats: Option<Stats>,
    pub hooks: Vec<Box<dyn Hook>>,
    pub injections: Option<crate::inject::Injections>,
    pub exe: PathBuf,
    pub exe_stamp: FileStamp,
    pub relaunch: crate::lifecycle::Relaunch,
    /// Catch signals that would kill the guest, to trace and count its death.
    pub watch_deaths: bool,
}

/// Publishes the process state; called once, before any handler can run.
/// What a vfork child shares with it lives for the whole process.
pub fn init(parts: ProcessParts) -> &'static Process {
    crate::memory::arena::set(parts.memory.space.floor(), parts.memory.space.ceiling());
    crate::fds::on_move(|old, new| {
        crate::signals::observe::fd_moved(old, new);
        if let Some(p) = try_process() {
            if let Some(t) = &p.tracer {
                t.fd_moved(old, new);
            }
            if let Some(s) = &p.stats {
                s.fd_moved(old, new);
            }
        }
    });
    let p = Process {
        personality: parts.personality,
        table: parts.table,
        calls: Box::leak(parts.calls),
        memory: Box::leak(Box::new(Mutex::new(parts.memory))),
        signals: Box::leak(Box::new(GuestActions::inherited(parts.watch_deaths, parts.personality.default_ignored()))),
        tracer: parts.tracer,
        stats: parts.stats,
        hooks: Box::leak(parts.hooks.into_boxed_slice()),
        injections: parts.injections.map(|i| &*Box::leak(Box::new(i))),
        exe: parts.exe,
        exe_stamp: parts.exe_stamp,
        relaunch: parts.relaunch,
        unknown_reported: Box::leak(Box::new(std::array::from_fn(|_| AtomicU64::new(0)))),
        group: ThreadGroup::new(),
    };
    if PROCESS.set(p).is_err() {
        panic!("the process state is set up twice");
    }
    process()
}

/// The process state of the calling thread. Only valid once the guest is
/// being set up.
pub fn process() -> &'static Process {
    if let Some(child) = VFORK_CHILD.with(Cell::get) {
        return child;
    }
    match PROCESS.get() {
        Some(p) => p,
        None => not_set_up(),
    }
}

/// A bug: emu's state used before start-up made it. Reported without the
/// panic machinery, which allocates (this may run in a signal handler).
#[cold]
fn not_set_up() -> ! {
    log::error!("internal error: emulator state used before it was set up; please report it");
    // SAFETY: ends the process at once.
    unsafe { libc::abort() }
}

pub fn try_process() -> Option<&'static Process> {
    VFORK_CHILD.with(Cell::get).or_else(|| PROCESS.get())
}

/// Makes `child` (or, with `None`, the parent again) the process of the
/// calling host thread: a vfork child runs on its suspended parent's emu
/// TLS, so this is where its process is told apart.
pub fn enter_vfork_child(child: Option<&'static Process>) {
    VFORK_CHILD.with(|c| c.set(child));
}

/// Whether the calling thread is a vfork child, running in its suspended
/// parent's memory.
pub fn in_vfork_child() -> bool {
    VFORK_CHILD.with(Cell::get).is_some()
}

/// The calling thread's process id (a fork's or vfork's child has its own).
pub fn self_pid() -> i32 {
    crate::sys::getpid()
}

impl Process {
    /// The process of a `CLONE_VM` child that is not a thread: the same
    /// memory map, table, hooks and report flags; its own signal
    /// dispositions unless it shares them (CLONE_SIGHAND); its own trace
    /// and statistics handles and thread group. The parent frees it (and
    /// its dispositions) once the child has exec'd or exited.
    pub fn for_vfork_child(&self, share_sighand: bool) -> Process {
        Process {
            personality: self.personality,
            table: self.table,
            calls: self.calls,
            memory: self.memory,
            signals: if share_sighand { self.signals } else { Box::leak(Box::new(self.signals.copy())) },
            tracer: self.tracer.as_ref().map(Tracer::copy),
            stats: self.stats.as_ref().map(Stats::copy),
            hooks: self.hooks,
            injections: self.injections,
            exe: self.exe.clone(),
            exe_stamp: self.exe_stamp,
            relaunch: self.relaunch.clone(),
            unknown_reported: self.unknown_reported,
            group: ThreadGroup::new(),
        }
    }

    /// Frees what `for_vfork_child` made for a child that is gone.
    ///
    /// # Safety
    /// `child` came from `for_vfork_child` of `self` (boxed and leaked), and
    /// nothing uses it any more.
    pub unsafe fn free_vfork_child(&self, child: &'static Process) {
        let child = Box::from_raw(child as *const Process as *mut Process);
        if !std::ptr::eq(child.signals, self.signals) {
            drop(Box::from_raw(child.signals as *const GuestActions as *mut GuestActions));
        }
    }

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
