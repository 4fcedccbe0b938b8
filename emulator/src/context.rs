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

    /// Where the FPU state saved with these registers is (null: none).
    pub fn fpregs(&self) -> *const u8 {
        self.uc.uc_mcontext.fpregs as *const u8
    }

    /// The FPU state the kernel saved with these registers: its address
    /// and how many bytes of it there are (the XSAVE area with its
    /// trailer, or the 512-byte FXSAVE area).
    pub fn fpstate(&self) -> Option<(*mut u8, usize)> {
        const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
        let fp = self.uc.uc_mcontext.fpregs as *mut u8;
        if fp.is_null() {
            return None;
        }
        // SAFETY: the kernel's fpstate of this frame; the software-reserved
        // bytes at offset 464 say whether an XSAVE area follows and its size.
        unsafe {
            let magic1 = (fp.add(464) as *const u32).read_unaligned();
            let extended_size = (fp.add(468) as *const u32).read_unaligned() as usize;
            if magic1 == FP_XSTATE_MAGIC1 && (512..=1 << 16).contains(&extended_size) {
                Some((fp, extended_size))
            } else {
                Some((fp, 512))
            }
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
