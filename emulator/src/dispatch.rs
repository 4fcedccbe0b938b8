//! The dispatch core: a trapped `syscall` becomes a call of the guest's
//! table, carried out by the personality's implementation (or refused as the
//! table says), traced and counted, and its result written back the way the
//! guest's kernel would.
//!
//! Per call, when neither tracing, statistics nor hooks are on, this is: one
//! bounds-checked index into the table, one match, the host call.

use crate::call::{Action, Call, Implementation};
use crate::context::GuestContext;
use crate::hooks;
use crate::outcome::Outcome;
use crate::process::{process, Process};
use crate::signals;
use crate::sys::Errno;
use crate::threads::ThreadState;
use abi_tables::{RetKind, Support, Syscall};
use std::sync::atomic::{AtomicBool, Ordering};

/// The call through the hooks and the table.
fn run(p: &Process, call: &mut Call) -> Outcome {
    if p.hooks.is_empty() {
        execute(call)
    } else {
        hooks::run(p.hooks, call)
    }
}

/// A call an `--inject` rule picked: its delays, its outcome instead of
/// the call's own, and its signal, which the guest takes as the call
/// returns (as a signal strace injects at entry reaches a call that does
/// not block; one that would block is not interrupted by it here).
fn inject(p: &Process, call: &mut Call, fired: crate::inject::Fired) -> Outcome {
    if let Some(d) = fired.delay_enter {
        std::thread::sleep(d);
    }
    let outcome = match fired.outcome {
        Some(o) => {
            call.injected = true;
            o
        }
        None => run(p, call),
    };
    if let Some(d) = fired.delay_exit {
        std::thread::sleep(d);
    }
    if let Some(sig) = fired.signal {
        // Blocked in this handler: it arrives when the guest runs again.
        let _ = crate::signals::raise_in_thread(sig, call.thread.tid.get());
    }
    if let Some(stats) = &p.stats {
        stats.record_injected(call.slot);
    }
    outcome
}

/// Carries out the call through the table, without hooks.
pub fn execute(call: &mut Call) -> Outcome {
    call.second = None;
    let result = match call.slot.action {
        Action::Run(Implementation::Host(nr)) => call.host(nr as i64),
        Action::Run(Implementation::Emulated(f)) => f(call),
        Action::Refuse(e) => Err(e),
        Action::Unsupported => {
            if !call.slot.reported.swap(true, Ordering::Relaxed) {
                log::warn!("unsupported system call {} ({}): returning ENOSYS", call.name(), call.number);
            }
            Err(Errno::ENOSYS)
        }
        Action::Absent => absent(call),
    };
    Outcome::from_handler(result, call.second.take())
}

/// A call the release the guest is shown does not have yet.
fn absent(call: &mut Call) -> Result<u64, Errno> {
    let p = process();
    if !call.slot.reported.swap(true, Ordering::Relaxed) {
        if let (Some(view), Some(since)) = (crate::release::view(), call.slot.call.since) {
            log::warn!(
                "{} is not in {} {view} (it came in {since}): returning ENOSYS",
                call.name(),
                p.personality.kernel_name()
            );
        }
    }
    if let Some(sig) = p.personality.absent_call_signal() {
        // Blocked in this handler: the guest takes it as the call returns,
        // as FreeBSD's nosys() posts it.
        let _ = signals::raise_in_thread(sig, call.thread.tid.get());
    }
    Err(Errno::ENOSYS)
}

/// A SIGSYS from Syscall User Dispatch: the guest executed `syscall` (or `int 0x80`).
pub fn on_trap(thread: &'static ThreadState, info: &libc::siginfo_t, ctx: &mut GuestContext) {
    let p = process();
    signals::trap_entered(thread, ctx);
    // SAFETY: the SUD fields of a SIGSYS siginfo (si_call_addr, si_syscall, si_arch).
    let arch = unsafe { sigsys_arch(info) };
    if arch != AUDIT_ARCH_X86_64 {
        int80(p, ctx);
        return;
    }
    let decided = crate::rewrite::consider(ctx);
    if let Some(s) = &p.stats {
        s.record_path(false);
        if let Some(r) = decided.site {
            s.record_site(r);
        }
        s.record_known_sites(decided.known);
    }
    run_call(p, thread, ctx);
}

/// A call that did not come by a SUD trap: through a rewritten site's fast
/// entry (`fast`), or the `ud2` that replaced a rewritten `syscall`
/// (`rewrite`). RIP is after the call, as a trap leaves it.
pub fn on_call(thread: &'static ThreadState, ctx: &mut GuestContext, fast: bool) {
    let p = process();
    signals::trap_entered(thread, ctx);
    if let Some(s) = &p.stats {
        s.record_path(fast);
    }
    run_call(p, thread, ctx);
}

fn run_call(p: &'static Process, thread: &'static ThreadState, ctx: &mut GuestContext) {
    let orig_rax = ctx.rax();
    let (number, args) = p.personality.syscall_args(ctx);
    // An argument the guest's kernel would have failed to copy in.
    let args = match args {
        Ok(args) => args,
        Err(e) => return p.personality.set_return(ctx, &Outcome::Error(e)),
    };
    let Some(slot) = p.slot(number) else {
        if p.first_unknown(number) {
            log::warn!("unknown system call number {number} in {}: returning ENOSYS", p.table.name);
        }
        if let Some(t) = p.tracer.as_ref().filter(|t| t.shows_unknown()) {
            t.unknown(number, &args);
        }
        if let Some(s) = &p.stats {
            s.record_unknown();
        }
        p.personality.set_return(ctx, &Outcome::Error(Errno::ENOSYS));
        return;
    };
    let mut call = Call { slot, number, args, ctx, thread, second: None, injected: false };

    let tracing = slot.traced && p.tracer.is_some();
    if tracing {
        p.tracer.as_ref().unwrap().enter(&mut call);
    }
    let started = p.stats.as_ref().map(|_| crate::stats::now());
    // (The table's entry only when counting: it is a cache miss away.)
    if let Some(stats) = p.stats.as_ref().filter(|_| slot.call.ret == RetKind::None) {
        // It does not come back to be counted.
        stats.record(slot, &Outcome::value(0), crate::stats::now());
    }
    let fired = p.injections.and_then(|i| i.fire(slot));
    let outcome = match fired {
        None => run(p, &mut call),
        Some(f) => inject(p, &mut call, f),
    };
    if let (Some(stats), Some(started)) = (&p.stats, started) {
        // A call that starts again is counted when it is done.
        if outcome != Outcome::Restart {
            stats.record(slot, &outcome, started);
        }
    }
    if tracing {
        p.tracer.as_ref().unwrap().exit(&mut call, &outcome);
    }
    match outcome {
        Outcome::JustReturn => {}
        Outcome::Restart => {
            // Back to the `syscall` instruction, with the number it had.
            call.ctx.set_rip(call.ctx.rip() - 2);
            call.ctx.set_rax(orig_rax);
        }
        o => p.personality.set_return(call.ctx, &o),
    }
}

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// `si_arch` of a SUD SIGSYS (the kernel's `_sigsys` union member).
///
/// # Safety
/// `info` must be the siginfo of a SIGSYS, whose union holds `_sigsys`.
unsafe fn sigsys_arch(info: &libc::siginfo_t) -> u32 {
    #[repr(C)]
    struct SigsysInfo {
        signo: i32,
        errno: i32,
        code: i32,
        _pad: i32,
        call_addr: u64,
        syscall: i32,
        arch: u32,
    }
    (*(info as *const libc::siginfo_t as *const SigsysInfo)).arch
}

/// `int 0x80` from 64-bit code: the i386 numbering, which no guest of emu
/// speaks. Refused with ENOSYS, with one warning.
fn int80(p: &Process, ctx: &mut GuestContext) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        log::warn!(
            "{}: int 0x80 (i386 system call {}) at {:#x} is not supported: returning ENOSYS",
            p.guest_name(),
            ctx.rax() as u32,
            ctx.rip().wrapping_sub(2)
        );
    }
    // The i386 convention: -errno in EAX, whatever the personality.
    ctx.set_rax(-(libc::ENOSYS as i64) as u64);
}

/// For the table loader: what to do for a call.
pub fn action_for(personality: &dyn crate::personality::Personality, call: &Syscall) -> Result<Action, String> {
    match &call.support {
        Support::Unsupported => Ok(Action::Unsupported),
        Support::Error { errno, .. } => Ok(Action::Refuse(personality.errno_from_guest(*errno))),
        Support::Supported | Support::Partial => personality.implementation(call).map(Action::Run).ok_or_else(|| {
            format!(
                "the {} personality has no implementation of `{}`; mark it `unsupported`",
                personality.name(),
                call.name
            )
        }),
    }
}
