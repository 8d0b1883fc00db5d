//! Fluent Bit commands against the test server, with the whole client in
//! this process: read-only commands, authorization, malformed bodies,
//! unknown commands and capabilities, rate limiting, and `describe`'s
//! schemas checked against every real request and reply. (Changing
//! commands reload, which would signal this process: they run through the
//! C host in tests/c_host_commands.rs.)

mod support;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use support::agent::Agent;
use support::commands::{replies, reply_to, validate};
use support::{messages, TestServer};

const WAIT: Duration = Duration::from_secs(15);

fn managed(name: &str) -> PathBuf {
    let dir = support::fluent_bit::tmpdir(name);
    let m = dir.join("managed.conf");
    std::fs::write(&m, "").unwrap();
    m
}

fn connected(server: &TestServer) {
    server.wait_until("agent connected", WAIT, |r| {
        r.ws.iter().any(|c| !c.payloads.is_empty())
    });
}

fn ask(server: &TestServer, command: &str, data: Value) -> Value {
    server.push_ws(messages::command(command, &data.to_string()));
    reply_to(server, &data["id"], WAIT)
}

fn start(name: &str, server: &TestServer, extra: &[(&str, &str)]) -> (Agent, PathBuf) {
    let m = managed(name);
    let mut props = vec![
        ("remote_config", "on"),
        ("managed_config", m.to_str().unwrap()),
        // Nothing listens there: metrics must say so, not hang.
        ("http_server", "http://127.0.0.1:9"),
    ];
    props.extend_from_slice(extra);
    // Leaked for the agent's life: the strings outlive the call.
    let props: Vec<(&str, &str)> = props
        .into_iter()
        .map(|(k, v)| (k, &*Box::leak(v.to_string().into_boxed_str())))
        .collect();
    let a = Agent::start(name, &server.ws_url(), &props);
    connected(server);
    (a, m)
}

#[test]
fn read_only_commands_answer_and_match_describes_schemas() {
    let server = TestServer::start();
    let (_agent, managed_file) = start("cmd-readonly", &server, &[]);

    let caps = server.wait_until("custom capabilities", WAIT, |r| {
        r.ws.iter()
            .flat_map(|c| c.messages())
            .any(|m| m.custom_capabilities.is_some())
    });
    let advertised: Vec<String> = caps
        .ws
        .iter()
        .flat_map(|c| c.messages())
        .find_map(|m| m.custom_capabilities)
        .unwrap()
        .capabilities;
    assert_eq!(advertised, vec!["io.fluentbit.command".to_string()]);

    let d = ask(&server, "describe", json!({"id": "d"}));
    assert_eq!(d["ok"], true, "{d}");
    let listed: Vec<&str> = d["result"]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        ["describe", "health", "metrics", "validate", "diagnostics"]
    );
    let schema = |name: &str, part: &str| -> Value {
        d["result"]["commands"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()[part]
            .clone()
    };

    let denied = "[INPUT]\n    Name exec\n    Command id\n";
    let good = "[INPUT]\n    Name dummy\n    Tag t\n";
    let requests = [
        ("describe", json!({"id": "d2"})),
        ("health", json!({"id": 1})),
        ("diagnostics", json!({"id": "diag"})),
        (
            "validate",
            json!({"id": "v-bad", "files": {"": {"body": denied, "content_type": "text/x-fluent-bit"}}}),
        ),
        (
            "validate",
            json!({"id": "v-good", "files": {"": {"body": good}}}),
        ),
    ];
    for (command, data) in &requests {
        let errs = validate(&schema(command, "arguments"), data, "");
        assert!(errs.is_empty(), "{command} request vs its schema: {errs:?}");
        let r = ask(&server, command, data.clone());
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["command"], *command);
        let errs = validate(&schema(command, "result"), &r["result"], "");
        assert!(
            errs.is_empty(),
            "{command} reply vs its schema: {errs:?}\n{r}"
        );
    }
    let all = replies(&server);
    let by_id = |id: Value| all.iter().find(|r| r["id"] == id).unwrap().clone();

    let bad = by_id(json!("v-bad"));
    assert_eq!(bad["result"]["would_apply"], false);
    assert_eq!(bad["result"]["policy"]["ok"], false);
    assert!(
        bad["result"]["policy"]["error"]
            .as_str()
            .unwrap()
            .contains("exec"),
        "{bad}"
    );
    assert_eq!(bad["result"]["fluent_bit"]["ran"], false);
    let good_r = by_id(json!("v-good"));
    assert_eq!(good_r["result"]["policy"]["ok"], true, "{good_r}");
    assert_eq!(good_r["result"]["would_apply"], true, "{good_r}");

    let diag = by_id(json!("diag"));
    let log = diag["result"]["log"].as_array().unwrap();
    assert!(
        log.iter()
            .any(|l| l.as_str().unwrap().contains("command 'describe'")),
        "{diag}"
    );
    assert!(
        diag["result"]["connection_history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("connected to")),
        "{diag}"
    );

    // Validating applied nothing.
    assert_eq!(std::fs::read_to_string(&managed_file).unwrap(), "");
    let leftovers: Vec<_> = std::fs::read_dir(managed_file.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "managed.conf")
        .collect();
    assert!(
        leftovers.is_empty(),
        "the check staged and cleaned up: {leftovers:?}"
    );

    // Without Fluent Bit's HTTP server, metrics says why.
    let r = ask(&server, "metrics", json!({"id": "m"}));
    assert_eq!(r["ok"], false);
    assert!(r["error"].as_str().unwrap().contains("HTTP server"), "{r}");
}

#[test]
fn refusals_and_errors_each_get_a_reply() {
    let server = TestServer::start();
    let (_agent, _) = start("cmd-refusals", &server, &[("commands", "describe,health")]);

    let r = ask(&server, "reload", json!({"id": "r"}));
    assert_eq!(r["ok"], false);
    let e = r["error"].as_str().unwrap();
    assert!(
        e.contains("commands = describe,health") && e.contains("'reload' is not listed"),
        "{e}"
    );

    let r = ask(&server, "validate", json!({"id": "v", "files": {}}));
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("'validate' is not listed"),
        "{r}"
    );

    let r = ask(&server, "make_coffee", json!({"id": "u"}));
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .starts_with("unknown command 'make_coffee'"),
        "{r}"
    );

    let r = ask(&server, "health", json!({"id": "a", "verbose": true}));
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("unknown argument 'verbose'"),
        "{r}"
    );

    // A malformed body cannot carry an id: the reply's is null.
    let before = replies(&server).len();
    server.push_ws(messages::command("health", "{not json"));
    server.push_ws(messages::custom("com.example.other", "ping", "{}"));
    server.wait_until("two more replies", WAIT, |_| {
        replies(&server).len() >= before + 2
    });
    let rs = replies(&server);
    let malformed = &rs[before];
    assert_eq!(malformed["id"], Value::Null);
    assert!(
        malformed["error"]
            .as_str()
            .unwrap()
            .starts_with("malformed request"),
        "{malformed}"
    );
    let other = &rs[before + 1];
    assert!(
        other["error"]
            .as_str()
            .unwrap()
            .contains("unknown custom capability 'com.example.other'"),
        "{other}"
    );
}

#[test]
fn a_burst_beyond_the_rate_limit_is_refused_and_answered() {
    let server = TestServer::start();
    let (_agent, _) = start("cmd-rate", &server, &[]);
    for i in 0..16 {
        server.push_ws(messages::command("describe", &json!({"id": i}).to_string()));
    }
    let all = server.wait_until("16 replies", WAIT, |_| replies(&server).len() >= 16);
    drop(all);
    let rs = replies(&server);
    let limited: Vec<&Value> = rs
        .iter()
        .filter(|r| {
            r["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("rate limit"))
        })
        .collect();
    let ok = rs.iter().filter(|r| r["ok"] == true).count();
    assert!(
        (10..=12).contains(&ok),
        "burst of 10 (plus refill while sending): {ok} ok"
    );
    assert_eq!(ok + limited.len(), 16, "every request answered");
    // The limit refills: a second later commands run again.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(ask(&server, "describe", json!({"id": "later"}))["ok"], true);
}

#[test]
fn commands_none_refuses_even_describe() {
    let server = TestServer::start();
    let (_agent, _) = start("cmd-none", &server, &[("commands", "none")]);
    let r = ask(&server, "describe", json!({"id": 5}));
    assert_eq!(r["ok"], false);
    assert!(
        r["error"].as_str().unwrap().contains("commands = none"),
        "{r}"
    );
}

/// Commands leave management event records (received, done, refused) in
/// the agent's own pipeline queue, read here as the input callback would.
#[test]
fn commands_leave_management_events() {
    let server = TestServer::start();
    let (_agent, _) = start("cmd-events", &server, &[("commands", "describe")]);
    assert_eq!(ask(&server, "describe", json!({"id": "e1"}))["ok"], true);
    assert_eq!(ask(&server, "reload", json!({"id": "e2"}))["ok"], false);
    let mut seen = Vec::new();
    let end = std::time::Instant::now() + WAIT;
    let want: [&[u8]; 3] = [b"command_received", b"command_done", b"command_refused"];
    while std::time::Instant::now() < end {
        if let Some(batch) = fluent_bit_opamp::events::drain() {
            seen.extend_from_slice(&batch);
        }
        let has = |w: &[u8]| seen.windows(w.len()).any(|x| x == w);
        if want.iter().all(|w| has(w)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("missing command events in {} bytes", seen.len());
}
