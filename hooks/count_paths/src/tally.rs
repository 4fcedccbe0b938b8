//! The counting, shared by the plugin (`lib.rs`) and by the Rust `Hook`
//! example that the tests compare it with (emulator/examples/count_paths.rs).

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Path arguments seen, by prefix: (arguments, in calls that failed).
pub struct Tally {
    /// The prefixes asked for (longest first); empty: each path's first component.
    prefixes: Vec<String>,
    counts: Mutex<BTreeMap<String, (u64, u64)>>,
}

impl Tally {
    /// `argument`: prefixes separated by commas (`/etc,/usr/lib`), or
    /// nothing for "by first component".
    pub fn new(argument: &str) -> Tally {
        let mut prefixes: Vec<String> =
            argument.split(',').map(|p| p.trim_end_matches('/')).filter(|p| !p.is_empty()).map(String::from).collect();
        prefixes.sort_by_key(|p| std::cmp::Reverse(p.len()));
        Tally { prefixes, counts: Mutex::new(BTreeMap::new()) }
    }

    /// The group a path counts in: the longest prefix asked for that it is
    /// in (as a path: /usr does not hold /usrx), `/first-component`,
    /// `(relative)`, or `(other)`.
    pub fn group_of(&self, path: &[u8]) -> String {
        let path = String::from_utf8_lossy(path);
        if !path.starts_with('/') {
            return "(relative)".into();
        }
        if self.prefixes.is_empty() {
            let first = path[1..].split('/').next().unwrap_or("");
            return format!("/{first}");
        }
        let within = |p: &str| path.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        self.prefixes.iter().find(|p| within(p)).cloned().unwrap_or_else(|| "(other)".into())
    }

    pub fn record(&self, path: &[u8], failed: bool) {
        let group = self.group_of(path);
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let entry = counts.entry(group).or_default();
        entry.0 += 1;
        entry.1 += failed as u64;
    }

    /// The table printed at exit: most arguments first.
    pub fn report(&self) -> String {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let mut rows: Vec<_> = counts.iter().collect();
        rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
        let mut s = String::from("count-paths: path arguments by prefix\n    paths  failed  prefix\n");
        for (group, (n, failed)) in rows {
            s += &format!("{n:>9} {failed:>7}  {group}\n");
        }
        s
    }
}
