//! Agent description: OTel semantic-convention attributes, identifying and not.

use fluent_bit_opamp::proto::{any_value::Value, AgentDescription, KeyValue};
use fluent_bit_opamp::status::description::{
    agent_description, HostFacts, Identity, PLUGIN_VERSION_KEY, VERSION_UNKNOWN_KEY,
};

const UID: [u8; 16] = [
    0x01, 0x92, 0xc3, 0xa4, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 0x2a,
];

fn facts() -> HostFacts {
    HostFacts::from_sources(
        Some("node-7\n"),
        Some("NAME=\"Ubuntu\"\nPRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\nID=ubuntu\n"),
        Some("6.8.0-45-generic\n"),
        "aarch64",
        4242,
    )
}

fn get<'a>(kvs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    kvs.iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn s(kvs: &[KeyValue], key: &str) -> Option<String> {
    match get(kvs, key)? {
        Value::StringValue(v) => Some(v.clone()),
        other => panic!("{key} is not a string: {other:?}"),
    }
}

fn keys(kvs: &[KeyValue]) -> Vec<&str> {
    kvs.iter().map(|kv| kv.key.as_str()).collect()
}

fn identity() -> Identity {
    Identity {
        service_name: "io.fluentbit.fluent-bit".into(),
        service_namespace: Some("edge".into()),
        agent_attributes: vec![
            ("deployment.environment.name".into(), "prod".into()),
            ("host.name".into(), "container-alias".into()),
        ],
    }
}

#[test]
fn identifying_attributes() {
    let d = agent_description(&identity(), &facts(), Some("4.2.8"), &UID);
    assert_eq!(
        keys(&d.identifying_attributes),
        vec![
            "service.name",
            "service.namespace",
            "service.version",
            "service.instance.id"
        ]
    );
    let id = &d.identifying_attributes;
    assert_eq!(
        s(id, "service.name").as_deref(),
        Some("io.fluentbit.fluent-bit")
    );
    assert_eq!(s(id, "service.namespace").as_deref(), Some("edge"));
    assert_eq!(s(id, "service.version").as_deref(), Some("4.2.8"));
    assert_eq!(
        s(id, "service.instance.id").as_deref(),
        Some("0192c3a4-0000-7000-8000-00000000002a")
    );
}

#[test]
fn non_identifying_attributes() {
    let d = agent_description(&identity(), &facts(), Some("4.2.8"), &UID);
    let other = &d.non_identifying_attributes;
    assert_eq!(s(other, "host.arch").as_deref(), Some("arm64"));
    assert_eq!(s(other, "os.type").as_deref(), Some("linux"));
    // The kernel release is os.version's, not repeated in the description.
    assert_eq!(
        s(other, "os.description").as_deref(),
        Some("Ubuntu 24.04.1 LTS")
    );
    assert_eq!(s(other, "os.version").as_deref(), Some("6.8.0-45-generic"));
    assert_eq!(get(other, "process.pid"), Some(&Value::IntValue(4242)));
    assert_eq!(
        s(other, PLUGIN_VERSION_KEY).as_deref(),
        Some(fluent_bit_opamp::PLUGIN_VERSION)
    );
    assert_eq!(
        s(other, "deployment.environment.name").as_deref(),
        Some("prod")
    );
    // An operator attribute with a built-in key replaces it, once.
    assert_eq!(s(other, "host.name").as_deref(), Some("container-alias"));
    assert_eq!(keys(other).iter().filter(|k| **k == "host.name").count(), 1);
    assert_eq!(s(other, VERSION_UNKNOWN_KEY), None);
}

#[test]
fn unknown_version_is_omitted_and_explained() {
    let mut id = identity();
    id.service_namespace = None;
    let d = agent_description(&id, &facts(), None, &UID);
    assert_eq!(
        keys(&d.identifying_attributes),
        vec!["service.name", "service.instance.id"]
    );
    let why = s(&d.non_identifying_attributes, VERSION_UNKNOWN_KEY).expect("reason given");
    assert!(why.contains("HTTP_Server On"), "{why}");
    assert_eq!(
        agent_description(&id, &facts(), Some("  "), &UID),
        d,
        "blank is unknown too"
    );
}

#[test]
fn rebuilding_is_deterministic_and_changes_with_version() {
    let a: AgentDescription = agent_description(&identity(), &facts(), Some("4.2.8"), &UID);
    assert_eq!(
        a,
        agent_description(&identity(), &facts(), Some("4.2.8"), &UID)
    );
    assert_ne!(
        a,
        agent_description(&identity(), &facts(), Some("5.1.1"), &UID)
    );
}

#[test]
fn sparse_hosts_still_describe_themselves() {
    let f = HostFacts::from_sources(None, None, None, "x86_64", 1);
    assert_eq!(
        (f.arch.as_str(), f.os_description.as_str()),
        ("amd64", "Linux")
    );
    let f = HostFacts::from_sources(Some("h"), None, Some("6.1"), "riscv64", 1);
    assert_eq!(
        (f.arch.as_str(), f.os_description.as_str()),
        ("riscv64", "Linux 6.1")
    );
}
