//! Deliberate faults for the agent's own tests (debug builds only).

/// Deliberate faults for the agent's own tests, read from
/// `FLB_OPAMP_FAULT`, a comma list such as `panic:sample,panic:offer`.
/// Each point fires once per process. Compiled into debug builds only: a
/// release build has no such switch.
#[cfg(debug_assertions)]
pub(super) fn inject(point: &str) {
    use std::sync::Mutex;
    static FIRED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let Ok(wanted) = std::env::var("FLB_OPAMP_FAULT") else {
        return;
    };
    if !wanted
        .split(',')
        .any(|w| w.strip_prefix("panic:") == Some(point))
    {
        return;
    }
    let mut fired = FIRED.lock().unwrap_or_else(|p| p.into_inner());
    if !fired.iter().any(|f| f == point) {
        fired.push(point.to_string());
        drop(fired);
        panic!("injected fault at {point}");
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub(super) fn inject(_point: &str) {}
