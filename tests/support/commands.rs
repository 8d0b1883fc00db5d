//! Fluent Bit commands from the test server's side: waiting for replies,
//! and a small JSON Schema validator (the subset `describe` uses: type,
//! properties, required, additionalProperties, items, enum, minimum,
//! maximum) to hold every real request and reply to the advertised schemas.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::TestServer;

/// The reply whose `"id"` is `id`, waited for.
pub fn reply_to(server: &TestServer, id: &Value, timeout: Duration) -> Value {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = replies(server).into_iter().find(|v| v["id"] == *id) {
            return v;
        }
        assert!(
            Instant::now() < end,
            "no reply to {id}; got {:#?}",
            replies(server)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every reply's data, in order; each must be a well-formed reply.
pub fn replies(server: &TestServer) -> Vec<Value> {
    server
        .custom_messages()
        .into_iter()
        .map(|m| {
            assert_eq!(m.capability, "io.fluentbit.command");
            assert_eq!(m.r#type, "result");
            let v: Value = serde_json::from_slice(&m.data).expect("reply data is JSON");
            assert!(v["ok"].is_boolean() && v["command"].is_string(), "{v}");
            assert!(v.get("id").is_some(), "{v}");
            if v["ok"] == true {
                assert!(v["result"].is_object() && v.get("error").is_none(), "{v}");
            } else {
                assert!(v["error"].is_string() && v.get("result").is_none(), "{v}");
            }
            v
        })
        .collect()
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_u64() || v.is_i64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        other => panic!("schema uses an unknown type {other}"),
    }
}

/// Errors of `v` against `schema`, with JSON pointers.
pub fn validate(schema: &Value, v: &Value, at: &str) -> Vec<String> {
    let mut errs = Vec::new();
    match &schema["type"] {
        Value::String(t) if !type_ok(t, v) => errs.push(format!("{at}: not {t}: {v}")),
        Value::Array(ts) if !ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)) => {
            errs.push(format!("{at}: not any of {ts:?}: {v}"))
        }
        _ => {}
    }
    if !errs.is_empty() {
        return errs;
    }
    if let Some(e) = schema["enum"].as_array() {
        if !e.contains(v) {
            errs.push(format!("{at}: {v} not in {e:?}"));
        }
    }
    if let (Some(min), Some(n)) = (schema["minimum"].as_f64(), v.as_f64()) {
        if n < min {
            errs.push(format!("{at}: {n} < {min}"));
        }
    }
    if let (Some(max), Some(n)) = (schema["maximum"].as_f64(), v.as_f64()) {
        if n > max {
            errs.push(format!("{at}: {n} > {max}"));
        }
    }
    if let Some(obj) = v.as_object() {
        let props = schema["properties"].as_object();
        for r in schema["required"].as_array().into_iter().flatten() {
            if !obj.contains_key(r.as_str().unwrap()) {
                errs.push(format!("{at}: missing required {r}"));
            }
        }
        for (k, val) in obj {
            let path = format!("{at}/{k}");
            match props.and_then(|p| p.get(k)) {
                Some(s) => errs.extend(validate(s, val, &path)),
                None => match &schema["additionalProperties"] {
                    Value::Bool(false) => errs.push(format!("{path}: not allowed")),
                    s @ Value::Object(_) => errs.extend(validate(s, val, &path)),
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            errs.extend(validate(items, x, &format!("{at}/{i}")));
        }
    }
    errs
}

#[test]
fn the_validator_can_fail() {
    let s = serde_json::json!({"type": "object", "properties": {"a": {"type": "integer", "minimum": 1}},
        "required": ["a"], "additionalProperties": false});
    assert!(validate(&s, &serde_json::json!({"a": 2}), "").is_empty());
    assert_eq!(validate(&s, &serde_json::json!({"a": 0}), "").len(), 1);
    assert_eq!(validate(&s, &serde_json::json!({"b": 1}), "").len(), 2);
    assert_eq!(validate(&s, &serde_json::json!([]), "").len(), 1);
}
