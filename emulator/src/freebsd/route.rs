//! The routing sysctl {CTL_NET, PF_ROUTE, 0, af, NET_RT_IFLIST, index}:
//! the host's interfaces and their addresses as FreeBSD's routing messages
//! (`struct if_msghdr` with a link-level address, then `struct ifa_msghdr`
//! with netmask, address and broadcast address for each address), which
//! is how FreeBSD programs (Go's net.Interfaces) list interfaces.

use std::ffi::CStr;

pub const NET_RT_IFLIST: i32 = 3;
pub const NET_RT_IFMALIST: i32 = 4;

const RTM_VERSION: u8 = 5;
const RTM_NEWADDR: u8 = 0xc;
const RTM_IFINFO: u8 = 0xe;
const RTM_NEWMADDR: u8 = 0xf;
/// struct ifma_msghdr.
const IFMA_MSGHDR: usize = 16;
const RTA_NETMASK: i32 = 0x4;
const RTA_IFP: i32 = 0x10;
const RTA_IFA: i32 = 0x20;
const RTA_BRD: i32 = 0x80;
const AF_INET: u8 = 2;
const AF_LINK: u8 = 18;
const AF_INET6: u8 = 28;
const IFT_ETHER: u8 = 0x6;
const IFT_LOOP: u8 = 0x18;
const IFT_OTHER: u8 = 0x1;
/// struct if_msghdr (16 bytes, then struct if_data of 152).
const IF_MSGHDR: usize = 168;
/// struct ifa_msghdr.
const IFA_MSGHDR: usize = 20;
const IFF_MULTICAST_LINUX: u32 = 0x1000;
const IFF_MULTICAST_FREEBSD: u32 = 0x8000;

/// A sockaddr, padded to the 8 bytes the kernel aligns them to.
fn padded(mut sa: Vec<u8>) -> Vec<u8> {
    let len = sa.len().max(1).next_multiple_of(8);
    sa.resize(len, 0);
    sa
}

fn sockaddr_dl(index: u16, kind: u8, name: &[u8], mac: &[u8]) -> Vec<u8> {
    let mut sa = vec![0u8, AF_LINK];
    sa.extend_from_slice(&index.to_le_bytes());
    sa.extend_from_slice(&[kind, name.len() as u8, mac.len() as u8, 0]);
    sa.extend_from_slice(name);
    sa.extend_from_slice(mac);
    sa.resize(sa.len().max(20), 0);
    sa[0] = sa.len() as u8;
    padded(sa)
}

/// A host sockaddr (AF_INET or AF_INET6) in FreeBSD's form; `None` for others.
///
/// # Safety
/// `sa` is NULL or points at a sockaddr of its family's size.
unsafe fn sockaddr_inet(sa: *const libc::sockaddr) -> Option<Vec<u8>> {
    if sa.is_null() {
        return None;
    }
    match (*sa).sa_family as i32 {
        libc::AF_INET => {
            let sin = &*(sa as *const libc::sockaddr_in);
            let mut v = vec![16, AF_INET];
            v.extend_from_slice(&sin.sin_port.to_ne_bytes());
            v.extend_from_slice(&sin.sin_addr.s_addr.to_ne_bytes());
            v.resize(16, 0);
            Some(v)
        }
        libc::AF_INET6 => {
            let sin6 = &*(sa as *const libc::sockaddr_in6);
            let mut v = vec![28, AF_INET6];
            v.extend_from_slice(&sin6.sin6_port.to_ne_bytes());
            v.extend_from_slice(&sin6.sin6_flowinfo.to_ne_bytes());
            v.extend_from_slice(&sin6.sin6_addr.s6_addr);
            v.extend_from_slice(&sin6.sin6_scope_id.to_ne_bytes());
            Some(v)
        }
        _ => None,
    }
}

/// An address of an interface, its sockaddrs in FreeBSD's form.
struct Address {
    family: u8,
    netmask: Option<Vec<u8>>,
    address: Vec<u8>,
    broadcast: Option<Vec<u8>>,
}

struct Interface {
    index: u16,
    flags: u32,
    name: Vec<u8>,
    mac: Vec<u8>,
    kind: u8,
    mtu: u32,
    addresses: Vec<Address>,
}

fn mtu_of(name: &[u8]) -> u32 {
    // SAFETY: a socket of emu's, for one ioctl, closed again.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return 0;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, &b) in req.ifr_name.iter_mut().zip(name.iter().take(15)) {
            *d = b as libc::c_char;
        }
        let mtu = if libc::ioctl(s, libc::SIOCGIFMTU, &mut req) == 0 { req.ifr_ifru.ifru_mtu as u32 } else { 0 };
        libc::close(s);
        mtu
    }
}

fn interfaces() -> Vec<Interface> {
    let mut list: Vec<Interface> = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list emu frees below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return list;
    }
    let mut at = head;
    while !at.is_null() {
        // SAFETY: an entry of the list getifaddrs made.
        let ifa = unsafe { &*at };
        at = ifa.ifa_next;
        // SAFETY: a NUL-terminated name.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }.to_bytes().to_vec();
        // SAFETY: if_nametoindex reads the NUL-terminated name.
        let index = unsafe { libc::if_nametoindex(ifa.ifa_name) } as u16;
        let pos = match list.iter().position(|i| i.name == name) {
            Some(p) => p,
            None => {
                let flags = ifa.ifa_flags & !IFF_MULTICAST_LINUX
                    | if ifa.ifa_flags & IFF_MULTICAST_LINUX != 0 { IFF_MULTICAST_FREEBSD } else { 0 };
                let loopback = ifa.ifa_flags & libc::IFF_LOOPBACK as u32 != 0;
                list.push(Interface {
                    index,
                    flags,
                    mtu: mtu_of(&name),
                    name: name.clone(),
                    mac: Vec::new(),
                    kind: if loopback { IFT_LOOP } else { IFT_OTHER },
                    addresses: Vec::new(),
                });
                list.len() - 1
            }
        };
        let entry = &mut list[pos];
        if ifa.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: a sockaddr of the list, of its family's size.
        let family = unsafe { (*ifa.ifa_addr).sa_family } as i32;
        if family == libc::AF_PACKET {
            // SAFETY: an AF_PACKET entry's address is a sockaddr_ll.
            let ll = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_ll) };
            let len = (ll.sll_halen as usize).min(8);
            entry.mac = ll.sll_addr[..len].to_vec();
            if entry.kind == IFT_OTHER && len == 6 {
                entry.kind = IFT_ETHER;
            }
            continue;
        }
        // SAFETY: the list's sockaddrs, NULL or of their family's size.
        let (addr, mask, brd) = unsafe {
            let brd = if ifa.ifa_flags & libc::IFF_BROADCAST as u32 != 0 { sockaddr_inet(ifa.ifa_ifu) } else { None };
            (sockaddr_inet(ifa.ifa_addr), sockaddr_inet(ifa.ifa_netmask), brd)
        };
        if let Some(address) = addr {
            entry.addresses.push(Address { family: address[1], netmask: mask, address, broadcast: brd });
        }
    }
    // SAFETY: the list getifaddrs made, freed once.
    unsafe { libc::freeifaddrs(head) };
    list.sort_by_key(|i| i.index);
    list
}

/// The host's multicast memberships (/proc/net/igmp, /proc/net/igmp6):
/// (interface index, group address in FreeBSD's form).
fn memberships() -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    let mut index = 0u16;
    for line in std::fs::read_to_string("/proc/net/igmp").unwrap_or_default().lines().skip(1) {
        if let Some(group) = line.strip_prefix('\t').and_then(|l| l.split_whitespace().next()) {
            if let Ok(g) = u32::from_str_radix(group, 16) {
                let mut sa = vec![16, AF_INET, 0, 0];
                sa.extend_from_slice(&g.to_le_bytes());
                sa.resize(16, 0);
                out.push((index, sa));
            }
        } else if let Some(i) = line.split_whitespace().next().and_then(|i| i.parse().ok()) {
            index = i;
        }
    }
    for line in std::fs::read_to_string("/proc/net/igmp6").unwrap_or_default().lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(i), Some(group)) = (fields.first().and_then(|i| i.parse().ok()), fields.get(2)) else { continue };
        let bytes: Option<Vec<u8>> =
            (0..16).map(|k| group.get(2 * k..2 * k + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect();
        if let Some(bytes) = bytes {
            let mut sa = vec![28, AF_INET6, 0, 0, 0, 0, 0, 0];
            sa.extend_from_slice(&bytes);
            sa.resize(28, 0);
            out.push((i, sa));
        }
    }
    out
}

/// NET_RT_IFMALIST: one `struct ifma_msghdr` per membership, with the
/// interface's link-level address and the group.
fn multicast_rib(af: i32, index: i32) -> Vec<u8> {
    let interfaces = interfaces();
    let mut out = Vec::new();
    for (i, group) in memberships() {
        if (index != 0 && i as i32 != index) || (af != 0 && group[1] as i32 != af) {
            continue;
        }
        let Some(ifc) = interfaces.iter().find(|ifc| ifc.index == i) else { continue };
        let mut m = vec![0u8; IFMA_MSGHDR];
        m[2] = RTM_VERSION;
        m[3] = RTM_NEWMADDR;
        m[4..8].copy_from_slice(&(RTA_IFP | RTA_IFA).to_le_bytes());
        m[12..14].copy_from_slice(&i.to_le_bytes());
        m.extend(sockaddr_dl(i, ifc.kind, &ifc.name, &ifc.mac));
        m.extend(padded(group));
        let len = m.len() as u16;
        m[0..2].copy_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&m);
    }
    out
}

/// NET_RT_IFLIST for addresses of family `af` (0: all) of interface
/// `index` (0: all), or NET_RT_IFMALIST.
pub fn rib(kind: i32, af: i32, index: i32) -> Vec<u8> {
    if kind == NET_RT_IFMALIST {
        return multicast_rib(af, index);
    }
    let mut out = Vec::new();
    for i in interfaces().into_iter().filter(|i| index == 0 || i.index as i32 == index) {
        let dl = sockaddr_dl(i.index, i.kind, &i.name, &i.mac);
        let mut msg = vec![0u8; IF_MSGHDR];
        msg[2] = RTM_VERSION;
        msg[3] = RTM_IFINFO;
        msg[4..8].copy_from_slice(&RTA_IFP.to_le_bytes());
        msg[8..12].copy_from_slice(&(i.flags as i32).to_le_bytes());
        msg[12..14].copy_from_slice(&i.index.to_le_bytes());
        // struct if_data: ifi_type, ifi_physical, ifi_addrlen, ifi_hdrlen,
        // ifi_link_state, ifi_vhid, ifi_datalen, then ifi_mtu.
        msg[16] = i.kind;
        msg[18] = i.mac.len() as u8;
        msg[20] = if i.flags & libc::IFF_RUNNING as u32 != 0 { 2 } else { 1 }; // LINK_STATE_UP/DOWN
        msg[22..24].copy_from_slice(&152u16.to_le_bytes());
        msg[24..28].copy_from_slice(&i.mtu.to_le_bytes());
        msg.extend_from_slice(&dl);
        let len = msg.len() as u16;
        msg[0..2].copy_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&msg);
        for a in &i.addresses {
            if af != 0 && a.family as i32 != af {
                continue;
            }
            let mut m = vec![0u8; IFA_MSGHDR];
            m[2] = RTM_VERSION;
            m[3] = RTM_NEWADDR;
            let mut addrs = 0;
            let mut body = Vec::new();
            if let Some(mask) = &a.netmask {
                addrs |= RTA_NETMASK;
                body.extend(padded(mask.clone()));
            }
            addrs |= RTA_IFA;
            body.extend(padded(a.address.clone()));
            if let Some(brd) = &a.broadcast {
                addrs |= RTA_BRD;
                body.extend(padded(brd.clone()));
            }
            m[4..8].copy_from_slice(&addrs.to_le_bytes());
            m[8..12].copy_from_slice(&(i.flags as i32).to_le_bytes());
            m[12..14].copy_from_slice(&i.index.to_le_bytes());
            m.extend(body);
            let len = m.len() as u16;
            m[0..2].copy_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&m);
        }
    }
    out
}
