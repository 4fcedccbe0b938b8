//! `emu binfmt install|uninstall|status`: FreeBSD programs run directly
//! (`./freebsd-program`), as qemu-user's and Wine's binfmt_misc handlers
//! make foreign programs run. The kernel matches a FreeBSD ELF by its header
//! (64-bit, little-endian, EI_OSABI 9 as FreeBSD's toolchain and Go brand
//! it, executable or PIE, x86-64) and starts `emu PROGRAM ARGS...` instead.
//!
//! Flags: `F` (the kernel opens emu when the handler is registered, so it
//! works in containers and chroots that have no emu at that path) and, on
//! kernels that say so in AT_FLAGS (5.12 and later), `P`: the program's own
//! argv[0] is kept, and emu takes it from the arguments (`argv_from_kernel`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

const DIR: &str = "/proc/sys/fs/binfmt_misc";

/// The handler's default name (`/proc/sys/fs/binfmt_misc/emu-freebsd`).
pub const DEFAULT_NAME: &str = "emu-freebsd";

/// The first 20 bytes of a FreeBSD x86-64 ELF executable, and which of them
/// the kernel compares (e_type: 2 or 3, hence 0xfe).
const MAGIC: [u8; 20] = [0x7f, b'E', b'L', b'F', 2, 1, 1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0x3e, 0];
const MASK: [u8; 20] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff];

/// AT_FLAGS bit: the kernel kept the program's argv[0] (binfmt_misc `P`).
const AT_FLAGS_PRESERVE_ARGV0: u64 = 1;

/// emu's arguments as the kernel gave them when it started emu for a
/// program through a handler with `P`: `emu PROGRAM ARGV0 ARGS...` becomes
/// `emu --argv0 ARGV0 -- PROGRAM ARGS...`. Otherwise unchanged.
pub fn argv_from_kernel(args: Vec<OsString>) -> Vec<OsString> {
    // SAFETY: reads this process's auxiliary vector.
    let flags = unsafe { libc::getauxval(libc::AT_FLAGS) };
    if flags & AT_FLAGS_PRESERVE_ARGV0 == 0 || args.len() < 3 {
        return args;
    }
    let mut args = args.into_iter();
    let emu = args.next().unwrap_or_default();
    let program = args.next().unwrap_or_default();
    let argv0 = args.next().unwrap_or_default();
    let mut out = vec![emu, "--argv0".into(), argv0, "--".into(), program];
    out.extend(args);
    out
}

/// What a subcommand ends with: a message for stdout, or a failure.
type Done = Result<String, (i32, String)>;

fn entry(name: &str) -> PathBuf {
    Path::new(DIR).join(name)
}

/// Registers the handler for this emu.
pub fn install(name: &str) -> Done {
    check_name(name)?;
    let emu = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| (1, format!("cannot find emu itself: {e}")))?;
    let register = Path::new(DIR).join("register");
    if !register.exists() {
        mount()?;
    }
    if let Some(current) = interpreter_of(name) {
        if current == emu {
            return Ok(format!("{name}: already installed for {}", emu.display()));
        }
        remove(name)?;
    }
    let preserve = if kernel_keeps_argv0() { "P" } else { "" };
    let line = format!(":{name}:M:0:{}:{}:{}:F{preserve}", escaped(&MAGIC), escaped(&MASK), emu.display());
    std::fs::write(&register, line).map_err(|e| (1, write_error(&register, e)))?;
    Ok(format!("{name}: installed: FreeBSD x86-64 programs now run under {} (flags F{preserve})", emu.display()))
}

/// Removes the handler.
pub fn uninstall(name: &str) -> Done {
    check_name(name)?;
    if interpreter_of(name).is_none() {
        return Ok(format!("{name}: not installed"));
    }
    remove(name)?;
    Ok(format!("{name}: uninstalled"))
}

/// Whether the handler is installed, and for which emu.
pub fn status(name: &str) -> Done {
    check_name(name)?;
    if !Path::new(DIR).join("status").exists() {
        return Err((1, format!("binfmt_misc is not mounted at {DIR}")));
    }
    let Ok(text) = std::fs::read_to_string(entry(name)) else {
        return Err((1, format!("{name}: not installed")));
    };
    let field = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).unwrap_or("").trim().to_string();
    let enabled = text.lines().next().unwrap_or("");
    Ok(format!("{name}: {enabled}, interpreter {} (flags {})", field("interpreter"), field("flags:")))
}

/// A handler's name is a file name under binfmt_misc.
fn check_name(name: &str) -> Result<(), (i32, String)> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        && !["register", "status", ".", ".."].contains(&name);
    ok.then_some(()).ok_or_else(|| (2, format!("`{name}` is not a handler name (letters, digits, - _ .)")))
}

fn interpreter_of(name: &str) -> Option<PathBuf> {
    let text = std::fs::read_to_string(entry(name)).ok()?;
    text.lines().find_map(|l| l.strip_prefix("interpreter ")).map(PathBuf::from)
}

fn remove(name: &str) -> Result<(), (i32, String)> {
    let path = entry(name);
    std::fs::write(&path, "-1").map_err(|e| (1, write_error(&path, e)))
}

/// Mounts binfmt_misc where systemd would (as root; anyone else is told how).
fn mount() -> Result<(), (i32, String)> {
    // SAFETY: NUL-terminated strings; mounting changes nothing of ours.
    let r = unsafe {
        libc::mount(
            c"binfmt_misc".as_ptr(),
            c"/proc/sys/fs/binfmt_misc".as_ptr(),
            c"binfmt_misc".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    Err((1, format!("binfmt_misc is not mounted at {DIR} and cannot be ({e}): as root, `mount -t binfmt_misc binfmt_misc {DIR}`")))
}

fn write_error(path: &Path, e: std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) | Some(libc::EROFS) => {
            format!("{}: {e} (registering a handler needs root, and a writable binfmt_misc)", path.display())
        }
        _ => format!("{}: {e}", path.display()),
    }
}

/// Linux 5.12 and later tell a `P` handler's interpreter that argv[0] was
/// kept (AT_FLAGS); before, emu could not tell, so the flag is not used.
fn kernel_keeps_argv0() -> bool {
    // SAFETY: zeroes are a valid utsname for uname to fill.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: fills a utsname of ours.
    if unsafe { libc::uname(&mut u) } != 0 {
        return false;
    }
    let release: String = u.release.iter().take_while(|&&c| c != 0).map(|&c| c as u8 as char).collect();
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).filter_map(|p| p.parse::<u32>().ok());
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (5, 12)
}

/// `\xHH` for each byte, as the register file takes them.
fn escaped(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\x{b:02x}")).collect()
}
