//! The registers a new guest thread or process starts with, as the kernel
//! starts the child of a clone: the parent's at its `syscall`, RAX 0, its
//! own stack if it has one, the parent's FPU state and guest mask; or, for
//! the process's first thread, as it starts a program. They are put into
//! an rt_sigframe that `emu_enter_thread` resumes through rt_sigreturn,
//! which loads all of them (and the mask) at once.

use super::ThreadState;
use crate::context::GuestContext;
use crate::context::{UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS, USER_SEGMENTS};
use crate::personality::EntryRegisters;
use crate::signals::host_mask;

pub struct Resume {
    /// The parent's registers, as the kernel saved them in its SIGSYS frame.
    gregs: [i64; 23],
    uc_flags: u64,
    /// The parent's FPU state, in the kernel's format.
    fpstate: Vec<u8>,
    pub guest_mask: u64,
}

impl Resume {
    /// The child of the clone `parent` is making: `stack` (0: the parent's).
    pub fn clone_child(ctx: &mut GuestContext, parent: &ThreadState, stack: u64) -> Resume {
        let fpstate = match ctx.fpstate() {
            // SAFETY: the kernel's fpstate of the parent's frame, `size` bytes long.
            Some((fp, size)) => unsafe { std::slice::from_raw_parts(fp, size) }.to_vec(),
            None => Vec::new(),
        };
        let mut gregs = ctx.ucontext().uc_mcontext.gregs;
        gregs[libc::REG_RAX as usize] = 0;
        if stack != 0 {
            gregs[libc::REG_RSP as usize] = stack as i64;
        }
        Resume { gregs, uc_flags: ctx.ucontext().uc_flags, fpstate, guest_mask: parent.signals.guest_blocked() }
    }

    /// The process's first thread, as the kernel starts a program: at
    /// `entry`, with the personality's `registers`, every other one zero,
    /// the flags IF only, the user segments (checked as the kernel's own
    /// frames have them), and no FPU state (rt_sigreturn then loads the
    /// initial one).
    pub fn process_start(entry: u64, registers: &EntryRegisters, guest_mask: u64) -> Resume {
        let mut gregs = [0i64; 23];
        gregs[libc::REG_RIP as usize] = entry as i64;
        gregs[libc::REG_RSP as usize] = registers.rsp as i64;
        gregs[libc::REG_RDI as usize] = registers.rdi as i64;
        gregs[libc::REG_RDX as usize] = registers.rdx as i64;
        gregs[libc::REG_EFL as usize] = 0x202;
        gregs[libc::REG_CSGSFS as usize] = USER_SEGMENTS as i64;
        let uc_flags = UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;
        Resume { gregs, uc_flags, fpstate: Vec::new(), guest_mask }
    }

    /// A thread that starts by a call of `rip` with `arg` (in RDI) on
    /// `rsp`, RBP 0, the other registers as the parent's were.
    pub fn call(ctx: &mut GuestContext, parent: &ThreadState, rip: u64, rsp: u64, arg: u64) -> Resume {
        let mut r = Resume::clone_child(ctx, parent, rsp);
        r.gregs[libc::REG_RIP as usize] = rip as i64;
        r.gregs[libc::REG_RDI as usize] = arg as i64;
        r.gregs[libc::REG_RBP as usize] = 0;
        r
    }

    /// The rt_sigframe to resume from, with the new thread's `altstack`
    /// (rt_sigreturn installs it). Returns the buffer and the offset of the
    /// ucontext in it (where the stack pointer goes).
    pub fn frame(&self, altstack: libc::stack_t) -> (Vec<u8>, usize) {
        // struct ucontext (flags, link, stack, sigcontext, 8-byte mask), siginfo.
        const UC_SIZE: usize = 304;
        const FRAME: usize = 8 + UC_SIZE + 128;
        let fp_room = self.fpstate.len().next_multiple_of(64);
        let mut buf = vec![0u8; 64 + fp_room + FRAME];
        let base = buf.as_ptr() as usize;
        let fp = base.next_multiple_of(64) - base;
        let uc = fp + fp_room + 8;
        buf[fp..fp + self.fpstate.len()].copy_from_slice(&self.fpstate);
        let fp_addr = if self.fpstate.is_empty() { 0 } else { (base + fp) as u64 };
        let mut put = |at: usize, v: u64| buf[uc + at..uc + at + 8].copy_from_slice(&v.to_le_bytes());
        put(0, self.uc_flags);
        put(16, altstack.ss_sp as u64);
        put(24, altstack.ss_flags as u32 as u64);
        put(32, altstack.ss_size as u64);
        for (i, &r) in self.gregs.iter().enumerate() {
            put(40 + 8 * i, r as u64);
        }
        put(40 + 8 * 23, fp_addr);
        put(40 + 256, host_mask(self.guest_mask));
        (buf, uc)
    }
}
