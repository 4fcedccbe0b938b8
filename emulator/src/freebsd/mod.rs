//! The FreeBSD amd64 personality: static FreeBSD programs (Go's, first)
//! run on Linux.
//!
//! FreeBSD's calling convention differs from Linux's in its result (the
//! carry flag says an error, RAX holds a positive errno, RDX a second
//! value), its indirect calls (`syscall` and `__syscall` take the number
//! in RDI) and arguments past the sixth (on the stack). Its numbers differ
//! (errno from 35 up, signals from 7 up, flags and structures almost
//! everywhere), so a call passes straight through only when its arguments
//! mean the same on Linux (`SAME_AS_LINUX`); the others have a translator
//! here, by subject: files, memory, signals, threads, time, sysctl.
//!
//! Numbers inside emu stay in host terms: errno and signals are translated
//! where they cross (`numbers`), flags and structures in each translator.

mod compat11;
mod files;
mod image;
mod kqueue;
mod login;
mod memory;
mod net;
mod numbers;
mod process;
mod route;
mod signal;
mod structs;
mod sysctl;
mod thread;
mod time;
mod umtx;

use crate::call::{Action, Call, CallSlot, Handler, Implementation};
use crate::context::GuestContext;
use crate::memory::guest;
use crate::outcome::Outcome;
use crate::personality::{EntryRegisters, InitialAuxv, PassThrough, Personality, SignalName, StructDecoder};
use crate::process::process;
use crate::signals::GuestAction;
use crate::sys::{Errno, SysResult};
use crate::threads::ThreadState;
use abi_tables::{Syscall, Table, FREEBSD_AMD64, MAX_ARGS};
use loader::{AddressSpace, Loaded};
use std::collections::HashMap;
use std::sync::LazyLock;

pub struct FreeBsd;

pub static FREEBSD: FreeBsd = FreeBsd;

/// FreeBSD calls whose arguments and result mean what the Linux call of
/// the second name's do (errno aside, which `set_return` translates), and
/// that call's number (checked against the Linux table by a test: a search
/// of the table by name for each was about 25 us of every start).
const SAME_AS_LINUX: &[(&str, &str, i64)] = &[
    ("read", "read", libc::SYS_read),
    ("write", "write", libc::SYS_write),
    ("readv", "readv", libc::SYS_readv),
    ("writev", "writev", libc::SYS_writev),
    ("pread", "pread64", libc::SYS_pread64),
    ("pwrite", "pwrite64", libc::SYS_pwrite64),
    ("preadv", "preadv", libc::SYS_preadv),
    ("pwritev", "pwritev", libc::SYS_pwritev),
    ("lseek", "lseek", libc::SYS_lseek),
    ("fsync", "fsync", libc::SYS_fsync),
    ("fdatasync", "fdatasync", libc::SYS_fdatasync),
    ("ftruncate", "ftruncate", libc::SYS_ftruncate),
    ("truncate", "truncate", libc::SYS_truncate),
    ("dup", "dup", libc::SYS_dup),
    ("getpid", "getpid", libc::SYS_getpid),
    ("getppid", "getppid", libc::SYS_getppid),
    ("getuid", "getuid", libc::SYS_getuid),
    ("geteuid", "geteuid", libc::SYS_geteuid),
    ("getgid", "getgid", libc::SYS_getgid),
    ("getegid", "getegid", libc::SYS_getegid),
    ("getpgrp", "getpgrp", libc::SYS_getpgrp),
    ("getpgid", "getpgid", libc::SYS_getpgid),
    ("getsid", "getsid", libc::SYS_getsid),
    ("setsid", "setsid", libc::SYS_setsid),
    ("setpgid", "setpgid", libc::SYS_setpgid),
    ("setuid", "setuid", libc::SYS_setuid),
    ("setgid", "setgid", libc::SYS_setgid),
    ("getgroups", "getgroups", libc::SYS_getgroups),
    ("sched_yield", "sched_yield", libc::SYS_sched_yield),
    ("chdir", "chdir", libc::SYS_chdir),
    ("fchdir", "fchdir", libc::SYS_fchdir),
    ("umask", "umask", libc::SYS_umask),
    ("chmod", "chmod", libc::SYS_chmod),
    ("fchmod", "fchmod", libc::SYS_fchmod),
    ("chown", "chown", libc::SYS_chown),
    ("fchown", "fchown", libc::SYS_fchown),
    ("lchown", "lchown", libc::SYS_lchown),
    ("link", "link", libc::SYS_link),
    ("unlink", "unlink", libc::SYS_unlink),
    ("symlink", "symlink", libc::SYS_symlink),
    ("rename", "rename", libc::SYS_rename),
    ("mkdir", "mkdir", libc::SYS_mkdir),
    ("rmdir", "rmdir", libc::SYS_rmdir),
    ("flock", "flock", libc::SYS_flock),
    ("sync", "sync", libc::SYS_sync),
    ("getrusage", "getrusage", libc::SYS_getrusage),
    ("gettimeofday", "gettimeofday", libc::SYS_gettimeofday),
    ("setitimer", "setitimer", libc::SYS_setitimer),
    ("getitimer", "getitimer", libc::SYS_getitimer),
    ("getrandom", "getrandom", libc::SYS_getrandom),
    ("setreuid", "setreuid", libc::SYS_setreuid),
    ("setregid", "setregid", libc::SYS_setregid),
    ("setresuid", "setresuid", libc::SYS_setresuid),
    ("setresgid", "setresgid", libc::SYS_setresgid),
    ("getresuid", "getresuid", libc::SYS_getresuid),
    ("getresgid", "getresgid", libc::SYS_getresgid),
    ("setgroups", "setgroups", libc::SYS_setgroups),
    ("nanosleep", "nanosleep", libc::SYS_nanosleep),
    ("access", "access", libc::SYS_access),
    ("renameat", "renameat", libc::SYS_renameat),
    ("mkdirat", "mkdirat", libc::SYS_mkdirat),
    ("symlinkat", "symlinkat", libc::SYS_symlinkat),
    ("listen", "listen", libc::SYS_listen),
    ("shutdown", "shutdown", libc::SYS_shutdown),
];

/// The FreeBSD calls emu carries out itself, by name.
const EMULATED: &[(&str, Handler)] = &[
    ("syscall", indirect),
    ("__syscall", indirect),
    ("exit", process::exit),
    ("fork", process::fork),
    ("vfork", process::vfork),
    ("rfork", process::rfork),
    ("execve", process::execve),
    ("wait4", process::wait4),
    ("wait6", process::wait6),
    ("issetugid", process::issetugid),
    ("getrlimit", process::getrlimit),
    ("setrlimit", process::setrlimit),
    ("cpuset_getaffinity", process::cpuset_getaffinity),
    ("kill", signal::kill),
    ("sigaction", signal::sigaction),
    ("sigprocmask", signal::sigprocmask),
    ("sigaltstack", signal::sigaltstack),
    ("sigreturn", signal::sigreturn),
    ("sigsuspend", signal::sigsuspend),
    ("sigpending", signal::sigpending),
    ("sigtimedwait", signal::sigtimedwait),
    ("sigwaitinfo", signal::sigtimedwait),
    ("sigwait", signal::sigwait),
    ("sigfastblock", signal::sigfastblock),
    ("cpuset_setaffinity", process::cpuset_setaffinity),
    ("seteuid", process::seteuid),
    ("getlogin", login::getlogin),
    ("setlogin", login::setlogin),
    ("setegid", process::seteuid),
    ("__realpathat", files::realpathat),
    ("minherit", memory::minherit),
    ("thr_new", thread::thr_new),
    ("thr_self", thread::thr_self),
    ("thr_exit", thread::thr_exit),
    ("thr_kill", thread::thr_kill),
    ("thr_suspend", thread::thr_suspend),
    ("thr_wake", thread::thr_wake),
    ("thr_set_name", thread::thr_set_name),
    ("_umtx_op", umtx::umtx_op),
    ("sysarch", thread::sysarch),
    ("__sysctl", sysctl::sysctl),
    ("__sysctlbyname", sysctl::sysctlbyname),
    ("clock_gettime", time::clock_gettime),
    ("clock_getres", time::clock_getres),
    ("clock_nanosleep", time::clock_nanosleep),
    ("mmap", memory::mmap),
    ("munmap", memory::munmap),
    ("mprotect", memory::mprotect),
    ("madvise", memory::madvise),
    ("open", files::open),
    ("openat", files::openat),
    ("close", crate::bsd::kqueue::close_fd),
    ("kqueue", kqueue::kqueue),
    ("kqueuex", kqueue::kqueuex),
    ("kevent", kqueue::kevent),
    ("freebsd11_kevent", kqueue::freebsd11_kevent),
    ("dup2", files::dup2),
    ("fcntl", files::fcntl),
    ("pipe2", files::pipe2),
    ("freebsd10_pipe", files::freebsd10_pipe),
    ("ioctl", files::ioctl),
    ("fstat", files::fstat),
    ("fstatat", files::fstatat),
    ("fstatfs", files::fstatfs),
    ("statfs", files::statfs),
    ("getdirentries", files::getdirentries),
    ("freebsd11_stat", compat11::stat),
    ("freebsd11_lstat", compat11::lstat),
    ("freebsd11_fstat", compat11::fstat),
    ("freebsd11_fstatat", compat11::fstatat),
    ("freebsd11_getdirentries", compat11::getdirentries),
    ("freebsd11_statfs", compat11::statfs),
    ("freebsd11_fstatfs", compat11::fstatfs),
    ("readlink", files::readlink),
    ("readlinkat", files::readlinkat),
    ("eaccess", files::access),
    ("faccessat", files::faccessat),
    ("unlinkat", files::unlinkat),
    ("__getcwd", files::getcwd),
    ("utimensat", files::utimensat),
    ("mknodat", files::mknodat),
    ("mkfifo", files::mkfifo),
    ("mkfifoat", files::mkfifoat),
    ("socket", net::socket),
    ("socketpair", net::socketpair),
    ("bind", net::bind),
    ("connect", net::connect),
    ("accept", net::accept),
    ("accept4", net::accept4),
    ("getsockname", net::getsockname),
    ("getpeername", net::getpeername),
    ("sendto", net::sendto),
    ("recvfrom", net::recvfrom),
    ("sendmsg", net::sendmsg),
    ("recvmsg", net::recvmsg),
    ("setsockopt", net::setsockopt),
    ("getsockopt", net::getsockopt),
    ("sendfile", net::sendfile),
];

/// `EMULATED` and `SAME_AS_LINUX` by name: start-up looks up every call
/// of the table.
static EMULATED_BY_NAME: LazyLock<HashMap<&str, Handler>> = LazyLock::new(|| EMULATED.iter().copied().collect());
static SAME_AS_LINUX_BY_NAME: LazyLock<HashMap<&str, i64>> =
    LazyLock::new(|| SAME_AS_LINUX.iter().map(|&(name, _, number)| (name, number)).collect());

/// syscall(2) and __syscall(2): the call whose number is the first argument.
/// The dispatcher has already looked it up (see `syscall_args`); getting
/// here means the inner number was itself 0 or 198.
fn indirect(_call: &mut Call) -> SysResult {
    Err(Errno::ENOSYS)
}

const SYS_SYSCALL: u64 = 0;
const SYS___SYSCALL: u64 = 198;
/// The carry flag, which says a call failed.
const CARRY: u64 = 1;

impl Personality for FreeBsd {
    fn name(&self) -> &'static str {
        "freebsd"
    }

    fn default_table(&self) -> &'static Table {
        &FREEBSD_AMD64
    }

    fn implementation(&self, call: &Syscall) -> Option<Implementation> {
        let name = call.implementation_name();
        if let Some(f) = EMULATED_BY_NAME.get(name) {
            return Some(Implementation::Emulated(*f));
        }
        SAME_AS_LINUX_BY_NAME.get(name).map(|&number| Implementation::Host(number as u64))
    }

    /// The number and arguments: `syscall` and `__syscall` take the real
    /// number in RDI and shift the rest; arguments past the registers are
    /// read from the stack (above the return address of the libc stub) only
    /// for calls the table gives that many.
    fn syscall_args(&self, ctx: &GuestContext) -> (u64, Result<[u64; MAX_ARGS], Errno>) {
        let r = ctx.syscall_args();
        // FreeBSD's kernel reads the number as an unsigned int (EAX).
        let (number, regs): (u64, &[u64]) = match ctx.rax() as u32 as u64 {
            SYS_SYSCALL => (r[0] as u32 as u64, &r[1..]),
            SYS___SYSCALL => (r[0], &r[1..]),
            n => (n, &r[..]),
        };
        let mut args = [0u64; MAX_ARGS];
        args[..regs.len()].copy_from_slice(regs);
        let wanted = process().slot(number).map_or(0, |s| s.arg_count as usize);
        for (i, arg) in args.iter_mut().enumerate().take(wanted).skip(regs.len()) {
            let at = ctx.rsp().wrapping_add(8 * (1 + i - regs.len()) as u64);
            match guest::read_val(at) {
                Ok(v) => *arg = v,
                Err(e) => return (number, Err(e)),
            }
        }
        (number, Ok(args))
    }

    fn set_return(&self, ctx: &mut GuestContext, outcome: &Outcome) {
        match *outcome {
            Outcome::Value(v) => {
                ctx.set_rax(v.rax);
                if let Some(rdx) = v.rdx {
                    ctx.set_rdx(rdx);
                }
                ctx.set_rflags(ctx.rflags() & !CARRY);
            }
            Outcome::Error(e) => {
                ctx.set_rax(self.errno_to_guest(e) as u64);
                ctx.set_rflags(ctx.rflags() | CARRY);
            }
            Outcome::Restart | Outcome::JustReturn => {}
        }
    }

    /// A call of `SAME_AS_LINUX` (its result with FreeBSD's carry flag and
    /// errno), and clock_gettime (its clock id mapped), by its own number:
    /// not through `syscall`/`__syscall`, and not one that `syscall_args`
    /// gives stack arguments.
    fn pass_through(&self, slot: &CallSlot) -> Option<PassThrough> {
        let number = slot.call.number as u64;
        if number == SYS_SYSCALL || number == SYS___SYSCALL || slot.arg_count > 6 {
            return None;
        }
        match slot.action {
            Action::Run(Implementation::Host(host)) => Some(PassThrough::Carry { host }),
            // `EMULATED` gives this name `time::clock_gettime`.
            Action::Run(Implementation::Emulated(_)) if slot.call.implementation_name() == "clock_gettime" => {
                Some(PassThrough::CarryClock {
                    host: libc::SYS_clock_gettime as u64,
                    clocks: time::pass_through_clocks(),
                })
            }
            _ => None,
        }
    }

    fn errno_to_guest(&self, host: Errno) -> i32 {
        numbers::errno_to_guest(host.0)
    }

    fn errno_from_guest(&self, guest: i32) -> Errno {
        Errno(numbers::errno_from_guest(guest))
    }

    fn struct_decoder(&self, name: &str) -> Option<StructDecoder> {
        structs::decoder(name)
    }

    fn deliver_signal(
        &self,
        thread: &'static ThreadState,
        sig: i32,
        info: &libc::siginfo_t,
        ctx: &mut GuestContext,
        action: &GuestAction,
    ) -> Result<(), Errno> {
        signal::deliver(thread, sig, info, ctx, action)
    }

    fn defers_signals(&self, thread: &ThreadState) -> bool {
        signal::fast_blocked(thread)
    }

    fn default_ignored(&self) -> u64 {
        (1..=64).filter(|&h| numbers::ignored_by_default_on_guest(h)).fold(0, |m, h| m | 1u64 << (h - 1))
    }

    fn signal_to_guest(&self, host: i32) -> i32 {
        numbers::signal_to_guest(host)
    }

    fn signal_from_guest(&self, guest: i32) -> Option<i32> {
        numbers::signal_to_host(guest)
    }

    fn guest_signal_name(&self, sig: i32) -> SignalName {
        let table: &'static Table = &FREEBSD_AMD64;
        match table.set_by_name("signal").and_then(|s| s.name_of(sig as i64)) {
            Some(v) => SignalName::Named(v.name.as_ref()),
            None if sig == 65 => SignalName::Named("SIGRTMIN"),
            None if (66..=126).contains(&sig) => SignalName::Numbered("SIGRTMIN+", sig - 65),
            None => SignalName::Numbered("", sig),
        }
    }

    /// FreeBSD calls a signal sent to one thread (thr_kill) SI_LWP.
    fn si_code_name(&self, sig: i32, code: i32) -> String {
        match code {
            libc::SI_TKILL => "SI_LWP".to_string(),
            _ => crate::trace::siginfo::code_name(sig, code),
        }
    }

    fn initial_auxv(&self, image: &Loaded) -> InitialAuxv {
        image::initial_auxv(image)
    }

    fn hold_for_fork(&self) -> Option<Box<dyn std::any::Any>> {
        // In this order only: no call holds one of them while taking another.
        Some(Box::new((crate::bsd::kqueue::lock_for_fork(), login::lock_for_fork(), thread::lock_for_fork())))
    }

    fn prepare_address_space(&self, space: &mut AddressSpace) -> Result<(), String> {
        image::map_sigcode(space)
    }

    fn stack_built(&self, stack: &loader::BuiltStack) {
        image::stack_built(stack)
    }

    fn kernel_name(&self) -> &'static str {
        "FreeBSD"
    }

    fn absent_call_signal(&self) -> Option<i32> {
        Some(libc::SIGSYS)
    }

    fn entry_registers(&self, argc_at: u64) -> EntryRegisters {
        image::entry_registers(argc_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi_tables::Support;

    /// The built-in table says a call is supported (or partly) exactly when
    /// the personality carries it out.
    #[test]
    fn table_and_implementations_agree() {
        for call in FREEBSD_AMD64.calls.iter() {
            let implemented = FREEBSD.implementation(call).is_some();
            let claimed = matches!(call.support, Support::Supported | Support::Partial);
            assert_eq!(claimed, implemented, "{}: table says {:?}", call.name, call.support);
        }
    }

    /// Each call of `SAME_AS_LINUX` goes to the number the Linux table
    /// gives its Linux name.
    #[test]
    fn same_as_linux_numbers_are_the_linux_tables() {
        for &(name, linux, number) in SAME_AS_LINUX {
            let in_table = abi_tables::LINUX_X86_64.call_by_name(linux).map(|c| c.number as i64);
            assert_eq!(in_table, Some(number), "{name}: Linux {linux}");
        }
    }
}
