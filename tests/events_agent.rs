//! Management event records from the whole client run in this process, as
//! Fluent Bit's collector would drain them. One agent per test binary: the
//! events context (UID, secrets) is process-wide, as in the plugin, where
//! exactly one agent runs.

mod support;

use std::time::{Duration, Instant};

use fluent_bit_opamp::core::format_uuid;
use fluent_bit_opamp::proto::OpAmpConnectionSettings;
use support::agent::Agent;
use support::msgpack::{as_record, decode_all, Mp};
use support::{messages, TestServer};

const WAIT: Duration = Duration::from_secs(20);

/// Drains until a record satisfies `want`; returns every record seen.
fn until(seen: &mut Vec<Mp>, want: impl Fn(&Mp) -> bool) -> Mp {
    let end = Instant::now() + WAIT;
    loop {
        if let Some(buf) = fluent_bit_opamp::events::drain() {
            for v in decode_all(&buf).unwrap() {
                seen.push(as_record(&v).unwrap().1.clone());
            }
        }
        if let Some(r) = seen.iter().find(|r| want(r)) {
            return r.clone();
        }
        assert!(Instant::now() < end, "no such record: {seen:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An endpoint move: the committed part is a `connection_settings_changed`
/// record with the offer's hash, the agent closes the old connection on
/// purpose (`disconnected`, ok) and connects to the new server; a header
/// value never appears.
#[test]
fn a_committed_part_is_a_connection_settings_changed_record() {
    const TOKEN: &str = "Bearer events-agent-secret-31337";
    let (a, b) = (TestServer::start(), TestServer::start());
    let header = format!("Authorization {TOKEN}");
    let props = [("connection_settings", "on"), ("header", header.as_str())];
    let _agent = Agent::start("events-move", &a.ws_url(), &props);
    let rec = a.wait_until("a first report", WAIT, |r| {
        r.ws.first().is_some_and(|c| !c.payloads.is_empty())
    });
    let raw_uid = rec.ws[0].messages()[0].instance_uid.clone();
    let uid = format_uuid(&raw_uid.clone().try_into().unwrap());
    let offer = OpAmpConnectionSettings {
        destination_endpoint: b.ws_url(),
        ..Default::default()
    };
    a.push_ws(messages::opamp_settings(&raw_uid, b"move", offer));

    let mut seen = Vec::new();
    let changed = until(&mut seen, |r| {
        r.str("event") == Some("connection_settings_changed")
    });
    assert_eq!(changed.str("outcome"), Some("ok"), "{changed:?}");
    assert_eq!(changed.str("part"), Some("opamp"));
    assert_eq!(
        changed.str("settings_hash"),
        Some("6d6f7665"),
        "hex of b\"move\""
    );
    let b_url = b.ws_url();
    until(&mut seen, |r| {
        r.str("event") == Some("connected") && r.str("endpoint") == Some(b_url.as_str())
    });
    let names: Vec<&str> = seen.iter().filter_map(|r| r.str("event")).collect();
    println!("SUMMARY agent: {}", names.join(", "));
    assert_eq!(
        names,
        [
            "connected",
            "disconnected",
            "connection_settings_changed",
            "connected"
        ]
    );
    assert_eq!(seen[1].str("outcome"), Some("ok"), "closed on purpose");
    assert_eq!(seen[1].str("endpoint"), Some(a.ws_url().as_str()));
    for r in &seen {
        assert_eq!(r.str("instance_uid"), Some(uid.as_str()));
        assert!(!format!("{r:?}").contains("31337"), "{r:?}");
    }
}
