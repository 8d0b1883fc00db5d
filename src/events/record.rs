//! One event as the msgpack record every supported Fluent Bit (2.2 to 5.x)
//! takes from a proxy input: `[EventTime, {map}]`.
//!
//! That is Fluent Bit's classic record form; 2.1 added the
//! `[[EventTime, {metadata}], {map}]` form and kept reading the classic
//! one, so the classic one is what every version accepts. EventTime is
//! msgpack extension type 0, eight bytes: seconds then nanoseconds, both
//! big-endian u32. All strings are UTF-8 `str`; counts are unsigned ints.

use std::time::{SystemTime, UNIX_EPOCH};

use super::{Event, Value};
use crate::fbconf::text::{mask_values, REDACTED};

/// The longest reason kept, in bytes; longer ones are cut at a character
/// boundary and end in "…". It bounds a record, and so the queue.
pub const MAX_REASON: usize = 512;

/// The record of `event` at `now`, with every `secrets` value masked.
pub fn encode(event: &Event, instance_uid: &str, secrets: &[String], now: SystemTime) -> Vec<u8> {
    // Sized up front, so the record is one allocation of about its size:
    // the queue's memory is then what the records are.
    let texts: usize = event
        .fields
        .iter()
        .map(|(k, v)| k.len() + text_len(v))
        .sum();
    let reason = event.reason.as_ref().map_or(0, |r| r.len().min(MAX_REASON));
    let mut out = Vec::with_capacity(96 + instance_uid.len() + texts + reason);
    out.push(0x92);
    event_time(&mut out, now);
    let entries = 3 + usize::from(event.reason.is_some()) + event.fields.len();
    map_header(&mut out, entries);
    pair(&mut out, "event", event.kind.name());
    pair(&mut out, "outcome", event.outcome.name());
    pair(&mut out, "instance_uid", instance_uid);
    if let Some(r) = &event.reason {
        string(&mut out, "reason");
        text(&mut out, r, secrets);
    }
    for (k, v) in &event.fields {
        string(&mut out, k);
        match v {
            Value::Text(t) => text(&mut out, t, secrets),
            Value::Count(n) => uint(&mut out, *n),
        }
    }
    out
}

fn text_len(v: &Value) -> usize {
    match v {
        Value::Text(t) => 3 + t.len().min(MAX_REASON),
        Value::Count(_) => 9,
    }
}

/// A free text, secrets masked and cut to [`MAX_REASON`]; copied only
/// when it has to change.
fn text(out: &mut Vec<u8>, t: &str, secrets: &[String]) {
    let masked;
    let t = if secrets.iter().any(|s| t.contains(s.as_str())) {
        masked = mask_values(t, secrets, REDACTED);
        masked.as_str()
    } else {
        t
    };
    if t.len() <= MAX_REASON {
        return string(out, t);
    }
    let mut end = MAX_REASON - '…'.len_utf8();
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    string(out, &format!("{}…", &t[..end]));
}

fn event_time(out: &mut Vec<u8>, now: SystemTime) {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    out.extend([0xd7, 0x00]);
    // EventTime's seconds are a u32: good until 2106.
    out.extend((d.as_secs() as u32).to_be_bytes());
    out.extend(d.subsec_nanos().to_be_bytes());
}

fn map_header(out: &mut Vec<u8>, n: usize) {
    if n < 16 {
        out.push(0x80 | n as u8);
    } else {
        out.push(0xde);
        out.extend((n as u16).to_be_bytes());
    }
}

fn pair(out: &mut Vec<u8>, k: &str, v: &str) {
    string(out, k);
    string(out, v);
}

fn string(out: &mut Vec<u8>, s: &str) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n <= u8::MAX as usize {
        out.extend([0xd9, n as u8]);
    } else if n <= u16::MAX as usize {
        out.push(0xda);
        out.extend((n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend((n as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

fn uint(out: &mut Vec<u8>, n: u64) {
    if n < 128 {
        out.push(n as u8);
    } else if n <= u8::MAX as u64 {
        out.extend([0xcc, n as u8]);
    } else if n <= u16::MAX as u64 {
        out.push(0xcd);
        out.extend((n as u16).to_be_bytes());
    } else if n <= u32::MAX as u64 {
        out.push(0xce);
        out.extend((n as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend(n.to_be_bytes());
    }
}
