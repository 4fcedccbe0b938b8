//! Classes of calls, as strace's `-e trace=%file` names them: `%file`,
//! `%desc`, `%network`, `%process`, `%signal`, `%memory`, `%ipc`, `%creds`,
//! `%clock`. A call's classes follow from its entry, so that every table has
//! them, a user's included: `%file` and `%desc` from its argument kinds (a
//! path; a descriptor taken or returned), `%signal` from a signal argument
//! too, and the others from the call's name, which the BSDs and Linux share
//! for these calls.

use crate::{ArgKind, RetKind, Syscall};

/// A set of classes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Classes(u16);

impl Classes {
    pub const FILE: Classes = Classes(1);
    pub const DESC: Classes = Classes(1 << 1);
    pub const NETWORK: Classes = Classes(1 << 2);
    pub const PROCESS: Classes = Classes(1 << 3);
    pub const SIGNAL: Classes = Classes(1 << 4);
    pub const MEMORY: Classes = Classes(1 << 5);
    pub const IPC: Classes = Classes(1 << 6);
    pub const CREDS: Classes = Classes(1 << 7);
    pub const CLOCK: Classes = Classes(1 << 8);

    pub fn contains(self, other: Classes) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    /// The names of the classes in the set (`%file`, ...), in a fixed order.
    pub fn names(self) -> Vec<&'static str> {
        CLASSES.iter().filter(|(_, c)| self.contains(*c)).map(|(n, _)| *n).collect()
    }
}

impl std::ops::BitOr for Classes {
    type Output = Classes;
    fn bitor(self, other: Classes) -> Classes {
        Classes(self.0 | other.0)
    }
}

/// Every class by its name.
pub const CLASSES: [(&str, Classes); 9] = [
    ("%file", Classes::FILE),
    ("%desc", Classes::DESC),
    ("%network", Classes::NETWORK),
    ("%process", Classes::PROCESS),
    ("%signal", Classes::SIGNAL),
    ("%memory", Classes::MEMORY),
    ("%ipc", Classes::IPC),
    ("%creds", Classes::CREDS),
    ("%clock", Classes::CLOCK),
];

/// A class by its name (`%file`).
pub fn class(name: &str) -> Option<Classes> {
    CLASSES.iter().find(|(n, _)| *n == name).map(|&(_, c)| c)
}

const NETWORK: &[&str] = &[
    "socket",
    "socketpair",
    "bind",
    "connect",
    "listen",
    "accept",
    "accept4",
    "getsockname",
    "getpeername",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    "shutdown",
    "setsockopt",
    "getsockopt",
    "send",
    "recv",
    "bindat",
    "connectat",
    "sctp_peeloff",
    "sctp_generic_sendmsg",
    "sctp_generic_recvmsg",
];
const PROCESS: &[&str] = &[
    "fork",
    "vfork",
    "clone",
    "clone3",
    "execve",
    "execveat",
    "fexecve",
    "exit",
    "exit_group",
    "wait4",
    "wait6",
    "waitid",
    "kill",
    "tkill",
    "tgkill",
    "rfork",
    "pdfork",
    "pdkill",
    "thr_new",
    "thr_exit",
    "thr_kill",
    "thr_kill2",
    "unshare",
    "pidfd_open",
    "pidfd_send_signal",
    "rt_sigqueueinfo",
    "rt_tgsigqueueinfo",
    "sigqueue",
    "_exit",
];
const MEMORY: &[&str] = &[
    "mmap",
    "munmap",
    "mprotect",
    "pkey_mprotect",
    "brk",
    "break",
    "sbrk",
    "sstk",
    "mremap",
    "madvise",
    "mlock",
    "mlock2",
    "munlock",
    "mlockall",
    "munlockall",
    "msync",
    "mincore",
    "minherit",
    "remap_file_pages",
    "mbind",
    "set_mempolicy",
    "get_mempolicy",
    "migrate_pages",
    "move_pages",
    "process_madvise",
    "mseal",
    "shmat",
    "shmdt",
    "memfd_secret",
    "map_shadow_stack",
    "mquery",
];
const IPC: &[&str] = &[
    "shmget",
    "shmat",
    "shmdt",
    "shmctl",
    "semget",
    "semop",
    "semtimedop",
    "semctl",
    "__semctl",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "ipc",
    "shmsys",
    "semsys",
    "msgsys",
];
const CLOCK: &[&str] = &[
    "clock_gettime",
    "clock_settime",
    "clock_getres",
    "clock_adjtime",
    "clock_nanosleep",
    "gettimeofday",
    "settimeofday",
    "time",
    "stime",
    "adjtimex",
    "adjtime",
    "ntp_adjtime",
    "ntp_gettime",
];

fn is_creds(name: &str) -> bool {
    let ids = ["uid", "gid", "euid", "egid", "resuid", "resgid", "groups", "fsuid", "fsgid", "reuid", "regid"];
    let id = name.strip_prefix("get").or_else(|| name.strip_prefix("set"));
    id.is_some_and(|id| ids.contains(&id.trim_start_matches("16").trim_end_matches("32")))
        || matches!(name, "capget" | "capset" | "getlogin" | "setlogin" | "issetugid")
}

fn is_signal(name: &str) -> bool {
    name.starts_with("rt_sig")
        || (name.starts_with("sig") && name != "sigfastblock")
        || matches!(
            name,
            "kill"
                | "tkill"
                | "tgkill"
                | "pause"
                | "signalfd"
                | "signalfd4"
                | "thr_kill"
                | "thr_kill2"
                | "pidfd_send_signal"
                | "sigfastblock"
        )
}

impl Syscall {
    /// The classes this call belongs to.
    pub fn classes(&self) -> Classes {
        let name: &str = &self.name;
        let mut c = Classes::default();
        let has = |f: fn(&ArgKind) -> bool| self.args.iter().any(|a| f(&a.kind));
        if has(|k| matches!(k, ArgKind::Path)) || matches!(name, "execve" | "execveat") {
            c = c | Classes::FILE;
        }
        if has(|k| matches!(k, ArgKind::Fd | ArgKind::DirFd)) || self.ret == RetKind::Fd {
            c = c | Classes::DESC;
        }
        if NETWORK.contains(&name) {
            c = c | Classes::NETWORK;
        }
        if PROCESS.contains(&name) {
            c = c | Classes::PROCESS;
        }
        if is_signal(name) || has(|k| matches!(k, ArgKind::Signal)) {
            c = c | Classes::SIGNAL;
        }
        if MEMORY.contains(&name) {
            c = c | Classes::MEMORY;
        }
        if IPC.contains(&name) {
            c = c | Classes::IPC;
        }
        if is_creds(name) {
            c = c | Classes::CREDS;
        }
        if CLOCK.contains(&name) {
            c = c | Classes::CLOCK;
        }
        c
    }
}

/// Which calls of `table` a list selects, by table order: names, `all`,
/// classes (`%file`), and any of these after `!` to leave them out. Without
/// a positive item, every call but those left out. An unknown name or
/// class is an error naming it.
pub fn select(table: &crate::Table, items: &[&str]) -> Result<Vec<bool>, String> {
    enum Item<'a> {
        Name(&'a str),
        Class(Classes),
        All,
    }
    let mut wanted = Vec::new();
    let mut unwanted = Vec::new();
    for raw in items.iter().filter(|i| !i.is_empty()) {
        let (list, item) = match raw.strip_prefix('!') {
            Some(rest) => (&mut unwanted, rest),
            None => (&mut wanted, *raw),
        };
        let parsed = if item == "all" {
            Item::All
        } else if item.starts_with('%') {
            Item::Class(class(item).ok_or_else(|| {
                let known: Vec<&str> = CLASSES.iter().map(|(n, _)| *n).collect();
                format!("no class named `{item}` ({})", known.join(", "))
            })?)
        } else if table.call_by_name(item).is_some() {
            Item::Name(item)
        } else {
            return Err(format!("the {} table has no call named `{item}`", table.name));
        };
        list.push(parsed);
    }
    let matches = |items: &[Item], c: &Syscall| {
        items.iter().any(|i| match i {
            Item::Name(n) => c.name == *n,
            Item::Class(k) => c.classes().contains(*k),
            Item::All => true,
        })
    };
    let everything = !wanted.iter().any(|i| !matches!(i, Item::All));
    Ok(table.calls.iter().map(|c| (everything || matches(&wanted, c)) && !matches(&unwanted, c)).collect())
}
