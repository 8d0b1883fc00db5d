//! Delivery and reliability: "Retrying Messages", "Plain HTTP Transport"
//! (one request at a time), and never losing an unacknowledged status.

use super::*;
use crate::core::{Disconnect, DisconnectKind};

/// "Retrying Messages": a WebSocket status that was never written (the
/// connection dropped first) is not lost; the next connection carries it.
#[test]
fn retrying_messages_ws_unsent_status_survives_disconnect() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    c.set_health(health(false));
    let m = c.poll_transmit(t0).unwrap();
    assert_eq!(m.health, Some(health(false)));
    // Write failed: no on_sent.
    c.on_disconnected(t0, Disconnect::new(DisconnectKind::Network));
    let at = c.connect_allowed_at().unwrap();
    c.on_connected(at);
    let m = send(&mut c, at);
    assert_eq!(m.health, Some(health(false)));
}

/// "Plain HTTP Transport": a request that got no response is not
/// delivered; after reconnecting its content goes out again.
#[test]
fn retrying_messages_http_status_needs_a_response() {
    let t0 = Instant::now();
    let mut c = connected(Transport::Http, t0);
    c.set_effective_config(effective(b"v2"));
    let m = send(&mut c, t0);
    assert_eq!(m.effective_config, Some(effective(b"v2")));
    // Request written, but the response never came.
    c.on_disconnected(t0, Disconnect::new(DisconnectKind::Network));
    let at = c.connect_allowed_at().unwrap();
    c.on_connected(at);
    let m = send(&mut c, at);
    assert_eq!(m.effective_config, Some(effective(b"v2")));
}

/// "Plain HTTP Transport": the client MUST wait for the response before
/// making a new request; changes made meanwhile follow right after it.
#[test]
fn plain_http_one_request_at_a_time() {
    let t0 = Instant::now();
    let mut c = connected(Transport::Http, t0);
    c.set_health(health(false));
    let first = send(&mut c, t0);
    assert_eq!(first.health, Some(health(false)));
    c.set_agent_description(description("2.0"));
    assert_eq!(c.poll_transmit(t0), None, "response still outstanding");
    assert_eq!(c.next_timeout(), None, "no heartbeat while waiting");

    c.on_received(t0, ack());
    let next = c.poll_transmit(t0).expect("sent right after the response");
    assert_eq!(next.agent_description, Some(description("2.0")));
    assert_eq!(next.health, None, "health was acknowledged");
}

/// A change made while a WebSocket message is outstanding is sent after
/// it, and only the change.
#[test]
fn ws_change_while_outstanding_follows_alone() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    c.set_health(health(false));
    let _m = c.poll_transmit(t0).unwrap();
    c.set_effective_config(effective(b"later"));
    assert_eq!(c.poll_transmit(t0), None);
    c.on_sent(t0);
    let m = send(&mut c, t0);
    assert_eq!(m.effective_config, Some(effective(b"later")));
    assert_eq!(m.health, None);
}

/// A value that changed while its message was outstanding is compared with
/// what was sent, not with what was set later.
#[test]
fn status_compression_compares_with_the_sent_value() {
    let t0 = Instant::now();
    let mut c = connected(Transport::Http, t0);
    c.set_health(health(false));
    let _m = send(&mut c, t0);
    c.set_health(health(true)); // back to the pre-message value
    c.on_received(t0, ack());
    let m = c
        .poll_transmit(t0)
        .expect("server has 'false', agent has 'true'");
    assert_eq!(m.health, Some(health(true)));
}

/// "Throttling": UNAVAILABLE means the server did not process the request,
/// so over HTTP it counts as not delivered.
#[test]
fn http_unavailable_response_does_not_deliver() {
    let t0 = Instant::now();
    let mut c = connected(Transport::Http, t0);
    c.set_health(health(false));
    let mut busy = ack();
    busy.error_response = Some(crate::proto::ServerErrorResponse {
        r#type: crate::proto::ServerErrorResponseType::Unavailable as i32,
        ..Default::default()
    });
    http_exchange(&mut c, t0, busy);
    assert!(!c.is_connected());
    let at = c.connect_allowed_at().unwrap();
    c.on_connected(at);
    assert_eq!(send(&mut c, at).health, Some(health(false)));
}

/// A duplicate on_sent or a response without an outstanding request must
/// not corrupt state or invent messages.
#[test]
fn spurious_events_are_harmless() {
    let t0 = Instant::now();
    let mut c = connected(Transport::Http, t0);
    c.on_sent(t0);
    c.on_received(t0, ack());
    c.on_rejected(t0, crate::core::Rejection::BadRequest);
    assert_eq!(c.poll_transmit(t0), None);
    assert!(drain(&mut c).is_empty());
}

/// Messages received while disconnected are not acted on.
#[test]
fn messages_while_down_are_ignored() {
    let t0 = Instant::now();
    let mut c = client(Transport::WebSocket, t0);
    let mut m = ack();
    m.command = Some(crate::proto::ServerToAgentCommand { r#type: 0 });
    c.on_received(t0, m);
    assert!(!drain(&mut c).contains(&Action::Restart));
}

/// "AvailableComponents Message": a ReportAvailableComponents request
/// answered by a message that was then lost stays open; the map goes out
/// on the next connection.
#[test]
fn available_components_request_survives_a_lost_message() {
    let t0 = Instant::now();
    let mut c = client(Transport::WebSocket, t0);
    let mut comps = crate::proto::AvailableComponents {
        hash: vec![1],
        ..Default::default()
    };
    comps.components.insert("filter".into(), Default::default());
    c.set_available_components(comps.clone());
    c.on_connected(t0);
    send(&mut c, t0);
    let mut ask = ack();
    ask.flags = crate::proto::ServerToAgentFlags::ReportAvailableComponents as u64;
    c.on_received(t0, ask);
    let lost = c.poll_transmit(t0).unwrap();
    assert_eq!(lost.available_components, Some(comps.clone()));
    c.on_disconnected(t0, Disconnect::new(DisconnectKind::Network));
    let at = c.connect_allowed_at().unwrap();
    c.on_connected(at);
    assert_eq!(send(&mut c, at).available_components, Some(comps));
}
