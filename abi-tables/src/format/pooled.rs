//! The text and lists of a table, stored so that the built-in tables hold
//! no pointer.
//!
//! emu is a static-pie executable: before `main`, its C library writes the
//! load address into every pointer of its data. With `Cow<'static, str>`
//! and `Cow<'static, [T]>` fields, the two built-in tables held 9,700 of
//! the binary's 11,100 such pointers, over 110 pages, and every run of emu
//! copied and wrote those pages (about 0.2 ms and 450 KiB, measured with
//! `perf record -e page-faults` and hyperfine). So a built-in table's text
//! is a range of one generated string, and its lists ranges of generated
//! arrays (`Built`), all plain numbers; a table parsed at run time owns
//! what it holds (`Owned`).
//!
//! The generated data is reached through `crate::built`, which the library
//! defines from the generated file and the build script (which only parses,
//! so it never holds a `Built` value) defines empty.

use std::cmp::Ordering;
use std::fmt;
use std::ops::Deref;

/// Text in a table: a range of the built-in tables' text, or a string of
/// its own.
#[derive(Clone)]
pub enum Text {
    Built { start: u32, len: u32 },
    Owned(Box<str>),
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            // In bounds and on character boundaries by construction: the
            // build script made both the range and the text (tested for
            // every built-in text in `tests.rs`).
            Text::Built { start, len } => &crate::built::TEXT[*start as usize..*start as usize + *len as usize],
            Text::Owned(s) => s,
        }
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text::Owned(s.into_boxed_str())
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Text {
        Text::Owned(s.into())
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        **self == **other
    }
}

impl Eq for Text {}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        &**self == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        &**self == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        **self == **other
    }
}

impl PartialEq<Text> for String {
    fn eq(&self, other: &Text) -> bool {
        **self == **other
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        *self == **other
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        **self == **other
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Text {
    fn cmp(&self, other: &Text) -> Ordering {
        (**self).cmp(&**other)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// What a table has lists of; each has one generated array that the
/// built-in tables' lists are ranges of.
pub trait Pooled: Sized + 'static {
    fn pool() -> &'static [Self];
}

/// A list in a table: a range of the generated array of its kind, or a
/// vector of its own.
#[derive(Clone)]
pub enum List<T: Pooled> {
    Built { start: u32, len: u32 },
    Owned(Vec<T>),
}

impl<T: Pooled> Deref for List<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        match self {
            // In bounds by construction, as `Text::Built`.
            List::Built { start, len } => &T::pool()[*start as usize..*start as usize + *len as usize],
            List::Owned(v) => v,
        }
    }
}

impl<T: Pooled> From<Vec<T>> for List<T> {
    fn from(v: Vec<T>) -> List<T> {
        List::Owned(v)
    }
}

impl<T: Pooled + fmt::Debug> fmt::Debug for List<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Each kind's generated array (the u16s: the number-to-call and
/// name-order indexes).
macro_rules! pooled {
    ($($kind:ty => $array:ident),* $(,)?) => {
        $(impl Pooled for $kind {
            fn pool() -> &'static [Self] {
                &crate::built::$array
            }
        })*
    };
}

pooled!(super::Arg => ARGS, super::Value => VALUES, super::ValueSet => SETS, super::Syscall => CALLS, u16 => INDEXES);
