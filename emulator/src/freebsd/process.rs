//! FreeBSD calls about the process: exit, fork and vfork (whose child is
//! told apart by RDX), execve, wait4 and wait6 (FreeBSD's status words and
//! options), resource limits (FreeBSD's numbering and RLIM_INFINITY),
//! issetugid, and the CPU set.

use super::numbers;
use crate::call::Call;
use crate::lifecycle::{self, ForkRequest};
use crate::memory::guest;
use crate::sys::{self, Errno, SysResult};

/// exit(2) ends the process (FreeBSD's threads end with thr_exit).
pub fn exit(call: &mut Call) -> SysResult {
    super::umtx::thread_exiting(call.thread);
    crate::threads::exit_group(call.args[0] as i32 & 0xff)
}

/// fork and vfork return twice; the child is told by RDX = 1 (the parent
/// gets RDX = 0), whatever RAX says: the second return value.
fn fork_with(call: &mut Call, flags: u64) -> SysResult {
    let pid = lifecycle::fork(call, ForkRequest { flags, ..Default::default() })?;
    if pid == 0 && flags & libc::CLONE_VM as u64 == 0 {
        // A copy of the parent, with only this thread.
        super::umtx::forget_sleepers();
        if flags & libc::CLONE_FILES as u64 == 0 {
            crate::bsd::kqueue::fork_child();
        }
    }
    call.set_second(u64::from(pid == 0));
    Ok(pid)
}

pub fn fork(call: &mut Call) -> SysResult {
    fork_with(call, libc::SIGCHLD as u64)
}

pub fn vfork(call: &mut Call) -> SysResult {
    fork_with(call, (libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD) as u64)
}

pub fn execve(call: &mut Call) -> SysResult {
    let a = call.args;
    lifecycle::execve(call, libc::AT_FDCWD, a[0], a[1], a[2], 0)
}

/// A Linux wait status as FreeBSD encodes it: the same layout, FreeBSD's
/// signal numbers, and 0x13 for a continued child.
pub(super) fn status_to_guest(s: i32) -> i32 {
    let sig = |h: i32| numbers::signal_to_guest(h);
    if s == 0xffff {
        0x13
    } else if s & 0xff == 0x7f {
        (sig((s >> 8) & 0xff) << 8) | 0x7f
    } else if s & 0x7f != 0 {
        sig(s & 0x7f) | (s & 0x80)
    } else {
        s
    }
}

const WNOHANG: u64 = 1;
const WUNTRACED: u64 = 2;
const WCONTINUED: u64 = 4;
const WNOWAIT: u64 = 8;
const WEXITED: u64 = 0x10;
const WTRAPPED: u64 = 0x20;

/// FreeBSD's wait options as Linux's.
fn options_to_host(o: u64) -> Result<u64, Errno> {
    if o & !(WNOHANG | WUNTRACED | WCONTINUED | WNOWAIT | WEXITED | WTRAPPED) != 0 {
        return Err(Errno::EINVAL);
    }
    let mut h = 0;
    for (g, l) in [
        (WNOHANG, libc::WNOHANG),
        (WUNTRACED, libc::WUNTRACED),
        (WCONTINUED, libc::WCONTINUED),
        (WNOWAIT, libc::WNOWAIT),
        (WEXITED, libc::WEXITED),
    ] {
        if o & g != 0 {
            h |= l as u64;
        }
    }
    Ok(h)
}

/// wait4(pid, status, options, rusage): the rusage layout is Linux's.
pub fn wait4(call: &mut Call) -> SysResult {
    let [pid, status_at, options, rusage, ..] = call.args;
    let options = options_to_host(options & !(WEXITED | WTRAPPED))?;
    let mut status = 0i32;
    let pid =
        call.host_with(libc::SYS_wait4, [pid as i32 as u64, &mut status as *mut i32 as u64, options, rusage, 0, 0])?;
    if pid != 0 && status_at != 0 {
        guest::write_val(status_at, &status_to_guest(status))?;
    }
    Ok(pid)
}

/// FreeBSD's idtype_t for wait6, as Linux's for waitid.
fn idtype_to_host(idtype: u64) -> Result<u64, Errno> {
    Ok(match idtype as i32 {
        0 => libc::P_PID as u64,
        2 => libc::P_PGID as u64,
        7 => libc::P_ALL as u64,
        _ => return Err(Errno::EINVAL),
    })
}

/// wait6(idtype, id, status, options, wrusage, info), on waitid. The
/// status word is made from the siginfo, as FreeBSD's kernel makes both.
pub fn wait6(call: &mut Call) -> SysResult {
    let [idtype, id, status_at, options, wrusage, info_at, ..] = call.args;
    let idtype = idtype_to_host(idtype)?;
    let mut options = options_to_host(options)?;
    if options & (libc::WEXITED | libc::WUNTRACED | libc::WCONTINUED) as u64 == 0 {
        options |= libc::WEXITED as u64;
    }
    // SAFETY: zeroes are a valid siginfo and rusage for the kernel to fill.
    let (mut info, mut usage): (libc::siginfo_t, libc::rusage) = unsafe { std::mem::zeroed() };
    call.host_with(
        libc::SYS_waitid,
        [idtype, id, &mut info as *mut _ as u64, options, &mut usage as *mut _ as u64, 0],
    )?;
    // SAFETY: waitid filled the child fields of a SIGCHLD siginfo (or left zeros).
    let (pid, code, value) = unsafe { (info.si_pid(), info.si_code, info.si_status()) };
    if pid == 0 {
        return Ok(0);
    }
    if status_at != 0 {
        let status = match code {
            libc::CLD_EXITED => (value & 0xff) << 8,
            libc::CLD_KILLED => numbers::signal_to_guest(value),
            libc::CLD_DUMPED => numbers::signal_to_guest(value) | 0x80,
            libc::CLD_STOPPED | libc::CLD_TRAPPED => (numbers::signal_to_guest(value) << 8) | 0x7f,
            _ => 0x13,
        };
        guest::write_val(status_at, &status)?;
    }
    if wrusage != 0 {
        // struct __wrusage: the child's rusage, then its children's.
        let mut both = [0u8; 2 * std::mem::size_of::<libc::rusage>()];
        // SAFETY: rusage is plain data.
        let bytes =
            unsafe { std::slice::from_raw_parts(&usage as *const _ as *const u8, std::mem::size_of::<libc::rusage>()) };
        both[..bytes.len()].copy_from_slice(bytes);
        guest::write(wrusage, &both)?;
    }
    if info_at != 0 {
        guest::write(info_at, &super::signal::siginfo_to_guest(&info))?;
    }
    Ok(pid as u64)
}

pub fn issetugid(_call: &mut Call) -> SysResult {
    // SAFETY: reads emu's own auxiliary vector.
    Ok(u64::from(unsafe { libc::getauxval(libc::AT_SECURE) } != 0))
}

/// FreeBSD's resource numbers (index) as Linux's; `None`: Linux has no such limit.
const RLIMITS: [Option<i32>; 16] = [
    Some(libc::RLIMIT_CPU as i32),
    Some(libc::RLIMIT_FSIZE as i32),
    Some(libc::RLIMIT_DATA as i32),
    Some(libc::RLIMIT_STACK as i32),
    Some(libc::RLIMIT_CORE as i32),
    Some(libc::RLIMIT_RSS as i32),
    Some(libc::RLIMIT_MEMLOCK as i32),
    Some(libc::RLIMIT_NPROC as i32),
    Some(libc::RLIMIT_NOFILE as i32),
    None, // RLIMIT_SBSIZE
    Some(libc::RLIMIT_AS as i32),
    None, // RLIMIT_NPTS
    None, // RLIMIT_SWAP
    None, // RLIMIT_KQUEUES
    None, // RLIMIT_UMTXP
    None, // RLIMIT_PIPEBUF
];

/// FreeBSD's RLIM_INFINITY (Linux's is all ones).
const RLIM_INFINITY: u64 = i64::MAX as u64;

fn limit_to_guest(v: u64) -> u64 {
    v.min(RLIM_INFINITY)
}

fn limit_to_host(v: u64) -> u64 {
    if v >= RLIM_INFINITY {
        libc::RLIM_INFINITY
    } else {
        v
    }
}

pub fn getrlimit(call: &mut Call) -> SysResult {
    let [which, at, ..] = call.args;
    let resource = *RLIMITS.get(which as u32 as usize).ok_or(Errno::EINVAL)?;
    let (cur, max) = match resource {
        Some(r) => {
            let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            // SAFETY: fills a rlimit of ours.
            sys::result(unsafe {
                sys::syscall6(libc::SYS_prlimit64 as u64, [0, r as u64, 0, &mut lim as *mut _ as u64, 0, 0])
            })?;
            (limit_to_guest(lim.rlim_cur), limit_to_guest(lim.rlim_max))
        }
        // A limit Linux does not have is one nothing enforces.
        None => (RLIM_INFINITY, RLIM_INFINITY),
    };
    guest::write_val(at, &[cur, max])?;
    Ok(0)
}

pub fn setrlimit(call: &mut Call) -> SysResult {
    let [which, at, ..] = call.args;
    let resource = *RLIMITS.get(which as u32 as usize).ok_or(Errno::EINVAL)?;
    let [cur, max]: [u64; 2] = guest::read_val(at)?;
    if cur > max {
        return Err(Errno::EINVAL);
    }
    match resource {
        Some(r) => {
            let lim = libc::rlimit { rlim_cur: limit_to_host(cur), rlim_max: limit_to_host(max) };
            // SAFETY: sets this process's limit from a rlimit of ours.
            sys::result(unsafe {
                sys::syscall6(libc::SYS_prlimit64 as u64, [0, r as u64, &lim as *const _ as u64, 0, 0, 0])
            })
        }
        // Only "no limit" can be true of a limit Linux does not have.
        None if cur == RLIM_INFINITY && max == RLIM_INFINITY => Ok(0),
        None => Err(Errno::EINVAL),
    }
}

/// The CPUs this process may run on.
pub fn online_cpus() -> u64 {
    // SAFETY: zeroes are a valid cpu_set_t for the kernel to fill.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: fills a cpu_set_t of ours.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } == 0 {
        // SAFETY: a set the kernel filled.
        (unsafe { libc::CPU_COUNT(&set) }).max(1) as u64
    } else {
        1
    }
}

const CPU_LEVEL_WHICH: u64 = 3;
const CPU_WHICH_TID: u64 = 1;
const CPU_WHICH_PID: u64 = 2;

/// cpuset_getaffinity(level, which, id, setsize, mask), for a thread or a
/// process (id -1: the caller): sched_getaffinity's mask, as many bytes as
/// asked (zero beyond the host's), ERANGE if a CPU does not fit.
pub fn cpuset_getaffinity(call: &mut Call) -> SysResult {
    let [level, which, id, size, mask, ..] = call.args;
    if level as u32 as u64 != CPU_LEVEL_WHICH && level as u32 != 1 && level as u32 != 2 {
        return Err(Errno::EINVAL);
    }
    let tid = match (which as u32 as u64, id as i64) {
        (CPU_WHICH_TID | CPU_WHICH_PID, -1) => 0,
        (CPU_WHICH_TID | CPU_WHICH_PID, id) => id as u64,
        _ => return Err(Errno::EINVAL),
    };
    let mut host = [0u8; 1024];
    let n = call.host_with(libc::SYS_sched_getaffinity, [tid, host.len() as u64, host.as_mut_ptr() as u64, 0, 0, 0])?;
    let size = size as usize;
    let highest = host[..n as usize].iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    if size < highest {
        return Err(Errno::ERANGE);
    }
    let mut out = vec![0u8; size.min(1 << 16)];
    let copied = out.len().min(n as usize);
    out[..copied].copy_from_slice(&host[..copied]);
    guest::write(mask, &out)?;
    Ok(0)
}

/// cpuset_setaffinity(level, which, id, setsize, mask): for a thread or a
/// process (id -1: the caller), on sched_setaffinity.
pub fn cpuset_setaffinity(call: &mut Call) -> SysResult {
    let [level, which, id, size, mask, ..] = call.args;
    if !matches!(level as u32, 1..=3) {
        return Err(Errno::EINVAL);
    }
    let tid = match (which as u32 as u64, id as i64) {
        (CPU_WHICH_TID | CPU_WHICH_PID, -1) => 0,
        (CPU_WHICH_TID | CPU_WHICH_PID, id) => id as u64,
        _ => return Err(Errno::EINVAL),
    };
    let mut set = vec![0u8; (size as usize).min(1 << 16)];
    guest::read(mask, &mut set)?;
    set.resize(set.len().next_multiple_of(8).max(8), 0);
    call.host_with(libc::SYS_sched_setaffinity, [tid, set.len() as u64, set.as_ptr() as u64, 0, 0, 0]).map(|_| 0)
}

/// seteuid and setegid: setresuid/setresgid with only the effective id.
pub fn seteuid(call: &mut Call) -> SysResult {
    let nr = if call.implements() == "seteuid" { libc::SYS_setresuid } else { libc::SYS_setresgid };
    call.host_with(nr, [u32::MAX as u64, call.args[0] as u32 as u64, u32::MAX as u64, 0, 0, 0])
}

const RFFDG: u64 = 1 << 2;
const RFPROC: u64 = 1 << 4;
const RFMEM: u64 = 1 << 5;
const RFTSIGZMB: u64 = 1 << 19;
const RFSPAWN: u64 = 1 << 31;
/// Flags that only tune what rfork shares and how, which emu accepts.
const RFORK_QUIET: u64 = 1 << 0 | 1 << 1 | 1 << 3 | 1 << 10 | 1 << 11 | 1 << 18; // RFNAMEG, RFENVG, RFNOTEG, RFC*G, RFHIGHPID

/// rfork(flags), for the forms C libraries use: a new process (RFPROC) with
/// its own descriptor table (RFFDG) or sharing it, with another exit signal
/// (RFTSIGZMB); RFSPAWN, posix_spawn's, as vfork. A process sharing memory
/// with a running parent (RFMEM without RFSPAWN), threads (RFTHREAD,
/// RFSIGSHARE) and changes to the calling process (no RFPROC) are refused
/// (EINVAL), as emu's clone refuses them.
pub fn rfork(call: &mut Call) -> SysResult {
    let f = call.args[0] as u32 as u64;
    let exit_signal = if f & RFTSIGZMB != 0 {
        numbers::signal_to_host(((f >> 20) & 0xff) as i32).ok_or(Errno::EINVAL)? as u64
    } else {
        libc::SIGCHLD as u64
    };
    let signal_bits = if f & RFTSIGZMB != 0 { 0xff << 20 | RFTSIGZMB } else { 0 };
    let rest = f & !(RFFDG | RFPROC | RFSPAWN | RFORK_QUIET | signal_bits);
    if f & RFSPAWN != 0 {
        return fork_with(call, (libc::CLONE_VM | libc::CLONE_VFORK) as u64 | exit_signal);
    }
    if f & RFPROC == 0 && f & !RFMEM == 0 {
        // RFMEM without a new process means nothing: FreeBSD refuses it too.
        return Err(Errno::EINVAL);
    }
    if f & RFPROC == 0 || rest != 0 {
        log::warn!("rfork with flags {f:#x} is not supported: EINVAL");
        return Err(Errno::EINVAL);
    }
    let files = if f & RFFDG == 0 { libc::CLONE_FILES as u64 } else { 0 };
    fork_with(call, files | exit_signal)
}
