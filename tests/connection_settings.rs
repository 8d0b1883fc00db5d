//! OpAMP connection settings against the test server: endpoint moves,
//! token and certificate rotation, the CSR flow, bad offers, restarts on
//! persisted settings, fallback to the opamp section's, and servers that go
//! away mid-verification. Each offer must be verified on a second
//! connection before the running one is replaced.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use fluent_bit_opamp::logging::{self, Level};

use fluent_bit_opamp::proto::{
    ConnectionSettingsStatus, ConnectionSettingsStatuses as S, Header, Headers,
    OpAmpConnectionSettings, TlsCertificate, TlsConnectionSettings,
};
use support::agent::Agent;
use support::certs::TestPki;
use support::{messages, HttpReply, Recorded, TestServer, WsBehaviour, WsStep};

const WAIT: Duration = Duration::from_secs(20);

/// Every log line of every test in this binary, at debug: the secrets
/// checks read them all.
fn log_lines() -> Arc<Mutex<Vec<String>>> {
    static LINES: OnceLock<Arc<Mutex<Vec<String>>>> = OnceLock::new();
    LINES
        .get_or_init(|| {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let sink = lines.clone();
            logging::install(
                Level::Debug,
                Box::new(move |_, m: &str| sink.lock().unwrap().push(m.to_string())),
            );
            lines
        })
        .clone()
}

fn assert_never_logged(secret: &str) {
    let lines = log_lines();
    let lines = lines.lock().unwrap();
    assert!(!lines.is_empty(), "the sink saw the agent's lines");
    for l in lines.iter() {
        assert!(!l.contains(secret), "secret in the log: {l}");
    }
}

fn statuses(r: &Recorded) -> Vec<ConnectionSettingsStatus> {
    let ws = r.ws.iter().flat_map(|c| c.messages());
    let http = r.http.iter().map(|h| h.message());
    ws.chain(http)
        .filter_map(|m| m.connection_settings_status)
        .collect()
}

fn has_status(r: &Recorded, hash: &[u8], s: S) -> bool {
    statuses(r)
        .iter()
        .any(|x| x.last_connection_settings_hash == hash && x.status == s as i32)
}

fn failure(server: &TestServer, hash: &[u8]) -> String {
    let r = server.wait_until("FAILED", WAIT, |r| has_status(r, hash, S::Failed));
    statuses(&r)
        .into_iter()
        .rfind(|x| x.last_connection_settings_hash == hash)
        .unwrap()
        .error_message
}

/// The first WebSocket message's instance UID, once it arrived.
fn uid_of(server: &TestServer) -> Vec<u8> {
    let r = server.wait_until("a first report", WAIT, |r| {
        r.ws.first().is_some_and(|c| !c.payloads.is_empty()) || !r.http.is_empty()
    });
    match r.ws.first() {
        Some(c) => c.messages()[0].instance_uid.clone(),
        None => r.http[0].message().instance_uid,
    }
}

fn move_to(url: &str) -> OpAmpConnectionSettings {
    OpAmpConnectionSettings {
        destination_endpoint: url.into(),
        ..Default::default()
    }
}

/// Moves an agent from `a` to `b` and waits until `b` has it.
fn moved_agent(name: &str, a: &TestServer, b: &TestServer, extra: &[(&str, &str)]) -> Agent {
    let mut props = vec![("connection_settings", "on")];
    props.extend_from_slice(extra);
    let agent = Agent::start(name, &a.ws_url(), &props);
    let uid = uid_of(a);
    a.push_ws(messages::opamp_settings(
        &uid,
        b"move",
        move_to(&b.ws_url()),
    ));
    b.wait_until("APPLIED on the new server", WAIT, |r| {
        has_status(r, b"move", S::Applied)
    });
    agent
}

#[test]
fn endpoint_moves_to_a_second_server_after_a_verified_exchange() {
    let (a, b) = (TestServer::start(), TestServer::start());
    let agent = moved_agent("cs-move", &a, &b, &[]);
    let caps = a.recorded().ws[0].messages()[0].capabilities;
    assert_eq!(caps & 0x100, 0x100, "AcceptsOpAMPConnectionSettings");
    assert_eq!(caps & 0x8000, 0x8000, "ReportsConnectionSettingsStatus");
    let rb = b.recorded();
    assert!(rb.ws.len() >= 2, "a probe connection, then the main one");
    assert!(
        !rb.ws[0].messages().is_empty(),
        "the probe carried a report"
    );
    a.wait_until("the old connection closed", WAIT, |r| r.ws[0].ended);
    assert_eq!(a.recorded().ws.len(), 1, "no reconnect to the old server");
    let file = agent.state.join("connection/settings");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .contains(&b.ws_url()));
}

#[test]
fn a_restart_uses_persisted_settings_and_falls_back_when_they_stop_working() {
    let (a, b) = (TestServer::start(), TestServer::start());
    let mut agent = moved_agent("cs-restart", &a, &b, &[]);
    agent.keep_state = true;
    let state = agent.state.clone();
    drop(agent);
    let before = b.recorded().ws.len();
    let props = [("connection_settings", "on"), ("connection_fallback", "2s")];
    let mut agent = Agent::start_in(state.clone(), &a.ws_url(), &props);
    let r = b.wait_until("the restarted agent on b", WAIT, |r| {
        r.ws.len() > before && !r.ws[before].payloads.is_empty()
    });
    assert!(has_status(&r, b"move", S::Applied));
    assert_eq!(a.recorded().ws.len(), 1, "straight to the persisted server");

    // b goes away: after connection_fallback the section's server gets it.
    drop(b);
    a.wait_until("fallback to the section's server", WAIT, |r| {
        r.ws.len() >= 2
    });
    assert!(state.join("connection/settings.abandoned").exists());
    assert!(!state.join("connection/settings").exists());
    agent.keep_state = false;
}

#[test]
fn token_rotation_leaves_the_old_token_refused_and_the_agent_connected() {
    log_lines();
    let s = TestServer::start();
    s.require_header("authorization", &["Bearer old"]);
    let props = [
        ("connection_settings", "on"),
        ("header", "Authorization Bearer old"),
    ];
    let _agent = Agent::start("cs-token", &s.http_url(), &props);
    let uid = uid_of(&s);
    s.require_header("authorization", &["Bearer old", "Bearer new"]);
    let offer = OpAmpConnectionSettings {
        headers: Some(Headers {
            headers: vec![Header {
                key: "Authorization".into(),
                value: "Bearer new".into(),
            }],
        }),
        ..Default::default()
    };
    s.script_http(HttpReply::Ok {
        body: messages::opamp_settings(&uid, b"tok", offer),
        gzip: false,
    });
    s.wait_until("APPLIED", WAIT, |r| has_status(r, b"tok", S::Applied));
    s.require_header("authorization", &["Bearer new"]);
    let n = s.recorded().http.len();
    let r = s.wait_until("three more polls", WAIT, |r| r.http.len() >= n + 3);
    for req in &r.http[n..] {
        assert_eq!(req.header("authorization"), Some("Bearer new"));
    }
    let text = std::fs::read_to_string(_agent.state.join("connection/settings")).unwrap();
    assert!(text.contains("Bearer new") && !text.contains("Bearer old"));
    assert_never_logged("Bearer new");
    assert_never_logged("Bearer old");
}

#[test]
fn ca_and_client_certificate_rotate_to_a_server_that_requires_mtls() {
    let (p1, p2) = (
        TestPki::generate("cs-mtls-1"),
        TestPki::generate("cs-mtls-2"),
    );
    let a = TestServer::start_tls(p1.server_config(false));
    let b = TestServer::start_tls(p2.server_config(true));
    let ca = p1.ca_file.display().to_string();
    let props = [("connection_settings", "on"), ("tls.ca_file", ca.as_str())];
    let _agent = Agent::start("cs-mtls", &a.ws_url(), &props);
    let uid = uid_of(&a);
    let offer = OpAmpConnectionSettings {
        destination_endpoint: b.ws_url(),
        tls: Some(TlsConnectionSettings {
            ca_pem_contents: p2.ca_pem(),
            ..Default::default()
        }),
        certificate: Some(TlsCertificate {
            cert: std::fs::read(&p2.client_cert_file).unwrap(),
            private_key: std::fs::read(&p2.client_key_file).unwrap(),
            ca_cert: Vec::new(),
        }),
        ..Default::default()
    };
    a.push_ws(messages::opamp_settings(&uid, b"mtls", offer));
    let r = b.wait_until("APPLIED over mTLS", WAIT, |r| {
        has_status(r, b"mtls", S::Applied)
    });
    assert!(
        r.ws.iter().all(|c| c.client_cert),
        "every connection presented a cert"
    );
}

#[test]
fn csr_flow_installs_a_certificate_for_a_key_the_server_never_sees() {
    log_lines();
    let pki = TestPki::generate("cs-csr");
    let a = TestServer::start_tls(pki.server_config(false));
    let b = TestServer::start_tls(pki.server_config(true));
    let ca = pki.ca_file.display().to_string();
    let props = [
        ("connection_settings", "on"),
        ("tls.csr", "on"),
        ("tls.ca_file", ca.as_str()),
    ];
    let agent = Agent::start("cs-csr", &a.ws_url(), &props);
    let r = a.wait_until("a CSR", WAIT, |r| {
        r.ws.iter()
            .flat_map(|c| c.messages())
            .any(|m| m.connection_settings_request.is_some())
    });
    let msgs: Vec<_> = r.ws.iter().flat_map(|c| c.messages()).collect();
    let req = msgs
        .iter()
        .find_map(|m| m.connection_settings_request.clone())
        .unwrap();
    let csr = req.opamp.unwrap().certificate_request.unwrap().csr;
    let csr = String::from_utf8(csr).unwrap();
    for m in &msgs {
        assert!(
            !format!("{m:?}").contains("PRIVATE KEY"),
            "no key on the wire"
        );
    }
    let offer = OpAmpConnectionSettings {
        destination_endpoint: b.ws_url(),
        certificate: Some(TlsCertificate {
            cert: pki.sign_csr(&csr).into_bytes(),
            private_key: Vec::new(),
            ca_cert: Vec::new(),
        }),
        ..Default::default()
    };
    a.push_ws(messages::opamp_settings(
        &msgs[0].instance_uid,
        b"csr",
        offer,
    ));
    let r = b.wait_until("APPLIED with the CSR's certificate", WAIT, |r| {
        has_status(r, b"csr", S::Applied)
    });
    assert!(r.ws.iter().all(|c| c.client_cert));
    assert!(
        !agent.state.join("connection.csr.key").exists(),
        "key moved in"
    );
    let key = agent.state.join("connection/client.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_never_logged("PRIVATE KEY");
}

/// Each bad offer is FAILED with its reason, and the running connection
/// stays as it was.
#[test]
fn bad_offers_fail_and_leave_the_connection_alone() {
    let a = TestServer::start();
    let (other, pki) = (TestPki::generate("cs-bad-1"), TestPki::generate("cs-bad-2"));
    let tls_server = TestServer::start_tls(pki.server_config(false));
    let props = [
        ("connection_settings", "on"),
        ("connection_endpoint_allow", "127.0.0.1"),
    ];
    let _agent = Agent::start("cs-bad", &a.ws_url(), &props);
    let uid = uid_of(&a);
    let (cert, _) = pki.client_cert_valid(-1, 30);
    let (_, other_key) = pki.client_cert_valid(-1, 30);
    let (old_cert, old_key) = pki.client_cert_valid(-30, -1);
    let with_cert = |cert: &str, key: &str| OpAmpConnectionSettings {
        certificate: Some(TlsCertificate {
            cert: cert.as_bytes().to_vec(),
            private_key: key.as_bytes().to_vec(),
            ca_cert: Vec::new(),
        }),
        ..Default::default()
    };
    let big = OpAmpConnectionSettings {
        headers: Some(Headers {
            headers: vec![Header {
                key: "Authorization".into(),
                value: "x".repeat(9000),
            }],
        }),
        ..Default::default()
    };
    let wrong_ca = OpAmpConnectionSettings {
        destination_endpoint: tls_server.ws_url(),
        tls: Some(TlsConnectionSettings {
            ca_pem_contents: other.ca_pem(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let localhost = a.ws_url().replace("127.0.0.1", "localhost");
    let cases: Vec<(&[u8], OpAmpConnectionSettings, &str)> = vec![
        (b"url", move_to("ftp://nowhere/x"), "destination_endpoint"),
        (b"mismatch", with_cert(&cert, &other_key), "does not match"),
        (b"expired", with_cert(&old_cert, &old_key), "expired on"),
        (b"big", big, "limit"),
        (b"allow", move_to(&localhost), "connection_endpoint_allow"),
        (b"ca", wrong_ca, "did not verify"),
    ];
    for (hash, offer, reason) in cases {
        a.push_ws(messages::opamp_settings(&uid, hash, offer));
        let e = failure(&a, hash);
        assert!(e.contains(reason), "{}: {e}", String::from_utf8_lossy(hash));
        assert!(!e.contains("xxxxxxxx"), "no header value in the reason");
    }
    let r = a.recorded();
    assert_eq!(r.ws.len(), 1, "never reconnected");
    assert!(!r.ws[0].ended, "still connected");
    assert!(!_agent.state.join("connection/settings").exists());
}

#[test]
fn a_server_restart_during_verification_keeps_the_old_settings() {
    let a = TestServer::start();
    let b = TestServer::start();
    b.script_ws(WsBehaviour::Accept(vec![
        WsStep::Expect,
        WsStep::Sleep(Duration::from_secs(2)),
    ]));
    let _agent = Agent::start(
        "cs-restart-verify",
        &a.ws_url(),
        &[("connection_settings", "on")],
    );
    let uid = uid_of(&a);
    a.push_ws(messages::opamp_settings(
        &uid,
        b"gone",
        move_to(&b.ws_url()),
    ));
    b.wait_until("the probe", WAIT, |r| {
        r.ws.first().is_some_and(|c| !c.payloads.is_empty())
    });
    drop(b);
    let e = failure(&a, b"gone");
    assert!(e.contains("did not verify"), "{e}");
    let r = a.recorded();
    assert_eq!(r.ws.len(), 1);
    assert!(!r.ws[0].ended);
}

#[test]
fn a_newer_offer_supersedes_one_being_verified() {
    let (a, b, c) = (
        TestServer::start(),
        TestServer::start(),
        TestServer::start(),
    );
    b.script_ws(WsBehaviour::Accept(vec![
        WsStep::Expect,
        WsStep::Sleep(Duration::from_secs(3)),
    ]));
    let _agent = Agent::start(
        "cs-supersede",
        &a.ws_url(),
        &[("connection_settings", "on")],
    );
    let uid = uid_of(&a);
    a.push_ws(messages::opamp_settings(
        &uid,
        b"first",
        move_to(&b.ws_url()),
    ));
    b.wait_until("the first probe", WAIT, |r| {
        r.ws.first().is_some_and(|c| !c.payloads.is_empty())
    });
    a.push_ws(messages::opamp_settings(
        &uid,
        b"second",
        move_to(&c.ws_url()),
    ));
    let r = c.wait_until("APPLIED for the second", WAIT, |r| {
        has_status(r, b"second", S::Applied)
    });
    std::thread::sleep(Duration::from_secs(4));
    let all = [a.recorded(), b.recorded(), c.recorded()];
    assert!(all.iter().all(|r| !has_status(r, b"first", S::Applied)));
    assert!(r.ws.len() >= 2);
    assert_eq!(
        b.recorded().ws.len(),
        1,
        "the superseded server never got the agent"
    );
}

/// Off unless the operator turns it on: the offer is FAILED naming the
/// property and nothing moves.
#[test]
fn offers_are_refused_while_connection_settings_is_off() {
    let (a, b) = (TestServer::start(), TestServer::start());
    let _agent = Agent::start("cs-off", &a.ws_url(), &[("other_connections", "on")]);
    let uid = uid_of(&a);
    let caps = a.recorded().ws[0].messages()[0].capabilities;
    assert_eq!(
        caps & 0x100,
        0,
        "AcceptsOpAMPConnectionSettings not claimed"
    );
    a.push_ws(messages::opamp_settings(&uid, b"off", move_to(&b.ws_url())));
    let e = failure(&a, b"off");
    assert!(e.contains("connection_settings is off"), "{e}");
    assert!(b.recorded().ws.is_empty());
}

/// With `tls.csr on`, a certificate two thirds into its life is renewed by
/// CSR at start; a fresh one is not.
#[test]
fn a_certificate_near_expiry_is_renewed_by_csr() {
    let pki = TestPki::generate("cs-renew");
    let a = TestServer::start_tls(pki.server_config(false));
    let dir = Agent::state_dir("cs-renew-files");
    std::fs::create_dir_all(&dir).unwrap();
    let run = |name: &str, from: i64, to: i64| {
        let (cert, key) = pki.client_cert_valid(from, to);
        let (c, k) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, cert).unwrap();
        std::fs::write(&k, key).unwrap();
        let (ca, c, k) = (
            pki.ca_file.display().to_string(),
            c.display().to_string(),
            k.display().to_string(),
        );
        let props = [
            ("connection_settings", "on"),
            ("tls.csr", "on"),
            ("tls.ca_file", ca.as_str()),
            ("tls.crt_file", c.as_str()),
            ("tls.key_file", k.as_str()),
        ];
        Agent::start(name, &a.ws_url(), &props)
    };
    let csr_sent = |r: &Recorded| {
        r.ws.iter()
            .flat_map(|c| c.messages())
            .any(|m| m.connection_settings_request.is_some())
    };
    let fresh = run("cs-renew-fresh", -1, 30);
    a.wait_until("a report", WAIT, |r| {
        r.ws.iter().any(|c| !c.payloads.is_empty())
    });
    std::thread::sleep(Duration::from_secs(1));
    assert!(!csr_sent(&a.recorded()), "a fresh certificate needs no CSR");
    drop(fresh);
    let _old = run("cs-renew-old", -2, 1);
    a.wait_until("a CSR for the ageing certificate", WAIT, csr_sent);
    let _ = std::fs::remove_dir_all(&dir);
}
