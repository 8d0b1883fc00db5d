//! "Custom Messages": CustomCapabilities as a compressed status part, and
//! outgoing CustomMessages one per AgentToServer, requeued when lost.

use super::*;
use crate::core::MAX_PENDING_CUSTOM;
use crate::proto::{CustomCapabilities, CustomMessage};

fn cm(ty: &str) -> CustomMessage {
    CustomMessage {
        capability: "io.fluentbit.command".into(),
        r#type: ty.into(),
        data: b"{}".to_vec(),
    }
}

#[test]
fn capabilities_go_out_when_they_change_and_in_full_state() {
    let t0 = Instant::now();
    let mut c = client(Transport::WebSocket, t0);
    c.set_custom_capabilities(vec!["io.fluentbit.command".into()]);
    c.on_connected(t0);
    let first = send(&mut c, t0);
    assert_eq!(
        first.custom_capabilities.map(|c| c.capabilities),
        Some(vec!["io.fluentbit.command".to_string()])
    );
    c.set_custom_capabilities(vec!["io.fluentbit.command".into()]);
    assert!(c.poll_transmit(t0).is_none(), "unchanged");
}

#[test]
fn each_message_travels_alone_in_order() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    c.send_custom_message(cm("a")).unwrap();
    c.send_custom_message(cm("b")).unwrap();
    assert_eq!(send(&mut c, t0).custom_message, Some(cm("a")));
    assert_eq!(send(&mut c, t0).custom_message, Some(cm("b")));
    assert!(c.poll_transmit(t0).is_none());
}

#[test]
fn a_lost_message_is_sent_again_after_reconnect() {
    let t0 = Instant::now();
    let mut c = connected(Transport::Http, t0);
    c.send_custom_message(cm("reply")).unwrap();
    let m = c.poll_transmit(t0).unwrap();
    assert!(m.custom_message.is_some());
    c.on_disconnected(
        t0,
        crate::core::Disconnect::new(crate::core::DisconnectKind::Network),
    );
    let t1 = t0 + secs(400);
    c.on_connected(t1);
    let again = http_exchange(&mut c, t1, ack());
    let again = match again.custom_message {
        Some(m) => Some(m),
        None => http_exchange(&mut c, t1, ack()).custom_message,
    };
    assert_eq!(again, Some(cm("reply")));
}

#[test]
fn the_queue_is_bounded() {
    let t0 = Instant::now();
    let mut c = client(Transport::WebSocket, t0);
    for i in 0..MAX_PENDING_CUSTOM {
        c.send_custom_message(cm(&i.to_string())).unwrap();
    }
    assert_eq!(c.send_custom_message(cm("x")), Err(cm("x")));
}

#[test]
fn incoming_messages_and_server_capabilities_reach_the_driver() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    let mut m = ack();
    m.custom_capabilities = Some(CustomCapabilities {
        capabilities: vec!["io.fluentbit.command".into()],
    });
    m.custom_message = Some(cm("health"));
    c.on_received(t0, m);
    assert_eq!(drain(&mut c), vec![Action::CustomMessage(cm("health"))]);
    assert_eq!(
        c.server_custom_capabilities(),
        Some(&["io.fluentbit.command".to_string()][..])
    );
}

/// A message too large for the outbound limit is dropped, not wedged.
#[test]
fn an_oversized_message_is_dropped_with_an_error() {
    let t0 = Instant::now();
    let mut cfg = config(Transport::WebSocket);
    cfg.max_outbound_bytes = 1024;
    let mut c = Client::new(cfg, t0);
    c.on_connected(t0);
    send(&mut c, t0);
    drain(&mut c);
    let mut big = cm("result");
    big.data = vec![b'x'; 4096];
    c.send_custom_message(big).unwrap();
    let m = send(&mut c, t0);
    assert!(m.custom_message.is_none());
    assert!(!logs_at(&drain(&mut c), LogLevel::Error).is_empty());
}
