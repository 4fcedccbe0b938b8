use std::sync::{mpsc, Arc, Mutex};
use std::thread;

thread_local!(static ID: std::cell::Cell<usize> = const { std::cell::Cell::new(0) });

/// Rust std threads as programs use them: named workers with thread-locals,
/// a mutex and a channel, a panic caught by join, scoped threads, a child
/// process (output compared with the native run by tests/threads.rs).
fn main() {
    std::panic::set_hook(Box::new(|_| eprintln!("a thread panicked")));
    let total = Arc::new(Mutex::new(0u64));
    let (tx, rx) = mpsc::channel();
    let handles: Vec<_> = (0..16)
        .map(|i| {
            let total = Arc::clone(&total);
            let tx = tx.clone();
            thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || {
                    ID.with(|id| id.set(i));
                    let sum: u64 = (0..100_000u64).map(|x| x * i as u64).sum();
                    *total.lock().unwrap() += sum;
                    tx.send((i, thread::current().name().unwrap().to_string(), ID.with(|id| id.get()))).unwrap();
                })
                .unwrap()
        })
        .collect();
    drop(tx);
    for h in handles {
        h.join().unwrap();
    }
    let mut got: Vec<_> = rx.iter().collect();
    got.sort();
    for (i, name, id) in &got {
        assert_eq!(*i, *id);
        assert_eq!(name, &format!("worker-{i}"));
    }
    println!("{} threads, total {}", got.len(), total.lock().unwrap());
    let r = thread::spawn(|| -> u32 { panic!("inside a thread") }).join();
    println!("panic in a thread caught by join: {}", r.is_err());
    let v: Vec<u32> = thread::scope(|s| {
        let hs: Vec<_> = (0..4u32).map(|i| s.spawn(move || i * i)).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    println!("scoped: {v:?}");
    let out = std::process::Command::new("/bin/busybox").args(["echo", "child"]).output().unwrap();
    print!("command: {}", String::from_utf8_lossy(&out.stdout));
}
