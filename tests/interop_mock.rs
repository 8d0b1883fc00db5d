//! Interoperability with an independent OpAMP server: the npm package
//! `@elastic/mockopampserver` (plain HTTP), installed by tests/run.sh into
//! tests/interop/node_modules. The real agent runtime runs in-process.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fluent_bit_opamp::agent::{self, Control};
use fluent_bit_opamp::config::properties::{self, RawProperties};

struct Mock {
    child: Child,
    endpoint: String,
    control: String,
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_mock() -> Mock {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    assert!(
        dir.join("node_modules/@elastic/mockopampserver").exists(),
        "@elastic/mockopampserver is not installed; run `bash tests/run.sh` (it runs npm ci in tests/interop)"
    );
    let mut child = Command::new("node")
        .arg(dir.join("mock_server.js"))
        .env(
            "MOCK_CONFIG_BODY",
            "[INPUT]\n    Name dummy\n    Tag interop\n",
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run node");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut endpoint = String::new();
    let mut control = String::new();
    while endpoint.is_empty() || control.is_empty() {
        let line = lines.next().expect("mock server output").unwrap();
        if let Some(e) = line.strip_prefix("ENDPOINT ") {
            endpoint = e.to_string();
        } else if let Some(c) = line.strip_prefix("CONTROL ") {
            control = c.to_string();
        }
    }
    Mock {
        child,
        endpoint,
        control,
    }
}

/// The mock's record of every exchange, as JSON text.
fn requests(mock: &Mock) -> String {
    ureq::get(&mock.control)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap()
}

fn wait_for(mock: &Mock, what: &[&str], timeout: Duration) -> String {
    let end = Instant::now() + timeout;
    loop {
        let r = requests(mock);
        if what.iter().all(|w| r.contains(w)) || Instant::now() > end {
            return r;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run_against_mock(compression: &str) {
    let mock = start_mock();
    let state = std::env::temp_dir().join(format!(
        "opamp-interop-{compression}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&state);
    let mut raw = RawProperties::default();
    raw.push("endpoint", &mock.endpoint);
    raw.push("state_dir", &state.display().to_string());
    raw.push("poll_interval", "1s");
    raw.push("compression", compression);
    raw.push("header", "Authorization Bearer interop-secret");
    raw.push("agent_attribute", "deployment.environment interop");
    raw.push("remote_config", "on");
    raw.push(
        "managed_config",
        &state.join("managed/pipeline.conf").display().to_string(),
    );
    let settings = properties::parse(&raw).unwrap();
    let handle = agent::start(settings, 1, None).unwrap();
    // Hot reload off: the apply must then fail with a status, and must
    // never signal this test process.
    handle.send(Control::PreRun {
        generation: 1,
        hot_reload: false,
    });

    let r = wait_for(
        &mock,
        &["remoteConfigStatus", "lastRemoteConfigHash"],
        Duration::from_secs(20),
    );
    println!("{r}");
    let reqs: Vec<&str> = r.split("{\"headers\":").skip(1).collect();
    assert!(reqs.len() >= 2, "expected several exchanges: {r}");

    // First contact: a full status with the description, sequence 0.
    let first = reqs[0];
    assert!(
        first.contains("\"sequenceNum\":\"0\""),
        "first message: {first}"
    );
    assert!(first.contains("agentDescription") && first.contains("service.instance.id"));
    assert!(first.contains("deployment.environment"));
    assert!(
        first.contains("\"status\":200"),
        "mock accepted it: {first}"
    );
    let encoded_gzip = first.contains("\"content-encoding\":\"gzip\"");
    assert_eq!(encoded_gzip, compression == "gzip", "{first}");
    assert!(first.contains("\"authorization\":\"Bearer interop-secret\""));
    assert!(first.contains("\"opamp-instance-uid\""), "{first}");

    // Full state on request: the mock sets ReportFullState (flags 1) when
    // the first status lacked a remote config status; the next message
    // must carry the whole state again.
    let asked = reqs
        .iter()
        .position(|q| {
            q.contains("\"s2a\":{") && q.split("\"s2a\":").nth(1).unwrap().contains("\"flags\":1")
        })
        .expect("the mock asked for full state");
    let answer = reqs.get(asked + 1).expect("a message after the request");
    assert!(
        answer.contains("agentDescription"),
        "full state after ReportFullState: {answer}"
    );

    // The offered remote config was received and its outcome reported with
    // the offer's hash.
    let offered = reqs
        .iter()
        .find_map(|q| q.split("\"configHash\":\"").nth(1))
        .map(|h| h.split('"').next().unwrap().to_string())
        .expect("the mock offered a remote config");
    let reported = reqs
        .iter()
        .find_map(|q| q.split("\"lastRemoteConfigHash\":\"").nth(1))
        .map(|h| h.split('"').next().unwrap().to_string())
        .expect("a remote config status was reported");
    assert_eq!(offered, reported);
    assert!(
        r.contains("Hot_Reload"),
        "the FAILED status says how to turn hot reload on: {r}"
    );

    // Sequence numbers grow by one per message.
    let seqs: Vec<u64> = reqs
        .iter()
        .filter_map(|q| q.split("\"sequenceNum\":\"").nth(1))
        .map(|s| s.split('"').next().unwrap().parse().unwrap())
        .collect();
    for w in seqs.windows(2) {
        assert_eq!(w[1], w[0] + 1, "sequence {seqs:?}");
    }

    handle.send(Control::Shutdown);
    assert!(handle.wait_until(Instant::now() + Duration::from_secs(5)));
    let r = requests(&mock);
    assert!(r.contains("agentDisconnect"), "goodbye over HTTP: {r}");
    let _ = std::fs::remove_dir_all(&state);
}

/// One test runs both modes so the two agents never share the process-wide
/// logging sink or run at once.
#[test]
#[cfg_attr(
    not(opamp_mock),
    ignore = "needs @elastic/mockopampserver and node (bash tests/run.sh installs them)"
)]
fn elastic_mock_server_plain_and_gzip() {
    run_against_mock("none");
    run_against_mock("gzip");
}
