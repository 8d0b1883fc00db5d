//! Packages end to end on real Fluent Bit (from `FLUENT_BIT_BIN`): one
//! server message carries a parsers-file package and a remote config whose
//! `parsers_file` is `${opamp.package.parsers.path}`. The package is
//! downloaded and verified first, then the config is applied with one
//! reload, and the parser's fields show up in the records stdout prints.
//! Ignored without `FLUENT_BIT_BIN`.

mod support;

use std::time::{Duration, Instant};

use fluent_bit_opamp::proto::{
    DownloadableFile, PackageAvailable, PackageStatusEnum, PackageType, PackagesAvailable,
    RemoteConfigStatuses,
};
use prost::Message;
use support::file_server::FileServer;
use support::fluent_bit::{binaries, free_port, plugin_path, tmpdir, version_of, Fb};
use support::{messages, TestServer};

const PARSERS: &str = "[PARSER]\n    Name   pkg_words\n    Format regex\n    \
    Regex  ^(?<user>[a-z]+) did (?<action>[a-z]+)$\n";

const CONFIG: &str = "[SERVICE]\n    Parsers_File ${opamp.package.parsers.path}\n\n\
    [INPUT]\n    Name dummy\n    Tag pkg\n    Rate 2\n    Dummy {\"log\":\"alice did login\"}\n\n\
    [FILTER]\n    Name parser\n    Match pkg\n    Key_Name log\n    Parser pkg_words\n\n\
    [OUTPUT]\n    Name stdout\n    Match pkg\n    Format json_lines\n";

fn sha(b: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, b)
        .as_ref()
        .to_vec()
}

/// Version 2 of the package: the same parser name, other field names.
const PARSERS_V2: &str = "[PARSER]\n    Name   pkg_words\n    Format regex\n    \
    Regex  ^(?<who>[a-z]+) did (?<what>[a-z]+)$\n";

/// One ServerToAgent: the package offer and a config that uses it.
fn together(url: &str, version: &str, content: &str, config: &str, hash: &[u8]) -> Vec<u8> {
    let mut msg = messages::decode_server(&messages::config_offer(config, hash));
    let mut pa = PackagesAvailable {
        all_packages_hash: sha(format!("all-{version}").as_bytes()),
        ..Default::default()
    };
    pa.packages.insert(
        "parsers".into(),
        PackageAvailable {
            r#type: PackageType::Addon as i32,
            version: version.into(),
            file: Some(DownloadableFile {
                download_url: url.into(),
                content_hash: sha(content.as_bytes()),
                ..Default::default()
            }),
            hash: sha(format!("parsers-{version}").as_bytes()),
        },
    );
    msg.packages_available = Some(pa);
    msg.encode_to_vec()
}

/// The final status (not APPLYING) of config `hash`.
fn outcome(server: &TestServer, hash: &[u8]) -> i32 {
    let rec = server.wait_until("APPLIED or FAILED", Duration::from_secs(60), |r| {
        r.ws.iter().flat_map(|c| c.messages()).any(|m| {
            m.remote_config_status.is_some_and(|s| {
                s.last_remote_config_hash == hash
                    && s.status != RemoteConfigStatuses::Applying as i32
            })
        })
    });
    rec.ws
        .iter()
        .flat_map(|c| c.messages())
        .filter_map(|m| m.remote_config_status)
        .rfind(|s| s.last_remote_config_hash == hash)
        .unwrap()
        .status
}

fn write_bootstrap(dir: &std::path::Path, endpoint: &str, http_port: u16) -> std::path::PathBuf {
    std::fs::write(
        dir.join("plugins.conf"),
        format!("[PLUGINS]\n    Path {}\n", plugin_path().display()),
    )
    .unwrap();
    let managed = dir.join("managed.conf");
    std::fs::write(&managed, "").unwrap();
    let conf = dir.join("fluent-bit.conf");
    std::fs::write(
        &conf,
        format!(
            "[SERVICE]\n    Flush 1\n    Grace 1\n    Hot_Reload On\n    HTTP_Server On\n    HTTP_Listen 127.0.0.1\n    \
             HTTP_Port {http_port}\n    Plugins_File {}\n\n[INPUT]\n    Name opamp\n    Endpoint {endpoint}\n    State_Dir {}\n    \
             Remote_Config On\n    Packages On\n    Packages.Allow_Http On\n    Managed_Config {}\n    \
             Http_Server http://127.0.0.1:{http_port}\n\n@INCLUDE managed.conf\n",
            dir.join("plugins.conf").display(),
            dir.join("state").display(),
            managed.display()
        ),
    )
    .unwrap();
    conf
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn a_parsers_package_and_the_config_using_it_apply_with_one_reload() {
    for bin in binaries("a_parsers_package_and_the_config_using_it_apply_with_one_reload") {
        let v = version_of(&bin);
        let server = TestServer::start();
        let files = FileServer::start(None);
        files.put("parsers.conf", PARSERS.as_bytes());
        let dir = tmpdir("real-packages");
        let conf = write_bootstrap(&dir, &server.ws_url(), free_port());
        let mut fb = Fb::with_config(&bin, &conf);
        server.wait_until("agent connected", Duration::from_secs(20), |r| {
            r.ws.iter().any(|c| !c.payloads.is_empty())
        });
        std::thread::sleep(Duration::from_millis(500));
        let t0 = Instant::now();
        let url = files.url("f", "parsers.conf");
        server.push_ws(together(&url, "1.0", PARSERS, CONFIG, b"cfg-pkg"));

        let rec = server.wait_until("APPLIED or FAILED", Duration::from_secs(60), |r| {
            r.ws.iter().flat_map(|c| c.messages()).any(|m| {
                m.remote_config_status.is_some_and(|s| {
                    s.last_remote_config_hash == b"cfg-pkg"
                        && s.status != RemoteConfigStatuses::Applying as i32
                })
            })
        });
        let msgs: Vec<_> = rec.ws.iter().flat_map(|c| c.messages()).collect();
        let st = msgs
            .iter()
            .filter_map(|m| m.remote_config_status.clone())
            .next_back()
            .unwrap();
        assert_eq!(
            st.status,
            RemoteConfigStatuses::Applied as i32,
            "{v}: {st:?}\n{}",
            fb.all()
        );
        let took = t0.elapsed();
        let pkg = msgs
            .iter()
            .filter_map(|m| m.package_statuses.clone())
            .next_back()
            .unwrap();
        assert_eq!(
            pkg.packages["parsers"].status,
            PackageStatusEnum::Installed as i32,
            "{v}"
        );
        assert!(
            fb.wait_for("\"user\":\"alice\"", Duration::from_secs(15)),
            "{v}: no parsed record on stdout:\n{}",
            fb.all()
        );
        let out = fb.all();
        let parsed = out.matches("\"action\":\"login\"").count();
        let reloads = fb.count("reloading instance");
        assert_eq!(reloads, 1, "{v}: package and config must cost one reload");
        println!(
            "SUMMARY {v}: parsers package + config in one message: APPLIED in {:.1}s with {reloads} reload; \
             {parsed} records parsed by the packaged parser on stdout",
            took.as_secs_f64()
        );
        upgrade_rollback_and_gc(&v, &server, &files, &dir, &mut fb);
        fb.terminate();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Package 2.0 with a config that fails: FAILED, the pipeline keeps
/// parsing with 1.0, whose folder stays. A good config using 2.0 then
/// applies, and 1.0 is collected.
fn upgrade_rollback_and_gc(
    v: &str,
    server: &TestServer,
    files: &FileServer,
    dir: &std::path::Path,
    fb: &mut Fb,
) {
    files.put("parsers2.conf", PARSERS_V2.as_bytes());
    let url = files.url("f", "parsers2.conf");
    let bad = format!("{CONFIG}\n[OUTPUT]\n    Name no_such_output\n    Match nothing\n");
    server.push_ws(together(&url, "2.0", PARSERS_V2, &bad, b"cfg-bad"));
    let st = outcome(server, b"cfg-bad");
    assert_eq!(st, RemoteConfigStatuses::Failed as i32, "{v}");
    let v1 = dir.join("state/packages/parsers/1.0/parsers.conf");
    let v2 = dir.join("state/packages/parsers/2.0/parsers2.conf");
    assert!(v1.is_file() && v2.is_file(), "{v}: both versions kept");
    let before = fb.all().matches("\"user\":\"alice\"").count();
    std::thread::sleep(Duration::from_secs(2));
    let out = fb.all();
    assert!(
        out.matches("\"user\":\"alice\"").count() > before,
        "{v}: v1 parser still in use"
    );
    assert!(
        !out.contains("\"who\":\"alice\""),
        "{v}: v2 parser used by the failed config"
    );

    let good = CONFIG.replace("Rate 2", "Rate 3");
    server.push_ws(messages::config_offer(&good, b"cfg-v2"));
    assert_eq!(
        outcome(server, b"cfg-v2"),
        RemoteConfigStatuses::Applied as i32,
        "{v}"
    );
    assert!(
        fb.wait_for("\"who\":\"alice\"", Duration::from_secs(15)),
        "{v}: v2 parser not in use"
    );
    let end = Instant::now() + Duration::from_secs(10);
    while v1.exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !v1.exists(),
        "{v}: version 1.0 not collected after 2.0's config APPLIED"
    );
    println!("SUMMARY {v}: package 2.0 with a failing config: FAILED, 1.0 kept and still parsing; good config on 2.0 APPLIED, 1.0 collected");
}
