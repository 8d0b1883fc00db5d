//! Packages through the whole client: offers over WebSocket, files from a
//! download server over HTTPS and HTTP, statuses back to the server, and
//! the state folder checked after every step.

mod support;

use std::path::Path;
use std::time::Duration;

use fluent_bit_opamp::proto::{
    DownloadableFile, Header, Headers, PackageAvailable, PackageStatusEnum, PackageStatuses,
    PackageType, PackagesAvailable, ServerToAgent,
};
use prost::Message;
use support::agent::Agent;
use support::certs::TestPki;
use support::file_server::FileServer;
use support::{Recorded, TestServer};

fn sha(b: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, b)
        .as_ref()
        .to_vec()
}

struct Pkg<'a> {
    name: &'a str,
    version: &'a str,
    url: String,
    content: &'a [u8],
    headers: &'a [(&'a str, &'a str)],
}

fn pkg<'a>(name: &'a str, version: &'a str, url: String, content: &'a [u8]) -> Pkg<'a> {
    Pkg {
        name,
        version,
        url,
        content,
        headers: &[],
    }
}

fn offer(pkgs: &[Pkg]) -> Vec<u8> {
    let mut pa = PackagesAvailable::default();
    let mut all = Vec::new();
    for p in pkgs {
        let hash = sha(format!("{}{}{}", p.name, p.version, p.url).as_bytes());
        all.extend(&hash);
        let headers = Headers {
            headers: p
                .headers
                .iter()
                .map(|(k, v)| Header {
                    key: k.to_string(),
                    value: v.to_string(),
                })
                .collect(),
        };
        pa.packages.insert(
            p.name.into(),
            PackageAvailable {
                r#type: PackageType::Addon as i32,
                version: p.version.into(),
                file: Some(DownloadableFile {
                    download_url: p.url.clone(),
                    content_hash: sha(p.content),
                    signature: vec![],
                    headers: Some(headers),
                }),
                hash,
            },
        );
    }
    pa.all_packages_hash = sha(&all);
    ServerToAgent {
        packages_available: Some(pa),
        ..Default::default()
    }
    .encode_to_vec()
}

fn latest(rec: &Recorded) -> Option<PackageStatuses> {
    rec.ws
        .iter()
        .flat_map(|c| c.messages())
        .filter_map(|m| m.package_statuses)
        .next_back()
}

/// Waits until every named package has left pending/downloading.
fn settled(server: &TestServer, names: &[&str]) -> PackageStatuses {
    let rec = server.wait_until("package statuses", Duration::from_secs(30), |r| {
        latest(r).is_some_and(|s| {
            names.iter().all(|n| {
                s.packages.get(*n).is_some_and(|p| {
                    p.status == PackageStatusEnum::Installed as i32
                        || p.status == PackageStatusEnum::InstallFailed as i32
                })
            })
        })
    });
    latest(&rec).unwrap()
}

fn state_of(s: &PackageStatuses, name: &str) -> (PackageStatusEnum, String) {
    let p = &s.packages[name];
    (
        PackageStatusEnum::try_from(p.status).unwrap(),
        p.error_message.clone(),
    )
}

fn stored(state: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(state.join("packages")).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().to_string();
        if n != "index" {
            out.push(n);
        }
    }
    out.sort();
    out
}

#[test]
fn https_install_upgrade_and_removal() {
    let pki = TestPki::generate("packages");
    let files = FileServer::start(Some(pki.server_config(false)));
    files.put("parsers.conf", b"[PARSER]\n    Name v1\n");
    files.require_header("Authorization", "Bearer download-token");
    let server = TestServer::start();
    let ca = pki.ca_file.display().to_string();
    let agent = Agent::start(
        "pkg-https",
        &server.ws_url(),
        &[
            ("packages", "on"),
            ("tls.ca_file", &ca),
            ("header", "X-Opamp-Secret opamp-only"),
        ],
    );
    server.wait_until("connect", Duration::from_secs(10), |r| !r.ws.is_empty());
    let mut p = pkg(
        "parsers",
        "1",
        files.url("hdr", "parsers.conf"),
        b"[PARSER]\n    Name v1\n",
    );
    p.headers = &[("Authorization", "Bearer download-token")];
    server.push_ws(offer(&[p]));
    let s = settled(&server, &["parsers"]);
    assert_eq!(
        state_of(&s, "parsers").0,
        PackageStatusEnum::Installed,
        "{s:?}"
    );
    assert!(!s.server_provided_all_packages_hash.is_empty());
    let root = agent.state.join("packages");
    assert_eq!(
        std::fs::read(root.join("parsers/current/parsers.conf")).unwrap(),
        b"[PARSER]\n    Name v1\n"
    );
    let reqs = files.requests();
    assert!(reqs
        .iter()
        .all(|r| !r.headers.iter().any(|(k, _)| k == "x-opamp-secret")));
    let text = format!("{:?}", server.recorded().ws[0].messages());
    assert!(!text.contains("download-token"), "a download header leaked");

    // Upgrade: v2 becomes current; with no config using v1 it goes.
    files.put("parsers2.conf", b"[PARSER]\n    Name v2\n");
    server.push_ws(offer(&[pkg(
        "parsers",
        "2",
        files.url("f", "parsers2.conf"),
        b"[PARSER]\n    Name v2\n",
    )]));
    server.wait_until("v2", Duration::from_secs(30), |r| {
        latest(r).is_some_and(|s| s.packages["parsers"].agent_has_version == "2")
    });
    assert!(root.join("parsers/2/parsers2.conf").is_file());
    wait_for(|| !root.join("parsers/1").exists(), "v1 collected");

    // Removed from the offer, used by no config: deleted.
    server.push_ws(offer(&[]));
    server.wait_until("removal", Duration::from_secs(30), |r| {
        latest(r).is_some_and(|s| s.packages.is_empty())
    });
    assert!(!root.join("parsers").exists());
}

fn wait_for(cond: impl Fn() -> bool, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn bad_inputs_fail_with_reasons_and_leave_the_rest() {
    let files = FileServer::start(None);
    let good: &[u8] = &[b'g'; 600];
    let lua: &[u8] = b"function f(tag, ts, r) return 0, ts, r end";
    for n in ["good.conf", "x.conf", "f.lua"] {
        files.put(n, if n == "f.lua" { lua } else { good });
    }
    let server = TestServer::start();
    let agent = Agent::start(
        "pkg-bad",
        &server.ws_url(),
        &[
            ("packages", "on"),
            ("packages.allow_http", "on"),
            ("packages.max_size", "1K"),
            ("packages.quota", "1500"),
        ],
    );
    server.wait_until("connect", Duration::from_secs(10), |r| !r.ws.is_empty());
    server.push_ws(offer(&[pkg(
        "good",
        "1",
        files.url("f", "good.conf"),
        good,
    )]));
    settled(&server, &["good"]);

    let wrong = pkg("mismatch", "1", files.url("f", "x.conf"), b"other content");
    let cases = [
        (wrong, "content hash mismatch"),
        (
            pkg("trunc", "1", files.url("trunc", "x.conf"), good),
            "ended early",
        ),
        (
            pkg("loop", "1", files.url("loop", "x.conf"), good),
            "redirect",
        ),
        (
            pkg("missing", "1", files.url("404", "x.conf"), good),
            "HTTP 404",
        ),
        (
            pkg("big", "1", files.url("big", "x.conf"), good),
            "larger than",
        ),
        (
            pkg("gone", "1", files.url("gone", "x.conf"), good),
            "ended early",
        ),
        (
            pkg("..", "1", files.url("f", "x.conf"), good),
            "could escape",
        ),
        (
            pkg("script", "1", files.url("f", "f.lua"), lua),
            "deny_plugins",
        ),
    ];
    let mut all = vec![pkg("good", "1", files.url("f", "good.conf"), good)];
    let names: Vec<&str> = cases.iter().map(|(p, _)| p.name).collect();
    let whys: Vec<&str> = cases.iter().map(|(_, w)| *w).collect();
    all.extend(cases.into_iter().map(|(p, _)| p));
    server.push_ws(offer(&all));
    let s = settled(&server, &names);
    for (n, why) in names.iter().zip(whys) {
        let (st, msg) = state_of(&s, n);
        assert_eq!(st, PackageStatusEnum::InstallFailed, "{n}");
        assert!(msg.contains(why), "{n}: {msg}");
    }
    assert_eq!(state_of(&s, "good").0, PackageStatusEnum::Installed);
    assert_eq!(stored(&agent.state), ["good"], "nothing else on disk");

    // The quota: a second 600-byte package fits, a third does not.
    all = vec![
        pkg("good", "1", files.url("f", "good.conf"), good),
        pkg("second", "1", files.url("f", "x.conf"), good),
        pkg("third", "1", files.url("f", "good.conf"), good),
    ];
    server.push_ws(offer(&all));
    let s = settled(&server, &["second", "third"]);
    assert_eq!(state_of(&s, "second").0, PackageStatusEnum::Installed);
    let (st, msg) = state_of(&s, "third");
    assert_eq!(st, PackageStatusEnum::InstallFailed);
    assert!(msg.contains("packages.quota"), "{msg}");
}

#[test]
fn a_restart_mid_download_leaves_nothing_and_fetches_again() {
    let files = FileServer::start(None);
    let body = vec![b'z'; 4096];
    files.put("slow.conf", &body);
    let server = TestServer::start();
    let props = [("packages", "on"), ("packages.allow_http", "on")];
    let mut agent = Agent::start("pkg-restart", &server.ws_url(), &props);
    agent.keep_state = true;
    server.wait_until("connect", Duration::from_secs(10), |r| !r.ws.is_empty());
    server.push_ws(offer(&[pkg(
        "slow",
        "1",
        files.url("gone", "slow.conf"),
        &body,
    )]));
    wait_for(|| !files.requests().is_empty(), "download started");
    agent.stop();
    let state = agent.state.clone();
    drop(agent);
    std::thread::sleep(support::file_server::GONE_AFTER);

    let server = TestServer::start();
    let agent = Agent::start_in(state.clone(), &server.ws_url(), &props);
    server.wait_until("connect", Duration::from_secs(10), |r| !r.ws.is_empty());
    assert!(!state.join("packages/.tmp").exists(), "leftovers cleared");
    assert!(stored(&state).is_empty(), "{:?}", stored(&state));
    server.push_ws(offer(&[pkg(
        "slow",
        "1",
        files.url("f", "slow.conf"),
        &body,
    )]));
    let s = settled(&server, &["slow"]);
    assert_eq!(state_of(&s, "slow").0, PackageStatusEnum::Installed);
    drop(agent);
}

#[test]
fn the_agent_package_is_staged_beside_the_running_file_never_over_it() {
    let files = FileServer::start(None);
    let build = b"\x7fELF a new plugin build".to_vec();
    files.put("opamp.so", &build);
    let server = TestServer::start();
    let agent = Agent::start(
        "pkg-agent",
        &server.ws_url(),
        &[
            ("packages", "on"),
            ("packages.allow_http", "on"),
            ("packages.agent", "on"),
        ],
    );
    server.wait_until("connect", Duration::from_secs(10), |r| !r.ws.is_empty());
    // The running file here is the test binary: the plugin stages beside
    // whatever file its code was mapped from.
    let running = std::env::current_exe().unwrap();
    let before = std::fs::metadata(&running).unwrap().modified().unwrap();
    let mut staged = running.clone().into_os_string();
    staged.push(".next");
    let staged = std::path::PathBuf::from(staged);
    let _ = std::fs::remove_file(&staged);
    let mut msg =
        ServerToAgent::decode(&offer(&[pkg("", "9.9", files.url("f", "opamp.so"), &build)])[..])
            .unwrap();
    let pa = msg.packages_available.as_mut().unwrap();
    pa.packages.get_mut("").unwrap().r#type = PackageType::TopLevel as i32;
    server.push_ws(msg.encode_to_vec());
    let s = settled(&server, &["agent"]);
    let (st, note) = state_of(&s, "agent");
    assert_eq!(st, PackageStatusEnum::Installed, "{note}");
    assert!(note.contains("active after restart"), "{note}");
    assert!(note.contains(&staged.display().to_string()), "{note}");
    assert_eq!(std::fs::read(&staged).unwrap(), build);
    assert_eq!(
        std::fs::metadata(&running).unwrap().modified().unwrap(),
        before
    );
    assert!(agent.state.join("packages/agent/9.9/opamp.so").is_file());
    let _ = std::fs::remove_file(&staged);
}
