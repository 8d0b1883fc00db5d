//! Who this agent is, in OpenTelemetry semantic-convention attributes.
//!
//! Host facts are read once; the description itself is a pure function of
//! them plus what is learned at run time (Fluent Bit's version), so the
//! collector can rebuild it every sample and send it only when it differs.

use crate::core::format_uuid;
use crate::proto::{any_value, AgentDescription, AnyValue, KeyValue};

/// Attribute naming the plugin's own version.
pub const PLUGIN_VERSION_KEY: &str = "fluentbit.opamp.plugin.version";
/// Present only while `service.version` is unknown, saying why.
pub const VERSION_UNKNOWN_KEY: &str = "fluentbit.version.unknown_reason";
/// Kept constant so an unreachable server does not churn the description.
pub const VERSION_UNKNOWN_REASON: &str = "Fluent Bit's HTTP server was not reachable; enable it with `HTTP_Server On` ([SERVICE]) or `http_server: on` (service:)";

/// Facts about the host and process, gathered once per process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    pub hostname: String,
    /// OTel `host.arch` value.
    pub arch: String,
    pub os_type: String,
    pub os_description: String,
    /// Kernel release, the OTel `os.version` for Linux.
    pub os_version: Option<String>,
    pub pid: u32,
}

impl HostFacts {
    pub fn gather() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        Self::from_sources(
            read("/proc/sys/kernel/hostname").as_deref(),
            read("/etc/os-release").as_deref(),
            read("/proc/sys/kernel/osrelease").as_deref(),
            std::env::consts::ARCH,
            std::process::id(),
        )
    }

    /// The pure part of [`gather`](Self::gather), for tests.
    pub fn from_sources(
        hostname: Option<&str>,
        os_release: Option<&str>,
        kernel_release: Option<&str>,
        rust_arch: &str,
        pid: u32,
    ) -> Self {
        let kernel = kernel_release.map(str::trim).filter(|k| !k.is_empty());
        let pretty = os_release.and_then(pretty_name);
        // The kernel release is `os.version`; the description names the
        // distribution (every message with a description carries both).
        let os_description = match (pretty, kernel) {
            (Some(p), _) => p,
            (None, Some(k)) => format!("Linux {k}"),
            (None, None) => "Linux".to_string(),
        };
        HostFacts {
            hostname: hostname.map(str::trim).unwrap_or_default().to_string(),
            arch: otel_arch(rust_arch).to_string(),
            os_type: "linux".to_string(),
            os_description,
            os_version: kernel.map(str::to_string),
            pid,
        }
    }
}

/// `PRETTY_NAME` from os-release, unquoted.
pub fn pretty_name(os_release: &str) -> Option<String> {
    let v = os_release
        .lines()
        .find_map(|l| l.trim().strip_prefix("PRETTY_NAME="))?
        .trim();
    let v = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(v);
    (!v.is_empty()).then(|| v.replace("\\\"", "\""))
}

/// Rust's target arch names mapped to OTel's `host.arch` values.
pub fn otel_arch(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "x86",
        "arm" => "arm32",
        "powerpc" => "ppc32",
        "powerpc64" => "ppc64",
        "s390x" => "s390x",
        other => other,
    }
}

/// Operator-chosen identity, from the plugin's properties.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub service_name: String,
    pub service_namespace: Option<String>,
    /// Extra non-identifying `key value` pairs; one whose key equals a
    /// built-in non-identifying attribute replaces it (for example a
    /// container overriding `host.name`).
    pub agent_attributes: Vec<(String, String)>,
}

pub fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
    }
}

pub fn int_kv(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
    }
}

pub fn double_kv(key: &str, value: f64) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::DoubleValue(value)),
        }),
    }
}

pub fn agent_description(
    id: &Identity,
    facts: &HostFacts,
    fluent_bit_version: Option<&str>,
    instance_uid: &[u8; 16],
) -> AgentDescription {
    let mut identifying = vec![string_kv("service.name", &id.service_name)];
    if let Some(ns) = id.service_namespace.as_deref().filter(|n| !n.is_empty()) {
        identifying.push(string_kv("service.namespace", ns));
    }
    let version = fluent_bit_version.map(str::trim).filter(|v| !v.is_empty());
    if let Some(v) = version {
        identifying.push(string_kv("service.version", v));
    }
    identifying.push(string_kv("service.instance.id", &format_uuid(instance_uid)));

    let mut other = vec![
        string_kv("host.name", &facts.hostname),
        string_kv("host.arch", &facts.arch),
        string_kv("os.type", &facts.os_type),
        string_kv("os.description", &facts.os_description),
    ];
    if let Some(k) = &facts.os_version {
        other.push(string_kv("os.version", k));
    }
    other.push(int_kv("process.pid", i64::from(facts.pid)));
    other.push(string_kv(PLUGIN_VERSION_KEY, crate::PLUGIN_VERSION));
    if version.is_none() {
        other.push(string_kv(VERSION_UNKNOWN_KEY, VERSION_UNKNOWN_REASON));
    }
    for (k, v) in &id.agent_attributes {
        match other.iter_mut().find(|kv| &kv.key == k) {
            Some(kv) => *kv = string_kv(k, v),
            None => other.push(string_kv(k, v)),
        }
    }
    AgentDescription {
        identifying_attributes: identifying,
        non_identifying_attributes: other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arch_names() {
        assert_eq!(otel_arch("x86_64"), "amd64");
        assert_eq!(otel_arch("aarch64"), "arm64");
        assert_eq!(otel_arch("riscv64"), "riscv64");
    }

    #[test]
    fn pretty_name_forms() {
        assert_eq!(
            pretty_name("NAME=x\nPRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\n").as_deref(),
            Some("Ubuntu 22.04.4 LTS")
        );
        assert_eq!(pretty_name("PRETTY_NAME=Alpine").as_deref(), Some("Alpine"));
        assert_eq!(pretty_name("NAME=x"), None);
    }

    #[test]
    fn gather_reads_this_machine() {
        let f = HostFacts::gather();
        assert_eq!(f.pid, std::process::id());
        assert_eq!(f.os_type, "linux");
        assert!(!f.hostname.is_empty());
        assert!(!f.os_description.is_empty());
    }
}
