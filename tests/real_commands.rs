//! Fluent Bit commands against real Fluent Bit (`FLUENT_BIT_BIN`): `validate`
//! says what an apply of the same config then does; `temporary_config`
//! adds a printing pipeline for its TTL only; `log_level debug` shows debug
//! lines for its TTL, then they stop. Ignored without `FLUENT_BIT_BIN`.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::commands::reply_to;
use support::fluent_bit::{binaries, free_port, plugin_path, tmpdir, version_of, Fb};
use support::{messages, TestServer};

const WAIT: Duration = Duration::from_secs(30);

struct Setup {
    conf: PathBuf,
    managed: PathBuf,
}

fn setup(name: &str, server: &TestServer) -> Setup {
    let dir = tmpdir(&format!("commands-{name}"));
    std::fs::write(
        dir.join("plugins.conf"),
        format!("[PLUGINS]\n    Path {}\n", plugin_path().display()),
    )
    .unwrap();
    let managed = dir.join("managed.conf");
    std::fs::write(&managed, "").unwrap();
    let port = free_port();
    let conf = dir.join("fluent-bit.conf");
    std::fs::write(
        &conf,
        format!(
            "[SERVICE]\n    Flush 1\n    Grace 1\n    Log_Level info\n    Hot_Reload On\n    HTTP_Server On\n    HTTP_Listen 127.0.0.1\n    HTTP_Port {port}\n    Plugins_File {}\n\n\
             [INPUT]\n    Name opamp\n    Endpoint {}\n    State_Dir {}\n    Remote_Config On\n    Managed_Config {}\n    Http_Server http://127.0.0.1:{port}\n    Commands all\n\n\
             [INPUT]\n    Name dummy\n    Tag base\n    Rate 2\n\n[OUTPUT]\n    Name null\n    Match base\n\n@INCLUDE managed.conf\n",
            dir.join("plugins.conf").display(),
            server.ws_url(),
            dir.join("state").display(),
            managed.display()
        ),
    )
    .unwrap();
    Setup { conf, managed }
}

fn ask(server: &TestServer, command: &str, data: Value) -> Value {
    server.push_ws(messages::command(command, &data.to_string()));
    reply_to(server, &data["id"], WAIT)
}

fn start(bin: &std::path::Path, s: &Setup, server: &TestServer) -> Fb {
    let fb = Fb::with_config(bin, &s.conf);
    server.wait_until("agent connected", WAIT, |r| {
        r.ws.iter().any(|c| !c.payloads.is_empty())
    });
    std::thread::sleep(Duration::from_millis(800));
    fb
}

fn wait_managed(s: &Setup, want: &str, timeout: Duration) {
    let end = Instant::now() + timeout;
    while std::fs::read_to_string(&s.managed).unwrap() != want {
        assert!(Instant::now() < end, "managed file never became {want:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether the count of `what` in Fluent Bit's output stays put for 3 s.
fn stopped(fb: &Fb, what: &str) -> bool {
    std::thread::sleep(Duration::from_secs(2));
    let a = fb.count(what);
    std::thread::sleep(Duration::from_secs(3));
    fb.count(what) == a
}

fn outcome(server: &TestServer, hash: &[u8]) -> i32 {
    let end = Instant::now() + WAIT;
    loop {
        if let Some(s) = server
            .remote_config_statuses()
            .iter()
            .find(|s| s.last_remote_config_hash == hash && (s.status == 1 || s.status == 3))
        {
            return s.status;
        }
        assert!(Instant::now() < end, "no outcome");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn validate_matches_apply_and_temporary_changes_revert() {
    for bin in binaries("validate_matches_apply_and_temporary_changes_revert") {
        let v = version_of(&bin);
        let server = TestServer::start();
        let s = setup("all", &server);
        let mut fb = start(&bin, &s, &server);

        // validate, then apply the same config: the verdicts agree.
        let configs = [
            ("good", "[INPUT]\n    Name dummy\n    Tag v\n    Rate 1\n[OUTPUT]\n    Name null\n    Match v\n"),
            ("unknown-plugin", "[INPUT]\n    Name no_such_plugin\n"),
            ("syntax", "[INPUT\n    Name dummy\n"),
        ];
        for (i, (what, body)) in configs.iter().enumerate() {
            let r = ask(
                &server,
                "validate",
                json!({"id": format!("v{i}"), "files": {"": {"body": body}}}),
            );
            assert_eq!(r["ok"], true, "{r}");
            let would = r["result"]["would_apply"] == true;
            server.push_ws(messages::config_offer(body, what.as_bytes()));
            let applied = outcome(&server, what.as_bytes()) == 1;
            println!(
                "SUMMARY {v}: validate {what}: would_apply={would}, apply {}",
                if applied { "APPLIED" } else { "FAILED" }
            );
            assert_eq!(would, applied, "{what}: validate said {r}");
        }
        let base = std::fs::read_to_string(&s.managed).unwrap();

        // temporary_config: a printing pipeline for its TTL only.
        let marker = format!("tmp-marker-{}", std::process::id());
        let temp = format!("[INPUT]\n    Name dummy\n    Tag tmp\n    Dummy {{\"m\":\"{marker}\"}}\n    Rate 5\n[OUTPUT]\n    Name stdout\n    Match tmp\n");
        let t0 = Instant::now();
        let r = ask(
            &server,
            "temporary_config",
            json!({"id": "t", "ttl_seconds": 8, "files": {"": {"body": temp}}}),
        );
        assert_eq!(r["ok"], true, "{r}");
        assert!(
            fb.wait_for(&marker, Duration::from_secs(10)),
            "the temporary pipeline prints"
        );
        wait_managed(&s, &base, Duration::from_secs(25));
        let took = t0.elapsed();
        assert!(took >= Duration::from_secs(8), "reverted after {took:?}");
        assert!(stopped(&fb, &marker), "the temporary pipeline is gone");
        println!(
            "SUMMARY {v}: temporary_config printed {} lines, reverted after {:.1}s",
            fb.count(&marker),
            took.as_secs_f64()
        );

        // log_level debug for its TTL.
        let before = fb.count("[debug]");
        let r = ask(
            &server,
            "log_level",
            json!({"id": "l", "level": "debug", "ttl_seconds": 8}),
        );
        assert_eq!(r["ok"], true, "{r}");
        assert!(
            fb.wait_for_more("[debug]", before, Duration::from_secs(10)),
            "debug lines appear"
        );
        wait_managed(&s, &base, Duration::from_secs(25));
        assert!(stopped(&fb, "[debug]"), "debug lines stop after the TTL");
        println!(
            "SUMMARY {v}: log_level debug: {} debug lines during the TTL, none after",
            fb.count("[debug]") - before
        );
        fb.terminate();
    }
}
