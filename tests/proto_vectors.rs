//! Byte-exact wire vectors for the generated OpAMP types.
//!
//! Each vector was worked out by hand from the protobuf encoding rules
//! (tag = field_number << 3 | wire_type; wire types: 0 varint, 1 fixed64,
//! 2 length-delimited) and the field numbers in the OpAMP specification, not
//! produced by the code under test. A wrong field number, type or packing
//! in `proto/*.proto` changes the bytes and fails here.

use std::collections::BTreeMap;

use fluent_bit_opamp::proto::{
    any_value, AgentCapabilities, AgentConfigFile, AgentConfigMap, AgentDescription,
    AgentDisconnect, AgentRemoteConfig, AgentToServer, AnyValue, ComponentHealth, EffectiveConfig,
    KeyValue, RemoteConfigStatus, RemoteConfigStatuses, ServerCapabilities, ServerToAgent,
};
use prost::Message;

/// Hex with arbitrary whitespace, so vectors can be laid out field by field.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// 01 02 .. 10, the instance uid used by every vector.
fn uid() -> Vec<u8> {
    (1..=16).collect()
}

fn string_attr(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
    }
}

fn config_map(name: &str, body: &str, content_type: &str) -> AgentConfigMap {
    AgentConfigMap {
        config_map: BTreeMap::from([(
            name.to_string(),
            AgentConfigFile {
                body: body.as_bytes().to_vec(),
                content_type: content_type.into(),
            },
        )]),
    }
}

/// A heartbeat: only identity, sequence number and capabilities.
#[test]
fn heartbeat_agent_to_server() {
    let msg = AgentToServer {
        instance_uid: uid(),
        sequence_num: 5,
        capabilities: AgentCapabilities::ReportsStatus as u64
            | AgentCapabilities::ReportsHeartbeat as u64, // 0x2001
        ..Default::default()
    };
    let want = hex("0a 10 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10
         10 05
         20 81 40");
    // 0a = field 1 (instance_uid), LEN; 10 = 16 bytes; the uid.
    // 10 = field 2 (sequence_num), VARINT; 05.
    // 20 = field 4 (capabilities), VARINT; 0x2001 = 8193:
    //      low 7 bits 0000001 + continuation = 81, then 8193 >> 7 = 64 = 40.
    assert_eq!(msg.encode_to_vec(), want);
    assert_eq!(AgentToServer::decode(&want[..]).unwrap(), msg);
}

/// A first, full status report: description, health, effective config and
/// remote config status. sequence_num is 0 and therefore absent (proto3
/// does not encode default scalars).
#[test]
fn full_status_agent_to_server() {
    let msg = AgentToServer {
        instance_uid: uid(),
        sequence_num: 0,
        agent_description: Some(AgentDescription {
            identifying_attributes: vec![string_attr("service.name", "fluent-bit")],
            non_identifying_attributes: vec![string_attr("os.type", "linux")],
        }),
        capabilities: AgentCapabilities::ReportsStatus as u64
            | AgentCapabilities::AcceptsRemoteConfig as u64
            | AgentCapabilities::ReportsEffectiveConfig as u64
            | AgentCapabilities::ReportsHealth as u64
            | AgentCapabilities::ReportsRemoteConfig as u64, // 0x1807
        health: Some(ComponentHealth {
            healthy: true,
            start_time_unix_nano: 1_700_000_000_000_000_000,
            status: "ok".into(),
            ..Default::default()
        }),
        effective_config: Some(EffectiveConfig {
            config_map: Some(config_map("fb.yaml", "x: 1", "text/yaml")),
        }),
        remote_config_status: Some(RemoteConfigStatus {
            last_remote_config_hash: vec![0xab, 0xcd],
            status: RemoteConfigStatuses::Applied as i32,
            error_message: String::new(),
        }),
        ..Default::default()
    };

    let want = hex(
        // field 1 instance_uid, LEN 16
        "0a 10 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10

         1a 32
            0a 1c
               0a 0c 73 65 72 76 69 63 65 2e 6e 61 6d 65
               12 0c
                  0a 0a 66 6c 75 65 6e 74 2d 62 69 74
            12 12
               0a 07 6f 73 2e 74 79 70 65
               12 07
                  0a 05 6c 69 6e 75 78

         20 87 30

         2a 0f
            08 01
            11 00 00 2a 36 fe 9c 97 17
            22 02 6f 6b

         32 20
            0a 1e
               0a 1c
                  0a 07 66 62 2e 79 61 6d 6c
                  12 11
                     0a 04 78 3a 20 31
                     12 09 74 65 78 74 2f 79 61 6d 6c

         3a 06
            0a 02 ab cd
            10 01",
    );
    // 1a 32: field 3 agent_description, LEN 50 = 30 + 20:
    //   0a 1c: identifying_attributes[0] (KeyValue, 28 bytes)
    //     0a 0c "service.name" (key, 12) | 12 0c AnyValue (12 bytes):
    //       0a 0a "fluent-bit" (string_value = field 1, 10 bytes)
    //   12 12: non_identifying_attributes[0] (KeyValue, 18 bytes)
    //     0a 07 "os.type" | 12 07 AnyValue: 0a 05 "linux"
    // 20 87 30: field 4 capabilities, VARINT 0x1807 = 6151:
    //   6151 & 0x7f = 7 -> 87 (continuation), 6151 >> 7 = 48 -> 30.
    // 2a 0f: field 5 health, LEN 15:
    //   08 01: healthy (field 1 VARINT) = true
    //   11 ..: start_time_unix_nano (field 2, wire type 1 = fixed64),
    //          1.7e18 = 0x17979cfe362a0000, little endian
    //   22 02 "ok": status (field 4)
    // 32 20: field 6 effective_config, LEN 32:
    //   0a 1e: EffectiveConfig.config_map (AgentConfigMap, 30 bytes)
    //     0a 1c: one map entry (28 bytes) of AgentConfigMap.config_map
    //       0a 07 "fb.yaml" (entry key) | 12 11 AgentConfigFile (17):
    //         0a 04 "x: 1" (body) | 12 09 "text/yaml" (content_type)
    // 3a 06: field 7 remote_config_status, LEN 6:
    //   0a 02 ab cd (last_remote_config_hash) | 10 01 (status APPLIED)
    assert_eq!(msg.encode_to_vec(), want);
    assert_eq!(AgentToServer::decode(&want[..]).unwrap(), msg);
}

/// A server offering a remote configuration: decoded from hand-made bytes
/// field by field, then re-encoded to the same bytes.
#[test]
fn server_to_agent_with_remote_config() {
    let bytes = hex("0a 10 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10

         1a 31
            0a 29
               0a 27
                  0a 0d 70 69 70 65 6c 69 6e 65 2e 79 61 6d 6c
                  12 16
                     0a 09 6e 61 6d 65 3a 20 63 70 75
                     12 09 74 65 78 74 2f 79 61 6d 6c
            12 04 01 02 03 04

         38 07");
    // 0a 10 ..: field 1 instance_uid, 16 bytes.
    // 1a 31: field 3 remote_config (AgentRemoteConfig), LEN 49 = 43 + 6:
    //   0a 29: config (AgentConfigMap, 41 bytes)
    //     0a 27: map entry (39 bytes): 0a 0d "pipeline.yaml" (key, 13)
    //       | 12 16 AgentConfigFile (22): 0a 09 "name: cpu" | 12 09 "text/yaml"
    //   12 04 01 02 03 04: config_hash (field 2)
    // 38 07: field 7 capabilities (7 << 3 | VARINT = 0x38) = 0x7
    //   (AcceptsStatus | OffersRemoteConfig | AcceptsEffectiveConfig).
    let msg = ServerToAgent::decode(&bytes[..]).unwrap();

    assert_eq!(msg.instance_uid, uid());
    assert_eq!(
        msg.capabilities,
        ServerCapabilities::AcceptsStatus as u64
            | ServerCapabilities::OffersRemoteConfig as u64
            | ServerCapabilities::AcceptsEffectiveConfig as u64
    );
    assert_eq!(msg.flags, 0);
    assert!(msg.error_response.is_none());
    assert!(msg.command.is_none());
    let rc = msg.remote_config.as_ref().expect("remote_config is set");
    assert_eq!(rc.config_hash, vec![1, 2, 3, 4]);
    let files = &rc.config.as_ref().expect("config is set").config_map;
    assert_eq!(files.len(), 1);
    let file = &files["pipeline.yaml"];
    assert_eq!(file.body, b"name: cpu");
    assert_eq!(file.content_type, "text/yaml");

    let built = ServerToAgent {
        instance_uid: uid(),
        remote_config: Some(AgentRemoteConfig {
            config: Some(config_map("pipeline.yaml", "name: cpu", "text/yaml")),
            config_hash: vec![1, 2, 3, 4],
        }),
        capabilities: 0x7,
        ..Default::default()
    };
    assert_eq!(built, msg);
    assert_eq!(built.encode_to_vec(), bytes);
}

/// The goodbye: agent_disconnect is an empty message, so only its tag and
/// a zero length appear.
#[test]
fn agent_disconnect_agent_to_server() {
    let msg = AgentToServer {
        instance_uid: uid(),
        sequence_num: 300,
        capabilities: 1,
        agent_disconnect: Some(AgentDisconnect {}),
        ..Default::default()
    };
    let want = hex("0a 10 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10
         10 ac 02
         20 01
         4a 00");
    // 10 ac 02: sequence_num 300 = 0b10_0101100 -> 2c|80 = ac, then 02.
    // 20 01: capabilities ReportsStatus.
    // 4a 00: field 9 (9 << 3 | LEN = 0x4a) agent_disconnect, length 0.
    assert_eq!(msg.encode_to_vec(), want);
    assert_eq!(AgentToServer::decode(&want[..]).unwrap(), msg);
}
