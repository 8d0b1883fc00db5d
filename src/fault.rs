//! Deliberate faults for the plugin's own tests, read from
//! `FLB_OPAMP_FAULT`: a comma list of `panic:<point>` (the agent loop
//! panics there, once per process), `kill:<checkpoint>` (the process gets
//! SIGKILL there) and `term:<checkpoint>` (SIGTERM, and the step goes on
//! while Fluent Bit shuts down). Compiled into debug builds only: a release
//! build has no such switch and every call is empty.
//!
//! The apply checkpoints are `received`, `staged`, `validated`, `swapped`,
//! `signalled`, `confirming` and `health_gate`.

#[cfg(debug_assertions)]
fn wanted(kind: &str, point: &str) -> bool {
    std::env::var("FLB_OPAMP_FAULT").is_ok_and(|w| {
        w.split(',')
            .any(|w| w.strip_prefix(kind).and_then(|w| w.strip_prefix(':')) == Some(point))
    })
}

/// Panics at `point` if asked, once per process.
#[cfg(debug_assertions)]
pub fn inject(point: &str) {
    use std::sync::Mutex;
    static FIRED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    if !wanted("panic", point) {
        return;
    }
    let mut fired = FIRED.lock().unwrap_or_else(|p| p.into_inner());
    if !fired.iter().any(|f| f == point) {
        fired.push(point.to_string());
        drop(fired);
        panic!("injected fault at {point}");
    }
}

/// Kills or stops the process at an apply checkpoint if asked.
#[cfg(debug_assertions)]
pub fn checkpoint(point: &str) {
    if wanted("kill", point) {
        crate::warn!("injected fault: SIGKILL at apply checkpoint '{point}'");
        let _ = crate::sys::signal_self(crate::sys::SIGKILL);
    } else if wanted("term", point) {
        crate::warn!("injected fault: SIGTERM at apply checkpoint '{point}'");
        let _ = crate::sys::signal_self(crate::sys::SIGTERM);
        // Let Fluent Bit's shutdown race the rest of this step.
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn inject(_point: &str) {}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn checkpoint(_point: &str) {}
