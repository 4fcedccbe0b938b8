//! Raw system calls for the emulator's own use.
//!
//! Written by hand rather than through libc because they run in the signal
//! path, where libc's `syscall()` would write `errno` (a thread-local, so
//! through FS) and the guest's FS may still be loaded; and because a
//! pass-through call must reach the kernel with the guest's six arguments
//! exactly, returning the raw `-errno`.

use core::arch::asm;

/// arch_prctl codes, SA_RESTORER and SS_AUTODISARM: kernel ABI values the libc crate does not export.
pub const ARCH_SET_FS: i32 = 0x1002;
pub const ARCH_GET_FS: i32 = 0x1003;
pub const ARCH_SET_GS: i32 = 0x1001;
pub const ARCH_GET_GS: i32 = 0x1004;
/// Asks for an XSAVE feature the kernel enables only on request (AMX).
pub const ARCH_REQ_XCOMP_PERM: i32 = 0x1023;
pub const SA_RESTORER: i32 = 0x0400_0000;
pub const SS_AUTODISARM: i32 = 1 << 31;

/// A Linux errno value (positive).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    pub const EPERM: Errno = Errno(libc::EPERM);
    pub const ENOENT: Errno = Errno(libc::ENOENT);
    pub const ESRCH: Errno = Errno(libc::ESRCH);
    pub const EINTR: Errno = Errno(libc::EINTR);
    pub const EBADF: Errno = Errno(libc::EBADF);
    pub const ENOTDIR: Errno = Errno(libc::ENOTDIR);
    pub const ENOTTY: Errno = Errno(libc::ENOTTY);
    pub const EPIPE: Errno = Errno(libc::EPIPE);
    pub const EMFILE: Errno = Errno(libc::EMFILE);
    pub const EAGAIN: Errno = Errno(libc::EAGAIN);
    pub const ENOMEM: Errno = Errno(libc::ENOMEM);
    pub const EFAULT: Errno = Errno(libc::EFAULT);
    pub const EEXIST: Errno = Errno(libc::EEXIST);
    pub const EINVAL: Errno = Errno(libc::EINVAL);
    pub const ERANGE: Errno = Errno(libc::ERANGE);
    pub const ENAMETOOLONG: Errno = Errno(libc::ENAMETOOLONG);
    pub const ENOSYS: Errno = Errno(libc::ENOSYS);
    pub const ENOTSUP: Errno = Errno(libc::EOPNOTSUPP);
    /// Not an errno the guest sees: the handler has set every register
    /// itself (sigreturn), so the dispatcher must leave them alone. The name
    /// and the idea are FreeBSD's.
    pub const JUST_RETURN: Errno = Errno(-2);
    /// Not an errno the guest sees: the call is to be executed again from the
    /// guest's `syscall` instruction (SA_RESTART after a handler).
    pub const RESTART: Errno = Errno(-1);

    /// The host's description, as strerror gives it in the C locale.
    pub fn description(self) -> &'static str {
        match self.0 {
            -2 => "(registers set by the handler)",
            -1 => "(restart)",
            _ => {
                // glibc's untranslated description: a pointer into its static
                // table, found without the locale's locks (strerror takes
                // gettext's, which a fork could leave held in the child).
                extern "C" {
                    fn strerrordesc_np(errnum: libc::c_int) -> *const libc::c_char;
                }
                // SAFETY: glibc (2.32 and later) returns NULL or a static string.
                let p = unsafe { strerrordesc_np(self.0) };
                if p.is_null() {
                    return "Unknown error";
                }
                // SAFETY: a NUL-terminated string in glibc's static table.
                unsafe { std::ffi::CStr::from_ptr(p) }.to_str().unwrap_or("Unknown error")
            }
        }
    }
}

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.description())
    }
}

/// What a system call returns: a value, or the errno it failed with.
pub type SysResult = Result<u64, Errno>;

/// Turns a raw return value (`-4095..-1` is an error) into a result.
#[inline(always)]
pub fn result(raw: i64) -> SysResult {
    if (-4095..0).contains(&raw) {
        Err(Errno(-raw as i32))
    } else {
        Ok(raw as u64)
    }
}

/// The raw value the kernel would have returned for a result.
#[inline(always)]
pub fn raw(r: SysResult) -> i64 {
    match r {
        Ok(v) => v as i64,
        Err(e) => -(e.0 as i64),
    }
}

/// `syscall` with six arguments; returns the raw result.
///
/// # Safety
/// The call may do anything a system call can do to this process.
#[inline(always)]
pub unsafe fn syscall6(nr: u64, a: [u64; 6]) -> i64 {
    let ret: i64;
    asm!(
        "syscall",
        inlateout("rax") nr as i64 => ret,
        in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
        in("r10") a[3], in("r8") a[4], in("r9") a[5],
        lateout("rcx") _, lateout("r11") _,
        options(nostack),
    );
    ret
}

/// # Safety
/// See [`syscall6`].
#[inline(always)]
pub unsafe fn syscall(nr: i64, a0: u64, a1: u64, a2: u64) -> SysResult {
    result(syscall6(nr as u64, [a0, a1, a2, 0, 0, 0]))
}

/// write(2) of a whole buffer, retrying short writes and EINTR.
pub fn write_all(fd: i32, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        // SAFETY: writes from a live buffer.
        match unsafe { syscall(libc::SYS_write, fd as u64, bytes.as_ptr() as u64, bytes.len() as u64) } {
            Ok(n) => bytes = &bytes[n as usize..],
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub fn gettid() -> i32 {
    // SAFETY: no arguments, no effects.
    unsafe { syscall(libc::SYS_gettid, 0, 0, 0) }.unwrap_or(0) as i32
}

pub fn getpid() -> i32 {
    // SAFETY: no arguments, no effects.
    unsafe { syscall(libc::SYS_getpid, 0, 0, 0) }.unwrap_or(0) as i32
}

/// Set at start-up when HWCAP2 says `rdfsbase`/`wrfsbase` are enabled; without
/// them the signal trampolines (signals/entry.rs, which read this symbol)
/// fall back to arch_prctl, from the exempt range.
#[no_mangle]
static EMU_HAVE_FSGSBASE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

pub fn have_fsgsbase() -> bool {
    EMU_HAVE_FSGSBASE.load(std::sync::atomic::Ordering::Relaxed) != 0
}

pub fn detect_fsgsbase() {
    const HWCAP2_FSGSBASE: u64 = 1 << 1;
    // SAFETY: getauxval only reads the process's auxiliary vector.
    let hwcap2 = unsafe { libc::getauxval(libc::AT_HWCAP2) };
    EMU_HAVE_FSGSBASE.store((hwcap2 & HWCAP2_FSGSBASE != 0) as u8, std::sync::atomic::Ordering::Relaxed);
}

/// A value of the auxiliary vector the kernel gave emu itself, as the kernel
/// gave it. (glibc's getauxval(AT_HWCAP) answers with glibc's own platform
/// bits on x86-64, not the kernel's.)
pub fn host_auxv(key: u64) -> Option<u64> {
    static AUXV: std::sync::OnceLock<Vec<(u64, u64)>> = std::sync::OnceLock::new();
    let auxv = AUXV.get_or_init(|| {
        let raw = std::fs::read("/proc/self/auxv").unwrap_or_default();
        raw.chunks_exact(16)
            .map(|c| (u64::from_ne_bytes(c[..8].try_into().unwrap()), u64::from_ne_bytes(c[8..].try_into().unwrap())))
            .take_while(|&(k, _)| k != 0)
            .collect()
    });
    auxv.iter().find(|&&(k, _)| k == key).map(|&(_, v)| v)
}

/// The current FS base, by `rdfsbase` when the kernel allows it.
pub fn fs_base() -> u64 {
    if have_fsgsbase() {
        let v: u64;
        // SAFETY: rdfsbase only reads the register; FSGSBASE is enabled (HWCAP2).
        unsafe { asm!("rdfsbase {}", out(reg) v, options(nomem, nostack, preserves_flags)) };
        v
    } else {
        let mut v = 0u64;
        // SAFETY: ARCH_GET_FS writes one u64 to a live location.
        let _ = unsafe { syscall(libc::SYS_arch_prctl, ARCH_GET_FS as u64, &mut v as *mut u64 as u64, 0) };
        v
    }
}

/// Whether this process has capability `cap` in its effective set.
pub fn has_capability(cap: u32) -> bool {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let header = Header { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    // Two {effective, permitted, inheritable} words: capabilities 0-31, 32-63.
    let mut data = [[0u32; 3]; 2];
    // SAFETY: capget fills `data`, two entries for version 3.
    let r = unsafe { syscall(libc::SYS_capget, &header as *const Header as u64, data.as_mut_ptr() as u64, 0) };
    r.is_ok() && cap < 64 && data[(cap / 32) as usize][0] & (1 << (cap % 32)) != 0
}

/// Held around emu's calls of localtime_r, whose C library lock a fork
/// would leave held in the child if another thread were inside it: the
/// fork takes this lock first (see `lifecycle`).
static LOCAL_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The local time of `sec`, as localtime_r gives it.
pub fn local_time(sec: i64) -> Option<libc::tm> {
    let _guard = lock_local_time();
    // SAFETY: an all-zero tm is valid to fill in.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r fills tm from a time_t.
    let r = unsafe { libc::localtime_r(&sec, &mut tm) };
    (!r.is_null()).then_some(tm)
}

pub fn lock_local_time() -> std::sync::MutexGuard<'static, ()> {
    LOCAL_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Clock `clock`'s time now.
pub fn clock_now(clock: libc::clockid_t) -> libc::timespec {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: writes the timespec given.
    unsafe { libc::clock_gettime(clock, &mut t) };
    t
}

/// a + b (both normalised), saturating.
pub fn timespec_add(a: libc::timespec, b: libc::timespec) -> libc::timespec {
    let ns = a.tv_nsec + b.tv_nsec;
    libc::timespec {
        tv_sec: a.tv_sec.saturating_add(b.tv_sec).saturating_add(ns / 1_000_000_000),
        tv_nsec: ns % 1_000_000_000,
    }
}

/// a - b, or zero if b is later.
pub fn timespec_sub(a: libc::timespec, b: libc::timespec) -> libc::timespec {
    let ns = |t: libc::timespec| t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128;
    let d = (ns(a) - ns(b)).max(0);
    libc::timespec { tv_sec: (d / 1_000_000_000).min(i64::MAX as i128) as i64, tv_nsec: (d % 1_000_000_000) as i64 }
}

/// RLIMIT_STACK's soft value (None: unlimited).
pub fn stack_limit() -> Option<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: fills a rlimit of ours.
    unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut lim) };
    (lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
}

/// Sets RLIMIT_STACK's soft value, keeping the hard one.
pub fn set_stack_limit(soft: Option<u64>) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: reads and writes a rlimit of ours.
    unsafe {
        libc::getrlimit(libc::RLIMIT_STACK, &mut lim);
        lim.rlim_cur = soft.unwrap_or(libc::RLIM_INFINITY).min(lim.rlim_max);
        libc::setrlimit(libc::RLIMIT_STACK, &lim);
    }
}

/// Changes this thread's signal mask (`how`: SIG_BLOCK, SIG_UNBLOCK or
/// SIG_SETMASK with `set`) and returns the mask it had. A raw call on u64
/// masks (the kernel's sigset on x86-64): no allocation, lock or TLS, so
/// the signal path may use it.
pub fn sigprocmask(how: i32, set: u64) -> u64 {
    let mut old = 0u64;
    // SAFETY: reads `set` and writes `old`, two u64s of ours.
    unsafe {
        syscall6(
            libc::SYS_rt_sigprocmask as u64,
            [how as u64, &set as *const u64 as u64, &mut old as *mut u64 as u64, 8, 0, 0],
        )
    };
    old
}

/// This thread's signal mask.
pub fn signal_mask() -> u64 {
    sigprocmask(libc::SIG_BLOCK, 0)
}

/// Ends the process with `status`, by the raw call: no atexit handlers,
/// no allocation or lock, so a signal handler may use it.
pub fn exit_group(status: i32) -> ! {
    // SAFETY: ends the process; nothing runs after it.
    unsafe { syscall6(libc::SYS_exit_group as u64, [status as u64, 0, 0, 0, 0, 0]) };
    unreachable!("exit_group returned")
}
