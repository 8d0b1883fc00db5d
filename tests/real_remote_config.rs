//! Remote config end to end: real Fluent Bit (from `FLUENT_BIT_BIN`) runs the
//! plugin, which takes configs pushed over WebSocket by the test server and
//! applies them with hot reload. Ignored without `FLUENT_BIT_BIN`.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fluent_bit_opamp::proto::{RemoteConfigStatus, RemoteConfigStatuses};
use support::fluent_bit::{binaries, free_port, plugin_path, tmpdir, version_of, Fb};
use support::{messages, TestServer};

fn statuses(server: &TestServer) -> Vec<RemoteConfigStatus> {
    server.remote_config_statuses()
}

fn name(s: i32) -> &'static str {
    match RemoteConfigStatuses::try_from(s) {
        Ok(RemoteConfigStatuses::Applied) => "APPLIED",
        Ok(RemoteConfigStatuses::Applying) => "APPLYING",
        Ok(RemoteConfigStatuses::Failed) => "FAILED",
        _ => "UNSET",
    }
}

/// Waits for a final status for `hash` reported after index `from`; returns
/// it and the sequence of statuses for that hash.
fn outcome(
    server: &TestServer,
    hash: &[u8],
    from: usize,
    timeout: Duration,
) -> (RemoteConfigStatus, Vec<String>) {
    let end = Instant::now() + timeout;
    loop {
        let all = statuses(server);
        let mine: Vec<&RemoteConfigStatus> = all
            .iter()
            .skip(from)
            .filter(|s| s.last_remote_config_hash == hash)
            .collect();
        if let Some(done) = mine.iter().find(|s| s.status == 1 || s.status == 3) {
            let seq = mine
                .iter()
                .map(|s| {
                    if s.error_message.is_empty() {
                        name(s.status).to_string()
                    } else {
                        format!("{} ({})", name(s.status), s.error_message)
                    }
                })
                .collect();
            return ((*done).clone(), seq);
        }
        assert!(Instant::now() < end, "no outcome for {hash:?}: {all:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct Setup {
    dir: PathBuf,
    conf: PathBuf,
    managed: PathBuf,
}

fn setup(name: &str, server: &TestServer) -> Setup {
    let dir = tmpdir(&format!("remote-{name}"));
    std::fs::write(
        dir.join("plugins.conf"),
        format!("[PLUGINS]\n    Path {}\n", plugin_path().display()),
    )
    .unwrap();
    let managed = dir.join("managed.conf");
    std::fs::write(&managed, "").unwrap();
    let http_port = free_port();
    let conf = dir.join("fluent-bit.conf");
    std::fs::write(
        &conf,
        format!(
            "[SERVICE]\n    Flush 1\n    Grace 1\n    Hot_Reload On\n    HTTP_Server On\n    HTTP_Listen 127.0.0.1\n    HTTP_Port {http_port}\n    Plugins_File {}\n\n\
             [INPUT]\n    Name opamp\n    Endpoint {}\n    State_Dir {}\n    Remote_Config On\n    Managed_Config {}\n    Http_Server http://127.0.0.1:{http_port}\n    Health_Interval 1s\n\n\
             [INPUT]\n    Name dummy\n    Tag base\n    Rate 2\n\n[OUTPUT]\n    Name null\n    Match base\n\n\
             @INCLUDE managed.conf\n",
            dir.join("plugins.conf").display(),
            server.ws_url(),
            dir.join("state").display(),
            managed.display()
        ),
    )
    .unwrap();
    Setup { dir, conf, managed }
}

fn good(tag: &str) -> String {
    format!("[INPUT]\n    Name dummy\n    Tag remote\n    Dummy {{\"m\":\"{tag}\"}}\n    Rate 5\n\n[OUTPUT]\n    Name stdout\n    Match remote\n")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn remote_config_outcomes_against_real_fluent_bit() {
    for bin in binaries("remote_config_outcomes_against_real_fluent_bit") {
        let v = version_of(&bin);
        let server = TestServer::start();
        let s = setup("outcomes", &server);
        let mut fb = Fb::with_config(&bin, &s.conf);
        server.wait_until("agent connected", Duration::from_secs(20), |r| {
            r.ws.iter().any(|c| !c.payloads.is_empty())
        });
        // Let the first PreRun (hot reload flag) reach the agent.
        std::thread::sleep(Duration::from_millis(500));

        // 1. A good config: APPLIED, and the new pipeline runs.
        let n = statuses(&server).len();
        server.push_ws(messages::config_offer(&good("remote1"), b"good-1"));
        let (st, seq) = outcome(&server, b"good-1", n, Duration::from_secs(30));
        println!("SUMMARY {v}: good config: {}", seq.join(" -> "));
        assert_eq!(st.status, 1, "{seq:?}");
        assert!(
            fb.wait_for("remote1", Duration::from_secs(10)),
            "new pipeline runs"
        );
        let reloads_after_good = fb.count("reloading instance");

        // 2. An unknown plugin: FAILED naming it, old pipeline still runs.
        let n = statuses(&server).len();
        server.push_ws(messages::config_offer(
            "[INPUT]\n    Name no_such_plugin\n",
            b"bad-plugin",
        ));
        let (st, seq) = outcome(&server, b"bad-plugin", n, Duration::from_secs(30));
        println!("SUMMARY {v}: unknown plugin: {}", seq.join(" -> "));
        assert_eq!(st.status, 3);
        assert!(
            st.error_message.contains("no_such_plugin"),
            "{}",
            st.error_message
        );
        let before = fb.count("remote1");
        std::thread::sleep(Duration::from_millis(1500));
        assert!(
            fb.count("remote1") > before,
            "last good pipeline keeps running"
        );
        assert_eq!(
            std::fs::read_to_string(&s.managed).unwrap(),
            good("remote1")
        );

        // 3. A denied plugin: FAILED by policy, nothing written.
        let n = statuses(&server).len();
        server.push_ws(messages::config_offer(
            "[INPUT]\n    Name exec\n    Command id\n",
            b"denied",
        ));
        let (st, seq) = outcome(&server, b"denied", n, Duration::from_secs(10));
        println!("SUMMARY {v}: denied plugin: {}", seq.join(" -> "));
        assert_eq!(st.status, 3);
        assert!(st.error_message.contains("exec"), "{}", st.error_message);
        assert_eq!(
            std::fs::read_to_string(&s.managed).unwrap(),
            good("remote1"),
            "nothing written"
        );

        // 4. The same config again: APPLIED, no second reload.
        let n = statuses(&server).len();
        server.push_ws(messages::config_offer(&good("remote1"), b"good-1"));
        let (st, seq) = outcome(&server, b"good-1", n, Duration::from_secs(15));
        println!("SUMMARY {v}: same config twice: {}", seq.join(" -> "));
        assert_eq!(st.status, 1);
        std::thread::sleep(Duration::from_millis(1000));
        assert_eq!(
            fb.count("reloading instance"),
            reloads_after_good,
            "one reload only"
        );

        // 5. 50 good configs in a row, timing offer -> APPLIED.
        let rss_start = fb.rss_kib();
        let mut times = Vec::new();
        let mut rss_10 = 0;
        for i in 0..50 {
            let hash = format!("run-{i}");
            let n = statuses(&server).len();
            let t0 = Instant::now();
            server.push_ws(messages::config_offer(
                &good(&format!("run{i}")),
                hash.as_bytes(),
            ));
            let (st, seq) = outcome(&server, hash.as_bytes(), n, Duration::from_secs(30));
            assert_eq!(st.status, 1, "apply {i}: {seq:?}");
            times.push(t0.elapsed().as_secs_f64() * 1000.0);
            if i == 9 {
                rss_10 = fb.rss_kib();
            }
        }
        let rss_50 = fb.rss_kib();
        assert!(fb.wait_for("run49", Duration::from_secs(10)));
        assert!(fb.child.try_wait().unwrap().is_none(), "no crash");
        let first20 = &mut times[..20].to_vec();
        println!(
            "SUMMARY {v}: 50 good configs: 50 APPLIED; offer->APPLIED median of first 20 = {:.0} ms, median of 50 = {:.0} ms; RSS start {} KiB, after 10 {} KiB, after 50 {} KiB",
            median(first20),
            median(&mut times.clone()),
            rss_start,
            rss_10,
            rss_50
        );
        fb.terminate();
        let _ = std::fs::remove_dir_all(&s.dir);
    }
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn init_failure_restores_last_known_good_within_one_restart() {
    for bin in binaries("init_failure_restores_last_known_good_within_one_restart") {
        let v = version_of(&bin);
        let server = TestServer::start();
        let s = setup("abort", &server);
        let mut fb = Fb::with_config(&bin, &s.conf);
        server.wait_until("agent connected", Duration::from_secs(20), |r| {
            r.ws.iter().any(|c| !c.payloads.is_empty())
        });
        std::thread::sleep(Duration::from_millis(500));
        let n = statuses(&server).len();
        server.push_ws(messages::config_offer(&good("lkg"), b"lkg"));
        assert_eq!(
            outcome(&server, b"lkg", n, Duration::from_secs(30))
                .0
                .status,
            1
        );

        // Passes --dry-run, fails in init: a tcp input on a port in use.
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = busy.local_addr().unwrap().port();
        let bad = format!(
            "{}\n[INPUT]\n    Name tcp\n    Listen 127.0.0.1\n    Port {port}\n",
            good("doomed")
        );
        let n = statuses(&server).len();
        server.push_ws(messages::config_offer(&bad, b"port-in-use"));
        let code = fb.wait_exit(Duration::from_secs(30));
        println!("SUMMARY {v}: port in use: Fluent Bit exited with {code:?}");
        assert_eq!(
            std::fs::read_to_string(&s.managed).unwrap(),
            good("lkg"),
            "LKG restored before exit"
        );
        let seen: Vec<String> = statuses(&server)
            .iter()
            .skip(n)
            .filter(|s| s.last_remote_config_hash == b"port-in-use")
            .map(|s| name(s.status).to_string())
            .collect();

        // The restarter's job: start it again. It runs the LKG pipeline and
        // reports FAILED for the config that killed it.
        let n = statuses(&server).len();
        let mut fb = Fb::with_config(&bin, &s.conf);
        let (st, seq) = outcome(&server, b"port-in-use", n, Duration::from_secs(30));
        println!(
            "SUMMARY {v}: port in use: before exit {} ; after restart {}",
            seen.join(" -> "),
            seq.join(" -> ")
        );
        assert_eq!(st.status, 3);
        assert!(
            fb.wait_for("lkg", Duration::from_secs(10)),
            "LKG pipeline runs after one restart"
        );
        // It is never applied again.
        let n = statuses(&server).len();
        server.push_ws(messages::config_offer(&bad, b"port-in-use"));
        let (st, _) = outcome(&server, b"port-in-use", n, Duration::from_secs(15));
        assert_eq!(st.status, 3);
        assert!(fb.child.try_wait().unwrap().is_none(), "no crash loop");
        fb.terminate();
        drop(busy);
        let _ = std::fs::remove_dir_all(&s.dir);
    }
}

fn reload_count(port: u16) -> u64 {
    ureq::get(&format!("http://127.0.0.1:{port}/api/v2/reload"))
        .config()
        .timeout_global(Some(Duration::from_millis(500)))
        .build()
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .and_then(|t| {
            let n = t.split("\"hot_reload_count\":").nth(1)?;
            n.trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Fluent Bit's own reload time without the plugin, for comparison with the
/// apply latency: SIGHUP to the reload counter rising, 20 times.
#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn fluent_bit_reload_time_without_the_plugin() {
    for bin in binaries("fluent_bit_reload_time_without_the_plugin") {
        let dir = tmpdir("reloadtime");
        let port = free_port();
        let conf = dir.join("fb.conf");
        std::fs::write(
            &conf,
            format!(
                "[SERVICE]\n    Flush 1\n    Grace 1\n    Hot_Reload On\n    HTTP_Server On\n    HTTP_Listen 127.0.0.1\n    HTTP_Port {port}\n\n\
                 [INPUT]\n    Name dummy\n    Tag base\n    Rate 2\n\n[OUTPUT]\n    Name null\n    Match base\n\n{}",
                good("plain")
            ),
        )
        .unwrap();
        let mut fb = Fb::with_config(&bin, &conf);
        assert!(fb.wait_for("plain", Duration::from_secs(10)));
        let mut times = Vec::new();
        for i in 1..=20usize {
            let t0 = Instant::now();
            fb.signal("-HUP");
            let end = t0 + Duration::from_secs(20);
            // The reload counter of the HTTP API: every version has it,
            // while the "successful reload done" log line is 4.x and later.
            while reload_count(port) < i as u64 {
                assert!(Instant::now() < end, "reload {i}: {}", fb.all());
                std::thread::sleep(Duration::from_millis(2));
            }
            times.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        println!("SUMMARY {}: Fluent Bit's own hot reload (SIGHUP -> reload count rises), median of 20 = {:.0} ms", version_of(&bin), median(&mut times));
        fb.terminate();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
