use super::*;

fn parse_str(text: &str) -> Result<Table, ParseError> {
    parse(text, "t.tbl", &|name| {
        builtin(name).cloned().ok_or_else(|| format!("no built-in table or table file `{name}`"))
    })
}

const HEAD: &str = "abi t\npersonality linux\nenum errno EPERM=1 \"Operation not permitted\"\n";

#[test]
fn builtin_linux_table_is_consistent() {
    let t = builtin("linux-x86_64").expect("built in");
    assert_eq!(t.call_by_number(0).unwrap().name, "read");
    assert_eq!(t.call_by_name("exit_group").unwrap().number, 231);
    assert_eq!(t.call_by_name("exit_group").unwrap().ret, RetKind::None);
    assert!(builtin("linux").is_some());
    for (n, &i) in t.index.iter().enumerate() {
        if i != NO_CALL {
            assert_eq!(t.calls[i as usize].number as usize, n);
        }
    }
}

#[test]
fn parses_calls_sets_and_conditions() {
    let t = parse_str(&format!(
        "{HEAD}flags open O_RDONLY=0/3 O_WRONLY=1/3 O_CREAT=0o100\n\
         2 open partial (path p, flags<open> f,\n   mode m if f has O_CREAT) -> fd\n   \"a note\"\n\
         9 mmap error(EPERM) (ptr a) \"no\"\n"
    ))
    .unwrap();
    let open = t.call_by_number(2).unwrap();
    assert_eq!(open.support, Support::Partial);
    assert_eq!(open.note, "a note");
    assert_eq!(open.ret, RetKind::Fd);
    assert_eq!(open.args[2].shown_if, Some(ShownIf { arg: 1, mask: 0o100 }));
    assert_eq!(t.call_by_number(9).unwrap().support, Support::Error { errno: 1, name: "EPERM".into() });
    let set = t.set_by_name("open").unwrap();
    assert_eq!(set.value("O_WRONLY").unwrap().mask, 3);
}

#[test]
fn errors_name_file_and_line() {
    let cases = [
        ("abi t\n", "t.tbl:1: the table names no `personality`"),
        ("personality linux\n", "t.tbl:1: the table must start with `abi NAME`"),
        ("abi t\npersonality linux\n\n0 read bogus ()\n", "t.tbl:4: `bogus` is not a support level"),
        (
            "abi t\npersonality linux\n0 read supported (fd a)\n0 write supported ()\n",
            "t.tbl:4: number 0 is taken by both",
        ),
        ("abi t\npersonality linux\n0 read supported (flags<nope> a)\n", "t.tbl:3: no flags set named `nope`"),
        ("abi t\npersonality linux\n0 read supported (in(len) a)\n", "t.tbl:3: `read` has no argument named `len`"),
        ("abi t\npersonality linux\n0 read partial ()\n", "t.tbl:3: `read` is partial: say how in a note"),
        ("abi t\npersonality linux\n5000 read supported ()\n", "t.tbl:3: `5000` is not a call number"),
        ("  abi t\n", "t.tbl:1: an indented line continues a statement, but none precedes it"),
        (
            "abi t\npersonality linux\nflags f A=1\n0 x supported (flags<f> a, int b if a has B)\n",
            "t.tbl:4: set `f` has no flag `B`",
        ),
        ("abi t\npersonality linux\n0 x supported (int a) \"unterminated\n", "t.tbl:3: unterminated quoted string"),
        ("abi t\npersonality linux\nsets-from nowhere\n", "t.tbl:3: no built-in table or table file `nowhere`"),
        ("abi t\npersonality linux\n0 read supported ()\nsince 5 read\n", "t.tbl:4: `5` is not a release"),
        ("abi t\npersonality linux\n0 read supported ()\nsince 5.3\n", "t.tbl:4: `since` names no call"),
        (
            "abi t\npersonality linux\n0 read supported ()\nsince 5.3 read\n  write\n",
            "t.tbl:5: `since 5.3` names `write`, which the table has no call of",
        ),
        (
            "abi t\npersonality linux\n0 read supported ()\nsince 5.3 read\nsince 2.6.16 read\n",
            "t.tbl:5: `read` is given a release twice (5.3 and 2.6.16)",
        ),
    ];
    for (text, want) in cases {
        let got = parse_str(text).expect_err(text).to_string();
        assert!(got.starts_with(want), "for {text:?}\n got: {got}\nwant: {want}");
    }
}

#[test]
fn a_broken_base_file_is_named_with_its_own_error() {
    let dir = std::env::temp_dir().join(format!("abi-tables-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("base"), "abi base\npersonality linux\nbogus statement\n").unwrap();
    std::fs::write(dir.join("overlay"), "abi overlay\ncalls-from base\n").unwrap();
    std::fs::write(dir.join("cycle"), "abi cycle\ncalls-from cycle\n").unwrap();
    let overlay = dir.join("overlay").display().to_string();
    let err = crate::load(&overlay).expect_err("the base does not parse").to_string();
    let base = dir.join("base").display().to_string();
    assert_eq!(err, format!("{overlay}:2: in `base`: {base}:3: unknown statement `bogus`"));
    let err = crate::load(&dir.join("cycle").display().to_string()).expect_err("a cycle").to_string();
    assert!(err.ends_with("tables start from each other more than 8 deep (a cycle?)"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sets_from_a_builtin_table() {
    let t = parse_str(
        "abi remapped\npersonality linux\nsets-from linux-x86_64\n7 open supported (path p, flags<open> f)\n",
    )
    .unwrap();
    assert!(t.set_by_name("errno").is_some());
    assert!(matches!(t.call_by_number(7).unwrap().args[1].kind, ArgKind::Flags(_)));
}

#[test]
fn releases_are_ordered_and_attached_to_calls() {
    let r = |s| Release::parse(s).unwrap();
    assert!(r("2.6.16") < r("2.6.32") && r("2.6.32") < r("3.0") && r("4.19") < r("5.3") && r("5.3") < r("5.10"));
    assert_eq!(
        (r("5.3").to_string(), r("2.6.16").to_string(), r("13.0").to_string()),
        ("5.3".into(), "2.6.16".into(), "13.0".into())
    );
    for bad in ["5", "5.", ".3", "5.3.1.1", "a.b", "5.-1", "99999.0"] {
        assert_eq!(Release::parse(bad), None, "{bad}");
    }
    let t = parse_str(
        "abi t\npersonality linux\n0 read supported ()\n1 clone3 supported ()\nsince 2.6.0 read\nsince 5.3 clone3\n",
    )
    .unwrap();
    assert_eq!(t.call_by_name("clone3").unwrap().since, Some(r("5.3")));
    assert!(matrix(&t, MatrixStyle::Markdown).contains("| 1 | `clone3` | supported | 5.3 |"));
}

/// Every call of a built-in table says which release first had it, so an
/// older-kernel view (`--linux-version`) knows what to take away.
#[test]
fn builtin_tables_record_every_release() {
    for t in BUILTIN {
        let missing: Vec<&str> = t.calls.iter().filter(|c| c.since.is_none()).map(|c| &*c.name).collect();
        assert!(missing.is_empty(), "{}: no `since` for {missing:?}", t.name);
    }
    let linux = builtin("linux").unwrap();
    let since = |name| linux.call_by_name(name).unwrap().since.unwrap().to_string();
    assert_eq!(
        [since("openat"), since("statx"), since("clone3"), since("close_range")],
        ["2.6.16", "4.11", "5.3", "5.9"]
    );
}

/// An overlay starts from a built-in table and states only what differs.
#[test]
fn overlays_state_what_differs() {
    let t = parse_str(
        "abi experiment\npersonality linux\ncalls-from linux-x86_64\n\
         renumber getpid 500\ndrop getppid\nrefuse openat EACCES \"no files\"\n\
         support close partial \"counted\"\nrefuse unlink EPERM\n\
         600 getppid supported () -> pid\n601 parent supported () -> pid as getppid\n",
    )
    .unwrap();
    let linux = builtin("linux").unwrap();
    assert_eq!(t.calls.len(), linux.calls.len() + 1);
    assert_eq!(t.call_by_name("getpid").unwrap().number, 500);
    assert!(t.call_by_number(39).is_none());
    assert_eq!(t.call_by_name("getppid").unwrap().number, 600);
    let parent = t.call_by_name("parent").unwrap();
    assert_eq!((parent.number, parent.implementation_name()), (601, "getppid"));
    let openat = t.call_by_name("openat").unwrap();
    assert_eq!((&openat.support, &*openat.note), (&Support::Error { errno: 13, name: "EACCES".into() }, "no files"));
    assert_eq!(t.call_by_name("close").unwrap().support, Support::Partial);
    assert_eq!(t.call_by_name("unlink").unwrap().note, "refused by this table");
    // Everything else is the base's, arguments and releases included.
    let read = t.call_by_name("read").unwrap();
    assert_eq!((read.number, read.args.len(), read.since), (0, 3, linux.call_by_name("read").unwrap().since));
    assert!(t.set_by_name("open").is_some());
}

#[test]
fn overlay_errors_name_the_line() {
    let head = "abi t\npersonality linux\ncalls-from linux-x86_64\n";
    let cases = [
        ("drop nosuch\n", "t.tbl:4: `drop nosuch`: the table has no call `nosuch`"),
        ("renumber read 1\n", "t.tbl:4: number 1 is taken by both `read` and `write`"),
        ("renumber read 9999\n", "t.tbl:4: `9999` is not a call number"),
        ("support read partial\n", "t.tbl:4: `read` is partial: say how in a note"),
        ("refuse read ENOTANERRNO\n", "t.tbl:4: `ENOTANERRNO` is not in the errno set"),
        ("500 read supported ()\n", "t.tbl:4: `read` is declared twice"),
    ];
    for (text, want) in cases {
        let got = parse_str(&format!("{head}{text}")).expect_err(text).to_string();
        assert!(got.starts_with(want), "for {text:?}\n got: {got}\nwant: {want}");
    }
    let late = parse_str("abi t\npersonality linux\nenum e A=1\ncalls-from linux-x86_64\n").unwrap_err();
    assert_eq!(late.to_string(), "t.tbl:4: `calls-from` must come before any set or call");
    let missing = parse_str("abi t\npersonality linux\ncalls-from nowhere\n").unwrap_err();
    assert_eq!(missing.to_string(), "t.tbl:3: no built-in table or table file `nowhere`");
}

#[test]
fn numbers() {
    assert_eq!(parse_number("0x10"), Some(16));
    assert_eq!(parse_number("0o644"), Some(0o644));
    assert_eq!(parse_number("-100"), Some(-100));
    assert_eq!(parse_number("0b101"), Some(5));
    assert_eq!(parse_number("x"), None);
    assert_eq!(parse_number("-"), None);
}

#[test]
fn header_defines_every_call() {
    let h = c_header(builtin("linux").unwrap());
    assert!(h.contains("#define SYS_read"));
    assert!(h.contains("#define SYS_exit_group"));
    assert!(h.lines().filter(|l| l.starts_with("#define SYS_")).count() == builtin("linux").unwrap().calls.len());
}

/// The generated statics (ranges of shared arrays, `format/pooled.rs`) say
/// exactly what parsing the files says: every text and list of both
/// built-in tables is compared, through `Debug`, which reads them all.
#[test]
fn builtin_tables_are_their_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (file, table) in [("linux-x86_64", &LINUX_X86_64), ("freebsd-amd64", &FREEBSD_AMD64)] {
        let parsed = load(&dir.join(file).to_string_lossy()).expect("the built-in file parses");
        let parsed = Table { source: "built-in".into(), ..parsed };
        assert_eq!(format!("{parsed:?}"), format!("{table:?}"), "{file}");
        assert!(matches!(table.calls, List::Built { .. }) && matches!(table.name, Text::Built { .. }));
    }
}
