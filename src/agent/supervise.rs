//! The agent thread's panic boundary. The scanner, the redactor and the
//! config readers run over text the server controls; a bug there must cost
//! one step, not the client. A panic is logged through Fluent Bit's log,
//! the connection is dropped (the core resends full state), and the loop
//! starts again after a backoff, with the instance UID, the sequence
//! numbers and the apply state kept.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::control::Control;
use super::notify::Wake;
use crate::error;

/// Whether the loop goes on after a control message.
pub(super) enum Flow {
    Continue,
    Stop,
}

/// What the supervisor needs of the loop it guards.
pub(super) trait Supervised {
    /// The loop; returns after the goodbye on shutdown.
    fn run(&mut self, rx: &Receiver<Control>, wake: &mut Wake);
    /// Drop what a panic may have left half done; `what` is reported.
    fn recover(&mut self, what: &str);
    fn control(&mut self, c: Control) -> Flow;
    fn goodbye(&mut self);
}

/// First wait after a panic; doubles for each panic that follows soon after
/// a restart, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A loop that ran this long before panicking starts the backoff afresh.
const STABLE: Duration = Duration::from_secs(300);

pub(super) fn run(rt: &mut impl Supervised, rx: &Receiver<Control>, mut wake: Wake) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let started = Instant::now();
        let panic = match catch_unwind(AssertUnwindSafe(|| rt.run(rx, &mut wake))) {
            Ok(()) => return,
            Err(payload) => payload,
        };
        if started.elapsed() >= STABLE {
            backoff = FIRST_BACKOFF;
        }
        let what = format!(
            "internal error in the OpAMP client: {}; restarting it in {}s",
            describe(&*panic),
            backoff.as_secs()
        );
        error!("{what}");
        if guarded(|| rt.recover(&what)).is_none() || wait(rt, rx, backoff) {
            return;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Serves control messages during the backoff, so shutdown is never held
/// up. Returns true when the thread should end.
fn wait(rt: &mut impl Supervised, rx: &Receiver<Control>, backoff: Duration) -> bool {
    let until = Instant::now() + backoff;
    loop {
        match rx.recv_deadline(until) {
            Ok(c) => {
                if let Some(Flow::Stop) | None = guarded(|| rt.control(c)) {
                    let _ = guarded(|| rt.goodbye());
                    return true;
                }
            }
            Err(RecvTimeoutError::Timeout) => return false,
            Err(RecvTimeoutError::Disconnected) => return true,
        }
    }
}

fn guarded<T>(f: impl FnOnce() -> T) -> Option<T> {
    catch_unwind(AssertUnwindSafe(f)).ok()
}

/// The panic's message, kept short: it may quote server-controlled text.
fn describe(payload: &(dyn Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic");
    text.chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_short_and_printable() {
        let p: Box<dyn Any + Send> = Box::new(format!("bad\nline{}", "x".repeat(500)));
        let d = describe(&*p);
        assert!(d.starts_with("bad line"));
        assert_eq!(d.chars().count(), 200);
        let p: Box<dyn Any + Send> = Box::new(42u8);
        assert_eq!(describe(&*p), "panic");
    }
}
