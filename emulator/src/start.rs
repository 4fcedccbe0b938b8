//! Starting a guest: from a path and its arguments to the guest's first
//! instruction, with dispatch armed. Every failure before the jump is a
//! `StartError`: one line for the user and a shell's exit status.

use crate::call::{Action, CallSlot};
use crate::dispatch;
use crate::hooks::Hook;
use crate::lifecycle::Relaunch;
use crate::memory::GuestMemory;
use crate::personalities;
use crate::personality::{InitialAuxv, Personality};
use crate::process::{self, ProcessParts};
use crate::signals;
use crate::stats::Stats;
use crate::threads::{Resume, ThreadState};
use crate::trace::Tracer;
use crate::{fds, sud, sys};
use abi_tables::{Table, MAX_NUMBER};

const _: () = assert!(MAX_NUMBER <= u16::MAX as u32, "a call's index is a u16");
use loader::{AddressSpace, ExecLimits, GuestAbi, Layout, Loaded, ProgramBreak, StackContents, PAGE_SIZE};
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

/// One line for the user, and the exit status.
#[derive(Debug)]
pub struct StartError {
    pub status: i32,
    pub message: String,
    /// The kernel would have killed the process with this signal (a program
    /// it gives up on after the point of no return): emu dies of it too.
    pub killed_by: Option<i32>,
}

impl StartError {
    pub fn new(status: i32, message: impl Into<String>) -> Self {
        StartError { status, message: message.into(), killed_by: None }
    }
}

impl From<loader::LoadError> for StartError {
    fn from(e: loader::LoadError) -> Self {
        let killed_by = e.fatal.then_some(libc::SIGSEGV);
        StartError { status: e.exit_status(), message: e.to_string(), killed_by }
    }
}

/// Where the trace goes.
pub enum TraceOutput {
    /// emu's copy of stderr.
    Stderr,
    /// A file to create.
    File(PathBuf),
    /// A descriptor inherited from the emu that exec'd this one.
    Inherited(i32),
}

pub struct TraceOptions {
    /// Names of the calls to show; empty shows all. `!name` hides one.
    pub calls: Vec<String>,
    /// One JSON object per line instead of strace's format.
    pub json: bool,
    pub output: TraceOutput,
    pub string_limit: usize,
    /// Lines carry pids from the start (a traced parent forked before exec).
    pub pids: bool,
}

pub struct StatsOptions {
    /// Counters inherited from the emu that exec'd this one, and who prints them.
    pub inherited: Option<(i32, i32)>,
}

pub struct StartOptions {
    pub program: PathBuf,
    /// The guest's argv, argv[0] included.
    pub argv: Vec<OsString>,
    /// A table to use instead of the personality's own.
    pub table: Option<Table>,
    pub trace: Option<TraceOptions>,
    pub stats: Option<StatsOptions>,
    pub hooks: Vec<Box<dyn Hook>>,
    /// `--inject` values, strace's syntax.
    pub inject: Vec<String>,
    /// An older release of the guest's kernel to show (`--linux-version`).
    pub release: Option<crate::release::Requested>,
    /// Rewrite syscall sites after their first trap (`--no-rewrite` turns it off).
    pub rewrite: bool,
    pub relaunch: Relaunch,
    /// A descriptor `program` is reached through, to close once it is loaded.
    pub program_fd: Option<i32>,
    /// The guest's RLIMIT_STACK (soft; None: unlimited), which sizes its stack.
    pub stack_limit: Option<u64>,
    /// Set RLIMIT_STACK to this before the guest starts: an exec'ing emu
    /// raised it for emu's own start (see `lifecycle::execve`).
    pub restore_stack_limit: Option<Option<u64>>,
    /// The guest's signal mask, from an exec'ing emu (which blocked more
    /// for the exec); otherwise the one emu was started with.
    pub guest_mask: Option<u64>,
}

/// Loads and starts the guest. Returns only on failure.
pub fn start(mut opts: StartOptions) -> StartError {
    match prepare(&mut opts) {
        Ok((resume, thread)) => enter(&resume, thread),
        Err(e) => e,
    }
}

/// Runs the guest's first instruction, as a new thread's (`threads::spawn`):
/// through rt_sigreturn of a frame that holds its registers, its signal
/// mask and no FPU state (the kernel then gives it the initial one, as to a
/// new program), all loaded at once. So a signal that arrived while emu
/// started, held with the mask emu's code runs with, is delivered at that
/// first instruction: entered by a jump, the guest kept it blocked until it
/// set its mask.
fn enter(resume: &Resume, thread: &'static ThreadState) -> ! {
    let (frame, uc) = resume.frame(thread.host_altstack());
    let mut leave = 0u64;
    // SAFETY: the guest's image and stack are mapped, dispatch is armed and
    // every handler is installed: from here on the guest runs, from a frame
    // built for this thread, with FS 0 as a new program has it. The first
    // thread has no way back (its `leave` is None), so this does not return.
    let code = unsafe { signals::emu_enter_thread(&mut leave, frame[uc..].as_ptr(), 0) };
    sys::exit_group(code)
}

/// Everything up to the guest's first instruction: the frame it starts
/// from, and the thread's state.
fn prepare(opts: &mut StartOptions) -> Result<(Resume, &'static ThreadState), StartError> {
    sys::detect_fsgsbase();
    let boundary = sud::choose_boundary().map_err(|m| StartError::new(126, m))?;

    // The guest's environment is emu's, with what an exec'ing emu hid from
    // its own loader given back (see `lifecycle::hide_from_loader`).
    let envp: Vec<Vec<u8>> = std::env::vars_os()
        .map(|(k, v)| {
            let mut e = k.into_vec();
            e.push(b'=');
            e.extend(v.into_vec());
            match e.strip_prefix(crate::lifecycle::HIDDEN_PREFIX.as_bytes()) {
                Some(original) => original.to_vec(),
                None => e,
            }
        })
        .collect();
    let argv: Vec<Vec<u8>> = std::mem::take(&mut opts.argv).into_iter().map(OsString::into_vec).collect();
    let execfn = opts.program.as_os_str().as_bytes().to_vec();
    let limits = ExecLimits { stack: opts.stack_limit, path_inaccessible: false };

    // Scripts, the program, its interpreter: read and checked as execve does.
    let exec = loader::prepare(&execfn, argv, &envp, limits)?;
    let program = exec.program.path.clone();
    let personality = match &opts.table {
        Some(t) => personalities::named(&t.personality)
            .ok_or_else(|| StartError::new(2, format!("{}: no personality named `{}`", t.source, t.personality)))?,
        None => personalities::for_abi(exec.program.image.abi).ok_or_else(|| {
            let abi = exec.program.image.abi;
            let brand = match abi {
                GuestAbi::Other(n) => format!(" (EI_OSABI {n})"),
                _ => String::new(),
            };
            StartError::new(
                126,
                format!("{}: cannot execute: {} binaries{brand} are not supported", program.display(), abi.name()),
            )
        })?,
    };
    let table: &'static Table = match opts.table.take() {
        Some(t) => Box::leak(Box::new(t)),
        None => personality.default_table(),
    };
    if let Some(requested) = opts.release {
        crate::release::choose(requested, personality.name(), table).map_err(|m| StartError::new(2, m))?;
    }
    let injections =
        crate::inject::Injections::parse(&opts.inject, table, personality).map_err(|m| StartError::new(2, m))?;
    let calls = build_slots(table, personality, opts.trace.as_ref())?;
    if opts.rewrite {
        match crate::rewrite::unavailable() {
            Some(why) => log::debug!("syscall sites are not rewritten: {why}"),
            None => {
                // The calls the fast entry makes itself, when nothing watches
                // or changes calls (see `Personality::pass_through`).
                let watched =
                    opts.trace.is_some() || opts.stats.is_some() || !opts.hooks.is_empty() || !opts.inject.is_empty();
                let passthrough = calls
                    .iter()
                    .filter(|_| !watched)
                    .filter_map(|slot| Some((slot.call.number as u64, personality.pass_through(slot)?)));
                crate::rewrite::enable(passthrough, |host| personality.errno_to_guest(host));
            }
        }
    }

    // The guest's memory, laid out as the kernel lays out a new process:
    // the stack at the top, then the program and its interpreter, then the break.
    let mut space = guest_arena(boundary);
    let program_base = (boundary / 3 * 2) & !0xffff_ffff;
    let mut random = [0u8; 16];
    // SAFETY: fills a buffer of ours.
    unsafe { libc::getrandom(random.as_mut_ptr().cast(), 16, 0) };
    // Sized before the image is mapped: the same entries and blobs, other values.
    let sizing: InitialAuxv = personality.initial_auxv(&Loaded::default());
    let mut contents = StackContents {
        argv: &exec.argv,
        envp: &envp,
        execfn: &execfn,
        platform: b"x86_64",
        random,
        blobs: &sizing.blobs,
        auxv: &sizing.entries,
    };
    let stack =
        loader::map_stack(&mut space, opts.stack_limit, contents.size(), exec.program.image.exec_stack, &program)?;
    let loaded = loader::map_exec(&exec, &mut space, Layout { program_base })?;
    crate::rewrite::images_loaded(&exec, &loaded);
    personality.prepare_address_space(&mut space).map_err(|m| StartError::new(126, m))?;
    let auxv = personality.initial_auxv(&loaded);
    (contents.blobs, contents.auxv) = (&auxv.blobs, &auxv.entries);
    let built = loader::build_initial_stack(&stack, &contents);
    personality.stack_built(&built);
    let sp = built.sp;
    // Named while the program is still reachable (it may be by a descriptor).
    let exe = std::fs::canonicalize(&program).unwrap_or(program.clone());
    let exe_stamp = exec.program.file.stamp;
    // A script's interpreter opens the script by that descriptor's path: it stays.
    if let (Some(fd), 0) = (opts.program_fd, exec.scripts) {
        // SAFETY: the descriptor the exec'ing emu left open for us; the guest never knew it.
        unsafe { libc::close(fd) };
    }
    let guest_argv = exec.argv.clone();
    drop(exec);

    // Output, and the process state. A trace handed down by an exec'ing emu
    // already shows the execve; a new one starts with it, as strace's does.
    let first_image = opts.trace.as_ref().is_some_and(|t| !matches!(t.output, TraceOutput::Inherited(_)));
    let tracer = match opts.trace.take() {
        Some(t) => Some(open_trace(t, table, personality)?),
        None => None,
    };
    let inherited_stats = opts.stats.as_ref().and_then(|s| s.inherited);
    let stats = match opts.stats.take() {
        Some(s) => Some(open_stats(s, table.calls.len())?),
        None => None,
    };
    let watch_deaths = tracer.is_some() || stats.is_some();
    let (floor, ceiling) = (space.floor(), space.ceiling());
    let process = process::init(ProcessParts {
        personality,
        table,
        calls,
        memory: GuestMemory { space, brk: ProgramBreak::new(loaded.brk) },
        tracer,
        stats,
        hooks: std::mem::take(&mut opts.hooks),
        injections: (!opts.inject.is_empty()).then_some(injections),
        exe,
        exe_stamp,
        relaunch: std::mem::take(&mut opts.relaunch),
        watch_deaths,
    });

    if let (Some(stats), Some(_)) = (&process.stats, inherited_stats) {
        stats.record_exec(process);
    }
    crate::procfs::guest_started(sp, built.top, &execfn);
    if let Some(t) = process.tracer.as_ref().filter(|t| t.is_json()) {
        t.json_image(&process.exe);
    }
    let execve_traced = process.calls.iter().any(|s| s.traced && s.name() == "execve");
    if let (Some(t), true, true) = (&process.tracer, first_image, execve_traced) {
        t.initial_exec(&execfn, &guest_argv, sp + 8 * (guest_argv.len() as u64 + 2), envp.len());
    }

    // This thread, its signals, and dispatch.
    let inherited_mask = opts.guest_mask.unwrap_or_else(sys::signal_mask);
    let thread = ThreadState::new_for_current_thread(inherited_mask)
        .map_err(|e| StartError::new(126, format!("cannot set up the guest thread: {e}")))?;
    crate::signals::install_emulator_handlers()
        .map_err(|e| StartError::new(126, format!("cannot install signal handlers: {e}")))?;
    process.signals.watch_deaths_from_now();
    sys::sigprocmask(libc::SIG_SETMASK, signals::host_mask(inherited_mask));
    // Once a fault in a hook's start can be reported as the hook's.
    let guest = crate::hooks::GuestInfo { personality: personality.name(), table: &table.name };
    for hook in process.hooks {
        hook.start(&guest).map_err(|m| StartError::new(2, m))?;
    }
    fds::open_reserve();
    if let Some(limit) = opts.restore_stack_limit {
        sys::set_stack_limit(limit);
    }
    sud::arm().map_err(|e| {
        StartError::new(126, format!("cannot enable Syscall User Dispatch (Linux 5.11 or later is needed): {e}"))
    })?;
    log::debug!(
        "{}: {} guest, table {}, entry {:#x}, stack {:#x}, arena {floor:#x}-{ceiling:#x}",
        process.guest_name(),
        personality.name(),
        table.name,
        loaded.start,
        sp
    );
    let registers = personality.entry_registers(sp);
    Ok((Resume::process_start(loaded.start, &registers, thread.signals.guest_blocked()), thread))
}

/// The guest arena below the boundary: from the kernel's mmap_min_addr for
/// the mappings emu places, from the lowest address the kernel lets this
/// process map for fixed ones (root may map page zero).
fn guest_arena(boundary: u64) -> AddressSpace {
    let min_addr = std::fs::read_to_string("/proc/sys/vm/mmap_min_addr")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(65536)
        .max(PAGE_SIZE)
        .next_multiple_of(PAGE_SIZE);
    // The page under the boundary stays unmapped: a `syscall` in its last two
    // bytes would be judged by the address after it, in the exempt range.
    let mut space = AddressSpace::new(min_addr, boundary - PAGE_SIZE);
    // SAFETY: asks for one page at address 0, only if nothing is there; it
    // is unmapped again at once.
    let zero = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            1,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if zero.is_null() {
        // SAFETY: the page just mapped.
        unsafe { libc::munmap(zero, 1) };
        space.allow_fixed_below(0);
    }
    space
}

/// What emu does for each call of the table; fails on a call the
/// personality cannot carry out, or a structure it cannot show.
fn build_slots(
    table: &'static Table,
    personality: &dyn Personality,
    trace: Option<&TraceOptions>,
) -> Result<Box<[CallSlot]>, StartError> {
    let file_err = |line: u32, msg: String| StartError::new(2, format!("{}:{line}: {msg}", table.source));
    // The calls --trace shows: names, classes (`%file`), `!` to leave out.
    let traced_calls = match trace {
        Some(t) => {
            let items: Vec<&str> = t.calls.iter().map(String::as_str).collect();
            Some(abi_tables::select(table, &items).map_err(|m| StartError::new(2, format!("--trace: {m}")))?)
        }
        None => None,
    };
    let mut slots = Vec::with_capacity(table.calls.len());
    for (i, call) in table.calls.iter().enumerate() {
        let mut action = dispatch::action_for(personality, call).map_err(|m| file_err(call.line, m))?;
        if crate::release::lacks(call) {
            action = Action::Absent;
        }
        for a in call.args.iter() {
            if let Some(s) = a.kind.struct_name() {
                if personality.struct_decoder(s).is_none() {
                    return Err(file_err(
                        call.line,
                        format!("the {} personality cannot show a `{s}`", personality.name()),
                    ));
                }
            }
        }
        let traced = traced_calls.as_ref().is_some_and(|t| t[i]);
        // Numbers are distinct and below MAX_NUMBER (the parser checks), so
        // the index fits.
        slots.push(CallSlot::new(call, i as u16, action, traced));
    }
    Ok(slots.into_boxed_slice())
}

fn open_trace(
    t: TraceOptions,
    table: &'static Table,
    personality: &'static dyn Personality,
) -> Result<Tracer, StartError> {
    let fd = match t.output {
        TraceOutput::Stderr => crate::log::fd(),
        TraceOutput::Inherited(fd) => {
            fds::register(fd);
            fds::set_inheritable(&[fd], false);
            fd
        }
        TraceOutput::File(path) => {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&path)
                .map_err(|e| StartError::new(2, format!("{}: {e}", path.display())))?;
            let fd = std::os::fd::IntoRawFd::into_raw_fd(file);
            let private = fds::make_private(fd).map_err(|e| StartError::new(2, format!("{}: {e}", path.display())))?;
            // SAFETY: the low duplicate is ours.
            unsafe { libc::close(fd) };
            private
        }
    };
    let everything = t.calls.iter().all(|c| c == "all" || c.starts_with('!'));
    Ok(Tracer::new(fd, t.string_limit, t.pids, everything, table, personality, t.json))
}

fn open_stats(s: StatsOptions, slots: usize) -> Result<Stats, StartError> {
    if let Some((fd, owner)) = s.inherited {
        if let Some(stats) = Stats::inherited(fd, owner, slots) {
            return Ok(stats);
        }
    }
    Stats::new(slots).map_err(|e| StartError::new(126, format!("cannot set up --stats: {e}")))
}
