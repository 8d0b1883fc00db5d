//! Typed Fluent Bit commands over OpAMP custom messages.
//!
//! The wire format is fixed so servers and bots can rely on it: a request
//! is a `CustomMessage` with capability [`CAPABILITY`], `type` = the command
//! name and `data` = a UTF-8 JSON object (an optional `"id"` plus the
//! arguments); the reply has the same capability, `type` = `"result"` and
//! `data` = `{"id", "command", "ok", "error" | "result"}`.
//!
//! This module is the pure part: parsing, authorization, limits, schemas
//! and replies. Running a command (sampling, applying) is the agent's; the
//! core owns the OpAMP bytes.

pub mod args;
pub mod catalog;
pub mod gate;
pub mod views;

use serde_json::{Map, Value};

use crate::proto::CustomMessage;

pub use gate::{Gate, Limits};

/// The custom capability of Fluent Bit commands.
pub const CAPABILITY: &str = "io.fluentbit.command";
/// The `type` of every reply.
pub const REPLY_TYPE: &str = "result";

/// A request that passed parsing, authorization and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The request's `"id"`, echoed in the reply; `null` when absent.
    pub id: Value,
    pub command: String,
    /// The arguments: the data object without `"id"`.
    pub args: Map<String, Value>,
}

impl Request {
    pub fn ok(&self, result: Value) -> CustomMessage {
        reply(&self.id, &self.command, Ok(result))
    }

    pub fn fail(&self, error: impl Into<String>) -> CustomMessage {
        reply(&self.id, &self.command, Err(error.into()))
    }
}

/// A command still running after its request was answered `None`: the
/// agent polls it and replies when it ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    /// The `--dry-run` of a `validate` runs beside the agent thread.
    Validate,
    /// A temporary change being applied.
    Temporary {
        hash: Vec<u8>,
        ttl_seconds: u64,
        reverts_at_unix_ms: u64,
        level: Option<&'static str>,
    },
    /// A reload waiting for the new pipeline: done when the generation
    /// passes `from`.
    Reload {
        from: u64,
        since: std::time::Instant,
    },
}

/// Builds a reply message.
pub fn reply(id: &Value, command: &str, outcome: Result<Value, String>) -> CustomMessage {
    let mut data = Map::new();
    data.insert("id".into(), id.clone());
    // The name is the server's text, echoed: cut it, as error messages
    // are, so a long `type` cannot make a long reply (the fuzz found it).
    let command: String = command.chars().take(100).collect();
    data.insert("command".into(), Value::String(command));
    match outcome {
        Ok(result) => {
            data.insert("ok".into(), Value::Bool(true));
            data.insert("result".into(), result);
        }
        Err(error) => {
            data.insert("ok".into(), Value::Bool(false));
            data.insert("error".into(), Value::String(error));
        }
    }
    CustomMessage {
        capability: CAPABILITY.to_string(),
        r#type: REPLY_TYPE.to_string(),
        data: Value::Object(data).to_string().into_bytes(),
    }
}

/// Reads a request's body. `Err` carries the reply for a body that is not
/// a JSON object or has a bad `"id"`; the id is echoed when it was readable.
pub fn parse(m: &CustomMessage) -> Result<Request, CustomMessage> {
    let command = m.r#type.clone();
    let fail = |id: &Value, e: String| reply(id, &command, Err(e));
    let text = std::str::from_utf8(&m.data)
        .map_err(|_| fail(&Value::Null, "malformed request: data is not UTF-8".into()))?;
    let value: Value = if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(text).map_err(|e| {
            fail(
                &Value::Null,
                format!("malformed request: data is not JSON ({e})"),
            )
        })?
    };
    let Value::Object(mut args) = value else {
        return Err(fail(
            &Value::Null,
            "malformed request: data must be a JSON object".into(),
        ));
    };
    let id = args.remove("id").unwrap_or(Value::Null);
    if !matches!(id, Value::Null | Value::String(_) | Value::Number(_)) {
        return Err(fail(
            &Value::Null,
            "malformed request: \"id\" must be a string or a number".into(),
        ));
    }
    Ok(Request { id, command, args })
}

/// The reply to a custom message of another capability: the sender learns
/// what this agent speaks instead of hearing nothing.
pub fn unknown_capability(m: &CustomMessage) -> CustomMessage {
    let shown: String = m.capability.chars().take(200).collect();
    reply(
        &Value::Null,
        &m.r#type.chars().take(200).collect::<String>(),
        Err(format!(
            "unknown custom capability '{}'; this agent supports '{CAPABILITY}'",
            shown.escape_default()
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ty: &str, data: &str) -> CustomMessage {
        CustomMessage {
            capability: CAPABILITY.into(),
            r#type: ty.into(),
            data: data.as_bytes().to_vec(),
        }
    }

    fn body(m: &CustomMessage) -> Value {
        serde_json::from_slice(&m.data).unwrap()
    }

    #[test]
    fn a_request_splits_into_id_and_arguments() {
        let r = parse(&msg(
            "log_level",
            r#"{"id":"a1","level":"debug","ttl_seconds":60}"#,
        ))
        .unwrap();
        assert_eq!(r.id, Value::String("a1".into()));
        assert_eq!(r.command, "log_level");
        assert_eq!(r.args.len(), 2);
        let ok = body(&r.ok(serde_json::json!({"x": 1})));
        assert_eq!(ok["id"], "a1");
        assert_eq!(ok["ok"], true);
        assert_eq!(ok["result"]["x"], 1);
        assert!(ok.get("error").is_none());
        let bad = body(&r.fail("no"));
        assert_eq!(bad["ok"], false);
        assert_eq!(bad["error"], "no");
        assert!(bad.get("result").is_none());
    }

    #[test]
    fn an_empty_body_means_no_arguments() {
        let r = parse(&msg("health", "")).unwrap();
        assert_eq!(r.id, Value::Null);
        assert!(r.args.is_empty());
    }

    #[test]
    fn malformed_bodies_get_error_replies() {
        for data in ["{", "[1]", "\"x\"", r#"{"id":{"a":1}}"#] {
            let e = parse(&msg("health", data)).unwrap_err();
            let b = body(&e);
            assert_eq!(b["ok"], false, "{data}");
            assert!(
                b["error"]
                    .as_str()
                    .unwrap()
                    .starts_with("malformed request"),
                "{data}"
            );
            assert_eq!(e.capability, CAPABILITY);
            assert_eq!(e.r#type, REPLY_TYPE);
        }
        let e = parse(&CustomMessage {
            capability: CAPABILITY.into(),
            r#type: "health".into(),
            data: vec![0xff, 0xfe],
        })
        .unwrap_err();
        assert!(body(&e)["error"].as_str().unwrap().contains("UTF-8"));
    }
}
