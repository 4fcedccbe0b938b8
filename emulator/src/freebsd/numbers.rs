//! FreeBSD's errno and signal numbers against Linux's.
//!
//! errno values are matched by name between the two built-in tables'
//! `errno` sets (FreeBSD's 1..34 are Linux's; the rest differ), with a few
//! Linux-only names given the FreeBSD error a program would see there.
//! Signals are mapped by hand: most have a Linux twin of another number;
//! FreeBSD's SIGEMT and SIGINFO, which Linux lacks, travel as SIGSTKFLT and
//! SIGPWR (which FreeBSD lacks); SIGTHR and SIGLIBRT as 32 and 33 (which
//! emu's own C library gives up to the guest); the first 31 of FreeBSD's
//! real-time signals (65..95) as Linux's 34..64. FreeBSD's real-time
//! signals 96..126 have no host signal to travel as.

use abi_tables::{Table, FREEBSD_AMD64, LINUX_X86_64};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Linux errno names with no FreeBSD twin, and the FreeBSD name that
/// stands for them.
const ERRNO_ALIASES: &[(&str, &str)] = &[
    ("EWOULDBLOCK", "EAGAIN"),
    ("EDEADLOCK", "EDEADLK"),
    ("ENOTSUP", "EOPNOTSUPP"),
    ("ENODATA", "ENOATTR"),
    ("ETIME", "ETIMEDOUT"),
    ("ENOSR", "ENOBUFS"),
    ("EBADFD", "EBADF"),
    ("EREMOTEIO", "EIO"),
    ("ENOMEDIUM", "ENXIO"),
    ("EMEDIUMTYPE", "ENXIO"),
    ("ENOKEY", "ENOENT"),
    ("EKEYEXPIRED", "EACCES"),
    ("EKEYREVOKED", "EACCES"),
    ("EKEYREJECTED", "EACCES"),
    ("ERFKILL", "EIO"),
    ("EHWPOISON", "EIO"),
    ("ENOTNAM", "ENOENT"),
    ("EISNAM", "EISDIR"),
    ("ENAVAIL", "ENXIO"),
    ("EUCLEAN", "EIO"),
];

/// FreeBSD's errno for a Linux errno none of whose names FreeBSD knows.
const FALLBACK_ERRNO: i32 = libc::EINVAL;

struct ErrnoMap {
    /// Indexed by Linux errno.
    to_guest: [u8; 256],
    /// Indexed by FreeBSD errno.
    from_guest: [u16; 256],
}

/// Built at the first use, in start-up: the names are looked up in a hash
/// (a search of one set for each name of the other was about 40 us of
/// every FreeBSD start).
fn errno_map() -> &'static ErrnoMap {
    static MAP: OnceLock<ErrnoMap> = OnceLock::new();
    MAP.get_or_init(|| {
        let (host, guest) = (errno_set(&LINUX_X86_64), errno_set(&FREEBSD_AMD64));
        let guest_by_name = by_name(&guest);
        let host_by_name = by_name(&host);
        let aliases: HashMap<&str, &str> = ERRNO_ALIASES.iter().copied().collect();
        let in_guest = |name: &str| guest_by_name.get(name).copied();
        let mut map = ErrnoMap { to_guest: [FALLBACK_ERRNO as u8; 256], from_guest: [0; 256] };
        for &(name, value) in &host {
            if let Some(g) = in_guest(name).or_else(|| aliases.get(name).and_then(|a| in_guest(a))) {
                map.to_guest[value as usize & 255] = g as u8;
            }
        }
        // Backwards the first Linux name wins, so that EAGAIN (not
        // EWOULDBLOCK) is what FreeBSD's EAGAIN means on the host.
        for &(name, value) in guest.iter().rev() {
            if let Some(&h) = host_by_name.get(name) {
                map.from_guest[value as usize & 255] = h as u16;
            }
        }
        map
    })
}

/// A table's errno names and values, in its order.
fn errno_set(table: &'static Table) -> Vec<(&'static str, i64)> {
    table
        .set_by_name("errno")
        .map(|s| s.values.iter().map(|v| (v.name.as_ref(), v.value)).collect())
        .unwrap_or_default()
}

/// The value of each name (its first, as a search in order would find).
fn by_name(set: &[(&'static str, i64)]) -> HashMap<&'static str, i64> {
    let mut map = HashMap::with_capacity(set.len());
    for &(name, value) in set {
        map.entry(name).or_insert(value);
    }
    map
}

pub fn errno_to_guest(host: i32) -> i32 {
    match host {
        1..=255 => errno_map().to_guest[host as usize] as i32,
        _ => FALLBACK_ERRNO,
    }
}

/// The host errno of a FreeBSD errno; one Linux does not have (ENOTCAPABLE,
/// EDOOFUS, ...) stays as it is, to be shown and returned by number.
pub fn errno_from_guest(guest: i32) -> i32 {
    match guest {
        1..=255 => match errno_map().from_guest[guest as usize] {
            0 => guest,
            h => h as i32,
        },
        _ => guest,
    }
}

/// FreeBSD signal (index) to Linux signal, for 1..=33.
const TO_HOST: [i32; 34] = [
    0,
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGILL,
    libc::SIGTRAP,
    libc::SIGABRT,
    libc::SIGSTKFLT, // SIGEMT
    libc::SIGFPE,
    libc::SIGKILL,
    libc::SIGBUS,
    libc::SIGSEGV,
    libc::SIGSYS,
    libc::SIGPIPE,
    libc::SIGALRM,
    libc::SIGTERM,
    libc::SIGURG,
    libc::SIGSTOP,
    libc::SIGTSTP,
    libc::SIGCONT,
    libc::SIGCHLD,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGIO,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGWINCH,
    libc::SIGPWR, // SIGINFO
    libc::SIGUSR1,
    libc::SIGUSR2,
    32, // SIGTHR
    33, // SIGLIBRT
];

/// FreeBSD's first real-time signal, and how many of them travel as Linux's
/// 34..=64.
const GUEST_SIGRTMIN: i32 = 65;
const HOST_RT_FIRST: i32 = 34;
const RT_CARRIED: i32 = 31;

/// The host signal a FreeBSD signal travels as (`None`: none does).
pub fn signal_to_host(guest: i32) -> Option<i32> {
    match guest {
        1..=33 => Some(TO_HOST[guest as usize]),
        g if (GUEST_SIGRTMIN..GUEST_SIGRTMIN + RT_CARRIED).contains(&g) => Some(g - GUEST_SIGRTMIN + HOST_RT_FIRST),
        _ => None,
    }
}

/// The FreeBSD signal a host signal stands for (0: none).
pub fn signal_to_guest(host: i32) -> i32 {
    if (HOST_RT_FIRST..HOST_RT_FIRST + RT_CARRIED).contains(&host) {
        return host - HOST_RT_FIRST + GUEST_SIGRTMIN;
    }
    TO_HOST.iter().position(|&h| h == host).map_or(0, |g| g as i32)
}

/// Whether FreeBSD's default action for the signal is to ignore it, where
/// Linux's for the host signal it travels as is to end the process.
pub fn ignored_by_default_on_guest(host: i32) -> bool {
    matches!(signal_to_guest(host), 29 | 32 | 33)
}

/// A FreeBSD signal mask (128 bits, signal n at bit n-1) as a host mask;
/// signals no host signal carries are dropped.
pub fn mask_to_host(words: [u32; 4]) -> u64 {
    let mut host = 0u64;
    for guest in 1..=128 {
        let w = words[(guest as usize - 1) / 32];
        if w & (1 << ((guest - 1) % 32)) != 0 {
            if let Some(h) = signal_to_host(guest) {
                host |= 1u64 << (h - 1);
            }
        }
    }
    host
}

pub fn mask_to_guest(host: u64) -> [u32; 4] {
    let mut words = [0u32; 4];
    for h in 1..=64 {
        if host & (1u64 << (h - 1)) != 0 {
            let g = signal_to_guest(h);
            if g > 0 {
                words[(g as usize - 1) / 32] |= 1 << ((g - 1) % 32);
            }
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_round_trips_by_name() {
        assert_eq!(errno_to_guest(libc::ENOENT), 2);
        assert_eq!(errno_to_guest(libc::EAGAIN), 35);
        assert_eq!(errno_to_guest(libc::ENOSYS), 78);
        assert_eq!(errno_to_guest(libc::ENAMETOOLONG), 63);
        assert_eq!(errno_to_guest(libc::EOPNOTSUPP), 45);
        assert_eq!(errno_to_guest(libc::ENODATA), 87);
        assert_eq!(errno_from_guest(35), libc::EAGAIN);
        assert_eq!(errno_from_guest(11), libc::EDEADLK);
        assert_eq!(errno_from_guest(60), libc::ETIMEDOUT);
        for host in 1..=133 {
            let back = errno_from_guest(errno_to_guest(host));
            assert!(back > 0, "{host}");
        }
    }

    /// The map is what a plain search in table order gives: each Linux
    /// errno to the FreeBSD one of its name (or alias), each FreeBSD errno
    /// to the first Linux one of its name.
    #[test]
    fn errno_map_is_the_search_in_order() {
        let (host, guest) = (errno_set(&LINUX_X86_64), errno_set(&FREEBSD_AMD64));
        let find = |set: &[(&str, i64)], name: &str| set.iter().find(|(n, _)| *n == name).map(|&(_, v)| v);
        let map = errno_map();
        let twin = |name: &str| {
            let alias = ERRNO_ALIASES.iter().find(|(n, _)| *n == name).map(|&(_, a)| a);
            find(&guest, name).or_else(|| alias.and_then(|a| find(&guest, a)))
        };
        for h in 1..256usize {
            // The last Linux name of the value that FreeBSD knows decides it.
            let last = host.iter().rev().filter(|&&(_, v)| v as usize == h).find_map(|&(name, _)| twin(name));
            assert_eq!(map.to_guest[h] as i64, last.unwrap_or(FALLBACK_ERRNO as i64), "Linux {h}");
        }
        for g in 1..256usize {
            let first = guest.iter().filter(|&&(_, v)| v as usize == g).find_map(|&(name, _)| find(&host, name));
            assert_eq!(map.from_guest[g] as i64, first.unwrap_or(0), "FreeBSD {g}");
        }
    }

    #[test]
    fn signals_round_trip() {
        for guest in (1..=33).chain(65..96) {
            let host = signal_to_host(guest).unwrap();
            assert_eq!(signal_to_guest(host), guest, "{guest} -> {host}");
        }
        assert_eq!(signal_to_host(96), None);
        assert_eq!(signal_to_host(10), Some(libc::SIGBUS));
        assert_eq!(signal_to_guest(libc::SIGCHLD), 20);
        let guest = [1 << 29 | 1 << 1, 0, 1, 0]; // SIGUSR1, SIGINT, SIGRTMIN
        assert_eq!(mask_to_guest(mask_to_host(guest)), guest);
    }
}
