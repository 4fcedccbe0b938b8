//! Multi-threaded guests: C pthreads (glibc and musl) and Go, each run
//! natively and under emu, with the same output and status.

mod support;
use support::*;

fn pthreads(scenario: &[&str]) -> [Outcome; 2] {
    ["glibc", "musl"].map(|libc| assert_like_native(&Run::new(guest(&format!("threads-{libc}"))).args(scenario)))
}

#[test]
fn a_thousand_threads_created_and_joined() {
    for out in pthreads(&["many"]) {
        assert_eq!(out.stdout, "1000 threads joined, sum 499500\n");
    }
}

#[test]
fn mutex_and_condition_variables() {
    for out in pthreads(&["condvar"]) {
        assert_eq!(out.stdout, "consumed 150015000 (expected 150015000)\n");
    }
}

/// Signals sent to one thread (rt_tgsigqueueinfo), taken on that thread's
/// alternate stack, or waited for by a thread that blocks them.
#[test]
fn thread_directed_signals_masks_and_altstacks() {
    for out in pthreads(&["signals"]) {
        assert_eq!(out.stdout, "thread 0: 1\nthread 1: 1\nthread 2: 102\nhandled: 1 1 0\n");
    }
}

#[test]
fn a_thread_exits_while_others_block() {
    for out in pthreads(&["blocked"]) {
        assert_eq!(out.stdout, "quick thread exited with 7 while three block\nread returned 1\nall joined\n");
    }
}

#[test]
fn exit_from_a_secondary_thread() {
    for out in pthreads(&["exit_group"]) {
        assert_eq!((out.status, out.stdout.as_str()), (42, "secondary thread calls exit(42)\n"));
    }
}

/// The same under --stats and --trace: the process ends once, with one
/// `+++ exited` line and one statistics table, which counts every thread's
/// calls.
#[test]
fn exit_from_a_secondary_thread_reports_once() {
    let out = Run::new(guest("threads-glibc")).args(["exit_group"]).emu_options(["--trace", "--stats"]).under_emu();
    assert_eq!(out.status, 42, "{}", out.stderr);
    assert_eq!(out.stderr.matches("+++ exited with 42 +++").count(), 1, "{}", out.stderr);
    assert_eq!(out.stderr.matches("% time").count(), 1, "{}", out.stderr);
    let clone3_lines = out.stderr.lines().filter(|l| l.contains("clone3(")).count();
    let table_row = out.stderr.lines().find(|l| l.ends_with(" clone3")).expect("a clone3 row");
    let counted: usize = table_row.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert_eq!((clone3_lines, counted), (5, 5), "{table_row}");
}

#[test]
fn fork_in_a_threaded_process() {
    for out in pthreads(&["fork"]) {
        assert_eq!(out.stdout, "child: malloc ok, thread returned 5\nparent: child exited 3\n");
    }
}

#[test]
fn exec_from_a_secondary_thread() {
    let bb = busybox();
    for out in pthreads(&["exec", bb.to_str().unwrap(), "echo", "exec'd from a thread"]) {
        assert_eq!(out.stdout, "exec'd from a thread\n");
    }
}

/// posix_spawn's child shares its parent's memory (CLONE_VM|CLONE_VFORK):
/// the exec error it writes there reaches the parent.
#[test]
fn posix_spawn_of_a_missing_program() {
    for out in pthreads(&["spawn"]) {
        assert_eq!(
            out.stdout,
            "posix_spawn of a missing program: No such file or directory\nposix_spawn of busybox true: success, exit 0\n"
        );
    }
}

/// Go's runtime: threads for goroutines, timers, channels, os/exec with
/// pipes and exit codes, os/signal, a recovered nil-pointer panic,
/// asynchronous preemption (SIGURG to threads in guest code), TCP.
#[test]
fn go_runtime() {
    let out = assert_like_native(&Run::new(guest("go-threads")));
    assert!(out.stdout.contains("preemption: the loop was interrupted\n"), "{}", out.stdout);
    assert!(out.stdout.contains("signals: [interrupt user defined signal 1]\n"), "{}", out.stdout);
    assert!(out.stdout.contains("tcp: [echo: message 0 echo: message 1 echo: message 2]\n"), "{}", out.stdout);
}

/// Trace lines of threads carry the thread's id, as `strace -f` shows them.
#[test]
fn traced_threads_name_themselves() {
    let out = Run::new(guest("threads-glibc")).args(["blocked"]).emu_options(["--trace=exit,write"]).under_emu();
    assert_eq!(out.status, 0, "{}", out.stderr);
    let exits: Vec<&str> = out.stderr.lines().filter(|l| l.contains("exit(")).collect();
    assert!(exits.len() >= 4, "{}", out.stderr);
    for line in &exits {
        assert!(line.starts_with("[pid ") && line.contains("] exit(0) ") && line.ends_with(" = ?"), "{line}");
    }
    assert!(out.stderr.ends_with("+++ exited with 0 +++\n"), "{}", out.stderr);
    assert_eq!(out.stderr.matches("+++ exited").count(), 1, "{}", out.stderr);
}

/// `/proc/self/exe` and its other names (through the pid, through a
/// thread's tid) name and open the program, read from a secondary thread.
#[test]
fn executable_links_from_a_thread() {
    for (libc, out) in ["glibc", "musl"].iter().zip(pthreads(&["exe"])) {
        let mut lines = out.stdout.lines();
        assert_eq!(lines.next(), Some(format!("/proc/self/exe: threads-{libc}, ELF").as_str()));
        assert_eq!(lines.filter(|l| l.ends_with(": the same, ELF")).count(), 6, "{}", out.stdout);
    }
}

/// A guest that dup2s onto the numbers where emu keeps its own descriptors
/// (the trace's among them) while other threads make traced calls: emu
/// moves its descriptors away, and no trace line may land in the guest's
/// file. (Without the wait for writes in flight, about one run in three
/// put a line there; five runs.)
#[test]
fn trace_writes_never_reach_a_descriptor_the_guest_took() {
    let run = Run::new(guest("threads-glibc")).args(["dup2_high"]);
    let native = run.native();
    assert_eq!(native.stdout, "dup2 onto the high descriptors: all done; the file holds 0 bytes\n");
    for _ in 0..5 {
        let out = run.clone().emu_options(["--trace"]).under_emu();
        assert_eq!((out.status, out.stdout.as_str()), (0, native.stdout.as_str()));
        assert!(out.stderr.contains("] getppid() "), "the calls are traced");
    }
}

/// 20,000 queued real-time signals, each with its number, sent to a thread
/// busy in its own code and in calls (so many arrive while emu works for
/// it and are held): each arrives exactly once.
#[test]
fn queued_signals_are_neither_lost_nor_duplicated() {
    for out in pthreads(&["queued"]) {
        assert_eq!(out.stdout, "20000 queued signals: 20000 arrived once, 0 lost, 0 more than once\n");
    }
}

/// Rust's std threads: named workers with thread-locals, a mutex and a
/// channel, a panic caught by join, scoped threads, a child process.
#[test]
fn rust_std_threads() {
    let out = assert_like_native(&Run::new(guest("rust-threads")));
    assert_eq!(
        out.stdout,
        "16 threads, total 599994000000\npanic in a thread caught by join: true\nscoped: [0, 1, 4, 9]\ncommand: child\n"
    );
}

/// clone and clone3 with flag sets the kernel refuses get its answers; a
/// thread made with CLONE_PIDFD gets a pidfd that is readable once it exits,
/// whether emu waits for it to start (its own files) or not (shared), and a
/// bad pidfd pointer fails the clone.
#[test]
fn clone_flags_answered_as_the_kernel_does() {
    let out = assert_like_native(&Run::new(guest("clone_flags-glibc")));
    assert_eq!(out.stdout.matches("Invalid argument").count(), 10, "{}", out.stdout);
    assert!(out.stdout.contains("clone3 thread with CLONE_PIDFD           made\nits pidfd: readable once it exited\n"));
    assert!(out.stdout.ends_with(
        "clone3 sharing thread, bad pidfd pointer Bad address\n\
         clone3 sharing thread with CLONE_PIDFD   made\nits pidfd: readable once it exited\n"
    ));
}

/// A signal sent to a new thread as its clone returns reaches that thread:
/// emu's host thread starts with the C libraries' signals 32 and 33
/// unblocked (glibc's doing) and may get one before its region is in
/// place. Cancelled at once (musl's cancel is signal 33), and a raw thread
/// sent 32 and 33, whose handler must run in it, and three queued copies,
/// which must all arrive, nearly always in order.
#[test]
fn signals_sent_to_a_thread_as_it_starts_reach_it() {
    let out = assert_like_native(&Run::new(guest("early_signals-musl")).args(["cancel", "300"]));
    assert_eq!(out.stdout, "300 threads created and cancelled\n");
    let out = assert_like_native(&Run::new(guest("early_signals-glibc")).args(["cancel", "100"]));
    assert_eq!(out.stdout, "100 threads created and cancelled\n");
    for sig in ["32", "33"] {
        let out = assert_like_native(&Run::new(guest("early_signals-glibc")).args(["tgkill", "100", sig]));
        assert_eq!(out.stdout, format!("100 threads each caught signal {sig} sent as their clone returned\n"));
        // All three arrive, intact, in the new thread. In order, natively;
        // under emu, a thread that takes one in its first instructions
        // queues it again behind those already there, which it takes first
        // and queues again after it, but one the sender adds meanwhile
        // lands between (rarely; without that, 48 of 50 were out of order).
        let run = Run::new(guest("early_signals-glibc")).args(["queue", "50", sig]);
        let expected = format!("50 threads each took three queued signals {sig} sent as their clone returned, ");
        assert_eq!(run.native().stdout, format!("{expected}0 out of order\n"));
        let out = run.under_emu();
        let late: u32 = out
            .stdout
            .strip_prefix(&expected)
            .and_then(|rest| rest.strip_suffix(" out of order\n"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{}{}", out.stdout, out.stderr));
        assert!(late <= 5, "{}", out.stdout);
    }
}

/// Threads that gave the kernel an unmapped clear_child_tid or robust list
/// exit without harm: emu skips the words as the kernel does, where a fault
/// taken with every signal blocked used to end the process.
#[test]
fn threads_exit_with_unmapped_words() {
    for out in pthreads(&["bad_words"]) {
        assert_eq!(out.stdout, "two threads exited with unmapped words; the process goes on\n");
    }
}

/// Faults raised by instructions in secondary threads (SIGSEGV, SIGFPE,
/// SIGILL) go to the thread that raised them, while another thread runs.
#[test]
fn faults_go_to_the_thread_that_raised_them() {
    for out in pthreads(&["faults"]) {
        assert_eq!(out.stdout.matches("handled on the thread that raised it").count(), 3, "{}", out.stdout);
    }
}
