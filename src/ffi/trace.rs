//! Optional record of every host callback, for checking the C test host's
//! call order against real Fluent Bit (tests/call_order.rs).
//!
//! Off unless `FLB_OPAMP_TRACE_CALLS` names a file; then each callback
//! appends one line: its name, an argument where it has one, and whether it
//! ran on the process's main thread. Writing a file the operator asked for
//! is the only effect, so Register stays free of side effects otherwise.

use std::io::Write;
use std::sync::OnceLock;

static PATH: OnceLock<Option<String>> = OnceLock::new();

pub fn call(name: &str, arg: Option<i64>) {
    let Some(path) = PATH
        .get_or_init(|| std::env::var("FLB_OPAMP_TRACE_CALLS").ok())
        .as_ref()
    else {
        return;
    };
    let thread = if crate::sys::thread_id() == std::process::id() as u64 {
        "main"
    } else {
        "other"
    };
    let line = match arg {
        Some(a) => format!("{name}({a}) {thread}\n"),
        None => format!("{name} {thread}\n"),
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(line.as_bytes());
    }
}
