use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::record::encode;
use super::*;

#[path = "../../tests/support/msgpack.rs"]
mod msgpack;
use msgpack::{as_record, decode_all, Mp};

const UID: &str = "0192c3a4-0000-7000-8000-000000000001";

fn one(bytes: &[u8]) -> ((u32, u32), Mp) {
    let all = decode_all(bytes).unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    let (t, m) = as_record(&all[0]).unwrap();
    (t, m.clone())
}

#[test]
fn a_record_decodes_to_event_time_and_its_fields() {
    let at = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
    let e = Event::new(Kind::ConfigApplied)
        .hash("config_hash", &[0xab, 0x01])
        .count("generation", 300);
    let ((sec, nsec), m) = one(&encode(&e, UID, &[], at));
    assert_eq!((sec, nsec), (1_700_000_000, 123_456_789));
    assert_eq!(m.str("event"), Some("config_applied"));
    assert_eq!(m.str("outcome"), Some("ok"));
    assert_eq!(m.str("instance_uid"), Some(UID));
    assert_eq!(m.str("config_hash"), Some("ab01"));
    assert_eq!(m.uint("generation"), Some(300));
    assert_eq!(m.get("reason"), None, "no reason given, none written");
}

#[test]
fn every_kind_has_its_name_and_default_outcome() {
    let cases = [
        (Kind::Connected, "connected", "ok"),
        (Kind::Disconnected, "disconnected", "failed"),
        (Kind::ConfigOffered, "config_offered", "pending"),
        (Kind::ConfigRefused, "config_refused", "refused"),
        (Kind::ConfigApplied, "config_applied", "ok"),
        (Kind::ConfigFailed, "config_failed", "failed"),
        (Kind::ConfigRolledBack, "config_rolled_back", "failed"),
        (Kind::CommandReceived, "command_received", "pending"),
        (Kind::CommandDone, "command_done", "ok"),
        (Kind::CommandRefused, "command_refused", "refused"),
        (
            Kind::TemporaryChangeReverted,
            "temporary_change_reverted",
            "ok",
        ),
        (
            Kind::ConnectionSettingsChanged,
            "connection_settings_changed",
            "ok",
        ),
        (Kind::EventsDropped, "events_dropped", "ok"),
    ];
    for (kind, name, outcome) in cases {
        let (_, m) = one(&encode(&Event::new(kind), UID, &[], SystemTime::now()));
        assert_eq!(m.str("event"), Some(name));
        assert_eq!(m.str("outcome"), Some(outcome), "{name}");
    }
}

#[test]
fn long_strings_and_many_fields_take_the_wider_forms() {
    // str8 (32..255 bytes), str16 (256..), map16 (16 entries or more),
    // and every width of unsigned int.
    let mut e = Event::new(Kind::CommandDone)
        .field("a", "x".repeat(40))
        .reason("é".repeat(200));
    let counts = [
        0u64,
        127,
        128,
        255,
        256,
        65_535,
        65_536,
        u32::MAX as u64 + 1,
    ];
    const KEYS: [&str; 8] = ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"];
    for (k, n) in KEYS.iter().zip(counts) {
        e = e.count(k, n);
    }
    e = e.field("d", "y").field("e", "z").field("f", "w");
    let (_, m) = one(&encode(&e, UID, &[], SystemTime::now()));
    let Mp::Map(entries) = &m else { panic!() };
    assert_eq!(entries.len(), 16);
    assert_eq!(m.str("a").map(str::len), Some(40));
    assert_eq!(m.str("reason"), Some("é".repeat(200).as_str()));
    for (k, n) in KEYS.iter().zip(counts) {
        assert_eq!(m.uint(k), Some(n), "{k}");
    }
}

#[test]
fn a_long_reason_is_cut_at_a_character_boundary() {
    let e = Event::new(Kind::ConfigFailed).reason("ü".repeat(MAX_REASON));
    let (_, m) = one(&encode(&e, UID, &[], SystemTime::now()));
    let r = m.str("reason").unwrap();
    assert!(r.len() <= MAX_REASON, "{}", r.len());
    assert!(r.len() > MAX_REASON - 8, "cut no more than needed");
    assert!(r.ends_with('…'));
}

#[test]
fn secrets_never_reach_a_record() {
    let secrets = vec!["Bearer s3cr3t-token".to_string(), "s3cr3t-token".into()];
    let e = Event::new(Kind::Disconnected)
        .reason("401 for header Authorization: Bearer s3cr3t-token")
        .field("endpoint", "wss://h/v1/opamp?key=s3cr3t-token");
    let bytes = encode(&e, UID, &secrets, SystemTime::now());
    let raw = String::from_utf8_lossy(&bytes);
    assert!(!raw.contains("s3cr3t"), "{raw}");
    let (_, m) = one(&bytes);
    assert_eq!(
        m.str("reason"),
        Some("401 for header Authorization: <redacted>")
    );
    assert_eq!(m.str("endpoint"), Some("wss://h/v1/opamp?key=<redacted>"));
}

#[test]
fn the_queue_keeps_the_newest_and_counts_what_it_drops() {
    let mut q = Queue::new();
    for i in 0..CAPACITY + 5 {
        q.push(vec![i as u8]);
    }
    assert_eq!(q.len(), CAPACITY);
    assert_eq!(q.bytes(), CAPACITY);
    assert_eq!(q.take_dropped(), 5);
    assert_eq!(q.take_dropped(), 0, "counted once");
    assert_eq!(q.dropped_total(), 5);
    let mut out = Vec::new();
    q.drain_into(&mut out);
    let want: Vec<u8> = (5..CAPACITY + 5).map(|i| i as u8).collect();
    assert_eq!(out, want, "oldest dropped, order kept");
    assert!(q.is_empty());
    assert_eq!(q.bytes(), 0);
}

/// The process-wide queue, in one test: the statics are shared by every
/// test of this binary.
#[test]
fn emit_and_drain_through_the_global_queue() {
    set_enabled(false);
    emit(Event::new(Kind::Connected));
    assert!(!has_pending(), "off: nothing queued");
    assert_eq!(drain(), None);

    set_enabled(true);
    set_instance_uid(UID);
    set_secrets(vec!["hunter22".into()]);
    emit(Event::new(Kind::Connected).field("endpoint", "wss://x/?t=hunter22"));
    emit(Event::new(Kind::ConfigOffered).hash("config_hash", b"\x01"));
    assert!(has_pending());
    let buf = drain().expect("two records");
    assert!(!has_pending());
    let all = decode_all(&buf).unwrap();
    let names: Vec<_> = all
        .iter()
        .map(|r| as_record(r).unwrap().1.str("event").unwrap().to_string())
        .collect();
    assert_eq!(names, ["connected", "config_offered"]);
    let first = as_record(&all[0]).unwrap().1;
    assert_eq!(first.str("instance_uid"), Some(UID));
    assert_eq!(first.str("endpoint"), Some("wss://x/?t=<redacted>"));

    // Overflow: the drain starts with one record counting the loss.
    let before = dropped_total();
    for _ in 0..CAPACITY + 3 {
        emit(Event::new(Kind::CommandReceived));
    }
    let all = decode_all(&drain().unwrap()).unwrap();
    assert_eq!(all.len(), CAPACITY + 1);
    let note = as_record(&all[0]).unwrap().1;
    assert_eq!(note.str("event"), Some("events_dropped"));
    assert_eq!(note.uint("dropped"), Some(3));
    assert_eq!(note.uint("dropped_total"), Some(before + 3));
    assert_eq!(dropped_total(), before + 3);

    // Turning events off drops what waits.
    emit(Event::new(Kind::Connected));
    set_enabled(false);
    assert!(!has_pending());
    assert_eq!(drain(), None);
}
