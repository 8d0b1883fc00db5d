//! Behavioural tests of [`Client`], grouped by the specification section
//! whose rules they check. No sockets, no clocks: a base `Instant` is taken
//! once per test and everything else is an offset from it.

use std::time::{Duration, Instant};

use super::{Action, Capabilities, Client, ClientConfig, LogLevel, Transport};
use crate::proto::{
    AgentConfigFile, AgentConfigMap, AgentDescription, AgentToServer, AnyValue, ComponentHealth,
    EffectiveConfig, KeyValue, RemoteConfigStatus, ServerToAgent,
};

mod connection_settings;
mod custom_messages;
mod delivery;
mod disconnect;
mod heartbeats;
mod packages;
mod server_messages;
mod size_limits;
mod status_reporting;
mod throttling;

const UID: [u8; 16] = [0x11; 16];

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn all_caps() -> Capabilities {
    Capabilities {
        accepts_remote_config: true,
        reports_effective_config: true,
        reports_health: true,
        reports_remote_config: true,
        reports_heartbeat: true,
        accepts_restart_command: true,
        reports_available_components: true,
        accepts_opamp_connection_settings: true,
        reports_connection_settings_status: true,
        ..Default::default()
    }
}

fn config(transport: Transport) -> ClientConfig {
    ClientConfig {
        capabilities: all_caps(),
        jitter_seed: 1,
        ..ClientConfig::new(UID, transport)
    }
}

fn client(transport: Transport, t0: Instant) -> Client {
    Client::new(config(transport), t0)
}

/// A client whose first (full) report went out and, for HTTP, was answered.
fn connected(transport: Transport, t0: Instant) -> Client {
    let mut c = client(transport, t0);
    c.on_connected(t0);
    match transport {
        Transport::WebSocket => {
            send(&mut c, t0);
        }
        Transport::Http => {
            http_exchange(&mut c, t0, ack());
        }
    }
    drain(&mut c);
    c
}

/// Takes the due message and reports it written.
fn send(c: &mut Client, now: Instant) -> AgentToServer {
    let m = c.poll_transmit(now).expect("a message is due");
    c.on_sent(now);
    m
}

/// One HTTP round trip: request out, response in.
fn http_exchange(c: &mut Client, now: Instant, resp: ServerToAgent) -> AgentToServer {
    let m = send(c, now);
    c.on_received(now, resp);
    m
}

fn drain(c: &mut Client) -> Vec<Action> {
    std::iter::from_fn(|| c.poll_action()).collect()
}

fn logs_at(actions: &[Action], level: LogLevel) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(l, m) if *l == level => Some(m.clone()),
            _ => None,
        })
        .collect()
}

/// An empty reply, which is the server's plain acknowledgement.
fn ack() -> ServerToAgent {
    ServerToAgent {
        instance_uid: UID.to_vec(),
        ..Default::default()
    }
}

fn health(ok: bool) -> ComponentHealth {
    ComponentHealth {
        healthy: ok,
        status: if ok { "ok" } else { "degraded" }.into(),
        ..Default::default()
    }
}

fn description(version: &str) -> AgentDescription {
    AgentDescription {
        identifying_attributes: vec![KeyValue {
            key: "service.version".into(),
            value: Some(AnyValue {
                value: Some(crate::proto::any_value::Value::StringValue(version.into())),
            }),
        }],
        ..Default::default()
    }
}

fn effective(body: &[u8]) -> EffectiveConfig {
    let mut map = AgentConfigMap::default();
    map.config_map.insert(
        "fluent-bit.yaml".into(),
        AgentConfigFile {
            body: body.to_vec(),
            content_type: "text/yaml".into(),
        },
    );
    EffectiveConfig {
        config_map: Some(map),
    }
}

fn rc_status(hash: &[u8], status: crate::proto::RemoteConfigStatuses) -> RemoteConfigStatus {
    RemoteConfigStatus {
        last_remote_config_hash: hash.to_vec(),
        status: status as i32,
        error_message: String::new(),
    }
}

/// Sets every reportable part, so "full state" is observable.
fn set_everything(c: &mut Client) {
    c.set_agent_description(description("1.0"));
    c.set_health(health(true));
    c.set_effective_config(effective(b"a: 1"));
    c.set_remote_config_status(rc_status(
        b"h0",
        crate::proto::RemoteConfigStatuses::Applied,
    ));
}

fn is_full(m: &AgentToServer) -> bool {
    m.agent_description.is_some()
        && m.health.is_some()
        && m.effective_config.is_some()
        && m.remote_config_status.is_some()
}

fn is_bare(m: &AgentToServer) -> bool {
    m.agent_description.is_none()
        && m.health.is_none()
        && m.effective_config.is_none()
        && m.remote_config_status.is_none()
        && m.available_components.is_none()
        && m.agent_disconnect.is_none()
}
