//! Changing Fluent Bit commands through the real FFI path, in CI: the C
//! host loads the plugin and reloads on its SIGHUP as Fluent Bit does; the
//! test server sends the commands. `temporary_config` reverts on time with
//! the server gone and across a restart, a remote config cancels it, a
//! refused one changes nothing, and a second changing command is "busy".

mod support;

use support::c_host::build_host;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::commands::reply_to;
use support::fluent_bit::{plugin_path, tmpdir};
use support::remote::wait_connected;
use support::{messages, TestServer};

const WAIT: Duration = Duration::from_secs(20);
const GOOD: &str = "[INPUT]\n    Name dummy\n    Tag base\n";
const TEMP: &str =
    "[INPUT]\n    Name dummy\n    Tag temporary\n[OUTPUT]\n    Name stdout\n    Match temporary\n";

struct Host {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Host {
    fn start(exe: &Path, conf: &Path, managed: &Path, env: &[(&str, &str)]) -> Host {
        let mut cmd = Command::new(exe);
        cmd.envs(env.iter().copied())
            .arg("--plugin")
            .arg(plugin_path())
            .arg("-c")
            .arg(conf)
            .arg("--verdict-file")
            .arg(managed)
            .arg("--log")
            .arg(managed.with_file_name("host.log"))
            .args([
                "--scenario",
                "sighup",
                "--interval-ms",
                "50",
                "--steady-ms",
                "100",
            ])
            .stdout(Stdio::piped());
        let mut child = loop {
            match cmd.spawn() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                other => break other.expect("spawn the C host"),
            }
        };
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

    fn reloads(&self) -> usize {
        self.out
            .lock()
            .unwrap()
            .matches("host: reload done")
            .count()
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let end = Instant::now() + WAIT;
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Setup {
    dir: PathBuf,
    conf: PathBuf,
    managed: PathBuf,
    exe: PathBuf,
}

impl Setup {
    fn new(name: &str, server: &TestServer) -> Setup {
        let dir = tmpdir(name);
        let managed = dir.join("managed.conf");
        std::fs::write(&managed, "").unwrap();
        let conf = dir.join("fluent-bit.conf");
        let opamp = format!(
            "[INPUT]\n    Name opamp\n    Endpoint {}\n    State_Dir {}\n    Heartbeat_Interval 1s\n    \
             Remote_Config On\n    Managed_Config {}\n    Commands all\n",
            server.ws_url(),
            dir.join("state").display(),
            managed.display()
        );
        std::fs::write(
            &conf,
            format!("[SERVICE]\n    Hot_Reload On\n\n{opamp}\n@INCLUDE managed.conf\n"),
        )
        .unwrap();
        Setup {
            exe: build_host::host_path(),
            dir,
            conf,
            managed,
        }
    }

    fn host(&self) -> Host {
        Host::start(&self.exe, &self.conf, &self.managed, &[])
    }

    fn managed(&self) -> String {
        std::fs::read_to_string(&self.managed).unwrap()
    }

    fn state_files(&self) -> Vec<String> {
        std::fs::read_dir(self.dir.join("state"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("temporary"))
            .collect()
    }

    fn wait_managed(&self, want: &str, timeout: Duration) -> Duration {
        let t0 = Instant::now();
        while self.managed() != want {
            assert!(
                t0.elapsed() < timeout,
                "managed file is still {:?}, want {want:?}",
                self.managed()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        t0.elapsed()
    }
}

fn ask(server: &TestServer, command: &str, data: Value) -> Value {
    server.push_ws(messages::command(command, &data.to_string()));
    reply_to(server, &data["id"], WAIT)
}

fn applied(server: &TestServer, hash: &[u8]) {
    server.wait_until("APPLIED", WAIT, |_| {
        server
            .remote_config_statuses()
            .iter()
            .any(|s| s.last_remote_config_hash == hash && s.status == 1)
    });
}

fn temporary(ttl: u64, body: &str, id: &str) -> Value {
    json!({"id": id, "ttl_seconds": ttl, "files": {"": {"body": body}}})
}

#[test]
fn temporary_config_reverts_on_time_with_the_server_gone() {
    let server = TestServer::start();
    let s = Setup::new("cmd-temp-gone", &server);
    let host = s.host();
    wait_connected(&server, 1);
    server.push_ws(messages::config_offer(GOOD, b"base"));
    applied(&server, b"base");

    let t0 = Instant::now();
    let r = ask(&server, "temporary_config", temporary(4, TEMP, "t"));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(s.managed(), TEMP);
    assert_eq!(host.reloads(), 2);
    assert_eq!(
        s.state_files().len(),
        2,
        "deadline and restore kept: {:?}",
        s.state_files()
    );
    drop(server);

    std::thread::sleep(
        Duration::from_secs(4).saturating_sub(t0.elapsed() + Duration::from_millis(700)),
    );
    assert_eq!(s.managed(), TEMP, "not reverted before its deadline");
    s.wait_managed(GOOD, Duration::from_secs(8));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(9),
        "reverted after {took:?}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(host.reloads(), 3, "one reload back");
    assert!(s.state_files().is_empty(), "{:?}", s.state_files());
}

#[test]
fn temporary_config_reverts_after_a_restart_in_between() {
    let server = TestServer::start();
    let s = Setup::new("cmd-temp-restart", &server);
    let mut host = s.host();
    wait_connected(&server, 1);
    let t0 = Instant::now();
    let r = ask(&server, "temporary_config", temporary(5, TEMP, "t"));
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(s.managed(), TEMP);
    host.stop();
    drop(server);

    // A new process on the same state_dir, no server reachable.
    let server2 = TestServer::start();
    let again = s.host();
    assert_eq!(s.managed(), TEMP, "still in force after the restart");
    s.wait_managed("", Duration::from_secs(12));
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(5),
        "reverted early, after {took:?}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(again.reloads(), 1, "the revert is one reload");
    assert!(s.state_files().is_empty(), "{:?}", s.state_files());
    drop(server2);
}

#[test]
fn a_remote_config_cancels_the_revert_and_a_refused_one_changes_nothing() {
    let server = TestServer::start();
    let s = Setup::new("cmd-temp-cancel", &server);
    let host = s.host();
    wait_connected(&server, 1);

    // Refused by policy: nothing written, nothing kept, no reload.
    let r = ask(
        &server,
        "temporary_config",
        temporary(60, "[INPUT]\n    Name exec\n    Command id\n", "bad"),
    );
    assert_eq!(r["ok"], false);
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .starts_with("refused, nothing changed"),
        "{r}"
    );
    assert!(r["error"].as_str().unwrap().contains("exec"), "{r}");
    // Refused by Fluent Bit on reload (HALTED): rolled back.
    let r = ask(
        &server,
        "temporary_config",
        temporary(60, "# halt-me\n[INPUT]\n    Name dummy\n", "halt"),
    );
    assert_eq!(r["ok"], false, "{r}");
    assert_eq!(s.managed(), "");
    assert!(s.state_files().is_empty(), "{:?}", s.state_files());
    assert_eq!(host.reloads(), 0);
    assert!(
        server
            .remote_config_statuses()
            .iter()
            .all(|st| st.status != 3),
        "a refused temporary change is not reported as the server's config"
    );

    let r = ask(&server, "temporary_config", temporary(3, TEMP, "t"));
    assert_eq!(r["ok"], true, "{r}");
    server.push_ws(messages::config_offer(GOOD, b"server"));
    applied(&server, b"server");
    assert_eq!(s.managed(), GOOD);
    assert!(
        s.state_files().is_empty(),
        "the revert is cancelled: {:?}",
        s.state_files()
    );
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(s.managed(), GOOD, "no revert after the server's config");
    assert_eq!(host.reloads(), 2);
}

#[test]
fn one_changing_command_at_a_time_then_log_level_and_reload() {
    let server = TestServer::start();
    let mut s = Setup::new("cmd-busy", &server);
    // Under Fluent Bit's name the host is the binary the plugin validates
    // with; its dry run takes 2 s, long enough to be busy.
    let exe = s.dir.join("fluent-bit");
    if std::fs::hard_link(build_host::host_path(), &exe).is_err() {
        std::fs::copy(build_host::host_path(), &exe).unwrap();
    }
    s.exe = exe;
    let host = Host::start(&s.exe, &s.conf, &s.managed, &[("HOST_DRY_RUN_MS", "2000")]);
    wait_connected(&server, 1);

    server.push_ws(messages::command(
        "temporary_config",
        &temporary(2, TEMP, "first").to_string(),
    ));
    let busy = ask(
        &server,
        "log_level",
        json!({"id": "second", "level": "debug", "ttl_seconds": 5}),
    );
    assert_eq!(busy["ok"], false);
    assert!(
        busy["error"]
            .as_str()
            .unwrap()
            .starts_with("busy: 'temporary_config'"),
        "{busy}"
    );
    let first = reply_to(&server, &json!("first"), WAIT);
    assert_eq!(first["ok"], true, "{first}");
    // It reverts (after its own dry run), and then log_level may run.
    s.wait_managed("", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));

    let r = ask(
        &server,
        "log_level",
        json!({"id": "ll", "level": "debug", "ttl_seconds": 3}),
    );
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["result"]["level"], "debug");
    assert_eq!(s.managed(), "[SERVICE]\n    Log_Level debug\n");
    s.wait_managed("", Duration::from_secs(10));
    // The revert has ended (its reload confirmed) once its state is gone.
    let end = Instant::now() + WAIT;
    while !s.state_files().is_empty() {
        assert!(Instant::now() < end, "{:?}", s.state_files());
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));

    let before = host.reloads();
    let r = ask(&server, "reload", json!({"id": "rl"}));
    assert_eq!(r["ok"], true, "{r}");
    assert!(r["result"]["generation"].as_u64().unwrap() > 1, "{r}");
    assert_eq!(host.reloads(), before + 1);
}
