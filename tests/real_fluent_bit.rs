//! Tests against real Fluent Bit binaries named by `FLUENT_BIT_BIN` (one path,
//! or several separated by `:` or `,`). Without it every test here is
//! ignored (build.rs sets `cfg(fluent_bit)` from the variable), so the
//! runner's counts show them as not run.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fluent_bit_opamp::proto::{AgentToServer, ComponentHealth};
use support::fluent_bit::{binaries, free_port, plugin_path, tmpdir, version_of, Fb};

/// SIGHUP until generation `n` attaches. Fluent Bit drops a SIGHUP that
/// arrives while the previous reload is still finishing ("reloading in
/// progress, aborting"), so a retry is normal under load.
fn reload_to(fb: &mut Fb, n: u64) {
    let want = format!("generation {n} attached");
    for _ in 0..5 {
        fb.signal("-HUP");
        if fb.wait_for(&want, Duration::from_secs(4)) {
            return;
        }
    }
    panic!("reload to generation {n} never happened: {}", fb.all());
}

const STARTED: &str = "OpAMP client thread started (tid=";

fn tid_of_start(text: &str) -> String {
    text.split(STARTED)
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_string()
}

fn classic(dir: &Path, extra: &str) -> PathBuf {
    std::fs::write(
        dir.join("plugins.conf"),
        format!("[PLUGINS]\n    Path {}\n", plugin_path().display()),
    )
    .unwrap();
    let conf = dir.join("fluent-bit.conf");
    std::fs::write(
        &conf,
        format!(
            // Absolute: on reload Fluent Bit resolves a relative Plugins_File
            // against its working directory, not the config's folder.
            "[SERVICE]\n    Flush 1\n    Hot_Reload On\n    Plugins_File {}\n    Log_Level info\n\n\
             [INPUT]\n    Name dummy\n    Tag d\n    Rate 5\n\n\
             [INPUT]\n    Name opamp\n    Endpoint ws://127.0.0.1:9/v1/opamp\n    State_Dir {}\n{extra}\n\
             [OUTPUT]\n    Name stdout\n    Match *\n",
            dir.join("plugins.conf").display(),
            dir.join("state").display()
        ),
    )
    .unwrap();
    conf
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn classic_plugins_file_survives_twenty_hot_reloads() {
    for bin in binaries("classic_plugins_file_survives_twenty_hot_reloads") {
        let dir = tmpdir("classic");
        let conf = classic(&dir, "");
        let mut fb = Fb::spawn(&bin, &["-c".into(), conf.display().to_string()]);
        assert!(
            fb.wait_for(STARTED, Duration::from_secs(10)),
            "{}",
            fb.all()
        );
        assert!(
            fb.wait_for("\"message\"=>\"dummy\"", Duration::from_secs(10))
                || fb.wait_for("dummy", Duration::from_secs(5))
        );
        let tid = tid_of_start(&fb.all());
        for n in 2..=21u64 {
            reload_to(&mut fb, n);
            let line = format!("generation {n} attached to OpAMP client thread (tid={tid})");
            assert!(
                fb.all().contains(&line),
                "reload {n} on another thread: {}",
                fb.all()
            );
        }
        assert_eq!(
            fb.all().matches(STARTED).count(),
            1,
            "one client thread throughout"
        );
        let before = fb.out.lock().unwrap().len();
        std::thread::sleep(Duration::from_millis(1500));
        assert!(
            fb.out.lock().unwrap().len() > before,
            "dummy records keep flowing after reloads"
        );
        let took = fb.terminate();
        println!("SUMMARY {}: classic Plugins_File, 20 SIGHUP reloads on tid {tid}, SIGTERM exit in {} ms", version_of(&bin), took.as_millis());
        assert!(
            took < Duration::from_secs(2),
            "exit took {took:?}: {}",
            fb.all()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn yaml_plugins_section_loads_the_plugin() {
    for bin in binaries("yaml_plugins_section_loads_the_plugin") {
        let dir = tmpdir("yaml");
        let conf = dir.join("fluent-bit.yaml");
        // 2.2's YAML reader has no top-level `plugins:` list (a sequence
        // there is a syntax error); it loads plugins from `plugins_file`.
        let plugins = if version_of(&bin).contains("v2.2.") {
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
        std::fs::write(
            &conf,
            format!(
                "service:\n  flush: 1\n  hot_reload: on\n{plugins}\npipeline:\n  inputs:\n    - name: dummy\n      rate: 5\n    - name: opamp\n      endpoint: ws://127.0.0.1:9/v1/opamp\n      state_dir: {}\n      header:\n        - Authorization Bearer yaml-secret\n        - X-Tenant t1\n  outputs:\n    - name: stdout\n      match: '*'\n",
                dir.join("state").display()
            ),
        )
        .unwrap();
        let mut fb = Fb::spawn(&bin, &["-c".into(), conf.display().to_string()]);
        assert!(
            fb.wait_for(STARTED, Duration::from_secs(10)),
            "{}",
            fb.all()
        );
        assert!(fb.wait_for("dummy", Duration::from_secs(10)));
        fb.signal("-HUP");
        assert!(
            fb.wait_for("generation 2 attached", Duration::from_secs(15)),
            "{}",
            fb.all()
        );
        assert!(
            !fb.all().contains("yaml-secret"),
            "a header value reached the log"
        );
        let took = fb.terminate();
        println!(
            "SUMMARY {}: YAML plugins:, reload ok, SIGTERM exit in {} ms",
            version_of(&bin),
            took.as_millis()
        );
        assert!(took < Duration::from_secs(2));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn command_line_e_loads_the_plugin() {
    for bin in binaries("command_line_e_loads_the_plugin") {
        let dir = tmpdir("dashe");
        let args: Vec<String> = [
            "-e",
            &plugin_path().display().to_string(),
            "-i",
            "opamp",
            "-p",
            "endpoint=ws://127.0.0.1:9/v1/opamp",
            "-p",
            &format!("state_dir={}", dir.join("state").display()),
            "-i",
            "dummy",
            "-o",
            "stdout",
            "-f",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut fb = Fb::spawn(&bin, &args);
        assert!(
            fb.wait_for(STARTED, Duration::from_secs(10)),
            "{}",
            fb.all()
        );
        assert!(fb.wait_for("dummy", Duration::from_secs(10)));
        let took = fb.terminate();
        println!(
            "SUMMARY {}: -e load ok, SIGTERM exit in {} ms",
            version_of(&bin),
            took.as_millis()
        );
        assert!(took < Duration::from_secs(2));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn bad_property_is_reported_and_fluent_bit_keeps_running() {
    for bin in binaries("bad_property_is_reported_and_fluent_bit_keeps_running") {
        // A usable endpoint: the client runs only to report the problem.
        // An unusable one: no client at all. The pipeline runs either way.
        for (extra, want, client) in [
            (
                "    Heartbeat_Interval soon\n    Endpont typo\n",
                "property 'heartbeat_interval': expected a time such as 30, 30s, 5m or 1h, got 'soon'",
                true,
            ),
            ("    Endpoint ftp://nope\n", "property 'endpoint':", false),
        ] {
            let dir = tmpdir("badprop");
            let conf = classic(&dir, extra);
            let mut fb = Fb::spawn(&bin, &["-c".into(), conf.display().to_string()]);
            assert!(fb.wait_for(want, Duration::from_secs(10)), "{}", fb.all());
            if client {
                assert!(fb.wait_for("unknown property 'endpont'", Duration::from_secs(2)));
                assert!(fb.wait_for("only reports this problem", Duration::from_secs(2)));
            } else {
                assert!(fb.wait_for("the OpAMP client is not running", Duration::from_secs(2)));
            }
            let before = fb.out.lock().unwrap().len();
            std::thread::sleep(Duration::from_millis(2500));
            assert!(fb.out.lock().unwrap().len() > before, "pipeline must keep running");
            assert_eq!(fb.all().contains(STARTED), client);
            let log: Vec<String> = fb
                .all()
                .lines()
                .filter(|l| l.contains("[input:opamp]") && (l.contains("error") || l.contains("warn")))
                .map(String::from)
                .collect();
            println!("SUMMARY {}: {}\n{}", version_of(&bin), want, log.join("\n"));
            let took = fb.terminate();
            assert!(took < Duration::from_secs(2));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// A loopback HTTP sink answering 200 to everything, until dropped.
struct Sink {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Sink {
    fn open(port: u16) -> Sink {
        use std::io::Write;
        let l = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(120);
            while !s.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < end {
                match l.accept() {
                    Ok((mut c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        c.set_read_timeout(Some(Duration::from_millis(200)))
                            .unwrap();
                        let mut buf = [0u8; 65536];
                        let _ = c.read(&mut buf);
                        let _ = c.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Sink { stop }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn health_tree(h: &ComponentHealth, name: &str, depth: usize, out: &mut String) {
    out.push_str(&format!(
        "{}{name}: healthy={} status={:?} last_error={:?}\n",
        "  ".repeat(depth),
        h.healthy,
        h.status,
        h.last_error
    ));
    for (k, c) in &h.component_health_map {
        health_tree(c, k, depth + 1, out);
    }
}

fn healths(server: &support::TestServer) -> Vec<ComponentHealth> {
    server
        .recorded()
        .ws
        .iter()
        .flat_map(|c| c.messages())
        .filter_map(|m: AgentToServer| m.health)
        .collect()
}

fn output_health(h: &ComponentHealth) -> Option<bool> {
    h.component_health_map
        .get("output:http.0")
        .map(|c| c.healthy)
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn output_to_closed_port_turns_unhealthy_then_healthy_and_reloads_report_no_false_alarm() {
    for bin in binaries("output_to_closed_port_turns_unhealthy_then_healthy") {
        let dir = tmpdir("health");
        let server = support::TestServer::start();
        let sink_port = free_port();
        let http_port = free_port();
        std::fs::write(
            dir.join("plugins.conf"),
            format!("[PLUGINS]\n    Path {}\n", plugin_path().display()),
        )
        .unwrap();
        let conf = dir.join("fluent-bit.conf");
        std::fs::write(
            &conf,
            format!(
                "[SERVICE]\n    Flush 1\n    Hot_Reload On\n    HTTP_Server On\n    HTTP_Listen 127.0.0.1\n    HTTP_Port {http_port}\n    Plugins_File {}\n\n\
                 [INPUT]\n    Name dummy\n    Rate 5\n\n\
                 [INPUT]\n    Name opamp\n    Endpoint {}\n    State_Dir {}\n    Http_Server http://127.0.0.1:{http_port}\n    Health_Interval 1s\n\n\
                 [OUTPUT]\n    Name http\n    Match *\n    Host 127.0.0.1\n    Port {sink_port}\n    Retry_Limit 1\n    http_Passwd hunter2\n    http_User u\n",
                dir.join("plugins.conf").display(),
                server.ws_url(),
                dir.join("state").display()
            ),
        )
        .unwrap();
        let t0 = Instant::now();
        let mut fb = Fb::spawn(&bin, &["-c".into(), conf.display().to_string()]);
        let unhealthy =
            server.wait_until("output:http.0 unhealthy", Duration::from_secs(40), |_| {
                healths(&server)
                    .iter()
                    .any(|h| output_health(h) == Some(false))
            });
        drop(unhealthy);
        let bad = healths(&server)
            .into_iter()
            .find(|h| output_health(h) == Some(false))
            .unwrap();
        let mut tree = String::new();
        health_tree(&bad, "agent", 0, &mut tree);
        println!(
            "SUMMARY {}: unhealthy after {:.1}s:\n{tree}",
            version_of(&bin),
            t0.elapsed().as_secs_f64()
        );
        assert!(!bad.component_health_map["output:http.0"]
            .last_error
            .is_empty());

        let _sink = Sink::open(sink_port);
        let t1 = Instant::now();
        server.wait_until(
            "output:http.0 healthy again",
            Duration::from_secs(40),
            |_| healths(&server).last().and_then(output_health) == Some(true),
        );
        let good = healths(&server).pop().unwrap();
        let mut tree = String::new();
        health_tree(&good, "agent", 0, &mut tree);
        println!(
            "SUMMARY {}: healthy {:.1}s after the port opened:\n{tree}",
            version_of(&bin),
            t1.elapsed().as_secs_f64()
        );

        // Reloads reset every counter; none of that may read as a failure.
        let before = healths(&server).len();
        for n in 2..=4u64 {
            reload_to(&mut fb, n);
        }
        std::thread::sleep(Duration::from_secs(8));
        let after: Vec<ComponentHealth> = healths(&server).into_iter().skip(before).collect();
        for h in &after {
            assert!(
                h.healthy && output_health(h) != Some(false),
                "false alarm after reload: {h:?}"
            );
        }
        println!(
            "SUMMARY {}: {} health reports across 3 reloads, all healthy",
            version_of(&bin),
            after.len()
        );

        // The effective config went out, with the password redacted.
        let cfg_text: String = server
            .recorded()
            .ws
            .iter()
            .flat_map(|c| c.messages())
            .filter_map(|m| m.effective_config)
            .filter_map(|e| e.config_map)
            .flat_map(|m| m.config_map.into_values())
            .map(|f| String::from_utf8_lossy(&f.body).into_owned())
            .collect();
        assert!(
            cfg_text.contains("Retry_Limit"),
            "effective config reported"
        );
        assert!(!cfg_text.contains("hunter2"), "secret leaked: {cfg_text}");
        fb.terminate();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
