//! Management event records through the real FFI path, in CI: the C host
//! runs the proxy collector as Fluent Bit does (tests/host/proxy_host.c:
//! no cleanup for an empty or failed collect, cleanup after the copy, per
//! emulated version), the test server connects the agent and pushes
//! configs, and the records the host received are decoded here with the
//! tests' own msgpack reader.

mod support;

use support::c_host::build_host;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fluent_bit_opamp::core::format_uuid;
use support::fluent_bit::{plugin_path, tmpdir};
use support::msgpack::{as_record, decode_all, Mp};
use support::{messages, TestServer};

const SECRET: &str = "sekrit-event-token-4711";

struct Host {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Host {
    fn start(conf: &Path, managed: &Path, extra: &[&str]) -> Host {
        let mut child = Command::new(build_host::host_path())
            .arg("--plugin")
            .arg(plugin_path())
            .arg("-c")
            .arg(conf)
            .arg("--verdict-file")
            .arg(managed)
            .arg("--log")
            .arg(conf.with_extension("log"))
            .args(["--scenario", "sighup", "--interval-ms", "100"])
            .args(["--steady-ms", "100"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the C host");
        let out = Arc::new(Mutex::new(String::new()));
        let buf = out.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                buf.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        Host { child, out }
    }

    fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    /// Every record the host's collector received, in order, as maps.
    fn records(&self) -> Vec<Mp> {
        let mut all = Vec::new();
        for line in self.output().lines() {
            let Some(rest) = line.strip_prefix("host: records len=") else {
                continue;
            };
            let (len, hex) = rest.split_once(" hex=").expect("hex");
            let bytes = unhex(hex);
            assert_eq!(bytes.len(), len.parse::<usize>().unwrap());
            for v in decode_all(&bytes).unwrap_or_else(|e| panic!("{e}: {hex}")) {
                let (_, map) = as_record(&v).unwrap();
                all.push(map.clone());
            }
        }
        all
    }

    fn wait_for_event(&self, event: &str, hash: &str) -> Mp {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let found = self.records().into_iter().find(|r| {
                r.str("event") == Some(event) && r.str("config_hash").unwrap_or("") == hash
            });
            if let Some(r) = found {
                return r;
            }
            assert!(
                Instant::now() < end,
                "no {event} record for '{hash}':\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

fn bootstrap(dir: &Path, server: &TestServer, extra: &str) -> (PathBuf, PathBuf) {
    let managed = dir.join("managed.conf");
    std::fs::write(&managed, "").unwrap();
    let conf = dir.join("fluent-bit.conf");
    std::fs::write(
        &conf,
        format!(
            "[SERVICE]\n    Hot_Reload On\n\n[INPUT]\n    Name opamp\n    Endpoint {}\n    State_Dir {}\n    \
             Header Authorization Bearer {SECRET}\n{extra}    Remote_Config On\n    Managed_Config {}\n\n\
             @INCLUDE managed.conf\n",
            server.ws_url(),
            dir.join("state").display(),
            managed.display()
        ),
    )
    .unwrap();
    (conf, managed)
}

fn connected_uid(server: &TestServer) -> String {
    let rec = server.wait_until("agent connected", Duration::from_secs(20), |r| {
        r.ws.iter().any(|c| !c.payloads.is_empty())
    });
    let first = rec.ws[0].messages().remove(0);
    // Let the first PreRun (the hot reload flag) reach the agent.
    std::thread::sleep(Duration::from_millis(300));
    format_uuid(&first.instance_uid.try_into().expect("16-byte UID"))
}

const GOOD: &str = "[INPUT]\n    Name dummy\n    Tag remote\n";
const DENIED: &str = "[INPUT]\n    Name exec\n    Command id\n";

/// One emulated version: the records arrive, carry the UID, the hashes and
/// the outcomes, no secret, and every buffer is released the way that
/// version releases it.
fn records_reach_the_collector(abi: &str, host_frees: bool) {
    let dir = tmpdir(&format!("chost-events-{abi}-{host_frees}"));
    let server = TestServer::start();
    let (conf, managed) = bootstrap(&dir, &server, "");
    let mut args = vec!["--abi", abi];
    if host_frees {
        args.push("--host-frees");
    }
    let host = Host::start(&conf, &managed, &args);
    let uid = connected_uid(&server);

    server.push_ws(messages::config_offer(GOOD, b"good"));
    let applied = host.wait_for_event("config_applied", &hex(b"good"));
    server.push_ws(messages::config_offer(DENIED, b"denied"));
    let refused = host.wait_for_event("config_refused", &hex(b"denied"));

    assert_eq!(applied.str("outcome"), Some("ok"));
    assert_eq!(refused.str("outcome"), Some("refused"));
    let reason = refused.str("reason").unwrap_or_default();
    assert!(reason.contains("exec"), "{reason}");

    let all = host.records();
    let names: Vec<&str> = all.iter().filter_map(|r| r.str("event")).collect();
    println!(
        "SUMMARY c-host abi {abi} host_frees={host_frees}: {}",
        names.join(", ")
    );
    let at = |e: &str, h: &str| {
        all.iter()
            .position(|r| r.str("event") == Some(e) && r.str("config_hash").unwrap_or("") == h)
            .unwrap_or_else(|| panic!("no {e} {h}: {names:?}"))
    };
    assert_eq!(names.first(), Some(&"connected"), "{names:?}");
    assert!(at("config_offered", &hex(b"good")) < at("config_applied", &hex(b"good")));
    assert!(at("config_applied", &hex(b"good")) < at("config_offered", &hex(b"denied")));
    assert!(at("config_offered", &hex(b"denied")) < at("config_refused", &hex(b"denied")));
    for r in &all {
        assert_eq!(r.str("instance_uid"), Some(uid.as_str()), "{r:?}");
    }
    let connected = &all[0];
    assert_eq!(connected.str("endpoint"), Some(server.ws_url().as_str()));

    let out = host.output();
    assert!(!out.contains(SECRET), "a secret reached a record:\n{out}");
    assert!(!out.contains("host: FAIL"), "{out}");
    let freed = if host_frees {
        "host: freed by host free()"
    } else {
        // No version finds a ...Ctx variant: the plain cleanup frees.
        "host: freed by cleanup\n"
    };
    let buffers = out.matches("host: records ").count();
    assert_eq!(out.matches(freed).count(), buffers, "{out}");
    drop(host);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn records_reach_a_3_2_collector() {
    records_reach_the_collector("32", false);
}

#[test]
fn records_reach_a_5_x_collector() {
    records_reach_the_collector("51", false);
}

/// A host that frees the buffer itself (no cleanup symbol found) frees it
/// with libc free(): the buffer must come from malloc, or glibc aborts.
#[test]
fn records_survive_a_host_that_frees_them() {
    records_reach_the_collector("51", true);
}

/// `Events off`: the collector gets nothing, whatever happens.
#[test]
fn events_off_emits_nothing() {
    let dir = tmpdir("chost-events-off");
    let server = TestServer::start();
    let (conf, managed) = bootstrap(&dir, &server, "    Events off\n");
    let host = Host::start(&conf, &managed, &["--abi", "51"]);
    connected_uid(&server);
    let n = server.remote_config_statuses().len();
    server.push_ws(messages::config_offer(DENIED, b"denied"));
    server.wait_until("refused", Duration::from_secs(20), |_| {
        server
            .remote_config_statuses()
            .iter()
            .skip(n)
            .any(|s| s.status == 3)
    });
    // Several collector ticks (100 ms each) after the refusal.
    std::thread::sleep(Duration::from_millis(500));
    let out = host.output();
    assert!(
        out.contains("host: stat") || out.contains("host: started"),
        "{out}"
    );
    assert!(!out.contains("host: records"), "{out}");
    drop(host);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The server goes away: a `disconnected` record says so, with the error
/// as its reason and the endpoint without its query string.
#[test]
fn a_lost_connection_is_a_disconnected_record() {
    let dir = tmpdir("chost-events-lost");
    let server = TestServer::start();
    let url = server.ws_url();
    let (conf, managed) = bootstrap(&dir, &server, "");
    let host = Host::start(&conf, &managed, &["--abi", "51"]);
    connected_uid(&server);
    drop(server);
    let end = Instant::now() + Duration::from_secs(20);
    let lost = loop {
        let found = host
            .records()
            .into_iter()
            .find(|r| r.str("event") == Some("disconnected"));
        if let Some(r) = found {
            break r;
        }
        assert!(
            Instant::now() < end,
            "no disconnected record:\n{}",
            host.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    println!("SUMMARY c-host: {lost:?}");
    assert_eq!(lost.str("outcome"), Some("failed"));
    assert!(
        !lost.str("reason").unwrap_or_default().is_empty(),
        "{lost:?}"
    );
    assert_eq!(lost.str("endpoint"), Some(url.as_str()));
    drop(host);
    let _ = std::fs::remove_dir_all(&dir);
}
