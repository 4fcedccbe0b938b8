use super::*;

fn parse_str(text: &str) -> Result<Table, ParseError> {
    parse(text, "t.tbl", &|name| builtin(name).cloned())
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
        ("abi t\npersonality linux\nsets-from nowhere\n", "t.tbl:3: no built-in table named `nowhere`"),
    ];
    for (text, want) in cases {
        let got = parse_str(text).expect_err(text).to_string();
        assert!(got.starts_with(want), "for {text:?}\n got: {got}\nwant: {want}");
    }
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
