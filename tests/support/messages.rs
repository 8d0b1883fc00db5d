//! Ready-made OpAMP messages for scripts and assertions, encoded with the
//! crate's generated protobuf types.

use std::collections::BTreeMap;
use std::time::Duration;

use fluent_bit_opamp::proto::{
    server_error_response, AgentCapabilities, AgentConfigFile, AgentConfigMap, AgentDisconnect,
    AgentRemoteConfig, AgentToServer, CommandType, ConnectionSettingsOffers,
    OpAmpConnectionSettings, RetryInfo, ServerCapabilities, ServerErrorResponse,
    ServerErrorResponseType, ServerToAgent, ServerToAgentCommand, ServerToAgentFlags,
};
use prost::Message as _;

pub const UID: [u8; 16] = [
    0x01, 0x93, 0x4b, 0x5e, 0x7a, 0x10, 0x7c, 0x3d, 0x9f, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
];
/// [`UID`] in the canonical form the spec requires for the HTTP header.
pub const UID_STRING: &str = "01934b5e-7a10-7c3d-9f00-112233445566";

/// A classic-format remote config offer of one main file.
pub fn config_offer(body: &str, hash: &[u8]) -> Vec<u8> {
    let mut files = BTreeMap::new();
    files.insert(
        String::new(),
        AgentConfigFile {
            body: body.as_bytes().to_vec(),
            content_type: "text/x-fluent-bit".into(),
        },
    );
    ServerToAgent {
        remote_config: Some(AgentRemoteConfig {
            config: Some(AgentConfigMap { config_map: files }),
            config_hash: hash.to_vec(),
        }),
        ..ServerToAgent::default()
    }
    .encode_to_vec()
}

/// A status report such as an agent sends on connect.
pub fn status_report(uid: &[u8; 16], sequence_num: u64) -> Vec<u8> {
    AgentToServer {
        instance_uid: uid.to_vec(),
        sequence_num,
        capabilities: AgentCapabilities::ReportsStatus as u64
            | AgentCapabilities::AcceptsRemoteConfig as u64,
        ..AgentToServer::default()
    }
    .encode_to_vec()
}

/// The last message of a session.
pub fn goodbye(uid: &[u8; 16], sequence_num: u64) -> Vec<u8> {
    AgentToServer {
        instance_uid: uid.to_vec(),
        sequence_num,
        agent_disconnect: Some(AgentDisconnect {}),
        ..AgentToServer::default()
    }
    .encode_to_vec()
}

fn to_agent(uid: &[u8]) -> ServerToAgent {
    ServerToAgent {
        instance_uid: uid.to_vec(),
        ..ServerToAgent::default()
    }
}

/// The acknowledgement the spec asks for when the server has nothing to say.
pub fn ack(uid: &[u8]) -> Vec<u8> {
    ServerToAgent {
        capabilities: ServerCapabilities::AcceptsStatus as u64
            | ServerCapabilities::OffersRemoteConfig as u64,
        ..to_agent(uid)
    }
    .encode_to_vec()
}

pub fn remote_config(uid: &[u8], body: &str) -> Vec<u8> {
    let mut files = BTreeMap::new();
    files.insert(
        String::new(),
        AgentConfigFile {
            body: body.as_bytes().to_vec(),
            content_type: "text/yaml".into(),
        },
    );
    ServerToAgent {
        remote_config: Some(AgentRemoteConfig {
            config: Some(AgentConfigMap { config_map: files }),
            config_hash: vec![0xab; 32],
        }),
        ..to_agent(uid)
    }
    .encode_to_vec()
}

pub fn connection_settings(uid: &[u8], heartbeat_seconds: u64) -> Vec<u8> {
    ServerToAgent {
        connection_settings: Some(ConnectionSettingsOffers {
            hash: vec![0xcd; 32],
            opamp: Some(OpAmpConnectionSettings {
                heartbeat_interval_seconds: heartbeat_seconds,
                ..OpAmpConnectionSettings::default()
            }),
            ..ConnectionSettingsOffers::default()
        }),
        ..to_agent(uid)
    }
    .encode_to_vec()
}

/// A ServerToAgent offering these OpAMP connection settings under `hash`.
pub fn opamp_settings(uid: &[u8], hash: &[u8], offer: OpAmpConnectionSettings) -> Vec<u8> {
    ServerToAgent {
        connection_settings: Some(ConnectionSettingsOffers {
            hash: hash.to_vec(),
            opamp: Some(offer),
            ..ConnectionSettingsOffers::default()
        }),
        ..to_agent(uid)
    }
    .encode_to_vec()
}

pub fn restart_command(uid: &[u8]) -> Vec<u8> {
    ServerToAgent {
        command: Some(ServerToAgentCommand {
            r#type: CommandType::Restart as i32,
        }),
        ..to_agent(uid)
    }
    .encode_to_vec()
}

pub fn report_full_state(uid: &[u8]) -> Vec<u8> {
    ServerToAgent {
        flags: ServerToAgentFlags::ReportFullState as u64,
        ..to_agent(uid)
    }
    .encode_to_vec()
}

/// ErrorResponse UNAVAILABLE, with retry_info when `retry_after` is given.
pub fn unavailable(uid: &[u8], retry_after: Option<Duration>) -> Vec<u8> {
    ServerToAgent {
        error_response: Some(ServerErrorResponse {
            r#type: ServerErrorResponseType::Unavailable as i32,
            error_message: "overloaded, come back later".into(),
            details: retry_after.map(|d| {
                server_error_response::Details::RetryInfo(RetryInfo {
                    retry_after_nanoseconds: d.as_nanos() as u64,
                })
            }),
        }),
        ..to_agent(uid)
    }
    .encode_to_vec()
}

pub fn decode_server(bytes: &[u8]) -> ServerToAgent {
    ServerToAgent::decode(bytes).expect("ServerToAgent")
}

/// An own-telemetry offer: `(endpoint, headers)` per signal; `None` leaves
/// the signal out of the offer, an empty endpoint removes it.
pub fn own_telemetry_offer(
    uid: &[u8],
    hash: &[u8],
    metrics: Option<(&str, &[(&str, &str)])>,
    logs: Option<(&str, &[(&str, &str)])>,
) -> Vec<u8> {
    use fluent_bit_opamp::proto::{Header, Headers, TelemetryConnectionSettings};
    let part = |p: Option<(&str, &[(&str, &str)])>| {
        p.map(|(url, headers)| TelemetryConnectionSettings {
            destination_endpoint: url.to_string(),
            headers: Some(Headers {
                headers: headers
                    .iter()
                    .map(|(k, v)| Header {
                        key: k.to_string(),
                        value: v.to_string(),
                    })
                    .collect(),
            }),
            ..TelemetryConnectionSettings::default()
        })
    };
    ServerToAgent {
        connection_settings: Some(ConnectionSettingsOffers {
            hash: hash.to_vec(),
            own_metrics: part(metrics),
            own_logs: part(logs),
            ..ConnectionSettingsOffers::default()
        }),
        ..to_agent(uid)
    }
    .encode_to_vec()
}

/// One offered destination: (name, URL, headers).
pub type Destination<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

/// An offer of named other connections.
pub fn other_connections(hash: &[u8], dests: &[Destination<'_>]) -> Vec<u8> {
    use fluent_bit_opamp::proto::{Header, Headers, OtherConnectionSettings};
    let other_connections = dests
        .iter()
        .map(|(name, url, headers)| {
            let headers = headers
                .iter()
                .map(|(k, v)| Header {
                    key: k.to_string(),
                    value: v.to_string(),
                })
                .collect();
            let s = OtherConnectionSettings {
                destination_endpoint: url.to_string(),
                headers: Some(Headers { headers }),
                ..OtherConnectionSettings::default()
            };
            (name.to_string(), s)
        })
        .collect();
    ServerToAgent {
        connection_settings: Some(ConnectionSettingsOffers {
            hash: hash.to_vec(),
            other_connections,
            ..ConnectionSettingsOffers::default()
        }),
        ..ServerToAgent::default()
    }
    .encode_to_vec()
}

/// A Fluent Bit command request: a CustomMessage of `capability` (normally
/// `io.fluentbit.command`), `type` = the command, `data` = the JSON body.
pub fn custom(capability: &str, command: &str, data: &str) -> Vec<u8> {
    ServerToAgent {
        custom_message: Some(fluent_bit_opamp::proto::CustomMessage {
            capability: capability.into(),
            r#type: command.into(),
            data: data.as_bytes().to_vec(),
        }),
        ..ServerToAgent::default()
    }
    .encode_to_vec()
}

/// A request of the `io.fluentbit.command` capability.
pub fn command(name: &str, data: &str) -> Vec<u8> {
    custom("io.fluentbit.command", name, data)
}
