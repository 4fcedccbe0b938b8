//! Which call sites can be rewritten: the `syscall` and the instruction
//! before it, decoded with iced-x86.
//!
//! The `jmp rel32` that replaces them needs five bytes, and the two bytes of
//! the `syscall` must stay where a branch to the `syscall` itself lands
//! (they become a `ud2`, which traps and is carried out as the call). So the
//! instruction before the `syscall` must be five bytes or longer, and it is
//! moved into the stub: it must mean the same there (no RIP-relative
//! operand, no branch). The shapes real programs have: glibc's and musl's
//! `mov eax, imm32`; Go's `mov rax, [rsp+N]` and `mov eax, imm32`.
//!
//! Where that instruction starts is the one thing the trap does not say:
//! decoding backwards is ambiguous (`41 b8 imm32`, `mov r8d, imm32`, holds a
//! `b8 imm32`, `mov eax, imm32`). So the candidate must agree with linear
//! decoding from many earlier start points: x86 code re-synchronises within
//! a few instructions, and every decoding that lands exactly on the
//! `syscall` must pass through the candidate's start. A `mov eax, imm32`
//! must also have loaded the number the trap saw.

use iced_x86::{Code, Decoder, DecoderOptions, FlowControl, Instruction, OpKind, Register};

/// The bytes a site's analysis reads: this many before the `syscall`.
pub const LOOK_BEHIND: usize = 64;

/// A site that can be rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Where the instruction before the `syscall` starts (the `jmp` goes here).
    pub start: u64,
    /// Its bytes, to run in the stub.
    pub moved: Vec<u8>,
}

/// `bytes` are the guest's code from `syscall_at - before.len()` (at most
/// LOOK_BEHIND bytes) up to and including the two `syscall` bytes; `rax` is
/// the number the trap saw.
pub fn analyse(syscall_at: u64, bytes: &[u8], rax: u64) -> Result<Shape, &'static str> {
    let n = bytes.len();
    if n < 2 || bytes[n - 2..] != [0x0f, 0x05] {
        return Err("not a syscall instruction");
    }
    let code = &bytes[..n - 2];
    let base = syscall_at - code.len() as u64;
    let mut fallback = Err("no instruction of five bytes or more before it");
    for len in 5..=15.min(code.len()) {
        let start = syscall_at - len as u64;
        let one = &code[code.len() - len..];
        let mut decoder = Decoder::with_ip(64, one, start, DecoderOptions::NONE);
        let insn = decoder.decode();
        if insn.is_invalid() || insn.len() != len {
            continue;
        }
        if let Err(why) = movable(&insn, rax) {
            fallback = Err(why);
            continue;
        }
        if !agrees(code, base, start, syscall_at) {
            fallback = Err("where the instruction before it starts is not certain");
            continue;
        }
        return Ok(Shape { start, moved: one.to_vec() });
    }
    fallback
}

/// Whether the instruction means the same when run from the stub.
fn movable(insn: &Instruction, rax: u64) -> Result<(), &'static str> {
    if insn.flow_control() != FlowControl::Next {
        return Err("the instruction before it branches");
    }
    if insn.is_ip_rel_memory_operand() {
        return Err("the instruction before it is RIP-relative");
    }
    if insn.has_lock_prefix() || insn.has_rep_prefix() || insn.has_repne_prefix() {
        return Err("the instruction before it has a prefix emu does not move");
    }
    if (0..insn.op_count()).any(|i| insn.op_register(i) == Register::RIP) {
        return Err("the instruction before it reads RIP");
    }
    // The number the trap saw must be the one a `mov eax, imm32` loads.
    let loads_eax = insn.code() == Code::Mov_r32_imm32
        && insn.op0_register() == Register::EAX
        && insn.op_kind(1) == OpKind::Immediate32;
    if loads_eax && insn.immediate32() as u64 != rax {
        return Err("the instruction before it did not load the call's number");
    }
    Ok(())
}

/// Whether linear decoding from earlier start points, wherever it lands on
/// the `syscall`, has an instruction start at `start`.
fn agrees(code: &[u8], base: u64, start: u64, syscall_at: u64) -> bool {
    let mut landed = 0;
    // Start points at least 16 bytes before the candidate, so that most
    // begin in the middle of some instruction.
    let furthest = (start - base).saturating_sub(16) as usize;
    for from in 0..furthest.min(32) {
        let mut decoder = Decoder::with_ip(64, &code[from..], base + from as u64, DecoderOptions::NONE);
        let mut passed = false;
        let mut ip = base + from as u64;
        while ip < syscall_at {
            passed |= ip == start;
            let insn = decoder.decode();
            if insn.is_invalid() {
                break;
            }
            ip = insn.next_ip();
        }
        if ip == syscall_at {
            if !passed {
                return false;
            }
            landed += 1;
        }
    }
    landed >= 4
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `bytes` followed by `syscall`, ending at 0x1000.
    fn site(bytes: &[u8]) -> (u64, Vec<u8>) {
        let mut v = bytes.to_vec();
        v.extend_from_slice(&[0x0f, 0x05]);
        (0x1000, v)
    }

    /// Ordinary code before the site (a function's prologue and moves).
    const PROLOGUE: &[u8] = &[
        0x55, 0x48, 0x89, 0xe5, 0x48, 0x83, 0xec, 0x20, 0x48, 0x89, 0x7d, 0xf8, 0x48, 0x89, 0x75, 0xf0, 0x48, 0x8b,
        0x7d, 0xf8, 0x48, 0x8b, 0x75, 0xf0, 0x48, 0x89, 0xd1, 0x48, 0x89, 0xca, 0x4c, 0x89, 0xc0, 0x90, 0x90, 0x90,
        0x48, 0x8b, 0x55, 0xe8,
    ];

    #[test]
    fn glibc_and_go_shapes() {
        let mut glibc = PROLOGUE.to_vec();
        glibc.extend_from_slice(&[0xb8, 0x27, 0, 0, 0]);
        let (at, bytes) = site(&glibc);
        let shape = analyse(at, &bytes, 0x27).unwrap();
        assert_eq!((shape.start, shape.moved), (at - 5, vec![0xb8, 0x27, 0, 0, 0]));
        // The number the trap saw must be the one loaded.
        assert!(analyse(at, &bytes, 0x28).is_err());

        let mut go = PROLOGUE.to_vec();
        go.extend_from_slice(&[0x48, 0x8b, 0x44, 0x24, 0x08]); // mov rax, [rsp+8]
        let (at, bytes) = site(&go);
        assert_eq!(analyse(at, &bytes, 39).unwrap().moved, vec![0x48, 0x8b, 0x44, 0x24, 0x08]);
    }

    #[test]
    fn ambiguous_or_unmovable_sites_are_refused() {
        // mov r8d, 0x27 holds a `b8 27 00 00 00`.
        let mut r8 = PROLOGUE.to_vec();
        r8.extend_from_slice(&[0x41, 0xb8, 0x27, 0, 0, 0]);
        let (at, bytes) = site(&r8);
        let shape = analyse(at, &bytes, 0x27);
        assert!(shape.as_ref().map_or(true, |s| s.start == at - 6), "{shape:?}");
        // mov rax, [rip+x]
        let mut rel = PROLOGUE.to_vec();
        rel.extend_from_slice(&[0x48, 0x8b, 0x05, 0x10, 0, 0, 0]);
        let (at, bytes) = site(&rel);
        assert!(analyse(at, &bytes, 1).is_err());
        // mov eax, edi: three bytes, too short.
        let mut short = PROLOGUE.to_vec();
        short.extend_from_slice(&[0x89, 0xf8]);
        let (at, bytes) = site(&short);
        assert!(analyse(at, &bytes, 1).is_err());
    }
}
