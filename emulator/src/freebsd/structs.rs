//! FreeBSD amd64 structures, summarised for traces as FreeBSD's truss and
//! strace-style tools show them.

use crate::memory::guest::{self, Pod};
use crate::personality::StructDecoder;
use crate::trace::common::SockFamily;
use crate::trace::common::{
    dirents, fdpair, file_mode, flag_names, itimerval, rusage, sockaddr_body, timespec, timeval, wait_status,
};
use crate::trace::StructWriter;

pub fn decoder(name: &str) -> Option<StructDecoder> {
    Some(match name {
        "timespec" => timespec,
        "timeval" => timeval,
        "itimerval" => itimerval,
        "rusage" => rusage,
        "fdpair" => fdpair,
        "sigset" => sigset,
        "sigaction" => sigaction,
        "stack" => stack,
        "rlimit" => rlimit,
        "stat" => stat,
        "statfs" => statfs,
        "sockaddr" => sockaddr,
        "wstatus" => wstatus,
        "kevent" => kevent,
        "thr_param" => thr_param,
        "ucontext" => ucontext,
        "dirents" => dirents,
        _ => return None,
    })
}

fn read<T: Pod>(addr: u64) -> Option<T> {
    guest::read_val(addr).ok()
}

fn signal_name(sig: i32) -> String {
    use crate::personality::Personality;
    super::FREEBSD.guest_signal_name(sig).to_string()
}

/// `[INT TERM]`, or `~[...]` for the complement when most signals are in.
fn signal_set(words: [u32; 4]) -> String {
    let bit = |w: [u32; 4], s: i32| w[(s as usize - 1) / 32] & (1 << ((s - 1) % 32)) != 0;
    let count: u32 = words.iter().map(|w| w.count_ones()).sum();
    let (prefix, set) = if count > 64 { ("~", words.map(|w| !w)) } else { ("", words) };
    let names: Vec<String> =
        (1..=128).filter(|&s| bit(set, s)).map(|s| signal_name(s).trim_start_matches("SIG").to_string()).collect();
    format!("{prefix}[{}]", names.join(" "))
}

fn sigset(addr: u64, w: &mut StructWriter) -> bool {
    let Some(words) = read::<[u32; 4]>(addr) else { return false };
    w.text(format_args!("{}", signal_set(words)));
    true
}

const SA_FLAGS: &[(u64, &str)] = &[
    (0x01, "SA_ONSTACK"),
    (0x02, "SA_RESTART"),
    (0x04, "SA_RESETHAND"),
    (0x08, "SA_NOCLDSTOP"),
    (0x10, "SA_NODEFER"),
    (0x20, "SA_NOCLDWAIT"),
    (0x40, "SA_SIGINFO"),
];

fn sigaction(addr: u64, w: &mut StructWriter) -> bool {
    let Some(raw) = read::<[u32; 8]>(addr) else { return false };
    let handler = raw[0] as u64 | (raw[1] as u64) << 32;
    let handler = match handler {
        0 => "SIG_DFL".to_string(),
        1 => "SIG_IGN".to_string(),
        h => format!("{h:#x}"),
    };
    let mask = [raw[3], raw[4], raw[5], raw[6]];
    w.text(format_args!(
        "{{sa_handler={handler}, sa_flags={}, sa_mask={}}}",
        flag_names(raw[2] as u64, SA_FLAGS),
        signal_set(mask)
    ));
    true
}

fn stack(addr: u64, w: &mut StructWriter) -> bool {
    let Some([sp, size, flags]) = read::<[u64; 3]>(addr) else { return false };
    let flags = flag_names(flags as u32 as u64, &[(1, "SS_ONSTACK"), (4, "SS_DISABLE")]);
    w.text(format_args!("{{ss_sp={sp:#x}, ss_size={size}, ss_flags={flags}}}"));
    true
}

fn rlim(v: u64) -> String {
    if v >= i64::MAX as u64 {
        "RLIM_INFINITY".into()
    } else {
        v.to_string()
    }
}

fn rlimit(addr: u64, w: &mut StructWriter) -> bool {
    let Some([cur, max]) = read::<[u64; 2]>(addr) else { return false };
    w.text(format_args!("{{rlim_cur={}, rlim_max={}}}", rlim(cur), rlim(max)));
    true
}

/// FreeBSD 12's struct stat: st_mode at 24, st_rdev at 40, st_size at 112.
fn stat(addr: u64, w: &mut StructWriter) -> bool {
    let Some(s) = read::<[u64; 16]>(addr) else { return false };
    let mode = s[3] as u16 as u32;
    let size = s[14] as i64;
    w.text(format_args!("{{st_mode={}, st_size={size}, ...}}", file_mode(mode)));
    true
}

fn statfs(addr: u64, w: &mut StructWriter) -> bool {
    let Some(name) = read::<[u8; 16]>(addr + 280) else { return false };
    let Some(s) = read::<[u64; 8]>(addr) else { return false };
    let end = name.iter().position(|&b| b == 0).unwrap_or(16);
    w.text(format_args!("{{f_fstypename="));
    w.quoted(&name[..end]);
    w.text(format_args!(", f_bsize={}, f_blocks={}, f_bfree={}, ...}}", s[2], s[4], s[5]));
    true
}

/// A sockaddr with its length byte: family at byte 1.
fn sockaddr(addr: u64, w: &mut StructWriter) -> bool {
    let Some([_len, family]) = read::<[u8; 2]>(addr) else { return false };
    let family = match family {
        1 => SockFamily::Unix { path_max: 104 },
        2 => SockFamily::Inet,
        28 => SockFamily::Inet6,
        f => SockFamily::Other(f as u32),
    };
    sockaddr_body(addr, family, w)
}

/// wait4's status (FreeBSD's: 0x13 for a continued child).
fn wstatus(addr: u64, w: &mut StructWriter) -> bool {
    wait_status(addr, w, 0x13, |sig| signal_name(sig).to_string())
}

fn kevent(addr: u64, w: &mut StructWriter) -> bool {
    let Some(k) = read::<[u64; 4]>(addr) else { return false };
    let filter = k[1] as u16 as i16;
    let flags = (k[1] >> 16) as u16;
    let filter = match filter {
        -1 => "EVFILT_READ".to_string(),
        -2 => "EVFILT_WRITE".to_string(),
        -5 => "EVFILT_PROC".to_string(),
        -6 => "EVFILT_SIGNAL".to_string(),
        -7 => "EVFILT_TIMER".to_string(),
        -11 => "EVFILT_USER".to_string(),
        f => f.to_string(),
    };
    const EV: &[(u64, &str)] = &[
        (0x1, "EV_ADD"),
        (0x2, "EV_DELETE"),
        (0x4, "EV_ENABLE"),
        (0x8, "EV_DISABLE"),
        (0x10, "EV_ONESHOT"),
        (0x20, "EV_CLEAR"),
        (0x40, "EV_RECEIPT"),
        (0x80, "EV_DISPATCH"),
        (0x4000, "EV_ERROR"),
        (0x8000, "EV_EOF"),
    ];
    w.text(format_args!(
        "{{ident={}, filter={filter}, flags={}, fflags={:#x}, data={}, udata={:#x}}}",
        k[0],
        flag_names(flags as u64, EV),
        (k[1] >> 32) as u32,
        k[2] as i64,
        k[3]
    ));
    true
}

fn thr_param(addr: u64, w: &mut StructWriter) -> bool {
    let Some(p) = read::<[u64; 8]>(addr) else { return false };
    w.text(format_args!(
        "{{start_func={:#x}, arg={:#x}, stack_base={:#x}, stack_size={:#x}, tls_base={:#x}, tls_size={}, child_tid={:#x}, parent_tid={:#x}, ...}}",
        p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]
    ));
    true
}

/// A ucontext handed to sigreturn: where it resumes, and the mask.
fn ucontext(addr: u64, w: &mut StructWriter) -> bool {
    let Some(mask) = read::<[u32; 4]>(addr) else { return false };
    let Some(rip) = read::<u64>(addr + 16 + 160) else { return false };
    let Some(rsp) = read::<u64>(addr + 16 + 184) else { return false };
    w.text(format_args!("{{mc_rip={rip:#x}, mc_rsp={rsp:#x}, uc_sigmask={}}}", signal_set(mask)));
    true
}
