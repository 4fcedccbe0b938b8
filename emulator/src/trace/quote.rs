//! Strings as strace prints them: double quotes, C escapes for the usual
//! control characters, octal for other bytes outside printable ASCII (three
//! digits when a digit follows, so that the escape stays unambiguous).

use std::fmt::Write;

/// Appends `bytes` quoted; `truncated` adds strace's `...` after the quote.
pub fn quote(out: &mut String, bytes: &[u8], truncated: bool) {
    out.push('"');
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            0x0b => out.push_str("\\v"),
            0x0c => out.push_str("\\f"),
            b'\r' => out.push_str("\\r"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let next_is_octal_digit = bytes.get(i + 1).is_some_and(|n| (b'0'..=b'7').contains(n));
                if next_is_octal_digit {
                    let _ = write!(out, "\\{b:03o}");
                } else {
                    let _ = write!(out, "\\{b:o}");
                }
            }
        }
    }
    out.push('"');
    if truncated {
        out.push_str("...");
    }
}

/// Every byte as `\\xNN`, as strace quotes getrandom's buffer.
pub fn quote_hex(out: &mut String, bytes: &[u8], truncated: bool) {
    out.push('"');
    for &b in bytes {
        let _ = write!(out, "\\x{b:02x}");
    }
    out.push('"');
    if truncated {
        out.push_str("...");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_strace() {
        let mut s = String::new();
        quote(&mut s, b"a\x01\x02\t\n\"\\\x7f\xff\xc3\xa9z\0", false);
        assert_eq!(s, r#""a\1\2\t\n\"\\\177\377\303\251z\0""#);
        s.clear();
        quote(&mut s, b"\x001", true);
        assert_eq!(s, r#""\0001"..."#);
    }
}
