//! The command decoder: a `CustomMessage` from the server through the gate
//! (capability, size, JSON body, rate, catalog, authorization) and the
//! typed argument readers each command uses.

use std::time::{Duration, Instant};

use fluent_bit_opamp::commands::{args, catalog, Gate, Limits, CAPABILITY, REPLY_TYPE};
use fluent_bit_opamp::proto::CustomMessage;
use serde_json::Value;

use super::{text, Input};

/// Never panics; every refusal is one well-formed `result` reply that
/// says `ok: false`, and a long input cannot make a long reply.
pub fn command_request(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let names: Vec<&str> = catalog::SPECS.iter().map(|s| s.name).collect();
    let r#type = match usize::from(flags >> 4) {
        i if i < names.len() => names[i].to_string(),
        _ => text(input.field(b'\0')),
    };
    let capability = if flags & 1 == 0 {
        CAPABILITY.to_string()
    } else {
        text(input.field(b'\0'))
    };
    let m = CustomMessage {
        capability,
        r#type,
        data: input.rest().to_vec(),
    };
    let allowed = names.iter().map(|n| n.to_string()).collect();
    let mut gate = Gate::new(allowed, Limits::new(4096));
    if flags & 2 == 2 {
        gate.started("reload");
    }
    match gate.admit(Instant::now() + Duration::from_secs(1), &m) {
        Err(reply) => check_refusal(&reply, m.data.len()),
        Ok(req) => {
            // What `agent/commands.rs` reads, per command.
            let _ = args::only(&req.args, &["files", "ttl_seconds", "level"]);
            let _ = args::files(&req.args);
            let _ = args::ttl(&req.args);
            let _ = args::level(&req.args);
            let reply = req.fail("x");
            check_refusal(&reply, m.data.len());
        }
    }
}

fn check_refusal(reply: &CustomMessage, data_len: usize) {
    assert_eq!(reply.capability, CAPABILITY);
    assert_eq!(reply.r#type, REPLY_TYPE);
    let v: Value = serde_json::from_slice(&reply.data).expect("a reply is JSON");
    assert_eq!(v["ok"], Value::Bool(false), "{v}");
    assert!(v["error"].is_string(), "{v}");
    // Only the request's "id" comes back whole (JSON may escape a byte as
    // six); the command name (100 chars) and echoed names (at most 200
    // chars, escaped to at most 10 bytes each) are cut.
    assert!(
        reply.data.len() <= 4096 + 6 * data_len,
        "reply of {} bytes for {data_len} bytes of data",
        reply.data.len()
    );
}
