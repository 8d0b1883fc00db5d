//! The collector against real Fluent Bit binaries named by `FLUENT_BIT_BIN`
//! (one path, or several separated by `:` or `,`): an http output pointed at
//! a closed loopback port must turn unhealthy with a clear `last_error`, then
//! healthy once a listener opens on that port. Without `FLUENT_BIT_BIN` the
//! test is ignored.
//!
//! Run with `--nocapture` to see the reported health trees.

mod support;

use support::fluent_bit::free_port;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fluent_bit_opamp::proto::{any_value::Value, ComponentHealth};
use fluent_bit_opamp::status::description::Identity;
use fluent_bit_opamp::status::health::HealthPolicy;
use fluent_bit_opamp::status::{Collector, CollectorConfig};

const SAMPLE_EVERY: Duration = Duration::from_secs(2);

fn binaries() -> Vec<PathBuf> {
    support::fluent_bit::binaries("status_real_fluent_bit")
}

struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Answers every HTTP request on the connection with 200, keep-alive.
fn serve_ok(stream: TcpStream) {
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    loop {
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; len];
        if r.read_exact(&mut body).is_err()
            || w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .is_err()
        {
            return;
        }
    }
}

fn open_sink(port: u16) {
    let l = TcpListener::bind(("127.0.0.1", port)).expect("bind the once-closed port");
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || serve_ok(s));
        }
    });
}

fn attr(h: &ComponentHealth, key: &str) -> String {
    h.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            Value::StringValue(s) => s.clone(),
            Value::IntValue(i) => i.to_string(),
            Value::DoubleValue(d) => d.to_string(),
            other => format!("{other:?}"),
        })
        .unwrap_or_default()
}

fn tree(h: &ComponentHealth) -> String {
    let mut s = format!(
        "healthy={} status={:?}\n  last_error={:?}\n  cpu.utilization={} memory.usage={} health_check={}\n",
        h.healthy,
        h.status,
        h.last_error,
        attr(h, "process.cpu.utilization"),
        attr(h, "process.memory.usage"),
        attr(h, "fluentbit.health_check"),
    );
    for (k, c) in &h.component_health_map {
        s.push_str(&format!(
            "  {k}: healthy={} status={:?}",
            c.healthy, c.status
        ));
        if !c.last_error.is_empty() {
            s.push_str(&format!(" last_error={:?}", c.last_error));
        }
        s.push('\n');
    }
    s
}

fn http_out(h: &ComponentHealth) -> Option<&ComponentHealth> {
    h.component_health_map.get("output:http.0")
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn closed_port_output_turns_unhealthy_then_healthy() {
    for bin in binaries() {
        let dir = std::env::temp_dir().join(format!(
            "opamp-status-real-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (http_port, sink_port) = (free_port(), free_port());
        let conf = dir.join("fluent-bit.conf");
        std::fs::write(
            &conf,
            format!(
                "[SERVICE]\n    Flush 1\n    HTTP_Server On\n    HTTP_Listen 127.0.0.1\n    HTTP_Port {http_port}\n    Health_Check On\n@INCLUDE pipeline.conf\n"
            ),
        )
        .unwrap();
        std::fs::write(
            dir.join("pipeline.conf"),
            format!(
                "[INPUT]\n    Name dummy\n    Rate 5\n[OUTPUT]\n    Name http\n    Match *\n    Host 127.0.0.1\n    Port {sink_port}\n    HTTP_User u\n    HTTP_Passwd real-test-secret\n    Retry_Limit 1\n"
            ),
        )
        .unwrap();
        let _fb = Running(
            Command::new(&bin)
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start fluent-bit"),
        );

        let mut policy = HealthPolicy::for_interval(SAMPLE_EVERY);
        policy.cpus = 1;
        let window = policy.window;
        let mut c = Collector::new(CollectorConfig {
            identity: Identity {
                service_name: "io.fluentbit.fluent-bit".into(),
                ..Default::default()
            },
            instance_uid: [1; 16],
            http_server: format!("http://127.0.0.1:{http_port}"),
            http_off: None,
            http_source: "test",
            bootstrap: Some(conf.clone()),
            args: vec![],
            redact_keys: vec![],
            policy,
        });
        let started = Instant::now();
        let mut sent_config = None;
        let mut version_seen = None;

        // Phase 1: the port is closed.
        let mut unhealthy_at = None;
        while started.elapsed() < Duration::from_secs(45) {
            let u = c.sample(Instant::now());
            if let Some(e) = u.effective_config {
                sent_config = Some(e);
            }
            if let Some(d) = u.description {
                version_seen = d
                    .identifying_attributes
                    .iter()
                    .find(|kv| kv.key == "service.version")
                    .and_then(|kv| kv.value.clone());
            }
            if let Some(h) = u.health {
                if http_out(&h).is_some_and(|o| !o.healthy) {
                    eprintln!(
                        "{} after {:?}, reported:\n{}",
                        bin.display(),
                        started.elapsed(),
                        tree(&h)
                    );
                    unhealthy_at = Some((started.elapsed(), h));
                    break;
                }
            }
            std::thread::sleep(SAMPLE_EVERY);
        }
        let (took, bad) = unhealthy_at.unwrap_or_else(|| {
            panic!(
                "{}: output:http.0 never reported unhealthy; last: {:?}",
                bin.display(),
                c.current_health().map(tree)
            )
        });
        let err = &http_out(&bad).unwrap().last_error;
        assert!(
            err.starts_with("output http.0: ") && err.contains("in the last"),
            "{err}"
        );
        assert!(
            !bad.healthy && bad.last_error.contains("output http.0"),
            "{}",
            bad.last_error
        );
        assert!(
            version_seen.is_some(),
            "service.version learned from the live server"
        );
        let cfg = sent_config.expect("effective config sent");
        let files = &cfg.config_map.as_ref().unwrap().config_map;
        let pipeline = String::from_utf8(files["pipeline.conf"].body.clone()).unwrap();
        assert!(
            pipeline.contains("HTTP_Passwd <redacted>") && !pipeline.contains("real-test-secret"),
            "{pipeline}"
        );
        assert!(files.contains_key("fluent-bit.conf"));
        eprintln!("  unhealthy reported {took:?} after start (window {window:?})");

        // Phase 2: the port opens.
        open_sink(sink_port);
        let opened = Instant::now();
        let mut healthy = None;
        while opened.elapsed() < Duration::from_secs(60) {
            if let Some(h) = c.sample(Instant::now()).health {
                if http_out(&h).is_some_and(|o| o.healthy) {
                    healthy = Some(h);
                    break;
                }
            }
            std::thread::sleep(SAMPLE_EVERY);
        }
        let good = healthy.unwrap_or_else(|| {
            panic!(
                "{}: output:http.0 never recovered; last: {:?}",
                bin.display(),
                c.current_health().map(tree)
            )
        });
        eprintln!(
            "{} {:?} after the port opened, reported:\n{}",
            bin.display(),
            opened.elapsed(),
            tree(&good)
        );
        assert!(http_out(&good).unwrap().last_error.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
