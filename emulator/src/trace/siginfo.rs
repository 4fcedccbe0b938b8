//! siginfo as strace shows it: `si_code=SI_TKILL, si_pid=1234, si_uid=0`.

use std::fmt::Write;

/// The name of an `si_code`, which depends on the signal for kernel-made ones.
pub fn code_name(sig: i32, code: i32) -> String {
    let name = match code {
        0 => "SI_USER",
        0x80 => "SI_KERNEL",
        -1 => "SI_QUEUE",
        -2 => "SI_TIMER",
        -3 => "SI_MESGQ",
        -4 => "SI_ASYNCIO",
        -5 => "SI_SIGIO",
        -6 => "SI_TKILL",
        _ => match (sig, code) {
            (libc::SIGSEGV, 1) => "SEGV_MAPERR",
            (libc::SIGSEGV, 2) => "SEGV_ACCERR",
            (libc::SIGSEGV, 3) => "SEGV_BNDERR",
            (libc::SIGSEGV, 4) => "SEGV_PKUERR",
            (libc::SIGBUS, 1) => "BUS_ADRALN",
            (libc::SIGBUS, 2) => "BUS_ADRERR",
            (libc::SIGBUS, 3) => "BUS_OBJERR",
            (libc::SIGILL, 1) => "ILL_ILLOPC",
            (libc::SIGILL, 2) => "ILL_ILLOPN",
            (libc::SIGILL, 3) => "ILL_ILLADR",
            (libc::SIGILL, 4) => "ILL_ILLTRP",
            (libc::SIGILL, 5) => "ILL_PRVOPC",
            (libc::SIGFPE, 1) => "FPE_INTDIV",
            (libc::SIGFPE, 2) => "FPE_INTOVF",
            (libc::SIGFPE, 3) => "FPE_FLTDIV",
            (libc::SIGTRAP, 1) => "TRAP_BRKPT",
            (libc::SIGTRAP, 2) => "TRAP_TRACE",
            (libc::SIGCHLD, 1) => "CLD_EXITED",
            (libc::SIGCHLD, 2) => "CLD_KILLED",
            (libc::SIGCHLD, 3) => "CLD_DUMPED",
            (libc::SIGCHLD, 4) => "CLD_TRAPPED",
            (libc::SIGCHLD, 5) => "CLD_STOPPED",
            (libc::SIGCHLD, 6) => "CLD_CONTINUED",
            (libc::SIGSYS, 1) => "SYS_SECCOMP",
            _ => return code.to_string(),
        },
    };
    name.to_string()
}

/// The fields that matter for the kind of signal.
pub fn details(line: &mut String, sig: i32, info: &libc::siginfo_t) {
    let code = info.si_code;
    // SAFETY: the union members read are the ones the kernel fills for this signal and code.
    unsafe {
        match sig {
            libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP if code > 0 => {
                let addr = info.si_addr() as u64;
                if addr == 0 {
                    line.push_str(", si_addr=NULL");
                } else {
                    let _ = write!(line, ", si_addr={addr:#x}");
                }
            }
            libc::SIGCHLD if code > 0 => {
                let _ = write!(
                    line,
                    ", si_pid={}, si_uid={}, si_status={}, si_utime={}, si_stime={}",
                    info.si_pid(),
                    info.si_uid(),
                    info.si_status(),
                    info.si_utime(),
                    info.si_stime()
                );
            }
            _ if code <= 0 && code != -2 => {
                let _ = write!(line, ", si_pid={}, si_uid={}", info.si_pid(), info.si_uid());
            }
            _ => {}
        }
    }
}
