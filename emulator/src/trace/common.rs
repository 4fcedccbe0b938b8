//! Layouts and spellings the x86-64 ABIs share, for the personalities'
//! trace decoders: time structures, rusage, a pair of descriptors, file
//! modes, dates, socket addresses after their family, flag lists.

use crate::memory::guest::{self, Pod};
use crate::trace::StructWriter;

fn read<T: Pod>(addr: u64) -> Option<T> {
    guest::read_val(addr).ok()
}

/// C's "%#03o": 000, 007, 0644.
pub fn octal(v: u32) -> String {
    format!("{:0>3}", format!("0{v:o}"))
}

/// `S_IFREG|0644`, `S_IFDIR|S_ISVTX|0777`, as strace's print_symbolic_mode_t.
pub fn file_mode(mode: u32) -> String {
    let kind = match mode & libc::S_IFMT {
        libc::S_IFREG => "S_IFREG",
        libc::S_IFDIR => "S_IFDIR",
        libc::S_IFCHR => "S_IFCHR",
        libc::S_IFBLK => "S_IFBLK",
        libc::S_IFIFO => "S_IFIFO",
        libc::S_IFLNK => "S_IFLNK",
        libc::S_IFSOCK => "S_IFSOCK",
        _ => return octal(mode),
    };
    let mut s = format!("{kind}|");
    for (bit, name) in [(libc::S_ISUID, "S_ISUID|"), (libc::S_ISGID, "S_ISGID|"), (libc::S_ISVTX, "S_ISVTX|")] {
        if mode & bit != 0 {
            s.push_str(name);
        }
    }
    s + &octal(mode & 0o777)
}

pub fn timespec(addr: u64, w: &mut StructWriter) -> bool {
    let Some([sec, nsec]) = read::<[i64; 2]>(addr) else { return false };
    w.text(format_args!("{{tv_sec={sec}, tv_nsec={nsec}}}"));
    true
}

pub fn timeval(addr: u64, w: &mut StructWriter) -> bool {
    let Some([sec, usec]) = read::<[i64; 2]>(addr) else { return false };
    w.text(format_args!("{{tv_sec={sec}, tv_usec={usec}}}"));
    true
}

pub fn itimerval(addr: u64, w: &mut StructWriter) -> bool {
    let Some([is, iu, vs, vu]) = read::<[i64; 4]>(addr) else { return false };
    w.text(format_args!("{{it_interval={{tv_sec={is}, tv_usec={iu}}}, it_value={{tv_sec={vs}, tv_usec={vu}}}}}"));
    true
}

pub fn rusage(addr: u64, w: &mut StructWriter) -> bool {
    let Some(r) = read::<[i64; 18]>(addr) else { return false };
    w.text(format_args!(
        "{{ru_utime={{tv_sec={}, tv_usec={}}}, ru_stime={{tv_sec={}, tv_usec={}}}, ...}}",
        r[0], r[1], r[2], r[3]
    ));
    true
}

/// pipe's two descriptors: `[3, 4]`.
pub fn fdpair(addr: u64, w: &mut StructWriter) -> bool {
    let Some([a, b]) = read::<[i32; 2]>(addr) else { return false };
    w.text(format_args!("[{a}, {b}]"));
    true
}

/// Local time as strace's sprinttime_nsec: `2020-01-01T04:31:40+0000`.
pub fn date(sec: i64, nsec: i64) -> String {
    let Some(tm) = crate::sys::local_time(sec) else {
        return sec.to_string();
    };
    let mut buf = [0u8; 64];
    let fmt = b"%Y-%m-%dT%H:%M:%S\0";
    // SAFETY: strftime writes at most buf.len() bytes.
    let n = unsafe {
        libc::strftime(buf.as_mut_ptr() as *mut libc::c_char, buf.len(), fmt.as_ptr() as *const libc::c_char, &tm)
    };
    let mut s = String::from_utf8_lossy(&buf[..n]).into_owned();
    if nsec != 0 {
        s.push_str(&format!(".{nsec:09}"));
    }
    let off = tm.tm_gmtoff;
    s.push_str(&format!("{}{:02}{:02}", if off < 0 { '-' } else { '+' }, off.abs() / 3600, off.abs() % 3600 / 60));
    s
}

/// `A|B|0x40`, names in the list's order, then the bits no name covers;
/// `0` for none.
pub fn flag_names(flags: u64, names: &[(u64, &str)]) -> String {
    let mut parts: Vec<String> = names.iter().filter(|(b, _)| flags & b != 0).map(|(_, n)| n.to_string()).collect();
    let rest = flags & !names.iter().fold(0, |m, (b, _)| m | b);
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    if parts.is_empty() {
        "0".into()
    } else {
        parts.join("|")
    }
}

/// A socket address after its family field, which is 2 bytes in every
/// layout here (Linux's u16 family; the BSDs' length and family bytes):
/// AF_UNIX's path (`path_max` bytes), AF_INET's and AF_INET6's port and
/// address.
pub fn sockaddr_body(addr: u64, family: SockFamily, w: &mut StructWriter) -> bool {
    match family {
        SockFamily::Unix { path_max } => {
            let mut raw = vec![0u8; path_max];
            if guest::read(addr + 2, &mut raw).is_err() {
                return false;
            }
            let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
            w.text(format_args!("{{sa_family=AF_UNIX, sun_path="));
            w.quoted(&raw[..end]);
            w.text(format_args!("}}"));
        }
        SockFamily::Inet => {
            let Some(raw) = read::<[u8; 6]>(addr + 2) else { return false };
            let port = u16::from_be_bytes([raw[0], raw[1]]);
            w.text(format_args!(
                "{{sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr(\"{}.{}.{}.{}\")}}",
                raw[2], raw[3], raw[4], raw[5]
            ));
        }
        SockFamily::Inet6 => {
            let Some(raw) = read::<[u8; 22]>(addr + 2) else { return false };
            let port = u16::from_be_bytes([raw[0], raw[1]]);
            let ip = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&raw[6..22]).unwrap());
            w.text(format_args!("{{sa_family=AF_INET6, sin6_port=htons({port}), sin6_addr=\"{ip}\"}}"));
        }
        SockFamily::Other(f) => w.text(format_args!("{{sa_family={f}, ...}}")),
    }
    true
}

/// A socket address family, as a personality decoded it.
pub enum SockFamily {
    Unix { path_max: usize },
    Inet,
    Inet6,
    Other(u32),
}

/// A directory-entries buffer (Linux's getdents/getdents64, FreeBSD's
/// getdirentries): the address and how many entries the call returned.
pub fn dirents(addr: u64, w: &mut StructWriter) -> bool {
    let Some(len) = w.result.filter(|&r| r >= 0) else { return false };
    let (mut off, mut n) = (0u64, 0u64);
    while off < len as u64 {
        // d_reclen, after a 64-bit inode and offset, in all three layouts.
        let Some(reclen) = read::<u16>(addr + off + 16) else { return false };
        if reclen == 0 {
            break;
        }
        off += reclen as u64;
        n += 1;
    }
    w.text(format_args!("{addr:#x} /* {n} entries */"));
    true
}

/// A wait status, when a child was reported: `[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]`.
/// `continued` is the system's WIFCONTINUED value; `name` names a signal.
pub fn wait_status(addr: u64, w: &mut StructWriter, continued: i32, name: impl Fn(i32) -> String) -> bool {
    if w.result.is_none_or(|r| r <= 0) {
        return false;
    }
    let Some(s) = read::<i32>(addr) else { return false };
    let text = if s & 0x7f == 0 {
        format!("WIFEXITED(s) && WEXITSTATUS(s) == {}", (s >> 8) & 0xff)
    } else if s & 0xff == 0x7f {
        format!("WIFSTOPPED(s) && WSTOPSIG(s) == {}", name((s >> 8) & 0xff))
    } else if s == continued {
        "WIFCONTINUED(s)".to_string()
    } else {
        let core = if s & 0x80 != 0 { " && WCOREDUMP(s)" } else { "" };
        format!("WIFSIGNALED(s) && WTERMSIG(s) == {}{core}", name(s & 0x7f))
    };
    w.text(format_args!("[{{{text}}}]"));
    true
}
