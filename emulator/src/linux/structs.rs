//! Linux x86-64 structures, summarised for traces the way strace shows them.

use crate::memory::guest::{self, Pod};
use crate::personality::StructDecoder;
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

/// `S_IFREG|0644`.
fn file_mode(mode: u32) -> String {
    let kind = match mode & libc::S_IFMT {
        libc::S_IFREG => "S_IFREG",
        libc::S_IFDIR => "S_IFDIR",
        libc::S_IFCHR => "S_IFCHR",
        libc::S_IFBLK => "S_IFBLK",
        libc::S_IFIFO => "S_IFIFO",
        libc::S_IFLNK => "S_IFLNK",
        libc::S_IFSOCK => "S_IFSOCK",
        _ => return format!("{:#o}", mode),
    };
    let mut s = format!("{kind}|{:04o}", mode & 0o7777);
    if mode & 0o7000 == 0 {
        s = format!("{kind}|0{:03o}", mode & 0o777);
    }
    s
}

fn timespec(addr: u64, w: &mut StructWriter) -> bool {
    let Some([sec, nsec]) = read::<[i64; 2]>(addr) else { return false };
    w.text(format_args!("{{tv_sec={sec}, tv_nsec={nsec}}}"));
    true
}

fn timeval(addr: u64, w: &mut StructWriter) -> bool {
    let Some([sec, usec]) = read::<[i64; 2]>(addr) else { return false };
    w.text(format_args!("{{tv_sec={sec}, tv_usec={usec}}}"));
    true
}

fn itimerval(addr: u64, w: &mut StructWriter) -> bool {
    let Some([is, iu, vs, vu]) = read::<[i64; 4]>(addr) else { return false };
    w.text(format_args!("{{it_interval={{tv_sec={is}, tv_usec={iu}}}, it_value={{tv_sec={vs}, tv_usec={vu}}}}}"));
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

const SA_FLAGS: &[(u64, &str)] = &[
    (0x0000_0001, "SA_NOCLDSTOP"),
    (0x0000_0002, "SA_NOCLDWAIT"),
    (0x0000_0004, "SA_SIGINFO"),
    (0x0400_0000, "SA_RESTORER"),
    (0x0800_0000, "SA_ONSTACK"),
    (0x1000_0000, "SA_RESTART"),
    (0x4000_0000, "SA_NODEFER"),
    (0x8000_0000, "SA_RESETHAND"),
];

fn sa_flags(flags: u64) -> String {
    let mut parts: Vec<String> = SA_FLAGS.iter().filter(|(b, _)| flags & b != 0).map(|(_, n)| n.to_string()).collect();
    let rest = flags & !SA_FLAGS.iter().fold(0, |m, (b, _)| m | b);
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    if parts.is_empty() {
        "0".into()
    } else {
        parts.join("|")
    }
}

/// `[INT TERM]`, or `~[...]` for the complement when most signals are in.
fn signal_set(mask: u64) -> String {
    let name = |sig: i32| super::signal_name(sig).trim_start_matches("SIG").to_string();
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

fn rusage(addr: u64, w: &mut StructWriter) -> bool {
    let Some(r) = read::<[i64; 18]>(addr) else { return false };
    w.text(format_args!(
        "{{ru_utime={{tv_sec={}, tv_usec={}}}, ru_stime={{tv_sec={}, tv_usec={}}}, ru_maxrss={}, ...}}",
        r[0], r[1], r[2], r[3], r[4]
    ));
    true
}

fn sysinfo(addr: u64, w: &mut StructWriter) -> bool {
    let Some(s) = read::<[u64; 5]>(addr) else { return false };
    w.text(format_args!("{{uptime={}, loads=[{}, {}, {}], totalram={}, ...}}", s[0] as i64, s[1], s[2], s[3], s[4]));
    true
}

fn tms(addr: u64, w: &mut StructWriter) -> bool {
    let Some([u, s, cu, cs]) = read::<[i64; 4]>(addr) else { return false };
    w.text(format_args!("{{tms_utime={u}, tms_stime={s}, tms_cutime={cu}, tms_cstime={cs}}}"));
    true
}

fn sockaddr(addr: u64, w: &mut StructWriter) -> bool {
    let Some(family) = read::<u16>(addr) else { return false };
    match family as i32 {
        libc::AF_UNIX => {
            let Some(raw) = read::<[u8; 108]>(addr + 2) else { return false };
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            w.text(format_args!("{{sa_family=AF_UNIX, sun_path="));
            w.quoted(&raw[..end]);
            w.text(format_args!("}}"));
        }
        libc::AF_INET => {
            let Some(raw) = read::<[u8; 6]>(addr + 2) else { return false };
            let port = u16::from_be_bytes([raw[0], raw[1]]);
            w.text(format_args!(
                "{{sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr(\"{}.{}.{}.{}\")}}",
                raw[2], raw[3], raw[4], raw[5]
            ));
        }
        libc::AF_INET6 => {
            let Some(raw) = read::<[u8; 22]>(addr + 2) else { return false };
            let port = u16::from_be_bytes([raw[0], raw[1]]);
            let ip = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&raw[6..22]).unwrap());
            w.text(format_args!("{{sa_family=AF_INET6, sin6_port=htons({port}), sin6_addr=\"{ip}\"}}"));
        }
        f => w.text(format_args!("{{sa_family={f}, ...}}")),
    }
    true
}
