//! Crash at every checkpoint of an apply (issue 12): the process gets
//! SIGKILL, or separately SIGTERM, at each step (received, staged,
//! validated, swapped, signalled, confirming, health gate), from the
//! plugin's debug-build fault switch `FLB_OPAMP_FAULT=kill:<checkpoint>`.
//! After a restart:
//!
//! - the host runs the old config or the new one, never none;
//! - what is on disk agrees with what the agent reports;
//! - a config whose apply the process died in (after the swap) is never
//!   applied again.
//!
//! The C host runs the matrix in CI; real Fluent Bit 3.2+ runs it when
//! `FLUENT_BIT_BIN` is set.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::c_host::Host;
use support::fluent_bit::{binaries, free_port, plugin_path, tmpdir, version_of, Fb};
use support::remote::{outcome_within, wait_connected};
use support::{messages, TestServer};

const CHECKPOINTS: [&str; 7] = [
    "received",
    "staged",
    "validated",
    "swapped",
    "signalled",
    "confirming",
    "health_gate",
];
const SIGNALS: [&str; 2] = ["kill", "term"];

/// A process killed after the swap leaves the marker saying "applying":
/// the next start rolls back and blocks the config. A SIGTERM lets the
/// plugin roll back at shutdown instead, without blaming the config.
fn blocked(sig: &str, cp: &str) -> bool {
    let at = |c: &str| CHECKPOINTS.iter().position(|x| *x == c);
    sig == "kill" && at(cp) >= at("swapped")
}

/// What a restarted host must show, checked against the disk and the
/// server; returns the summary word.
fn check_restart(
    server: &TestServer,
    managed: &Path,
    (sig, cp): (&str, &str),
    old: &str,
    new: &str,
) -> &'static str {
    let on_disk = std::fs::read_to_string(managed).unwrap();
    assert!(
        on_disk == old || on_disk == new,
        "torn managed file at {cp}: {on_disk:?}"
    );
    if blocked(sig, cp) {
        let st = outcome_within(server, b"new", 0, Duration::from_secs(30));
        assert_eq!(st.status, 3, "{cp}: an interrupted apply is FAILED: {st:?}");
        assert_eq!(
            std::fs::read_to_string(managed).unwrap(),
            old,
            "{cp}: rolled back"
        );
        let n = server.remote_config_statuses().len();
        server.push_ws(messages::config_offer(new, b"new"));
        let again = outcome_within(server, b"new", n, Duration::from_secs(30));
        assert_eq!(again.status, 3, "{cp}: never applied again: {again:?}");
        assert_eq!(std::fs::read_to_string(managed).unwrap(), old);
        "old, blocked"
    } else {
        assert_eq!(
            on_disk, old,
            "{sig}:{cp}: nothing swapped, or rolled back at shutdown"
        );
        let n = server.remote_config_statuses().len();
        server.push_ws(messages::config_offer(new, b"new"));
        let st = outcome_within(server, b"new", n, Duration::from_secs(30));
        assert_eq!(st.status, 1, "{cp}: not its fault, so it applies: {st:?}");
        assert_eq!(std::fs::read_to_string(managed).unwrap(), new);
        "old, then new"
    }
}

fn c_host_bootstrap(dir: &Path, server: &TestServer, old: &str) -> (PathBuf, PathBuf) {
    let managed = dir.join("managed.conf");
    std::fs::write(&managed, old).unwrap();
    let conf = dir.join("fluent-bit.conf");
    std::fs::write(
        &conf,
        format!(
            "[SERVICE]\n    Hot_Reload On\n\n[INPUT]\n    Name opamp\n    Endpoint {}\n    State_Dir {}\n    \
             Remote_Config On\n    Managed_Config {}\n    Health_Gate 2s\n\n@INCLUDE managed.conf\n",
            server.ws_url(),
            dir.join("state").display(),
            managed.display()
        ),
    )
    .unwrap();
    (conf, managed)
}

#[test]
fn the_c_host_survives_a_crash_at_every_checkpoint() {
    let (old, new) = (
        "[INPUT]\n    Name dummy\n    Tag old\n",
        "[INPUT]\n    Name dummy\n    Tag new\n",
    );
    let mut rows = Vec::new();
    for sig in SIGNALS {
        for cp in CHECKPOINTS {
            let dir = tmpdir(&format!("crash-chost-{sig}-{cp}"));
            let server = TestServer::start();
            let (conf, managed) = c_host_bootstrap(&dir, &server, old);
            let log = dir.join("host.log");
            let fault = format!("{sig}:{cp}");
            let mut host = Host::spawn(
                &support::c_host::build_host::host_path(),
                &conf,
                &managed,
                &log,
                &[("FLB_OPAMP_FAULT", fault.as_str())],
            );
            wait_connected(&server, 1);
            server.push_ws(messages::config_offer(new, b"new"));
            assert!(
                host.wait_exit().is_some() || host.child.try_wait().unwrap().is_some(),
                "{fault}: the host ended"
            );
            drop(host);
            let again = Host::start(&conf, &managed, &log);
            wait_connected(&server, 2);
            let word = check_restart(&server, &managed, (sig, cp), old, new);
            assert!(again.child.id() > 0);
            rows.push(format!("{fault}: {word}"));
            drop(again);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    println!(
        "SUMMARY c_host crash matrix: {} cases recovered: {}",
        rows.len(),
        rows.join("; ")
    );
}

fn fb_bootstrap(dir: &Path, server: &TestServer, old: &str) -> (PathBuf, PathBuf) {
    std::fs::write(
        dir.join("plugins.conf"),
        format!("[PLUGINS]\n    Path {}\n", plugin_path().display()),
    )
    .unwrap();
    let managed = dir.join("managed.conf");
    std::fs::write(&managed, old).unwrap();
    let port = free_port();
    let conf = dir.join("fluent-bit.conf");
    std::fs::write(
        &conf,
        format!(
            "[SERVICE]\n    Flush 1\n    Grace 1\n    Hot_Reload On\n    HTTP_Server On\n    HTTP_Listen 127.0.0.1\n    HTTP_Port {port}\n    Plugins_File {}\n\n\
             [INPUT]\n    Name opamp\n    Endpoint {}\n    State_Dir {}\n    Remote_Config On\n    Managed_Config {}\n    Health_Interval 1s\n    Health_Gate 3s\n\n\
             @INCLUDE managed.conf\n",
            dir.join("plugins.conf").display(),
            server.ws_url(),
            dir.join("state").display(),
            managed.display()
        ),
    )
    .unwrap();
    (conf, managed)
}

fn printing(word: &str) -> String {
    format!(
        "[INPUT]\n    Name dummy\n    Tag {word}\n    Dummy {{\"cfg\":\"{word}\"}}\n\n[OUTPUT]\n    Name stdout\n    Match {word}\n"
    )
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn real_fluent_bit_survives_a_crash_at_every_checkpoint() {
    let (old, new) = (printing("OLDCFG"), printing("NEWCFG"));
    for bin in binaries("real_fluent_bit_survives_a_crash_at_every_checkpoint") {
        let v = version_of(&bin);
        if v.contains("v2.2") {
            println!("SUMMARY {v}: not in the crash matrix (2.2 crashes on any halted reload with a proxy input)");
            continue;
        }
        let mut rows = Vec::new();
        for sig in SIGNALS {
            for cp in CHECKPOINTS {
                let dir = tmpdir(&format!("crash-fb-{sig}-{cp}"));
                let server = TestServer::start();
                let (conf, managed) = fb_bootstrap(&dir, &server, &old);
                let fault = format!("{sig}:{cp}");
                let args = ["-c".to_string(), conf.display().to_string()];
                let mut fb = Fb::spawn_env(&bin, &args, &[("FLB_OPAMP_FAULT", fault.as_str())]);
                wait_connected(&server, 1);
                assert!(
                    fb.wait_for("OLDCFG", Duration::from_secs(10)),
                    "{v} {fault}: old runs"
                );
                server.push_ws(messages::config_offer(&new, b"new"));
                let ended = fb.wait_exit(Duration::from_secs(30)).is_some()
                    || fb.child.try_wait().unwrap().is_some();
                assert!(ended, "{v} {fault}: the process ended");
                drop(fb);
                let mut again = Fb::with_config(&bin, &conf);
                wait_connected(&server, 2);
                let word = check_restart(&server, &managed, (sig, cp), &old, &new);
                let expect = if blocked(sig, cp) { "OLDCFG" } else { "NEWCFG" };
                assert!(
                    again.wait_for(expect, Duration::from_secs(15)),
                    "{v} {fault}: {expect} runs after the restart"
                );
                rows.push(format!("{fault}: {word}"));
                again.terminate();
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        println!(
            "SUMMARY {v}: crash matrix {} cases recovered: {}",
            rows.len(),
            rows.join("; ")
        );
    }
}
