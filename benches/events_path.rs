//! The management events path: what an event costs the thread that emits
//! it, what Fluent Bit's collector pays to take it (through the real
//! `FLBPluginInputCallback` export, malloc copy and cleanup included), what
//! the collector pays when nothing waits (the idle path, once a second),
//! and what the bounded queue holds in memory, counted by a counting
//! global allocator rather than computed.
//!
//! A plain binary like `core_paths`: `cargo bench --bench events_path`
//! measures; `cargo test --benches` runs every case once. `--quick` for a
//! short budget.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::c_void;
use std::hint::black_box;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use fluent_bit_opamp::events::{self, Event, Kind, CAPACITY, MAX_REASON};
use fluent_bit_opamp::ffi::{FLBPluginInputCallback, FLBPluginInputCleanupCallback};

/// Live heap bytes, for the queue's memory.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counter is only arithmetic on the sizes it is given.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: `p` came from `alloc` above with this layout.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// A typical record: an applied config with its hash.
fn typical() -> Event {
    Event::new(Kind::ConfigApplied).hash("config_hash", &[0x5a; 32])
}

/// The largest record: a failure with a reason at the bound.
fn longest() -> Event {
    Event::new(Kind::ConfigFailed)
        .hash("config_hash", &[0x5a; 32])
        .reason("x".repeat(4 * MAX_REASON))
}

/// The collector as the host calls it; frees what it got, as the host's
/// cleanup does. Returns the bytes collected.
fn collect() -> usize {
    let mut data: *mut c_void = std::ptr::null_mut();
    let mut len = 0usize;
    FLBPluginInputCallback(&mut data, &mut len);
    if len > 0 {
        FLBPluginInputCleanupCallback(data);
    }
    len
}

/// The collector before events existed (the export's body at the parent
/// commit): the same panic guard and null checks, two stores, called
/// through the same non-inlined C ABI.
#[inline(never)]
extern "C" fn callback_before(data: *mut *mut c_void, len: *mut usize) -> i32 {
    catch_unwind(AssertUnwindSafe(|| {
        if !data.is_null() {
            // SAFETY: `data` points at the caller's local.
            unsafe { *data = std::ptr::null_mut() };
        }
        if !len.is_null() {
            // SAFETY: `len` points at the caller's local.
            unsafe { *len = 0 };
        }
        0
    }))
    .unwrap_or(0)
}

fn collect_before() -> usize {
    let mut data: *mut c_void = std::ptr::null_mut();
    let mut len = 1usize;
    black_box(callback_before)(&mut data, &mut len);
    len
}

/// Median and best ns per call of `f` over about `budget`.
fn measure(budget: Duration, mut f: impl FnMut() -> usize) -> (f64, f64) {
    if budget.is_zero() {
        black_box(f());
        return (f64::NAN, f64::NAN);
    }
    let batch = 1000u64;
    let mut per = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget || per.len() < 5 {
        let t = Instant::now();
        for _ in 0..batch {
            black_box(f());
        }
        per.push(t.elapsed().as_nanos() as f64 / batch as f64);
    }
    per.sort_by(|a, b| a.total_cmp(b));
    (per[per.len() / 2], per[0])
}

/// Heap bytes the queue holds with `n` records of `event`, and the bytes
/// one drain hands the host.
fn queue_memory(n: usize, event: impl Fn() -> Event) -> (isize, usize) {
    assert_eq!(collect(), 0, "starts empty");
    let before = LIVE.load(Ordering::Relaxed);
    for _ in 0..n {
        events::emit(event());
    }
    let held = LIVE.load(Ordering::Relaxed) - before;
    (held, collect())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench");
    let quick = args.iter().any(|a| a == "--quick");
    let budget = match (bench, quick) {
        (false, _) => Duration::ZERO,
        (true, true) => Duration::from_millis(60),
        (true, false) => Duration::from_millis(1500),
    };
    events::set_enabled(true);
    events::set_instance_uid("0192f7a4-5c1e-7d3a-9b2f-1c2d3e4f5a6b");
    events::set_secrets(vec!["a-header-token-value".into()]);

    let idle_before = measure(budget, collect_before);
    let idle_now = measure(budget, collect);
    let emit = measure(budget, || {
        events::emit(typical());
        collect()
    });
    let emit_only = measure(budget, || {
        events::emit(typical());
        0
    });
    collect();
    // A full queue per collect: the per-event cost of a burst.
    let burst = measure(budget, || {
        for _ in 0..CAPACITY {
            events::emit(typical());
        }
        collect()
    });

    println!(
        "{:<44} {:>10} {:>10}",
        "events path", "median ns", "best ns"
    );
    let row = |name: &str, (m, b): (f64, f64)| {
        println!("{name:<44} {:>10} {:>10}", ns(m), ns(b));
    };
    row(
        "collect, idle, before events (guard + 2 stores)",
        idle_before,
    );
    row("collect, idle, now (+1 atomic load)", idle_now);
    row("emit one event (encode + queue)", emit_only);
    row("emit + collect one event (malloc, copy, free)", emit);
    let per_burst = (burst.0 / CAPACITY as f64, burst.1 / CAPACITY as f64);
    row(&format!("per event in a burst of {CAPACITY}"), per_burst);
    println!(
        "idle collect now / before: {} (once a second: {} ns/s of the input thread)",
        ratio(idle_now.0 / idle_before.0),
        ns(idle_now.0)
    );

    collect();
    let base = LIVE.load(Ordering::Relaxed);
    let (full_typ, out_typ) = queue_memory(CAPACITY, typical);
    let (full_long, out_long) = queue_memory(CAPACITY, longest);
    let after = LIVE.load(Ordering::Relaxed) - base;
    println!(
        "{:<44} {:>10} {:>10}",
        "queue memory (heap, counted)", "held B", "drained B"
    );
    println!(
        "{:<44} {full_typ:>10} {out_typ:>10}",
        format!("full: {CAPACITY} typical records")
    );
    println!(
        "{:<44} {full_long:>10} {out_long:>10}",
        format!("full: {CAPACITY} longest records")
    );
    println!(
        "{:<44} {after:>10} {:>10}",
        "empty again (after the drain)", 0
    );
    if !bench {
        println!("(checked each case once; `cargo bench --bench events_path` measures)");
    }
}

fn ns(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1}")
    } else {
        "-".into()
    }
}

fn ratio(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}×")
    } else {
        "-".into()
    }
}
