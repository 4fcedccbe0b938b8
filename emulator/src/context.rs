//! The interrupted guest's registers, as the kernel saved them in the signal
//! frame of an emu handler. Whatever a handler writes here is what the thread
//! resumes with after rt_sigreturn.

use libc::{ucontext_t, REG_EFL, REG_R10, REG_R8, REG_R9, REG_RAX, REG_RDI, REG_RDX, REG_RIP, REG_RSI, REG_RSP};

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
    reg!(rdi, set_rdi, REG_RDI);
    reg!(rsi, set_rsi, REG_RSI);
    reg!(rdx, set_rdx, REG_RDX);
    reg!(r10, set_r10, REG_R10);
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
}
