//! The parser of table files: lines into statements, statements into a
//! checked `Table` whose names are resolved (sets, argument references).

use super::*;

/// Parses a table. `source` names the file in errors; `builtin` finds the
/// table a `sets-from` or `calls-from` statement names, or says why not.
pub fn parse(text: &str, source: &str, builtin: &dyn Fn(&str) -> Result<Table, String>) -> Result<Table, ParseError> {
    Parser { source, builtin }.table(text)
}

// ---------------------------------------------------------------------------
// Lexing: a statement is a run of lines, the later ones indented.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Punct(char),
    Arrow,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: u32,
}

struct Statement {
    line: u32,
    tokens: Vec<Token>,
}

fn statements(text: &str, source: &str) -> Result<Vec<Statement>, ParseError> {
    let mut out: Vec<Statement> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i as u32 + 1;
        let tokens = lex_line(raw, line, source)?;
        if tokens.is_empty() {
            continue;
        }
        let continues = raw.starts_with([' ', '\t']);
        match out.last_mut() {
            Some(last) if continues => last.tokens.extend(tokens),
            _ if continues => {
                return Err(ParseError {
                    file: source.to_string(),
                    line,
                    message: "an indented line continues a statement, but none precedes it".into(),
                })
            }
            _ => out.push(Statement { line, tokens }),
        }
    }
    Ok(out)
}

fn lex_line(raw: &str, line: u32, source: &str) -> Result<Vec<Token>, ParseError> {
    let mut tokens = Vec::new();
    let mut chars = raw.char_indices().peekable();
    let is_word = |c: char| c.is_ascii_alphanumeric() || "_=/.-+".contains(c);
    while let Some(&(start, c)) = chars.peek() {
        if c == '#' {
            break;
        } else if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some((_, '"')) => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, c)) => s.push(c),
                        None => break,
                    },
                    Some((_, c)) => s.push(c),
                    None => {
                        return Err(ParseError {
                            file: source.to_string(),
                            line,
                            message: "unterminated quoted string".into(),
                        })
                    }
                }
            }
            tokens.push(Token { tok: Tok::Quoted(s), line });
        } else if raw[start..].starts_with("->") {
            chars.next();
            chars.next();
            tokens.push(Token { tok: Tok::Arrow, line });
        } else if "(),<>|".contains(c) {
            chars.next();
            tokens.push(Token { tok: Tok::Punct(c), line });
        } else if is_word(c) {
            let mut end = start;
            while let Some(&(i, c)) = chars.peek() {
                if !is_word(c) || raw[i..].starts_with("->") {
                    break;
                }
                end = i + c.len_utf8();
                chars.next();
            }
            tokens.push(Token { tok: Tok::Word(raw[start..end].to_string()), line });
        } else {
            return Err(ParseError { file: source.to_string(), line, message: format!("unexpected character `{c}`") });
        }
    }
    Ok(tokens)
}

/// Reads a number: decimal, `0x`, `0o`, `0b`, optionally negative.
pub fn parse_number(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (radix, digits) = match digits.get(..2) {
        Some("0x") | Some("0X") => (16, &digits[2..]),
        Some("0o") => (8, &digits[2..]),
        Some("0b") => (2, &digits[2..]),
        _ => (10, digits),
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = u64::from_str_radix(&digits.replace('_', ""), radix).ok()?;
    if neg {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        Some(magnitude as i64)
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

// ---------------------------------------------------------------------------
// Parsing

struct Parser<'a> {
    source: &'a str,
    builtin: &'a dyn Fn(&str) -> Result<Table, String>,
}

/// A call as written, before its names are resolved against the sets.
struct RawCall {
    line: u32,
    /// `as NAME`: the implementation of another call.
    implements: String,
    number: u32,
    name: String,
    support: RawSupport,
    args: Vec<RawArg>,
    ret: RetKind,
    note: String,
}

/// What an overlay changes of a call it took from its base.
enum Change {
    Renumber(String, u32),
    Drop(String),
    /// The call, its new level, its note (empty: none given).
    Support(String, RawSupport, String),
}

enum RawSupport {
    Supported,
    Partial,
    Unsupported,
    Error(String),
}

struct RawArg {
    line: u32,
    name: String,
    kind: String,
    /// `<x>` or `(x)` after the kind.
    param: Option<(char, String)>,
    shown_if: Option<(String, Vec<String>)>,
}

struct Cursor<'t> {
    tokens: &'t [Token],
    pos: usize,
    /// Line to blame when the statement ends too early.
    last_line: u32,
}

impl<'t> Cursor<'t> {
    fn new(st: &'t Statement) -> Self {
        Cursor { tokens: &st.tokens, pos: 0, last_line: st.line }
    }
    fn peek(&self) -> Option<&'t Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }
    fn line(&self) -> u32 {
        self.tokens.get(self.pos).map_or(self.last_line, |t| t.line)
    }
    fn next(&mut self) -> Option<&'t Tok> {
        let t = self.tokens.get(self.pos)?;
        self.pos += 1;
        self.last_line = t.line;
        Some(&t.tok)
    }
    fn eat_punct(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.next();
            true
        } else {
            false
        }
    }
}

impl Parser<'_> {
    fn err<T>(&self, line: u32, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError { file: self.source.to_string(), line, message: message.into() })
    }

    fn word(&self, cur: &mut Cursor, what: &str) -> Result<String, ParseError> {
        let line = cur.line();
        match cur.next() {
            Some(Tok::Word(w)) => Ok(w.clone()),
            Some(other) => self.err(line, format!("expected {what}, found {}", describe(other))),
            None => self.err(line, format!("expected {what} before the end of the statement")),
        }
    }

    fn punct(&self, cur: &mut Cursor, c: char) -> Result<(), ParseError> {
        let line = cur.line();
        match cur.next() {
            Some(Tok::Punct(p)) if *p == c => Ok(()),
            Some(other) => self.err(line, format!("expected `{c}`, found {}", describe(other))),
            None => self.err(line, format!("expected `{c}` before the end of the statement")),
        }
    }

    fn end(&self, cur: &mut Cursor) -> Result<(), ParseError> {
        match cur.peek() {
            None => Ok(()),
            Some(t) => self.err(cur.line(), format!("unexpected {}", describe(t))),
        }
    }

    fn table(&self, text: &str) -> Result<Table, ParseError> {
        let statements = statements(text, self.source)?;
        let mut name: Option<String> = None;
        let mut personality: Option<String> = None;
        let mut description = String::new();
        let mut sets: Vec<ValueSet> = Vec::new();
        let mut calls: Vec<RawCall> = Vec::new();
        // `since RELEASE NAME...`: (name, release, line), resolved with the calls.
        let mut history: Vec<(String, Release, u32)> = Vec::new();
        // An overlay's base calls (`calls-from`), and its changes to them, in order.
        let mut inherited: Vec<Syscall> = Vec::new();
        let mut changes: Vec<(u32, Change)> = Vec::new();

        for st in &statements {
            let mut cur = Cursor::new(st);
            let keyword = match cur.peek() {
                Some(Tok::Word(w)) => w.clone(),
                Some(t) => return self.err(st.line, format!("a statement cannot start with {}", describe(t))),
                None => continue,
            };
            if name.is_none() && keyword != "abi" {
                return self.err(st.line, "the table must start with `abi NAME`");
            }
            match keyword.as_str() {
                "abi" => {
                    cur.next();
                    if name.is_some() {
                        return self.err(st.line, "a second `abi` statement");
                    }
                    name = Some(self.word(&mut cur, "the table's name")?);
                    self.end(&mut cur)?;
                }
                "personality" => {
                    cur.next();
                    let p = self.word(&mut cur, "a personality name")?;
                    if !is_identifier(&p) {
                        return self.err(st.line, format!("`{p}` is not a personality name"));
                    }
                    personality = Some(p);
                    self.end(&mut cur)?;
                }
                "description" => {
                    cur.next();
                    match cur.next() {
                        Some(Tok::Quoted(q)) => description = q.clone(),
                        _ => return self.err(st.line, "expected a quoted description"),
                    }
                    self.end(&mut cur)?;
                }
                "sets-from" => {
                    cur.next();
                    let from = self.word(&mut cur, "the name of a built-in table")?;
                    self.end(&mut cur)?;
                    let table = match (self.builtin)(&from) {
                        Ok(table) => table,
                        Err(why) => return self.err(st.line, why),
                    };
                    for set in table.sets.iter() {
                        if sets.iter().any(|s| s.name == set.name) {
                            return self.err(st.line, format!("set `{}` is defined twice", set.name));
                        }
                        sets.push(set.clone());
                    }
                }
                "calls-from" => {
                    cur.next();
                    let from = self.word(&mut cur, "a built-in table's name or a table file")?;
                    self.end(&mut cur)?;
                    if !sets.is_empty() || !calls.is_empty() || !inherited.is_empty() {
                        return self.err(st.line, "`calls-from` must come before any set or call");
                    }
                    let table = match (self.builtin)(&from) {
                        Ok(table) => table,
                        Err(why) => return self.err(st.line, why),
                    };
                    // Its sets come along, in their order: its calls' arguments name them by position.
                    sets.extend(table.sets.iter().cloned());
                    inherited = table.calls.iter().cloned().map(|c| Syscall { line: st.line, ..c }).collect();
                }
                "renumber" | "drop" | "refuse" | "support" => {
                    cur.next();
                    changes.push((st.line, self.change(&keyword, &mut cur, st.line)?));
                }
                "flags" | "enum" => {
                    cur.next();
                    let set = self.value_set(&keyword, &mut cur, st.line)?;
                    if sets.iter().any(|s| s.name == set.name) {
                        return self.err(st.line, format!("set `{}` is defined twice", set.name));
                    }
                    sets.push(set);
                }
                "since" => {
                    cur.next();
                    let text = self.word(&mut cur, "a release (`5.3`, `2.6.16`)")?;
                    let Some(release) = Release::parse(&text) else {
                        return self.err(st.line, format!("`{text}` is not a release (`5.3`, `2.6.16`)"));
                    };
                    if cur.peek().is_none() {
                        return self.err(st.line, "`since` names no call");
                    }
                    while cur.peek().is_some() {
                        let line = cur.line();
                        let call = self.word(&mut cur, "a call's name")?;
                        history.push((call, release, line));
                    }
                }
                w if w.starts_with(|c: char| c.is_ascii_digit()) => {
                    calls.push(self.call(&mut cur, st.line)?);
                }
                other => return self.err(st.line, format!("unknown statement `{other}`")),
            }
        }

        let Some(name) = name else {
            return self.err(1, "the table is empty: it must start with `abi NAME`");
        };
        let Some(personality) = personality else {
            return self.err(1, "the table names no `personality`");
        };
        let mut resolved = inherited;
        for raw in &calls {
            resolved.push(self.resolve(raw, &sets)?);
        }
        for (line, change) in changes {
            self.apply(&mut resolved, &sets, change, line)?;
        }
        resolved.sort_by_key(|c| c.number);
        for pair in resolved.windows(2) {
            if pair[0].number == pair[1].number {
                return self.err(
                    pair[0].line.max(pair[1].line),
                    format!("number {} is taken by both `{}` and `{}`", pair[0].number, pair[0].name, pair[1].name),
                );
            }
        }
        let mut by_name: Vec<&Syscall> = resolved.iter().collect();
        by_name.sort_by(|a, b| a.name.cmp(&b.name));
        for pair in by_name.windows(2) {
            if pair[0].name == pair[1].name {
                return self.err(pair[0].line.max(pair[1].line), format!("`{}` is declared twice", pair[0].name));
            }
        }
        for (call, release, line) in &history {
            let Some(c) = resolved.iter_mut().find(|c| c.name == *call) else {
                return self.err(*line, format!("`since {release}` names `{call}`, which the table has no call of"));
            };
            if let Some(earlier) = c.since {
                return self.err(*line, format!("`{call}` is given a release twice ({earlier} and {release})"));
            }
            c.since = Some(*release);
        }
        let len = resolved.last().map_or(0, |c| c.number as usize + 1);
        let mut index = vec![NO_CALL; len];
        for (i, call) in resolved.iter().enumerate() {
            index[call.number as usize] = i as u16;
        }
        let by_name = Table::names_order(&resolved);
        Ok(Table {
            name: name.into(),
            personality: personality.into(),
            description: description.into(),
            source: self.source.to_string().into(),
            sets: sets.into(),
            calls: resolved.into(),
            index: index.into(),
            by_name: by_name.into(),
        })
    }

    fn value_set(&self, keyword: &str, cur: &mut Cursor, line: u32) -> Result<ValueSet, ParseError> {
        let name = self.word(cur, "the set's name")?;
        if !is_identifier(&name) {
            return self.err(line, format!("`{name}` is not a set name"));
        }
        let kind = if keyword == "flags" { SetKind::Flags } else { SetKind::Enum };
        let mut values: Vec<Value> = Vec::new();
        while let Some(tok) = cur.next() {
            let vline = cur.last_line;
            match tok {
                Tok::Word(w) => {
                    let Some((vname, spec)) = w.split_once('=') else {
                        return self.err(vline, format!("expected NAME=VALUE, found `{w}`"));
                    };
                    if !is_identifier(vname) {
                        return self.err(vline, format!("`{vname}` is not a value name"));
                    }
                    let (num, mask) = match spec.split_once('/') {
                        Some((n, m)) if kind == SetKind::Flags => (n, Some(m)),
                        Some(_) => return self.err(vline, "a `/MASK` belongs in a flags set, not an enum"),
                        None => (spec, None),
                    };
                    let Some(value) = parse_number(num) else {
                        return self.err(vline, format!("`{num}` is not a number"));
                    };
                    let mask = match mask.map(parse_number) {
                        None => 0,
                        Some(Some(m)) if m != 0 && value & !m == 0 => m as u64,
                        Some(_) => return self.err(vline, format!("bad field mask in `{w}`")),
                    };
                    if values.iter().any(|v| v.name == vname) {
                        return self.err(vline, format!("`{vname}` appears twice in set `{name}`"));
                    }
                    values.push(Value { name: vname.to_string().into(), value, mask, description: "".into() });
                }
                Tok::Quoted(q) => match values.last_mut() {
                    Some(v) if v.description.is_empty() => v.description = q.clone().into(),
                    _ => return self.err(vline, "a description must follow the value it describes"),
                },
                other => return self.err(vline, format!("unexpected {} in a value set", describe(other))),
            }
        }
        Ok(ValueSet { name: name.into(), kind, values: values.into() })
    }

    /// `renumber NAME NUMBER`, `drop NAME`, `refuse NAME ENAME ["note"]`,
    /// `support NAME LEVEL ["note"]`.
    fn change(&self, keyword: &str, cur: &mut Cursor, line: u32) -> Result<Change, ParseError> {
        let name = self.word(cur, "a call's name")?;
        let note = |cur: &mut Cursor| -> Result<String, ParseError> {
            let note = match cur.peek() {
                Some(Tok::Quoted(q)) => {
                    let q = q.clone();
                    cur.next();
                    q
                }
                _ => String::new(),
            };
            self.end(cur)?;
            Ok(note)
        };
        Ok(match keyword {
            "renumber" => {
                let num = self.word(cur, "a number")?;
                self.end(cur)?;
                match parse_number(&num) {
                    Some(n) if (0..MAX_NUMBER as i64).contains(&n) => Change::Renumber(name, n as u32),
                    _ => return self.err(line, format!("`{num}` is not a call number (0 to {})", MAX_NUMBER - 1)),
                }
            }
            "drop" => {
                self.end(cur)?;
                Change::Drop(name)
            }
            "refuse" => {
                let errno = self.word(cur, "an errno name")?;
                let note = note(cur)?;
                let note = if note.is_empty() { "refused by this table".to_string() } else { note };
                Change::Support(name, RawSupport::Error(errno), note)
            }
            _ => {
                let level = self.support_level(cur)?;
                Change::Support(name, level, note(cur)?)
            }
        })
    }

    /// A support level as a call line or `support` writes it: `supported`,
    /// `partial`, `unsupported`, `error(ENAME)`.
    fn support_level(&self, cur: &mut Cursor) -> Result<RawSupport, ParseError> {
        let line = cur.line();
        Ok(match self.word(cur, "a support level")?.as_str() {
            "supported" => RawSupport::Supported,
            "partial" => RawSupport::Partial,
            "unsupported" => RawSupport::Unsupported,
            "error" => {
                self.punct(cur, '(')?;
                let e = self.word(cur, "an errno name")?;
                self.punct(cur, ')')?;
                RawSupport::Error(e)
            }
            other => {
                return self.err(
                    line,
                    format!("`{other}` is not a support level (supported, partial, unsupported, error(ENAME))"),
                )
            }
        })
    }

    /// A call's support level, checked: partial and refused calls say how
    /// in a note, and a refusal's errno is in the table's errno set.
    fn support(
        &self,
        level: &RawSupport,
        note: &str,
        sets: &[ValueSet],
        name: &str,
        line: u32,
    ) -> Result<Support, ParseError> {
        let needs_note = |what: &str| self.err(line, format!("`{name}` is {what}: say how in a note"));
        Ok(match level {
            RawSupport::Supported => Support::Supported,
            RawSupport::Unsupported => Support::Unsupported,
            RawSupport::Partial if note.is_empty() => return needs_note("partial"),
            RawSupport::Partial => Support::Partial,
            RawSupport::Error(_) if note.is_empty() => return needs_note("refused"),
            RawSupport::Error(e) => {
                let Some(errno) = sets.iter().find(|s| s.name == "errno") else {
                    return self.err(line, "`error(...)` needs an `enum errno` set");
                };
                match errno.value(e) {
                    Some(v) => Support::Error { errno: v.value as i32, name: e.clone().into() },
                    None => return self.err(line, format!("`{e}` is not in the errno set")),
                }
            }
        })
    }

    /// Applies an overlay's change to the calls.
    fn apply(&self, calls: &mut Vec<Syscall>, sets: &[ValueSet], change: Change, line: u32) -> Result<(), ParseError> {
        let find = |calls: &mut Vec<Syscall>, name: &str| calls.iter().position(|c| c.name == name);
        match change {
            Change::Drop(name) => match find(calls, &name) {
                Some(i) => {
                    calls.remove(i);
                }
                None => return self.err(line, format!("`drop {name}`: the table has no call `{name}`")),
            },
            Change::Renumber(name, number) => match find(calls, &name) {
                Some(i) => {
                    calls[i].number = number;
                    calls[i].line = line;
                }
                None => return self.err(line, format!("`renumber {name}`: the table has no call `{name}`")),
            },
            Change::Support(name, level, note) => {
                let Some(i) = find(calls, &name) else {
                    return self.err(line, format!("`{name}` is not a call of the table"));
                };
                let call = &mut calls[i];
                call.support = self.support(&level, &note, sets, &name, line)?;
                call.note = note.into();
                call.line = line;
            }
        }
        Ok(())
    }

    fn call(&self, cur: &mut Cursor, line: u32) -> Result<RawCall, ParseError> {
        let num = self.word(cur, "a number")?;
        let number = match parse_number(&num) {
            Some(n) if (0..MAX_NUMBER as i64).contains(&n) => n as u32,
            _ => return self.err(line, format!("`{num}` is not a call number (0 to {})", MAX_NUMBER - 1)),
        };
        let name = self.word(cur, "the call's name")?;
        if !is_identifier(&name) {
            return self.err(line, format!("`{name}` is not a call name"));
        }
        let support = self.support_level(cur)?;
        self.punct(cur, '(')?;
        let mut args = Vec::new();
        if !cur.eat_punct(')') {
            loop {
                args.push(self.arg(cur)?);
                if cur.eat_punct(')') {
                    break;
                }
                self.punct(cur, ',')?;
            }
        }
        if args.len() > MAX_ARGS {
            return self.err(line, format!("`{name}` has {} arguments; at most {MAX_ARGS} are allowed", args.len()));
        }
        let mut ret = RetKind::Int;
        if cur.peek() == Some(&Tok::Arrow) {
            cur.next();
            let rline = cur.line();
            ret = match self.word(cur, "a return kind")?.as_str() {
                "int" => RetKind::Int,
                "uint" => RetKind::UInt,
                "hex" => RetKind::Hex,
                "ptr" => RetKind::Ptr,
                "fd" => RetKind::Fd,
                "pid" => RetKind::Pid,
                "mode" => RetKind::Mode,
                "none" => RetKind::None,
                other => return self.err(rline, format!("`{other}` is not a return kind")),
            };
        }
        let mut implements = String::new();
        if cur.peek() == Some(&Tok::Word("as".to_string())) {
            cur.next();
            implements = self.word(cur, "the name of the call whose implementation it uses")?;
            if !is_identifier(&implements) {
                return self.err(line, format!("`{implements}` is not a call name"));
            }
        }
        let mut note = String::new();
        if let Some(Tok::Quoted(q)) = cur.peek() {
            note = q.clone();
            cur.next();
        }
        self.end(cur)?;
        Ok(RawCall { line, implements, number, name, support, args, ret, note })
    }

    fn arg(&self, cur: &mut Cursor) -> Result<RawArg, ParseError> {
        let line = cur.line();
        let kind = self.word(cur, "an argument kind")?;
        let param = if cur.eat_punct('<') {
            let p = self.word(cur, "a name")?;
            self.punct(cur, '>')?;
            Some(('<', p))
        } else if cur.eat_punct('(') {
            let p = self.word(cur, "an argument name")?;
            self.punct(cur, ')')?;
            Some(('(', p))
        } else {
            None
        };
        let name = self.word(cur, "the argument's name")?;
        if !is_identifier(&name) {
            return self.err(line, format!("`{name}` is not an argument name"));
        }
        let mut shown_if = None;
        if cur.peek() == Some(&Tok::Word("if".into())) {
            cur.next();
            let other = self.word(cur, "an argument name")?;
            let has = self.word(cur, "`has`")?;
            if has != "has" {
                return self.err(cur.last_line, format!("expected `has`, found `{has}`"));
            }
            let mut flags = vec![self.word(cur, "a flag name")?];
            while cur.eat_punct('|') {
                flags.push(self.word(cur, "a flag name")?);
            }
            shown_if = Some((other, flags));
        }
        Ok(RawArg { line, name, kind, param, shown_if })
    }

    fn resolve(&self, raw: &RawCall, sets: &[ValueSet]) -> Result<Syscall, ParseError> {
        let find_set = |name: &str, kind: SetKind, line: u32| -> Result<SetId, ParseError> {
            match sets.iter().position(|s| s.name == name) {
                Some(i) if sets[i].kind == kind => Ok(i as SetId),
                Some(_) => self.err(line, format!("set `{name}` is not a {} set", keyword(kind))),
                None => self.err(line, format!("no {} set named `{name}`", keyword(kind))),
            }
        };
        let arg_index = |name: &str, line: u32| -> Result<u8, ParseError> {
            match raw.args.iter().position(|a| a.name == name) {
                Some(i) => Ok(i as u8),
                None => self.err(line, format!("`{}` has no argument named `{name}`", raw.name)),
            }
        };

        let mut args = Vec::with_capacity(raw.args.len());
        for (i, a) in raw.args.iter().enumerate() {
            if raw.args[..i].iter().any(|b| b.name == a.name) {
                return self.err(a.line, format!("two arguments are named `{}`", a.name));
            }
            let param = |open: char| -> Result<&str, ParseError> {
                match &a.param {
                    Some((o, p)) if *o == open => Ok(p),
                    _ => {
                        let shape = if open == '<' { "<NAME>" } else { "(ARGUMENT)" };
                        self.err(a.line, format!("kind `{}` is written `{}{shape}`", a.kind, a.kind))
                    }
                }
            };
            let kind = match a.kind.as_str() {
                "flags" => ArgKind::Flags(find_set(param('<')?, SetKind::Flags, a.line)?),
                "enum" => ArgKind::Enum(find_set(param('<')?, SetKind::Enum, a.line)?),
                "in" | "out" | "inout" | "outerr" | "stack" if matches!(a.param, Some(('<', _))) => {
                    let s: Text = param('<')?.to_string().into();
                    match a.kind.as_str() {
                        "in" => ArgKind::InStruct(s),
                        "out" => ArgKind::OutStruct(s),
                        "outerr" => ArgKind::ErrStruct(s),
                        "stack" => ArgKind::StackStruct(s),
                        _ => ArgKind::InOutStruct(s),
                    }
                }
                "outstr" => ArgKind::OutStr(arg_index(param('(')?, a.line)?),
                "outhex" => ArgKind::OutHex(arg_index(param('(')?, a.line)?),
                "in" => ArgKind::In(arg_index(param('(')?, a.line)?),
                "out" => ArgKind::Out(arg_index(param('(')?, a.line)?),
                "iov_in" => ArgKind::IovIn(arg_index(param('(')?, a.line)?),
                "iov_out" => ArgKind::IovOut(arg_index(param('(')?, a.line)?),
                simple => {
                    if a.param.is_some() {
                        return self.err(a.line, format!("kind `{simple}` takes no parameter"));
                    }
                    match simple {
                        "int" => ArgKind::Int,
                        "uint" => ArgKind::UInt,
                        "hex" => ArgKind::Hex,
                        "ptr" => ArgKind::Ptr,
                        "fd" => ArgKind::Fd,
                        "dirfd" => ArgKind::DirFd,
                        "mode" => ArgKind::Mode,
                        "pid" => ArgKind::Pid,
                        "uid" => ArgKind::Uid,
                        "gid" => ArgKind::Gid,
                        "signal" => ArgKind::Signal,
                        "path" => ArgKind::Path,
                        "str" => ArgKind::Str,
                        "argv" => ArgKind::Argv,
                        "envp" => ArgKind::Envp,
                        other => return self.err(a.line, format!("`{other}` is not an argument kind")),
                    }
                }
            };
            let shown_if = match &a.shown_if {
                None => None,
                Some((other, flags)) => {
                    let idx = arg_index(other, a.line)?;
                    let ArgKind::Flags(set) = raw_flags_kind(&raw.args[idx as usize], sets) else {
                        return self
                            .err(a.line, format!("`if {other} has ...` needs `{other}` to be a flags argument"));
                    };
                    let set = &sets[set as usize];
                    let mut mask = 0u64;
                    for f in flags {
                        match set.value(f) {
                            Some(v) => mask |= v.value as u64,
                            None => return self.err(a.line, format!("set `{}` has no flag `{f}`", set.name)),
                        }
                    }
                    Some(ShownIf { arg: idx, mask })
                }
            };
            args.push(Arg { name: a.name.clone().into(), kind, shown_if });
        }

        let support = self.support(&raw.support, &raw.note, sets, &raw.name, raw.line)?;
        Ok(Syscall {
            number: raw.number,
            name: raw.name.clone().into(),
            support,
            args: args.into(),
            ret: raw.ret,
            note: raw.note.clone().into(),
            line: raw.line,
            since: None,
            implements: raw.implements.clone().into(),
        })
    }
}

/// The flags set of an argument written `flags<SET>`, looked up without errors
/// (the argument itself reports them when it is resolved).
fn raw_flags_kind(arg: &RawArg, sets: &[ValueSet]) -> ArgKind {
    match (&arg.kind[..], &arg.param) {
        ("flags", Some(('<', set))) => match sets.iter().position(|s| &s.name == set) {
            Some(i) if sets[i].kind == SetKind::Flags => ArgKind::Flags(i as SetId),
            _ => ArgKind::Int,
        },
        _ => ArgKind::Int,
    }
}

fn keyword(kind: SetKind) -> &'static str {
    match kind {
        SetKind::Flags => "flags",
        SetKind::Enum => "enum",
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("`{w}`"),
        Tok::Quoted(q) => format!("the string \"{q}\""),
        Tok::Punct(c) => format!("`{c}`"),
        Tok::Arrow => "`->`".into(),
    }
}
