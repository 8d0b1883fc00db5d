//! "Establishing Connection", "Restoring WebSocket Connection",
//! "Throttling", "Authentication".

use super::*;
use crate::core::{Disconnect, DisconnectKind, THROTTLE_FLOOR};
use crate::proto::{server_error_response::Details, RetryInfo, ServerErrorResponse};

fn fail(c: &mut Client, now: Instant, kind: DisconnectKind, retry_after: Option<Duration>) {
    c.on_disconnected(now, Disconnect { kind, retry_after });
}

fn delay_from(c: &Client, now: Instant) -> Duration {
    c.connect_allowed_at().expect("down").duration_since(now)
}

fn unavailable(retry: Option<Duration>) -> ServerToAgent {
    let mut m = ack();
    m.error_response = Some(ServerErrorResponse {
        r#type: crate::proto::ServerErrorResponseType::Unavailable as i32,
        error_message: "busy".into(),
        details: retry.map(|d| {
            Details::RetryInfo(RetryInfo {
                retry_after_nanoseconds: d.as_nanos() as u64,
            })
        }),
    });
    m
}

/// "Establishing Connection": a new client may connect at once.
#[test]
fn establishing_connection_first_attempt_is_immediate() {
    let t0 = Instant::now();
    let c = client(Transport::WebSocket, t0);
    assert!(c.should_connect(t0));
    assert_eq!(c.connect_allowed_at(), Some(t0));
    assert_eq!(c.next_timeout(), Some(t0));
}

/// "Establishing Connection": failed attempts back off exponentially with
/// jitter, capped at the configured maximum; no attempt before the time.
#[test]
fn establishing_connection_backoff_is_exponential_jittered_and_capped() {
    let t0 = Instant::now();
    let mut c = client(Transport::WebSocket, t0);
    let mut now = t0;
    let mut delays = Vec::new();
    for i in 0..40u32 {
        assert!(c.should_connect(now));
        fail(&mut c, now, DisconnectKind::Network, None);
        let d = delay_from(&c, now);
        let ceiling = secs(1).saturating_mul(1 << i.min(20)).min(secs(300));
        assert!(d <= ceiling, "attempt {i}: {d:?} > {ceiling:?}");
        if d > Duration::ZERO {
            assert!(!c.should_connect(now));
        }
        delays.push(d);
        now += d;
    }
    assert_eq!(c.backoff_failures(), 40);
    let late: Vec<_> = delays[15..].to_vec();
    let mean = late.iter().sum::<Duration>() / late.len() as u32;
    assert!(
        mean > secs(90) && mean < secs(210),
        "capped full jitter averages ~150 s, got {mean:?}"
    );
    assert!(late.iter().any(|d| *d != late[0]), "jitter varies delays");
}

/// "Establishing Connection": a server that accepts and drops at once
/// (even after answering) must not reset the backoff, or the client would
/// spin.
#[test]
fn establishing_connection_quick_drop_keeps_backing_off() {
    let t0 = Instant::now();
    let mut c = client(Transport::WebSocket, t0);
    let mut now = t0;
    for i in 1..=8u32 {
        c.on_connected(now);
        send(&mut c, now);
        c.on_received(now, ack());
        now += secs(5);
        fail(&mut c, now, DisconnectKind::Network, None);
        assert_eq!(c.backoff_failures(), i);
        now = c.connect_allowed_at().unwrap();
    }
}

/// "Establishing Connection": staying up long enough without any exchange
/// does not count as success either.
#[test]
fn establishing_connection_long_silent_connection_does_not_reset() {
    let t0 = Instant::now();
    let mut c = client(Transport::WebSocket, t0);
    fail(&mut c, t0, DisconnectKind::Network, None);
    let at = c.connect_allowed_at().unwrap();
    c.on_connected(at);
    send(&mut c, at); // sent, but the server never answers
    fail(&mut c, at + secs(600), DisconnectKind::Network, None);
    assert_eq!(c.backoff_failures(), 2);
}

/// "Restoring WebSocket Connection": a connection that was up for a while
/// and exchanged messages resets the backoff and reconnects immediately.
#[test]
fn restoring_websocket_connection_after_stable_link_is_immediate() {
    let t0 = Instant::now();
    let mut c = client(Transport::WebSocket, t0);
    for _ in 0..5 {
        let at = c.connect_allowed_at().unwrap();
        fail(&mut c, at, DisconnectKind::Network, None);
    }
    assert_eq!(c.backoff_failures(), 5);
    let t1 = c.connect_allowed_at().unwrap();
    c.on_connected(t1);
    send(&mut c, t1);
    c.on_received(t1, ack());
    let t2 = t1 + secs(30);
    fail(&mut c, t2, DisconnectKind::Network, None);
    assert_eq!(c.backoff_failures(), 0);
    assert!(c.should_connect(t2));
    // The next failure starts from the smallest delay again.
    fail(&mut c, t2, DisconnectKind::Network, None);
    assert!(delay_from(&c, t2) <= secs(1));
}

/// "Throttling" (plain HTTP): Retry-After is honoured but never below the
/// 30 s minimum the spec recommends; without it the floor still applies.
#[test]
fn throttling_retry_after_with_30s_floor() {
    let t0 = Instant::now();
    for (hint, min) in [
        (Some(secs(5)), THROTTLE_FLOOR),
        (Some(secs(120)), secs(120)),
        (None, THROTTLE_FLOOR),
    ] {
        let mut c = connected(Transport::Http, t0);
        fail(&mut c, t0, DisconnectKind::Throttled, hint);
        let d = delay_from(&c, t0);
        assert!(d >= min, "{hint:?}: waited only {d:?}");
        assert!(
            d <= min.max(secs(1)),
            "{hint:?}: {d:?} beyond hint and jitter"
        );
        let logs = logs_at(&drain(&mut c), LogLevel::Warn);
        assert!(logs.iter().any(|l| l.contains("throttling")), "{logs:?}");
    }
}

/// "Throttling" (WebSocket): UNAVAILABLE makes the client disconnect and
/// wait at least retry_after_nanoseconds.
#[test]
fn throttling_unavailable_with_retry_info() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    c.on_received(t0, unavailable(Some(secs(45))));
    let actions = drain(&mut c);
    assert!(
        actions.contains(&Action::Disconnect(crate::core::DropReason::Unavailable)),
        "{actions:?}"
    );
    assert!(!c.is_connected());
    assert!(delay_from(&c, t0) >= secs(45));
    assert!(!c.should_connect(t0 + secs(44)));
    assert!(c.should_connect(t0 + secs(45)));
}

/// "Throttling": without retry_info the client uses exponential backoff.
#[test]
fn throttling_unavailable_without_retry_info_backs_off() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    c.on_received(t0, unavailable(None));
    assert!(drain(&mut c).contains(&Action::Disconnect(crate::core::DropReason::Unavailable)));
    assert_eq!(c.backoff_failures(), 1);
    assert!(delay_from(&c, t0) <= secs(1));
}

/// After Action::Disconnect the driver may still report the close; that
/// must not count as a second failure or shorten the wait.
#[test]
fn late_close_report_after_core_disconnect_is_merged() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    c.on_received(t0, unavailable(Some(secs(60))));
    let at = c.connect_allowed_at().unwrap();
    fail(&mut c, t0, DisconnectKind::Network, None);
    assert_eq!(c.backoff_failures(), 1);
    assert_eq!(c.connect_allowed_at(), Some(at));
    fail(&mut c, t0, DisconnectKind::Throttled, Some(secs(90)));
    assert_eq!(c.connect_allowed_at(), Some(t0 + secs(90)));
}

/// "Authentication": 401/403 is logged as a warning and retried slowly, at
/// the backoff cap.
#[test]
fn authentication_failure_retries_at_the_cap() {
    let t0 = Instant::now();
    let mut c = client(Transport::WebSocket, t0);
    fail(&mut c, t0, DisconnectKind::AuthFailed, None);
    assert_eq!(delay_from(&c, t0), secs(300));
    let warns = logs_at(&drain(&mut c), LogLevel::Warn);
    assert!(
        warns.iter().any(|w| w.contains("authentication failed")),
        "{warns:?}"
    );
}

/// A close the driver chose (shutdown, new settings) costs no backoff.
#[test]
fn local_close_reconnects_without_penalty() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    fail(&mut c, t0, DisconnectKind::Local, None);
    assert!(c.should_connect(t0));
    assert_eq!(c.backoff_failures(), 0);
}

/// A Retry-After given with an ordinary failure is honoured as well.
#[test]
fn retry_after_on_other_failures_is_honoured() {
    let t0 = Instant::now();
    let mut c = client(Transport::Http, t0);
    fail(&mut c, t0, DisconnectKind::Network, Some(secs(7)));
    assert!(delay_from(&c, t0) >= secs(7));
}
