//! Linux signal calls, virtualised: the guest's handlers are recorded (emu
//! owns the host's), its mask is kept apart from the host's (which never
//! blocks the signals emu needs), and its frames are built by emu in the
//! layout of the Linux x86-64 `rt_sigframe`, which the guest's
//! `rt_sigreturn` hands back.

use crate::call::Call;
use crate::context::{GuestContext, UC_FP_XSTATE, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS};
use crate::memory::guest;
use crate::signals::delivery::{self, HandlerEntry, MaskChange};
use crate::signals::{self, GuestAction};
use crate::sys::{Errno, SysResult};
use crate::threads::ThreadState;

const SIGSET_SIZE: u64 = 8;
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
    let new = new.map(|k| GuestAction { handler: k.handler, flags: k.flags, mask: k.mask, restorer: k.restorer });
    let old = delivery::sigaction(sig, new)?;
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
    let new = match set {
        0 => None,
        _ => Some(guest::read_val::<u64>(set)?),
    };
    let how = match how as i32 {
        libc::SIG_BLOCK => MaskChange::Block,
        libc::SIG_UNBLOCK => MaskChange::Unblock,
        libc::SIG_SETMASK => MaskChange::Set,
        _ if new.is_none() => MaskChange::Set,
        _ => return Err(Errno::EINVAL),
    };
    let old = delivery::change_mask(call, how, new);
    if oldset != 0 {
        guest::write_val(oldset, &old)?;
    }
    Ok(0)
}

/// A call that blocks with a temporary mask (`delivery::with_temporary_mask`).
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
    delivery::with_temporary_mask(call, temporary, nr, args, set_mask)
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
    let nr = if call.implements() == "epoll_pwait2" { libc::SYS_epoll_pwait2 } else { libc::SYS_epoll_pwait };
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

/// Linux's `stack_t`: ss_sp, ss_flags (an int, padded), ss_size.
fn stack_from(raw: [u64; 3]) -> libc::stack_t {
    libc::stack_t { ss_sp: raw[0] as *mut _, ss_flags: raw[1] as u32 as i32, ss_size: raw[2] as usize }
}

fn stack_to(s: libc::stack_t) -> [u64; 3] {
    [s.ss_sp as u64, s.ss_flags as u32 as u64, s.ss_size as u64]
}

pub fn sigaltstack(call: &mut Call) -> SysResult {
    let [ss, old_ss, ..] = call.args;
    let sp = call.ctx.rsp();
    let old = delivery::altstack_now(&call.thread.signals, sp);
    if ss != 0 {
        let new = stack_from(guest::read_val(ss)?);
        delivery::set_altstack(&call.thread.signals, sp, new, MINSIGSTKSZ)?;
    }
    if old_ss != 0 {
        guest::write_val(old_ss, &stack_to(old))?;
    }
    Ok(0)
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
/// Flags a signal return may change (the kernel's FIX_EFLAGS).
const USER_FLAGS: u64 = 0x0001 | 0x0004 | 0x0010 | 0x0040 | 0x0080 | 0x0100 | 0x0400 | 0x0800 | 0x10000 | 0x40000;

pub fn deliver(
    thread: &'static ThreadState,
    sig: i32,
    info: &libc::siginfo_t,
    ctx: &mut GuestContext,
    action: &GuestAction,
) -> Result<(), Errno> {
    let site = delivery::frame_site(thread, ctx, action);
    let mut top = site.top;
    // The FPU state goes above the frame, 64-byte aligned, and the frame
    // points at it.
    ctx.materialize_initial_legacy();
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
    delivery::check_fits(thread, ctx, &site, frame)?;

    let mut f = [0u8; FRAME_SIZE as usize];
    let put = |f: &mut [u8], at: u64, v: u64| f[at as usize..at as usize + 8].copy_from_slice(&v.to_le_bytes());
    put(&mut f, 0, action.restorer);
    let xstate = if fp_size > 512 { UC_FP_XSTATE } else { 0 };
    put(&mut f, UC_OFFSET, xstate | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS);
    for (i, v) in stack_to(site.altstack).into_iter().enumerate() {
        put(&mut f, UC_OFFSET + 16 + 8 * i as u64, v);
    }
    for (i, &r) in ctx.ucontext().uc_mcontext.gregs.iter().enumerate() {
        put(&mut f, UC_OFFSET + MCONTEXT_OFFSET + 8 * i as u64, r as u64);
    }
    put(&mut f, UC_OFFSET + FPSTATE_PTR_OFFSET, fp_guest);
    put(&mut f, UC_OFFSET + SIGMASK_OFFSET, delivery::mask_to_save(thread));
    // SAFETY: siginfo_t is 128 bytes of plain data.
    let info_bytes = unsafe { std::slice::from_raw_parts(info as *const _ as *const u8, 128) };
    f[INFO_OFFSET as usize..].copy_from_slice(info_bytes);
    guest::write(frame, &f)?;

    let entry = HandlerEntry {
        rip: action.handler,
        rsp: frame,
        rdi: sig as u64,
        rsi: frame + INFO_OFFSET,
        rdx: frame + UC_OFFSET,
    };
    delivery::enter_handler(thread, ctx, sig, action, &site, entry);
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
    delivery::restore_mask(call.thread, call.ctx, get(SIGMASK_OFFSET));

    // The altstack as it was at delivery (SS_AUTODISARM re-arms it here).
    // As the kernel's restore_altstack, an invalid one is ignored.
    let recorded = stack_from([get(16), get(24), get(32)]);
    let _ = delivery::set_altstack(&call.thread.signals, call.ctx.rsp(), recorded, MINSIGSTKSZ);

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
