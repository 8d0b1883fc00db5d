//! Handling of ServerToAgent fields: "ServerToAgent.agent_identification",
//! "Configuration", "ServerToAgentCommand Message",
//! "ServerToAgent.connection_settings", "ServerToAgent.instance_uid",
//! "Bad Request".

use super::*;
use crate::core::Rejection;
use crate::proto::{
    AgentIdentification, AgentRemoteConfig, ConnectionSettingsOffers, OpAmpConnectionSettings,
    RemoteConfigStatuses, ServerErrorResponse, ServerErrorResponseType, ServerToAgentCommand,
};

fn offer(hash: &[u8], body: &[u8]) -> AgentRemoteConfig {
    let mut map = AgentConfigMap::default();
    map.config_map.insert(
        String::new(),
        AgentConfigFile {
            body: body.to_vec(),
            content_type: "text/yaml".into(),
        },
    );
    AgentRemoteConfig {
        config: Some(map),
        config_hash: hash.to_vec(),
    }
}

fn with_config(rc: AgentRemoteConfig) -> ServerToAgent {
    let mut m = ack();
    m.remote_config = Some(rc);
    m
}

fn new_uid(bytes: &[u8]) -> ServerToAgent {
    let mut m = ack();
    m.agent_identification = Some(AgentIdentification {
        new_instance_uid: bytes.to_vec(),
    });
    m
}

fn error(ty: ServerErrorResponseType) -> ServerToAgent {
    let mut m = ack();
    m.error_response = Some(ServerErrorResponse {
        r#type: ty as i32,
        error_message: "nope".into(),
        details: None,
    });
    m
}

/// "ServerToAgent.agent_identification": the agent MUST adopt
/// new_instance_uid for all further communication; the driver is told to
/// persist it.
#[test]
fn agent_identification_new_instance_uid_is_adopted() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    c.on_received(t0, new_uid(&[0x22; 16]));
    let actions = drain(&mut c);
    assert!(actions.contains(&Action::PersistInstanceUid([0x22; 16])));
    assert_eq!(c.instance_uid(), [0x22; 16]);
    assert_eq!(c.poll_transmit(t0), None, "a new uid alone is not a send");
    c.set_health(health(false));
    assert_eq!(send(&mut c, t0).instance_uid, vec![0x22; 16]);
    assert_eq!(c.goodbye().instance_uid, vec![0x22; 16]);
}

/// Messages addressed to the new uid are accepted after the switch.
#[test]
fn agent_identification_messages_to_new_uid_are_accepted() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    c.on_received(t0, new_uid(&[0x22; 16]));
    drain(&mut c);
    let mut m = ServerToAgent {
        instance_uid: vec![0x22; 16],
        ..Default::default()
    };
    m.command = Some(ServerToAgentCommand { r#type: 0 });
    c.on_received(t0, m);
    assert!(drain(&mut c).contains(&Action::Restart));
}

/// "ServerToAgent.agent_identification": the new uid MUST be 16 bytes;
/// anything else is ignored with a warning.
#[test]
fn agent_identification_wrong_length_is_ignored() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    c.on_received(t0, new_uid(&[0x22; 15]));
    let actions = drain(&mut c);
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::PersistInstanceUid(_))));
    assert_eq!(logs_at(&actions, LogLevel::Warn).len(), 1, "{actions:?}");
    assert_eq!(c.instance_uid(), UID);

    c.on_received(t0, new_uid(&UID));
    assert!(drain(&mut c).is_empty(), "same uid: nothing to persist");
}

/// "ServerToAgent.instance_uid": a message for another agent is ignored.
#[test]
fn server_to_agent_for_another_instance_is_ignored() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    let mut m = with_config(offer(b"h1", b"x"));
    m.instance_uid = vec![0x99; 16];
    c.on_received(t0, m);
    let actions = drain(&mut c);
    assert!(!actions
        .iter()
        .any(|a| matches!(a, Action::ApplyRemoteConfig(_))));
    assert_eq!(logs_at(&actions, LogLevel::Warn).len(), 1);
}

/// "Configuration": a remote config offer reaches the driver as an action;
/// nothing is sent until the driver reports a status change.
#[test]
fn configuration_offer_becomes_an_action() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    c.on_received(t0, with_config(offer(b"h1", b"x")));
    assert_eq!(
        drain(&mut c),
        vec![Action::ApplyRemoteConfig(offer(b"h1", b"x"))]
    );
    assert_eq!(c.poll_transmit(t0), None);
}

/// "Configuration": repeated offers of the same config (servers resend it
/// until the status reports its hash) are handed out once; a config whose
/// hash the status already reports is not re-applied.
#[test]
fn configuration_repeated_offer_is_not_reapplied() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    c.on_received(t0, with_config(offer(b"h1", b"x")));
    c.on_received(t0, with_config(offer(b"h1", b"x")));
    assert_eq!(drain(&mut c).len(), 1);

    c.on_received(t0, with_config(offer(b"h2", b"y")));
    assert_eq!(drain(&mut c).len(), 1, "a new hash is a new offer");

    let mut fresh = client(Transport::WebSocket, t0);
    fresh.set_remote_config_status(rc_status(b"h3", RemoteConfigStatuses::Applied));
    fresh.on_connected(t0);
    send(&mut fresh, t0);
    fresh.on_received(t0, with_config(offer(b"h3", b"z")));
    assert!(drain(&mut fresh).is_empty(), "already applied per status");
}

/// "Configuration": an offer of the config the status already reports means
/// the server missed that report: it is answered with the status again (not
/// re-applied), at most once per REANSWER_INTERVAL so an echoing server
/// cannot cause a ping-pong.
#[test]
fn configuration_repeated_offer_of_reported_hash_is_answered_once_per_interval() {
    let t0 = Instant::now();
    let mut c = client(Transport::WebSocket, t0);
    c.set_remote_config_status(rc_status(b"h3", RemoteConfigStatuses::Applied));
    c.on_connected(t0);
    send(&mut c, t0);
    assert_eq!(c.poll_transmit(t0), None);

    c.on_received(t0, with_config(offer(b"h3", b"z")));
    assert!(drain(&mut c).is_empty(), "not applied again");
    let again = send(&mut c, t0);
    assert_eq!(
        again
            .remote_config_status
            .map(|s| s.last_remote_config_hash),
        Some(b"h3".to_vec()),
        "the status goes out again"
    );

    c.on_received(t0 + secs(1), with_config(offer(b"h3", b"z")));
    assert_eq!(c.poll_transmit(t0 + secs(1)), None, "rate limited");

    let later = t0 + super::super::client::REANSWER_INTERVAL + secs(1);
    c.on_received(later, with_config(offer(b"h3", b"z")));
    assert!(send(&mut c, later).remote_config_status.is_some());
}

/// "Configuration": without AcceptsRemoteConfig the offer is ignored.
#[test]
fn configuration_offer_ignored_without_capability() {
    let t0 = Instant::now();
    let mut cfg = config(Transport::WebSocket);
    cfg.capabilities.accepts_remote_config = false;
    let mut c = Client::new(cfg, t0);
    c.on_connected(t0);
    send(&mut c, t0);
    c.on_received(t0, with_config(offer(b"h1", b"x")));
    assert!(!drain(&mut c)
        .iter()
        .any(|a| matches!(a, Action::ApplyRemoteConfig(_))));
}

/// "ServerToAgentCommand Message": Restart becomes Action::Restart, and
/// all other fields of that message are ignored.
#[test]
fn command_restart_ignores_other_fields() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    let mut m = with_config(offer(b"h1", b"x"));
    m.command = Some(ServerToAgentCommand { r#type: 0 });
    m.flags = crate::proto::ServerToAgentFlags::ReportFullState as u64;
    m.capabilities = 0x3;
    c.on_received(t0, m);
    assert_eq!(drain(&mut c), vec![Action::Restart]);
    assert_eq!(c.poll_transmit(t0), None, "flags ignored with a command");
    assert_eq!(
        c.server_capabilities(),
        Some(0x3),
        "capabilities still read"
    );
}

/// "ServerToAgentCommand Message": ignored when AcceptsRestartCommand is
/// not claimed; unknown command types are ignored too.
#[test]
fn command_restart_needs_the_capability() {
    let t0 = Instant::now();
    let mut cfg = config(Transport::WebSocket);
    cfg.capabilities.accepts_restart_command = false;
    let mut c = Client::new(cfg, t0);
    c.on_connected(t0);
    send(&mut c, t0);
    let mut m = ack();
    m.command = Some(ServerToAgentCommand { r#type: 0 });
    c.on_received(t0, m);
    assert!(!drain(&mut c).contains(&Action::Restart));

    let mut c = connected(Transport::WebSocket, t0);
    let mut m = ack();
    m.command = Some(ServerToAgentCommand { r#type: 7 });
    c.on_received(t0, m);
    let actions = drain(&mut c);
    assert!(!actions.contains(&Action::Restart));
    assert_eq!(logs_at(&actions, LogLevel::Warn).len(), 1);
}

/// "ServerToAgent.connection_settings": offers reach the driver once per
/// hash when AcceptsOpAMPConnectionSettings is claimed.
#[test]
fn connection_settings_offer_becomes_an_action() {
    let t0 = Instant::now();
    let offers = ConnectionSettingsOffers {
        hash: vec![5],
        opamp: Some(OpAmpConnectionSettings {
            destination_endpoint: "wss://elsewhere/v1/opamp".into(),
            heartbeat_interval_seconds: 15,
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut m = ack();
    m.connection_settings = Some(offers.clone());
    let mut c = connected(Transport::WebSocket, t0);
    c.on_received(t0, m.clone());
    assert_eq!(
        drain(&mut c),
        vec![Action::ConnectionSettings(Box::new(offers))]
    );
    c.on_received(t0, m.clone());
    assert!(drain(&mut c).is_empty(), "same hash, same offer");

    let mut cfg = config(Transport::WebSocket);
    cfg.capabilities.accepts_opamp_connection_settings = false;
    let mut c = Client::new(cfg, t0);
    c.on_connected(t0);
    send(&mut c, t0);
    c.on_received(t0, m);
    assert!(drain(&mut c).is_empty());
    assert_eq!(
        c.heartbeat_interval(),
        Some(secs(15)),
        "interval still obeyed"
    );
}

/// "Bad Request": the client SHOULD NOT retry a message answered with
/// BAD_REQUEST; the status it carried is not sent again, later changes are.
#[test]
fn bad_request_message_is_not_retried() {
    let t0 = Instant::now();
    for transport in [Transport::WebSocket, Transport::Http] {
        let mut c = connected(transport, t0);
        c.set_effective_config(effective(b"odd"));
        let m = send(&mut c, t0);
        assert_eq!(m.effective_config, Some(effective(b"odd")));
        c.on_received(t0, error(ServerErrorResponseType::BadRequest));
        let actions = drain(&mut c);
        assert_eq!(logs_at(&actions, LogLevel::Warn).len(), 1, "{actions:?}");
        assert!(c.is_connected(), "{transport:?}: the connection stays");
        assert_eq!(c.poll_transmit(t0), None, "{transport:?}: not resent");

        c.set_health(health(false));
        let next = send(&mut c, t0);
        assert_eq!(next.effective_config, None);
        assert_eq!(next.health, Some(health(false)));
    }
}

/// ServerErrorResponse UNKNOWN: "The Agent SHOULD NOT retry the message".
#[test]
fn unknown_error_is_not_retried() {
    let t0 = Instant::now();
    let mut c = connected(Transport::Http, t0);
    c.set_health(health(false));
    http_exchange(&mut c, t0, error(ServerErrorResponseType::Unknown));
    assert!(c.is_connected());
    assert_eq!(c.poll_transmit(t0), None);
}

/// "Bad Request" / "Plain HTTP Message Size Limits": HTTP 400 and 413 end
/// that request for good; the session goes on.
#[test]
fn http_400_and_413_are_not_retried() {
    let t0 = Instant::now();
    for why in [Rejection::BadRequest, Rejection::TooLarge] {
        let mut c = connected(Transport::Http, t0);
        c.set_effective_config(effective(b"big"));
        send(&mut c, t0);
        c.on_rejected(t0, why);
        assert!(c.is_connected());
        assert_eq!(c.poll_transmit(t0), None, "{why:?}");
        assert_eq!(logs_at(&drain(&mut c), LogLevel::Warn).len(), 1);
        assert_eq!(c.next_timeout(), Some(t0 + secs(30)), "polling continues");
    }
}

/// "ServerToAgent.capabilities": remembered from the message that had them.
#[test]
fn server_capabilities_are_recorded() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    assert_eq!(c.server_capabilities(), None);
    let mut m = ack();
    m.capabilities = 0x7;
    c.on_received(t0, m);
    c.on_received(t0, ack());
    assert_eq!(c.server_capabilities(), Some(0x7), "0 means 'unchanged'");
}
