//! `#!` scripts, parsed as Linux's binfmt_script parses them (5.8 and
//! later): from the first 256 bytes of the file, the interpreter's path
//! and at most one argument, bytes as they are (not necessarily UTF-8).

/// How much of a file the kernel reads to decide its format (BINPRM_BUF_SIZE).
pub const HEAD_SIZE: usize = 256;

/// A `#!` line: the interpreter and its optional argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shebang {
    pub interpreter: Vec<u8>,
    pub argument: Option<Vec<u8>>,
}

/// Why a `#!` line is refused (ENOEXEC, as the kernel returns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadShebang {
    /// The line has only blanks after `#!`.
    NoInterpreter,
    /// No newline in the first 256 bytes and the interpreter's path runs
    /// to the end of them: it would be cut.
    TooLong,
}

fn spacetab(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn terminator(b: u8) -> bool {
    spacetab(b) || b == 0
}

/// Parses a file's first bytes; `None` if they do not start with `#!`.
pub fn parse(head: &[u8]) -> Option<Result<Shebang, BadShebang>> {
    if !head.starts_with(b"#!") {
        return None;
    }
    // The kernel's buffer: 256 bytes, zero-filled past a short file.
    let mut buf = [0u8; HEAD_SIZE];
    let n = head.len().min(HEAD_SIZE);
    buf[..n].copy_from_slice(&head[..n]);
    // Its last byte is always dropped (it becomes the terminating NUL).
    let buf_end = HEAD_SIZE - 1;
    let next_non_spacetab = |from: usize, to: usize| (from..to).find(|&i| !spacetab(buf[i]));
    let next_terminator = |from: usize, to: usize| (from..to).find(|&i| terminator(buf[i]));

    // A newline counts only before the first NUL (the kernel's strnchr).
    let newline = buf.iter().take_while(|&&b| b != 0).position(|&b| b == b'\n');
    let mut end = match newline {
        Some(i) => i,
        None => {
            let Some(name) = next_non_spacetab(2, buf_end) else {
                return Some(Err(BadShebang::NoInterpreter));
            };
            if next_terminator(name, buf_end).is_none() {
                return Some(Err(BadShebang::TooLong));
            }
            buf_end
        }
    };
    while end > 2 && spacetab(buf[end - 1]) {
        end -= 1;
    }
    let name = match next_non_spacetab(2, end) {
        Some(i) if i != end => i,
        _ => return Some(Err(BadShebang::NoInterpreter)),
    };
    let sep = next_terminator(name, end);
    let c_string = |from: usize, to: usize| {
        let s = &buf[from..to];
        s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())].to_vec()
    };
    let interpreter = c_string(name, sep.unwrap_or(end));
    let argument = match sep {
        Some(i) if buf[i] != 0 => next_non_spacetab(i, end).map(|a| c_string(a, end)),
        _ => None,
    };
    Some(Ok(Shebang { interpreter, argument }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(head: &[u8]) -> (String, Option<String>) {
        let s = parse(head).expect("a script").expect("a good line");
        (String::from_utf8_lossy(&s.interpreter).into(), s.argument.map(|a| String::from_utf8_lossy(&a).into()))
    }

    #[test]
    fn lines_as_the_kernel_reads_them() {
        assert_eq!(ok(b"#!/p\n"), ("/p".into(), None));
        assert_eq!(ok(b"#!/p"), ("/p".into(), None));
        assert_eq!(ok(b"#! \t /p\n"), ("/p".into(), None));
        assert_eq!(ok(b"#!/p -x\n"), ("/p".into(), Some("-x".into())));
        assert_eq!(ok(b"#!/p  a  b\tc  \n"), ("/p".into(), Some("a  b\tc".into())));
        assert_eq!(ok(b"#!/p \t \n"), ("/p".into(), None));
        assert_eq!(ok(b"#!/p\targ\n"), ("/p".into(), Some("arg".into())));
        assert_eq!(ok(b"#!/p\r\n"), ("/p\r".into(), None));
        assert_eq!(ok(b"#!/p arg\r\n"), ("/p".into(), Some("arg\r".into())));
        assert_eq!(ok(b"#!/p\0 junk\n"), ("/p".into(), None));
        assert_eq!(ok(b"#!/p ab\0cd\n"), ("/p".into(), Some("ab".into())));
        // Only `#!`: an empty name (which the kernel then fails to open).
        assert_eq!(ok(b"#!"), ("".into(), None));
        assert_eq!(parse(b"#!\n"), Some(Err(BadShebang::NoInterpreter)));
        assert_eq!(parse(b"#!   \t\n"), Some(Err(BadShebang::NoInterpreter)));
        assert_eq!(parse(b" #!/p\n"), None);
    }

    #[test]
    fn long_lines_are_cut_at_255_bytes() {
        let name = vec![b'a'; 254];
        let mut line = b"#!".to_vec();
        line.extend(&name);
        line.extend(b"\n");
        assert_eq!(parse(&line), Some(Err(BadShebang::TooLong)));
        let mut fits = b"#!".to_vec();
        fits.extend(&name[..253]);
        fits.extend(b"\n");
        assert_eq!(ok(&fits).0.len(), 253);
        let mut cut = b"#!/p ".to_vec();
        cut.extend(vec![b'B'; 400]);
        assert_eq!(ok(&cut).1.unwrap().len(), 255 - 5);
        let mut trimmed = b"#!/p CCCCCCCCCC".to_vec();
        trimmed.extend(vec![b' '; 400]);
        trimmed.push(b'D');
        assert_eq!(ok(&trimmed), ("/p".into(), Some("CCCCCCCCCC".into())));
        let mut blanks = b"#!".to_vec();
        blanks.extend(vec![b' '; 254]);
        blanks.push(b'x');
        assert_eq!(parse(&blanks), Some(Err(BadShebang::NoInterpreter)));
    }
}
