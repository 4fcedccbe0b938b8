//! Arguments and return values shown by kind, as the table declares them.
//! Adding a call to a table gives it a readable trace with no code here.

use super::quote::quote;
use super::StructWriter;
use crate::memory::guest;
use crate::outcome::{Outcome, Retval};
use crate::personality::Personality;
use crate::sys::SysResult;
use abi_tables::{ArgKind, RetKind, SetKind, Syscall, Table, ValueSet};
use std::fmt::Write;

/// How much of a path is read (PATH_MAX).
const PATH_LIMIT: usize = 4096;
/// How many array elements (argv, iovecs) are shown before `...`.
const ARRAY_LIMIT: usize = 32;

/// Everything an argument's display may need.
pub struct ArgEnv<'a> {
    pub table: &'a Table,
    pub personality: &'a dyn Personality,
    pub call: &'a Syscall,
    pub args: &'a [u64],
    /// The result, once the call has returned.
    pub result: Option<&'a SysResult>,
    pub string_limit: usize,
    /// The guest's stack pointer when the call was made.
    pub sp: u64,
}

/// C's "%#03o", as strace prints modes: 000, 007, 0644, 0100755.
pub fn mode(out: &mut String, v: u64) {
    let _ = write!(out, "{:0>3}", format!("0{:o}", v & 0xffff));
}

/// `int` arguments arrive in 64-bit registers: a value whose upper half is
/// clear but whose low half is negative as an `int` was most likely a
/// 32-bit negative number (an fd of -1).
fn as_int(v: u64) -> i64 {
    if v >> 32 == 0 && (v as u32 as i32) < 0 {
        v as u32 as i32 as i64
    } else {
        v as i64
    }
}

fn ptr(out: &mut String, v: u64) {
    if v == 0 {
        out.push_str("NULL");
    } else {
        let _ = write!(out, "{v:#x}");
    }
}

/// Bits and fields of a flags set, in the set's order: `O_WRONLY|O_CREAT`.
pub fn flags(out: &mut String, set: &ValueSet, v: u64) {
    let mut rest = v;
    let mut fields_done = 0u64;
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !first {
            out.push('|');
        }
        first = false;
    };
    for val in set.values.iter() {
        let bits = val.value as u64;
        if val.mask != 0 {
            if fields_done & val.mask == 0 && v & val.mask == bits {
                sep(out);
                out.push_str(&val.name);
                fields_done |= val.mask;
                rest &= !val.mask;
            }
        } else if bits != 0 && rest & bits == bits {
            sep(out);
            out.push_str(&val.name);
            rest &= !bits;
        }
    }
    if rest != 0 {
        sep(out);
        let _ = write!(out, "{rest:#x}");
    } else if first {
        out.push('0');
    }
}

/// An exact value's name, or the number.
pub fn enumerated(out: &mut String, set: &ValueSet, v: u64) {
    let found = set.name_of(v as i64).or_else(|| set.name_of(v as u32 as i32 as i64));
    match found {
        Some(val) => out.push_str(&val.name),
        None if set.kind == SetKind::Enum && as_int(v).unsigned_abs() > 0xffff => {
            let _ = write!(out, "{v:#x}");
        }
        None => {
            let _ = write!(out, "{}", as_int(v));
        }
    }
}

fn named_set<'t>(table: &'t Table, name: &str) -> Option<&'t ValueSet> {
    table.set_by_name(name)
}

/// A guest string: quoted, cut at `limit` bytes.
fn string(out: &mut String, addr: u64, limit: usize) {
    if addr == 0 {
        out.push_str("NULL");
        return;
    }
    let mut s = Vec::new();
    match guest::read_cstr(addr, limit, &mut s) {
        Ok(terminated) => quote(out, &s, !terminated),
        Err(_) => ptr(out, addr),
    }
}

/// `len` bytes of guest memory, quoted, cut at `limit`.
fn buffer(out: &mut String, addr: u64, len: u64, limit: usize) {
    let shown = (len as usize).min(limit);
    let mut bytes = vec![0u8; shown];
    match guest::read(addr, &mut bytes) {
        Ok(()) => quote(out, &bytes, (len as usize) > shown),
        Err(_) => ptr(out, addr),
    }
}

fn iovec(out: &mut String, addr: u64, count: u64, mut data_left: Option<u64>, limit: usize) {
    if addr == 0 {
        out.push_str("NULL");
        return;
    }
    out.push('[');
    for i in 0..count.min(ARRAY_LIMIT as u64) {
        let Ok([base, len]) = guest::read_val::<[u64; 2]>(addr + 16 * i) else {
            if i == 0 {
                out.pop();
                ptr(out, addr);
                return;
            }
            break;
        };
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str("{iov_base=");
        let show = match &mut data_left {
            Some(left) => {
                let n = len.min(*left);
                *left -= n;
                n
            }
            None => len,
        };
        buffer(out, base, show, limit);
        let _ = write!(out, ", iov_len={len}}}");
    }
    if count > ARRAY_LIMIT as u64 {
        out.push_str(", ...");
    }
    out.push(']');
}

fn string_array(out: &mut String, addr: u64, limit: usize) {
    if addr == 0 {
        out.push_str("NULL");
        return;
    }
    out.push('[');
    for i in 0.. {
        let Ok(p) = guest::read_val::<u64>(addr + 8 * i) else {
            out.push_str("...");
            break;
        };
        if p == 0 {
            break;
        }
        if i > 0 {
            out.push_str(", ");
        }
        if i as usize == ARRAY_LIMIT {
            out.push_str("...");
            break;
        }
        string(out, p, limit);
    }
    out.push(']');
}

fn env_summary(out: &mut String, addr: u64) {
    let mut n = 0u64;
    while let Ok(p) = guest::read_val::<u64>(addr + 8 * n) {
        if p == 0 {
            break;
        }
        n += 1;
    }
    ptr(out, addr);
    let _ = write!(out, " /* {n} vars */");
}

/// Shows argument `i` of the call.
pub fn format_arg(out: &mut String, env: &ArgEnv, i: usize) {
    let v = env.args[i];
    let arg = &env.call.args[i];
    let len_of = |j: u8| env.args.get(j as usize).copied().unwrap_or(0);
    match &arg.kind {
        ArgKind::Int | ArgKind::Pid | ArgKind::Uid | ArgKind::Gid => {
            let _ = write!(out, "{}", as_int(v));
        }
        ArgKind::Fd => {
            let _ = write!(out, "{}", v as u32 as i32);
        }
        ArgKind::UInt => {
            let _ = write!(out, "{v}");
        }
        // C's "%#lx", as strace prints: no 0x before a zero.
        ArgKind::Hex if v == 0 => out.push('0'),
        ArgKind::Hex => {
            let _ = write!(out, "{v:#x}");
        }
        ArgKind::Ptr => ptr(out, v),
        ArgKind::DirFd => match named_set(env.table, "dirfd") {
            Some(set) => enumerated(out, set, v),
            None => {
                let _ = write!(out, "{}", v as u32 as i32);
            }
        },
        // C's "%#03o", as strace prints modes: 000, 007, 0644, 01777.
        ArgKind::Mode => mode(out, v),
        // strace names real-time signals too: SIGRTMIN, SIGRT_1 ...
        ArgKind::Signal => match as_int(v) {
            s @ 1..=128 => out.push_str(&env.personality.guest_signal_name(s as i32).to_string()),
            s => {
                let _ = write!(out, "{s}");
            }
        },
        ArgKind::Flags(id) => flags(out, env.table.set(*id), v),
        ArgKind::Enum(id) => enumerated(out, env.table.set(*id), v),
        ArgKind::Path => string(out, v, PATH_LIMIT),
        ArgKind::Str => string(out, v, env.string_limit),
        ArgKind::In(n) => buffer(out, v, len_of(*n), env.string_limit),
        ArgKind::Out(n) => match env.result {
            Some(Ok(ret)) => buffer(out, v, (*ret).min(len_of(*n)), env.string_limit),
            _ => ptr(out, v),
        },
        ArgKind::IovIn(n) => iovec(out, v, len_of(*n), None, env.string_limit),
        ArgKind::IovOut(n) => match env.result {
            Some(Ok(ret)) => iovec(out, v, len_of(*n), Some(*ret), env.string_limit),
            _ => ptr(out, v),
        },
        ArgKind::InStruct(name) | ArgKind::InOutStruct(name) => structure(out, env, name, v),
        ArgKind::OutStruct(name) => match env.result {
            Some(Ok(_)) => structure(out, env, name, v),
            _ => ptr(out, v),
        },
        ArgKind::OutStr(n) => match env.result {
            Some(Ok(_)) => string(out, v, (len_of(*n) as usize).min(PATH_LIMIT)),
            _ => ptr(out, v),
        },
        ArgKind::OutHex(n) => match env.result {
            Some(Ok(ret)) => {
                let mut bytes = vec![0u8; (*ret).min(len_of(*n)).min(env.string_limit as u64) as usize];
                match guest::read(v, &mut bytes) {
                    Ok(()) => super::quote::quote_hex(out, &bytes, (*ret).min(len_of(*n)) as usize > bytes.len()),
                    Err(_) => ptr(out, v),
                }
            }
            _ => ptr(out, v),
        },
        ArgKind::ErrStruct(name) => match env.result {
            Some(Err(_)) => structure(out, env, name, v),
            _ => ptr(out, v),
        },
        ArgKind::StackStruct(name) => structure(out, env, name, env.sp),
        ArgKind::Argv => string_array(out, v, env.string_limit),
        ArgKind::Envp => env_summary(out, v),
    }
}

fn structure(out: &mut String, env: &ArgEnv, name: &str, addr: u64) {
    if addr == 0 {
        out.push_str("NULL");
        return;
    }
    let Some(decode) = env.personality.struct_decoder(name) else {
        ptr(out, addr);
        return;
    };
    let mark = out.len();
    let result = match env.result {
        Some(Ok(r)) => Some(*r as i64),
        _ => None,
    };
    let mut w = StructWriter { out, string_limit: env.string_limit, result };
    if !decode(addr, &mut w) {
        out.truncate(mark);
        ptr(out, addr);
    }
}

/// Shows a return value: `3`, `0x7f0000`, `-1 ENOENT (No such file or directory)`.
pub fn format_return(out: &mut String, table: &Table, personality: &dyn Personality, kind: RetKind, r: &Outcome) {
    match r {
        Outcome::Value(Retval { rax: v, .. }) => {
            let _ = match kind {
                RetKind::Hex | RetKind::Ptr => write!(out, "{v:#x}"),
                RetKind::UInt => write!(out, "{v}"),
                RetKind::Mode => {
                    mode(out, *v);
                    Ok(())
                }
                _ => write!(out, "{}", *v as i64),
            };
        }
        Outcome::Restart => out.push_str("? ERESTARTSYS (To be restarted if SA_RESTART is set)"),
        // Shown from the registers by the caller.
        Outcome::JustReturn => out.push('?'),
        Outcome::Error(e) => {
            let guest = personality.errno_to_guest(*e);
            let named = table.set_by_name("errno").and_then(|s| s.name_of(guest as i64));
            match named {
                Some(v) if !v.description.is_empty() => {
                    let _ = write!(out, "-1 {} ({})", v.name, v.description);
                }
                Some(v) => {
                    let _ = write!(out, "-1 {}", v.name);
                }
                None => {
                    let _ = write!(out, "-1 E{guest} (Unknown error {guest})");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str) -> ValueSet {
        let t =
            abi_tables::parse(&format!("abi t\npersonality linux\n{text}\n"), "t", &|_| Err("none".into())).unwrap();
        t.sets[0].clone()
    }

    #[test]
    fn flags_like_strace() {
        let open = set(
            "flags open O_RDONLY=0/3 O_WRONLY=1/3 O_RDWR=2/3 O_TMPFILE=0o20200000 O_CREAT=0o100 O_DIRECTORY=0o200000",
        );
        let show = |v: u64| {
            let mut s = String::new();
            flags(&mut s, &open, v);
            s
        };
        assert_eq!(show(0), "O_RDONLY");
        assert_eq!(show(0o101), "O_WRONLY|O_CREAT");
        assert_eq!(show(0o20200002), "O_RDWR|O_TMPFILE");
        assert_eq!(show(0o200000), "O_RDONLY|O_DIRECTORY");
        assert_eq!(show(0x8000_0001), "O_WRONLY|0x80000000");
        let prot = set("flags prot PROT_NONE=0/0xf PROT_READ=1 PROT_WRITE=2");
        let mut s = String::new();
        flags(&mut s, &prot, 0);
        assert_eq!(s, "PROT_NONE");
        s.clear();
        flags(&mut s, &prot, 3);
        assert_eq!(s, "PROT_READ|PROT_WRITE");
        let empty = set("flags f A=1");
        s.clear();
        flags(&mut s, &empty, 0);
        assert_eq!(s, "0");
    }

    #[test]
    fn enums_and_negative_values() {
        let dirfd = set("enum dirfd AT_FDCWD=-100");
        let mut s = String::new();
        enumerated(&mut s, &dirfd, (-100i64) as u64);
        assert_eq!(s, "AT_FDCWD");
        s.clear();
        enumerated(&mut s, &dirfd, 0xffff_ff9c);
        assert_eq!(s, "AT_FDCWD");
        s.clear();
        enumerated(&mut s, &dirfd, 3);
        assert_eq!(s, "3");
    }
}
