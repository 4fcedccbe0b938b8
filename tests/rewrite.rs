//! Syscall-site rewriting (emulator/src/rewrite): sites that trapped once
//! enter emu directly afterwards. tests/guests/rewrite_sites.c exercises
//! what could go wrong, each mode compared with the native run: 8 threads
//! on sites being rewritten, a jump straight to a rewritten `syscall`,
//! signals flooding threads inside rewritten calls, fork and exec after
//! rewriting, a guest that sets GS, code the guest writes over after it
//! was rewritten. `--stats` must show that sites were
//! rewritten and calls went through them (so the test cannot pass on the
//! trap path alone), and `--no-rewrite` must give the same output.

mod support;
use support::*;

const MODES: [&str; 10] =
    ["threads", "jump", "signals", "prompt", "prompt_segv", "vector", "fork", "gs", "jit", "split"];

/// "syscall sites: N rewritten, M left to the trap path; calls: X through
/// rewritten sites, Y trapped" from --stats: (N, X).
fn rewritten(stats: &str) -> Option<(u64, u64)> {
    let line = stats.lines().find(|l| l.starts_with("syscall sites: "))?;
    let number = |after: &str| -> Option<u64> { line.split_once(after)?.1.split_whitespace().next()?.parse().ok() };
    Some((number("syscall sites: ")?, number("calls: ")?))
}

/// The sites left to the trap path, from the same line.
fn refused(stats: &str) -> Option<u64> {
    let line = stats.lines().find(|l| l.starts_with("syscall sites: "))?;
    line.split(", ").nth(1)?.split_whitespace().next()?.parse().ok()
}

/// The calls that trapped, from the same line.
fn trapped(stats: &str) -> Option<u64> {
    let line = stats.lines().find(|l| l.starts_with("syscall sites: "))?;
    line.rsplit_once(", ")?.1.split_whitespace().next()?.parse().ok()
}

/// Each mode runs with no site cache (`EMU_CACHE_DIR=`), so that its sites
/// are rewritten as its threads run them, and again with a cache that
/// knows them from the run before, so that they are rewritten at the first
/// trap (emulator/src/rewrite/mod.rs, `rewrite_known`).
#[test]
fn rewritten_sites_behave_as_native() {
    let program = guest("rewrite_sites-glibc");
    for mode in MODES {
        let run = Run::new(&program).args([mode]).env("EMU_CACHE_DIR", "");
        let out = assert_like_native(&run);
        let off = run.clone().emu_options(["--no-rewrite"]).under_emu();
        assert_eq!((off.status, &off.stdout), (out.status, &out.stdout), "{mode} with --no-rewrite");
        if trap_path_only() {
            continue;
        }
        let counted = run.clone().emu_options(["--stats"]).under_emu();
        assert_eq!(counted.stdout, out.stdout, "{mode} with --stats");
        let (sites, calls) = rewritten(&counted.stderr).unwrap_or_else(|| panic!("{mode}: {}", counted.stderr));
        assert!(sites >= 1 && calls >= 50, "{mode}: {sites} sites, {calls} calls through them\n{}", counted.stderr);
        // A cache of this mode's own: what another mode's runs rewrote
        // would be known too.
        let known = scratch(&format!("known-sites-{mode}"));
        let warm = run.clone().env("EMU_CACHE_DIR", known.to_str().unwrap()).emu_options(["--stats"]);
        let learnt = warm.under_emu();
        assert_eq!((learnt.status, &learnt.stdout), (out.status, &out.stdout), "{mode}: {}", learnt.stderr);
        let again = warm.under_emu();
        assert_eq!((again.status, &again.stdout), (out.status, &out.stdout), "{mode} again: {}", again.stderr);
        // split's one site is in memory the guest mapped itself, not in
        // the program: none is known there.
        let known = again.stderr.contains(" at the first call, known from earlier runs)");
        assert_eq!(known, mode != "split", "{mode}: {}", again.stderr);
    }
}

/// Sites of the program that a run rewrote are rewritten at the next run's
/// first trap: the traps each took before its rewrite are gone. A program
/// file changed since (its times, here), or another file, starts afresh.
#[test]
fn sites_an_earlier_run_rewrote_are_rewritten_at_the_first_trap() {
    if trap_path_only() {
        return;
    }
    let dir = scratch("known-sites");
    let cache = dir.join("cache");
    let program = dir.join("getppid_loop");
    std::fs::copy(guest("getppid_loop-glibc"), &program).unwrap();
    let run = |program: &std::path::Path| {
        let run = Run::new(program).args(["2000"]).env("EMU_CACHE_DIR", cache.to_str().unwrap());
        let out = run.emu_options(["--stats"]).under_emu();
        assert_eq!(out.status, 0, "{}", out.stderr);
        let sites = rewritten(&out.stderr).unwrap_or_else(|| panic!("{}", out.stderr)).0;
        let known =
            out.stderr.contains(&format!("{sites} rewritten ({sites} at the first call, known from earlier runs)"));
        (sites, known, trapped(&out.stderr).unwrap(), out.stdout)
    };
    let native = Run::new(&program).args(["2000"]).native();
    let first = run(&program);
    assert!(first.0 >= 1 && !first.1 && first.3 == native.stdout, "{first:?}");
    let second = run(&program);
    assert!(second.0 == first.0 && second.1 && second.3 == native.stdout, "{second:?} after {first:?}");
    // At least the 15 traps before each site's rewrite are gone.
    assert!(second.2 + 15 * first.0 <= first.2, "{second:?} after {first:?}");
    // The file changed (its times): not known; then known again.
    let f = std::fs::File::options().append(true).open(&program).unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5)).unwrap();
    drop(f);
    assert!(!run(&program).1);
    assert!(run(&program).1);
    // The same bytes in another file: not known.
    let copy = dir.join("copy");
    std::fs::copy(&program, &copy).unwrap();
    assert!(!run(&copy).1);
}

/// A site of the program that trapped 4 times in a run, too few to be
/// rewritten in it, is rewritten at the next run's first trap; one that
/// trapped 3 times is not (emulator/src/rewrite/mod.rs, `keep_for_next_run`).
#[test]
fn sites_that_trapped_a_few_times_are_rewritten_at_the_next_first_trap() {
    if trap_path_only() {
        return;
    }
    let dir = scratch("kept-sites");
    let cache = dir.join("cache");
    let run = |calls: &str| {
        let run = Run::new(guest("getppid_loop-glibc")).args([calls]).env("EMU_CACHE_DIR", cache.to_str().unwrap());
        let native = run.native();
        let out = run.emu_options(["--stats"]).under_emu();
        assert_eq!((out.status, &out.stdout), (0, &native.stdout), "{}", out.stderr);
        rewritten(&out.stderr).map(|(sites, calls)| (sites, calls, trapped(&out.stderr).unwrap()))
    };
    // Three calls from the loop's site, twice: nothing kept.
    assert_eq!(run("3"), None);
    assert_eq!(run("3"), None);
    // Four: kept, and the next run's loop calls go through its rewrite.
    assert_eq!(run("4"), None);
    let (sites, calls, _) = run("4").expect("the loop's site rewritten");
    assert!(sites >= 1 && calls >= 4, "{sites} sites, {calls} calls through them");
    let (_, more_calls, _) = run("10").expect("the loop's site rewritten");
    assert!(more_calls >= calls + 6, "{more_calls} calls after {calls}");
}

/// A site kept at its 4th trap that its 16th then refuses (the `syscall`
/// reached by a jump with another number than the `mov eax` before it
/// loads) is taken out of the cache file: the next run does not rewrite it
/// at its first trap, but refuses it again at its 16th. A refusal at the
/// 4th trap is counted by `--stats` as a site left to the trap path.
#[test]
fn a_kept_site_that_is_refused_later_is_forgotten() {
    if trap_path_only() {
        return;
    }
    let cache = scratch("kept-then-refused");
    let run = Run::new(guest("rewrite_sites-glibc"))
        .args(["kept_then_jumped"])
        .env("EMU_CACHE_DIR", cache.to_str().unwrap())
        .emu_options(["--stats", "--log-level=debug"]);
    let native = run.native();
    let refusal = "the instruction before it did not load the call's number";
    for n in 0..2 {
        let out = run.under_emu();
        assert_eq!((out.status, &out.stdout), (0, &native.stdout), "run {n}: {}", out.stderr);
        assert!(out.stderr.contains(refusal), "run {n} refuses the site at its 16th trap: {}", out.stderr);
    }
    // A site its 4th trap refuses (a jump with another number, there) is
    // counted as left to the trap path.
    let at_fourth = Run::new(guest("rewrite_sites-glibc"))
        .args(["jumped_at_fourth"])
        .env("EMU_CACHE_DIR", scratch("refused-at-fourth").to_str().unwrap());
    let native = at_fourth.native();
    let out = at_fourth.emu_options(["--stats"]).under_emu();
    assert_eq!((out.status, &out.stdout), (0, &native.stdout), "{}", out.stderr);
    let left = refused(&out.stderr).unwrap_or_else(|| panic!("{}", out.stderr));
    assert!(left >= 1, "{}", out.stderr);
}

/// Site analyses are kept across runs (emulator/src/rewrite/cache.rs): a
/// second run decodes no site and rewrites as many (from the file); a
/// damaged file is read around (records are checked, never trusted) and
/// mended by the run; runs at once share a new file; `EMU_CACHE_DIR=` keeps
/// none; XDG_CACHE_HOME is where the file goes otherwise.
#[test]
fn site_analyses_are_kept_across_runs() {
    if trap_path_only() {
        return;
    }
    let dir = scratch("site-cache");
    let run = |cache: &std::path::Path| {
        let out = Run::new(guest("getppid_loop-glibc"))
            .args(["2000"])
            .env("EMU_CACHE_DIR", cache.to_str().unwrap())
            .emu_options(["--stats", "--log-level=debug"])
            .under_emu();
        assert_eq!(out.status, 0, "{}", out.stderr);
        let sites = rewritten(&out.stderr).unwrap_or_else(|| panic!("{}", out.stderr)).0;
        (sites, out.stderr.matches("decoded (its analysis is not in the cache)").count() as u64)
    };
    let files = |d: &std::path::Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(d).map(|e| e.map(|e| e.unwrap().path()).collect()).unwrap_or_default()
    };
    let (sites, decoded) = run(&dir);
    assert!(sites >= 1 && decoded >= sites, "{sites} sites, {decoded} decoded");
    let file = files(&dir).pop().expect("a cache file");
    // Every site decided from the file (refused ones too, if any).
    assert_eq!(run(&dir), (sites, 0));
    // Every record damaged: analysed again, and written again.
    let mut bytes = std::fs::read(&file).unwrap();
    for b in bytes.iter_mut().skip(20).step_by(16) {
        *b ^= 0x55;
    }
    std::fs::write(&file, &bytes).unwrap();
    let damaged = run(&dir);
    assert!(damaged.0 == sites && damaged.1 >= sites, "{damaged:?} after {sites} sites");
    assert_eq!(run(&dir), (sites, 0));
    // None kept; and the default place under XDG_CACHE_HOME.
    let home = scratch("site-cache-home");
    let out = Run::new(guest("getppid_loop-glibc"))
        .args(["2000"])
        .env("EMU_CACHE_DIR", "")
        .env("HOME", home.to_str().unwrap())
        .env("XDG_CACHE_HOME", home.to_str().unwrap())
        .under_emu();
    assert_eq!((out.status, files(&home).len()), (0, 0), "{}", out.stderr);
    // Four runs at once on a new file: each rewrites as many sites, and a
    // run after them finds every one.
    let shared = scratch("site-cache-shared");
    let runs: Vec<(u64, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| run(&shared))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(runs.iter().all(|&(n, _)| n == sites), "{runs:?}");
    assert_eq!(run(&shared), (sites, 0));
    let mut c = std::process::Command::new(emu());
    c.args([guest("getppid_loop-glibc").as_os_str(), "2000".as_ref()]).env_remove("EMU_CACHE_DIR");
    assert!(c.env("XDG_CACHE_HOME", &home).status().unwrap().success());
    assert_eq!(files(&home.join("emu")).len(), 1, "{:?}", files(&home));
}

#[test]
fn no_rewrite_keeps_every_call_on_the_trap_path() {
    let out =
        Run::new(guest("rewrite_sites-glibc")).args(["jump"]).emu_options(["--no-rewrite", "--stats"]).under_emu();
    assert_eq!(out.status, 0);
    assert_eq!(rewritten(&out.stderr), None, "{}", out.stderr);
}

/// A guest that sets GS gets its rewritten sites put back, and its calls
/// from then on trap.
#[test]
fn a_guest_that_sets_gs_gets_its_sites_back() {
    if trap_path_only() {
        return;
    }
    let out = Run::new(guest("rewrite_sites-glibc")).args(["gs"]).emu_options(["--stats"]).under_emu();
    assert!(out.stdout.ends_with("the sites still answer: yes\n"), "{}", out.stdout);
    let line = out.stderr.lines().find(|l| l.starts_with("syscall sites: ")).expect(&out.stderr);
    let trapped: u64 = line.rsplit_once(", ").unwrap().1.split_whitespace().next().unwrap().parse().unwrap();
    assert!(trapped >= 200, "the 200 calls after ARCH_SET_GS trap: {line}");
}

/// fork while other threads' first calls are being rewritten: the rewrite
/// maps stub chunks under the sites' table, and fork takes both locks, so
/// they must be taken in one order (tests/guests/fork_race.c hung one run
/// in three before).
#[test]
fn fork_races_rewriting_without_deadlock() {
    // No site cache: known sites would be rewritten before the race.
    let run = Run::new(guest("fork_race-glibc"))
        .args(["300"])
        .env("EMU_CACHE_DIR", "")
        .hang_after(std::time::Duration::from_secs(60));
    let out = run.under_emu();
    assert_eq!(out.hung, None, "{out:?}");
    assert_eq!((out.status, out.stdout.as_str()), (0, "300 forks, 0 children failed\n"), "{}", out.stderr);
}

/// A guest that single-steps itself (EFLAGS.TF) through a call site runs
/// as natively on the trap path; once the site is rewritten, emu stops it
/// with one line that says to use --no-rewrite, and the SIGTRAP's status.
#[test]
fn single_stepping_through_a_rewritten_site_asks_for_no_rewrite() {
    let run = Run::new(guest("rewrite_sites-glibc")).args(["step"]);
    let native = run.native();
    assert_eq!(native.status, 0);
    let off = run.clone().emu_options(["--no-rewrite"]).under_emu();
    assert_eq!((off.status, &off.stdout), (native.status, &native.stdout), "{}", off.stderr);
    if trap_path_only() {
        return;
    }
    let on = run.under_emu();
    assert_eq!(on.status, 128 + libc::SIGTRAP, "{}", on.stderr);
    assert!(
        on.stderr.ends_with(
            "the guest single-steps (EFLAGS.TF) through a rewritten system call site, which emu cannot follow; run it \
             with --no-rewrite\n"
        ),
        "{}",
        on.stderr
    );
}
