//! Soak (issue 12): 1,000 hot reloads of real Fluent Bit 5.x with the
//! plugin connected, every tenth a remote config apply, beside a plain
//! Fluent Bit doing the same reloads. Measures RSS growth against plain
//! Fluent Bit's, open file descriptors, the client thread, and that every
//! apply is confirmed. Long: run on purpose with
//! `FLUENT_BIT_BIN=... cargo test --test soak -- --ignored --nocapture`;
//! `FBO_SOAK_RELOADS` changes the count; `FBO_SOAK_PLUGIN` names the .so
//! (default: the debug build the test was built with).

mod support;

use std::collections::BTreeMap;
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
    // Plain Fluent Bit includes a file the test rewrites with the same
    // pipeline the server pushes, so both run the same configs and the
    // difference is the plugin's alone.
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
    } else {
        text += "@INCLUDE plain_managed.conf\n";
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

/// The pipeline both instances get on every tenth reload.
fn pushed(n: u64) -> String {
    format!("[INPUT]\n    Name dummy\n    Tag r{n}\n\n[OUTPUT]\n    Name null\n    Match r{n}\n")
}

/// Plain Fluent Bit: the same reloads and the same configs, written to its
/// included file by hand. Returns RSS (KiB) after every `every` reloads.
fn run_plain(plain: Fb, port: u16, dir: &Path, total: u64, every: u64) -> Vec<u64> {
    let mut samples = Vec::new();
    for n in 1..=total {
        if n % 10 == 0 {
            std::fs::write(dir.join("plain_managed.conf"), pushed(n)).unwrap();
        }
        reload(&plain, port, n);
        if n % every == 0 {
            samples.push(plain.rss_kib());
        }
    }
    std::thread::sleep(Duration::from_secs(3));
    samples.push(plain.rss_kib());
    let mut plain = plain;
    plain.terminate();
    samples
}

/// One apply through the server: offer, reload confirmed, APPLIED.
fn apply(server: &TestServer, port: u16, n: u64) {
    let hash = format!("soak-{n}").into_bytes();
    server.push_ws(messages::config_offer(&pushed(n), &hash));
    wait_count(port, n);
    server.wait_until("APPLIED", Duration::from_secs(60), |_| {
        server
            .remote_config_statuses()
            .iter()
            .any(|s| s.last_remote_config_hash == hash && s.status == 1)
    });
}

fn tids(fb: &Fb) -> Vec<String> {
    let all = fb.all();
    all.match_indices("attached to OpAMP client thread (tid=")
        .map(|(i, m)| all[i + m.len()..].split(')').next().unwrap().to_string())
        .collect()
}

/// RSS (KiB) by where it lives, from /proc/PID/smaps: the main heap,
/// anonymous mappings (thread arenas and stacks), this plugin's .so, and
/// other files. Tells growth in our heap from pages of code first touched.
fn rss_by_kind(pid: u32, so: &Path) -> BTreeMap<&'static str, u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut out = BTreeMap::new();
    let mut kind = "anon";
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            let name = line.split_whitespace().nth(5).unwrap_or("");
            kind = match name {
                "" => "anon",
                "[heap]" => "heap",
                n if Path::new(n) == so => "plugin.so",
                n if n.starts_with('[') => "other",
                _ => "files",
            };
        } else if let Some(kib) = line.strip_prefix("Rss:") {
            let kib: u64 = kib
                .trim()
                .trim_end_matches(" kB")
                .trim()
                .parse()
                .unwrap_or(0);
            *out.entry(kind).or_default() += kib;
        }
    }
    out
}

fn series(samples: &[u64]) -> String {
    samples
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
#[ignore = "soak: needs FLUENT_BIT_BIN (5.x) and about 20 minutes; run with --ignored"]
fn a_thousand_reloads_cost_no_more_than_plain_fluent_bit() {
    let total: u64 = std::env::var("FBO_SOAK_RELOADS").map_or(1000, |v| v.parse().unwrap());
    let every = (total / 10).max(1);
    let bin = binaries("soak").into_iter().next().expect("FLUENT_BIT_BIN");
    let v = version_of(&bin);
    let dir = tmpdir("soak");
    // FBO_SOAK_PLUGIN measures another build, e.g. the release .so users run.
    let so = std::env::var_os("FBO_SOAK_PLUGIN").map_or_else(plugin_path, Into::into);
    let plugins = format!("[PLUGINS]\n    Path {}\n", so.display());
    std::fs::write(dir.join("plugins.conf"), plugins).unwrap();
    let managed = dir.join("managed.conf");
    std::fs::write(&managed, "").unwrap();
    std::fs::write(dir.join("plain_managed.conf"), "").unwrap();
    let server = TestServer::start();
    let (p_plain, p_with) = (free_port(), free_port());
    let plain = Fb::with_config(&bin, &config(&dir, p_plain, None));
    let mut with = Fb::with_config(&bin, &config(&dir, p_with, Some((&server, &managed))));
    server.wait_until("connected", Duration::from_secs(20), |r| {
        r.ws.iter().any(|c| !c.payloads.is_empty())
    });
    wait_count(p_plain, 0);
    wait_count(p_with, 0);
    // Plain Fluent Bit reloads on its own thread, at its own pace.
    let plain_dir = dir.clone();
    let plain_run = std::thread::spawn(move || run_plain(plain, p_plain, &plain_dir, total, every));
    let (mut samples, mut fd_samples, mut kinds) = (Vec::new(), Vec::new(), Vec::new());
    for n in 1..=total {
        if n % 10 == 0 {
            apply(&server, p_with, n);
        } else {
            reload(&with, p_with, n);
        }
        if n % every == 0 {
            samples.push(with.rss_kib());
            fd_samples.push(fds(with.child.id()) as u64);
            kinds.push(rss_by_kind(with.child.id(), &so));
        }
    }
    std::thread::sleep(Duration::from_secs(3));
    samples.push(with.rss_kib());
    let plain = plain_run.join().unwrap();
    let tids = tids(&with);
    let one_thread = tids.windows(2).all(|w| w[0] == w[1]);
    // Growth from the first sample (after `every` reloads) to the end.
    let grow = |s: &[u64]| *s.last().unwrap() as i64 - s[0] as i64;
    let (grow_plain, grow_with) = (grow(&plain), grow(&samples));
    println!(
        "SUMMARY {v}: RSS KiB every {every} reloads, plain: {}",
        series(&plain)
    );
    println!(
        "SUMMARY {v}: RSS KiB every {every} reloads, with plugin: {}",
        series(&samples)
    );
    println!(
        "SUMMARY {v}: RSS KiB by kind with the plugin, first sample {:?}, last {:?}",
        kinds[0],
        kinds.last().unwrap()
    );
    println!(
        "SUMMARY {v}: fds every {every} reloads: {}",
        series(&fd_samples)
    );
    println!(
        "SUMMARY {v}: {total} reloads ({} applies, all APPLIED); RSS growth after reload {every}: plain {grow_plain:+} KiB, with plugin {grow_with:+} KiB, difference {:+} KiB; client thread {} across {} attaches",
        total / 10,
        grow_with - grow_plain,
        if one_thread { "the same" } else { "CHANGED" },
        tids.len()
    );
    with.terminate();
    assert!(one_thread, "client thread changed: {tids:?}");
    let (fd0, fd1) = (fd_samples[0], *fd_samples.last().unwrap());
    assert!(fd1 <= fd0 + 2, "fds grew: {fd0} -> {fd1}");
    assert!(
        grow_with - grow_plain <= 512,
        "RSS grew {grow_with} KiB with the plugin vs {grow_plain} KiB plain"
    );
}
