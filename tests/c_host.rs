//! Drives the built plugin through `tests/host/proxy_host.c`, a C program that
//! loads it the way Fluent Bit's proxy loader does (see the comment at the
//! top of that file for the call orders it reproduces).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn plugin_path() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // The copy cargo test keeps fresh sits beside the test binary in deps/;
    // target/debug/ only gets a copy on `cargo build`.
    let so = exe.parent().unwrap().join("libfluent_bit_opamp.so");
    assert!(so.exists(), "plugin not built at {}", so.display());
    so
}

#[path = "host/build_host.rs"]
mod build_host;
use build_host::host_path;

struct Run {
    out: Output,
    stdout: String,
    log: String,
}

impl Run {
    fn stat_max_us(&self, name: &str) -> f64 {
        let prefix = format!("host: stat {name} ");
        let line = self
            .stdout
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no stat for {name}:\n{}", self.stdout));
        line.rsplit("max_us=").next().unwrap().parse().unwrap()
    }

    fn shutdown_ms(&self) -> f64 {
        let l = self
            .stdout
            .lines()
            .find(|l| l.starts_with("host: shutdown_ms="))
            .unwrap_or_else(|| panic!("no shutdown line:\n{}", self.stdout));
        l["host: shutdown_ms=".len()..].parse().unwrap()
    }
}

struct Case {
    dir: PathBuf,
}

impl Case {
    fn new(name: &str) -> Case {
        let dir = std::env::temp_dir().join(format!("opamp-chost-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Case { dir }
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// A classic config whose opamp section has `extra` lines appended.
    fn config(&self, extra: &str) -> PathBuf {
        let path = self.dir.join("fluent-bit.conf");
        let text = format!(
            "[SERVICE]\n    Flush 1\n    Hot_Reload On\n\n[INPUT]\n    Name dummy\n\n\
             [INPUT]\n    Name opamp\n    Endpoint ws://127.0.0.1:9/v1/opamp\n    \
             State_Dir {}\n    Log_Level debug\n{extra}\n[OUTPUT]\n    Name stdout\n    Match *\n",
            self.state_dir().display()
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    fn run(&self, config: &Path, args: &[&str]) -> Run {
        let log = self.dir.join("host.log");
        let _ = std::fs::remove_file(&log);
        let out = Command::new(host_path())
            .arg("--plugin")
            .arg(plugin_path())
            .arg("-c")
            .arg(config)
            .arg("--log")
            .arg(&log)
            .args(args)
            .output()
            .expect("run proxy_host");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        println!(
            "--- stdout\n{stdout}--- stderr\n{}--- log\n{log}",
            String::from_utf8_lossy(&out.stderr)
        );
        Run { out, stdout, log }
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The tid in "OpAMP client thread started (tid=N, ..." lines.
fn started_tids(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.split("OpAMP client thread started (tid=").nth(1))
        .map(|r| r.split(',').next().unwrap().to_string())
        .collect()
}

fn attached(log: &str) -> Vec<(u64, String)> {
    log.lines()
        .filter_map(|l| {
            let rest = l.split("] generation ").nth(1)?;
            let (gen, rest) = rest.split_once(" attached to OpAMP client thread (tid=")?;
            Some((gen.parse().ok()?, rest.trim_end_matches(')').to_string()))
        })
        .collect()
}

fn reload_cycles(abi: &str) {
    let case = Case::new(&format!("reload{abi}"));
    let conf = case.config("");
    let run = case.run(
        &conf,
        &[
            "--scenario",
            "reload",
            "--reloads",
            "20",
            "--abi",
            abi,
            "--interval-ms",
            "10",
            "--steady-ms",
            "60",
        ],
    );
    assert!(
        run.out.status.success(),
        "host failed: {:?}",
        run.out.status
    );
    assert_eq!(run.stdout.matches("host: reload done").count(), 20);

    let tids = started_tids(&run.log);
    assert_eq!(tids.len(), 1, "exactly one client thread must start");
    let att = attached(&run.log);
    assert_eq!(att.len(), 20, "every new generation re-attaches");
    for (i, (gen, tid)) in att.iter().enumerate() {
        assert_eq!(*gen, i as u64 + 2);
        assert_eq!(tid, &tids[0], "generation {gen} attached to another thread");
    }
    assert!(
        run.log.contains("OpAMP client stopped"),
        "shutdown must end the thread"
    );
    let ms = run.shutdown_ms();
    assert!(ms < 1000.0, "shutdown took {ms} ms");

    for cb in [
        "PreRegister",
        "Register",
        "Init",
        "PreRun",
        "InputCallback",
        "Pause",
        "Exit",
        "Unregister",
    ] {
        let us = run.stat_max_us(cb);
        println!("longest {cb}: {us} us");
        assert!(us < 100_000.0, "{cb} blocked for {us} us");
    }
}

#[test]
fn twenty_reloads_keep_one_client_thread_abi_5x() {
    reload_cycles("51");
}

#[test]
fn twenty_reloads_keep_one_client_thread_abi_3_2() {
    reload_cycles("32");
}

#[test]
fn halted_reload_keeps_the_client_and_shutdown_still_ends_it() {
    let case = Case::new("halted");
    let conf = case.config("");
    let run = case.run(
        &conf,
        &[
            "--scenario",
            "halted",
            "--interval-ms",
            "10",
            "--steady-ms",
            "100",
        ],
    );
    assert!(run.out.status.success());
    assert_eq!(started_tids(&run.log).len(), 1);
    assert!(run.log.contains("Fluent Bit refused a reload"));
    assert!(
        run.log.contains("OpAMP client stopped"),
        "stale PreExit(1) must not hide the shutdown"
    );
    assert!(run.shutdown_ms() < 1000.0);
}

#[test]
fn aborted_reload_stops_the_client_before_exit() {
    let case = Case::new("aborted");
    let conf = case.config("");
    let run = case.run(
        &conf,
        &[
            "--scenario",
            "aborted",
            "--interval-ms",
            "10",
            "--steady-ms",
            "100",
        ],
    );
    assert_eq!(run.out.status.code(), Some(255));
    assert!(run.log.contains("failed in init"));
    assert!(run.log.contains("OpAMP client stopped"));
    assert!(run.shutdown_ms() < 1000.0);
}

#[test]
fn dry_run_has_no_side_effects() {
    let case = Case::new("dryrun");
    let conf = case.config("");
    let run = case.run(&conf, &["--scenario", "dry-run"]);
    assert!(run.out.status.success());
    assert!(started_tids(&run.log).is_empty());
    assert!(
        !case.state_dir().exists(),
        "dry run must not create state_dir"
    );
}

#[test]
fn bad_property_is_reported_and_host_keeps_running() {
    let case = Case::new("badprop");
    let conf = case.config("    Heartbeat_Interval soon\n    Max_Message_Size huge\n");
    let run = case.run(
        &conf,
        &[
            "--scenario",
            "reload",
            "--reloads",
            "2",
            "--interval-ms",
            "10",
            "--steady-ms",
            "50",
        ],
    );
    assert!(run.out.status.success(), "the host must keep running");
    assert!(run.log.contains(
        "property 'heartbeat_interval': expected a time such as 30, 30s, 5m or 1h, got 'soon'"
    ));
    assert!(run.log.contains("property 'max_message_size'"));
    // The endpoint is usable, so the client runs only to report the problem.
    assert!(run.log.contains("only reports this problem"));
}

#[test]
fn unusable_endpoint_leaves_plugin_inert_and_host_running() {
    let case = Case::new("badendpoint");
    let conf = case.config("    Endpoint ftp://nope\n");
    let run = case.run(
        &conf,
        &[
            "--scenario",
            "reload",
            "--reloads",
            "2",
            "--interval-ms",
            "10",
            "--steady-ms",
            "50",
        ],
    );
    assert!(run.out.status.success(), "the host must keep running");
    assert!(
        run.log.contains("property 'endpoint'"),
        "the error names the property"
    );
    assert!(run.log.contains("the OpAMP client is not running"));
    assert!(started_tids(&run.log).is_empty());
}

#[test]
fn unknown_keys_are_warned_by_name() {
    let case = Case::new("unknown");
    let conf = case.config("    Endpont ws://typo\n    tls.verify off\n");
    let run = case.run(
        &conf,
        &[
            "--scenario",
            "reload",
            "--reloads",
            "1",
            "--interval-ms",
            "10",
            "--steady-ms",
            "50",
        ],
    );
    assert!(run.out.status.success());
    assert!(run.log.contains("[warn]") && run.log.contains("unknown property 'endpont'"));
    // tls.verify is consumed by the host, yet read from the file and honoured.
    assert!(run.log.contains("tls.verify is off"));
    assert!(!run.log.contains("unknown property 'tls.verify'"));
}

#[test]
fn steady_state_uses_the_one_second_callback() {
    let case = Case::new("steady");
    let conf = case.config("");
    let run = case.run(
        &conf,
        &[
            "--scenario",
            "reload",
            "--reloads",
            "0",
            "--steady-ms",
            "3500",
        ],
    );
    assert!(run.out.status.success());
    let calls: u64 = run
        .stdout
        .lines()
        .find(|l| l.starts_with("host: stat InputCallback "))
        .and_then(|l| l.split("calls=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (2..=4).contains(&calls),
        "{calls} callbacks in 3.5 s at 1 s"
    );
    println!(
        "longest InputCallback: {} us",
        run.stat_max_us("InputCallback")
    );
}
