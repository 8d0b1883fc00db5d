//! `core::Client` driven through any sequence of connects, receives,
//! transmits and actions, with whole ServerToAgent messages in any order.

use std::time::{Duration, Instant};

use fluent_bit_opamp::core::{
    Action, Capabilities, Client, ClientConfig, Disconnect, DisconnectKind, Rejection, Transport,
};
use fluent_bit_opamp::proto::{
    ComponentHealth, ConnectionSettingsStatus, CustomMessage, RemoteConfigStatus, ServerToAgent,
};
use prost::Message as _;

use super::Input;

const UID: [u8; 16] = [7; 16];

fn caps(bits: u8) -> Capabilities {
    Capabilities {
        accepts_remote_config: bits & 1 != 0,
        reports_effective_config: bits & 2 != 0,
        reports_health: bits & 4 != 0,
        reports_remote_config: bits & 8 != 0,
        reports_heartbeat: bits & 16 != 0,
        accepts_restart_command: bits & 32 != 0,
        accepts_opamp_connection_settings: bits & 64 != 0,
        reports_connection_settings_status: bits & 64 != 0,
        accepts_other_connection_settings: bits & 128 != 0,
        reports_available_components: true,
        ..Default::default()
    }
}

/// What the session has seen, for the invariants.
struct Seen {
    last_seq: Option<u64>,
    max_out: usize,
}

/// Each step reads one opcode byte and what it needs after it. The
/// client never panics; sequence numbers rise by one per message; each
/// message carries the current instance uid and fits the size limit.
pub fn client_session(data: &[u8]) {
    let mut input = Input::new(data);
    let setup = input.byte();
    let transport = if setup & 1 == 0 {
        Transport::WebSocket
    } else {
        Transport::Http
    };
    let max_out = 256 + usize::from(input.byte()) * 64;
    let t0 = Instant::now();
    let mut now = t0;
    let cfg = ClientConfig {
        capabilities: caps(input.byte()),
        max_outbound_bytes: max_out,
        jitter_seed: u64::from(setup),
        ..ClientConfig::new(UID, transport)
    };
    let mut client = Client::new(cfg, now);
    let mut seen = Seen {
        last_seq: None,
        max_out,
    };
    let mut steps = 0;
    while !input.is_empty() && steps < 256 {
        steps += 1;
        step(&mut client, &mut input, &mut now, &mut seen);
    }
    let _ = client.goodbye();
}

fn step(client: &mut Client, input: &mut Input<'_>, now: &mut Instant, seen: &mut Seen) {
    match input.byte() % 12 {
        0 => client.on_connected(*now),
        1 => {
            let kind = match input.byte() % 4 {
                0 => DisconnectKind::Network,
                1 => DisconnectKind::Throttled,
                2 => DisconnectKind::AuthFailed,
                _ => DisconnectKind::Local,
            };
            let mut d = Disconnect::new(kind);
            d.retry_after = Some(Duration::from_secs(u64::from(input.byte())));
            client.on_disconnected(*now, d);
        }
        2 => client.on_sent(*now),
        3 => {
            let why = if input.byte() & 1 == 0 {
                Rejection::BadRequest
            } else {
                Rejection::TooLarge
            };
            client.on_rejected(*now, why);
        }
        4 => {
            let n = input.len16();
            let _ = client.receive_bytes(*now, input.take(n));
        }
        5 => {
            let n = input.len16();
            if let Ok(msg) = ServerToAgent::decode(input.take(n)) {
                client.on_received(*now, msg);
            }
        }
        6 => transmit(client, *now, seen),
        7 => actions(client),
        8 => *now += Duration::from_millis(u64::from(input.byte()) * 500),
        9 => {
            let healthy = input.byte() & 1 == 0;
            client.set_health(ComponentHealth {
                healthy,
                ..Default::default()
            });
        }
        10 => {
            let n = usize::from(input.byte());
            let m = CustomMessage {
                capability: "io.example.fuzz".into(),
                r#type: "t".into(),
                data: input.take(n).to_vec(),
            };
            let _ = client.send_custom_message(m);
        }
        _ => {
            let _ = client.next_timeout();
            let _ = client.should_connect(*now);
        }
    }
}

fn transmit(client: &mut Client, now: Instant, seen: &mut Seen) {
    let Some(msg) = client.poll_transmit(now) else {
        return;
    };
    if let Some(last) = seen.last_seq {
        assert_eq!(msg.sequence_num, last + 1, "sequence numbers skip");
    }
    seen.last_seq = Some(msg.sequence_num);
    assert_eq!(msg.instance_uid, client.instance_uid().to_vec());
    assert!(
        msg.encoded_len() <= seen.max_out,
        "{} bytes over the {} limit",
        msg.encoded_len(),
        seen.max_out
    );
    let _ = client.encode(&msg);
}

/// Drains the actions and answers them as the driver would.
fn actions(client: &mut Client) {
    // Two new uids in one message give two actions; the last must be the
    // uid in use.
    let mut persisted = None;
    while let Some(a) = client.poll_action() {
        match a {
            Action::ApplyRemoteConfig(rc) => client.set_remote_config_status(RemoteConfigStatus {
                last_remote_config_hash: rc.config_hash,
                status: 1,
                error_message: String::new(),
            }),
            Action::ConnectionSettings(offers) => {
                client.set_connection_settings_status(ConnectionSettingsStatus {
                    last_connection_settings_hash: offers.hash,
                    status: 1,
                    error_message: String::new(),
                })
            }
            Action::PersistInstanceUid(uid) => persisted = Some(uid),
            _ => {}
        }
    }
    if let Some(uid) = persisted {
        assert_eq!(uid, client.instance_uid());
    }
}
