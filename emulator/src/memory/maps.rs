//! What the kernel says of this process's mappings, one at a time.
//!
//! PROCMAP_QUERY (an ioctl on /proc/thread-self/maps, Linux 6.11) answers for one
//! address without formatting the whole table: reading and parsing the text
//! of esbuild's maps took 20 to 80 us a time (up to 350 us while its threads
//! were busy mapping), opening the file and the ioctl about 10. An older
//! kernel gets the text, read once per `Maps` and searched.
//!
//! The descriptor is opened and closed by each user, never kept: it names
//! the memory of the process that opened it, which a fork child must not
//! query. Reading is all it does, so a guest that closes or replaces the
//! descriptor meanwhile (a bug of its own) costs no more than a wrong
//! answer, which the callers check (the rewriter writes only to private
//! executable memory, and `sud` only chooses a boundary).

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;

/// One mapping (a VMA): `[start, end)`, its PROT_* bits, whether it is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub prot: i32,
    pub shared: bool,
}

/// `struct procmap_query` of include/uapi/linux/fs.h.
#[repr(C)]
#[derive(Default)]
struct ProcmapQuery {
    size: u64,
    query_flags: u64,
    query_addr: u64,
    vma_start: u64,
    vma_end: u64,
    vma_flags: u64,
    vma_page_size: u64,
    vma_offset: u64,
    inode: u64,
    dev_major: u32,
    dev_minor: u32,
    vma_name_size: u32,
    build_id_size: u32,
    vma_name_addr: u64,
    build_id_addr: u64,
}

/// `_IOWR('f', 17, struct procmap_query)`.
const PROCMAP_QUERY: u64 = 0xc000_0000 | (size_of::<ProcmapQuery>() as u64) << 16 | (b'f' as u64) << 8 | 17;
const _: () = assert!(PROCMAP_QUERY == 0xc068_6611);
const VMA_READABLE: u64 = 0x01;
const VMA_WRITABLE: u64 = 0x02;
const VMA_EXECUTABLE: u64 = 0x04;
const VMA_SHARED: u64 = 0x08;
const COVERING_OR_NEXT_VMA: u64 = 0x10;

pub struct Maps {
    file: File,
    /// The table's text, once the ioctl turned out to be missing.
    text: Option<String>,
}

impl Maps {
    pub fn open() -> std::io::Result<Maps> {
        // thread-self: /proc/self/maps is empty once the thread-group
        // leader has exited (a guest's main thread may leave before the rest).
        Ok(Maps { file: File::open("/proc/thread-self/maps")?, text: None })
    }

    /// The mapping that holds `addr`.
    pub fn covering(&mut self, addr: u64) -> Option<Mapping> {
        self.find(addr, false)
    }

    /// The lowest mapping that ends above `addr`.
    pub fn at_or_after(&mut self, addr: u64) -> Option<Mapping> {
        self.find(addr, true)
    }

    fn find(&mut self, addr: u64, or_next: bool) -> Option<Mapping> {
        if self.text.is_none() {
            match self.query(addr, or_next) {
                Ok(found) => return found,
                // ENOTTY before Linux 6.11, or any refusal (a seccomp filter
                // on ioctl numbers): the text, from now on.
                Err(_) => {
                    let mut text = String::new();
                    self.file.read_to_string(&mut text).ok()?;
                    self.text = Some(text);
                }
            }
        }
        let text = self.text.as_deref()?;
        text.lines().filter_map(parse_line).find(|m| m.end > addr && (or_next || m.start <= addr))
    }

    /// Ok(None) when no mapping answers.
    fn query(&self, addr: u64, or_next: bool) -> Result<Option<Mapping>, i32> {
        let mut q = ProcmapQuery {
            size: size_of::<ProcmapQuery>() as u64,
            query_flags: if or_next { COVERING_OR_NEXT_VMA } else { 0 },
            query_addr: addr,
            ..Default::default()
        };
        // SAFETY: the ioctl reads and writes `q`, which lives across the call
        // and asks for no name or build id (their sizes are 0).
        let r = unsafe {
            crate::sys::syscall6(
                libc::SYS_ioctl as u64,
                [self.file.as_raw_fd() as u64, PROCMAP_QUERY, &mut q as *mut ProcmapQuery as u64, 0, 0, 0],
            )
        };
        match crate::sys::result(r) {
            Ok(_) => {
                let flag = |bit: u64, prot: i32| if q.vma_flags & bit != 0 { prot } else { 0 };
                Ok(Some(Mapping {
                    start: q.vma_start,
                    end: q.vma_end,
                    prot: flag(VMA_READABLE, libc::PROT_READ)
                        | flag(VMA_WRITABLE, libc::PROT_WRITE)
                        | flag(VMA_EXECUTABLE, libc::PROT_EXEC),
                    shared: q.vma_flags & VMA_SHARED != 0,
                }))
            }
            Err(e) if e.0 == libc::ENOENT => Ok(None),
            Err(e) => Err(e.0),
        }
    }
}

/// A line of /proc/self/maps: `start-end perms offset dev inode [name]`.
/// Not the vsyscall page above user space, which the query never reports.
fn parse_line(line: &str) -> Option<Mapping> {
    let (range, rest) = line.split_once(' ')?;
    let (lo, hi) = range.split_once('-')?;
    let p = rest.as_bytes();
    let flag = |i: usize, c: u8, prot: i32| if p.get(i) == Some(&c) { prot } else { 0 };
    let start = u64::from_str_radix(lo, 16).ok()?;
    if start >= 1 << 47 {
        return None;
    }
    Some(Mapping {
        start,
        end: u64::from_str_radix(hi, 16).ok()?,
        prot: flag(0, b'r', libc::PROT_READ) | flag(1, b'w', libc::PROT_WRITE) | flag(2, b'x', libc::PROT_EXEC),
        shared: p.get(3) == Some(&b's'),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_and_the_text_agree() {
        // Addresses whose mappings other test threads cannot change.
        let code = the_query_and_the_text_agree as *const () as u64;
        let mut maps = Maps::open().unwrap();
        let mut text = Maps { file: File::open("/proc/thread-self/maps").unwrap(), text: None };
        let mut s = String::new();
        text.file.read_to_string(&mut s).unwrap();
        text.text = Some(s);
        for addr in [code, 0] {
            assert_eq!(maps.at_or_after(addr), text.at_or_after(addr), "{addr:#x}");
            assert_eq!(maps.covering(addr), text.covering(addr), "{addr:#x}");
        }
        let code_map = maps.covering(code).unwrap();
        assert_eq!(code_map.prot & libc::PROT_EXEC, libc::PROT_EXEC);
        assert!(!code_map.shared);
        assert!(maps.covering(0).is_none());
    }

    #[test]
    fn lines_parse() {
        let m = parse_line("7f00-7f10 r-xs 00000000 08:01 12 /lib/x.so").unwrap();
        assert_eq!(m, Mapping { start: 0x7f00, end: 0x7f10, prot: libc::PROT_READ | libc::PROT_EXEC, shared: true });
    }
}
