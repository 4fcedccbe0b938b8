//! sysctl(2)'s request protocol, as the BSDs share it: a MIB read from the
//! guest, the old value copied out with its length (the length alone for a
//! NULL buffer, ENOMEM for a short one), a new value read in. Which names
//! exist and what they hold is the personality's (its table of `Node`s).

use crate::memory::guest;
use crate::sys::{Errno, SysResult};

/// A value: a C int, a long, a string (with its NUL), or bytes.
pub enum Value {
    Int(i32),
    Long(u64),
    Str(Vec<u8>),
    Bytes(Vec<u8>),
}

impl Value {
    pub fn bytes(self) -> Vec<u8> {
        match self {
            Value::Int(v) => v.to_le_bytes().to_vec(),
            Value::Long(v) => v.to_le_bytes().to_vec(),
            Value::Str(mut s) => {
                s.push(0);
                s
            }
            Value::Bytes(b) => b,
        }
    }
}

/// A node a personality answers: its name, its MIB, its value (None when
/// the host has none to give).
pub struct Node {
    pub name: &'static str,
    pub mib: &'static [i32],
    pub value: fn() -> Option<Value>,
}

/// Copies a value out as sysctl(3) does: the size alone when `old` is
/// NULL; else as much as fits, ENOMEM if not all of it, and the length
/// copied in *oldlenp.
pub fn answer(value: &[u8], old: u64, oldlenp: u64) -> SysResult {
    if oldlenp == 0 {
        return if old == 0 { Ok(0) } else { Err(Errno::EFAULT) };
    }
    if old == 0 {
        guest::write_val(oldlenp, &(value.len() as u64))?;
        return Ok(0);
    }
    let room: u64 = guest::read_val(oldlenp)?;
    let n = value.len().min(room as usize);
    guest::write(old, &value[..n])?;
    guest::write_val(oldlenp, &(n as u64))?;
    if n < value.len() {
        Err(Errno::ENOMEM)
    } else {
        Ok(0)
    }
}

/// The new value, or the name of a name-to-MIB query: at most 1023 bytes.
pub fn read_new(new: u64, newlen: u64) -> Result<Vec<u8>, Errno> {
    if newlen as usize >= 1024 {
        return Err(Errno::ENAMETOOLONG);
    }
    let mut buf = vec![0u8; newlen as usize];
    if new != 0 {
        guest::read(new, &mut buf)?;
    }
    Ok(buf)
}

/// Reads a MIB of `len` integers from `name` into `buf` (which bounds it):
/// EINVAL for fewer than two or more than the buffer holds.
pub fn read_mib(name: u64, len: u64, buf: &mut [i32]) -> Result<&[i32], Errno> {
    let len = len as u32 as usize;
    if !(2..=buf.len()).contains(&len) {
        return Err(Errno::EINVAL);
    }
    guest::read(name, bytemuck(&mut buf[..len]))?;
    Ok(&buf[..len])
}

/// The bytes of an int array, to read it from the guest.
fn bytemuck(v: &mut [i32]) -> &mut [u8] {
    // SAFETY: ints have no invalid bit patterns and no padding.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast(), std::mem::size_of_val(v)) }
}
