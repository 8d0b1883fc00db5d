//! "WebSocket Message Size Limits" and "Plain HTTP Message Size Limits".

use prost::Message;

use super::*;

fn small_limit(transport: Transport) -> ClientConfig {
    ClientConfig {
        max_outbound_bytes: 512,
        ..config(transport)
    }
}

/// The client MUST NOT send a message over its limit; instead of wedging,
/// the large optional part is left out and an error is logged.
#[test]
fn size_limits_oversized_effective_config_is_dropped() {
    let t0 = Instant::now();
    let mut c = Client::new(small_limit(Transport::WebSocket), t0);
    c.set_health(health(true));
    c.set_effective_config(effective(&[b'x'; 4096]));
    c.on_connected(t0);
    let m = send(&mut c, t0);
    assert!(m.encoded_len() <= 512, "{} bytes", m.encoded_len());
    assert_eq!(m.effective_config, None);
    assert_eq!(m.health, Some(health(true)), "small parts still go out");
    let errors = logs_at(&drain(&mut c), LogLevel::Error);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("effective_config"), "{errors:?}");
}

/// The dropped part is not retried on every later message (it would only
/// be dropped again); it goes out again once it changes to something that
/// fits.
#[test]
fn size_limits_dropped_part_is_not_retried_until_it_changes() {
    let t0 = Instant::now();
    let mut c = Client::new(small_limit(Transport::WebSocket), t0);
    c.set_effective_config(effective(&[b'x'; 4096]));
    c.on_connected(t0);
    send(&mut c, t0);
    drain(&mut c);
    c.set_health(health(false));
    let m = send(&mut c, t0);
    assert_eq!(m.effective_config, None);
    assert!(logs_at(&drain(&mut c), LogLevel::Error).is_empty());

    c.set_effective_config(effective(b"small"));
    assert_eq!(send(&mut c, t0).effective_config, Some(effective(b"small")));
}

/// Several parts are dropped, largest and least essential first, until the
/// message fits; the bare message always fits.
#[test]
fn size_limits_drop_until_it_fits() {
    let t0 = Instant::now();
    let mut c = Client::new(small_limit(Transport::Http), t0);
    c.set_effective_config(effective(&[b'x'; 4096]));
    c.set_agent_description(description(&"v".repeat(4096)));
    c.set_remote_config_status(rc_status(b"h", crate::proto::RemoteConfigStatuses::Applied));
    c.on_connected(t0);
    let m = send(&mut c, t0);
    assert!(m.encoded_len() <= 512);
    assert_eq!(m.effective_config, None);
    assert_eq!(m.agent_description, None);
    assert!(m.remote_config_status.is_some());
    let errors = logs_at(&drain(&mut c), LogLevel::Error);
    assert!(
        errors[0].contains("effective_config, agent_description"),
        "{errors:?}"
    );
}

/// The limit cannot be configured below what a bare message needs.
#[test]
fn size_limits_tiny_limit_is_clamped() {
    let t0 = Instant::now();
    let mut cfg = config(Transport::WebSocket);
    cfg.max_outbound_bytes = 1;
    let mut c = Client::new(cfg, t0);
    c.on_connected(t0);
    let m = send(&mut c, t0);
    assert_eq!(m.instance_uid, UID.to_vec());
    assert!(logs_at(&drain(&mut c), LogLevel::Error).is_empty());
}

/// The client MUST enforce a receive limit and treat an oversized message
/// as malformed (WebSocket: close; HTTP: the response failed).
#[test]
fn size_limits_oversized_inbound_drops_the_connection() {
    let t0 = Instant::now();
    let mut cfg = config(Transport::WebSocket);
    cfg.max_inbound_bytes = 64;
    let mut c = Client::new(cfg, t0);
    c.on_connected(t0);
    send(&mut c, t0);
    let mut big = vec![0u8];
    let mut m = ack();
    m.remote_config = Some(crate::proto::AgentRemoteConfig {
        config_hash: vec![1; 100],
        ..Default::default()
    });
    big.extend(m.encode_to_vec());
    let err = c.receive_bytes(t0, &big).unwrap_err();
    assert!(matches!(err, crate::core::WireError::TooLarge { .. }));
    let actions = drain(&mut c);
    assert!(
        actions.contains(&Action::Disconnect(crate::core::DropReason::Malformed)),
        "{actions:?}"
    );
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::ApplyRemoteConfig(_))));
    assert!(!c.is_connected());
    assert_eq!(c.backoff_failures(), 1, "malformed input backs off");
}

/// Good bytes go through the same path as on_received, framing included.
#[test]
fn receive_bytes_decodes_with_the_core_framing() {
    let t0 = Instant::now();
    let mut m = ack();
    m.command = Some(crate::proto::ServerToAgentCommand { r#type: 0 });

    let mut ws = connected(Transport::WebSocket, t0);
    let mut frame = vec![0u8];
    frame.extend(m.encode_to_vec());
    ws.receive_bytes(t0, &frame).unwrap();
    assert!(drain(&mut ws).contains(&Action::Restart));

    let mut http = connected(Transport::Http, t0);
    http.receive_bytes(t0, &m.encode_to_vec()).unwrap();
    assert!(drain(&mut http).contains(&Action::Restart));

    assert!(matches!(
        ws.receive_bytes(t0, &[0x05]),
        Err(crate::core::WireError::UnknownHeader(5))
    ));
}

/// `encode` frames for the transport (WebSocket adds the 0 header).
#[test]
fn encode_frames_for_the_transport() {
    let t0 = Instant::now();
    let msg = AgentToServer {
        sequence_num: 3,
        ..Default::default()
    };
    assert_eq!(client(Transport::WebSocket, t0).encode(&msg), [0, 0x10, 3]);
    assert_eq!(client(Transport::Http, t0).encode(&msg), [0x10, 3]);
}
