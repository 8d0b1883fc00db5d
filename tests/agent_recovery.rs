//! The agent thread's panic boundary: a panic in a status step (a sample)
//! or an apply step (a remote config offer) is logged through the plugin's
//! log, and the client comes back on its own, with its instance UID and
//! sequence numbers kept. The faults are injected with `FLB_OPAMP_FAULT`,
//! which debug builds (the ones tests use) read. Each point fires once per
//! process and the variable is the process's, so one test runs both
//! scenarios in turn.

mod support;

use std::sync::{Mutex, Once};
use std::time::Duration;

use fluent_bit_opamp::logging::{self, Level};
use support::agent::Agent;
use support::{messages, TestServer};

const WAIT: Duration = Duration::from_secs(15);

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Both faults armed for the whole process, and the plugin's log captured.
fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var("FLB_OPAMP_FAULT", "panic:sample,panic:offer");
        logging::install(
            Level::Debug,
            Box::new(|_, msg| log_lines().push(msg.to_string())),
        );
    });
}

fn log_lines() -> std::sync::MutexGuard<'static, Vec<String>> {
    LOG.lock().unwrap_or_else(|p| p.into_inner())
}

fn logged(needle: &str) -> bool {
    log_lines().iter().any(|l| l.contains(needle))
}

#[test]
fn panics_in_status_and_apply_steps_are_logged_and_the_client_comes_back() {
    setup();
    a_panic_in_a_status_sample();
    a_panic_in_an_apply_step();
}

fn a_panic_in_a_status_sample() {
    let server = TestServer::start();
    let _agent = Agent::start("sample", &server.ws_url(), &[]);
    // The first sample panics before the first connect; after the backoff
    // the loop runs again and connects.
    let rec = server.wait_until("connected after the panic", WAIT, |r| {
        r.ws.iter().any(|c| !c.payloads.is_empty())
    });
    assert!(
        logged("internal error in the OpAMP client: injected fault at sample"),
        "{:?}",
        log_lines()
    );
    let first = &rec
        .ws
        .iter()
        .find(|c| !c.payloads.is_empty())
        .unwrap()
        .messages()[0];
    assert!(
        first.agent_description.is_some(),
        "full state after recovery"
    );
}

fn a_panic_in_an_apply_step() {
    let server = TestServer::start();
    let dir = std::env::temp_dir().join(format!("opamp-recovery-offer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let managed = dir.join("managed.conf");
    let _agent = Agent::start(
        "offer",
        &server.ws_url(),
        &[
            ("remote_config", "on"),
            ("managed_config", &managed.display().to_string()),
        ],
    );
    server.wait_until("connected", WAIT, |r| {
        r.ws.first().is_some_and(|c| !c.payloads.is_empty())
    });
    server.push_ws(messages::config_offer("[INPUT]\n    Name dummy\n", b"boom"));
    let rec = server.wait_until("reconnected after the panic", WAIT, |r| {
        r.ws.len() >= 2 && !r.ws[1].payloads.is_empty()
    });
    assert!(logged("injected fault at offer"), "{:?}", log_lines());
    let before = rec.ws[0].messages();
    let after = rec.ws[1].messages();
    assert_eq!(
        before[0].instance_uid, after[0].instance_uid,
        "same identity"
    );
    assert!(
        after[0].sequence_num > before.last().unwrap().sequence_num,
        "sequence numbers go on"
    );
    assert!(
        after[0].agent_description.is_some(),
        "full state after recovery"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
