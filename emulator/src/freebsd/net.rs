//! FreeBSD's sockets on Linux's: addresses with their length byte (and
//! AF_INET6 = 28), SOCK_CLOEXEC and SOCK_NONBLOCK, socket options by level
//! (SOL_SOCKET is 0xffff) and name, message flags, and `struct msghdr` with
//! SCM_RIGHTS control messages.

use super::numbers;
use crate::call::Call;
use crate::memory::guest;
use crate::sys::{Errno, SysResult};

const AF_UNSPEC: u8 = 0;
const AF_UNIX: u8 = 1;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 28;
const SOCK_CLOEXEC: u64 = 0x1000_0000;
const SOCK_NONBLOCK: u64 = 0x2000_0000;
/// sockaddr_un's sun_path, and the largest address FreeBSD takes.
const SUN_PATH: usize = 104;
const SOCK_MAXADDRLEN: usize = 255;

fn family_to_host(f: u64) -> Result<u64, Errno> {
    Ok(match f as u32 as u8 {
        AF_UNSPEC => libc::AF_UNSPEC,
        AF_UNIX => libc::AF_UNIX,
        AF_INET => libc::AF_INET,
        AF_INET6 => libc::AF_INET6,
        _ => return Err(Errno(libc::EAFNOSUPPORT)),
    } as u64)
}

fn family_to_guest(f: i32) -> u8 {
    match f {
        libc::AF_UNIX => AF_UNIX,
        libc::AF_INET => AF_INET,
        libc::AF_INET6 => AF_INET6,
        _ => AF_UNSPEC,
    }
}

/// A socket type with FreeBSD's flags as Linux's.
fn type_to_host(t: u64) -> Result<u64, Errno> {
    let t = t as u32 as u64;
    let kind = t & !(SOCK_CLOEXEC | SOCK_NONBLOCK);
    if !(1..=5).contains(&kind) {
        return Err(Errno(libc::EPROTOTYPE));
    }
    Ok(kind | accept_flags_to_host(t & (SOCK_CLOEXEC | SOCK_NONBLOCK)))
}

fn accept_flags_to_host(f: u64) -> u64 {
    let mut h = 0;
    if f & SOCK_CLOEXEC != 0 {
        h |= libc::SOCK_CLOEXEC as u64;
    }
    if f & SOCK_NONBLOCK != 0 {
        h |= libc::SOCK_NONBLOCK as u64;
    }
    h
}

/// A guest address as the host's, in a buffer of ours.
fn address_to_host(at: u64, len: u64) -> Result<Vec<u8>, Errno> {
    let len = len as u32 as usize;
    if !(2..=SOCK_MAXADDRLEN).contains(&len) {
        return Err(Errno::EINVAL);
    }
    let mut g = vec![0u8; len];
    guest::read(at, &mut g)?;
    let family = family_to_host(g[1] as u64)? as u16;
    let mut h = family.to_le_bytes().to_vec();
    match g[1] {
        AF_UNIX => {
            let path = &g[2..];
            let path = &path[..path.iter().position(|&b| b == 0).unwrap_or(path.len())];
            h.extend_from_slice(path);
            h.push(0);
        }
        _ => h.extend_from_slice(&g[2..]),
    }
    Ok(h)
}

/// A host address (`len` bytes of `host`) written for the guest at `at`,
/// with its length at `lenp` (which holds the room there), as FreeBSD's
/// kernel gives it: with sa_len, truncated to the room, the full length in
/// *lenp. An unnamed AF_UNIX address is FreeBSD's sun_noname.
fn address_to_guest(host: &[u8], at: u64, lenp: u64) -> Result<(), Errno> {
    if at == 0 || lenp == 0 {
        return Ok(());
    }
    let room = guest::read_val::<u32>(lenp)? as usize;
    let family = if host.len() >= 2 { i32::from(u16::from_le_bytes([host[0], host[1]])) } else { libc::AF_UNSPEC };
    let mut g = vec![0u8, family_to_guest(family)];
    match family {
        libc::AF_UNIX => {
            let path = &host[2..];
            let path = &path[..path.iter().position(|&b| b == 0).unwrap_or(path.len())];
            if path.is_empty() {
                g.resize(16, 0);
            } else {
                g.extend_from_slice(&path[..path.len().min(SUN_PATH - 1)]);
                g.push(0);
            }
        }
        _ => g.extend_from_slice(host.get(2..).unwrap_or_default()),
    }
    g[0] = g.len() as u8;
    guest::write(at, &g[..g.len().min(room)])?;
    guest::write_val(lenp, &(g.len() as u32))
}

pub fn socket(call: &mut Call) -> SysResult {
    let [domain, kind, protocol, ..] = call.args;
    let domain = family_to_host(domain)?;
    let kind = type_to_host(kind)?;
    call.host_with(libc::SYS_socket, [domain, kind, protocol as u32 as u64, 0, 0, 0])
}

pub fn socketpair(call: &mut Call) -> SysResult {
    let [domain, kind, protocol, sv, ..] = call.args;
    let domain = family_to_host(domain)?;
    let kind = type_to_host(kind)?;
    call.host_with(libc::SYS_socketpair, [domain, kind, protocol as u32 as u64, sv, 0, 0])
}

fn with_address(call: &mut Call, nr: i64) -> SysResult {
    let [fd, addr, len, ..] = call.args;
    let host = address_to_host(addr, len)?;
    call.host_with(nr, [fd as u32 as u64, host.as_ptr() as u64, host.len() as u64, 0, 0, 0])
}

pub fn bind(call: &mut Call) -> SysResult {
    with_address(call, libc::SYS_bind)
}

pub fn connect(call: &mut Call) -> SysResult {
    with_address(call, libc::SYS_connect)
}

/// Room for any host address.
fn address_buffer() -> (Vec<u8>, u32) {
    (vec![0u8; 128], 128)
}

fn accept_with(call: &mut Call, flags: u64) -> SysResult {
    let [fd, addr, lenp, ..] = call.args;
    let (mut host, mut len) = address_buffer();
    let fd = call.host_with(
        libc::SYS_accept4,
        [fd as u32 as u64, host.as_mut_ptr() as u64, &mut len as *mut u32 as u64, flags, 0, 0],
    )?;
    host.truncate(len as usize);
    address_to_guest(&host, addr, lenp)?;
    Ok(fd)
}

pub fn accept(call: &mut Call) -> SysResult {
    accept_with(call, 0)
}

pub fn accept4(call: &mut Call) -> SysResult {
    let flags = call.args[3] as u32 as u64;
    if flags & !(SOCK_CLOEXEC | SOCK_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    accept_with(call, accept_flags_to_host(flags))
}

fn name_of(call: &mut Call, nr: i64) -> SysResult {
    let [fd, addr, lenp, ..] = call.args;
    let (mut host, mut len) = address_buffer();
    call.host_with(nr, [fd as u32 as u64, host.as_mut_ptr() as u64, &mut len as *mut u32 as u64, 0, 0, 0])?;
    host.truncate(len as usize);
    address_to_guest(&host, addr, lenp)?;
    Ok(0)
}

pub fn getsockname(call: &mut Call) -> SysResult {
    name_of(call, libc::SYS_getsockname)
}

pub fn getpeername(call: &mut Call) -> SysResult {
    name_of(call, libc::SYS_getpeername)
}

/// FreeBSD's MSG_* flags and Linux's.
const MSG_FLAGS: [(u32, i32); 11] = [
    (0x1, libc::MSG_OOB),
    (0x2, libc::MSG_PEEK),
    (0x4, libc::MSG_DONTROUTE),
    (0x8, libc::MSG_EOR),
    (0x10, libc::MSG_TRUNC),
    (0x20, libc::MSG_CTRUNC),
    (0x40, libc::MSG_WAITALL),
    (0x80, libc::MSG_DONTWAIT),
    (0x2_0000, libc::MSG_NOSIGNAL),
    (0x4_0000, libc::MSG_CMSG_CLOEXEC),
    (0x8_0000, libc::MSG_WAITFORONE),
];

fn msg_flags_to_host(f: u64) -> u64 {
    MSG_FLAGS.iter().filter(|(g, _)| f as u32 & g != 0).fold(0, |m, (_, h)| m | *h as u32 as u64)
}

fn msg_flags_to_guest(f: i32) -> u32 {
    MSG_FLAGS.iter().filter(|(_, h)| f & h != 0).fold(0, |m, (g, _)| m | g)
}

pub fn sendto(call: &mut Call) -> SysResult {
    let [fd, buf, len, flags, to, tolen, ..] = call.args;
    let flags = msg_flags_to_host(flags);
    if to == 0 {
        return call.host_with(libc::SYS_sendto, [fd as u32 as u64, buf, len, flags, 0, 0]);
    }
    let host = address_to_host(to, tolen)?;
    call.host_with(libc::SYS_sendto, [fd as u32 as u64, buf, len, flags, host.as_ptr() as u64, host.len() as u64])
}

pub fn recvfrom(call: &mut Call) -> SysResult {
    let [fd, buf, len, flags, from, fromlenp, ..] = call.args;
    let flags = msg_flags_to_host(flags);
    let (mut host, mut hlen) = address_buffer();
    let n = call.host_with(
        libc::SYS_recvfrom,
        [fd as u32 as u64, buf, len, flags, host.as_mut_ptr() as u64, &mut hlen as *mut u32 as u64],
    )?;
    host.truncate(hlen as usize);
    if from != 0 && !host.is_empty() {
        address_to_guest(&host, from, fromlenp)?;
    } else if fromlenp != 0 && from != 0 {
        guest::write_val(fromlenp, &0u32)?;
    }
    Ok(n)
}

/// FreeBSD's struct msghdr (48 bytes): namelen, iovlen and controllen are 32-bit.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Msghdr {
    name: u64,
    namelen: u32,
    pad0: u32,
    iov: u64,
    iovlen: i32,
    pad1: i32,
    control: u64,
    controllen: u32,
    flags: i32,
}
// SAFETY: integers only.
unsafe impl guest::Pod for Msghdr {}

/// FreeBSD's control messages (a 12-byte header, data 8-byte aligned) as
/// Linux's (a 16-byte header): SCM_RIGHTS and SCM_CREDS-free data only.
fn control_to_host(g: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    let mut at = 0;
    while at + 12 <= g.len() {
        let len = u32::from_le_bytes(g[at..at + 4].try_into().unwrap()) as usize;
        let level = i32::from_le_bytes(g[at + 4..at + 8].try_into().unwrap());
        let kind = i32::from_le_bytes(g[at + 8..at + 12].try_into().unwrap());
        if len < 12 || at + len > g.len() {
            break;
        }
        let data = &g[(at + 16).min(at + len)..at + len];
        let level = if level == 0xffff { libc::SOL_SOCKET } else { level };
        let hlen = 16 + data.len();
        h.extend_from_slice(&(hlen as u64).to_le_bytes());
        h.extend_from_slice(&level.to_le_bytes());
        h.extend_from_slice(&kind.to_le_bytes());
        h.extend_from_slice(data);
        h.resize(h.len().next_multiple_of(8), 0);
        at += len.next_multiple_of(8);
    }
    h
}

fn control_to_guest(h: &[u8]) -> Vec<u8> {
    let mut g = Vec::new();
    let mut at = 0;
    while at + 16 <= h.len() {
        let len = u64::from_le_bytes(h[at..at + 8].try_into().unwrap()) as usize;
        let level = i32::from_le_bytes(h[at + 8..at + 12].try_into().unwrap());
        let kind = i32::from_le_bytes(h[at + 12..at + 16].try_into().unwrap());
        if len < 16 || at + len > h.len() {
            break;
        }
        let data = &h[at + 16..at + len];
        let level = if level == libc::SOL_SOCKET { 0xffff } else { level };
        g.extend_from_slice(&((16 + data.len()) as u32).to_le_bytes());
        g.extend_from_slice(&level.to_le_bytes());
        g.extend_from_slice(&kind.to_le_bytes());
        g.extend_from_slice(&[0u8; 4]);
        g.extend_from_slice(data);
        g.resize(g.len().next_multiple_of(8), 0);
        at += len.next_multiple_of(8);
    }
    g
}

pub fn sendmsg(call: &mut Call) -> SysResult {
    let [fd, msg, flags, ..] = call.args;
    let m: Msghdr = guest::read_val(msg)?;
    let name = if m.name != 0 { address_to_host(m.name, m.namelen as u64)? } else { Vec::new() };
    let mut control = vec![0u8; (m.controllen as usize).min(1 << 16)];
    guest::read(m.control, &mut control)?;
    let control = control_to_host(&control);
    // SAFETY: zeroes are a valid msghdr.
    let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
    h.msg_name = if name.is_empty() { std::ptr::null_mut() } else { name.as_ptr() as *mut _ };
    h.msg_namelen = name.len() as u32;
    h.msg_iov = guest::for_host(m.iov, 16 * m.iovlen.max(0) as u64) as *mut _;
    h.msg_iovlen = m.iovlen.max(0) as usize;
    h.msg_control = if control.is_empty() { std::ptr::null_mut() } else { control.as_ptr() as *mut _ };
    h.msg_controllen = control.len();
    call.host_with(libc::SYS_sendmsg, [fd as u32 as u64, &h as *const _ as u64, msg_flags_to_host(flags), 0, 0, 0])
}

pub fn recvmsg(call: &mut Call) -> SysResult {
    let [fd, msg, flags, ..] = call.args;
    let m: Msghdr = guest::read_val(msg)?;
    let (mut name, _) = address_buffer();
    let mut control = vec![0u8; (m.controllen as usize).min(1 << 16) * 2];
    // SAFETY: zeroes are a valid msghdr.
    let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
    h.msg_name = name.as_mut_ptr() as *mut _;
    h.msg_namelen = name.len() as u32;
    h.msg_iov = guest::for_host(m.iov, 16 * m.iovlen.max(0) as u64) as *mut _;
    h.msg_iovlen = m.iovlen.max(0) as usize;
    h.msg_control = if control.is_empty() { std::ptr::null_mut() } else { control.as_mut_ptr() as *mut _ };
    h.msg_controllen = control.len();
    let n = call
        .host_with(libc::SYS_recvmsg, [fd as u32 as u64, &mut h as *mut _ as u64, msg_flags_to_host(flags), 0, 0, 0])?;
    let mut out = m;
    if m.name != 0 {
        name.truncate(h.msg_namelen as usize);
        let lenp = msg + 8;
        if name.is_empty() {
            out.namelen = 0;
        } else {
            address_to_guest(&name, m.name, lenp)?;
            out.namelen = guest::read_val(lenp)?;
        }
    }
    let control = control_to_guest(&control[..h.msg_controllen]);
    let room = m.controllen as usize;
    guest::write(m.control, &control[..control.len().min(room)])?;
    out.controllen = control.len().min(room) as u32;
    out.flags = msg_flags_to_guest(h.msg_flags) as i32;
    if control.len() > room {
        out.flags |= 0x20; // MSG_CTRUNC
    }
    guest::write_val(msg, &out)?;
    Ok(n)
}

/// A socket option: FreeBSD's level and name, as Linux's.
fn option_to_host(level: u64, name: u64) -> Option<(i32, i32)> {
    let (level, name) = (level as u32 as i32, name as u32 as i32);
    let host = match level {
        0xffff => (
            libc::SOL_SOCKET,
            match name {
                0x1 => libc::SO_DEBUG,
                0x2 => libc::SO_ACCEPTCONN,
                0x4 => libc::SO_REUSEADDR,
                0x8 => libc::SO_KEEPALIVE,
                0x10 => libc::SO_DONTROUTE,
                0x20 => libc::SO_BROADCAST,
                0x80 => libc::SO_LINGER,
                0x100 => libc::SO_OOBINLINE,
                0x200 | 0x10000 => libc::SO_REUSEPORT,
                0x400 => libc::SO_TIMESTAMP,
                0x1001 => libc::SO_SNDBUF,
                0x1002 => libc::SO_RCVBUF,
                0x1003 => libc::SO_SNDLOWAT,
                0x1004 => libc::SO_RCVLOWAT,
                0x1005 => libc::SO_SNDTIMEO,
                0x1006 => libc::SO_RCVTIMEO,
                0x1007 => libc::SO_ERROR,
                0x1008 => libc::SO_TYPE,
                0x1016 => libc::SO_PROTOCOL,
                0x1019 => libc::SO_DOMAIN,
                _ => return None,
            },
        ),
        libc::IPPROTO_TCP => (
            level,
            match name {
                0x1 => libc::TCP_NODELAY,
                0x2 => libc::TCP_MAXSEG,
                0x4 => libc::TCP_CORK,
                0x100 => libc::TCP_KEEPIDLE,
                0x200 => libc::TCP_KEEPINTVL,
                0x400 => libc::TCP_KEEPCNT,
                0x401 => libc::TCP_FASTOPEN,
                _ => return None,
            },
        ),
        libc::IPPROTO_IP => (
            level,
            match name {
                3 => libc::IP_TOS,
                4 => libc::IP_TTL,
                9 => libc::IP_MULTICAST_IF,
                10 => libc::IP_MULTICAST_TTL,
                11 => libc::IP_MULTICAST_LOOP,
                12 => libc::IP_ADD_MEMBERSHIP,
                13 => libc::IP_DROP_MEMBERSHIP,
                _ => return None,
            },
        ),
        libc::IPPROTO_IPV6 => (
            level,
            match name {
                4 => libc::IPV6_UNICAST_HOPS,
                9 => libc::IPV6_MULTICAST_IF,
                10 => libc::IPV6_MULTICAST_HOPS,
                11 => libc::IPV6_MULTICAST_LOOP,
                12 => libc::IPV6_ADD_MEMBERSHIP,
                13 => libc::IPV6_DROP_MEMBERSHIP,
                27 => libc::IPV6_V6ONLY,
                36 => libc::IPV6_RECVPKTINFO,
                61 => libc::IPV6_TCLASS,
                _ => return None,
            },
        ),
        _ => return None,
    };
    Some(host)
}

/// Options that only tune FreeBSD (the port range a bind picks from,
/// SO_NOSIGPIPE), accepted and left to Linux's defaults.
fn ignored_option(level: u64, name: u64) -> bool {
    matches!((level as u32, name as u32), (0, 19) | (41, 14) | (0xffff, 0x800))
}

pub fn setsockopt(call: &mut Call) -> SysResult {
    let [fd, level, name, val, len, ..] = call.args;
    if ignored_option(level, name) {
        return Ok(0);
    }
    let (hl, hn) = option_to_host(level, name).ok_or(Errno(libc::ENOPROTOOPT))?;
    call.host_with(libc::SYS_setsockopt, [fd as u32 as u64, hl as u64, hn as u64, val, len as u32 as u64, 0])
}

pub fn getsockopt(call: &mut Call) -> SysResult {
    let [fd, level, name, val, lenp, ..] = call.args;
    let (hl, hn) = option_to_host(level, name).ok_or(Errno(libc::ENOPROTOOPT))?;
    call.host_with(libc::SYS_getsockopt, [fd as u32 as u64, hl as u64, hn as u64, val, lenp, 0])?;
    // Values that are numbers of another kind: an errno, an address family.
    if hl == libc::SOL_SOCKET && (hn == libc::SO_ERROR || hn == libc::SO_DOMAIN) && val != 0 {
        let v: i32 = guest::read_val(val)?;
        let g = if hn == libc::SO_ERROR { numbers::errno_to_guest(v) } else { family_to_guest(v) as i32 };
        guest::write_val(val, &if v == 0 { 0 } else { g })?;
    }
    Ok(0)
}

/// sendfile(fd, s, offset, nbytes, hdtr, sbytes, flags): the headers of
/// `struct sf_hdtr` written first, then the file from `offset` (nbytes 0:
/// to its end) with Linux's sendfile, then the trailers; the count sent
/// goes to *sbytes, also when a non-blocking socket stops it (EAGAIN).
pub fn sendfile(call: &mut Call) -> SysResult {
    let [fd, s, offset, nbytes, hdtr, sbytes, ..] = call.args;
    let (fd, s) = (fd as u32 as u64, s as u32 as u64);
    let [headers, hdr_cnt, trailers, trl_cnt]: [u64; 4] = if hdtr != 0 { guest::read_val(hdtr)? } else { [0; 4] };
    let mut sent = 0u64;
    let result = (|| -> Result<(), Errno> {
        if headers != 0 && hdr_cnt as i32 > 0 {
            let iov = guest::for_host(headers, 16 * hdr_cnt);
            sent += call.host_with(libc::SYS_writev, [s, iov, hdr_cnt as u32 as u64, 0, 0, 0])?;
        }
        let mut off = offset as i64;
        let mut body = 0u64;
        loop {
            let want = if nbytes == 0 { 1 << 30 } else { nbytes - body };
            if want == 0 {
                break;
            }
            let n = call.host_with(libc::SYS_sendfile, [s, fd, &mut off as *mut i64 as u64, want, 0, 0])?;
            if n == 0 {
                break;
            }
            body += n;
            sent += n;
        }
        if trailers != 0 && trl_cnt as i32 > 0 {
            let iov = guest::for_host(trailers, 16 * trl_cnt);
            sent += call.host_with(libc::SYS_writev, [s, iov, trl_cnt as u32 as u64, 0, 0, 0])?;
        }
        Ok(())
    })();
    if sbytes != 0 {
        guest::write_val(sbytes, &sent)?;
    }
    match result {
        Ok(()) => Ok(0),
        // As FreeBSD: a partial send is success unless the socket would
        // block or a signal came, which are reported with *sbytes set.
        Err(e) if sent == 0 || e == Errno::EAGAIN || e == Errno::EINTR => Err(e),
        Err(_) => Ok(0),
    }
}
