//! "AgentToServer.agent_disconnect" and "Closing Connection".

use super::*;

/// "AgentToServer.agent_disconnect": the last message carries
/// agent_disconnect, with identity, the next sequence number and
/// capabilities.
#[test]
fn agent_disconnect_goodbye_message() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    let next = c.next_sequence_num();
    let bye = c.goodbye();
    assert!(bye.agent_disconnect.is_some());
    assert_eq!(bye.instance_uid, UID.to_vec());
    assert_eq!(bye.sequence_num, next);
    assert_eq!(bye.capabilities, all_caps().bits());
    assert!(bye.health.is_none() && bye.effective_config.is_none());
}

/// "Closing Connection": after the goodbye nothing else is sent and no
/// reconnect is requested, whatever the driver reports afterwards.
#[test]
fn agent_disconnect_is_final() {
    let t0 = Instant::now();
    let mut c = connected(Transport::Http, t0);
    c.set_health(health(false));
    c.goodbye();
    assert_eq!(c.poll_transmit(t0 + secs(3600)), None);
    assert!(!c.should_connect(t0 + secs(3600)));
    assert_eq!(c.connect_allowed_at(), None);
    assert_eq!(c.next_timeout(), None);
    c.on_disconnected(
        t0,
        crate::core::Disconnect::new(crate::core::DisconnectKind::Network),
    );
    c.on_connected(t0);
    assert!(!c.is_connected());
    assert_eq!(c.poll_transmit(t0), None);
}
