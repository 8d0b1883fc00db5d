//! "ConnectionSettingsStatus", "ConnectionSettingsRequest" and the
//! verification exchange ("Verify, then commit") the driver runs on a
//! second connection.

use super::*;
use crate::core::ProbeError;
use crate::proto::{
    CertificateRequest, ConnectionSettingsOffers, ConnectionSettingsRequest,
    ConnectionSettingsStatus, ConnectionSettingsStatuses, OpAmpConnectionSettingsRequest,
    ServerErrorResponse, ServerErrorResponseType, TelemetryConnectionSettings,
};

fn status(hash: &[u8], s: ConnectionSettingsStatuses) -> ConnectionSettingsStatus {
    ConnectionSettingsStatus {
        last_connection_settings_hash: hash.to_vec(),
        status: s as i32,
        error_message: String::new(),
    }
}

fn csr(pem: &str) -> ConnectionSettingsRequest {
    ConnectionSettingsRequest {
        opamp: Some(OpAmpConnectionSettingsRequest {
            certificate_request: Some(CertificateRequest {
                csr: pem.as_bytes().to_vec(),
            }),
        }),
    }
}

/// The status is compressed like the others and gated by its capability.
#[test]
fn status_goes_out_once_and_only_with_the_capability() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    c.set_connection_settings_status(status(b"h", ConnectionSettingsStatuses::Applying));
    let m = send(&mut c, t0);
    assert_eq!(
        m.connection_settings_status.map(|s| s.status),
        Some(ConnectionSettingsStatuses::Applying as i32)
    );
    assert!(c.poll_transmit(t0).is_none(), "unchanged: nothing to send");
    c.set_connection_settings_status(status(b"h", ConnectionSettingsStatuses::Applied));
    assert!(send(&mut c, t0).connection_settings_status.is_some());

    let mut cfg = config(Transport::WebSocket);
    cfg.capabilities.reports_connection_settings_status = false;
    let mut c = Client::new(cfg, t0);
    c.set_connection_settings_status(status(b"h", ConnectionSettingsStatuses::Applied));
    c.on_connected(t0);
    let m = send(&mut c, t0);
    assert!(m.connection_settings_status.is_none());
    assert_eq!(m.capabilities & 0x8000, 0);
}

/// A CSR survives a lost message and a reconnect, and stops once withdrawn.
#[test]
fn request_is_resent_until_withdrawn() {
    let t0 = Instant::now();
    let mut c = connected(Transport::Http, t0);
    c.set_connection_settings_request(Some(csr("CSR")));
    let m = c.poll_transmit(t0).expect("due");
    assert!(m.connection_settings_request.is_some());
    c.on_disconnected(
        t0,
        crate::core::Disconnect::new(crate::core::DisconnectKind::Network),
    );
    let t1 = t0 + secs(400);
    c.on_connected(t1);
    let m = http_exchange(&mut c, t1, ack());
    assert!(
        m.connection_settings_request.is_some(),
        "lost, so sent again"
    );
    c.set_connection_settings_request(None);
    c.on_disconnected(
        t1,
        crate::core::Disconnect::new(crate::core::DisconnectKind::Network),
    );
    let t2 = t1 + secs(400);
    c.on_connected(t2);
    assert!(http_exchange(&mut c, t2, ack())
        .connection_settings_request
        .is_none());
}

/// The probe is a full report with the next sequence number, and it does
/// not count as reported on the main connection.
#[test]
fn probe_is_full_state_in_the_same_sequence() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    set_everything(&mut c);
    let main = send(&mut c, t0);
    let probe = c.probe();
    assert!(is_full(&probe));
    assert_eq!(probe.sequence_num, main.sequence_num + 1);
    assert!(
        c.poll_transmit(t0).is_none(),
        "the main connection is unaffected"
    );
    let next = c.next_sequence_num();
    assert_eq!(next, probe.sequence_num + 1);
}

/// Only a decodable, error-free reply for this agent verifies settings.
#[test]
fn probe_replies_are_checked() {
    let t0 = Instant::now();
    let c = client(Transport::Http, t0);
    let body = prost::Message::encode_to_vec(&ack());
    assert_eq!(c.check_probe_reply(Transport::Http, &body), Ok(()));
    let mut framed = vec![0u8];
    framed.extend_from_slice(&body);
    assert_eq!(c.check_probe_reply(Transport::WebSocket, &framed), Ok(()));
    assert!(matches!(
        c.check_probe_reply(Transport::Http, b"\xff\xff\xff"),
        Err(ProbeError::Malformed(_))
    ));
    let mut other = ack();
    other.instance_uid = vec![9; 16];
    let other = prost::Message::encode_to_vec(&other);
    assert_eq!(
        c.check_probe_reply(Transport::Http, &other),
        Err(ProbeError::WrongInstance)
    );
    let mut refused = ack();
    refused.error_response = Some(ServerErrorResponse {
        r#type: ServerErrorResponseType::BadRequest as i32,
        error_message: "no".into(),
        details: None,
    });
    let refused = prost::Message::encode_to_vec(&refused);
    assert!(matches!(
        c.check_probe_reply(Transport::Http, &refused),
        Err(ProbeError::Refused(m)) if m.contains("no")
    ));
}

/// Own telemetry alone is enough to be handed offers.
#[test]
fn telemetry_capability_alone_receives_offers() {
    let t0 = Instant::now();
    let mut cfg = config(Transport::WebSocket);
    cfg.capabilities.accepts_opamp_connection_settings = false;
    cfg.capabilities.reports_own_metrics = true;
    let mut c = Client::new(cfg, t0);
    c.on_connected(t0);
    send(&mut c, t0);
    let offers = ConnectionSettingsOffers {
        hash: vec![1],
        own_metrics: Some(TelemetryConnectionSettings {
            destination_endpoint: "http://127.0.0.1:4318/v1/metrics".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut m = ack();
    m.connection_settings = Some(offers.clone());
    c.on_received(t0, m);
    assert_eq!(
        drain(&mut c),
        vec![Action::ConnectionSettings(Box::new(offers))]
    );
}

/// A transport switch only happens while down.
#[test]
fn transport_changes_only_while_down() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    c.set_transport(Transport::Http, secs(30));
    assert!(
        c.encode(&AgentToServer::default()).first() == Some(&0),
        "still ws"
    );
    c.on_disconnected(
        t0,
        crate::core::Disconnect::new(crate::core::DisconnectKind::Local),
    );
    c.set_transport(Transport::Http, secs(30));
    assert!(c.encode(&AgentToServer::default()).is_empty(), "now http");
}
