//! Own telemetry end to end on real Fluent Bit (from `FLUENT_BIT_BIN`): the
//! test server offers an OTLP/HTTP endpoint served by a loopback receiver in
//! this test; Fluent Bit's own metrics (and, on 5.x, its own logs) must
//! arrive there with the offered header, stop when the offer is removed,
//! and every change must be one hot reload on the same client thread. The
//! capabilities must say what the running version can do. Remote config
//! stays off: own telemetry has its own consent. Ignored without
//! `FLUENT_BIT_BIN`.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fluent_bit_opamp::proto::{AgentCapabilities, AgentToServer, ConnectionSettingsStatus};
use support::fluent_bit::{binaries, plugin_path, tmpdir, version_of, Fb};
use support::otlp::{log_records, metric_names, OtlpReceiver};
use support::{messages, TestServer};

const TOKEN: &str = "Bearer own-s3cr3t-t0ken";

fn setup(name: &str, server: &TestServer) -> (PathBuf, PathBuf) {
    let dir = tmpdir(&format!("own-{name}"));
    let managed = dir.join("managed.conf");
    std::fs::write(&managed, "").unwrap();
    std::fs::write(
        dir.join("plugins.conf"),
        format!("[PLUGINS]\n    Path {}\n", plugin_path().display()),
    )
    .unwrap();
    let conf = dir.join("fluent-bit.conf");
    std::fs::write(
        &conf,
        format!(
            "[SERVICE]\n    Flush 1\n    Grace 1\n    Hot_Reload On\n    Plugins_File {}\n\n\
             [INPUT]\n    Name opamp\n    Endpoint {}\n    State_Dir {}\n    Own_Telemetry On\n    Managed_Config {}\n\n\
             [INPUT]\n    Name dummy\n    Tag base\n    Rate 1\n\n[OUTPUT]\n    Name null\n    Match base\n\n\
             @INCLUDE managed.conf\n",
            dir.join("plugins.conf").display(),
            server.ws_url(),
            dir.join("state").display(),
            managed.display()
        ),
    )
    .unwrap();
    (dir, conf)
}

fn agent_messages(server: &TestServer) -> Vec<AgentToServer> {
    server
        .recorded()
        .ws
        .iter()
        .flat_map(|c| c.messages())
        .collect()
}

fn latest_capabilities(server: &TestServer) -> u64 {
    agent_messages(server)
        .iter()
        .rev()
        .find(|m| m.capabilities != 0)
        .map_or(0, |m| m.capabilities)
}

fn has(caps: u64, c: AgentCapabilities) -> bool {
    caps & c as u64 != 0
}

/// The final ConnectionSettingsStatus for `hash`, and the statuses seen.
fn outcome(server: &TestServer, hash: &[u8]) -> (ConnectionSettingsStatus, Vec<i32>) {
    let end = Instant::now() + Duration::from_secs(40);
    loop {
        let mine: Vec<ConnectionSettingsStatus> = agent_messages(server)
            .into_iter()
            .filter_map(|m| m.connection_settings_status)
            .filter(|s| s.last_connection_settings_hash == hash)
            .collect();
        let mut seq: Vec<i32> = mine.iter().map(|s| s.status).collect();
        seq.dedup();
        if let Some(done) = mine.iter().find(|s| s.status == 1 || s.status == 3) {
            return (done.clone(), seq);
        }
        assert!(Instant::now() < end, "no outcome for {hash:?}: {seq:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn name(s: i32) -> &'static str {
    match s {
        1 => "APPLIED",
        2 => "APPLYING",
        3 => "FAILED",
        _ => "UNSET",
    }
}

fn wait(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tids(log: &str, marker: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.split(marker).nth(1))
        .map(|r| r.split([',', ')']).next().unwrap_or("").to_string())
        .collect()
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn own_metrics_and_logs_reach_the_offered_endpoint() {
    for bin in binaries("own_metrics_and_logs_reach_the_offered_endpoint") {
        let v = version_of(&bin);
        let server = TestServer::start();
        let otlp = OtlpReceiver::start();
        let (dir, conf) = setup("e2e", &server);
        let mut fb = Fb::with_config(&bin, &conf);

        // Capabilities follow the binary's plugin list.
        let end = Instant::now() + Duration::from_secs(20);
        while !has(
            latest_capabilities(&server),
            AgentCapabilities::ReportsOwnMetrics,
        ) {
            assert!(
                Instant::now() < end,
                "no own-metrics capability:\n{}",
                fb.all()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let logs_ok = has(
            latest_capabilities(&server),
            AgentCapabilities::ReportsOwnLogs,
        );
        let five = v.contains("v5.");
        println!("SUMMARY {v}: capabilities ReportsOwnMetrics=true ReportsOwnLogs={logs_ok}");
        assert_eq!(
            logs_ok, five,
            "own logs exactly where fluentbit_logs exists"
        );
        std::thread::sleep(Duration::from_millis(500));
        let reloads = |fb: &Fb| fb.count("reloading instance");
        let r0 = reloads(&fb);

        // A bad URL: FAILED with the reason, nothing reloaded.
        server.push_ws(messages::own_telemetry_offer(
            &[],
            b"bad-url",
            Some(("otlp://nowhere", &[])),
            None,
        ));
        let (st, _) = outcome(&server, b"bad-url");
        println!(
            "SUMMARY {v}: bad URL: {} ({})",
            name(st.status),
            st.error_message
        );
        assert_eq!(st.status, 3);
        assert!(
            st.error_message.contains("destination_endpoint"),
            "{}",
            st.error_message
        );

        // Own logs where the binary has no fluentbit_logs: FAILED.
        if !five {
            server.push_ws(messages::own_telemetry_offer(
                &[],
                b"logs-old",
                None,
                Some((&otlp.url("/v1/logs"), &[])),
            ));
            let (st, _) = outcome(&server, b"logs-old");
            println!(
                "SUMMARY {v}: own logs offered: {} ({})",
                name(st.status),
                st.error_message
            );
            assert_eq!(st.status, 3);
            assert!(
                st.error_message.contains("fluentbit_logs"),
                "{}",
                st.error_message
            );
        }
        assert_eq!(reloads(&fb), r0, "refused offers reload nothing");

        // The offer: metrics (and logs on 5.x) with a credential header.
        let headers: &[(&str, &str)] = &[("Authorization", TOKEN)];
        let metrics_url = otlp.url("/v1/metrics");
        let logs_url = otlp.url("/v1/logs");
        let logs = five.then_some((logs_url.as_str(), headers));
        let t0 = Instant::now();
        server.push_ws(messages::own_telemetry_offer(
            &[],
            b"on",
            Some((&metrics_url, headers)),
            logs,
        ));
        let (st, seq) = outcome(&server, b"on");
        let seq: Vec<&str> = seq.into_iter().map(name).collect();
        println!(
            "SUMMARY {v}: offer: {} in {:?}",
            seq.join(" -> "),
            t0.elapsed()
        );
        assert_eq!(st.status, 1, "{st:?}\n{}", fb.all());
        assert_eq!(reloads(&fb), r0 + 1, "one hot reload");

        wait("own metrics", Duration::from_secs(20), || {
            otlp.count("/v1/metrics") >= 2
        });
        let req = otlp
            .requests()
            .into_iter()
            .find(|r| r.path == "/v1/metrics")
            .unwrap();
        assert_eq!(
            req.header("authorization"),
            Some(TOKEN),
            "the offered header is sent"
        );
        let names = metric_names(&req.body).expect("an OTLP ExportMetricsServiceRequest");
        assert!(
            names.iter().any(|n| n.starts_with("fluentbit_")),
            "{names:?}"
        );
        println!(
            "SUMMARY {v}: own metrics arrive: {} requests, one decoded with {} metrics (e.g. {})",
            otlp.count("/v1/metrics"),
            names.len(),
            names[0]
        );
        if five {
            wait("own logs", Duration::from_secs(20), || {
                otlp.count("/v1/logs") >= 1
            });
            let req = otlp
                .requests()
                .into_iter()
                .find(|r| r.path == "/v1/logs")
                .unwrap();
            let n = log_records(&req.body).expect("an OTLP ExportLogsServiceRequest");
            assert!(n > 0);
            println!(
                "SUMMARY {v}: own logs arrive: {} requests, one decoded with {n} records",
                otlp.count("/v1/logs")
            );
        }

        // One client thread through both reloads.
        let log = fb.all();
        let started = tids(&log, "OpAMP client thread started (tid=");
        let attached = tids(&log, "attached to OpAMP client thread (tid=");
        assert_eq!(started.len(), 1, "{log}");
        assert!(
            !attached.is_empty() && attached.iter().all(|t| *t == started[0]),
            "{attached:?}"
        );
        println!(
            "SUMMARY {v}: client thread tid={} through {} reloads",
            started[0],
            reloads(&fb) - r0
        );
        assert!(!log.contains("s3cr3t"), "the token leaked into the log");
        let took = fb.terminate();
        println!("SUMMARY {v}: shutdown in {took:?}");

        // A restart resumes the offer kept in state_dir: no new offer, no reload.
        let mut fb = Fb::with_config(&bin, &conf);
        let m0 = otlp.count("/v1/metrics");
        wait(
            "own metrics after a restart",
            Duration::from_secs(20),
            || otlp.count("/v1/metrics") >= m0 + 2,
        );
        assert_eq!(reloads(&fb), 0, "the persisted fragment is live at start");
        println!(
            "SUMMARY {v}: restart: own metrics resume without a reload ({} more requests)",
            otlp.count("/v1/metrics") - m0
        );
        std::thread::sleep(Duration::from_millis(500));

        // Removal: an empty endpoint for each signal.
        let gone = five.then_some(("", &[][..]));
        server.push_ws(messages::own_telemetry_offer(
            &[],
            b"off",
            Some(("", &[])),
            gone,
        ));
        let (st, _) = outcome(&server, b"off");
        assert_eq!(st.status, 1, "{st:?}");
        assert_eq!(reloads(&fb), 1, "one hot reload");
        std::thread::sleep(Duration::from_secs(2));
        let (m, l) = (otlp.count("/v1/metrics"), otlp.count("/v1/logs"));
        std::thread::sleep(Duration::from_secs(5));
        let (m2, l2) = (otlp.count("/v1/metrics"), otlp.count("/v1/logs"));
        println!("SUMMARY {v}: removed: APPLIED (1 hot reload); requests in the next 5 s: metrics {} logs {}", m2 - m, l2 - l);
        assert_eq!((m2, l2), (m, l), "nothing is sent after the removal");
        let managed = std::fs::read_to_string(dir.join("managed.conf")).unwrap();
        assert!(!managed.contains("_opamp"), "{managed}");
        let log = fb.all();
        let started = tids(&log, "OpAMP client thread started (tid=");
        let attached = tids(&log, "attached to OpAMP client thread (tid=");
        assert_eq!(started.len(), 1, "{log}");
        assert!(attached.iter().all(|t| *t == started[0]), "{attached:?}");
        assert!(!log.contains("s3cr3t"), "the token leaked into the log");
        let sent: Vec<u8> = server
            .recorded()
            .ws
            .iter()
            .flat_map(|c| c.payloads.concat())
            .collect();
        assert!(
            !sent.windows(6).any(|w| w == b"s3cr3t"),
            "the token leaked to the server"
        );

        let took = fb.terminate();
        println!("SUMMARY {v}: shutdown in {took:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The same with a YAML bootstrap: the fragment is written as YAML and
/// included through the managed file's `includes:`.
#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn own_metrics_with_a_yaml_bootstrap() {
    for bin in binaries("own_metrics_with_a_yaml_bootstrap") {
        let v = version_of(&bin);
        let server = TestServer::start();
        let otlp = OtlpReceiver::start();
        let dir = tmpdir("own-yaml");
        let managed = dir.join("managed.yaml");
        std::fs::write(&managed, "").unwrap();
        let plugins = if v.contains("v2.2.") {
            // 2.2's YAML has no top-level `plugins:` list.
            let file = dir.join("plugins.conf");
            std::fs::write(
                &file,
                format!("[PLUGINS]\n    Path {}\n", plugin_path().display()),
            )
            .unwrap();
            format!("  plugins_file: {}\n", file.display())
        } else {
            format!("\nplugins:\n  - {}\n", plugin_path().display())
        };
        let conf = dir.join("fluent-bit.yaml");
        std::fs::write(
            &conf,
            format!(
                "service:\n  flush: 1\n  grace: 1\n  hot_reload: on\n{plugins}\nincludes:\n  - managed.yaml\n\npipeline:\n  inputs:\n    - name: opamp\n      endpoint: {}\n      state_dir: {}\n      own_telemetry: on\n      managed_config: {}\n",
                server.ws_url(),
                dir.join("state").display(),
                managed.display()
            ),
        )
        .unwrap();
        let mut fb = Fb::with_config(&bin, &conf);
        let end = Instant::now() + Duration::from_secs(20);
        while !has(
            latest_capabilities(&server),
            AgentCapabilities::ReportsOwnMetrics,
        ) {
            assert!(
                Instant::now() < end,
                "no own-metrics capability:\n{}",
                fb.all()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(500));
        let headers: &[(&str, &str)] = &[("Authorization", TOKEN), ("X-Tenant", "t1")];
        server.push_ws(messages::own_telemetry_offer(
            &[],
            b"yaml",
            Some((&otlp.url("/v1/metrics"), headers)),
            None,
        ));
        let (st, _) = outcome(&server, b"yaml");
        assert_eq!(st.status, 1, "{st:?}\n{}", fb.all());
        wait("own metrics", Duration::from_secs(20), || {
            otlp.count("/v1/metrics") >= 1
        });
        let req = otlp
            .requests()
            .into_iter()
            .find(|r| r.path == "/v1/metrics")
            .unwrap();
        assert_eq!(req.header("authorization"), Some(TOKEN));
        assert_eq!(req.header("x-tenant"), Some("t1"));
        let names = metric_names(&req.body).expect("an OTLP ExportMetricsServiceRequest");
        assert!(
            names.iter().any(|n| n.starts_with("fluentbit_")),
            "{names:?}"
        );
        println!(
            "SUMMARY {v}: YAML bootstrap: APPLIED, {} own-metrics requests with both headers ({} metrics decoded)",
            otlp.count("/v1/metrics"),
            names.len()
        );
        assert!(!fb.all().contains("s3cr3t"));
        fb.terminate();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// TLS: the receiver requires a client certificate from the test CA; the
/// offer carries the CA to trust and the client certificate with its key.
#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn own_metrics_over_mutual_tls() {
    use fluent_bit_opamp::proto::{
        ConnectionSettingsOffers, ServerToAgent, TelemetryConnectionSettings, TlsCertificate,
    };
    use prost::Message as _;
    for bin in binaries("own_metrics_over_mutual_tls") {
        let v = version_of(&bin);
        let pki = support::certs::TestPki::generate("own-mtls");
        let server = TestServer::start();
        let otlp = OtlpReceiver::start_tls(pki.server_config(true));
        let (dir, conf) = setup("mtls", &server);
        let mut fb = Fb::with_config(&bin, &conf);
        let end = Instant::now() + Duration::from_secs(20);
        while !has(
            latest_capabilities(&server),
            AgentCapabilities::ReportsOwnMetrics,
        ) {
            assert!(
                Instant::now() < end,
                "no own-metrics capability:\n{}",
                fb.all()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(500));
        let read = |p: &PathBuf| std::fs::read(p).unwrap();
        let offer = |hash: &[u8], key: Vec<u8>| {
            ServerToAgent {
                connection_settings: Some(ConnectionSettingsOffers {
                    hash: hash.to_vec(),
                    own_metrics: Some(TelemetryConnectionSettings {
                        destination_endpoint: format!(
                            "https://127.0.0.1:{}/v1/metrics",
                            otlp.port()
                        ),
                        certificate: Some(TlsCertificate {
                            cert: read(&pki.client_cert_file),
                            private_key: key,
                            ca_cert: read(&pki.ca_file),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }
            .encode_to_vec()
        };

        // A key that is not the certificate's: FAILED before anything changes.
        let other = support::certs::TestPki::generate("own-mtls-other");
        server.push_ws(offer(b"wrong-key", read(&other.client_key_file)));
        let (st, _) = outcome(&server, b"wrong-key");
        println!(
            "SUMMARY {v}: mTLS with a foreign key: {} ({})",
            name(st.status),
            st.error_message
        );
        assert_eq!(st.status, 3);
        assert_eq!(fb.count("reloading instance"), 0);

        server.push_ws(offer(b"mtls", read(&pki.client_key_file)));
        let (st, _) = outcome(&server, b"mtls");
        assert_eq!(st.status, 1, "{st:?}\n{}", fb.all());
        wait("own metrics over mTLS", Duration::from_secs(20), || {
            otlp.count("/v1/metrics") >= 1
        });
        let req = otlp
            .requests()
            .into_iter()
            .find(|r| r.path == "/v1/metrics")
            .unwrap();
        assert!(req.client_cert, "the client certificate was presented");
        let names = metric_names(&req.body).expect("an OTLP ExportMetricsServiceRequest");
        assert!(
            names.iter().any(|n| n.starts_with("fluentbit_")),
            "{names:?}"
        );
        println!(
            "SUMMARY {v}: mTLS: APPLIED, {} requests with a client certificate, CA verified ({} metrics decoded)",
            otlp.count("/v1/metrics"),
            names.len()
        );
        let key_pem = String::from_utf8(read(&pki.client_key_file)).unwrap();
        let key_body = key_pem.lines().nth(1).unwrap().to_string();
        assert!(!fb.all().contains(&key_body), "key material in the log");
        let sent: Vec<u8> = server
            .recorded()
            .ws
            .iter()
            .flat_map(|c| c.payloads.concat())
            .collect();
        assert!(
            !sent
                .windows(key_body.len())
                .any(|w| w == key_body.as_bytes()),
            "key sent to the server"
        );
        fb.terminate();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
