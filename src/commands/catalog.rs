//! Every command: its name, what it does, whether it changes anything, and
//! JSON Schemas of its arguments and result. `describe` sends these, so a
//! bot or an MCP wrapper can offer each command without code written for it.

use serde_json::{json, Value};

pub use crate::config::properties::{COMMAND_NAMES, DEFAULT_COMMANDS};

/// One command as `describe` lists it.
pub struct Spec {
    pub name: &'static str,
    pub description: &'static str,
    /// Changes the running pipeline: off unless the operator lists it, and
    /// one at a time.
    pub changing: bool,
}

pub const SPECS: &[Spec] = &[
    Spec { name: "describe", changing: false, description: "The commands this agent accepts now, given the operator's authorization, each with a JSON Schema of its arguments and result; and the limits." },
    Spec { name: "health", changing: false, description: "Samples Fluent Bit now: overall and per-component health and load (records/s in and out, retries, drops), CPU and RSS." },
    Spec { name: "metrics", changing: false, description: "A compact snapshot of Fluent Bit's counters per plugin instance." },
    Spec { name: "validate", changing: false, description: "Runs the checks an apply would (variables, the operator's policy, Fluent Bit's --dry-run) on a config map, and applies nothing." },
    Spec { name: "diagnostics", changing: false, description: "Version and build, plugins in use, the redacted effective config, the plugin's recent log lines, apply and connection history, process stats." },
    Spec { name: "reload", changing: true, description: "A hot reload of the current config; replies once the new pipeline runs." },
    Spec { name: "temporary_config", changing: true, description: "Applies a config map for ttl_seconds through the remote-config pipeline, then restores the config that ran before, even with the server gone or after a restart. A remote config from the server meanwhile replaces it and cancels the revert." },
    Spec { name: "log_level", changing: true, description: "Sets Fluent Bit's log level for ttl_seconds (a temporary change of the managed config's [SERVICE] section, classic configs), then reverts like temporary_config." },
];

pub fn spec(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name == name)
}

/// Longest time to live of a temporary change: a day.
pub const MAX_TTL_SECONDS: u64 = 86_400;
pub const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

fn id() -> Value {
    json!({"type": ["string", "number", "null"], "description": "Echoed in the reply."})
}

fn object(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

fn files() -> Value {
    json!({
        "type": "object",
        "description": "Config map: file name to file; '' (or the managed file's name) is the main file.",
        "additionalProperties": object(json!({
            "body": {"type": "string"},
            "content_type": {"type": "string"}
        }), &["body"])
    })
}

fn ttl() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": MAX_TTL_SECONDS})
}

fn temporary_result() -> Value {
    object(
        json!({
            "hash": {"type": "string", "description": "Hex hash of the temporary config."},
            "ttl_seconds": {"type": "integer"},
            "reverts_at_unix_ms": {"type": "integer"},
            "level": {"type": "string"}
        }),
        &["hash", "ttl_seconds", "reverts_at_unix_ms"],
    )
}

/// The JSON Schema of a command's request data.
pub fn arguments(name: &str) -> Value {
    match name {
        "validate" => object(json!({"id": id(), "files": files()}), &["files"]),
        "temporary_config" => object(
            json!({"id": id(), "files": files(), "ttl_seconds": ttl()}),
            &["files", "ttl_seconds"],
        ),
        "log_level" => object(
            json!({"id": id(), "level": {"type": "string", "enum": LEVELS}, "ttl_seconds": ttl()}),
            &["level", "ttl_seconds"],
        ),
        _ => object(json!({"id": id()}), &[]),
    }
}

fn counters() -> Value {
    let n = json!({"type": "integer", "minimum": 0});
    json!({"type": "object", "properties": {
        "kind": {"type": "string", "enum": ["input", "filter", "output"]},
        "records": n, "bytes": n, "errors": n, "retries": n, "retries_failed": n,
        "dropped_records": n, "retried_records": n, "filter_dropped": n, "filter_added": n,
        "paused": {"type": "boolean"}
    }, "required": ["kind", "records"]})
}

fn health_result() -> Value {
    let part = json!({"type": "object", "properties": {
        "healthy": {"type": "boolean"}, "status": {"type": "string"}, "last_error": {"type": "string"}
    }, "required": ["healthy", "status"]});
    let n = json!({"type": "integer", "minimum": 0});
    json!({"type": "object", "properties": {
        "healthy": {"type": "boolean"},
        "status": {"type": "string", "description": "Load in words: CPU, RSS, records/s in and out."},
        "last_error": {"type": "string"},
        "components": {"type": "object", "additionalProperties": part},
        "totals": {"type": ["object", "null"], "properties": {
            "records_in": n, "records_out": n, "retries": n, "retries_failed": n, "dropped_records": n
        }},
        "process": {"type": ["object", "null"], "properties": {"cpu_seconds": {"type": "number"}, "rss_bytes": n}}
    }, "required": ["healthy", "status", "components"]})
}

/// The JSON Schema of a command's `result`.
pub fn result(name: &str) -> Value {
    let string_list = json!({"type": "array", "items": {"type": "string"}});
    match name {
        "describe" => json!({"type": "object", "properties": {
            "capability": {"type": "string"},
            "commands": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}, "description": {"type": "string"}, "changing": {"type": "boolean"},
                "arguments": {"type": "object"}, "result": {"type": "object"}
            }, "required": ["name", "description", "changing", "arguments", "result"]}},
            "limits": {"type": "object"}
        }, "required": ["capability", "commands", "limits"]}),
        "health" => health_result(),
        "metrics" => json!({"type": "object", "properties": {
            "uptime_secs": {"type": ["integer", "null"]},
            "reload_count": {"type": ["integer", "null"]},
            "components": {"type": "object", "additionalProperties": counters()}
        }, "required": ["components"]}),
        "validate" => json!({"type": "object", "properties": {
            "would_apply": {"type": "boolean"},
            "policy": object(json!({"ok": {"type": "boolean"}, "error": {"type": "string"}}), &["ok"]),
            "fluent_bit": object(json!({"ran": {"type": "boolean"}, "ok": {"type": "boolean"}, "error": {"type": "string"}}), &["ran", "ok"]),
            "hot_reload": {"type": ["boolean", "null"]}
        }, "required": ["would_apply", "policy", "fluent_bit"]}),
        "diagnostics" => json!({"type": "object", "properties": {
            "plugin_version": {"type": "string"},
            "fluent_bit_version": {"type": ["string", "null"]},
            "build": {"type": "object"},
            "plugins_in_use": string_list,
            "effective_config": {"type": "object", "additionalProperties": {"type": "string"}},
            "log": string_list,
            "apply_history": string_list,
            "connection_history": string_list,
            "remote_config": {"type": ["object", "null"]},
            "temporary": {"type": ["object", "null"]},
            "process": {"type": ["object", "null"]}
        }, "required": ["plugin_version", "build", "log", "apply_history", "connection_history"]}),
        "reload" => object(json!({"generation": {"type": "integer"}}), &["generation"]),
        "temporary_config" | "log_level" => temporary_result(),
        _ => json!({"type": "object"}),
    }
}

/// `describe`'s entry for one command.
pub fn describe(s: &Spec) -> Value {
    json!({
        "name": s.name,
        "description": s.description,
        "changing": s.changing,
        "arguments": arguments(s.name),
        "result": result(s.name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_name_has_one_spec() {
        assert_eq!(SPECS.len(), COMMAND_NAMES.len());
        for n in COMMAND_NAMES {
            assert!(spec(n).is_some(), "{n}");
        }
        for n in DEFAULT_COMMANDS.split(',') {
            assert!(
                !spec(n).unwrap().changing,
                "{n} is on by default, so it must not change anything"
            );
        }
    }
}
