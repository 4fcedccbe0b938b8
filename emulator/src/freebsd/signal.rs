//! FreeBSD's signal calls and frames, over the core's delivery machinery
//! (`signals::delivery`): FreeBSD's numbers, 128-bit sets, `struct
//! sigaction` without a restorer, `stack_t` in its own order, and the
//! `struct sigframe` (handler, ucontext with FreeBSD's mcontext, siginfo)
//! that the kernel's sigcode calls the handler from and hands back to
//! sigreturn(2).

use super::{image, numbers};
use crate::call::Call;
use crate::context::GuestContext;
use crate::memory::guest;
use crate::signals::delivery::{self, HandlerEntry, MaskChange};
use crate::signals::GuestAction;
use crate::sys::{self, Errno, SysResult};
use crate::threads::ThreadState;

/// A FreeBSD signal number as the host's.
fn host_signal(guest: u64) -> Result<i32, Errno> {
    numbers::signal_to_host(guest as u32 as i32).ok_or(Errno::EINVAL)
}

fn read_set(at: u64) -> Result<u64, Errno> {
    Ok(numbers::mask_to_host(guest::read_val::<[u32; 4]>(at)?))
}

fn write_set(at: u64, host: u64) -> Result<(), Errno> {
    guest::write_val(at, &numbers::mask_to_guest(host))
}

/// FreeBSD's SA_* bits and the host's.
const SA_FLAGS: [(u32, i32); 7] = [
    (0x01, libc::SA_ONSTACK),
    (0x02, libc::SA_RESTART),
    (0x04, libc::SA_RESETHAND),
    (0x08, libc::SA_NOCLDSTOP),
    (0x10, libc::SA_NODEFER),
    (0x20, libc::SA_NOCLDWAIT),
    (0x40, libc::SA_SIGINFO),
];

fn sa_flags_to_host(f: u32) -> u64 {
    SA_FLAGS.iter().filter(|(g, _)| f & g != 0).fold(0, |m, (_, h)| m | *h as u32 as u64)
}

fn sa_flags_to_guest(f: u64) -> u32 {
    SA_FLAGS.iter().filter(|(_, h)| f & *h as u32 as u64 != 0).fold(0, |m, (g, _)| m | g)
}

/// `struct sigaction`: handler, int flags, 128-bit mask (32 bytes with padding).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Sigaction {
    handler: u64,
    flags: u32,
    mask: [u32; 4],
    pad: u32,
}
// SAFETY: integers only.
unsafe impl guest::Pod for Sigaction {}

pub fn sigaction(call: &mut Call) -> SysResult {
    let [sig, act, oact, ..] = call.args;
    let sig = host_signal(sig)?;
    let new = match act {
        0 => None,
        _ => {
            let a: Sigaction = guest::read_val(act)?;
            Some(GuestAction {
                handler: a.handler,
                flags: sa_flags_to_host(a.flags),
                mask: numbers::mask_to_host(a.mask),
                restorer: 0,
            })
        }
    };
    let old = delivery::sigaction(sig, new)?;
    if oact != 0 {
        let o = Sigaction {
            handler: old.handler,
            flags: sa_flags_to_guest(old.flags),
            mask: numbers::mask_to_guest(old.mask),
            pad: 0,
        };
        guest::write_val(oact, &o)?;
    }
    Ok(0)
}

pub fn sigprocmask(call: &mut Call) -> SysResult {
    let [how, set, oset, ..] = call.args;
    let new = match set {
        0 => None,
        _ => Some(read_set(set)?),
    };
    let how = match how as u32 {
        1 => MaskChange::Block,
        2 => MaskChange::Unblock,
        3 => MaskChange::Set,
        _ if new.is_none() => MaskChange::Set,
        _ => return Err(Errno::EINVAL),
    };
    let old = delivery::change_mask(call, how, new);
    if oset != 0 {
        write_set(oset, old)?;
    }
    Ok(0)
}

pub fn sigsuspend(call: &mut Call) -> SysResult {
    let temporary = read_set(call.args[0])?;
    delivery::with_temporary_mask(call, temporary, libc::SYS_rt_sigsuspend, [0, 8, 0, 0, 0, 0], |a, m| a[0] = m)
}

/// FreeBSD's `stack_t`: ss_sp, ss_size, ss_flags (SS_ONSTACK 1, SS_DISABLE 4).
const SS_ONSTACK: u64 = 1;
const SS_DISABLE: u64 = 4;
const MINSIGSTKSZ: usize = 2048;

fn stack_from(raw: [u64; 3]) -> Result<libc::stack_t, Errno> {
    let flags = raw[2] as u32 as u64;
    if flags & !(SS_ONSTACK | SS_DISABLE) != 0 {
        return Err(Errno::EINVAL);
    }
    let host = if flags & SS_DISABLE != 0 { libc::SS_DISABLE } else { 0 };
    Ok(libc::stack_t { ss_sp: raw[0] as *mut _, ss_size: raw[1] as usize, ss_flags: host })
}

fn stack_to(s: libc::stack_t) -> [u64; 3] {
    let mut flags = 0;
    if s.ss_flags & libc::SS_ONSTACK != 0 {
        flags |= SS_ONSTACK;
    }
    if s.ss_flags & libc::SS_DISABLE != 0 {
        flags |= SS_DISABLE;
    }
    [s.ss_sp as u64, s.ss_size as u64, flags]
}

pub fn sigaltstack(call: &mut Call) -> SysResult {
    let [ss, old_ss, ..] = call.args;
    let sp = call.ctx.rsp();
    let old = delivery::altstack_now(&call.thread.signals, sp);
    if ss != 0 {
        let new = stack_from(guest::read_val(ss)?)?;
        delivery::set_altstack(&call.thread.signals, sp, new, MINSIGSTKSZ)?;
    }
    if old_ss != 0 {
        guest::write_val(old_ss, &stack_to(old))?;
    }
    Ok(0)
}

pub fn kill(call: &mut Call) -> SysResult {
    let [pid, sig, ..] = call.args;
    let sig = if sig as u32 == 0 { 0 } else { host_signal(sig)? };
    // Counted before it is sent: it may arrive before kill returns.
    let to_self = sig != 0 && (pid as i32 == crate::process::self_pid() || pid as i32 == 0);
    if to_self {
        crate::signals::observe::sent_to_self(sig);
    }
    let r = call.host_with(libc::SYS_kill, [pid as i32 as u64, sig as u64, 0, 0, 0, 0]);
    if to_self && r.is_err() {
        crate::signals::observe::not_sent(sig);
    }
    r
}

// ---------------------------------------------------------------------------
// siginfo

const SIGINFO_SIZE: usize = 80;

/// FreeBSD's si_code for the host's.
fn code_to_guest(sig: i32, code: i32) -> i32 {
    match code {
        libc::SI_USER => 0x10001,
        libc::SI_QUEUE => 0x10002,
        libc::SI_TIMER => 0x10003,
        libc::SI_MESGQ => 0x10005,
        libc::SI_ASYNCIO => 0x10004,
        libc::SI_TKILL => 0x10007, // SI_LWP: thr_kill
        libc::SI_KERNEL => 0x10006,
        // FreeBSD numbers these two the other way round.
        1 if sig == libc::SIGFPE => 2,
        2 if sig == libc::SIGFPE => 1,
        c => c,
    }
}

/// The host's siginfo in FreeBSD's layout (80 bytes).
pub fn siginfo_to_guest(info: &libc::siginfo_t) -> [u8; SIGINFO_SIZE] {
    let sig = info.si_signo;
    let mut out = [0u8; SIGINFO_SIZE];
    let mut put32 = |at: usize, v: i32| out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put32(0, numbers::signal_to_guest(sig));
    put32(4, info.si_errno);
    put32(8, code_to_guest(sig, info.si_code));
    let fault =
        matches!(sig, libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP) && info.si_code > 0;
    // SAFETY: the union member each branch reads is the one the kernel
    // fills for that signal and code.
    unsafe {
        if fault {
            out[24..32].copy_from_slice(&(info.si_addr() as u64).to_le_bytes());
        } else {
            let mut put32 = |at: usize, v: i32| out[at..at + 4].copy_from_slice(&v.to_le_bytes());
            put32(12, info.si_pid());
            put32(16, info.si_uid() as i32);
            if sig == libc::SIGCHLD {
                put32(20, info.si_status());
            }
            out[32..40].copy_from_slice(&(info.si_value().sival_ptr as u64).to_le_bytes());
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Frames (sys/amd64/include/sigframe.h, sys/x86/include/ucontext.h)

/// struct sigframe: the handler, ucontext_t at 16, siginfo at 896.
const FRAME_SIZE: u64 = 976;
const UC_OFFSET: u64 = 16;
const INFO_OFFSET: u64 = 896;
/// In ucontext_t: the mask, mcontext_t at 16, uc_stack at 824.
const UC_SIZE: usize = 880;
const MC: usize = 16;
const UC_STACK: usize = 824;
/// mcontext_t offsets.
const MC_ONSTACK: usize = 0;
const MC_TRAPNO: usize = 128;
const MC_ADDR: usize = 136;
const MC_FLAGS: usize = 144;
const MC_ERR: usize = 152;
const MC_RIP: usize = 160;
const MC_CS: usize = 168;
const MC_RFLAGS: usize = 176;
const MC_RSP: usize = 184;
const MC_SS: usize = 192;
const MC_LEN: usize = 200;
const MC_FPFORMAT: usize = 208;
const MC_OWNEDFP: usize = 216;
const MC_FPSTATE: usize = 224;
const MC_FSBASE: usize = 736;
const MC_GSBASE: usize = 744;
const MC_XFPUSTATE: usize = 752;
const MC_XFPUSTATE_LEN: usize = 760;
const MC_SIZE: u64 = 800;
const MC_HASSEGS: u64 = 1;
const MC_HASBASES: u64 = 2;
const MC_HASFPXSTATE: u64 = 4;
const MC_FLAG_MASK: u64 = 0xf;
const MC_FPFMT_XMM: u64 = 0x10002;
const MC_FPOWNED_NONE: u64 = 0x20000;
const MC_FPOWNED_FPU: u64 = 0x20001;
/// FreeBSD's user selectors, as a FreeBSD mcontext shows them.
const FREEBSD_UCODESEL: u64 = 0x43;
const FREEBSD_UDATASEL: u64 = 0x3b;
/// The legacy FXSAVE area; its last 48 bytes are free for software, where
/// Linux keeps the magic that says an XSAVE area follows.
const FXSAVE_SIZE: usize = 512;
const FXSAVE_SW: usize = 464;

/// The general registers, in mcontext order from mc_rdi, as host gregs indices.
const GPRS: [i32; 15] = [
    libc::REG_RDI,
    libc::REG_RSI,
    libc::REG_RDX,
    libc::REG_RCX,
    libc::REG_R8,
    libc::REG_R9,
    libc::REG_RAX,
    libc::REG_RBX,
    libc::REG_RBP,
    libc::REG_R10,
    libc::REG_R11,
    libc::REG_R12,
    libc::REG_R13,
    libc::REG_R14,
    libc::REG_R15,
];

fn put(f: &mut [u8], at: usize, v: u64) {
    f[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get(f: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(f[at..at + 8].try_into().unwrap())
}

/// sendsig: the frame goes below the red zone (or on the alternate
/// stack), the whole host FPU state below it (FreeBSD's mc_xfpustate
/// points past its legacy part, as the kernel's does); the handler is
/// entered through the sigcode with RDI = signal, RSI = &siginfo (or the
/// code, without SA_SIGINFO), RDX = &ucontext, RCX = the fault address.
pub fn deliver(
    thread: &'static ThreadState,
    sig: i32,
    info: &libc::siginfo_t,
    ctx: &mut GuestContext,
    action: &GuestAction,
) -> Result<(), Errno> {
    let site = delivery::frame_site(thread, ctx, action);
    let mut top = site.top;
    ctx.materialize_initial_legacy();
    let (fp_host, fp_size) = ctx.fpstate().unwrap_or((std::ptr::null_mut(), 0));
    // SAFETY: the kernel's fpstate of this frame is fp_size bytes long.
    let fp = if fp_host.is_null() { &[][..] } else { unsafe { std::slice::from_raw_parts(fp_host, fp_size) } };
    let mut xfpu = 0;
    if fp.len() > FXSAVE_SIZE {
        top = (top - fp.len() as u64) & !63;
        xfpu = top;
        guest::write(xfpu, fp)?;
    }
    let frame = (top - FRAME_SIZE) & !15;
    delivery::check_fits(thread, ctx, &site, frame)?;

    let mut f = vec![0u8; FRAME_SIZE as usize];
    put(&mut f, 0, action.handler);
    let uc = UC_OFFSET as usize;
    let mask = numbers::mask_to_guest(delivery::mask_to_save(thread));
    for (i, w) in mask.iter().enumerate() {
        f[uc + 4 * i..uc + 4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    let mc = uc + MC;
    let gregs = ctx.ucontext().uc_mcontext.gregs;
    let g = |r: i32| gregs[r as usize] as u64;
    put(&mut f, mc + MC_ONSTACK, u64::from(thread.signals.on_altstack(ctx.rsp())));
    for (i, &r) in GPRS.iter().enumerate() {
        put(&mut f, mc + 8 + 8 * i, g(r));
    }
    f[mc + MC_TRAPNO..mc + MC_TRAPNO + 4].copy_from_slice(&(g(libc::REG_TRAPNO) as u32).to_le_bytes());
    put(&mut f, mc + MC_ADDR, g(libc::REG_CR2));
    let flags = MC_HASSEGS | MC_HASBASES | if xfpu != 0 { MC_HASFPXSTATE } else { 0 };
    f[mc + MC_FLAGS..mc + MC_FLAGS + 4].copy_from_slice(&(flags as u32).to_le_bytes());
    put(&mut f, mc + MC_ERR, g(libc::REG_ERR));
    put(&mut f, mc + MC_RIP, g(libc::REG_RIP));
    put(&mut f, mc + MC_CS, FREEBSD_UCODESEL);
    put(&mut f, mc + MC_RFLAGS, g(libc::REG_EFL));
    put(&mut f, mc + MC_RSP, g(libc::REG_RSP));
    put(&mut f, mc + MC_SS, FREEBSD_UDATASEL);
    put(&mut f, mc + MC_LEN, MC_SIZE);
    put(&mut f, mc + MC_FPFORMAT, MC_FPFMT_XMM);
    if fp.is_empty() {
        put(&mut f, mc + MC_OWNEDFP, MC_FPOWNED_NONE);
    } else {
        put(&mut f, mc + MC_OWNEDFP, MC_FPOWNED_FPU);
        f[mc + MC_FPSTATE..mc + MC_FPSTATE + FXSAVE_SW].copy_from_slice(&fp[..FXSAVE_SW]);
    }
    put(&mut f, mc + MC_FSBASE, thread.guest_fs.get());
    put(&mut f, mc + MC_GSBASE, 0);
    if xfpu != 0 {
        put(&mut f, mc + MC_XFPUSTATE, xfpu + FXSAVE_SIZE as u64);
        put(&mut f, mc + MC_XFPUSTATE_LEN, (fp.len() - FXSAVE_SIZE) as u64);
    }
    for (i, v) in stack_to(site.altstack).into_iter().enumerate() {
        put(&mut f, uc + UC_STACK + 8 * i, v);
    }
    let siginfo = action.flags & libc::SA_SIGINFO as u64 != 0;
    if siginfo {
        f[INFO_OFFSET as usize..].copy_from_slice(&siginfo_to_guest(info));
    }
    guest::write(frame, &f)?;

    let guest_sig = numbers::signal_to_guest(sig) as u64;
    let rsi = if siginfo { frame + INFO_OFFSET } else { code_to_guest(sig, info.si_code) as u32 as u64 };
    let entry = HandlerEntry { rip: image::sigcode(), rsp: frame, rdi: guest_sig, rsi, rdx: frame + UC_OFFSET };
    delivery::enter_handler(thread, ctx, sig, action, &site, entry);
    // SAFETY: si_addr is meaningful for faults and zero otherwise.
    ctx.set_rcx(unsafe { info.si_addr() } as u64);
    Ok(())
}

/// PSL_USERCHANGE: the flags a sigreturn may change.
const USER_CHANGEABLE_FLAGS: u64 = 0x254dd5;

/// sigreturn(ucontext): the registers, FPU state, FS base and mask of the
/// (possibly changed) ucontext, as FreeBSD's sys_sigreturn checks and
/// restores them. The FPU state goes to the host's rt_sigreturn as a
/// pointer into the guest's frame: the whole state the delivery saved
/// below it, with the legacy part the handler may have changed, or the
/// legacy area alone.
pub fn sigreturn(call: &mut Call) -> SysResult {
    let uc = call.args[0];
    let mut u = [0u8; UC_SIZE];
    guest::read(uc, &mut u)?;
    let mc = MC;
    let flags = u32::from_le_bytes(u[mc + MC_FLAGS..mc + MC_FLAGS + 4].try_into().unwrap()) as u64;
    let rflags = get(&u, mc + MC_RFLAGS);
    if flags & !MC_FLAG_MASK != 0 || (rflags ^ call.ctx.rflags()) & !USER_CHANGEABLE_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    if get(&u, mc + MC_CS) & 3 != 3 {
        return Err(Errno::EINVAL);
    }
    let fpregs = match get(&u, mc + MC_OWNEDFP) {
        MC_FPOWNED_NONE => 0,
        _ => {
            let legacy = &u[mc + MC_FPSTATE..mc + MC_FPSTATE + FXSAVE_SW];
            let xfpu = get(&u, mc + MC_XFPUSTATE);
            if flags & MC_HASFPXSTATE != 0 && xfpu != 0 {
                let whole = xfpu - FXSAVE_SIZE as u64;
                guest::write(whole, legacy)?;
                whole
            } else {
                // No extended state: the legacy area alone, without the
                // software bytes that would claim one.
                let at = uc + (mc + MC_FPSTATE) as u64;
                guest::write(at + FXSAVE_SW as u64, &[0u8; FXSAVE_SIZE - FXSAVE_SW])?;
                at
            }
        }
    };
    let mut mask = [0u32; 4];
    for (i, w) in mask.iter_mut().enumerate() {
        *w = u32::from_le_bytes(u[4 * i..4 * i + 4].try_into().unwrap());
    }
    delivery::restore_mask(call.thread, call.ctx, numbers::mask_to_host(mask));
    call.thread.guest_fs.set(get(&u, mc + MC_FSBASE));

    let ctx = &mut call.ctx;
    let old_flags = ctx.rflags();
    let uctx = ctx.ucontext();
    for (i, &r) in GPRS.iter().enumerate() {
        uctx.uc_mcontext.gregs[r as usize] = get(&u, mc + 8 + 8 * i) as i64;
    }
    uctx.uc_mcontext.gregs[libc::REG_RIP as usize] = get(&u, mc + MC_RIP) as i64;
    uctx.uc_mcontext.gregs[libc::REG_RSP as usize] = get(&u, mc + MC_RSP) as i64;
    uctx.uc_mcontext.fpregs = fpregs as *mut _;
    ctx.set_rflags((old_flags & !USER_CHANGEABLE_FLAGS) | (rflags & USER_CHANGEABLE_FLAGS));
    call.thread.signals.sigreturn_to.set(Some(ctx.rip()));
    Err(Errno::JUST_RETURN)
}

/// thr_kill and kill's translation of the signal, for `thread`.
pub fn host_signal_or_zero(sig: u64) -> Result<i32, Errno> {
    if sig as u32 == 0 {
        Ok(0)
    } else {
        host_signal(sig)
    }
}

/// Sends `sig` (host numbering) to one thread of this process.
pub fn to_thread(tid: i32, sig: i32) -> SysResult {
    // SAFETY: tgkill to a thread of this process.
    sys::result(unsafe {
        sys::syscall6(libc::SYS_tgkill as u64, [sys::getpid() as u64, tid as u64, sig as u64, 0, 0, 0])
    })
}

/// sigpending(set): the thread's and the process's pending signals, in
/// FreeBSD's numbering (those emu holds for the guest are pending too).
pub fn sigpending(call: &mut Call) -> SysResult {
    let mut host = 0u64;
    call.host_with(libc::SYS_rt_sigpending, [&mut host as *mut u64 as u64, 8, 0, 0, 0, 0])?;
    write_set(call.args[0], host)?;
    Ok(0)
}

/// The wait of sigtimedwait, sigwaitinfo and sigwait: a signal of `set`
/// taken from the pending ones (within `timeout`, if one is given).
fn wait_for(call: &mut Call, set: u64, timeout: u64) -> Result<libc::siginfo_t, Errno> {
    let host = crate::signals::host_mask(read_set(set)?);
    let ts = if timeout == 0 {
        None
    } else {
        let [sec, nsec]: [i64; 2] = guest::read_val(timeout)?;
        Some(libc::timespec { tv_sec: sec, tv_nsec: nsec })
    };
    // SAFETY: zeroes are a valid siginfo for the kernel to fill.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let ts_ptr = ts.as_ref().map_or(0, |t| t as *const _ as u64);
    call.host_with(
        libc::SYS_rt_sigtimedwait,
        [&host as *const u64 as u64, &mut info as *mut _ as u64, ts_ptr, 8, 0, 0],
    )?;
    Ok(info)
}

/// sigtimedwait(set, info, timeout) and sigwaitinfo(set, info): the signal
/// number (FreeBSD's), its siginfo in FreeBSD's layout.
pub fn sigtimedwait(call: &mut Call) -> SysResult {
    let [set, info_at, timeout, ..] = call.args;
    let timeout = if call.implements() == "sigwaitinfo" { 0 } else { timeout };
    let info = wait_for(call, set, timeout)?;
    if info_at != 0 {
        guest::write(info_at, &siginfo_to_guest(&info))?;
    }
    Ok(numbers::signal_to_guest(info.si_signo) as u64)
}

/// sigwait(set, sig): FreeBSD returns the error as the call's value (the
/// carry flag clear), and never EINTR.
pub fn sigwait(call: &mut Call) -> SysResult {
    let [set, sig_at, ..] = call.args;
    loop {
        match wait_for(call, set, 0) {
            Ok(info) => {
                let written = guest::write_val(sig_at, &numbers::signal_to_guest(info.si_signo));
                return Ok(written.err().map_or(0, |e| numbers::errno_to_guest(e.0) as u64));
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Ok(numbers::errno_to_guest(e.0) as u64),
        }
    }
}

// sigfastblock(2): a word of the thread's own that holds its asynchronous
// signals off while it counts blocks (libthr and rtld use it around their
// critical sections instead of sigprocmask).
const SIGFASTBLOCK_SETPTR: u64 = 1;
const SIGFASTBLOCK_UNBLOCK: u64 = 2;
const SIGFASTBLOCK_UNSETPTR: u64 = 3;
/// In the word: a signal waits for the UNBLOCK call.
const SIGFASTBLOCK_PEND: u32 = 0x1;
const SIGFASTBLOCK_FLAGS: u32 = 0xf;

/// Whether `thread`'s word counts blocks; if so, marks a signal pending in
/// it (SIGFASTBLOCK_PEND), so that the thread calls UNBLOCK when its count
/// drops to 0. From a signal handler that interrupted guest code: one
/// load and compare-and-swaps of the guest's word, which fault safely (an
/// unreadable word lets the signal through).
pub fn fast_blocked(thread: &ThreadState) -> bool {
    let word = thread.signal_block_word.get();
    if word == 0 {
        return false;
    }
    guest::update_u32(word, |v| {
        (v & !SIGFASTBLOCK_FLAGS != 0 && v & SIGFASTBLOCK_PEND == 0).then_some(v | SIGFASTBLOCK_PEND)
    })
    .is_ok_and(|v| v & !SIGFASTBLOCK_FLAGS != 0)
}

/// sigfastblock(cmd, ptr): SETPTR registers the thread's word (EBUSY if it
/// has one, EINVAL if misaligned); UNBLOCK, once the count is 0 with a
/// signal pending (else EBUSY), clears the word and lets the held signals
/// through; UNSETPTR forgets a word that holds nothing (else EBUSY).
pub fn sigfastblock(call: &mut Call) -> SysResult {
    let [cmd, ptr, ..] = call.args;
    let word = call.thread.signal_block_word.get();
    match cmd {
        SIGFASTBLOCK_SETPTR => {
            if word != 0 {
                return Err(Errno(libc::EBUSY));
            }
            if ptr % 4 != 0 || ptr == 0 {
                return Err(Errno::EINVAL);
            }
            call.thread.signal_block_word.set(ptr);
        }
        SIGFASTBLOCK_UNBLOCK => {
            if word == 0 {
                return Err(Errno::EINVAL);
            }
            if guest::cas_u32(word, SIGFASTBLOCK_PEND, 0)? != SIGFASTBLOCK_PEND {
                return Err(Errno(libc::EBUSY));
            }
            let mask = call.thread.signals.guest_blocked();
            call.thread.signals.set_guest_mask(call.ctx, mask);
        }
        SIGFASTBLOCK_UNSETPTR => {
            if word == 0 {
                return Err(Errno::EINVAL);
            }
            if !matches!(guest::load_u32(word)?, 0 | SIGFASTBLOCK_PEND) {
                return Err(Errno(libc::EBUSY));
            }
            call.thread.signal_block_word.set(0);
            let mask = call.thread.signals.guest_blocked();
            call.thread.signals.set_guest_mask(call.ctx, mask);
        }
        _ => return Err(Errno::EINVAL),
    }
    Ok(0)
}
