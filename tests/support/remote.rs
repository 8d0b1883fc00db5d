//! Remote-config helpers shared by the tests that drive an agent through
//! the test server: the final status of an offer, waiting for the first
//! report, and the usual bootstrap with a managed file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fluent_bit_opamp::proto::RemoteConfigStatus;

use super::TestServer;

/// The final status (APPLIED 1 / FAILED 3) for `hash` reported after index
/// `from`, within 20 s.
pub fn outcome(server: &TestServer, hash: &[u8], from: usize) -> RemoteConfigStatus {
    outcome_within(server, hash, from, Duration::from_secs(20))
}

pub fn outcome_within(
    server: &TestServer,
    hash: &[u8],
    from: usize,
    within: Duration,
) -> RemoteConfigStatus {
    let end = Instant::now() + within;
    loop {
        let all = server.remote_config_statuses();
        if let Some(s) = all
            .iter()
            .skip(from)
            .find(|s| s.last_remote_config_hash == hash && (s.status == 1 || s.status == 3))
        {
            return s.clone();
        }
        assert!(Instant::now() < end, "no outcome for {hash:?}: {all:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Until `connections` WebSocket connections carried a report, then a
/// moment for the first PreRun (the hot reload flag) to reach the agent.
pub fn wait_connected(server: &TestServer, connections: usize) {
    server.wait_until("agent connected", Duration::from_secs(30), |r| {
        r.ws.iter().filter(|c| !c.payloads.is_empty()).count() >= connections
    });
    std::thread::sleep(Duration::from_millis(300));
}

/// A bootstrap with remote config on and an empty managed file beside it;
/// `extra` adds lines to the opamp section.
pub fn bootstrap(dir: &Path, server: &TestServer, extra: &str) -> (PathBuf, PathBuf) {
    let managed = dir.join("managed.conf");
    std::fs::write(&managed, "").unwrap();
    let conf = dir.join("fluent-bit.conf");
    std::fs::write(
        &conf,
        format!(
            "[SERVICE]\n    Hot_Reload On\n\n[INPUT]\n    Name opamp\n    Endpoint {}\n    State_Dir {}\n{extra}    \
             Remote_Config On\n    Managed_Config {}\n\n@INCLUDE managed.conf\n",
            server.ws_url(),
            dir.join("state").display(),
            managed.display()
        ),
    )
    .unwrap();
    (conf, managed)
}
