//! Linux signal calls, virtualised: the guest's handlers are recorded (emu
//! owns the host's), its mask is kept apart from the host's (which never
//! blocks the signals emu needs), and its frames are built by emu in the
//! layout of the Linux x86-64 `rt_sigframe`, which the guest's
//! `rt_sigreturn` hands back.

use crate::context::GuestContext;
use crate::dispatch::Call;
use crate::memory::guest;
use crate::process::process;
use crate::signals::{self, bit, host_mask, GuestAction, ThreadSignals, NO_ALTSTACK, SIG_DFL, UNCATCHABLE};
use crate::sys::{self, Errno, SysResult};
use crate::threads::ThreadState;

const SIGSET_SIZE: u64 = 8;
/// Bytes below the interrupted stack pointer a frame must not touch.
const RED_ZONE: u64 = 128;
const MINSIGSTKSZ: usize = 2048;

/// `struct sigaction` as the kernel reads it.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct KSigaction {
    handler: u64,
    flags: u64,
    restorer: u64,
    mask: u64,
}
// SAFETY: integers only.
unsafe impl guest::Pod for KSigaction {}

fn valid_signal(sig: u64) -> Option<i32> {
    (1..=signals::NSIG as u64).contains(&sig).then_some(sig as i32)
}

pub fn rt_sigaction(call: &mut Call) -> SysResult {
    let [sig, act, oldact, size, ..] = call.args;
    // The kernel's order: the set size, the new action's bytes, the signal.
    if size != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let new: Option<KSigaction> = if act != 0 { Some(guest::read_val(act)?) } else { None };
    let sig = valid_signal(sig).ok_or(Errno::EINVAL)?;
    if new.is_some() && bit(sig) & UNCATCHABLE != 0 {
        return Err(Errno::EINVAL);
    }
    let new = new.map(|k| GuestAction {
        handler: k.handler,
        flags: k.flags,
        mask: k.mask & !UNCATCHABLE,
        restorer: k.restorer,
    });
    let p = process();
    let old = match new {
        Some(a) => p.signals.set(sig, a)?,
        None => p.signals.get(sig),
    };
    if oldact != 0 {
        let k = KSigaction { handler: old.handler, flags: old.flags, restorer: old.restorer, mask: old.mask };
        guest::write_val(oldact, &k)?;
    }
    Ok(0)
}

pub fn rt_sigprocmask(call: &mut Call) -> SysResult {
    let [how, set, oldset, size, ..] = call.args;
    if size != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    let old = call.thread.signals.guest_blocked();
    if set != 0 {
        let s: u64 = guest::read_val(set)?;
        let new = match how as i32 {
            libc::SIG_BLOCK => old | s,
            libc::SIG_UNBLOCK => old & !s,
            libc::SIG_SETMASK => s,
            _ => return Err(Errno::EINVAL),
        };
        call.thread.signals.set_guest_mask(call.ctx, new);
    }
    if oldset != 0 {
        guest::write_val(oldset, &old)?;
    }
    Ok(0)
}

/// Runs a call that blocks with a temporary mask (given to the host without
/// the signals emu needs). If a signal interrupts it, the guest resumes with
/// the temporary mask still in place, so that the held signal is delivered
/// at once, and the frame saves the old mask for the handler's return, as
/// Linux's saved_sigmask does.
///
/// `set_mask` puts a host mask pointer into the host call's arguments. A
/// call whose mask emu cannot take over (a wrong set size, a mask it cannot
/// read) goes to the host as the guest made it, so that the kernel finds
/// the error in its own order (a bad timeout first, say); a mask pointer
/// into emu's memory is replaced by one that faults.
fn with_temporary_mask(
    call: &mut Call,
    mask_ptr: u64,
    size: u64,
    nr: i64,
    set_mask: impl FnOnce(&mut [u64; 6], u64),
) -> SysResult {
    let mut args = call.host_args();
    let temporary = match (mask_ptr, size) {
        (0, _) => return call.host(nr),
        (_, SIGSET_SIZE) => guest::read_val::<u64>(mask_ptr).ok(),
        _ => None,
    };
    let Some(temporary) = temporary else {
        set_mask(&mut args, guest::for_host(mask_ptr, SIGSET_SIZE));
        return call.host_with(nr, args);
    };
    let host = host_mask(temporary);
    set_mask(&mut args, &host as *const u64 as u64);
    let r = call.host_with(nr, args);
    if r == Err(Errno::EINTR) && call.thread.signals.held.load(std::sync::atomic::Ordering::Acquire) != 0 {
        let old = call.thread.signals.guest_blocked();
        call.thread.signals.saved_mask.set(Some(old));
        call.thread.signals.set_guest_mask(call.ctx, temporary);
    }
    r
}

pub fn rt_sigsuspend(call: &mut Call) -> SysResult {
    let [mask, size, ..] = call.args;
    if size != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    with_temporary_mask(call, mask, size, libc::SYS_rt_sigsuspend, |a, m| a[0] = m)
}

pub fn ppoll(call: &mut Call) -> SysResult {
    let (mask, size) = (call.args[3], call.args[4]);
    with_temporary_mask(call, mask, size, libc::SYS_ppoll, |a, m| a[3] = m)
}

pub fn epoll_pwait(call: &mut Call) -> SysResult {
    let nr = if call.name() == "epoll_pwait2" { libc::SYS_epoll_pwait2 } else { libc::SYS_epoll_pwait };
    let (mask, size) = (call.args[4], call.args[5]);
    with_temporary_mask(call, mask, size, nr, |a, m| a[4] = m)
}

/// pselect6's sixth argument points at `{ const sigset_t *ss; size_t ss_len; }`.
pub fn pselect6(call: &mut Call) -> SysResult {
    let data = call.args[5];
    if data == 0 {
        return call.host(libc::SYS_pselect6);
    }
    let [ss, len]: [u64; 2] = guest::read_val(data)?;
    let block = std::cell::Cell::new([0u64; 2]);
    with_temporary_mask(call, ss, len, libc::SYS_pselect6, |a, m| {
        block.set([m, len]);
        a[5] = block.as_ptr() as u64;
    })
}

pub fn sigaltstack(call: &mut Call) -> SysResult {
    let [ss, old_ss, ..] = call.args;
    let sp = call.ctx.rsp();
    let current = call.thread.signals.altstack.get();
    let on = call.thread.signals.on_altstack(sp);
    if ss != 0 {
        let [ss_sp, flags, size]: [u64; 3] = guest::read_val(ss)?;
        set_altstack(&call.thread.signals, sp, ss_sp, flags as u32 as i32, size)?;
    }
    if old_ss != 0 {
        let flags = if on { libc::SS_ONSTACK } else { current.ss_flags };
        let v: [u64; 3] = [current.ss_sp as u64, flags as u32 as u64, current.ss_size as u64];
        guest::write_val(old_ss, &v)?;
    }
    Ok(0)
}

/// The kernel's `do_sigaltstack` for a new stack: refused while running on
/// the current one, checked, then recorded as the guest's.
fn set_altstack(signals: &ThreadSignals, sp: u64, ss_sp: u64, flags: i32, size: u64) -> Result<(), Errno> {
    if signals.on_altstack(sp) {
        return Err(Errno::EPERM);
    }
    let mode = flags & !sys::SS_AUTODISARM;
    if mode != 0 && mode != libc::SS_DISABLE && mode != libc::SS_ONSTACK {
        return Err(Errno::EINVAL);
    }
    signals.altstack.set(if mode == libc::SS_DISABLE {
        NO_ALTSTACK
    } else if (size as usize) < MINSIGSTKSZ {
        return Err(Errno::ENOMEM);
    } else {
        libc::stack_t { ss_sp: ss_sp as *mut _, ss_flags: flags & sys::SS_AUTODISARM, ss_size: size as usize }
    });
    Ok(())
}

// ---------------------------------------------------------------------------
// Frames. The layout is the kernel's (arch/x86/include/asm/sigframe.h):
// pretcode, then struct ucontext, then siginfo; the FPU state sits above,
// 64-byte aligned, and uc_mcontext.fpstate points at it.

const UC_OFFSET: u64 = 8;
/// uc_flags, uc_link, uc_stack (24), uc_mcontext (256), uc_sigmask (8).
const UC_SIZE: u64 = 8 + 8 + 24 + 256 + 8;
const INFO_OFFSET: u64 = UC_OFFSET + UC_SIZE;
const FRAME_SIZE: u64 = INFO_OFFSET + 128;
const MCONTEXT_OFFSET: u64 = 40;
const FPSTATE_PTR_OFFSET: u64 = MCONTEXT_OFFSET + 23 * 8;
const SIGMASK_OFFSET: u64 = MCONTEXT_OFFSET + 256;
// The C library's ucontext_t starts as the kernel's does (its sigset and
// FPU area are larger, after uc_sigmask's first word): the offsets above
// are checked against it.
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(offset_of!(libc::ucontext_t, uc_mcontext) as u64 == MCONTEXT_OFFSET);
    assert!(
        (offset_of!(libc::ucontext_t, uc_mcontext) + offset_of!(libc::mcontext_t, fpregs)) as u64 == FPSTATE_PTR_OFFSET
    );
    assert!(offset_of!(libc::ucontext_t, uc_sigmask) as u64 == SIGMASK_OFFSET);
    assert!(offset_of!(libc::ucontext_t, uc_sigmask) as u64 + 8 == UC_SIZE);
    assert!(size_of::<libc::siginfo_t>() as u64 == FRAME_SIZE - INFO_OFFSET);
};
const UC_FP_XSTATE: u64 = 1;
const UC_SIGCONTEXT_SS: u64 = 2;
const UC_STRICT_RESTORE_SS: u64 = 4;
/// Flags a signal return may change (the kernel's FIX_EFLAGS).
const USER_FLAGS: u64 = 0x0001 | 0x0004 | 0x0010 | 0x0040 | 0x0080 | 0x0100 | 0x0400 | 0x0800 | 0x10000 | 0x40000;
const DF_TF_RF: u64 = 0x0400 | 0x0100 | 0x10000;
/// The 64-bit user code and data selectors (`__USER_CS`, `__USER_DS`).
const USER_CS: i64 = 0x33;
const USER_DS: i64 = 0x2b;

pub fn deliver(
    thread: &'static ThreadState,
    sig: i32,
    info: &libc::siginfo_t,
    ctx: &mut GuestContext,
    action: &GuestAction,
) -> Result<(), Errno> {
    let sp = ctx.rsp();
    let alt = thread.signals.altstack.get();
    let use_alt = action.flags & libc::SA_ONSTACK as u64 != 0
        && alt.ss_flags & libc::SS_DISABLE == 0
        && alt.ss_size != 0
        && !thread.signals.on_altstack(sp);
    let mut top = if use_alt { alt.ss_sp as u64 + alt.ss_size as u64 } else { sp - RED_ZONE };

    let (fp_host, fp_size) = ctx.fpstate().unwrap_or((std::ptr::null_mut(), 0));
    let mut fp_guest = 0;
    if !fp_host.is_null() {
        top = (top - fp_size as u64) & !63;
        fp_guest = top;
        // SAFETY: the kernel's fpstate is fp_size bytes long.
        let bytes = unsafe { std::slice::from_raw_parts(fp_host, fp_size) };
        guest::write(fp_guest, bytes)?;
    }
    let frame = ((top - FRAME_SIZE) & !15) - 8;
    // As the kernel: a frame meant for the alternate stack that does not fit
    // on it is not written below it.
    if (use_alt || thread.signals.on_altstack(sp)) && !thread.signals.on_altstack(frame) {
        return Err(Errno::ENOMEM);
    }

    let mut f = [0u8; FRAME_SIZE as usize];
    let put = |f: &mut [u8], at: u64, v: u64| f[at as usize..at as usize + 8].copy_from_slice(&v.to_le_bytes());
    put(&mut f, 0, action.restorer);
    let xstate = if fp_size > 512 { UC_FP_XSTATE } else { 0 };
    put(&mut f, UC_OFFSET, xstate | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS);
    put(&mut f, UC_OFFSET + 16, alt.ss_sp as u64);
    let alt_flags = if thread.signals.on_altstack(sp) { libc::SS_ONSTACK } else { alt.ss_flags };
    put(&mut f, UC_OFFSET + 24, alt_flags as u32 as u64);
    put(&mut f, UC_OFFSET + 32, alt.ss_size as u64);
    for (i, &r) in ctx.ucontext().uc_mcontext.gregs.iter().enumerate() {
        put(&mut f, UC_OFFSET + MCONTEXT_OFFSET + 8 * i as u64, r as u64);
    }
    put(&mut f, UC_OFFSET + FPSTATE_PTR_OFFSET, fp_guest);
    let saved_mask = thread.signals.saved_mask.take().unwrap_or(thread.signals.guest_blocked());
    put(&mut f, UC_OFFSET + SIGMASK_OFFSET, saved_mask);
    // SAFETY: siginfo_t is 128 bytes of plain data.
    let info_bytes = unsafe { std::slice::from_raw_parts(info as *const _ as *const u8, 128) };
    f[INFO_OFFSET as usize..].copy_from_slice(info_bytes);
    guest::write(frame, &f)?;

    if !fp_host.is_null() {
        ctx.reset_fpstate();
    }
    ctx.set_rip(action.handler);
    ctx.set_rsp(frame);
    ctx.set_rdi(sig as u64);
    ctx.set_rsi(frame + INFO_OFFSET);
    ctx.set_rdx(frame + UC_OFFSET);
    ctx.set_rax(0);
    ctx.set_rflags(ctx.rflags() & !DF_TF_RF);
    // The handler runs in 64-bit mode with the user data segment, whatever
    // a sigreturn frame gave the interrupted code.
    let segments = &mut ctx.ucontext().uc_mcontext.gregs[libc::REG_CSGSFS as usize];
    *segments = (*segments & 0x0000_ffff_ffff_0000) | USER_CS | (USER_DS << 48);

    let mut blocked = thread.signals.guest_blocked() | action.mask;
    if action.flags & libc::SA_NODEFER as u64 == 0 {
        blocked |= bit(sig);
    }
    thread.signals.set_guest_mask(ctx, blocked);
    if use_alt && alt.ss_flags & sys::SS_AUTODISARM != 0 {
        thread.signals.altstack.set(NO_ALTSTACK);
    }
    if action.flags & libc::SA_RESETHAND as u64 != 0 {
        let _ = process().signals.set(sig, GuestAction { handler: SIG_DFL, ..Default::default() });
    }
    Ok(())
}

/// rt_sigreturn: the guest's handler returned through its restorer; its
/// `rt_sigframe` (possibly changed by the handler) is at the stack pointer,
/// `pretcode` already popped.
///
/// The frame is handed on to the host's own rt_sigreturn of this handler,
/// which makes the same checks the guest's kernel would: every register
/// (CS and SS included), the flags (through the kernel's mask), the
/// `uc_flags` that decide how SS is restored, and the FPU state, which the
/// host kernel reads from the guest's `fpstate` pointer itself (NULL means
/// the initial state). A frame the kernel refuses (reserved MXCSR bits, a
/// bad XSAVE header, an unmapped or kernel `fpstate`, a CS it cannot return
/// to) raises SIGSEGV at the guest's restored registers, as natively.
pub fn rt_sigreturn(call: &mut Call) -> SysResult {
    let uc = call.ctx.rsp();
    let mut buf = [0u8; UC_SIZE as usize];
    if guest::read(uc, &mut buf).is_err() {
        // The kernel's badframe: SIGSEGV at the registers of the call.
        signals::force_segv(
            call.thread,
            call.ctx,
            &format!("at {:#x}: rt_sigreturn could not read the signal frame at {uc:#x}", call.ctx.rip()),
        );
        return Err(Errno::JUST_RETURN);
    }
    let get = |at: u64| u64::from_le_bytes(buf[at as usize..at as usize + 8].try_into().unwrap());
    let mask = get(SIGMASK_OFFSET);
    call.thread.signals.saved_mask.set(None);
    call.thread.signals.set_guest_mask(call.ctx, mask);

    // The altstack as it was at delivery (SS_AUTODISARM re-arms it here).
    // As the kernel's restore_altstack, an invalid one is ignored.
    let (ss_sp, ss_flags, ss_size) = (get(16), get(24) as u32 as i32, get(32));
    let _ = set_altstack(&call.thread.signals, call.ctx.rsp(), ss_sp, ss_flags, ss_size);

    let ctx = &mut call.ctx;
    let old_flags = ctx.rflags();
    let uc = ctx.ucontext();
    for (i, greg) in uc.uc_mcontext.gregs.iter_mut().enumerate() {
        *greg = get(MCONTEXT_OFFSET + 8 * i as u64) as i64;
    }
    uc.uc_mcontext.fpregs = get(FPSTATE_PTR_OFFSET) as *mut _;
    uc.uc_flags = get(0);
    let guest_flags = get(MCONTEXT_OFFSET + 8 * libc::REG_EFL as u64);
    ctx.set_rflags((old_flags & !USER_FLAGS) | (guest_flags & USER_FLAGS));
    call.thread.signals.sigreturn_to.set(Some(ctx.rip()));
    Err(Errno::JUST_RETURN)
}
