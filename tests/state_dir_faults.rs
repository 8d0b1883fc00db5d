//! `state_dir` faults (issue 12): a full disk, a read-only folder and a
//! folder deleted while running. Each gives a clear error in the log and
//! in the status, refuses remote configs with that reason, leaves the
//! pipeline untouched, and recovers once the fault is gone. Through the C
//! host, which reloads on the plugin's SIGHUP as Fluent Bit does.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::c_host::Host;
use support::fluent_bit::tmpdir;
use support::remote::outcome_within;
use support::{messages, TestServer};

fn setup(dir: &Path, server: &TestServer, state: &Path) -> (PathBuf, PathBuf) {
    let managed = dir.join("managed.conf");
    std::fs::write(&managed, "").unwrap();
    let conf = dir.join("fluent-bit.conf");
    std::fs::write(
        &conf,
        format!(
            "[SERVICE]\n    Hot_Reload On\n\n[INPUT]\n    Name opamp\n    Endpoint {}\n    State_Dir {}\n    \
             Remote_Config On\n    Managed_Config {}\n\n@INCLUDE managed.conf\n",
            server.ws_url(),
            state.display(),
            managed.display()
        ),
    )
    .unwrap();
    (conf, managed)
}

fn start(dir: &Path, server: &TestServer, state: &Path) -> (Host, PathBuf) {
    let (conf, managed) = setup(dir, server, state);
    let host = Host::start(&conf, &managed, &dir.join("host.log"));
    server.wait_until("connected", Duration::from_secs(20), |r| {
        r.ws.iter().any(|c| !c.payloads.is_empty())
    });
    std::thread::sleep(Duration::from_millis(400));
    (host, managed)
}

fn config(tag: &str) -> String {
    format!("[INPUT]\n    Name dummy\n    Tag {tag}\n")
}

/// A fault, then the same kind of offer after the fault is gone.
fn refused_then_recovered(
    server: &TestServer,
    host: &Host,
    managed: &Path,
    expect: &str,
    heal: impl FnOnce(),
) -> String {
    server.push_ws(messages::config_offer(&config("during"), b"during"));
    let st = outcome_within(server, b"during", 0, Duration::from_secs(30));
    assert_eq!(st.status, 3, "{st:?}");
    assert!(st.error_message.contains(expect), "{}", st.error_message);
    let reason = st.error_message.clone();
    assert_eq!(
        std::fs::read_to_string(managed).unwrap(),
        "",
        "pipeline untouched"
    );
    assert_eq!(host.reloads(), 0);
    let log = std::fs::read_to_string(managed.with_file_name("host.log")).unwrap_or_default();
    assert!(log.contains(expect), "the reason is in the log: {log}");
    heal();
    server.push_ws(messages::config_offer(&config("after"), b"after"));
    let st = outcome_within(server, b"after", 0, Duration::from_secs(30));
    assert_eq!(st.status, 1, "recovered: {st:?}");
    assert_eq!(std::fs::read_to_string(managed).unwrap(), config("after"));
    reason
}

#[test]
fn a_state_dir_deleted_while_running_is_recreated_with_its_identity() {
    let dir = tmpdir("sd-deleted");
    let server = TestServer::start();
    let state = dir.join("state");
    let (host, managed) = start(&dir, &server, &state);
    std::fs::remove_dir_all(&state).unwrap();
    let mut first = String::new();
    server.push_ws(messages::config_offer(&config("during"), b"during"));
    let st = outcome_within(&server, b"during", 0, Duration::from_secs(30));
    if st.status == 3 {
        first = st.error_message.clone();
        assert!(first.contains("state_dir"), "{first}");
        assert_eq!(std::fs::read_to_string(&managed).unwrap(), "");
    }
    server.push_ws(messages::config_offer(&config("after"), b"after"));
    assert_eq!(
        outcome_within(&server, b"after", 0, Duration::from_secs(30)).status,
        1
    );
    assert!(state.exists(), "state_dir recreated");
    let end = Instant::now() + Duration::from_secs(15);
    while !state.join("instance_uid").exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        state.join("instance_uid").exists(),
        "the identity is stored again"
    );
    println!(
        "SUMMARY state_dir deleted while running: first offer {}, then APPLIED",
        if first.is_empty() {
            "APPLIED".to_string()
        } else {
            format!("FAILED ({first})")
        }
    );
    drop(host);
}

fn mount_tmpfs(at: &Path, size: &str) {
    std::fs::create_dir_all(at).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mount tmpfs at {}", at.display());
}

fn umount(at: &Path) {
    let _ = Command::new("umount").arg(at).status();
}

#[test]
#[ignore = "needs mount(2) for a small tmpfs (root with CAP_SYS_ADMIN); run with --ignored"]
fn a_full_state_dir_refuses_configs_until_space_is_back() {
    let dir = tmpdir("sd-full");
    let state = dir.join("state");
    mount_tmpfs(&state, "256k");
    let server = TestServer::start();
    let (host, managed) = start(&dir, &server, &state);
    let filler = state.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=4k", &format!("of={}", filler.display())])
        .output();
    let reason = refused_then_recovered(&server, &host, &managed, "No space left", || {
        std::fs::remove_file(&filler).unwrap();
    });
    println!(
        "SUMMARY state_dir full (256k tmpfs): FAILED ({reason}), then APPLIED once space is back"
    );
    drop(host);
    umount(&state);
}

/// Read-only by a read-only bind mount of the folder over itself (files
/// the agent already holds open stay writable, as on a real remount).
#[test]
#[ignore = "needs mount(2) for a read-only bind mount (root with CAP_SYS_ADMIN); run with --ignored"]
fn a_read_only_state_dir_refuses_configs_until_writable() {
    let dir = tmpdir("sd-ro");
    let state = dir.join("state");
    let server = TestServer::start();
    let (host, managed) = start(&dir, &server, &state);
    let mount = |args: &[&str]| {
        let ok = Command::new("mount")
            .args(args)
            .arg(&state)
            .arg(&state)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount {args:?}");
    };
    mount(&["--bind"]);
    let ok = Command::new("mount")
        .args(["-o", "remount,bind,ro"])
        .arg(&state)
        .status()
        .unwrap()
        .success();
    assert!(ok, "remount read-only");
    let reason = refused_then_recovered(&server, &host, &managed, "Read-only", || umount(&state));
    println!("SUMMARY state_dir read-only: FAILED ({reason}), then APPLIED once writable");
    drop(host);
}
