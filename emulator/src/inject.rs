//! Fault injection, in strace's syntax (`-e inject=...`):
//!
//! ```text
//! --inject=SET:error=ENAME[:when=EXPR]      fail with ENAME, the call not made
//! --inject=SET:retval=N[:when=EXPR]         return N, the call not made
//! --inject=SET:signal=SIG                   raise SIG as the call is made
//! --inject=SET:delay_enter=T:delay_exit=T   sleep before or after it (µs, or
//!                                           with a unit: ns, us, ms, s)
//! ```
//!
//! SET is a comma-separated list of the guest table's names, classes
//! (`%file`, `%network`, ...), `all`, or any of those after `!` to leave
//! them out; ENAME is the guest's errno name (FreeBSD's for
//! a FreeBSD guest) or number, SIG a guest signal name or number. `when`
//! picks invocations of each call, counted per process from 1: `N`, `N+`
//! (from N on), `N+STEP` (N, N+STEP, ...), `N..M`; without it, every one.
//! An injection's counts live in this process, as strace's in each tracee.

use crate::call::CallSlot;
use crate::outcome::{Outcome, Retval};
use crate::personality::Personality;
use abi_tables::Table;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// What an injection does to a call it picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fired {
    /// The call's outcome instead of making it (error= or retval=).
    pub outcome: Option<Outcome>,
    /// A host signal raised at the call's entry.
    pub signal: Option<i32>,
    pub delay_enter: Option<Duration>,
    pub delay_exit: Option<Duration>,
}

/// Which invocations: the first one, the last (None: no end), the step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct When {
    first: u64,
    last: Option<u64>,
    step: u64,
}

impl When {
    fn parse(s: &str) -> Option<When> {
        let number = |t: &str| t.parse::<u64>().ok().filter(|&n| n >= 1);
        if let Some((a, b)) = s.split_once("..") {
            let (first, last) = (number(a)?, number(b)?);
            return (first <= last).then_some(When { first, last: Some(last), step: 1 });
        }
        if let Some((a, b)) = s.split_once('+') {
            let step = if b.is_empty() { 1 } else { number(b)? };
            return Some(When { first: number(a)?, last: None, step });
        }
        let n = number(s)?;
        Some(When { first: n, last: Some(n), step: 1 })
    }

    fn picks(&self, n: u64) -> bool {
        n >= self.first && self.last.is_none_or(|l| n <= l) && (n - self.first) % self.step == 0
    }
}

struct Rule {
    /// By table index: whether the rule covers the call.
    calls: Vec<bool>,
    fired: Fired,
    when: When,
    /// Invocations so far, by table index.
    counts: Box<[AtomicU64]>,
}

/// Every --inject of the command line, resolved against the guest's table.
pub struct Injections {
    rules: Vec<Rule>,
}

impl Injections {
    /// Parses `--inject` values. Errors name the value and what is wrong.
    pub fn parse(specs: &[String], table: &Table, personality: &dyn Personality) -> Result<Injections, String> {
        let mut rules = Vec::new();
        for spec in specs {
            rules.push(parse_rule(spec, table, personality).map_err(|e| format!("--inject={spec}: {e}"))?);
        }
        Ok(Injections { rules })
    }

    /// Counts an invocation of `slot` for every rule covering it; what the
    /// first rule whose `when` picks this one does. Atomics only: calls on
    /// several threads count at once.
    pub fn fire(&self, slot: &CallSlot) -> Option<Fired> {
        let i = slot.index as usize;
        let mut fired = None;
        for rule in self.rules.iter().filter(|r| r.calls[i]) {
            let n = rule.counts[i].fetch_add(1, Relaxed) + 1;
            if fired.is_none() && rule.when.picks(n) {
                fired = Some(rule.fired);
            }
        }
        fired
    }
}

fn parse_rule(spec: &str, table: &Table, personality: &dyn Personality) -> Result<Rule, String> {
    let mut parts = spec.split(':');
    let set = parts.next().unwrap_or_default();
    let calls = call_set(set, table)?;
    let mut fired = Fired { outcome: None, signal: None, delay_enter: None, delay_exit: None };
    let mut when = When { first: 1, last: None, step: 1 };
    for part in parts {
        let (key, value) = part.split_once('=').ok_or_else(|| format!("`{part}` is not KEY=VALUE"))?;
        match key {
            "error" => {
                let errno = guest_errno(value, table).ok_or_else(|| format!("no errno named `{value}`"))?;
                let host = personality.errno_from_guest(errno);
                // emu keeps errno in host terms: a guest's errno that no
                // Linux one stands for (FreeBSD's EDOOFUS) cannot travel.
                if personality.errno_to_guest(host) != errno {
                    return Err(format!("{value} has no Linux errno to carry it"));
                }
                fired.outcome = Some(Outcome::Error(host));
            }
            "retval" => {
                let v: i64 = value.parse().map_err(|_| format!("`{value}` is not a number"))?;
                fired.outcome = Some(Outcome::Value(Retval { rax: v as u64, rdx: None }));
            }
            "signal" => {
                let guest = guest_signal(value, table).ok_or_else(|| format!("no signal named `{value}`"))?;
                fired.signal = Some(
                    personality
                        .signal_from_guest(guest)
                        .ok_or_else(|| format!("signal `{value}` has no host signal"))?,
                );
            }
            "delay_enter" => fired.delay_enter = Some(delay(value)?),
            "delay_exit" => fired.delay_exit = Some(delay(value)?),
            "when" => when = When::parse(value).ok_or_else(|| format!("`{value}` is not N, N+, N+STEP or N..M"))?,
            _ => return Err(format!("unknown key `{key}` (error, retval, signal, delay_enter, delay_exit, when)")),
        }
    }
    if fired.outcome.is_none() && fired.signal.is_none() && fired.delay_enter.is_none() && fired.delay_exit.is_none() {
        return Err("nothing to inject (error=, retval=, signal=, delay_enter= or delay_exit=)".into());
    }
    let counts = (0..table.calls.len()).map(|_| AtomicU64::new(0)).collect();
    Ok(Rule { calls, fired, when, counts })
}

/// A set of calls: names, classes (`%network`), `all`, `!` to leave out.
fn call_set(set: &str, table: &Table) -> Result<Vec<bool>, String> {
    let items: Vec<&str> = set.split(',').collect();
    if items.iter().all(|i| i.is_empty()) {
        return Err("no calls named".into());
    }
    abi_tables::select(table, &items)
}

/// A guest errno by name (the table's `errno` set) or number.
fn guest_errno(value: &str, table: &Table) -> Option<i32> {
    if let Ok(n) = value.parse::<i32>() {
        return (n > 0).then_some(n);
    }
    let set = table.set_by_name("errno")?;
    set.value(value).map(|v| v.value as i32)
}

/// A guest signal by name (`SIGUSR1` or `USR1`, the table's `signal` set)
/// or number.
fn guest_signal(value: &str, table: &Table) -> Option<i32> {
    if let Ok(n) = value.parse::<i32>() {
        return (n > 0).then_some(n);
    }
    let set = table.set_by_name("signal")?;
    let name = if value.starts_with("SIG") { value.to_string() } else { format!("SIG{value}") };
    set.value(&name).map(|v| v.value as i32)
}

/// A delay: microseconds, or a number with a unit (ns, us, ms, s).
fn delay(value: &str) -> Result<Duration, String> {
    let split = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("`{value}` is not a delay"))?;
    Ok(match unit {
        "" | "us" => Duration::from_micros(n),
        "ns" => Duration::from_nanos(n),
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        _ => return Err(format!("`{value}`: the unit is ns, us, ms or s")),
    })
}

#[cfg(test)]
mod tests {
    use super::When;

    #[test]
    fn when_expressions_pick_as_strace_does() {
        let picks = |s: &str| (1..=12).filter(|&n| When::parse(s).unwrap().picks(n)).collect::<Vec<u64>>();
        assert_eq!(picks("3"), [3]);
        assert_eq!(picks("10+"), [10, 11, 12]);
        assert_eq!(picks("2+4"), [2, 6, 10]);
        assert_eq!(picks("4..6"), [4, 5, 6]);
        for bad in ["0", "x", "5..2", "3+0", ""] {
            assert!(When::parse(bad).is_none(), "{bad}");
        }
    }
}
