//! The `emu` command line.
//!
//! ```text
//! emu [OPTIONS] PROGRAM [ARGS...]    run PROGRAM under emu
//! emu abi list                       the ABI tables emu has built in
//! emu abi show TABLE [--markdown]    a table's compatibility matrix
//! emu abi header TABLE               a C header of a table's numbers
//! emu compat [OPTIONS] PROGRAM [ARGS...]  the calls PROGRAM makes, against every table
//! emu binfmt install|uninstall|status     run FreeBSD programs directly (binfmt_misc)
//! ```
//!
//! Everything after PROGRAM belongs to the guest.

use crate::hooks::Hook;
use crate::lifecycle::Relaunch;
use crate::start::{self, StartOptions, StatsOptions, TraceOptions, TraceOutput};
use abi_tables::MatrixStyle;
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "emu",
    version,
    about = "Run x86-64 programs built for another system-call ABI, under Syscall User Dispatch",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Environment: EMU_LOG=error|warn|info|debug|trace sets the log level (like --log-level). \
                  EMU_CACHE_DIR=DIR keeps the analyses of syscall sites, and which sites of a program were \
                  rewritten, in DIR across runs (default: $XDG_CACHE_HOME/emu or ~/.cache/emu; empty: none kept)."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// Trace system calls like strace: all, or a comma-separated list (`!name` leaves one out)
    #[arg(long, value_name = "CALLS", num_args = 0..=1, require_equals = true, default_missing_value = "all")]
    trace: Option<String>,

    /// Inject faults like strace: SET:error=ENAME|retval=N|signal=SIG|delay_enter=T|delay_exit=T[:when=EXPR]
    #[arg(long, value_name = "SET:ACTION[:when=EXPR]")]
    inject: Vec<String>,

    /// The trace's format: strace's lines, or one JSON object per line (docs/trace-json.schema.json)
    #[arg(long, value_name = "FORMAT", default_value = "strace", value_parser = ["strace", "json"])]
    trace_format: String,

    /// Show a Linux guest an older kernel: calls that came after VERSION (4.19, 5.3) fail with ENOSYS
    #[arg(long, value_name = "VERSION", value_parser = parse_release)]
    linux_version: Option<abi_tables::Release>,

    /// Show a FreeBSD guest an older release: calls that came after VERSION (13.0) fail as there
    #[arg(long, value_name = "VERSION", value_parser = parse_release, conflicts_with = "linux_version")]
    freebsd_version: Option<abi_tables::Release>,

    /// Load a hook plugin (a shared object built against `emu abi hook-header`); repeatable, chained in order.
    /// The text after the first comma is given to the hook
    #[arg(long, value_name = "LIB.so[,ARGUMENT]")]
    hook: Vec<String>,

    /// Keep every syscall site on the trap path (no rewriting after the first trap)
    #[arg(long, overrides_with = "no_rewrite")]
    no_rewrite: bool,

    /// Write the trace (and --stats) to FILE instead of stderr
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,

    /// Count calls, errors and time per call, and print a table at exit (like strace -c)
    #[arg(short = 'c', long)]
    stats: bool,

    /// Show at most N bytes of strings and buffers in traces
    #[arg(short = 's', long = "string-limit", value_name = "N", default_value_t = 32)]
    string_limit: usize,

    /// Use the ABI table in FILE instead of the guest's built-in one
    #[arg(long, value_name = "FILE")]
    abi_table: Option<PathBuf>,

    /// List the built-in ABI tables and exit (same as `emu abi list`)
    #[arg(long)]
    list_abis: bool,

    /// emu's own diagnostics: error, warn (default), info, debug, trace
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,

    /// argv[0] for the guest (default: PROGRAM); may start with `-`, as a login shell's does
    #[arg(long, value_name = "NAME", allow_hyphen_values = true)]
    argv0: Option<OsString>,

    #[arg(long, hide = true)]
    log_fd: Option<i32>,
    #[arg(long, hide = true)]
    trace_fd: Option<i32>,
    #[arg(long, hide = true)]
    trace_pids: bool,
    #[arg(long, hide = true)]
    stats_fd: Option<i32>,
    #[arg(long, hide = true)]
    stats_owner: Option<i32>,
    /// A descriptor the program is opened through (an exec'd image); closed once it is loaded.
    #[arg(long, hide = true)]
    exec_fd: Option<i32>,
    /// The guest's RLIMIT_STACK (bytes, or `unlimited`), which the exec'ing
    /// emu raised for this one's start: restored before the guest runs.
    #[arg(long, hide = true, value_parser = parse_limit)]
    guest_stack_limit: Option<Limit>,
    /// The guest's signal mask (host numbering, hex) at its execve: the
    /// exec'ing emu blocked every signal it could for the exec.
    #[arg(long, hide = true, value_parser = parse_mask)]
    guest_mask: Option<u64>,

    /// The program to run, and its arguments
    #[arg(value_name = "PROGRAM", trailing_var_arg = true)]
    program: Vec<OsString>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// ABI tables: list, show, header, check, diff
    Abi {
        #[command(subcommand)]
        command: AbiCommand,
    },
    /// Run PROGRAM (or read a trace) and report each distinct call it made,
    /// with its support level and first release in every built-in table
    Compat(CompatArgs),
    /// Print a completion script for a shell: `source <(emu completions bash)`
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Run FreeBSD programs directly (./program), through a binfmt_misc handler for this emu
    Binfmt {
        #[command(subcommand)]
        command: BinfmtCommand,
        /// The handler's name under /proc/sys/fs/binfmt_misc
        #[arg(long, global = true, default_value = crate::binfmt::DEFAULT_NAME)]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum BinfmtCommand {
    /// Register the handler (root; mounts binfmt_misc if it is not)
    Install,
    /// Remove the handler
    Uninstall,
    /// Whether the handler is registered, and for which emu (exit status 1 if not)
    Status,
}

#[derive(clap::Args, Debug)]
struct CompatArgs {
    /// The report's format
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "markdown", "json"])]
    format: String,
    /// Report on this trace (emu's, JSON or strace format, or strace's own) instead of running a program
    #[arg(long, value_name = "FILE", conflicts_with = "program")]
    from_trace: Option<PathBuf>,
    /// The table of a strace-format trace's calls (JSON traces name theirs)
    #[arg(long, value_name = "TABLE", default_value = "linux-x86_64")]
    abi: String,
    /// Write the report to FILE (default: stderr, after the program's output)
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Run PROGRAM with the ABI table in FILE
    #[arg(long, value_name = "FILE")]
    abi_table: Option<PathBuf>,
    /// Run PROGRAM as on this older Linux
    #[arg(long, value_name = "VERSION", value_parser = parse_release)]
    linux_version: Option<abi_tables::Release>,
    /// Run PROGRAM as on this older FreeBSD
    #[arg(long, value_name = "VERSION", value_parser = parse_release, conflicts_with = "linux_version")]
    freebsd_version: Option<abi_tables::Release>,
    /// The program to run, and its arguments
    #[arg(value_name = "PROGRAM", trailing_var_arg = true, required_unless_present = "from_trace")]
    program: Vec<OsString>,
}

#[derive(Subcommand, Debug)]
enum AbiCommand {
    /// The built-in tables
    List,
    /// A table's compatibility matrix: every call, its support level and note
    Show {
        /// A built-in table (`linux-x86_64`, or just `linux`) or a table file
        table: String,
        /// As a Markdown table
        #[arg(long)]
        markdown: bool,
        /// With each call's classes (%file, %desc, %network, ...), as --trace and --inject take them
        #[arg(long)]
        class: bool,
    },
    /// A C header defining SYS_<name> for every call of a table
    Header {
        /// A built-in table or a table file
        table: String,
    },
    /// The C header of emu's hook plugin ABI (for `emu --hook`), generated from its Rust definitions
    HookHeader,
    /// Parse a table and check it against its personality; exit status 1 if anything is wrong
    Check {
        /// A built-in table or a table file
        table: String,
    },
    /// The calls two tables disagree on: numbers, argument kinds, support, implementation, release, calls only in one
    Diff {
        /// A built-in table or a table file
        a: String,
        /// A built-in table or a table file
        b: String,
        /// As JSON ([{"call", "what", "a", "b"}]) instead of a table
        #[arg(long)]
        json: bool,
    },
}

/// The names clap takes as a subcommand (and its `help`) where a program
/// could be named.
const SUBCOMMANDS: [&str; 5] = ["abi", "compat", "completions", "binfmt", "help"];

/// `emu PROGRAM [ARGS...]`, no option before PROGRAM, as emu is mostly run,
/// parsed without clap (a binfmt_misc handler's line, `--argv0 X -- PROGRAM`
/// where the kernel gives argv[0], goes through clap): building clap's
/// command tree (every subcommand's arguments) and matching it took about
/// 100 us of every start (uprobes on `cli::run` and
/// `Command::try_get_matches_from`: 59 and 42 us). The defaults are
/// clap's; a test compares the two on such lines.
fn plain_run(argv: &[OsString]) -> Option<Cli> {
    use std::os::unix::ffi::OsStrExt;
    let first = argv.get(1)?.as_bytes();
    if first.is_empty() || first.starts_with(b"-") || SUBCOMMANDS.iter().any(|c| c.as_bytes() == first) {
        return None;
    }
    Some(Cli {
        command: None,
        trace: None,
        inject: Vec::new(),
        trace_format: "strace".into(),
        linux_version: None,
        freebsd_version: None,
        hook: Vec::new(),
        no_rewrite: false,
        output: None,
        stats: false,
        string_limit: 32,
        abi_table: None,
        list_abis: false,
        log_level: None,
        argv0: None,
        log_fd: None,
        trace_fd: None,
        trace_pids: false,
        stats_fd: None,
        stats_owner: None,
        exec_fd: None,
        guest_stack_limit: None,
        guest_mask: None,
        program: argv[1..].to_vec(),
    })
}

/// Prints `emu: message` on stderr and gives back `status`.
fn fail(status: i32, message: impl std::fmt::Display) -> i32 {
    eprintln!("emu: {message}");
    status
}

/// Runs the command line of this process; returns the exit status (a guest
/// that starts never returns here).
pub fn run(mut hooks: Vec<Box<dyn Hook>>) -> i32 {
    // A panic is reported in one line from the start (the level is set below).
    crate::log::init(log::LevelFilter::Warn);
    install_panic_hook();
    let argv = crate::binfmt::argv_from_kernel(std::env::args_os().collect());
    let cli = match plain_run(&argv).map_or_else(|| Cli::try_parse_from(argv), Ok) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let level = cli
        .log_level
        .clone()
        .or_else(|| std::env::var("EMU_LOG").ok())
        .map(|l| crate::log::parse_level(&l).ok_or(l))
        .transpose();
    let level = match level {
        Ok(l) => l.unwrap_or(log::LevelFilter::Warn),
        Err(bad) => return fail(2, format!("unknown log level `{bad}` (error, warn, info, debug, trace)")),
    };
    crate::log::init(level);

    if cli.list_abis {
        return abi_command(AbiCommand::List);
    }
    match cli.command {
        Some(Command::Abi { command }) => return abi_command(command),
        Some(Command::Compat(args)) => return compat_command(args),
        Some(Command::Completions { shell }) => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "emu", &mut std::io::stdout());
            return 0;
        }
        Some(Command::Binfmt { command, name }) => {
            let done = match command {
                BinfmtCommand::Install => crate::binfmt::install(&name),
                BinfmtCommand::Uninstall => crate::binfmt::uninstall(&name),
                BinfmtCommand::Status => crate::binfmt::status(&name),
            };
            return match done {
                Ok(message) => {
                    println!("{message}");
                    0
                }
                Err((status, message)) => fail(status, format!("binfmt: {message}")),
            };
        }
        None => {}
    }
    let Some((program, args)) = cli.program.split_first() else {
        return fail(2, "no program to run (see emu --help)");
    };

    // emu's diagnostics go to a private copy of stderr, which the guest cannot close.
    match cli.log_fd {
        Some(fd) => {
            crate::fds::register(fd);
            crate::fds::set_inheritable(&[fd], false);
            crate::log::set_fd(fd);
        }
        None => match crate::fds::make_private(2) {
            Ok(fd) => crate::log::set_fd(fd),
            Err(e) => log::debug!("stderr stays shared with the guest: {e}"),
        },
    }

    for spec in &cli.hook {
        match crate::hooks::load_plugin(spec) {
            Ok(plugin) => hooks.push(Box::new(plugin)),
            Err(e) => return fail(2, e),
        }
    }

    let table = match &cli.abi_table {
        Some(path) => match abi_tables::load(&path.to_string_lossy()) {
            Ok(t) => Some(t),
            Err(e) => return fail(2, e),
        },
        None => None,
    };
    let trace = cli.trace.as_ref().map(|list| TraceOptions {
        calls: list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
        json: cli.trace_format == "json",
        output: match (cli.trace_fd, &cli.output) {
            (Some(fd), _) => TraceOutput::Inherited(fd),
            (None, Some(path)) => TraceOutput::File(path.clone()),
            (None, None) => TraceOutput::Stderr,
        },
        string_limit: cli.string_limit,
        pids: cli.trace_pids,
    });
    let stats = cli.stats.then(|| StatsOptions { inherited: cli.stats_fd.zip(cli.stats_owner) });
    let mut argv = vec![cli.argv0.clone().unwrap_or_else(|| program.clone())];
    argv.extend(args.iter().cloned());

    let err = start::start(StartOptions {
        program: PathBuf::from(program),
        argv,
        table,
        trace,
        stats,
        hooks,
        inject: cli.inject.clone(),
        release: requested_release(&cli),
        rewrite: !cli.no_rewrite,
        relaunch: relaunch_options(&cli),
        program_fd: cli.exec_fd,
        stack_limit: cli.guest_stack_limit.map_or_else(crate::sys::stack_limit, |l| l.0),
        restore_stack_limit: cli.guest_stack_limit.map(|l| l.0),
        guest_mask: cli.guest_mask,
    });
    let status = fail(err.status, err.message);
    if let Some(sig) = err.killed_by {
        // As the kernel kills a process whose new image it cannot load.
        // SAFETY: the default action for a signal sent to this process.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
    }
    status
}

/// A kernel release: `5.3`, `2.6.16`.
fn parse_release(s: &str) -> Result<abi_tables::Release, String> {
    abi_tables::Release::parse(s).ok_or_else(|| "expected a release such as 4.19, 5.3 or 2.6.32".to_string())
}

/// The older release asked for, if any (clap allows one of the two).
fn requested_release(cli: &Cli) -> Option<crate::release::Requested> {
    let linux = cli.linux_version.map(|release| crate::release::Requested { personality: "linux", release });
    let freebsd = cli.freebsd_version.map(|release| crate::release::Requested { personality: "freebsd", release });
    linux.or(freebsd)
}

/// A resource limit's value (None: unlimited).
#[derive(Clone, Copy, Debug)]
struct Limit(Option<u64>);

/// A resource limit: a number of bytes, or `unlimited`.
fn parse_limit(s: &str) -> Result<Limit, String> {
    match s {
        "unlimited" => Ok(Limit(None)),
        n => n.parse().map(|n| Limit(Some(n))).map_err(|e| format!("{e}")),
    }
}

fn parse_mask(s: &str) -> Result<u64, String> {
    let digits = s.strip_prefix("0x").ok_or("not a 0x-prefixed mask")?;
    u64::from_str_radix(digits, 16).map_err(|e| format!("{e}"))
}

/// The options an exec'd image runs with: the user's, tables as absolute paths.
fn relaunch_options(cli: &Cli) -> Relaunch {
    let mut options: Vec<OsString> = Vec::new();
    if let Some(t) = &cli.trace {
        options.push(format!("--trace={t}").into());
        options.push(format!("--string-limit={}", cli.string_limit).into());
        options.push(format!("--trace-format={}", cli.trace_format).into());
    }
    if cli.stats {
        options.push("--stats".into());
    }
    // As strace -f injects in every process it follows.
    for i in &cli.inject {
        options.push(format!("--inject={i}").into());
    }
    if let Some(r) = requested_release(cli) {
        options.push(format!("{}={}", r.option(), r.release).into());
    }
    if cli.no_rewrite {
        options.push("--no-rewrite".into());
    }
    // The next image loads the same plugins, whatever its directory (a
    // name without a slash is dlopen's to search for, as it was here).
    for spec in &cli.hook {
        let (path, argument) = spec.split_once(',').map_or((spec.as_str(), None), |(p, a)| (p, Some(a)));
        let mut o = OsString::from("--hook=");
        match std::fs::canonicalize(path) {
            Ok(abs) if path.contains('/') => o.push(abs),
            _ => o.push(path),
        }
        if let Some(a) = argument {
            o.push(",");
            o.push(a);
        }
        options.push(o);
    }
    if let Some(t) = &cli.abi_table {
        let abs = std::fs::canonicalize(t).unwrap_or_else(|_| t.clone());
        let mut o = OsString::from("--abi-table=");
        o.push(abs.as_os_str());
        options.push(o);
    }
    // Always explicit: the next image's environment is the guest's, and an
    // EMU_LOG there must not change emu.
    options.push(format!("--log-level={}", log::max_level().as_str().to_lowercase()).into());
    Relaunch { options }
}

fn compat_command(args: CompatArgs) -> i32 {
    use crate::compat::{CompatOptions, Format};
    if abi_tables::find(&args.abi).is_err() {
        return fail(2, format!("compat: --abi {}: no such table", args.abi));
    }
    let mut emu_options: Vec<OsString> = Vec::new();
    if let Some(t) = &args.abi_table {
        let mut o = OsString::from("--abi-table=");
        o.push(t.as_os_str());
        emu_options.push(o);
    }
    if let Some(r) = args.linux_version {
        emu_options.push(format!("--linux-version={r}").into());
    }
    if let Some(r) = args.freebsd_version {
        emu_options.push(format!("--freebsd-version={r}").into());
    }
    crate::compat::run(CompatOptions {
        format: match args.format.as_str() {
            "markdown" => Format::Markdown,
            "json" => Format::Json,
            _ => Format::Text,
        },
        from_trace: args.from_trace,
        abi: abi_tables::find(&args.abi).map(|t| t.name.to_string()).unwrap_or(args.abi),
        output: args.output,
        emu_options,
        program: args.program,
    })
}

fn abi_command(command: AbiCommand) -> i32 {
    match command {
        AbiCommand::List => {
            for t in abi_tables::BUILTIN {
                let desc = if t.description.is_empty() { "" } else { &t.description };
                println!("{:<16} {:<10} {:>4} calls  {desc}", t.name, t.personality, t.calls.len());
            }
            0
        }
        AbiCommand::Show { table, markdown, class } => match abi_tables::find(&table) {
            Ok(t) => {
                let style = match (markdown, class) {
                    (true, false) => MatrixStyle::Markdown,
                    (true, true) => MatrixStyle::MarkdownWithClasses,
                    (false, false) => MatrixStyle::Text,
                    (false, true) => MatrixStyle::TextWithClasses,
                };
                print!("{}", abi_tables::matrix(&t, style));
                0
            }
            Err(e) => fail(2, e),
        },
        AbiCommand::Check { table } => {
            let (status, text) = crate::abi_tools::check(&table);
            if status == 0 {
                print!("{text}");
            } else {
                eprint!("{text}");
            }
            status
        }
        AbiCommand::Diff { a, b, json } => {
            let (status, text) = crate::abi_tools::diff(&a, &b, json);
            if status == 2 {
                eprint!("emu: {text}");
            } else {
                print!("{text}");
            }
            status
        }
        AbiCommand::HookHeader => {
            print!("{}", emu_hook::c_header());
            0
        }
        AbiCommand::Header { table } => match abi_tables::find(&table) {
            Ok(t) => {
                print!("{}", abi_tables::c_header(&t));
                0
            }
            Err(e) => fail(2, e),
        },
    }
}

/// A panic is a bug in emu: one line saying where, then exit 70 (EX_SOFTWARE)
/// instead of a backtrace in the middle of the guest's output.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        log::error!("internal error{place}: {msg}; please report it");
        // SAFETY: ends the process.
        unsafe { libc::_exit(70) };
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn line(args: &[&str]) -> Vec<OsString> {
        std::iter::once("emu").chain(args.iter().copied()).map(OsString::from).collect()
    }

    /// What `plain_run` gives is what clap gives, and it leaves clap every
    /// line with an option or a subcommand first.
    #[test]
    fn plain_lines_parse_as_clap_parses_them() {
        for args in [
            &["./prog"][..],
            &["prog", "a", "--trace", "-c", "--", "-x"],
            &["/bin/true", "--help"],
            &["abi-like", "list"],
            // Not subcommands: clap takes no prefix of one.
            &["ab"],
            &["compa", "x"],
            &["Abi"],
        ] {
            let argv = line(args);
            let plain = plain_run(&argv).expect("a plain line");
            let clap = Cli::try_parse_from(&argv).unwrap();
            assert_eq!(format!("{plain:?}"), format!("{clap:?}"), "{args:?}");
        }
        for args in [&["--trace", "prog"][..], &["-c", "prog"], &["abi", "list"], &["help"], &[""], &[]] {
            assert!(plain_run(&line(args)).is_none(), "{args:?}");
        }
        let mut names: Vec<String> = Cli::command()
            .get_subcommands()
            .flat_map(|c| std::iter::once(c.get_name().to_string()).chain(c.get_all_aliases().map(String::from)))
            .collect();
        names.push("help".into());
        assert_eq!(names, SUBCOMMANDS);
    }
}
