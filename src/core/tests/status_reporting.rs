//! "Status Reporting", "Agent Status Compression", "ReportFullState",
//! "AgentToServer.sequence_num", "AgentToServer.capabilities".

use super::*;
use crate::proto::{RemoteConfigStatuses, ServerToAgentFlags};

/// "Status Reporting": the status report MUST be the first message after
/// connecting, and it carries everything (uid, capabilities, all parts).
#[test]
fn status_reporting_first_message_after_connect_is_full() {
    let t0 = Instant::now();
    let mut c = client(Transport::WebSocket, t0);
    set_everything(&mut c);
    assert_eq!(c.poll_transmit(t0), None, "nothing is sent while down");
    c.on_connected(t0);
    let m = send(&mut c, t0);
    assert_eq!(m.instance_uid, UID.to_vec());
    assert_eq!(m.sequence_num, 0);
    assert_eq!(m.capabilities, all_caps().bits());
    assert!(is_full(&m), "{m:?}");
    assert_eq!(m.health, Some(health(true)));
    assert_eq!(m.effective_config, Some(effective(b"a: 1")));
}

/// "Status Reporting": even with nothing set yet, the first message goes
/// out (it still carries identity and capabilities).
#[test]
fn status_reporting_first_message_is_sent_even_without_status() {
    let t0 = Instant::now();
    let mut c = client(Transport::WebSocket, t0);
    c.on_connected(t0);
    let m = send(&mut c, t0);
    assert!(is_bare(&m));
    assert_eq!(m.capabilities, all_caps().bits());
    assert_eq!(c.poll_transmit(t0), None);
}

/// "Agent Status Compression": only changed sub-messages are included.
#[test]
fn status_compression_sends_only_changed_parts() {
    let t0 = Instant::now();
    let mut c = client(Transport::WebSocket, t0);
    set_everything(&mut c);
    c.on_connected(t0);
    send(&mut c, t0);

    c.set_health(health(false));
    let m = send(&mut c, t0);
    assert_eq!(m.health, Some(health(false)));
    assert_eq!(m.agent_description, None);
    assert_eq!(m.effective_config, None);
    assert_eq!(m.remote_config_status, None);
    assert_eq!(
        m.capabilities,
        all_caps().bits(),
        "capabilities are always set"
    );
}

/// "Status Reporting": the client SHOULD NOT send if nothing changed;
/// setting an identical value is not a change.
#[test]
fn status_reporting_unchanged_values_send_nothing() {
    let t0 = Instant::now();
    let mut c = client(Transport::WebSocket, t0);
    set_everything(&mut c);
    c.on_connected(t0);
    send(&mut c, t0);
    set_everything(&mut c);
    assert_eq!(c.poll_transmit(t0 + secs(1)), None);
}

/// "Retrying Messages": keep one up-to-date message, not a queue; several
/// changes before a send go out together, with the latest values.
#[test]
fn retrying_messages_changes_coalesce_into_one_message() {
    let t0 = Instant::now();
    let mut c = client(Transport::WebSocket, t0);
    set_everything(&mut c);
    c.on_connected(t0);
    send(&mut c, t0);

    c.set_health(health(false));
    c.set_effective_config(effective(b"a: 2"));
    c.set_health(health(true));
    c.set_agent_description(description("1.1"));
    let m = send(&mut c, t0);
    assert_eq!(m.health, None, "health went back to the reported value");
    assert_eq!(m.effective_config, Some(effective(b"a: 2")));
    assert_eq!(m.agent_description, Some(description("1.1")));
    assert_eq!(c.poll_transmit(t0), None, "one message, not one per change");
}

/// "Status Reporting": the client MUST NOT send a status report in reply
/// to a ServerToAgent unless its status actually changed.
#[test]
fn status_reporting_received_message_alone_does_not_trigger_a_send() {
    let t0 = Instant::now();
    for transport in [Transport::WebSocket, Transport::Http] {
        let mut c = connected(transport, t0);
        c.on_received(t0, ack());
        let mut with_caps = ack();
        with_caps.capabilities = 0x7;
        c.on_received(t0, with_caps);
        assert_eq!(c.poll_transmit(t0 + secs(1)), None, "{transport:?}");
    }
}

/// "Configuration": after applying a remote config, the new remote config
/// status is a status change and is reported (with the effective config).
#[test]
fn configuration_apply_status_is_a_status_change() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    c.set_remote_config_status(rc_status(b"h1", RemoteConfigStatuses::Applying));
    let m = send(&mut c, t0);
    assert_eq!(
        m.remote_config_status,
        Some(rc_status(b"h1", RemoteConfigStatuses::Applying))
    );
    c.set_remote_config_status(rc_status(b"h1", RemoteConfigStatuses::Applied));
    c.set_effective_config(effective(b"new"));
    let m = send(&mut c, t0);
    assert_eq!(
        m.remote_config_status,
        Some(rc_status(b"h1", RemoteConfigStatuses::Applied))
    );
    assert_eq!(m.effective_config, Some(effective(b"new")));
}

/// "ReportFullState": the flag makes the next message carry every part,
/// and that message goes out even though nothing changed.
#[test]
fn report_full_state_flag_triggers_a_full_report() {
    let t0 = Instant::now();
    for transport in [Transport::WebSocket, Transport::Http] {
        let mut c = client(transport, t0);
        set_everything(&mut c);
        c.on_connected(t0);
        let first = c.poll_transmit(t0).unwrap();
        assert!(is_full(&first));
        c.on_sent(t0);
        if transport == Transport::Http {
            c.on_received(t0, ack());
        }
        assert_eq!(c.poll_transmit(t0), None);

        let mut resend = ack();
        resend.flags = ServerToAgentFlags::ReportFullState as u64;
        c.on_received(t0, resend);
        let m = c.poll_transmit(t0).expect("server asked for full state");
        assert!(is_full(&m), "{transport:?}: {m:?}");
        c.on_sent(t0);
        if transport == Transport::Http {
            c.on_received(t0, ack());
        }
        assert_eq!(c.poll_transmit(t0), None, "{transport:?}: asked once");
    }
}

/// "ReportFullState" arriving while a message is outstanding still gets a
/// full report afterwards (the outstanding one was built before the ask).
#[test]
fn report_full_state_during_outstanding_message() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    set_everything(&mut c);
    let _pending = c.poll_transmit(t0).unwrap();
    let mut resend = ack();
    resend.flags = ServerToAgentFlags::ReportFullState as u64;
    c.on_received(t0, resend);
    c.on_sent(t0);
    let m = send(&mut c, t0);
    assert!(is_full(&m), "{m:?}");
}

/// "Agent Status Compression": a reconnect starts from full state again,
/// since the server may have lost what it had.
#[test]
fn status_compression_reconnect_sends_full_state() {
    let t0 = Instant::now();
    let mut c = client(Transport::WebSocket, t0);
    set_everything(&mut c);
    c.on_connected(t0);
    send(&mut c, t0);
    c.on_disconnected(
        t0,
        crate::core::Disconnect::new(crate::core::DisconnectKind::Local),
    );
    c.on_connected(t0);
    let m = send(&mut c, t0);
    assert!(is_full(&m), "{m:?}");
}

/// "AgentToServer.sequence_num": starts at 0 and grows by exactly one per
/// message, across reconnects and including the goodbye.
#[test]
fn sequence_num_increments_by_one_per_message() {
    let t0 = Instant::now();
    let mut c = client(Transport::WebSocket, t0);
    c.on_connected(t0);
    let mut seen = vec![send(&mut c, t0).sequence_num];
    c.set_health(health(true));
    seen.push(send(&mut c, t0).sequence_num);
    c.on_disconnected(
        t0,
        crate::core::Disconnect::new(crate::core::DisconnectKind::Local),
    );
    c.on_connected(t0);
    seen.push(send(&mut c, t0).sequence_num);
    seen.push(send(&mut c, t0 + secs(30)).sequence_num); // heartbeat
    seen.push(c.goodbye().sequence_num);
    assert_eq!(seen, [0, 1, 2, 3, 4]);
}

/// "AgentToServer.capabilities": only claimed capabilities are set and the
/// parts of unclaimed ones are never reported.
#[test]
fn capabilities_limit_what_is_reported() {
    let t0 = Instant::now();
    let mut cfg = config(Transport::WebSocket);
    cfg.capabilities = Capabilities::default();
    let mut c = Client::new(cfg, t0);
    set_everything(&mut c);
    c.on_connected(t0);
    let m = send(&mut c, t0);
    assert_eq!(m.capabilities, 0x1, "ReportsStatus only");
    assert!(
        m.agent_description.is_some(),
        "description needs no capability"
    );
    assert_eq!(m.health, None);
    assert_eq!(m.effective_config, None);
    assert_eq!(m.remote_config_status, None);
}

/// "AgentToServer.capabilities": an agent MAY change capabilities after the
/// first message; the change is reported, and newly claimed parts follow.
#[test]
fn capabilities_change_is_reported() {
    let t0 = Instant::now();
    let mut cfg = config(Transport::WebSocket);
    cfg.capabilities = Capabilities::default();
    let mut c = Client::new(cfg, t0);
    c.set_health(health(true));
    c.on_connected(t0);
    assert_eq!(send(&mut c, t0).health, None);

    c.set_capabilities(Capabilities {
        reports_health: true,
        ..Default::default()
    });
    let m = send(&mut c, t0);
    assert_eq!(m.capabilities, 0x801);
    assert_eq!(m.health, Some(health(true)));
    assert_eq!(c.poll_transmit(t0), None);

    // A change that brings no new part still has to be reported.
    c.set_capabilities(Capabilities {
        reports_health: true,
        accepts_restart_command: true,
        ..Default::default()
    });
    let m = send(&mut c, t0);
    assert_eq!(m.capabilities, 0xc01);
    assert!(is_bare(&m));
    assert_eq!(c.poll_transmit(t0), None);
}

/// "AvailableComponents Message" / "Initial Handshake": the first report
/// holds only the hash; ReportAvailableComponents brings the whole map.
#[test]
fn available_components_hash_first_map_on_request() {
    let t0 = Instant::now();
    let mut c = client(Transport::WebSocket, t0);
    let mut comps = crate::proto::AvailableComponents {
        hash: vec![9, 9],
        ..Default::default()
    };
    comps.components.insert("output".into(), Default::default());
    c.set_available_components(comps.clone());
    c.on_connected(t0);
    let first = send(&mut c, t0);
    let sent = first.available_components.unwrap();
    assert!(sent.components.is_empty());
    assert_eq!(sent.hash, vec![9, 9]);

    let mut ask = ack();
    ask.flags = ServerToAgentFlags::ReportAvailableComponents as u64;
    c.on_received(t0, ask);
    let m = send(&mut c, t0);
    assert_eq!(m.available_components, Some(comps));
    assert!(m.health.is_none(), "not a full-state request");
    assert_eq!(c.poll_transmit(t0), None);
}
