//! The apply pipeline against a real Fluent Bit process (FLUENT_BIT_BIN),
//! without the plugin loaded: the driver signals that process instead of
//! itself and confirms through the reload count of Fluent Bit's HTTP
//! server, and the test stands in for the ABORTED callback when the process
//! exits. This checks what only a real reload can: that the swapped file
//! and its folder load the way the dry run said they would.

mod support;

use support::fluent_bit::free_port;

use std::fs;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fluent_bit_opamp::config::properties::PluginPolicy;
use fluent_bit_opamp::proto::{
    AgentConfigFile, AgentConfigMap, AgentRemoteConfig, RemoteConfigStatuses,
};
use fluent_bit_opamp::remote::apply::{self, Timing};
use fluent_bit_opamp::remote::policy::{Format, Policy};
use fluent_bit_opamp::remote::staging::Layout;
use fluent_bit_opamp::remote::validate::{DryRun, DEFAULT_TIMEOUT};
use fluent_bit_opamp::remote::{Host, Options, RemoteConfig};

fn binaries() -> Vec<PathBuf> {
    support::fluent_bit::binaries("remote_real_reload")
}

/// Signals the Fluent Bit child, as `signal_reload` signals our own pid.
struct ChildHost {
    pid: u32,
    dry: DryRun,
}

impl Host for ChildHost {
    fn signal_reload(&mut self) -> io::Result<()> {
        let ok = Command::new("kill")
            .arg("-HUP")
            .arg(self.pid.to_string())
            .status()?
            .success();
        ok.then_some(())
            .ok_or_else(|| io::Error::other("kill -HUP failed"))
    }
    fn dry_run(&mut self, layout: &Layout) -> Result<(), String> {
        self.dry.check(layout)
    }
}

fn reload_count(port: u16) -> Option<u64> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /api/v2/reload HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    // Older servers keep the connection open: stop at the end of the JSON.
    let mut body = String::new();
    let mut buf = [0u8; 1024];
    while !body.contains('}') {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        body.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let n = body.split("\"hot_reload_count\":").nth(1)?;
    n.trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Kills the Fluent Bit child even when an assertion fails.
struct Fb(Child);

impl Drop for Fb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(bin: &Path, bootstrap: &Path, log: &Path) -> Fb {
    Fb(Command::new(bin)
        .arg("-c")
        .arg(bootstrap)
        .stdout(Stdio::from(fs::File::create(log).unwrap()))
        .stderr(Stdio::from(
            fs::File::create(log.with_extension("err")).unwrap(),
        ))
        .spawn()
        .unwrap())
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the next connection to `sink` sends within a few seconds.
fn received(sink: &TcpListener) -> String {
    sink.set_nonblocking(true).unwrap();
    let t = Instant::now();
    let mut conn = loop {
        match sink.accept() {
            Ok((c, _)) => break c,
            Err(_) if t.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("no connection from Fluent Bit: {e}"),
        }
    };
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    let n = conn.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn offer(hash: &str, files: &[(&str, String)]) -> AgentRemoteConfig {
    let mut m = AgentConfigMap::default();
    for (k, body) in files {
        m.config_map.insert(
            k.to_string(),
            AgentConfigFile {
                body: body.clone().into_bytes(),
                content_type: String::new(),
            },
        );
    }
    AgentRemoteConfig {
        config: Some(m),
        config_hash: hash.as_bytes().to_vec(),
    }
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn apply_confirm_and_abort_against_a_real_reload() {
    for bin in binaries() {
        let dir = std::env::temp_dir().join(format!("opamp-real-reload-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("etc")).unwrap();
        fs::create_dir_all(dir.join("state")).unwrap();
        let http = free_port();
        let bootstrap = dir.join("etc/fluent-bit.conf");
        fs::write(
        &bootstrap,
        format!(
            "[SERVICE]\n    Flush 1\n    Grace 1\n    Hot_Reload On\n    HTTP_Server On\n    HTTP_Listen 127.0.0.1\n    HTTP_Port {http}\n\
             @INCLUDE managed.conf\n[INPUT]\n    Name dummy\n    Tag local\n[OUTPUT]\n    Name null\n    Match local\n"
        ),
    )
    .unwrap();
        let layout = Layout::new(&dir.join("etc/managed.conf"), &dir.join("state"));
        fs::write(&layout.managed, "").unwrap();

        let log = dir.join("fb.log");
        let mut child = start(&bin, &bootstrap, &log);
        wait_for("the HTTP server", Duration::from_secs(10), || {
            reload_count(http).is_some()
        });

        let opts = || Options {
            policy: Policy {
                enabled: true,
                format: Format::Classic,
                main_name: "managed.conf".into(),
                folder: layout.folder.clone(),
                plugins: PluginPolicy::Deny(vec!["exec".into()]),
                max_size: 1 << 20,
                paths: fluent_bit_opamp::remote::paths::AllowPaths::Any,
            },
            timing: Timing {
                confirm_timeout: Duration::from_secs(5),
                max_signals: 3,
                health_gate: Duration::ZERO,
            },
            layout: Some(layout.clone()),
        };
        let dry = DryRun {
            binary: bin.clone(),
            bootstrap: bootstrap.clone(),
            extra_args: vec![],
            timeout: DEFAULT_TIMEOUT,
        };
        let mut rc = RemoteConfig::with_host(
            opts(),
            Box::new(ChildHost {
                pid: child.0.id(),
                dry: dry.clone(),
            }),
        );
        let t0 = Instant::now();
        rc.on_pre_run(t0, 1, true);
        rc.on_reload_count(t0, reload_count(http).unwrap());

        // A good config whose output, in a file of the managed folder, sends
        // its records to us.
        let sink = TcpListener::bind("127.0.0.1:0").unwrap();
        let main = "[INPUT]\n    Name dummy\n    Tag remote\n    Dummy {\"from\":\"remote\"}\n\
                @INCLUDE managed.d/out.conf\n";
        let out = format!(
        "[OUTPUT]\n    Name tcp\n    Match remote\n    Host 127.0.0.1\n    Port {}\n    Format json_lines\n",
        sink.local_addr().unwrap().port()
    );
        let good = offer("good", &[("", main.into()), ("out.conf", out)]);
        let st = rc.on_offer(Instant::now(), good.clone()).unwrap();
        assert_eq!(
            st.status,
            RemoteConfigStatuses::Applying as i32,
            "{}",
            st.error_message
        );
        wait_for("the reload", Duration::from_secs(15), || {
            if let Some(n) = reload_count(http) {
                rc.on_reload_count(Instant::now(), n);
            }
            rc.on_tick(Instant::now(), None);
            !rc.is_busy()
        });
        let st = rc.status().unwrap();
        assert_eq!(
            st.status,
            RemoteConfigStatuses::Applied as i32,
            "{}",
            st.error_message
        );
        assert!(received(&sink).contains("remote"), "the new pipeline runs");

        // The same config again: no second reload.
        let before = reload_count(http).unwrap();
        let st = rc.on_offer(Instant::now(), good).unwrap();
        assert_eq!(st.status, RemoteConfigStatuses::Applied as i32);
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(reload_count(http).unwrap(), before);

        // Passes the dry run, fails at init: the port is taken.
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let bad = offer(
            "bad",
            &[(
                "",
                format!("[INPUT]\n    Name tcp\n    Listen 127.0.0.1\n    Port {port}\n"),
            )],
        );
        rc.on_offer(Instant::now(), bad);
        let exited = {
            let t = Instant::now();
            loop {
                if let Some(s) = child.0.try_wait().unwrap() {
                    break Some(s);
                }
                if t.elapsed() > Duration::from_secs(15) {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        let Some(status) = exited else {
            panic!(
                "Fluent Bit did not exit on an init failure; log: {}",
                fs::read_to_string(log.with_extension("err")).unwrap_or_default()
            );
        };
        eprintln!("Fluent Bit exited with {status} on the init failure");
        // Connections of the old process still queued must not count below.
        sink.set_nonblocking(true).unwrap();
        while sink.accept().is_ok() {}
        // What the plugin's Unregister does before that exit.
        rc.on_aborted();
        drop(rc);
        assert!(
            fs::read_to_string(&layout.managed)
                .unwrap()
                .contains("Tag remote"),
            "last-known-good is back"
        );

        // The restarter starts it again: it runs the last-known-good.
        let child = start(&bin, &bootstrap, &log);
        wait_for("the restarted HTTP server", Duration::from_secs(10), || {
            reload_count(http).is_some()
        });
        assert!(
            received(&sink).contains("remote"),
            "the last-known-good runs"
        );
        let rc = RemoteConfig::with_host(
            opts(),
            Box::new(ChildHost {
                pid: child.0.id(),
                dry,
            }),
        );
        let st = rc.startup_status().unwrap();
        assert_eq!(st.last_remote_config_hash, b"bad");
        assert_eq!(st.error_message, apply::ABORTED);
        drop(taken);
        drop(child);
        let _ = fs::remove_dir_all(&dir);
    }
}
