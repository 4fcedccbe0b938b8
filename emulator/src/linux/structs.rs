//! Linux x86-64 structures, summarised for traces the way strace shows them.

use crate::memory::guest::{self, Pod};
use crate::personality::StructDecoder;
use crate::trace::common::{
    date, dirents, fdpair, file_mode, flag_names, itimerval, rusage, timespec, timeval, wait_status,
};
use crate::trace::common::{sockaddr_body, SockFamily};
use crate::trace::StructWriter;

pub fn decoder(name: &str) -> Option<StructDecoder> {
    Some(match name {
        "stat" => stat,
        "timespec" => timespec,
        "timeval" => timeval,
        "itimerval" => itimerval,
        "rlimit" => rlimit,
        "utsname" => utsname,
        "sigaction" => sigaction,
        "sigset" => sigset,
        "stack" => stack,
        "rusage" => rusage,
        "sysinfo" => sysinfo,
        "tms" => tms,
        "sockaddr" => sockaddr,
        "fdpair" => fdpair,
        "wstatus" => wstatus,
        "statfs" => statfs,
        "utimens" => utimens,
        "dirents" => dirents,
        "clone_args" => clone_args,
        "sigframe" => sigframe,
        "cpuset" => cpuset,
        "gids" => gids,
        _ => return None,
    })
}

fn read<T: Pod>(addr: u64) -> Option<T> {
    guest::read_val(addr).ok()
}

fn stat(addr: u64, w: &mut StructWriter) -> bool {
    let Some(s) = read::<[u64; 18]>(addr) else { return false };
    let mode = s[3] as u32;
    let rdev = s[5];
    w.text(format_args!("{{st_mode={}", file_mode(mode)));
    if matches!(mode & libc::S_IFMT, libc::S_IFCHR | libc::S_IFBLK) {
        let (major, minor) = (libc::major(rdev), libc::minor(rdev));
        w.text(format_args!(", st_rdev=makedev({major:#x}, {minor:#x})"));
    } else {
        w.text(format_args!(", st_size={}", s[6] as i64));
    }
    w.text(format_args!(", ...}}"));
    true
}

fn rlim(v: u64) -> String {
    if v == u64::MAX {
        "RLIM64_INFINITY".into()
    } else if v > 0 && v % 1024 == 0 {
        format!("{}*1024", v / 1024)
    } else {
        v.to_string()
    }
}

fn rlimit(addr: u64, w: &mut StructWriter) -> bool {
    let Some([cur, max]) = read::<[u64; 2]>(addr) else { return false };
    w.text(format_args!("{{rlim_cur={}, rlim_max={}}}", rlim(cur), rlim(max)));
    true
}

fn utsname(addr: u64, w: &mut StructWriter) -> bool {
    let Some(u) = read::<[u8; 65 * 6]>(addr) else { return false };
    let field = |i: usize| {
        let f = &u[65 * i..65 * (i + 1)];
        let end = f.iter().position(|&b| b == 0).unwrap_or(f.len());
        f[..end].to_vec()
    };
    w.text(format_args!("{{sysname="));
    w.quoted(&field(0));
    w.text(format_args!(", nodename="));
    w.quoted(&field(1));
    w.text(format_args!(", ...}}"));
    true
}

/// In strace's order (xlat/sigact_flags.in).
const SA_FLAGS: &[(u64, &str)] = &[
    (0x0400_0000, "SA_RESTORER"),
    (0x0800_0000, "SA_ONSTACK"),
    (0x1000_0000, "SA_RESTART"),
    (0x4000_0000, "SA_NODEFER"),
    (0x8000_0000, "SA_RESETHAND"),
    (0x0000_0004, "SA_SIGINFO"),
    (0x0000_0001, "SA_NOCLDSTOP"),
    (0x0000_0002, "SA_NOCLDWAIT"),
];

fn sa_flags(flags: u64) -> String {
    flag_names(flags, SA_FLAGS)
}

/// `[INT TERM]`, or `~[...]` for the complement when most signals are in.
fn signal_set(mask: u64) -> String {
    let name = |sig: i32| super::signal_name(sig).to_string().trim_start_matches("SIG").to_string();
    let (prefix, set) = if mask.count_ones() > 32 { ("~", !mask) } else { ("", mask) };
    let names: Vec<String> = (1..=64).filter(|s| set & (1u64 << (s - 1)) != 0).map(name).collect();
    format!("{prefix}[{}]", names.join(" "))
}

fn sigaction(addr: u64, w: &mut StructWriter) -> bool {
    let Some([handler, flags, restorer, mask]) = read::<[u64; 4]>(addr) else { return false };
    let handler = match handler {
        0 => "SIG_DFL".to_string(),
        1 => "SIG_IGN".to_string(),
        h => format!("{h:#x}"),
    };
    w.text(format_args!("{{sa_handler={handler}, sa_mask={}, sa_flags={}", signal_set(mask), sa_flags(flags)));
    if flags & 0x0400_0000 != 0 {
        w.text(format_args!(", sa_restorer={restorer:#x}"));
    }
    w.text(format_args!("}}"));
    true
}

fn sigset(addr: u64, w: &mut StructWriter) -> bool {
    let Some(mask) = read::<u64>(addr) else { return false };
    w.text(format_args!("{}", signal_set(mask)));
    true
}

fn stack(addr: u64, w: &mut StructWriter) -> bool {
    let Some([sp, flags, size]) = read::<[u64; 3]>(addr) else { return false };
    let flags = match flags as u32 as i32 {
        0 => "0".to_string(),
        libc::SS_ONSTACK => "SS_ONSTACK".into(),
        libc::SS_DISABLE => "SS_DISABLE".into(),
        f => format!("{f:#x}"),
    };
    w.text(format_args!("{{ss_sp={sp:#x}, ss_flags={flags}, ss_size={size}}}"));
    true
}

fn sysinfo(addr: u64, w: &mut StructWriter) -> bool {
    // uptime, loads[3], totalram, freeram, sharedram, bufferram, totalswap,
    // freeswap, procs (u16, padded), totalhigh, freehigh, mem_unit (u32).
    let Some(s) = read::<[u64; 14]>(addr) else { return false };
    w.text(format_args!(
        "{{uptime={}, loads=[{}, {}, {}], totalram={}, freeram={}, sharedram={}, bufferram={}, totalswap={}, freeswap={}, procs={}, totalhigh={}, freehigh={}, mem_unit={}}}",
        s[0] as i64, s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10] as u16, s[11], s[12], s[13] as u32
    ));
    true
}

fn tms(addr: u64, w: &mut StructWriter) -> bool {
    let Some([u, s, cu, cs]) = read::<[i64; 4]>(addr) else { return false };
    w.text(format_args!("{{tms_utime={u}, tms_stime={s}, tms_cutime={cu}, tms_cstime={cs}}}"));
    true
}

fn sockaddr(addr: u64, w: &mut StructWriter) -> bool {
    let Some(family) = read::<u16>(addr) else { return false };
    let family = match family as i32 {
        libc::AF_UNIX => SockFamily::Unix { path_max: 108 },
        libc::AF_INET => SockFamily::Inet,
        libc::AF_INET6 => SockFamily::Inet6,
        f => SockFamily::Other(f as u32),
    };
    sockaddr_body(addr, family, w)
}

/// wait4's status, when a child was reported: `[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]`.
fn wstatus(addr: u64, w: &mut StructWriter) -> bool {
    wait_status(addr, w, 0xffff, |sig| super::signal_name(sig).to_string())
}

fn statfs(addr: u64, w: &mut StructWriter) -> bool {
    let Some(s) = read::<[u64; 11]>(addr) else { return false };
    let f_type = match s[0] {
        0xef53 => "EXT2_SUPER_MAGIC".to_string(),
        0x0102_1994 => "TMPFS_MAGIC".to_string(),
        0x9fa0 => "PROC_SUPER_MAGIC".to_string(),
        0x6265_6572 => "SYSFS_MAGIC".to_string(),
        0x794c_7630 => "OVERLAYFS_SUPER_MAGIC".to_string(),
        0x9123_683e => "BTRFS_SUPER_MAGIC".to_string(),
        0x5846_5342 => "XFS_SUPER_MAGIC".to_string(),
        0x1cd1 => "DEVPTS_SUPER_MAGIC".to_string(),
        0x0102_1997 => "V9FS_MAGIC".to_string(),
        t => format!("{t:#x}"),
    };
    let (fsid0, fsid1) = (s[7] as u32, (s[7] >> 32) as u32);
    const ST: &[(u64, &str)] = &[
        (0x0001, "ST_RDONLY"),
        (0x0002, "ST_NOSUID"),
        (0x0004, "ST_NODEV"),
        (0x0008, "ST_NOEXEC"),
        (0x0010, "ST_SYNCHRONOUS"),
        (0x0020, "ST_VALID"),
        (0x0040, "ST_MANDLOCK"),
        (0x0400, "ST_NOATIME"),
        (0x0800, "ST_NODIRATIME"),
        (0x1000, "ST_RELATIME"),
        (0x2000, "ST_NOSYMFOLLOW"),
    ];
    let mut names: Vec<String> = ST.iter().filter(|(b, _)| s[10] & b != 0).map(|(_, n)| n.to_string()).collect();
    let rest = s[10] & !ST.iter().fold(0, |m, (b, _)| m | b);
    if rest != 0 || names.is_empty() {
        names.push(format!("{rest:#x}"));
    }
    w.text(format_args!(
        "{{f_type={f_type}, f_bsize={}, f_blocks={}, f_bfree={}, f_bavail={}, f_files={}, f_ffree={}, f_fsid={{val=[{fsid0:#x}, {fsid1:#x}]}}, f_namelen={}, f_frsize={}, f_flags={}}}",
        s[1], s[2], s[3], s[4], s[5], s[6], s[8], s[9], names.join("|")
    ));
    true
}

/// utimensat's two times: `[UTIME_NOW, {tv_sec=1, tv_nsec=0} /* 1970-01-01T00:00:01+0000 */]`.
fn utimens(addr: u64, w: &mut StructWriter) -> bool {
    let Some(t) = read::<[i64; 4]>(addr) else { return false };
    let one = |sec: i64, nsec: i64| -> String {
        match nsec {
            0x3fff_ffff => "UTIME_NOW".into(),
            0x3fff_fffe => "UTIME_OMIT".into(),
            _ => format!("{{tv_sec={sec}, tv_nsec={nsec}}} /* {} */", date(sec, nsec)),
        }
    };
    w.text(format_args!("[{}, {}]", one(t[0], t[1]), one(t[2], t[3])));
    true
}

/// clone3's struct clone_args.
fn clone_args(addr: u64, w: &mut StructWriter) -> bool {
    let Some(a) = read::<[u64; 8]>(addr) else { return false };
    let [flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls] = a;
    let mut f = String::new();
    match abi_tables::LINUX_X86_64.set_by_name("clone") {
        Some(set) => crate::trace::flags(&mut f, set, flags),
        None => f = format!("{flags:#x}"),
    }
    w.text(format_args!("{{flags={f}"));
    if flags & libc::CLONE_PIDFD as u64 != 0 {
        w.text(format_args!(", pidfd={pidfd:#x}"));
    }
    if flags & (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID) as u64 != 0 {
        w.text(format_args!(", child_tid={child_tid:#x}"));
    }
    if flags & libc::CLONE_PARENT_SETTID as u64 != 0 {
        w.text(format_args!(", parent_tid={parent_tid:#x}"));
    }
    let sig = if (1..=64).contains(&exit_signal) {
        super::signal_name(exit_signal as i32).to_string()
    } else {
        exit_signal.to_string()
    };
    let stack = if stack == 0 { "NULL".to_string() } else { format!("{stack:#x}") };
    let size = if stack_size == 0 { "0".to_string() } else { format!("{stack_size:#x}") };
    w.text(format_args!(", exit_signal={sig}, stack={stack}, stack_size={size}"));
    if flags & libc::CLONE_SETTLS as u64 != 0 {
        w.text(format_args!(", tls={tls:#x}"));
    }
    w.text(format_args!("}}"));
    true
}

/// rt_sigreturn: the mask saved in the frame at the stack pointer
/// (ucontext: uc_flags, uc_link, uc_stack, uc_mcontext, then uc_sigmask).
fn sigframe(addr: u64, w: &mut StructWriter) -> bool {
    let Some(mask) = read::<u64>(addr + 8 + 8 + 24 + 256) else { return false };
    w.text(format_args!("{{mask={}}}", signal_set(mask)));
    true
}

/// sched_getaffinity's mask, as many bytes as the call returned: `[0 1]`.
fn cpuset(addr: u64, w: &mut StructWriter) -> bool {
    let Some(len) = w.result.filter(|&r| r > 0) else { return false };
    let mut bytes = vec![0u8; len as usize];
    if guest::read(addr, &mut bytes).is_err() {
        return false;
    }
    let cpus: Vec<String> =
        (0..bytes.len() * 8).filter(|i| bytes[i / 8] & (1 << (i % 8)) != 0).map(|i| i.to_string()).collect();
    w.text(format_args!("[{}]", cpus.join(" ")));
    true
}

/// getgroups' list, as many as the call returned: `[0, 27]`.
fn gids(addr: u64, w: &mut StructWriter) -> bool {
    let Some(n) = w.result.filter(|&r| r >= 0) else { return false };
    let mut ids = Vec::new();
    for i in 0..n as u64 {
        let Some(g) = read::<u32>(addr + 4 * i) else { return false };
        ids.push(g.to_string());
    }
    w.text(format_args!("[{}]", ids.join(", ")));
    true
}
