//! A small ELF64 writer for hand-built test executables: a header, program
//! headers anywhere in the file, bytes at chosen offsets, and a few pieces
//! of x86-64 machine code (exit, write, read a byte, check the auxiliary
//! vector), all position-independent (RIP-relative), so that the same code
//! works in ET_EXEC and ET_DYN images.

pub const PT_LOAD: u32 = 1;
pub const PT_INTERP: u32 = 3;
pub const PT_PHDR: u32 = 6;
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;
pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;

#[derive(Clone, Copy, Debug)]
pub struct Phdr {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

impl Phdr {
    /// A PT_LOAD of `filesz` file bytes at `offset`, `memsz` in memory at `vaddr`.
    pub fn load(flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Phdr {
        Phdr { p_type: PT_LOAD, flags, offset, vaddr, filesz, memsz, align: 0x1000 }
    }
}

/// An ELF file under construction.
#[derive(Clone, Debug)]
pub struct Elf {
    pub e_type: u16,
    pub machine: u16,
    pub entry: u64,
    pub phoff: u64,
    pub phdrs: Vec<Phdr>,
    /// Bytes placed at file offsets (later ones over earlier ones).
    pub chunks: Vec<(u64, Vec<u8>)>,
    /// At least this long.
    pub min_len: u64,
}

impl Elf {
    pub fn new(e_type: u16, entry: u64) -> Elf {
        Elf { e_type, machine: 62, entry, phoff: 64, phdrs: Vec::new(), chunks: Vec::new(), min_len: 0 }
    }

    pub fn phdr(mut self, p: Phdr) -> Elf {
        self.phdrs.push(p);
        self
    }

    pub fn at(mut self, offset: u64, bytes: &[u8]) -> Elf {
        self.chunks.push((offset, bytes.to_vec()));
        self
    }

    pub fn len(mut self, len: u64) -> Elf {
        self.min_len = len;
        self
    }

    /// A PT_INTERP naming `path` (NUL added), its bytes at `offset`.
    pub fn interp(self, offset: u64, path: &[u8]) -> Elf {
        let mut bytes = path.to_vec();
        bytes.push(0);
        let n = bytes.len() as u64;
        self.phdr(Phdr { p_type: PT_INTERP, flags: PF_R, offset, vaddr: 0, filesz: n, memsz: n, align: 1 })
            .at(offset, &bytes)
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2; // ELFCLASS64
        h[5] = 1; // little-endian
        h[6] = 1; // EV_CURRENT
        h[16..18].copy_from_slice(&self.e_type.to_le_bytes());
        h[18..20].copy_from_slice(&self.machine.to_le_bytes());
        h[20..24].copy_from_slice(&1u32.to_le_bytes());
        h[24..32].copy_from_slice(&self.entry.to_le_bytes());
        h[32..40].copy_from_slice(&self.phoff.to_le_bytes());
        h[52..54].copy_from_slice(&64u16.to_le_bytes());
        h[54..56].copy_from_slice(&56u16.to_le_bytes());
        h[56..58].copy_from_slice(&(self.phdrs.len() as u16).to_le_bytes());
        let mut table = Vec::new();
        for p in &self.phdrs {
            table.extend(p.p_type.to_le_bytes());
            table.extend(p.flags.to_le_bytes());
            for v in [p.offset, p.vaddr, p.vaddr, p.filesz, p.memsz, p.align] {
                table.extend(v.to_le_bytes());
            }
        }
        let mut file = Vec::new();
        let mut put = |at: u64, bytes: &[u8]| {
            let end = at as usize + bytes.len();
            if file.len() < end {
                file.resize(end, 0);
            }
            file[at as usize..end].copy_from_slice(bytes);
        };
        put(0, &h);
        put(self.phoff, &table);
        for (at, bytes) in &self.chunks {
            put(*at, bytes);
        }
        if (file.len() as u64) < self.min_len {
            file.resize(self.min_len as usize, 0);
        }
        file
    }
}

fn imm32(v: i64) -> [u8; 4] {
    (v as i32).to_le_bytes()
}

/// Machine code. Displacements are relative to the code's own address, so
/// `at` is where the code will be (any image base).
pub mod code {
    use super::imm32;

    /// exit_group(code)
    pub fn exit(status: i32) -> Vec<u8> {
        let mut c = vec![0xbf];
        c.extend(imm32(status as i64)); // mov edi, status
        c.extend([0xb8, 0xe7, 0, 0, 0, 0x0f, 0x05]); // mov eax, 231; syscall
        c
    }

    /// write(1, message, len) then exit_group(status); the message follows the code.
    pub fn print(message: &[u8], status: i32) -> Vec<u8> {
        let mut c = vec![0xb8, 1, 0, 0, 0, 0xbf, 1, 0, 0, 0]; // mov eax, 1; mov edi, 1
        let rest = 7 + 5 + 2 + 12; // lea, mov edx, syscall, exit
        c.extend([0x48, 0x8d, 0x35]);
        c.extend(imm32(rest as i64 - 7)); // lea rsi, [rip + to the message]
        c.push(0xba);
        c.extend(imm32(message.len() as i64)); // mov edx, len
        c.extend([0x0f, 0x05]);
        c.extend(exit(status));
        c.extend(message);
        c
    }

    /// exit_group(the byte at `target`), the code being at `at`.
    pub fn exit_with_byte(at: u64, target: u64) -> Vec<u8> {
        let mut c = vec![0x0f, 0xb6, 0x3d]; // movzx edi, byte ptr [rip + disp]
        c.extend(imm32(target as i64 - (at as i64 + 7)));
        c.extend([0xb8, 0xe7, 0, 0, 0, 0x0f, 0x05]);
        c
    }

    /// Finds auxv entry `key` (from the initial stack) into rax; jumps to
    /// `absent` bytes further (relative to the end of this code) if none.
    fn find_aux(key: u8, absent_skip: u8) -> Vec<u8> {
        let mut c = vec![
            0x48, 0x8b, 0x0c, 0x24, // mov rcx, [rsp]            argc
            0x48, 0x8d, 0x5c, 0xcc, 0x10, // lea rbx, [rsp+rcx*8+16]  envp
            0x48, 0x8b, 0x03, // 1: mov rax, [rbx]
            0x48, 0x83, 0xc3, 0x08, //    add rbx, 8
            0x48, 0x85, 0xc0, //    test rax, rax
            0x75, 0xf4, //    jne 1b                     rbx: auxv
            0x48, 0x8b, 0x03, // 2: mov rax, [rbx]
            0x48, 0x85, 0xc0, //    test rax, rax
        ];
        c.extend([0x74, 12 + 4 + absent_skip]); //    je absent
        c.extend([0x48, 0x83, 0xf8, key]); //    cmp rax, key
        c.extend([0x74, 0x06]); //    je 3f
        c.extend([0x48, 0x83, 0xc3, 0x10]); //    add rbx, 16
        c.extend([0xeb, 0xec]); //    jmp 2b
        c.extend([0x48, 0x8b, 0x43, 0x08]); // 3: mov rax, [rbx+8]
        c
    }

    /// exit_group(0) if auxv entry `key` is the address `expected` (the code
    /// being at `at`), 1 if it is another, 2 if there is none.
    pub fn check_aux(at: u64, key: u8, expected: u64) -> Vec<u8> {
        let found = 7 + 2 + 3 + 4 + 5 + 2; // lea, xor, cmp, setne, mov eax, syscall
        let mut c = find_aux(key, found as u8);
        let lea_end = at + c.len() as u64 + 7;
        c.extend([0x48, 0x8d, 0x15]);
        c.extend(imm32(expected as i64 - lea_end as i64)); // lea rdx, [rip + disp]
        c.extend([0x31, 0xff]); // xor edi, edi
        c.extend([0x48, 0x39, 0xd0]); // cmp rax, rdx
        c.extend([0x40, 0x0f, 0x95, 0xc7]); // setne dil
        c.extend([0xb8, 0xe7, 0, 0, 0, 0x0f, 0x05]);
        c.extend(exit(2));
        c
    }

    /// Jumps to the auxv entry AT_ENTRY, as a dynamic loader does once it
    /// has done its work; exit_group(3) if there is none.
    pub fn jump_to_entry() -> Vec<u8> {
        let mut c = find_aux(9, 2);
        c.extend([0xff, 0xe0]); // jmp rax
        c.extend(exit(3));
        c
    }

    /// exit_group(0) if brk(0) is `expected` (the code being at `at`), else 1.
    pub fn check_brk(at: u64, expected: u64) -> Vec<u8> {
        let mut c = vec![0x31, 0xff, 0xb8, 12, 0, 0, 0, 0x0f, 0x05]; // xor edi, edi; mov eax, 12; syscall
        let lea_end = at + c.len() as u64 + 7;
        c.extend([0x48, 0x8d, 0x15]);
        c.extend(imm32(expected as i64 - lea_end as i64)); // lea rdx, [rip + disp]
        c.extend([0x31, 0xff, 0x48, 0x39, 0xd0, 0x40, 0x0f, 0x95, 0xc7]); // xor edi, edi; cmp rax, rdx; setne dil
        c.extend([0xb8, 0xe7, 0, 0, 0, 0x0f, 0x05]);
        c
    }
}
