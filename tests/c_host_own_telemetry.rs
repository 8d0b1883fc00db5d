//! Own telemetry through the real FFI path, in CI: the C host, installed
//! under Fluent Bit's name, loads the plugin and answers `--help` with a
//! plugin list (fluentbit_logs only with `HOST_HELP_LOGS`, as in 5.x) and
//! `--dry-run` with success; the test server offers own telemetry. Checks
//! the capabilities, the fragment composed with the server's remote config
//! in the managed files, one hot reload per change on one client thread,
//! refusals, removal, and a restart that resumes the persisted offer
//! without a reload.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fluent_bit_opamp::proto::{AgentCapabilities, AgentToServer, ConnectionSettingsStatus};
use support::c_host::{build_host, Host};
use support::fluent_bit::tmpdir;
use support::{messages, TestServer};

/// The host, with fluentbit_logs in its plugin list when `logs`.
fn start(exe: &Path, conf: &Path, managed: &Path, log: &Path, logs: bool) -> Host {
    let env: &[(&str, &str)] = if logs {
        &[("HOST_HELP_LOGS", "1")]
    } else {
        &[]
    };
    Host::spawn(exe, conf, managed, log, env)
}

/// SIGTERM, as an operator stops Fluent Bit, and wait for the exit.
fn stop(host: &mut Host) {
    let _ = Command::new("kill")
        .args(["-TERM", &host.child.id().to_string()])
        .status();
    host.wait_exit();
}

/// The host under Fluent Bit's name: the binary the plugin asks for its
/// plugin list and dry run.
fn fluent_bit_named_host(dir: &Path) -> PathBuf {
    let exe = dir.join("fluent-bit");
    if std::fs::hard_link(build_host::host_path(), &exe).is_err() {
        std::fs::copy(build_host::host_path(), &exe).unwrap();
    }
    exe
}

fn bootstrap(dir: &Path, server: &TestServer) -> (PathBuf, PathBuf) {
    let managed = dir.join("managed.conf");
    std::fs::write(&managed, "").unwrap();
    let conf = dir.join("fluent-bit.conf");
    std::fs::write(
        &conf,
        format!(
            "[SERVICE]\n    Hot_Reload On\n\n[INPUT]\n    Name opamp\n    Endpoint {}\n    State_Dir {}\n    \
             Heartbeat_Interval 1s\n    Health_Interval 1s\n    Remote_Config On\n    Own_Telemetry On\n    Managed_Config {}\n\n@INCLUDE managed.conf\n",
            server.ws_url(),
            dir.join("state").display(),
            managed.display()
        ),
    )
    .unwrap();
    (conf, managed)
}

fn messages_of(server: &TestServer) -> Vec<AgentToServer> {
    server
        .recorded()
        .ws
        .iter()
        .flat_map(|c| c.messages())
        .collect()
}

/// The capabilities of connection `n`'s latest message that has any.
fn capabilities(server: &TestServer, n: usize) -> u64 {
    let rec = server.recorded();
    rec.ws
        .get(n)
        .map(|c| c.messages())
        .unwrap_or_default()
        .iter()
        .rev()
        .find(|m| m.capabilities != 0)
        .map_or(0, |m| m.capabilities)
}

fn wait_caps(server: &TestServer, n: usize, want: AgentCapabilities) -> u64 {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let c = capabilities(server, n);
        if c & want as u64 != 0 {
            return c;
        }
        assert!(
            Instant::now() < end,
            "capability {want:?} never advertised: {c:#x}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The final ConnectionSettingsStatus (APPLIED 1 / FAILED 3) for `hash`.
fn outcome(server: &TestServer, hash: &[u8]) -> ConnectionSettingsStatus {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let found = messages_of(server)
            .into_iter()
            .filter_map(|m| m.connection_settings_status)
            .find(|s| s.last_connection_settings_hash == hash && (s.status == 1 || s.status == 3));
        if let Some(s) = found {
            return s;
        }
        assert!(Instant::now() < end, "no outcome for {hash:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn remote_applied(server: &TestServer, hash: &[u8]) {
    server.wait_until("remote config APPLIED", Duration::from_secs(20), |_| {
        server
            .remote_config_statuses()
            .iter()
            .any(|s| s.last_remote_config_hash == hash && s.status == 1)
    });
}

fn tids(log: &str, marker: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.split(marker).nth(1))
        .map(|r| r.split([',', ')']).next().unwrap_or("").to_string())
        .collect()
}

const SERVER_CONFIG: &str = "[INPUT]\n    Name dummy\n    Tag remote\n";
const FRAGMENT: &str = "managed.d/_opamp.own_telemetry.conf";

#[test]
fn own_telemetry_through_the_c_host() {
    let dir = tmpdir("chost-own-telemetry");
    let server = TestServer::start();
    let (conf, managed) = bootstrap(&dir, &server);
    let exe = fluent_bit_named_host(&dir);
    let log = dir.join("host.log");
    let mut host = start(&exe, &conf, &managed, &log, true);
    let caps = wait_caps(&server, 0, AgentCapabilities::ReportsOwnMetrics);
    assert!(
        caps & AgentCapabilities::ReportsOwnLogs as u64 != 0,
        "{caps:#x}"
    );
    // The first connect waited for the plugin list: the first message
    // already claims own telemetry, so a server offers it at once.
    let first = server.recorded().ws[0].messages()[0].capabilities;
    assert!(
        first & AgentCapabilities::ReportsOwnMetrics as u64 != 0,
        "{first:#x}"
    );
    std::thread::sleep(Duration::from_millis(300));

    // The server's config first, then the fragment beside it.
    server.push_ws(messages::config_offer(SERVER_CONFIG, b"remote-1"));
    remote_applied(&server, b"remote-1");
    let r0 = host.reloads();
    let url = "http://127.0.0.1:4318/v1/metrics";
    let headers: &[(&str, &str)] = &[("X-Tenant", "tenant-s3cr3t")];
    server.push_ws(messages::own_telemetry_offer(
        &[],
        b"own-1",
        Some((url, headers)),
        Some(("http://127.0.0.1:4318/v1/logs", headers)),
    ));
    let st = outcome(&server, b"own-1");
    assert_eq!(st.status, 1, "{st:?}");
    assert_eq!(host.reloads(), r0 + 1, "one hot reload");
    let main = std::fs::read_to_string(&managed).unwrap();
    assert!(
        main.starts_with(SERVER_CONFIG) && main.contains(&format!("@INCLUDE {FRAGMENT}")),
        "{main}"
    );
    let frag = std::fs::read_to_string(dir.join(FRAGMENT)).unwrap();
    for want in [
        "name fluentbit_metrics",
        "name fluentbit_logs",
        "match _opamp.own_metrics",
        "port 4318",
        "header X-Tenant tenant-s3cr3t",
    ] {
        assert!(frag.contains(want), "{want} missing:\n{frag}");
    }

    // Refusals change nothing: traces, and a bad URL.
    let traces = fluent_bit_opamp::proto::ServerToAgent {
        connection_settings: Some(fluent_bit_opamp::proto::ConnectionSettingsOffers {
            hash: b"traces".to_vec(),
            own_traces: Some(fluent_bit_opamp::proto::TelemetryConnectionSettings {
                destination_endpoint: "http://127.0.0.1:4318/v1/traces".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    server.push_ws(prost::Message::encode_to_vec(&traces));
    let st = outcome(&server, b"traces");
    assert!(
        st.status == 3 && st.error_message.contains("own_traces"),
        "{st:?}"
    );
    server.push_ws(messages::own_telemetry_offer(
        &[],
        b"bad",
        Some(("http://exa mple/", &[])),
        None,
    ));
    assert_eq!(outcome(&server, b"bad").status, 3);
    assert_eq!(host.reloads(), r0 + 1);

    // A new server config keeps the fragment.
    server.push_ws(messages::config_offer(
        "[INPUT]\n    Name dummy\n    Tag remote2\n",
        b"remote-2",
    ));
    remote_applied(&server, b"remote-2");
    assert!(std::fs::read_to_string(&managed)
        .unwrap()
        .contains(FRAGMENT));

    // The effective config reports the fragment, with the header hidden.
    server.wait_until(
        "the fragment in the effective config",
        Duration::from_secs(20),
        |_| {
            messages_of(&server).iter().any(|m| {
                m.effective_config
                    .as_ref()
                    .and_then(|e| e.config_map.as_ref())
                    .is_some_and(|c| {
                        c.config_map
                            .keys()
                            .any(|k| k.contains("_opamp.own_telemetry"))
                    })
            })
        },
    );
    // The secret never reached the server (effective config included).
    let sent: Vec<u8> = server
        .recorded()
        .ws
        .iter()
        .flat_map(|c| c.payloads.concat())
        .collect();
    assert!(
        !sent.windows(6).any(|w| w == b"s3cr3t"),
        "the header value leaked"
    );

    // A restart resumes the persisted offer with no reload.
    stop(&mut host);
    let state = dir.join("state/own_telemetry.offer");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&state).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let mut host = start(&exe, &conf, &managed, &log, true);
    let caps = wait_caps(&server, 1, AgentCapabilities::ReportsOwnMetrics);
    assert!(
        caps & AgentCapabilities::ReportsOwnLogs as u64 != 0,
        "{caps:#x}"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(host.reloads(), 0, "the live fragment is recognised");
    assert!(dir.join(FRAGMENT).exists());

    // Removal: an empty endpoint for each signal; the server's part stays.
    server.push_ws(messages::own_telemetry_offer(
        &[],
        b"off",
        Some(("", &[])),
        Some(("", &[])),
    ));
    let st = outcome(&server, b"off");
    assert_eq!(st.status, 1, "{st:?}");
    assert_eq!(host.reloads(), 1);
    assert!(!dir.join(FRAGMENT).exists());
    let main = std::fs::read_to_string(&managed).unwrap();
    assert!(
        main.contains("remote2") && !main.contains("_opamp"),
        "{main}"
    );
    assert!(!state.exists(), "nothing left to resume");
    stop(&mut host);

    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let started = tids(&text, "OpAMP client thread started (tid=");
    assert_eq!(started.len(), 2, "one client thread per process:\n{text}");
    assert!(
        !text.contains("s3cr3t"),
        "the header value leaked into the log"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A binary without fluentbit_logs (before 5.0): own logs are neither
/// advertised nor accepted, own metrics still are.
#[test]
fn own_logs_are_absent_without_fluentbit_logs() {
    let dir = tmpdir("chost-own-no-logs");
    let server = TestServer::start();
    let (conf, managed) = bootstrap(&dir, &server);
    let exe = fluent_bit_named_host(&dir);
    let log = dir.join("host.log");
    let host = start(&exe, &conf, &managed, &log, false);
    let caps = wait_caps(&server, 0, AgentCapabilities::ReportsOwnMetrics);
    assert_eq!(
        caps & AgentCapabilities::ReportsOwnLogs as u64,
        0,
        "{caps:#x}"
    );
    std::thread::sleep(Duration::from_millis(300));
    server.push_ws(messages::own_telemetry_offer(
        &[],
        b"logs",
        None,
        Some(("http://127.0.0.1:4318/v1/logs", &[])),
    ));
    let st = outcome(&server, b"logs");
    assert!(st.status == 3 && st.error_message.contains("5.0"), "{st:?}");
    assert_eq!(host.reloads(), 0);
    assert_eq!(std::fs::read_to_string(&managed).unwrap(), "");
    drop(host);
    let _ = std::fs::remove_dir_all(&dir);
}
