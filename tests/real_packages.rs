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

/// One ServerToAgent: the package offer and the config that uses it.
fn together(url: &str) -> Vec<u8> {
    let mut msg = messages::decode_server(&messages::config_offer(CONFIG, b"cfg-pkg"));
    let mut pa = PackagesAvailable {
        all_packages_hash: sha(b"all-1"),
        ..Default::default()
    };
    pa.packages.insert(
        "parsers".into(),
        PackageAvailable {
            r#type: PackageType::Addon as i32,
            version: "1.0".into(),
            file: Some(DownloadableFile {
                download_url: url.into(),
                content_hash: sha(PARSERS.as_bytes()),
                ..Default::default()
            }),
            hash: sha(b"parsers-1.0"),
        },
    );
    msg.packages_available = Some(pa);
    msg.encode_to_vec()
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
        server.push_ws(together(&files.url("f", "parsers.conf")));

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
        fb.terminate();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
