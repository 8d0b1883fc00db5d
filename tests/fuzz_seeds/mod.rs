//! Seed inputs for the fuzz targets, written by
//! `FUZZ_WRITE_SEEDS=1 cargo test --test fuzz_replay seeds` into
//! `fuzz/corpus/<target>/seed-*`: small valid inputs of each shape, so the
//! fuzzers start past the decoders' front doors.

use std::collections::BTreeMap;

use fluent_bit_opamp::core::framing;
use fluent_bit_opamp::proto::{
    AgentConfigFile, AgentConfigMap, AgentIdentification, AgentRemoteConfig,
    ConnectionSettingsOffers, Header, Headers, OpAmpConnectionSettings, OtherConnectionSettings,
    ServerToAgent, ServerToAgentCommand, TlsConnectionSettings,
};
use prost::Message as _;

fn configs(yaml: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let dir = std::path::Path::new("tests/fixtures/fbconf");
    let mut cases: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    for case in cases {
        let main = case.join(if yaml { "main.yaml" } else { "main.conf" });
        if let Ok(text) = std::fs::read(&main) {
            out.push(text);
        }
    }
    out
}

fn with(prefix: &[u8], body: &[u8]) -> Vec<u8> {
    [prefix, body].concat()
}

fn offer() -> OpAmpConnectionSettings {
    OpAmpConnectionSettings {
        destination_endpoint: "wss://opamp2.example.com/v1/opamp".into(),
        headers: Some(Headers {
            headers: vec![Header {
                key: "Authorization".into(),
                value: "Bearer abc".into(),
            }],
        }),
        heartbeat_interval_seconds: 30,
        tls: Some(TlsConnectionSettings::default()),
        ..Default::default()
    }
}

fn other() -> OtherConnectionSettings {
    OtherConnectionSettings {
        destination_endpoint: "https://logs.example.com:8443/v1/logs".into(),
        headers: Some(Headers {
            headers: vec![Header {
                key: "X-Token".into(),
                value: "abcdef".into(),
            }],
        }),
        other_settings: BTreeMap::from([("index".into(), "fleet".into())]),
        ..Default::default()
    }
}

fn server_messages() -> Vec<ServerToAgent> {
    let file = AgentConfigFile {
        body: b"[INPUT]\n    Name dummy\n".to_vec(),
        content_type: "text/plain".into(),
    };
    vec![
        ServerToAgent {
            instance_uid: vec![7; 16],
            remote_config: Some(AgentRemoteConfig {
                config: Some(AgentConfigMap {
                    config_map: BTreeMap::from([(String::new(), file)]),
                }),
                config_hash: vec![1, 2, 3],
            }),
            flags: 1,
            capabilities: 0x3f,
            ..Default::default()
        },
        ServerToAgent {
            instance_uid: vec![7; 16],
            connection_settings: Some(ConnectionSettingsOffers {
                hash: vec![9],
                opamp: Some(offer()),
                other_connections: BTreeMap::from([("logs".into(), other())]),
                ..Default::default()
            }),
            agent_identification: Some(AgentIdentification {
                new_instance_uid: vec![8; 16],
            }),
            command: Some(ServerToAgentCommand { r#type: 0 }),
            ..Default::default()
        },
    ]
}

/// A session: set up, connect, send, receive each message (as bytes and
/// decoded), answer the actions, send again.
fn sessions() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for transport in [0u8, 1] {
        let mut s = vec![transport, 8, 0xff, 0, 6, 2];
        for m in server_messages() {
            let body = m.encode_to_vec();
            let framed = if transport == 0 {
                let mut f = Vec::new();
                framing::write_header(&mut f);
                f.extend_from_slice(&body);
                f
            } else {
                body.clone()
            };
            for (op, bytes) in [(4u8, framed), (5, body)] {
                s.push(op);
                s.extend((bytes.len() as u16).to_be_bytes());
                s.extend(bytes);
                s.extend([7, 6, 2, 8, 60, 6]);
            }
        }
        out.push(s);
    }
    out
}

pub fn seeds() -> BTreeMap<&'static str, Vec<Vec<u8>>> {
    let mut m: BTreeMap<&str, Vec<Vec<u8>>> = BTreeMap::new();
    for (yaml, prefix) in [(false, 0u8), (true, 1)] {
        for c in configs(yaml) {
            m.entry("policy_scan")
                .or_default()
                .push(with(&[prefix], &c));
            m.entry("fbconf_reader")
                .or_default()
                .push(with(&[prefix], &c));
            let r = with(&[prefix], b"password,x_*\0secretvalue1,abcdef\0");
            m.entry("redactor").or_default().push(with(&r, &c));
        }
    }
    m.entry("redactor").or_default().push(
        b"\0token\0s3cr3tvalue\0[OUTPUT]\n    Name http\n    http_passwd s3cr3tvalue\n    header Authorization Bearer x\n-----BEGIN PRIVATE KEY-----\nAAA\n-----END PRIVATE KEY-----\n".to_vec(),
    );
    m.insert(
        "opamp_vars",
        vec![
            b"\x02other.a.host=example.com\0other.a.token=abcdefgh\0[OUTPUT]\n    Host ${opamp.other.a.host}\n    Header T ${opamp.other.a.token}\n    Path ${HOME}\n".to_vec(),
            b"\x01x=1\0${opamp.y}\n".to_vec(),
        ],
    );
    m.insert("client_session", sessions());
    m.insert(
        "steer_candidate",
        vec![
            with(b"\0opamp2.example.com\0", &offer().encode_to_vec()),
            with(b"\x01*.example.com\0", &offer().encode_to_vec()),
        ],
    );
    m.insert(
        "steer_destinations",
        vec![with(b"logs\0", &other().encode_to_vec())],
    );
    m.insert("command_request", commands());
    m
}

/// Command requests: the first byte picks the command (high nibble, an
/// index into the catalog, else a name follows), a foreign capability
/// (bit 0) and a changing command already running (bit 1).
fn commands() -> Vec<Vec<u8>> {
    let files =
        r#""files":{"":{"body":"[INPUT]\n    Name dummy\n","content_type":"text/x-fluent-bit"}}"#;
    vec![
        with(&[0x00], br#"{"id":"1"}"#),
        with(&[0x30], format!(r#"{{"id":2,{files}}}"#).as_bytes()),
        with(
            &[0x60],
            format!(r#"{{{files},"ttl_seconds":5}}"#).as_bytes(),
        ),
        with(&[0x70], br#"{"level":"debug","ttl_seconds":60}"#),
        with(&[0x52], b""),
        with(&[0xf0], b"nosuch\0{\"id\":[1]}"),
        with(&[0x01], b"other.capability\0{}"),
    ]
}
