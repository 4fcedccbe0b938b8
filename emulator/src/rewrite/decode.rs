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
//! must also have loaded the number the trap saw (`Shape::number`, which
//! the caller compares: the analysis itself depends on the code alone, and
//! on the site's address only modulo 16, so that `cache` can keep it).

use iced_x86::{Code, Decoder, DecoderOptions, FlowControl, Instruction, Mnemonic, OpKind, Register};

/// The bytes a site's analysis reads: this many before the `syscall`, and
/// up to this many after it (for branches back into the moved bytes).
pub const LOOK_BEHIND: usize = 64;
pub const LOOK_AHEAD: usize = 256;
/// At most this many instructions, of at most this many bytes, move.
const MAX_MOVED_INSNS: usize = 4;
pub const MAX_MOVED: usize = 32;

/// A site that can be rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// Where the moved instructions start (the `jmp` goes here).
    pub start: u64,
    /// Their bytes, to run in the stub.
    pub moved: Vec<u8>,
    /// The number the instruction before the `syscall` loads, when it is
    /// `mov eax, imm32`: a trap that saw another came to the `syscall`
    /// some other way, and the site is not rewritten.
    pub number: Option<u32>,
}

/// `bytes` are the guest's code from `syscall_at - LOOK_BEHIND` (or less,
/// where the mapping begins) up to and including the two `syscall` bytes;
/// `after` what follows (as much as could be read).
pub fn analyse(syscall_at: u64, bytes: &[u8], after: &[u8]) -> Result<Shape, &'static str> {
    let n = bytes.len();
    if n < 2 || bytes[n - 2..] != [0x0f, 0x05] {
        return Err("not a syscall instruction");
    }
    let code = &bytes[..n - 2];
    let base = syscall_at - code.len() as u64;
    let (boundaries, path) = consensus(code, base, syscall_at)?;
    // The instructions to move: from the `syscall` back, until there are
    // five bytes for the `jmp`.
    let mut start = syscall_at;
    let mut insns = 0;
    let mut number = None;
    while syscall_at - start < 5 {
        let prev =
            *boundaries.iter().rev().find(|&&b| b < start).ok_or("the instructions before it are not certain")?;
        let one = &code[(prev - base) as usize..(start - base) as usize];
        let insn = Decoder::with_ip(64, one, prev, DecoderOptions::NONE).decode();
        if insn.is_invalid() || insn.len() != one.len() {
            return Err("the instructions before it are not certain");
        }
        movable(&insn)?;
        if start == syscall_at {
            number = loads_eax(&insn);
        }
        // An instruction after the first to move must not be where code
        // from elsewhere may enter: a function's first instruction (after
        // padding, at a 16-byte line, or marked by endbr64).
        if insns > 0 && (start % 16 == 0 || is_padding(&insn)) {
            return Err("a function may start inside the instructions before it");
        }
        if let Some(next) = moved_after(&boundaries, start, syscall_at, base, code) {
            if next.mnemonic() == Mnemonic::Endbr64 {
                return Err("a function may start inside the instructions before it");
            }
        }
        insns += 1;
        start = prev;
        if insns > MAX_MOVED_INSNS || (syscall_at - start) as usize > MAX_MOVED {
            return Err("the instructions before it are too short to make room for a jmp");
        }
    }
    // No branch the decoder can see may land inside what moves (on its
    // first byte is fine: the jmp is there; on the syscall too: the ud2 is).
    let into = |t: u64| t > start && t < syscall_at;
    if path.iter().any(|i| branch_target(i).is_some_and(into)) {
        return Err("a branch lands inside the instructions before it");
    }
    let mut decoder = Decoder::with_ip(64, after, syscall_at + 2, DecoderOptions::NONE);
    while decoder.can_decode() {
        let insn = decoder.decode();
        if insn.is_invalid() {
            break;
        }
        if branch_target(&insn).is_some_and(into) {
            return Err("a branch lands inside the instructions before it");
        }
    }
    Ok(Shape { start, moved: code[(start - base) as usize..].to_vec(), number })
}

/// Filler between functions, never an instruction a function runs.
fn is_padding(insn: &Instruction) -> bool {
    matches!(insn.mnemonic(), Mnemonic::Nop | Mnemonic::Int3 | Mnemonic::Ud2)
}

/// The instruction at `at` (a boundary before the `syscall`), if `at` is
/// not the `syscall` itself.
fn moved_after(boundaries: &[u64], at: u64, syscall_at: u64, base: u64, code: &[u8]) -> Option<Instruction> {
    if at >= syscall_at || !boundaries.contains(&at) {
        return None;
    }
    let insn = Decoder::with_ip(64, &code[(at - base) as usize..], at, DecoderOptions::NONE).decode();
    (!insn.is_invalid()).then_some(insn)
}

/// Where a direct branch or call goes.
fn branch_target(insn: &Instruction) -> Option<u64> {
    match insn.flow_control() {
        FlowControl::UnconditionalBranch | FlowControl::ConditionalBranch | FlowControl::Call => {
            matches!(insn.op0_kind(), OpKind::NearBranch64 | OpKind::NearBranch32 | OpKind::NearBranch16)
                .then(|| insn.near_branch_target())
        }
        _ => None,
    }
}

/// Whether the instruction means the same when run from the stub.
fn movable(insn: &Instruction) -> Result<(), &'static str> {
    if insn.flow_control() != FlowControl::Next {
        return Err("an instruction before it branches");
    }
    if insn.is_ip_rel_memory_operand() {
        return Err("an instruction before it is RIP-relative");
    }
    if insn.has_lock_prefix() || insn.has_rep_prefix() || insn.has_repne_prefix() {
        return Err("an instruction before it has a prefix emu does not move");
    }
    if (0..insn.op_count()).any(|i| insn.op_register(i) == Register::RIP) {
        return Err("an instruction before it reads RIP");
    }
    Ok(())
}

/// The number a `mov eax, imm32` loads.
fn loads_eax(insn: &Instruction) -> Option<u32> {
    (insn.code() == Code::Mov_r32_imm32
        && insn.op0_register() == Register::EAX
        && insn.op_kind(1) == OpKind::Immediate32)
        .then(|| insn.immediate32())
}

/// Linear decoding from up to 16 start points: the instruction starts that
/// every decoding landing exactly on the `syscall` shares (after the last
/// start point), and the instructions of one such decoding. x86 code
/// re-synchronises within a few instructions, so they agree where the
/// code's real boundaries are.
fn consensus(code: &[u8], base: u64, syscall_at: u64) -> Result<(Vec<u64>, Vec<Instruction>), &'static str> {
    let starts = code.len().saturating_sub(MAX_MOVED).min(16);
    let mut agreed: Option<Vec<u64>> = None;
    let mut landed = 0;
    let mut first_path = Vec::new();
    for from in 0..starts {
        let mut decoder = Decoder::with_ip(64, &code[from..], base + from as u64, DecoderOptions::NONE);
        let mut path = Vec::new();
        let mut ip = base + from as u64;
        while ip < syscall_at {
            let insn = decoder.decode();
            if insn.is_invalid() {
                break;
            }
            path.push(insn);
            ip = insn.next_ip();
        }
        if ip != syscall_at {
            continue;
        }
        landed += 1;
        let here: Vec<u64> = path.iter().map(|i| i.ip()).filter(|&b| b >= base + starts as u64).collect();
        agreed = Some(match agreed {
            None => here,
            Some(a) => a.into_iter().filter(|b| here.contains(b)).collect(),
        });
        if first_path.is_empty() {
            first_path = path;
        }
    }
    match agreed {
        Some(a) if landed >= 4 => Ok((a, first_path)),
        _ => Err("the instructions before it are not certain"),
    }
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
        let shape = analyse(at, &bytes, &[0xc3]).unwrap();
        assert_eq!((shape.start, shape.moved, shape.number), (at - 5, vec![0xb8, 0x27, 0, 0, 0], Some(0x27)));

        let mut go = PROLOGUE.to_vec();
        go.extend_from_slice(&[0x48, 0x8b, 0x44, 0x24, 0x08]); // mov rax, [rsp+8]
        let (at, bytes) = site(&go);
        let shape = analyse(at, &bytes, &[0xc3]).unwrap();
        assert_eq!((shape.moved, shape.number), (vec![0x48, 0x8b, 0x44, 0x24, 0x08], None));
    }

    #[test]
    fn ambiguous_or_unmovable_sites_are_refused() {
        // mov r8d, 0x27 holds a `b8 27 00 00 00`.
        let mut r8 = PROLOGUE.to_vec();
        r8.extend_from_slice(&[0x41, 0xb8, 0x27, 0, 0, 0]);
        let (at, bytes) = site(&r8);
        let shape = analyse(at, &bytes, &[0xc3]);
        assert!(shape.as_ref().map_or(true, |s| s.start == at - 6), "{shape:?}");
        // mov rax, [rip+x]
        let mut rel = PROLOGUE.to_vec();
        rel.extend_from_slice(&[0x48, 0x8b, 0x05, 0x10, 0, 0, 0]);
        let (at, bytes) = site(&rel);
        assert!(analyse(at, &bytes, &[0xc3]).is_err());
    }

    #[test]
    fn go_moves_two_short_instructions() {
        // runtime/internal/syscall.Syscall6: mov r10,rsi; mov rdx,rdi; mov rsi,rcx; mov rdi,rbx; syscall
        let mut go = PROLOGUE.to_vec();
        go.extend_from_slice(&[0x49, 0x89, 0xf2, 0x48, 0x89, 0xfa, 0x48, 0x89, 0xce, 0x48, 0x89, 0xdf]);
        let (at, bytes) = site(&go);
        let shape = analyse(at, &bytes, &[0xc3]).unwrap();
        assert_eq!((shape.start, shape.moved), (at - 6, vec![0x48, 0x89, 0xce, 0x48, 0x89, 0xdf]));
        // A jump after the site back onto the second moved instruction.
        let jump_back = [0xeb, (-(2i8 + 2 + 3)) as u8];
        assert!(analyse(at, &bytes, &jump_back).is_err());
    }
}
