//! The remote-config apply pipeline through the real FFI path, in CI: the C
//! host loads the plugin, the test server pushes configs over WebSocket, and
//! the plugin's SIGHUP makes the host reload exactly as Fluent Bit does.
//! The host decides each reload's outcome from the managed file (see
//! `--verdict-file` in tests/host/proxy_host.c): a successful reload, a
//! HALTED one (Fluent Bit refused the config) or an ABORTED one (a plugin
//! failed in init and the process exits 255).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::c_host::{build_host, Host};
use support::fluent_bit::tmpdir;
use support::remote::{bootstrap, outcome, wait_connected};
use support::{messages, TestServer};

const GOOD: &str = "[INPUT]\n    Name dummy\n    Tag remote\n";

#[test]
fn apply_halt_and_abort_through_the_c_host() {
    let dir = tmpdir("chost-remote");
    let server = TestServer::start();
    let (conf, managed) = bootstrap(&dir, &server, "");
    let log = dir.join("host.log");
    let mut host = Host::start(&conf, &managed, &log);
    wait_connected(&server, 1);

    // A good config: written, reloaded once, APPLIED.
    let n = server.remote_config_statuses().len();
    server.push_ws(messages::config_offer(GOOD, b"good"));
    assert_eq!(outcome(&server, b"good", n).status, 1);
    assert_eq!(std::fs::read_to_string(&managed).unwrap(), GOOD);
    assert_eq!(host.reloads(), 1);

    // The same config again: APPLIED, no reload.
    let n = server.remote_config_statuses().len();
    server.push_ws(messages::config_offer(GOOD, b"good"));
    assert_eq!(outcome(&server, b"good", n).status, 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(host.reloads(), 1, "one reload only");

    // Refused by policy: nothing written, no reload.
    let n = server.remote_config_statuses().len();
    server.push_ws(messages::config_offer(
        "[INPUT]\n    Name exec\n    Command id\n",
        b"denied",
    ));
    let st = outcome(&server, b"denied", n);
    assert_eq!(st.status, 3);
    assert!(st.error_message.contains("deny"), "{}", st.error_message);
    assert_eq!(std::fs::read_to_string(&managed).unwrap(), GOOD);

    // HALTED: the host refuses the new config; LKG restored, FAILED.
    let halt = "# halt-me\n[INPUT]\n    Name dummy\n    Tag halted\n";
    let n = server.remote_config_statuses().len();
    server.push_ws(messages::config_offer(halt, b"halt"));
    let st = outcome(&server, b"halt", n);
    assert_eq!(st.status, 3, "{st:?}");
    assert_eq!(
        std::fs::read_to_string(&managed).unwrap(),
        GOOD,
        "last-known-good restored"
    );
    assert_eq!(host.reloads(), 1);

    // ABORTED: the reload fails in init and the host exits 255; the
    // plugin restores LKG in the final Unregister, before the exit.
    let abort = "# abort-me\n[INPUT]\n    Name dummy\n    Tag aborted\n";
    server.push_ws(messages::config_offer(abort, b"abort"));
    assert_eq!(host.wait_exit(), Some(255));
    assert_eq!(
        std::fs::read_to_string(&managed).unwrap(),
        GOOD,
        "LKG before exit"
    );

    // The restarter starts it again: FAILED for that hash, never re-applied.
    let n = server.remote_config_statuses().len();
    let mut again = Host::start(&conf, &managed, &log);
    wait_connected(&server, 2);
    let st = outcome(&server, b"abort", n);
    assert_eq!(st.status, 3);
    let n = server.remote_config_statuses().len();
    server.push_ws(messages::config_offer(abort, b"abort"));
    assert_eq!(outcome(&server, b"abort", n).status, 3);
    assert!(again.child.try_wait().unwrap().is_none(), "no crash loop");
    assert_eq!(again.reloads(), 0);
    drop(again);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Fluent Bit's `--dry-run` runs beside the agent thread: a 10 s dry run
/// holds up neither heartbeats nor a shutdown, and the shutdown stops it.
#[test]
fn a_slow_dry_run_delays_neither_heartbeats_nor_shutdown() {
    let dir = tmpdir("chost-slow-dry-run");
    let server = TestServer::start();
    let (conf, managed) = bootstrap(&dir, &server, "    Heartbeat_Interval 1s\n");
    // Under Fluent Bit's name the host is the binary the plugin validates
    // with, and its dry run takes 10 s.
    let exe = dir.join("fluent-bit");
    // A hard link, not a copy: a file just written may still be open for
    // writing in a child another test thread forked meanwhile, and exec
    // then fails with ETXTBSY ("Text file busy").
    if std::fs::hard_link(build_host::host_path(), &exe).is_err() {
        std::fs::copy(build_host::host_path(), &exe).unwrap();
    }
    let log = dir.join("host.log");
    let mut host = Host::spawn(&exe, &conf, &managed, &log, &[("HOST_DRY_RUN_MS", "10000")]);
    wait_connected(&server, 1);

    let n = server.remote_config_statuses().len();
    server.push_ws(messages::config_offer(GOOD, b"slow"));
    server.wait_until("APPLYING", Duration::from_secs(5), |_| {
        server
            .remote_config_statuses()
            .iter()
            .skip(n)
            .any(|s| s.last_remote_config_hash == b"slow" && s.status == 2)
    });
    let count = || server.recorded().ws[0].payloads.len();
    let before = count();
    std::thread::sleep(Duration::from_millis(3500));
    let during = count() - before;
    assert!(during >= 2, "{during} heartbeats in 3.5 s of dry run");
    assert!(
        !server
            .remote_config_statuses()
            .iter()
            .any(|s| s.last_remote_config_hash == b"slow" && s.status != 2),
        "the dry run is still running"
    );

    let t0 = Instant::now();
    let _ = Command::new("kill")
        .args(["-TERM", &host.child.id().to_string()])
        .status();
    assert_eq!(host.wait_exit(), Some(0));
    let took = t0.elapsed();
    assert!(took < Duration::from_millis(1500), "shutdown took {took:?}");
    let out = host.output();
    let ms: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("host: shutdown_ms="))
        .expect("shutdown time")
        .parse()
        .unwrap();
    assert!(ms < 1000.0, "shutdown took {ms} ms:\n{out}");
    let rec = server.recorded();
    let last = rec.ws[0].messages().pop().unwrap();
    assert!(last.agent_disconnect.is_some(), "goodbye sent");
    assert_eq!(
        std::fs::read_to_string(&managed).unwrap(),
        "",
        "nothing applied"
    );
    assert!(
        !processes_running(&exe),
        "the dry run's child outlived the agent"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whether any process runs `exe` (by its command line in /proc).
fn processes_running(exe: &Path) -> bool {
    let exe = exe.display().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|cmd| String::from_utf8_lossy(&cmd).starts_with(&exe))
}
