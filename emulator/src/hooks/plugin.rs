//! Hooks loaded at run time (`emu --hook ./libhook.so[,ARGUMENT]`): shared
//! objects speaking the C ABI of the `emu-hook` crate, each made a [`Hook`]
//! like any other, so that they chain with Rust hooks and with each other.
//!
//! A plugin's code runs where a Rust hook's does (see the parent module): in
//! the SIGSYS handler after the switch to emu's TLS, so it may call its C
//! library. That library is a second copy, loaded with the plugin by the
//! static C library's `dlopen` (emu is a static executable), which keeps
//! its own heap (mmap only) and stdio; `plugin_tls` makes the plugin's own
//! thread-locals work. What a plugin may and may not do is in the header
//! (`emu abi hook-header`).
//!
//! A plugin that faults is named in the report (`hook_fault_report`): each
//! thread notes which plugin it is running in a thread-local of emu's (a
//! `Cell`, no allocation), which the fault handler reads.

use super::{Ending, GuestCall, GuestInfo, Hook};
use crate::memory::guest;
use crate::outcome::{Outcome, Retval};
use crate::process::process;
use crate::sys::Errno;
use emu_hook::{EmuCall, EmuHook, EmuHost, EmuOutcome};
use std::cell::Cell;
use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::OnceLock;

/// A loaded plugin.
pub struct Plugin {
    /// The path as given, for messages.
    path: String,
    /// The hook's own name (`emu_hook.name`).
    name: String,
    /// The text after the first comma of --hook, for init.
    argument: CString,
    entry: &'static EmuHook,
    syscall: unsafe extern "C" fn(*mut c_void, *mut EmuCall) -> EmuOutcome,
    /// What init made; null until `start`.
    state: AtomicPtr<c_void>,
    /// emu's services as this plugin sees them; set by `start`.
    host: OnceLock<&'static EmuHost>,
    /// It faulted: its exit is not called.
    crashed: AtomicBool,
}

// SAFETY: the plugin's state is the plugin's to make thread-safe (the ABI
// says hooks run on several threads at once); the rest is immutable or atomic.
unsafe impl Send for Plugin {}
// SAFETY: as above.
unsafe impl Sync for Plugin {}

thread_local! {
    /// The plugin this thread is running, and in what (`init`, `exit`, a
    /// call's name); null: none, or emu code that a plugin's `forward` called.
    static RUNNING: Cell<(*const Plugin, &'static str)> = const { Cell::new((std::ptr::null(), "")) };
}

/// Loads `spec` (`PATH[,ARGUMENT]`): dlopen, and the checks that need no
/// call into it. The error is one line for the user.
pub fn load(spec: &str) -> Result<Plugin, String> {
    let (path, argument) = spec.split_once(',').unwrap_or((spec, ""));
    if path.is_empty() {
        return Err(format!("--hook {spec}: no shared object named (--hook LIB.so[,ARGUMENT])"));
    }
    let c_path = CString::new(path).map_err(|_| format!("--hook {path}: the path contains a NUL byte"))?;
    super::plugin_tls::prepare()?;
    let argument = CString::new(argument).map_err(|_| format!("--hook {path}: the argument contains a NUL byte"))?;
    // dlopen runs the object's constructors, before emu's own handlers
    // exist: a fault there is reported by `loading_fault`.
    let handle = {
        let _watch = LoadWatch::start(&c_path);
        // SAFETY: loads the plugin; emu has not armed dispatch yet.
        unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) }
    };
    if handle.is_null() {
        return Err(format!("cannot load hook {path}: {}", dlerror()));
    }
    super::plugin_tls::register_loaded().map_err(|e| format!("cannot load hook {path}: {e}"))?;
    // SAFETY: looks a symbol up in the object just loaded.
    let symbol = unsafe { libc::dlsym(handle, c"emu_hook".as_ptr()) };
    if symbol.is_null() {
        return Err(format!(
            "{path} is not an emu hook: it exports no `{}` (see `emu abi hook-header`)",
            emu_hook::ENTRY_SYMBOL
        ));
    }
    // A data object big enough for the version and the size, aligned as the
    // structure is: only then is anything read from it.
    let object_size = data_object_size(symbol).ok_or_else(|| {
        format!("{path} is not an emu hook: its `emu_hook` is not a data object (see `emu abi hook-header`)")
    })?;
    if object_size < 8 || symbol as usize % std::mem::align_of::<EmuHook>() != 0 {
        return Err(format!("{path} is not an emu hook: its `emu_hook` is {object_size} bytes, or misaligned"));
    }
    // The version first, alone: the rest of the structure is only known to
    // be an `EmuHook` once the version says so.
    // SAFETY: every version of the ABI starts the structure with it, and
    // the object has at least 8 bytes.
    let version = unsafe { std::ptr::read(symbol as *const u32) };
    if version != emu_hook::EMU_HOOK_ABI_VERSION {
        return Err(format!(
            "{path} was built for version {version} of emu's hook ABI; this emu speaks version {} (rebuild the hook against `emu abi hook-header`)",
            emu_hook::EMU_HOOK_ABI_VERSION
        ));
    }
    // SAFETY: as above; the size field follows the version.
    let size = unsafe { std::ptr::read((symbol as *const u32).add(1)) } as usize;
    if size < std::mem::size_of::<EmuHook>() || object_size < std::mem::size_of::<EmuHook>() {
        return Err(format!(
            "{path}: its emu_hook says it is {size} bytes and is {object_size}, not {}: built against a damaged header?",
            std::mem::size_of::<EmuHook>()
        ));
    }
    // SAFETY: a whole, aligned version-1 `emu_hook`; the plugin keeps it
    // for the process's life (it is never dlclose'd).
    let entry: &'static EmuHook = unsafe { &*(symbol as *const EmuHook) };
    let Some(syscall) = entry.syscall else {
        return Err(format!("{path}: its emu_hook has no syscall function"));
    };
    let name = if entry.name.is_null() {
        path.to_string()
    } else {
        // SAFETY: the plugin's NUL-terminated name.
        unsafe { CStr::from_ptr(entry.name) }.to_string_lossy().into_owned()
    };
    Ok(Plugin {
        path: path.to_string(),
        name,
        argument,
        entry,
        syscall,
        state: AtomicPtr::new(std::ptr::null_mut()),
        host: OnceLock::new(),
        crashed: AtomicBool::new(false),
    })
}

/// The plugin being loaded, for `loading_fault` (null: none).
static LOADING: AtomicPtr<c_char> = AtomicPtr::new(std::ptr::null_mut());

/// The signals a plugin's constructor may die of, reported while it loads.
const LOAD_FAULTS: [i32; 5] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGABRT];

/// Reports a plugin that dies in its constructors, while dlopen runs them
/// (emu's own handlers, which name a faulting plugin, come later).
struct LoadWatch {
    previous: [libc::sigaction; LOAD_FAULTS.len()],
}

impl LoadWatch {
    fn start(path: &CStr) -> LoadWatch {
        LOADING.store(path.as_ptr() as *mut c_char, Ordering::Release);
        // SAFETY: all-zero sigactions are valid to fill in.
        let mut watch = LoadWatch { previous: unsafe { std::mem::zeroed() } };
        for (sig, previous) in LOAD_FAULTS.iter().zip(watch.previous.iter_mut()) {
            // SAFETY: as above.
            let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
            action.sa_sigaction = loading_fault as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESETHAND;
            // SAFETY: installs a handler that only reports and lets the
            // signal's default action happen.
            unsafe { libc::sigaction(*sig, &action, previous) };
        }
        watch
    }
}

impl Drop for LoadWatch {
    fn drop(&mut self) {
        for (sig, previous) in LOAD_FAULTS.iter().zip(self.previous.iter()) {
            // SAFETY: puts back what was there.
            unsafe { libc::sigaction(*sig, previous, std::ptr::null_mut()) };
        }
        LOADING.store(std::ptr::null_mut(), Ordering::Release);
    }
}

/// The handler of `LoadWatch`: one line, then the signal's default action
/// (SA_RESETHAND: the fault happens again, or abort raises again). emu is
/// dying here, on its main thread, before any guest: its logger does not
/// allocate, and the rest is the loader's to answer.
extern "C" fn loading_fault(sig: i32, info: *mut libc::siginfo_t, context: *mut c_void) {
    let path = LOADING.load(Ordering::Acquire);
    // SAFETY: the kernel's ucontext for this signal.
    let rip = unsafe { (*(context as *const libc::ucontext_t)).uc_mcontext.gregs[libc::REG_RIP as usize] } as u64;
    let name = match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        _ => "SIGABRT",
    };
    // SAFETY: the path `LoadWatch` keeps alive while it is set.
    let path = if path.is_null() { "?".into() } else { unsafe { CStr::from_ptr(path) }.to_string_lossy() };
    // SAFETY: si_addr is set for the fault signals (and harmless otherwise).
    let addr = unsafe { (*info).si_addr() } as u64;
    log::error!(
        "hook {path} crashed while loading (in its constructors): {name} at {rip:#x}{} (address {addr:#x}); emu stops",
        code_location(rip)
    );
}

/// The size of the data object (STT_OBJECT) a symbol names; None for a
/// function or anything else.
fn data_object_size(symbol: *mut c_void) -> Option<usize> {
    extern "C" {
        fn dladdr1(addr: *const c_void, info: *mut libc::Dl_info, extra: *mut *mut c_void, flags: i32) -> i32;
    }
    const RTLD_DL_SYMENT: i32 = 1;
    const STT_OBJECT: u8 = 1;
    // SAFETY: an all-zero Dl_info is valid to fill in.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let mut sym: *mut c_void = std::ptr::null_mut();
    // SAFETY: asks the loader for the symbol table entry of the address.
    if unsafe { dladdr1(symbol, &mut info, &mut sym, RTLD_DL_SYMENT) } == 0 || sym.is_null() {
        return None;
    }
    // SAFETY: the loader's pointer to the object's symbol table entry.
    let sym = unsafe { &*(sym as *const libc::Elf64_Sym) };
    (sym.st_info & 0xf == STT_OBJECT).then_some(sym.st_size as usize)
}

fn dlerror() -> String {
    // SAFETY: dlerror's message is NUL-terminated (or null).
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "unknown error".into()
    } else {
        // SAFETY: as above.
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

impl Plugin {
    /// `name (path)`, for messages.
    fn describe(&self) -> String {
        format!("hook `{}` ({})", self.name, self.path)
    }

    /// Runs the plugin's code (`what`: for a report of its fault) with this
    /// thread marked as inside it.
    fn run<R>(&self, what: &'static str, f: impl FnOnce() -> R) -> R {
        let outer = RUNNING.replace((self, what));
        let r = f();
        RUNNING.set(outer);
        r
    }
}

impl Hook for Plugin {
    fn start(&self, guest: &GuestInfo) -> Result<(), String> {
        let host: &'static EmuHost = Box::leak(Box::new(EmuHost {
            abi_version: emu_hook::EMU_HOOK_ABI_VERSION,
            size: std::mem::size_of::<EmuHost>() as u32,
            personality: leak_c_string(guest.personality),
            table: leak_c_string(guest.table),
            forward: host_forward,
            read_memory: host_read_memory,
            write_memory: host_write_memory,
            read_string: host_read_string,
            diagnostic: host_diagnostic,
        }));
        let _ = self.host.set(host);
        let Some(init) = self.entry.init else { return Ok(()) };
        let mut state = std::ptr::null_mut();
        // SAFETY: the plugin's init, with its documented arguments.
        let refused = self.run("its init", || unsafe { init(host, self.argument.as_ptr(), &mut state) });
        match refused {
            0 => {}
            1..4096 => return Err(format!("{} refused to start: {}", self.describe(), Errno(refused))),
            other => {
                return Err(format!("{} refused to start (its init returned {other}, not an errno)", self.describe()))
            }
        }
        self.state.store(state, Ordering::Release);
        Ok(())
    }

    fn syscall(&self, call: &mut GuestCall) -> Outcome {
        let host = self.host.get().expect("a plugin is started before the guest runs");
        let slot = call.call.slot;
        let kinds = &slot.call.args;
        let mut arg_class = [emu_hook::EMU_ARG_NONE; 6];
        for (class, arg) in arg_class.iter_mut().zip(kinds.iter()) {
            *class = arg_class_of(&arg.kind);
        }
        let mut args = [0u64; 6];
        args.copy_from_slice(&call.call.args[..6]);
        let mut c = EmuCall {
            host: *host,
            number: call.call.number,
            name: call_names()[slot.index as usize].as_ptr(),
            nargs: kinds.len().min(6) as u32,
            arg_class,
            args,
            emu: std::ptr::null_mut(),
        };
        let name = call.name();
        let mut bridge = Bridge { call: (call as *mut GuestCall).cast(), restart: false, just_return: false };
        c.emu = (&mut bridge as *mut Bridge).cast();
        let state = self.state.load(Ordering::Acquire);
        // SAFETY: the plugin's syscall, with its state and a call valid
        // until it returns.
        let outcome = self.run(name, || unsafe { (self.syscall)(state, &mut c) });
        match outcome_from_c(&outcome, &bridge) {
            Ok(o) => o,
            Err(what) => {
                log::error!("{} {what} the guest's {name}; the guest is stopped", self.describe());
                crate::lifecycle::killed_by(libc::SIGABRT);
                crate::signals::die_by_default(libc::SIGABRT)
            }
        }
    }

    fn exit(&self, ending: Ending) {
        let Some(exit) = self.entry.exit else { return };
        if self.crashed.load(Ordering::Relaxed) || self.host.get().is_none() {
            return;
        }
        let (status, signal) = match ending {
            Ending::Exited(status) => (status, 0),
            Ending::Killed(signal) => (0, signal),
        };
        let state = self.state.load(Ordering::Acquire);
        // SAFETY: the plugin's exit, with its state.
        self.run("its exit", || unsafe { exit(state, status, signal) });
    }
}

/// If this thread faulted inside a plugin: the line that says so (and the
/// plugin's exit is not called). From the fault handler.
pub fn hook_fault_report(fault: impl FnOnce() -> String) -> Option<String> {
    let (running, what) = RUNNING.get();
    if running.is_null() {
        return None;
    }
    // SAFETY: a plugin this thread is running; plugins live as long as the process.
    let plugin = unsafe { &*running };
    plugin.crashed.store(true, Ordering::Relaxed);
    let during = if what.starts_with("its ") { what.to_string() } else { format!("the guest's {what}") };
    Some(format!("{} crashed during {during}: {}; the guest is stopped", plugin.describe(), fault()))
}

/// ` in libhook.so+0x1139 (hook_syscall+0x19)`: where `rip` is, in a loaded
/// shared object (empty for emu's own code).
pub fn code_location(rip: u64) -> String {
    // SAFETY: an all-zero Dl_info is valid to fill in.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the loader's lists.
    if unsafe { libc::dladdr(rip as *const c_void, &mut info) } == 0 || info.dli_fname.is_null() {
        return String::new();
    }
    // SAFETY: the loader's NUL-terminated names.
    let file = unsafe { CStr::from_ptr(info.dli_fname) }.to_string_lossy();
    if file.is_empty() {
        return String::new();
    }
    let file = file.rsplit('/').next().unwrap_or(&file).to_string();
    let mut s = format!(" in {file}+{:#x}", rip - info.dli_fbase as u64);
    if !info.dli_sname.is_null() {
        // SAFETY: as above.
        let symbol = unsafe { CStr::from_ptr(info.dli_sname) }.to_string_lossy();
        s += &format!(" ({symbol}+{:#x})", rip - info.dli_saddr as u64);
    }
    s
}

/// The C names of the table's calls, by slot index (made on first use, in
/// emu's context).
fn call_names() -> &'static [CString] {
    static NAMES: OnceLock<Box<[CString]>> = OnceLock::new();
    NAMES.get_or_init(|| {
        process().calls.iter().map(|s| CString::new(s.name()).unwrap_or_else(|_| c"?".into())).collect()
    })
}

fn leak_c_string(s: &str) -> *const c_char {
    Box::leak(CString::new(s).unwrap_or_default().into_boxed_c_str()).as_ptr()
}

fn arg_class_of(kind: &abi_tables::ArgKind) -> u32 {
    use abi_tables::ArgKind as K;
    match kind {
        K::Int | K::UInt | K::Hex | K::Mode | K::Pid | K::Uid | K::Gid | K::Signal | K::Flags(_) | K::Enum(_) => {
            emu_hook::EMU_ARG_INTEGER
        }
        K::Fd | K::DirFd => emu_hook::EMU_ARG_FD,
        K::Path => emu_hook::EMU_ARG_PATH,
        K::Str => emu_hook::EMU_ARG_STRING,
        K::In(_) | K::InStruct(_) | K::IovIn(_) | K::Argv | K::Envp | K::StackStruct(_) => emu_hook::EMU_ARG_IN,
        K::Out(_)
        | K::OutStruct(_)
        | K::InOutStruct(_)
        | K::IovOut(_)
        | K::OutStr(_)
        | K::OutHex(_)
        | K::ErrStruct(_) => emu_hook::EMU_ARG_OUT,
        K::Ptr => emu_hook::EMU_ARG_POINTER,
    }
}

fn outcome_to_c(o: Outcome) -> EmuOutcome {
    match o {
        Outcome::Value(Retval { rax, rdx }) => EmuOutcome {
            ending: emu_hook::EMU_VALUE,
            error: 0,
            value: rax,
            second: rdx.unwrap_or(0),
            has_second: rdx.is_some() as u32,
            reserved: 0,
        },
        Outcome::Error(e) => EmuOutcome::error(e.0),
        Outcome::Restart => EmuOutcome { ending: emu_hook::EMU_RESTART, ..EmuOutcome::value(0) },
        Outcome::JustReturn => EmuOutcome { ending: emu_hook::EMU_JUST_RETURN, ..EmuOutcome::value(0) },
    }
}

/// What `EmuCall::emu` points to while a plugin has the call: the call,
/// and which endings its forwards gave (a plugin may pass those on, never
/// make them up: a made-up restart would run the call for ever).
struct Bridge {
    call: *mut GuestCall<'static, 'static, 'static>,
    restart: bool,
    just_return: bool,
}

/// A plugin's outcome, or what is wrong with it ("failed during", "returned
/// ... for").
fn outcome_from_c(o: &EmuOutcome, bridge: &Bridge) -> Result<Outcome, String> {
    Ok(match o.ending {
        emu_hook::EMU_VALUE => Outcome::Value(Retval { rax: o.value, rdx: (o.has_second != 0).then_some(o.second) }),
        emu_hook::EMU_ERROR if (1..4096).contains(&o.error) => Outcome::Error(Errno(o.error)),
        emu_hook::EMU_ERROR => return Err(format!("returned the error {}, which is no errno, for", o.error)),
        emu_hook::EMU_RESTART if bridge.restart => Outcome::Restart,
        emu_hook::EMU_JUST_RETURN if bridge.just_return => Outcome::JustReturn,
        emu_hook::EMU_RESTART | emu_hook::EMU_JUST_RETURN => {
            return Err(format!("returned an ending ({}) that no forward gave it for", o.ending))
        }
        emu_hook::EMU_FAILED => return Err("failed during".into()),
        other => return Err(format!("returned an ending of {other} for")),
    })
}

/// `host->forward`.
unsafe extern "C" fn host_forward(c: *mut EmuCall) -> EmuOutcome {
    // SAFETY: the call emu gave the plugin, whose `emu` is the Bridge of the
    // call being hooked (valid until the plugin's syscall returns).
    let (c, bridge) = unsafe {
        let c = &mut *c;
        (&*c, &mut *(c.emu as *mut Bridge))
    };
    // SAFETY: as above.
    let call = unsafe { &mut *bridge.call };
    call.call.args[..6].copy_from_slice(&c.args);
    // What forward runs is emu's (or the next hook's) code, not this plugin's.
    let outer = RUNNING.replace((std::ptr::null(), ""));
    let o = call.forward();
    RUNNING.set(outer);
    bridge.restart |= o == Outcome::Restart;
    bridge.just_return |= o == Outcome::JustReturn;
    outcome_to_c(o)
}

/// A length of guest memory as a host length (EFAULT past the address space).
fn guest_len(len: u64) -> Result<usize, i32> {
    usize::try_from(len).map_err(|_| libc::EFAULT)
}

/// `host->read_memory`.
unsafe extern "C" fn host_read_memory(addr: u64, buf: *mut c_void, len: u64) -> i32 {
    let Ok(len) = guest_len(len) else { return libc::EFAULT };
    if len == 0 {
        return 0;
    }
    // SAFETY: the plugin gives a buffer of `len` writable bytes.
    let buf = unsafe { std::slice::from_raw_parts_mut(buf as *mut u8, len) };
    guest::read(addr, buf).err().map_or(0, |e| e.0)
}

/// `host->write_memory`.
unsafe extern "C" fn host_write_memory(addr: u64, buf: *const c_void, len: u64) -> i32 {
    let Ok(len) = guest_len(len) else { return libc::EFAULT };
    if len == 0 {
        return 0;
    }
    // SAFETY: the plugin gives a buffer of `len` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(buf as *const u8, len) };
    guest::write(addr, bytes).err().map_or(0, |e| e.0)
}

/// `host->read_string`.
unsafe extern "C" fn host_read_string(addr: u64, buf: *mut c_char, size: u64) -> i64 {
    let Ok(size) = guest_len(size) else { return -(libc::EFAULT as i64) };
    if size == 0 {
        return -(libc::ENAMETOOLONG as i64);
    }
    let mut s = Vec::new();
    match guest::read_cstr(addr, size - 1, &mut s) {
        Err(e) => -(e.0 as i64),
        // Too long, unless (with room for the NUL only) nothing is readable.
        Ok(false) if s.is_empty() && guest::read(addr, &mut [0u8]).is_err() => -(libc::EFAULT as i64),
        Ok(false) => -(libc::ENAMETOOLONG as i64),
        Ok(true) => {
            // SAFETY: the plugin gives `size` writable bytes; s is shorter.
            unsafe {
                std::ptr::copy_nonoverlapping(s.as_ptr(), buf as *mut u8, s.len());
                *buf.add(s.len()) = 0;
            }
            s.len() as i64
        }
    }
}

/// `host->diagnostic`.
unsafe extern "C" fn host_diagnostic(text: *const c_char, len: u64) {
    let Ok(len) = usize::try_from(len) else { return };
    // SAFETY: the plugin gives `len` readable bytes.
    let bytes = unsafe { std::slice::from_raw_parts(text as *const u8, len) };
    super::diagnostic(bytes);
}
