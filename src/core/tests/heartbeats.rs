//! "OpAMPConnectionSettings.heartbeat_interval_seconds", "WebSocket Message
//! Exchange" and "Plain HTTP Transport" (polling).

use super::*;
use crate::core::{Disconnect, DisconnectKind};
use crate::proto::{ConnectionSettingsOffers, OpAmpConnectionSettings};

fn offer_heartbeat(seconds: u64) -> ServerToAgent {
    let mut m = ack();
    m.connection_settings = Some(ConnectionSettingsOffers {
        opamp: Some(OpAmpConnectionSettings {
            heartbeat_interval_seconds: seconds,
            ..Default::default()
        }),
        ..Default::default()
    });
    m
}

/// "WebSocket Message Exchange": with ReportsHeartbeat, heartbeats every
/// 30 s by default; a heartbeat carries identity but no status parts.
#[test]
fn heartbeats_default_30s_and_bare() {
    let t0 = Instant::now();
    let mut c = client(Transport::WebSocket, t0);
    set_everything(&mut c);
    c.on_connected(t0);
    send(&mut c, t0);
    assert_eq!(c.next_timeout(), Some(t0 + secs(30)));
    assert_eq!(c.poll_transmit(t0 + secs(29)), None);
    let hb = send(&mut c, t0 + secs(30));
    assert!(is_bare(&hb), "{hb:?}");
    assert_eq!(hb.instance_uid, UID.to_vec());
    assert_eq!(hb.capabilities, all_caps().bits());
    assert_eq!(c.next_timeout(), Some(t0 + secs(60)));
}

/// "heartbeat_interval_seconds": the interval counts from the last message
/// sent, so a status report postpones the next heartbeat; received
/// messages do not.
#[test]
fn heartbeats_count_from_last_message_sent() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    c.set_health(health(false));
    send(&mut c, t0 + secs(20));
    c.on_received(t0 + secs(25), ack());
    assert_eq!(c.poll_transmit(t0 + secs(30)), None);
    assert_eq!(c.next_timeout(), Some(t0 + secs(50)));
    assert!(c.poll_transmit(t0 + secs(50)).is_some());
}

/// "heartbeat_interval_seconds": without the ReportsHeartbeat capability a
/// WebSocket client sends no heartbeats.
#[test]
fn heartbeats_need_the_capability_on_websocket() {
    let t0 = Instant::now();
    let mut cfg = config(Transport::WebSocket);
    cfg.capabilities.reports_heartbeat = false;
    let mut c = Client::new(cfg, t0);
    c.on_connected(t0);
    send(&mut c, t0);
    assert_eq!(c.heartbeat_interval(), None);
    assert_eq!(c.next_timeout(), None);
    assert_eq!(c.poll_transmit(t0 + secs(3600)), None);
}

/// "heartbeat_interval_seconds": the server's value replaces ours.
#[test]
fn heartbeats_server_interval_is_obeyed() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    c.on_received(t0, offer_heartbeat(5));
    assert_eq!(c.heartbeat_interval(), Some(secs(5)));
    assert_eq!(c.poll_transmit(t0 + secs(4)), None);
    assert!(c.poll_transmit(t0 + secs(5)).is_some());
}

/// "heartbeat_interval_seconds": 0 from the server disables heartbeats.
#[test]
fn heartbeats_zero_from_server_disables_them() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    c.on_received(t0, offer_heartbeat(0));
    assert_eq!(c.heartbeat_interval(), None);
    assert_eq!(c.next_timeout(), None);
    assert_eq!(c.poll_transmit(t0 + secs(3600)), None);
}

/// A zero configured interval turns WebSocket heartbeats off.
#[test]
fn heartbeats_zero_configured_is_off() {
    let t0 = Instant::now();
    let mut cfg = config(Transport::WebSocket);
    cfg.heartbeat_interval = Duration::ZERO;
    let c = Client::new(cfg, t0);
    assert_eq!(c.heartbeat_interval(), None);
}

/// "Throttling": no heartbeats while reconnecting; the only timer is the
/// reconnect time.
#[test]
fn heartbeats_stop_while_disconnected() {
    let t0 = Instant::now();
    let mut c = connected(Transport::WebSocket, t0);
    c.on_disconnected(t0 + secs(1), Disconnect::new(DisconnectKind::Network));
    let retry_at = c.connect_allowed_at().unwrap();
    assert_eq!(c.next_timeout(), Some(retry_at));
    assert_eq!(c.poll_transmit(t0 + secs(120)), None);
}

/// "Plain HTTP Transport": an HTTP client MUST poll, by default every 30 s,
/// even without ReportsHeartbeat; polls carry only identity.
#[test]
fn plain_http_polls_every_30s_without_heartbeat_capability() {
    let t0 = Instant::now();
    let mut cfg = config(Transport::Http);
    cfg.capabilities.reports_heartbeat = false;
    let mut c = Client::new(cfg, t0);
    c.on_connected(t0);
    http_exchange(&mut c, t0, ack());
    assert_eq!(c.next_timeout(), Some(t0 + secs(30)));
    let poll = c.poll_transmit(t0 + secs(30)).expect("poll is due");
    assert!(is_bare(&poll));
}

/// "Plain HTTP Transport": the server's heartbeat interval becomes the
/// polling interval; 0 cannot stop polling, the configured interval
/// applies again.
#[test]
fn plain_http_polling_follows_server_interval() {
    let t0 = Instant::now();
    let mut cfg = config(Transport::Http);
    cfg.heartbeat_interval = secs(20);
    let mut c = Client::new(cfg, t0);
    c.on_connected(t0);
    http_exchange(&mut c, t0, ack());
    http_exchange(&mut c, t0 + secs(20), offer_heartbeat(10));
    assert_eq!(c.heartbeat_interval(), Some(secs(10)));
    assert_eq!(c.next_timeout(), Some(t0 + secs(30)));

    http_exchange(&mut c, t0 + secs(30), offer_heartbeat(0));
    assert_eq!(c.heartbeat_interval(), Some(secs(20)));
    assert_eq!(c.next_timeout(), Some(t0 + secs(50)));
}

/// A zero configured HTTP polling interval falls back to the default.
#[test]
fn plain_http_zero_configured_interval_still_polls() {
    let t0 = Instant::now();
    let mut cfg = config(Transport::Http);
    cfg.heartbeat_interval = Duration::ZERO;
    assert_eq!(Client::new(cfg, t0).heartbeat_interval(), Some(secs(30)));
}
