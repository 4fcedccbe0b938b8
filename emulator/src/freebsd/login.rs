//! getlogin and setlogin: the login name of FreeBSD's session.
//!
//! Linux has no such name. emu starts from the user of the process's
//! audit login uid (/proc/self/loginuid, which login and sshd set, the
//! nearest thing Linux has), or an empty name when that is unset, as for a
//! FreeBSD session nobody logged in to. setlogin changes it for this emu
//! process and the children it forks, not for the rest of the session (the
//! parent shell keeps its own): emu cannot reach the other processes.

use std::sync::Mutex;

use crate::call::Call;
use crate::memory::guest;
use crate::sys::{Errno, SysResult};

/// MAXLOGNAME: a login name and its NUL.
const MAXLOGNAME: usize = 33;

/// The session's login name, once read or set. A lock taken by these two
/// calls in a system call handler (never from a signal's, so a thread
/// never waits for itself) and across a fork (so the child's is whole).
static LOGIN: Mutex<Option<Vec<u8>>> = Mutex::new(None);

fn lock() -> std::sync::MutexGuard<'static, Option<Vec<u8>>> {
    LOGIN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Held across a fork.
pub(super) fn lock_for_fork() -> impl std::any::Any {
    lock()
}

/// The user name of the audit login uid, or an empty name.
fn initial_login() -> Vec<u8> {
    let uid = std::fs::read_to_string("/proc/self/loginuid").ok().and_then(|s| s.trim().parse::<u32>().ok());
    let Some(uid) = uid.filter(|&u| u != u32::MAX) else { return Vec::new() };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .filter_map(|l| {
            let mut fields = l.split(':');
            let name = fields.next()?;
            let id = fields.nth(1)?.parse::<u32>().ok()?;
            (id == uid).then(|| name.as_bytes().to_vec())
        })
        .next()
        .unwrap_or_default()
        .into_iter()
        .take(MAXLOGNAME - 1)
        .collect()
}

/// getlogin(namebuf, namelen): the name and its NUL; ERANGE if `namelen`
/// (at most MAXLOGNAME counts) cannot hold them.
pub fn getlogin(call: &mut Call) -> SysResult {
    let [buf, len, ..] = call.args;
    let len = (len as u32 as usize).min(MAXLOGNAME);
    let mut name = {
        let mut login = lock();
        login.get_or_insert_with(initial_login).clone()
    };
    name.push(0);
    if name.len() > len {
        return Err(Errno::ERANGE);
    }
    guest::write(buf, &name).map(|_| 0)
}

/// setlogin(name): root only (EPERM); a name of MAXLOGNAME bytes or more
/// is EINVAL.
pub fn setlogin(call: &mut Call) -> SysResult {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Errno::EPERM);
    }
    let mut name = Vec::new();
    if !guest::read_cstr(call.args[0], MAXLOGNAME - 1, &mut name)? {
        return Err(Errno::EINVAL);
    }
    *lock() = Some(name);
    Ok(0)
}
