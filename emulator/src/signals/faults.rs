//! Synchronous faults (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP raised by
//! an instruction): the guest's handler gets them, or the guest dies with a
//! report naming the faulting instruction; a fault in emu itself is a bug
//! and is reported as one.

use super::{deliver, die_by_default, set_host_action, SIG_DFL, SIG_IGN};
use crate::context::GuestContext;
use crate::memory::guest;
use crate::process::process;
use crate::threads::ThreadState;
use iced_x86::{Decoder, DecoderOptions, Formatter, IntelFormatter};

pub fn is_synchronous_fault(sig: i32, info: &libc::siginfo_t) -> bool {
    matches!(sig, libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP) && info.si_code > 0
}

pub fn on_fault(
    thread: &'static ThreadState,
    sig: i32,
    info: &libc::siginfo_t,
    ctx: &mut GuestContext,
    in_guest: bool,
) {
    let p = process();
    let rip = ctx.rip();
    if !in_guest {
        // emu's own probe of guest memory: the access fails, not emu.
        if let Some(resume) = super::entry::touch_recovery(rip) {
            ctx.set_rip(resume);
            return;
        }
        // Only when a plugin was running: the description allocates and asks
        // the loader, which a fault inside emu itself must not.
        let fault = || {
            format!(
                "{} at {rip:#x}{} ({})",
                p.personality.signal_name(sig),
                crate::hooks::code_location(rip),
                describe_fault(sig, info)
            )
        };
        if let Some(report) = crate::hooks::hook_fault_report(fault) {
            log::error!("{report}");
            crate::lifecycle::killed_by(sig);
            super::die_by_default(sig);
        }
        // The guest single-steps (EFLAGS.TF) into a rewritten site's entry,
        // which has no guest instructions to step through. The entry's
        // assembly holds no lock and is not allocating: reporting is safe.
        const TF: u64 = 0x100;
        if sig == libc::SIGTRAP && crate::rewrite::in_fast_entry(rip) && ctx.rflags() & TF != 0 {
            log::error!(
                "{}: the guest single-steps (EFLAGS.TF) through a rewritten system call site, which emu cannot \
                 follow; run it with --no-rewrite",
                p.guest_name()
            );
            crate::lifecycle::killed_by(sig);
            super::die_by_default(sig);
        }
        log::error!(
            "internal error: {} in the emulator at {rip:#x} ({}); please report it",
            p.personality.signal_name(sig),
            describe_fault(sig, info)
        );
        // Let the fault happen again with the default action, for a core
        // dump at the spot. Without the dispositions' lock: this thread may
        // hold it. Should another thread give the host emu's handler back
        // meanwhile, the fault comes here again and does this again.
        let _ = set_host_action(sig, SIG_DFL, 0, 0);
        return;
    }
    if (sig == libc::SIGILL || sig == libc::SIGTRAP) && crate::rewrite::on_fault(thread, sig, ctx) {
        return;
    }
    let refused_sigreturn =
        sig == libc::SIGSEGV && info.si_code == SI_KERNEL && thread.signals.sigreturn_to.take() == Some(rip);
    deliver_or_die(thread, sig, info, ctx, || {
        if refused_sigreturn {
            format!("at {rip:#x}: rt_sigreturn refused the signal frame")
        } else {
            format!("at {rip:#x} ({}): {}", describe_fault(sig, info), instruction_at(rip))
        }
    });
}

/// `si_code` of a signal the kernel raised itself (a general protection
/// fault, a sigreturn frame it refused).
const SI_KERNEL: i32 = 0x80;

/// The kernel's `force_sig(SIGSEGV)` for a call it refuses that way (a
/// sigreturn frame it cannot read).
pub fn force_segv(thread: &'static ThreadState, ctx: &mut GuestContext, why: &str) {
    // SAFETY: an all-zero siginfo is a valid one to fill in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    info.si_signo = libc::SIGSEGV;
    info.si_code = SI_KERNEL;
    deliver_or_die(thread, libc::SIGSEGV, &info, ctx, || why.to_string());
}

/// The guest's handler gets a fault, unless the guest blocks or ignores it:
/// then it dies of it (the kernel's force_sig), with `report` saying why.
fn deliver_or_die(
    thread: &'static ThreadState,
    sig: i32,
    info: &libc::siginfo_t,
    ctx: &mut GuestContext,
    report: impl FnOnce() -> String,
) {
    let p = process();
    let mut action = p.signals.get(sig);
    if action.handler <= SIG_IGN {
        action = p.signals.settled(sig);
    }
    if action.handler > SIG_IGN && !thread.signals.blocks(sig) {
        deliver(thread, sig, info, ctx);
        return;
    }
    // The kernel keeps a running program's file from being written
    // (ETXTBSY); emu cannot, so a crash may come from a rewritten file.
    let changed = if p.exe_changed() { " (its executable file was changed while it ran)" } else { "" };
    log::error!("{}: killed by {} {}{changed}", p.guest_name(), p.personality.signal_name(sig), report());
    if let Some(t) = &p.tracer {
        t.signal(sig, info);
    }
    crate::lifecycle::killed_by(sig);
    // Sent again rather than left to the instruction to raise once more: a
    // trap has moved past its instruction, and a fault the kernel raised for
    // a refused sigreturn frame would not happen again. (A core dump then
    // shows this handler's registers, not the guest's.)
    die_by_default(sig);
}

/// What kind of fault, at which address: `address 0x0 not mapped`.
/// Formatting it allocates nothing: the report of a fault inside emu prints
/// it from a handler that may have interrupted malloc.
pub struct FaultDescription {
    sig: i32,
    code: i32,
    addr: u64,
}

pub fn describe_fault(sig: i32, info: &libc::siginfo_t) -> FaultDescription {
    // SAFETY: si_addr is valid for the fault signals.
    let addr = unsafe { info.si_addr() } as u64;
    FaultDescription { sig, code: info.si_code, addr }
}

impl std::fmt::Display for FaultDescription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addr = self.addr;
        let what = match (self.sig, self.code) {
            (libc::SIGSEGV, 1) => return write!(f, "address {addr:#x} not mapped"),
            (libc::SIGSEGV, 2) => return write!(f, "access to {addr:#x} not permitted"),
            (libc::SIGSEGV, 0x80) => return f.write_str("general protection fault"),
            (libc::SIGBUS, 1) => "invalid address alignment",
            (libc::SIGBUS, 2) => "nonexistent physical address",
            (libc::SIGBUS, 3) => "object-specific hardware error",
            (libc::SIGILL, 1) => return f.write_str("illegal opcode"),
            (libc::SIGILL, 2) => return f.write_str("illegal operand"),
            (libc::SIGILL, 5) => return f.write_str("privileged opcode"),
            (libc::SIGILL, _) => return f.write_str("illegal instruction"),
            (libc::SIGFPE, 1) => return f.write_str("integer divide by zero"),
            (libc::SIGFPE, 2) => return f.write_str("integer overflow"),
            (libc::SIGFPE, _) => return f.write_str("floating-point exception"),
            (libc::SIGTRAP, 1) => return f.write_str("breakpoint"),
            (libc::SIGTRAP, 2) => return f.write_str("trace trap"),
            (libc::SIGTRAP, _) => return f.write_str("trap"),
            _ => "fault",
        };
        write!(f, "{what} at {addr:#x}")
    }
}

/// The instruction at a guest address, decoded: `mov dword ptr [rax],1`.
pub fn instruction_at(rip: u64) -> String {
    let mut bytes = [0u8; 16];
    // Read what is readable: the instruction may end at the last mapped byte.
    let mut len = bytes.len();
    while len > 0 && guest::read(rip, &mut bytes[..len]).is_err() {
        len -= 1;
    }
    if len == 0 {
        return "(instruction not readable)".into();
    }
    let mut decoder = Decoder::with_ip(64, &bytes[..len], rip, DecoderOptions::NONE);
    let instr = decoder.decode();
    if instr.is_invalid() {
        return format!("(undecodable bytes {:02x?})", &bytes[..len.min(8)]);
    }
    let mut text = String::new();
    IntelFormatter::new().format(&instr, &mut text);
    text
}
