//! The interrupted guest's registers, as the kernel saved them in the signal
//! frame of an emu handler. Whatever a handler writes here is what the thread
//! resumes with after rt_sigreturn.

use libc::{
    ucontext_t, REG_EFL, REG_R10, REG_R11, REG_R8, REG_R9, REG_RAX, REG_RBX, REG_RCX, REG_RDI, REG_RDX, REG_RIP,
    REG_RSI, REG_RSP,
};

pub struct GuestContext<'a> {
    uc: &'a mut ucontext_t,
}

macro_rules! reg {
    ($get:ident, $set:ident, $idx:expr) => {
        pub fn $get(&self) -> u64 {
            self.uc.uc_mcontext.gregs[$idx as usize] as u64
        }
        pub fn $set(&mut self, v: u64) {
            self.uc.uc_mcontext.gregs[$idx as usize] = v as i64;
        }
    };
}

// A full register view: some accessors have no user in every personality yet.
#[allow(dead_code)]
impl<'a> GuestContext<'a> {
    pub fn new(uc: &'a mut ucontext_t) -> Self {
        GuestContext { uc }
    }

    reg!(rax, set_rax, REG_RAX);
    reg!(rbx, set_rbx, REG_RBX);
    reg!(rdi, set_rdi, REG_RDI);
    reg!(rsi, set_rsi, REG_RSI);
    reg!(rdx, set_rdx, REG_RDX);
    reg!(rcx, set_rcx, REG_RCX);
    reg!(r10, set_r10, REG_R10);
    reg!(r11, set_r11, REG_R11);
    reg!(r8, set_r8, REG_R8);
    reg!(r9, set_r9, REG_R9);
    reg!(rip, set_rip, REG_RIP);
    reg!(rsp, set_rsp, REG_RSP);
    reg!(rflags, set_rflags, REG_EFL);

    /// The six argument registers of the x86-64 `syscall` convention.
    pub fn syscall_args(&self) -> [u64; 6] {
        [self.rdi(), self.rsi(), self.rdx(), self.r10(), self.r8(), self.r9()]
    }

    /// The signal mask the thread resumes with (host signal numbers, bit n-1).
    pub fn sigmask(&self) -> u64 {
        // SAFETY: sigset_t is at least 8 bytes; the first word holds signals 1..64.
        unsafe { *(&self.uc.uc_sigmask as *const libc::sigset_t as *const u64) }
    }

    pub fn set_sigmask(&mut self, mask: u64) {
        // SAFETY: as above.
        unsafe { *(&mut self.uc.uc_sigmask as *mut libc::sigset_t as *mut u64) = mask };
    }

    pub fn ucontext(&mut self) -> &mut ucontext_t {
        self.uc
    }

    /// The XSAVE area saved with these registers, as the software-reserved
    /// words the kernel writes into every signal frame (`struct
    /// _fpx_sw_bytes`, bytes 464 to 484 of the FXSAVE area, from
    /// `save_sw_bytes`) describe it; None for a frame without one (no
    /// XSAVE) or whose words do not hold together.
    pub fn xsave_area(&self) -> Option<XsaveArea> {
        const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
        const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
        const LEGACY_AND_HEADER: u32 = 576;
        let fp = self.uc.uc_mcontext.fpregs as *const u8;
        if fp.is_null() {
            return None;
        }
        // SAFETY: the fpstate of a frame the kernel (or the fast entry, in
        // its format) wrote: 512 bytes of FXSAVE area; when magic1 is
        // there, the XSAVE area is `xstate_size` bytes and MAGIC2 follows.
        unsafe {
            let word = |at: usize| (fp.add(at) as *const u32).read_unaligned();
            let (magic1, extended_size, size) = (word(464), word(468), word(480));
            let features = (fp.add(472) as *const u64).read_unaligned();
            let sound = magic1 == FP_XSTATE_MAGIC1
                && (LEGACY_AND_HEADER..=1 << 16).contains(&size)
                && extended_size == size + 4
                && features & 3 == 3
                && word(size as usize) == FP_XSTATE_MAGIC2;
            sound.then_some(XsaveArea { size, features })
        }
    }

    /// The FPU state saved with these registers: its address and how many
    /// bytes of it there are (the XSAVE area with its trailer, or the
    /// 512-byte FXSAVE area). A state component the header's XSTATE_BV
    /// marks initial holds whatever bytes were there before in a frame of
    /// the fast entry, which saves with XSAVEOPT (`rewrite::entry`): copied
    /// whole and restored by XRSTOR, as emu does, it is the initial state;
    /// read field by field, as a guest's handler does, it is not, and
    /// `materialize_initial_legacy` writes the x87 and SSE parts out first.
    pub fn fpstate(&self) -> Option<(*mut u8, usize)> {
        let fp = self.uc.uc_mcontext.fpregs as *mut u8;
        if fp.is_null() {
            return None;
        }
        Some((fp, self.xsave_area().map_or(512, |a| a.size as usize + 4)))
    }

    /// Writes the x87 and SSE registers of the saved FPU state out as
    /// XSAVE writes them where XSTATE_BV marks them initial: a frame the
    /// fast entry saved with XSAVEOPT left stale bytes there, which a
    /// guest reads as its registers from the signal frame made from this
    /// one (`fpregs`, FreeBSD's `mc_fpstate`). Nothing changes for XRSTOR.
    pub fn materialize_initial_legacy(&mut self) {
        let Some((fp, size)) = self.fpstate() else { return };
        if size <= 512 + 64 {
            return;
        }
        // SAFETY: the fpstate of this frame, `size` bytes: the FXSAVE area
        // and the XSAVE header at 512.
        let area = unsafe { std::slice::from_raw_parts_mut(fp, size) };
        let initial = !area[512];
        if initial & 1 != 0 {
            // FCW 0x37f; FSW, abridged FTW (all empty), FOP, FIP, FDP 0;
            // ST0 to ST7 0. MXCSR (24) is saved whatever XSTATE_BV says.
            area[..24].fill(0);
            area[..2].copy_from_slice(&0x37fu16.to_le_bytes());
            area[32..160].fill(0);
        }
        if initial & 2 != 0 {
            area[160..416].fill(0);
        }
    }

    /// Makes the saved FPU state the initial one (a signal handler starts so).
    pub fn reset_fpstate(&mut self) {
        let Some((fp, size)) = self.fpstate() else { return };
        // SAFETY: writes inside the kernel's fpstate of this frame: FCW,
        // MXCSR, and (for XSAVE) the header's XSTATE_BV, which selects the
        // init state.
        unsafe {
            (fp as *mut u16).write_unaligned(0x37f);
            (fp.add(24) as *mut u32).write_unaligned(0x1f80);
            if size > 512 + 64 {
                (fp.add(512) as *mut u64).write_unaligned(0);
            }
        }
    }
}

/// `uc_flags` of a kernel signal frame: an XSAVE area follows the FXSAVE
/// one; the frame's SS is to be restored, as it says.
pub const UC_FP_XSTATE: u64 = 1;
pub const UC_SIGCONTEXT_SS: u64 = 2;
pub const UC_STRICT_RESTORE_SS: u64 = 4;
/// The frame's CS (0x33) and SS (0x2b): the kernel's 64-bit user segments,
/// in `gregs[REG_CSGSFS]`.
pub const USER_SEGMENTS: u64 = 0x33 | (0x2b << 48);

/// A frame's XSAVE area (`GuestContext::xsave_area`): its size in bytes
/// (without the trailing MAGIC2) and the state components it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XsaveArea {
    pub size: u32,
    pub features: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame's XSAVE area, as the kernel lays it out (the software
    /// words at 464, MAGIC2 after it), 1,024 bytes.
    #[repr(C, align(64))]
    struct Area([u8; 1028]);

    fn frame(xstate_bv: u8) -> Box<Area> {
        let mut a = Box::new(Area([0xaa; 1028]));
        let size = 1024u32;
        a.0[464..468].copy_from_slice(&0x4650_5853u32.to_le_bytes());
        a.0[468..472].copy_from_slice(&(size + 4).to_le_bytes());
        a.0[472..480].copy_from_slice(&7u64.to_le_bytes());
        a.0[480..484].copy_from_slice(&size.to_le_bytes());
        a.0[1024..1028].copy_from_slice(&0x4650_5845u32.to_le_bytes());
        a.0[512..576].fill(0);
        a.0[512] = xstate_bv;
        a
    }

    #[test]
    fn initial_legacy_state_is_written_out() {
        for (bv, x87_written, sse_written) in [(0, true, true), (1, false, true), (2, true, false), (3, false, false)] {
            let mut area = frame(bv);
            // SAFETY: an all-zero ucontext is a valid value of the type.
            let mut uc: ucontext_t = unsafe { std::mem::zeroed() };
            uc.uc_mcontext.fpregs = area.0.as_mut_ptr().cast();
            GuestContext::new(&mut uc).materialize_initial_legacy();
            let a = &area.0;
            assert_eq!(a[..2] == [0x7f, 3] && a[2..24].iter().all(|&b| b == 0), x87_written, "{bv}");
            assert_eq!(a[32..160].iter().all(|&b| b == 0), x87_written, "{bv}");
            assert_eq!(a[160..416].iter().all(|&b| b == 0), sse_written, "{bv}");
            // MXCSR, the software words and the other components as they were.
            assert!(a[24..28].iter().all(|&b| b == 0xaa) && a[576..1024].iter().all(|&b| b == 0xaa), "{bv}");
        }
    }
}
