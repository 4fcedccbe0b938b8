//! emu's hook plugin ABI, version 1: what `emu --hook ./libhook.so` and the
//! shared object exchange, as `#[repr(C)]` Rust definitions from which the C
//! header (`emu abi hook-header`) is generated, and a safe layer over them
//! for hooks written in Rust (`cdylib` crates: [`Hook`], [`export_hook!`]).
//!
//! A plugin exports one symbol, `emu_hook`: an [`EmuHook`] whose first
//! field is the ABI version it was built against. emu refuses a plugin of
//! another version before it calls anything in it.
//!
//! A hook sees each guest call as an [`EmuCall`] and returns how it ends
//! (an [`EmuOutcome`]): an answer of its own, or what `forward` gave it
//! (the next hook's, and finally the table's), as often as it likes and with
//! the arguments changed in between: the Rust `Hook` trait of the
//! `emulator` crate, in C terms.

mod c_decl;

use c_decl::{c_constants, c_structs};
use std::ffi::{c_char, c_void, CStr};

c_constants!(version_defines {
    /// The version of this ABI. A plugin built against another is refused.
    pub const EMU_HOOK_ABI_VERSION: u32 = 1;
});

c_constants!(ending_defines {
    /// The call returned `value` (and `second` in RDX, if `has_second`).
    pub const EMU_VALUE: u32 = 0;
    /// The call failed with `error`, a Linux errno (the guest's personality
    /// translates it to its own numbering).
    pub const EMU_ERROR: u32 = 1;
    /// The guest executes its `syscall` again once a signal handler has run
    /// (only ever passed on from `forward`).
    pub const EMU_RESTART: u32 = 2;
    /// The call set every register itself (sigreturn; only ever passed on
    /// from `forward`).
    pub const EMU_JUST_RETURN: u32 = 3;
    /// The hook failed (and said why through host->diagnostic, if it
    /// could): emu stops the guest, naming the hook and the call.
    pub const EMU_FAILED: u32 = 4;
});

c_constants!(arg_class_defines {
    /// No such argument (past `nargs`).
    pub const EMU_ARG_NONE: u32 = 0;
    /// A number, flags, a mode, an id, a signal.
    pub const EMU_ARG_INTEGER: u32 = 1;
    /// A file descriptor (or a directory's, for the *at calls).
    pub const EMU_ARG_FD: u32 = 2;
    /// A guest pointer to a NUL-terminated path.
    pub const EMU_ARG_PATH: u32 = 3;
    /// A guest pointer to another NUL-terminated string.
    pub const EMU_ARG_STRING: u32 = 4;
    /// A guest pointer to memory the call reads (a buffer, a structure, an iovec, argv).
    pub const EMU_ARG_IN: u32 = 5;
    /// A guest pointer to memory the call writes.
    pub const EMU_ARG_OUT: u32 = 6;
    /// Another guest pointer (an address to map, a futex word).
    pub const EMU_ARG_POINTER: u32 = 7;
});

/// The most arguments a call has.
pub const EMU_MAX_ARGS: usize = 6;

c_structs! {
    /// How a call ends.
    pub struct EmuOutcome as "emu_outcome" {
        /// EMU_VALUE, EMU_ERROR, EMU_RESTART, EMU_JUST_RETURN or EMU_FAILED.
        pub ending: u32,
        /// EMU_ERROR: a Linux errno (EPERM, ENOENT, ...).
        pub error: i32,
        /// EMU_VALUE: the value returned in RAX.
        pub value: u64,
        /// EMU_VALUE with has_second: the value returned in RDX (FreeBSD's fork, pipe).
        pub second: u64,
        pub has_second: u32,
        pub reserved: u32,
    }

    /// One guest call, as a hook sees it. Valid only during the hook's
    /// `syscall` that received it.
    pub struct EmuCall as "emu_call" {
        /// emu's services (the same as `init` was given).
        pub host: *const EmuHost,
        /// The number the guest used.
        pub number: u64,
        /// The call's name in the guest's table ("write", "openat").
        pub name: *const c_char,
        /// How many arguments the table declares.
        pub nargs: u32,
        /// What each argument is, as the table declares it (EMU_ARG_*).
        pub arg_class: [u32; 6],
        /// The arguments; a hook may change them before `forward`.
        pub args: [u64; 6],
        /// emu's own; not to be touched.
        pub emu: *mut c_void,
    }

    /// What emu offers a hook.
    pub struct EmuHost as "emu_host" {
        /// EMU_HOOK_ABI_VERSION of this emu.
        pub abi_version: u32,
        /// sizeof(struct emu_host) of this emu.
        pub size: u32,
        /// The guest's personality: "linux" or "freebsd".
        pub personality: *const c_char,
        /// The guest's table ("freebsd-amd64", or a table file's name).
        pub table: *const c_char,
        /// Passes the call on, with `call->args` as they are now: to the next
        /// hook, or to the table. May be called more than once.
        pub forward: unsafe extern "C" fn(*mut EmuCall) -> EmuOutcome,
        /// Copies `len` bytes of guest memory at `addr` into `buf`: 0, or EFAULT.
        pub read_memory: unsafe extern "C" fn(u64, *mut c_void, u64) -> i32,
        /// Copies `len` bytes from `buf` into guest memory at `addr`: 0, or EFAULT.
        pub write_memory: unsafe extern "C" fn(u64, *const c_void, u64) -> i32,
        /// Copies the NUL-terminated guest string at `addr` into `buf` (of
        /// `size` bytes, NUL included): its length, -EFAULT, or -ENAMETOOLONG.
        pub read_string: unsafe extern "C" fn(u64, *mut c_char, u64) -> i64,
        /// Writes `len` bytes to emu's standard error: the one emu started
        /// with, which the guest can neither close nor redirect.
        pub diagnostic: unsafe extern "C" fn(*const c_char, u64) -> (),
    }

    /// A plugin's one exported symbol, `emu_hook`.
    pub struct EmuHook as "emu_hook" {
        /// EMU_HOOK_ABI_VERSION of the header the plugin was built with.
        pub abi_version: u32,
        /// sizeof(struct emu_hook).
        pub size: u32,
        /// The hook's name, for emu's messages.
        pub name: *const c_char,
        /// Optional: called once, before the guest starts, with the text after
        /// the first comma of --hook (or ""). Sets *state (given to syscall and
        /// exit) and returns 0, or an errno to refuse to start.
        pub init: Option<unsafe extern "C" fn(*const EmuHost, *const c_char, *mut *mut c_void) -> i32>,
        /// Called for every guest call; returns how it ends.
        pub syscall: Option<unsafe extern "C" fn(*mut c_void, *mut EmuCall) -> EmuOutcome>,
        /// Optional: called once when the guest process ends, with its exit
        /// status, or the signal that killed it (then status is 0). A fork
        /// child calls it on its copy; a vfork child, which shares its
        /// parent's memory, does not.
        pub exit: Option<unsafe extern "C" fn(*mut c_void, i32, i32) -> ()>,
    }
}

// SAFETY: an `EmuHook` is immutable data (a version, a string constant and
// function pointers), which a plugin exports as a `static`.
unsafe impl Sync for EmuHook {}

/// The name of the symbol a plugin exports.
pub const ENTRY_SYMBOL: &str = "emu_hook";

/// What every hook may and may not do, for the header and the docs.
const RULES: &str = " * A hook runs inside emu, in the guest thread's SIGSYS handler, after emu
 * has switched to its own thread-local storage: the C library may be called
 * (malloc, stdio, locks), on a stack of about 900 KiB.
 *
 * - Several guest threads may be in `syscall` at once: shared state needs
 *   locks or atomics. Thread-local variables work, with destructors (emu
 *   serves them: see emulator/src/hooks/plugin_tls.rs); as for any object
 *   dlopen'ed, the initial-exec model and TLS descriptors (gnu2) share a
 *   few hundred bytes of static TLS.
 * - The guest's signals wait while a hook runs: a hook that blocks, blocks
 *   its thread's signals too. It must not wait for another guest thread.
 * - Guest pointers are the guest's: read and write them through
 *   host->read_memory, write_memory and read_string, never directly.
 * - Standard output and error are the guest's descriptors; emu's own
 *   stderr is host->diagnostic. A descriptor the hook opens is in the
 *   guest's table too, where the guest may see or close it.
 * - Do not create threads, install signal handlers, fork, exec, exit or
 *   dlopen: they belong to the guest and to emu (libraries the plugin is
 *   linked against load with it).
 * - A hook that faults stops the guest with a report naming the hook; so
 *   does one that returns EMU_FAILED, an ending it does not have, an
 *   errno outside 1..4095, or a restart no forward gave it.
 * - Forked guests inherit the hook and its state (and call exit when they
 *   end; a vfork child does not); after an exec the new image loads the
 *   hook again (init once more; exit is not called for the image that
 *   exec'd).";

/// The C header of this ABI (what `emu abi hook-header` prints).
pub fn c_header() -> String {
    let mut h = String::new();
    h += "/*\n * emu_hook.h: emu's hook plugin ABI. Generated by `emu abi hook-header`\n";
    h += " * from the Rust definitions in hooks/emu-hook; do not edit.\n *\n";
    h += " * A plugin is a shared object exporting `const struct emu_hook emu_hook`;\n";
    h += " * emu loads it with `emu --hook ./libname.so[,ARGUMENT] PROGRAM...`.\n *\n";
    h += RULES;
    h += "\n */\n#ifndef EMU_HOOK_H\n#define EMU_HOOK_H\n\n#include <stddef.h>\n#include <stdint.h>\n\n";
    h += "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n";
    for defines in [version_defines(), ending_defines(), arg_class_defines()] {
        h += &defines;
        h += "\n";
    }
    h += &format!("#define EMU_MAX_ARGS {EMU_MAX_ARGS}\n\n");
    h += "struct emu_host;\n\n";
    for definition in
        [EmuOutcome::c_definition(), EmuCall::c_definition(), EmuHost::c_definition(), EmuHook::c_definition()]
    {
        h += &definition;
        h += "\n";
    }
    h += "\
/* Conveniences. */
static inline struct emu_outcome emu_forward(struct emu_call *call)
{
    return call->host->forward(call);
}

static inline struct emu_outcome emu_value(uint64_t value)
{
    struct emu_outcome o = { EMU_VALUE, 0, value, 0, 0, 0 };
    return o;
}

static inline struct emu_outcome emu_error(int32_t error)
{
    struct emu_outcome o = { EMU_ERROR, error, 0, 0, 0, 0 };
    return o;
}

#ifdef __cplusplus
}
#define EMU_HOOK_LINKAGE extern \"C\"
#else
#define EMU_HOOK_LINKAGE
#endif

/*
 * Defines the plugin's `emu_hook` (exported whatever -fvisibility says):
 * EMU_HOOK_DEFINE(\"name\", init or NULL, syscall, exit or NULL);
 */
#define EMU_HOOK_DEFINE(NAME, INIT, SYSCALL, EXIT) \\
    EMU_HOOK_LINKAGE __attribute__((visibility(\"default\"))) const struct emu_hook emu_hook = \\
        { EMU_HOOK_ABI_VERSION, sizeof(struct emu_hook), NAME, INIT, SYSCALL, EXIT }

#endif /* EMU_HOOK_H */
";
    h
}

impl EmuOutcome {
    /// The call returns `value`.
    pub fn value(value: u64) -> Self {
        EmuOutcome { ending: EMU_VALUE, error: 0, value, second: 0, has_second: 0, reserved: 0 }
    }

    /// The call fails with `errno` (a Linux errno).
    pub fn error(errno: i32) -> Self {
        EmuOutcome { ending: EMU_ERROR, error: errno, value: 0, second: 0, has_second: 0, reserved: 0 }
    }

    /// The hook failed: emu stops the guest (see EMU_FAILED).
    pub fn failed() -> Self {
        EmuOutcome { ending: EMU_FAILED, ..EmuOutcome::value(0) }
    }

    /// Whether the call returned values.
    pub fn succeeded(&self) -> bool {
        self.ending == EMU_VALUE
    }
}

/// emu's services, for a Rust hook.
#[derive(Clone, Copy)]
pub struct Host(&'static EmuHost);

// SAFETY: emu's host table is immutable, and its functions may be called
// from any guest thread.
unsafe impl Send for Host {}
// SAFETY: as above.
unsafe impl Sync for Host {}

impl Host {
    /// The guest's personality ("linux", "freebsd").
    pub fn personality(&self) -> &'static str {
        // SAFETY: emu gives a NUL-terminated string that lives as long as it.
        unsafe { CStr::from_ptr(self.0.personality) }.to_str().unwrap_or("")
    }

    /// Writes `text` to emu's standard error.
    pub fn diagnostic(&self, text: &str) {
        // SAFETY: a valid buffer of `text.len()` bytes.
        unsafe { (self.0.diagnostic)(text.as_ptr().cast(), text.len() as u64) }
    }

    /// Copies guest memory; Err(errno) for a bad guest pointer.
    pub fn read_memory(&self, addr: u64, buf: &mut [u8]) -> Result<(), i32> {
        // SAFETY: `buf` is writable for its length.
        match unsafe { (self.0.read_memory)(addr, buf.as_mut_ptr().cast(), buf.len() as u64) } {
            0 => Ok(()),
            e => Err(e),
        }
    }

    /// Writes guest memory; Err(errno) for a bad guest pointer.
    pub fn write_memory(&self, addr: u64, bytes: &[u8]) -> Result<(), i32> {
        // SAFETY: `bytes` is readable for its length.
        match unsafe { (self.0.write_memory)(addr, bytes.as_ptr().cast(), bytes.len() as u64) } {
            0 => Ok(()),
            e => Err(e),
        }
    }

    /// The NUL-terminated guest string at `addr` (at most 4095 bytes);
    /// Err(errno) for a bad pointer or a longer string.
    pub fn read_string(&self, addr: u64) -> Result<Vec<u8>, i32> {
        let mut buf = vec![0u8; 4096];
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { (self.0.read_string)(addr, buf.as_mut_ptr().cast(), buf.len() as u64) };
        if n < 0 {
            return Err(-n as i32);
        }
        buf.truncate(n as usize);
        Ok(buf)
    }
}

/// One guest call, for a Rust hook.
pub struct Call<'a>(&'a mut EmuCall);

impl Call<'_> {
    /// emu's services.
    pub fn host(&self) -> Host {
        // SAFETY: emu's host table lives as long as emu.
        Host(unsafe { &*self.0.host })
    }

    /// The call's name in the guest's table.
    pub fn name(&self) -> &str {
        // SAFETY: emu gives a NUL-terminated name that outlives the call.
        unsafe { CStr::from_ptr(self.0.name) }.to_str().unwrap_or("")
    }

    /// The number the guest used.
    pub fn number(&self) -> u64 {
        self.0.number
    }

    /// The arguments the table declares.
    pub fn args(&self) -> &[u64] {
        &self.0.args[..(self.0.nargs as usize).min(EMU_MAX_ARGS)]
    }

    /// Argument `i` (0-based); 0 past the sixth.
    pub fn arg(&self, i: usize) -> u64 {
        self.0.args.get(i).copied().unwrap_or(0)
    }

    /// What argument `i` is (EMU_ARG_*).
    pub fn arg_class(&self, i: usize) -> u32 {
        self.0.arg_class.get(i).copied().unwrap_or(EMU_ARG_NONE)
    }

    /// Changes argument `i` for the next `forward`.
    pub fn set_arg(&mut self, i: usize, value: u64) {
        if let Some(a) = self.0.args.get_mut(i) {
            *a = value;
        }
    }

    /// Passes the call on: to the next hook, or to the table.
    pub fn forward(&mut self) -> EmuOutcome {
        // SAFETY: the call emu gave this hook, for the duration of its syscall.
        unsafe { ((*self.0.host).forward)(self.0) }
    }
}

/// A hook written in Rust; [`export_hook!`] makes a plugin of it.
pub trait Hook: Sized + Send + Sync + 'static {
    /// Starts the hook, with the text after the first comma of `--hook`
    /// (or ""); Err(errno) refuses to start the guest.
    fn new(host: Host, argument: &str) -> Result<Self, i32>;
    /// Decides how one guest call ends.
    fn syscall(&self, call: &mut Call) -> EmuOutcome;
    /// The guest process ended: its exit status, or the signal that killed it.
    fn exit(&self, _status: i32, _signal: i32) {}
}

/// Exports `emu_hook` for a [`Hook`] type: `emu_hook::export_hook!(MyHook, "my-hook");`
#[macro_export]
macro_rules! export_hook {
    ($hook:ty, $name:literal) => {
        /// The hook's name, for the glue's messages.
        struct Name;
        impl $crate::glue::Named for Name {
            const NAME: &'static str = $name;
        }

        #[no_mangle]
        pub static emu_hook: $crate::EmuHook = $crate::EmuHook {
            abi_version: $crate::EMU_HOOK_ABI_VERSION,
            size: ::std::mem::size_of::<$crate::EmuHook>() as u32,
            name: concat!($name, "\0").as_ptr().cast(),
            init: Some($crate::glue::init::<$hook, Name>),
            syscall: Some($crate::glue::syscall::<$hook>),
            exit: Some($crate::glue::exit::<$hook>),
        };
    };
}

/// The C functions [`export_hook!`] points `emu_hook` at. A panic never
/// crosses into emu: its message goes to emu's stderr, and the call ends in
/// EMU_FAILED (init in EIO), which stops the guest with a report naming the
/// hook.
#[doc(hidden)]
pub mod glue {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    const EIO: i32 = 5;

    /// A hook's name, which `export_hook!` gives the glue.
    pub trait Named {
        const NAME: &'static str;
    }

    /// # Safety
    /// Called by emu only, as `init`.
    pub unsafe extern "C" fn init<H: Hook, N: Named>(
        host: *const EmuHost,
        argument: *const c_char,
        state: *mut *mut c_void,
    ) -> i32 {
        // SAFETY: emu passes its host table, a NUL-terminated argument and
        // a place for the state.
        let (host, argument) = unsafe { (Host(&*host), CStr::from_ptr(argument)) };
        // The default panic hook would write to the guest's stderr.
        std::panic::set_hook(Box::new(move |info| host.diagnostic(&format!("hook `{}` {info}\n", N::NAME))));
        match catch_unwind(AssertUnwindSafe(|| H::new(host, argument.to_str().unwrap_or("")))) {
            Ok(Ok(hook)) => {
                // SAFETY: see above.
                unsafe { *state = Box::into_raw(Box::new(hook)).cast() };
                0
            }
            Ok(Err(e)) => e,
            Err(_) => EIO,
        }
    }

    /// # Safety
    /// Called by emu only, as `syscall`, with the state `init` made.
    pub unsafe extern "C" fn syscall<H: Hook>(state: *mut c_void, call: *mut EmuCall) -> EmuOutcome {
        // SAFETY: the state is the `H` init boxed; the call is valid for now.
        let (hook, call) = unsafe { (&*(state as *const H), &mut *call) };
        catch_unwind(AssertUnwindSafe(|| hook.syscall(&mut Call(call)))).unwrap_or_else(|_| EmuOutcome::failed())
    }

    /// # Safety
    /// Called by emu only, as `exit`, with the state `init` made.
    pub unsafe extern "C" fn exit<H: Hook>(state: *mut c_void, status: i32, signal: i32) {
        // SAFETY: the state is the `H` init boxed.
        let hook = unsafe { &*(state as *const H) };
        // Its message is out, and nothing is left to stop.
        let _ = catch_unwind(AssertUnwindSafe(|| hook.exit(status, signal)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_spells_each_declaration_in_c() {
        let h = c_header();
        assert!(h.contains("#define EMU_HOOK_ABI_VERSION 1\n"), "{h}");
        assert!(h.contains("    const struct emu_host *host;\n"), "{h}");
        assert!(h.contains("    uint32_t arg_class[6];\n"), "{h}");
        assert!(h.contains("    struct emu_outcome (*forward)(struct emu_call *);\n"), "{h}");
        assert!(h.contains("    int32_t (*init)(const struct emu_host *, const char *, void **);\n"), "{h}");
        assert!(h.contains("    void (*exit)(void *, int32_t, int32_t);\n"), "{h}");
        assert!(h.contains("    int64_t (*read_string)(uint64_t, char *, uint64_t);\n"), "{h}");
    }

    #[test]
    fn layout_is_what_the_header_says() {
        // The C compiler lays out the header's structures by the same rules;
        // these are the offsets a plugin built against it uses.
        assert_eq!(std::mem::size_of::<EmuOutcome>(), 32);
        assert_eq!(std::mem::offset_of!(EmuCall, args), 56);
        assert_eq!(std::mem::size_of::<EmuCall>(), 112);
        assert_eq!(std::mem::offset_of!(EmuHook, syscall), 24);
    }
}
