//! FreeBSD's sysctl, for the names programs ask: every name emu answers is
//! in `NODES`, with its MIB and where its value comes from (the host's
//! real value where one exists), and the routing table's interface list
//! (`route`). The name-to-MIB query ({0, 3}) resolves them; anything else
//! is ENOENT, and writes are refused (EPERM).

use crate::bsd::sysctl::{answer, read_mib, read_new, Node, Value};
use crate::call::Call;
use crate::process::process;
use crate::sys::{Errno, SysResult};
use std::os::unix::ffi::OsStrExt;

/// Every name emu answers. Names FreeBSD numbers dynamically (OID_AUTO)
/// get numbers from 0x1000 up here.
const NODES: &[Node] = &[
    Node { name: "kern.ostype", mib: &[1, 1], value: || Some(Value::Str(b"FreeBSD".to_vec())) },
    Node { name: "kern.osrelease", mib: &[1, 2], value: || Some(Value::Str(osrelease().into_bytes())) },
    Node { name: "kern.osrevision", mib: &[1, 3], value: || Some(Value::Int(199506)) },
    Node {
        name: "kern.version",
        mib: &[1, 4],
        value: || Some(Value::Str(format!("FreeBSD {} (emu)\n", osrelease()).into_bytes())),
    },
    Node { name: "kern.maxproc", mib: &[1, 6], value: || host_limit(libc::RLIMIT_NPROC).map(Value::Int) },
    Node { name: "kern.maxfiles", mib: &[1, 7], value: || read_number("/proc/sys/fs/file-max").map(Value::Int) },
    Node { name: "kern.argmax", mib: &[1, 8], value: || Some(Value::Int(524288)) },
    Node { name: "kern.hostname", mib: &[1, 10], value: || uname_field(|u| &u.nodename).map(Value::Str) },
    Node { name: "kern.ngroups", mib: &[1, 18], value: || Some(Value::Int(1023)) },
    Node { name: "kern.boottime", mib: &[1, 21], value: boottime },
    Node { name: "kern.osreldate", mib: &[1, 24], value: || Some(Value::Int(super::image::osreldate() as i32)) },
    Node { name: "kern.maxfilesperproc", mib: &[1, 27], value: || host_limit(libc::RLIMIT_NOFILE).map(Value::Int) },
    Node { name: "kern.iov_max", mib: &[1, 35], value: || Some(Value::Int(1024)) },
    Node { name: "kern.arandom", mib: &[1, 37], value: arandom },
    Node { name: "kern.proc.pathname", mib: &[1, 14, 12], value: pathname },
    Node { name: "kern.ps_strings", mib: &[1, 32], value: || Some(Value::Long(super::image::ps_strings())) },
    Node { name: "kern.usrstack", mib: &[1, 33], value: || Some(Value::Long(super::image::usrstack())) },
    Node { name: "kern.ipc.somaxconn", mib: &[1, 30, 3], value: somaxconn },
    Node { name: "kern.ipc.soacceptqueue", mib: &[1, 30, 0x1001], value: somaxconn },
    Node { name: "kern.smp.maxcpus", mib: &[1, 0x1000, 0x1001], value: || Some(Value::Int(1024)) },
    Node { name: "kern.smp.cpus", mib: &[1, 0x1000, 0x1002], value: || Some(Value::Int(ncpu())) },
    Node { name: "hw.machine", mib: &[6, 1], value: || Some(Value::Str(b"amd64".to_vec())) },
    Node { name: "hw.model", mib: &[6, 2], value: cpu_model },
    Node { name: "hw.ncpu", mib: &[6, 3], value: || Some(Value::Int(ncpu())) },
    Node { name: "hw.byteorder", mib: &[6, 4], value: || Some(Value::Int(1234)) },
    Node { name: "hw.physmem", mib: &[6, 5], value: physmem },
    Node { name: "hw.usermem", mib: &[6, 6], value: physmem },
    Node { name: "hw.pagesize", mib: &[6, 7], value: || Some(Value::Int(4096)) },
    Node { name: "hw.machine_arch", mib: &[6, 11], value: || Some(Value::Str(b"amd64".to_vec())) },
    Node { name: "hw.realmem", mib: &[6, 12], value: physmem },
    Node {
        name: "hw.pagesizes",
        mib: &[6, 0x1000],
        value: || Some(Value::Bytes([4096u64, 2 << 20, 1 << 30].iter().flat_map(|p| p.to_le_bytes()).collect())),
    },
    Node { name: "vm.overcommit", mib: &[2, 12], value: || Some(Value::Int(0)) },
    Node { name: "user.cs_path", mib: &[8, 1], value: || Some(Value::Str(b"/usr/bin:/bin:/usr/sbin:/sbin".to_vec())) },
];

/// `14.2-RELEASE`, or the release the guest is shown.
fn osrelease() -> String {
    crate::release::freebsd_release_text(super::image::release())
}

fn ncpu() -> i32 {
    super::process::online_cpus() as i32
}

fn host_limit(resource: libc::__rlimit_resource_t) -> Option<i32> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: fills a rlimit of ours.
    (unsafe { libc::getrlimit(resource, &mut lim) } == 0).then(|| lim.rlim_cur.min(i32::MAX as u64) as i32)
}

fn read_number(path: &str) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse::<i64>().ok().map(|v| v.min(i32::MAX as i64) as i32)
}

fn somaxconn() -> Option<Value> {
    Some(Value::Int(read_number("/proc/sys/net/core/somaxconn").unwrap_or(128)))
}

fn uname_field(field: fn(&libc::utsname) -> &[libc::c_char; 65]) -> Option<Vec<u8>> {
    // SAFETY: zeroes are a valid utsname for uname to fill.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: fills a utsname of ours.
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    Some(field(&u).iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect())
}

fn boottime() -> Option<Value> {
    let (mut now, mut up) = (libc::timespec { tv_sec: 0, tv_nsec: 0 }, libc::timespec { tv_sec: 0, tv_nsec: 0 });
    // SAFETY: clock_gettime fills timespecs of ours.
    unsafe {
        libc::clock_gettime(libc::CLOCK_REALTIME, &mut now);
        libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut up);
    }
    let sec = now.tv_sec - up.tv_sec;
    Some(Value::Bytes([sec.to_le_bytes(), 0i64.to_le_bytes()].concat()))
}

fn arandom() -> Option<Value> {
    let mut b = vec![0u8; 256];
    // SAFETY: fills a buffer of ours.
    unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    Some(Value::Bytes(b))
}

fn pathname() -> Option<Value> {
    Some(Value::Str(process().exe.as_os_str().as_bytes().to_vec()))
}

fn cpu_model() -> Option<Value> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("model name"))?;
    Some(Value::Str(line.split_once(':')?.1.trim().as_bytes().to_vec()))
}

fn physmem() -> Option<Value> {
    // SAFETY: sysconf has no memory effects.
    let (pages, size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    Some(Value::Long(pages as u64 * size as u64))
}

const CTL_MAXNAME: usize = 24;

/// A MIB's value: a node of the table (kern.proc.pathname takes the pid,
/// -1 or this process's), or the name-to-MIB query.
fn lookup(mib: &[i32], new: &[u8]) -> Result<Vec<u8>, Errno> {
    if mib == [0, 3] {
        let name = std::str::from_utf8(new).map_err(|_| Errno::ENOENT)?;
        let name = name.trim_end_matches('\0');
        let node = NODES.iter().find(|n| n.name == name).ok_or(Errno::ENOENT)?;
        return Ok(node.mib.iter().flat_map(|v| v.to_le_bytes()).collect());
    }
    // The routing table's interface list: CTL_NET, PF_ROUTE, 0, af, what, index.
    if let [4, 17, 0, af, kind @ (super::route::NET_RT_IFLIST | super::route::NET_RT_IFMALIST), index] = *mib {
        return Ok(super::route::rib(kind, af, index));
    }
    let node = match mib {
        [1, 14, 12, pid] if *pid == -1 || *pid == crate::sys::getpid() => {
            NODES.iter().find(|n| n.mib == [1, 14, 12]).ok_or(Errno::ENOENT)?
        }
        _ => NODES.iter().find(|n| n.mib == mib).ok_or(Errno::ENOENT)?,
    };
    (node.value)().map(Value::bytes).ok_or(Errno::ENOENT)
}

fn query(mib: &[i32], old: u64, oldlenp: u64, new: u64, newlen: u64) -> SysResult {
    let is_query = mib == [0, 3];
    if !is_query && new != 0 && newlen != 0 {
        return Err(Errno::EPERM);
    }
    let new = if is_query { read_new(new, newlen)? } else { Vec::new() };
    if is_query && new.is_empty() {
        return Err(Errno::ENOENT);
    }
    let value = lookup(mib, &new)?;
    answer(&value, old, oldlenp)
}

/// __sysctl(name, namelen, old, oldlenp, new, newlen).
pub fn sysctl(call: &mut Call) -> SysResult {
    let [name, namelen, old, oldlenp, new, newlen, ..] = call.args;
    let mut mib = [0i32; CTL_MAXNAME];
    let mib = read_mib(name, namelen, &mut mib)?;
    query(mib, old, oldlenp, new, newlen)
}

/// __sysctlbyname(name, namelen, old, oldlenp, new, newlen): the name
/// (without its NUL) resolved first.
pub fn sysctlbyname(call: &mut Call) -> SysResult {
    let [name, namelen, old, oldlenp, new, newlen, ..] = call.args;
    let name = read_new(name, namelen)?;
    let mib = lookup(&[0, 3], &name)?;
    let mib: Vec<i32> = mib.chunks(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect();
    query(&mib, old, oldlenp, new, newlen)
}

#[cfg(test)]
mod tests {
    /// docs/compat/freebsd-sysctl.md names exactly the nodes emu answers.
    #[test]
    fn the_documentation_lists_every_name() {
        let page = include_str!("../../../docs/compat/freebsd-sysctl.md");
        let documented: Vec<&str> = page.lines().filter_map(|l| l.strip_prefix("| `")?.split('`').next()).collect();
        let answered: Vec<&str> = super::NODES.iter().map(|n| n.name).collect();
        assert_eq!(documented, answered);
    }
}
