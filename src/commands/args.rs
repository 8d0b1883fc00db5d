//! Reading a command's arguments into typed values, with errors that name
//! the argument and the form it expects.

use std::time::Duration;

use serde_json::{Map, Value};

use super::catalog::{LEVELS, MAX_TTL_SECONDS};
use crate::proto::{AgentConfigFile, AgentConfigMap};

type Args = Map<String, Value>;

/// Arguments the command does not know are refused: a typo must not pass
/// as a default.
pub fn only(args: &Args, known: &[&str]) -> Result<(), String> {
    match args.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "unknown argument '{}'; this command takes {}",
            k.escape_default(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )),
        None => Ok(()),
    }
}

/// `"files"`: a map from name to `{"body", "content_type"}`.
pub fn files(args: &Args) -> Result<AgentConfigMap, String> {
    let Some(Value::Object(files)) = args.get("files") else {
        return Err(
            "\"files\" is required: an object from file name to {\"body\", \"content_type\"}"
                .into(),
        );
    };
    let mut map = AgentConfigMap::default();
    for (name, f) in files {
        let shown = name.escape_default();
        let Value::Object(f) = f else {
            return Err(format!("files['{shown}'] must be an object with \"body\""));
        };
        let body = match f.get("body") {
            Some(Value::String(b)) => b.clone(),
            _ => return Err(format!("files['{shown}'].body must be a string")),
        };
        let content_type = match f.get("content_type") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(c)) => c.clone(),
            _ => return Err(format!("files['{shown}'].content_type must be a string")),
        };
        if let Some(k) = f
            .keys()
            .find(|k| !["body", "content_type"].contains(&k.as_str()))
        {
            return Err(format!(
                "files['{shown}'] has an unknown field '{}'",
                k.escape_default()
            ));
        }
        map.config_map.insert(
            name.clone(),
            AgentConfigFile {
                body: body.into_bytes(),
                content_type,
            },
        );
    }
    Ok(map)
}

/// `"ttl_seconds"`: 1 second to a day.
pub fn ttl(args: &Args) -> Result<Duration, String> {
    match args.get("ttl_seconds").and_then(Value::as_u64) {
        Some(s) if (1..=MAX_TTL_SECONDS).contains(&s) => Ok(Duration::from_secs(s)),
        _ => Err(format!(
            "\"ttl_seconds\" is required: a whole number of seconds from 1 to {MAX_TTL_SECONDS}"
        )),
    }
}

/// `"level"`: one of Fluent Bit's log levels.
pub fn level(args: &Args) -> Result<&'static str, String> {
    let given = args.get("level").and_then(Value::as_str).unwrap_or("");
    let lower = given.to_ascii_lowercase();
    LEVELS
        .iter()
        .find(|l| **l == lower)
        .copied()
        .ok_or_else(|| format!("\"level\" must be one of {}", LEVELS.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Args {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn files_become_a_config_map() {
        let a = obj(
            json!({"files": {"": {"body": "[INPUT]\n", "content_type": "text/x-fluent-bit"}, "b.conf": {"body": "x"}}}),
        );
        let m = files(&a).unwrap();
        assert_eq!(m.config_map[""].body, b"[INPUT]\n");
        assert_eq!(m.config_map["b.conf"].content_type, "");
        assert!(files(&obj(json!({"files": {"a": {"body": 1}}}))).is_err());
        assert!(files(&obj(json!({"files": {"a": {"body": "", "mode": 1}}}))).is_err());
        assert!(files(&obj(json!({}))).is_err());
    }

    #[test]
    fn ttl_and_level_are_bounded() {
        assert_eq!(
            ttl(&obj(json!({"ttl_seconds": 60}))).unwrap(),
            Duration::from_secs(60)
        );
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!("60"),
            json!(MAX_TTL_SECONDS + 1),
        ] {
            assert!(ttl(&obj(json!({"ttl_seconds": bad}))).is_err());
        }
        assert_eq!(level(&obj(json!({"level": "DEBUG"}))).unwrap(), "debug");
        assert!(level(&obj(json!({"level": "loud"}))).is_err());
        assert!(only(&obj(json!({"levle": 1})), &["level"])
            .unwrap_err()
            .contains("'levle'"));
    }
}
