//! Soak (issue 12): 1,000 hot reloads of real Fluent Bit 5.x with the
//! plugin connected, every tenth a remote config apply, beside a plain
//! Fluent Bit doing the same reloads. Measures RSS growth against plain
//! Fluent Bit's, open file descriptors, the client thread, and that every
//! apply is confirmed. Long: run on purpose with
//! `FLUENT_BIT_BIN=... cargo test --test soak -- --ignored --nocapture`;
//! `FBO_SOAK_RELOADS` changes the count.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use support::fluent_bit::{binaries, free_port, plugin_path, tmpdir, version_of, Fb};
use support::{messages, TestServer};

fn reload_count(port: u16) -> Option<u64> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /api/v2/reload HTTP/1.0\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    let at = body.find("\"hot_reload_count\":")? + "\"hot_reload_count\":".len();
    body[at..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn config(dir: &Path, port: u16, opamp: Option<(&TestServer, &Path)>) -> std::path::PathBuf {
    let mut text = format!(
        "[SERVICE]\n    Flush 1\n    Grace 0\n    Hot_Reload On\n    HTTP_Server On\n    HTTP_Listen 127.0.0.1\n    HTTP_Port {port}\n    Plugins_File {}\n\n\
         [INPUT]\n    Name dummy\n    Tag base\n\n[OUTPUT]\n    Name null\n    Match base\n\n",
        dir.join("plugins.conf").display()
    );
    if let Some((server, managed)) = opamp {
        text += &format!(
            "[INPUT]\n    Name opamp\n    Endpoint {}\n    State_Dir {}\n    Remote_Config On\n    Managed_Config {}\n    Health_Interval 2s\n\n@INCLUDE managed.conf\n",
            server.ws_url(),
            dir.join("state").display(),
            managed.display()
        );
    }
    let conf = dir.join(if opamp.is_some() {
        "with.conf"
    } else {
        "plain.conf"
    });
    std::fs::write(&conf, text).unwrap();
    conf
}

/// SIGHUP, then wait for the reload counter to pass `n`.
fn reload(fb: &Fb, port: u16, n: u64) {
    for _ in 0..20 {
        fb.signal("-HUP");
        let end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < end {
            if reload_count(port).is_some_and(|c| c >= n) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("reload {n} never happened");
}

fn wait_count(port: u16, n: u64) {
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        if reload_count(port).is_some_and(|c| c >= n) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("reload {n} never confirmed");
}

#[test]
#[ignore = "soak: needs FLUENT_BIT_BIN (5.x) and about 20 minutes; run with --ignored"]
fn a_thousand_reloads_cost_no_more_than_plain_fluent_bit() {
    let total: u64 = std::env::var("FBO_SOAK_RELOADS").map_or(1000, |v| v.parse().unwrap());
    let bin = binaries("soak").into_iter().next().expect("FLUENT_BIT_BIN");
    let v = version_of(&bin);
    let dir = tmpdir("soak");
    std::fs::write(
        dir.join("plugins.conf"),
        format!("[PLUGINS]\n    Path {}\n", plugin_path().display()),
    )
    .unwrap();
    let managed = dir.join("managed.conf");
    std::fs::write(&managed, "").unwrap();
    let server = TestServer::start();
    let (p_plain, p_with) = (free_port(), free_port());
    let plain = Fb::with_config(&bin, &config(&dir, p_plain, None));
    let mut with = Fb::with_config(&bin, &config(&dir, p_with, Some((&server, &managed))));
    server.wait_until("connected", Duration::from_secs(20), |r| {
        r.ws.iter().any(|c| !c.payloads.is_empty())
    });
    wait_count(p_plain, 0);
    wait_count(p_with, 0);
    let tid_of = |fb: &Fb| -> Vec<String> {
        fb.all()
            .match_indices("attached to OpAMP client thread (tid=")
            .map(|(i, m)| {
                fb.all()[i + m.len()..]
                    .split(')')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let warm = 20;
    // Plain Fluent Bit reloads on its own thread, at its own pace.
    let plain_run = std::thread::spawn(move || {
        let mut plain = plain;
        let mut base = 0;
        for n in 1..=total {
            reload(&plain, p_plain, n);
            if n == warm {
                base = plain.rss_kib();
            }
        }
        std::thread::sleep(Duration::from_secs(3));
        let end = plain.rss_kib();
        plain.terminate();
        (base, end)
    });
    let (mut base_with, mut base_fds) = (0, 0);
    let mut applied = 0;
    for n in 1..=total {
        if n % 10 == 0 {
            let body = format!("[INPUT]\n    Name dummy\n    Tag r{n}\n\n[OUTPUT]\n    Name null\n    Match r{n}\n");
            let hash = format!("soak-{n}").into_bytes();
            server.push_ws(messages::config_offer(&body, &hash));
            wait_count(p_with, n);
            server.wait_until("APPLIED", Duration::from_secs(60), |_| {
                server
                    .remote_config_statuses()
                    .iter()
                    .any(|s| s.last_remote_config_hash == hash && s.status == 1)
            });
            applied += 1;
        } else {
            reload(&with, p_with, n);
        }
        if n == warm {
            base_with = with.rss_kib();
            base_fds = fds(with.child.id());
        }
    }
    std::thread::sleep(Duration::from_secs(3));
    let end_with = with.rss_kib();
    let (base_plain, end_plain) = plain_run.join().unwrap();
    let end_fds = fds(with.child.id());
    let tids = tid_of(&with);
    let one_thread = tids.windows(2).all(|w| w[0] == w[1]);
    let grow_plain = end_plain as i64 - base_plain as i64;
    let grow_with = end_with as i64 - base_with as i64;
    println!(
        "SUMMARY {v}: {total} reloads ({applied} remote config applies, all APPLIED); RSS after {warm} -> end: plain {base_plain} -> {end_plain} KiB ({grow_plain:+}), with plugin {base_with} -> {end_with} KiB ({grow_with:+}), difference {:+} KiB; fds {base_fds} -> {end_fds}; client thread {} across {} attaches",
        grow_with - grow_plain,
        if one_thread { "the same" } else { "CHANGED" },
        tids.len()
    );
    with.terminate();
    assert!(one_thread, "client thread changed: {tids:?}");
    assert!(end_fds <= base_fds + 2, "fds grew: {base_fds} -> {end_fds}");
    assert!(
        grow_with - grow_plain <= 512,
        "RSS grew {grow_with} KiB with the plugin vs {grow_plain} KiB plain"
    );
}
