//! The manager without a network: offers that are refused before any
//! download, stored versions made current again, GC and the values.

use std::sync::Arc;
use std::time::Duration;

use super::store::{Stored, Version};
use super::*;
use crate::proto::{DownloadableFile, PackageAvailable, PackageStatusEnum, PackageType};

fn limits() -> Limits {
    Limits {
        max_size: 1 << 20,
        quota: 4 << 20,
        download: DownloadConfig {
            tls: None,
            proxy: crate::transport::ProxyMode::Disabled,
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            max_bytes: 0,
            allow_http: false,
        },
        signatures: SignaturePolicy::default(),
        plugins: PluginPolicy::Deny(vec!["lua".into()]),
        agent: false,
        stage_to: None,
    }
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "opamp-pkg-{}-{}",
        std::process::id(),
        verify::hex(&crate::state_dir::random_bytes::<6>())
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn offer_of(name: &str, url: &str, ty: PackageType) -> PackagesAvailable {
    let mut pa = PackagesAvailable {
        all_packages_hash: b"all".to_vec(),
        ..Default::default()
    };
    pa.packages.insert(
        name.into(),
        PackageAvailable {
            r#type: ty as i32,
            version: "1".into(),
            file: Some(DownloadableFile {
                download_url: url.into(),
                content_hash: vec![7; 32],
                ..Default::default()
            }),
            hash: b"h1".to_vec(),
        },
    );
    pa
}

fn failed_reason(p: &Packages, name: &str) -> String {
    let s = p.statuses();
    let st = &s.packages[name];
    assert_eq!(st.status, PackageStatusEnum::InstallFailed as i32, "{st:?}");
    st.error_message.clone()
}

#[test]
fn bad_offers_fail_with_reasons_and_touch_nothing() {
    let d = tempdir();
    let mut p = Packages::open(&d, limits(), Arc::new(|| {}));
    let cases = [
        ("../etc", "https://h/p.conf", "could escape"),
        ("p", "https://h/..", "could escape"),
        ("p", "http://h/p.conf", "packages.allow_http"),
        ("p", "https://h/filter.lua", "deny_plugins"),
        ("p", "https://h/evil.so", "shared library"),
    ];
    for (name, url, why) in cases {
        p.offer(&offer_of(name, url, PackageType::Addon));
        assert!(!p.is_busy());
        let r = failed_reason(&p, name);
        assert!(r.contains(why), "{name} {url}: {r}");
    }
    let err = p
        .vars()
        .expand("parsers_file ${opamp.package.p.path}")
        .unwrap_err();
    assert!(err.to_string().contains("package 'p' failed"), "{err}");
    p.offer(&offer_of(
        "agent",
        "https://h/opamp.so",
        PackageType::TopLevel,
    ));
    assert!(failed_reason(&p, "agent").contains("packages.agent on"));
    let entries: Vec<_> = std::fs::read_dir(p.root()).unwrap().flatten().collect();
    assert!(
        entries.iter().all(|e| e.file_name() == "index"),
        "nothing stored: {entries:?}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

fn stored(p: &mut Packages, name: &str, ver: &str, content: &[u8]) -> Version {
    let v = Version {
        version: ver.into(),
        hash: format!("h{ver}").into_bytes(),
        content_hash: vec![7; 32],
        file: "p.conf".into(),
        size: content.len() as u64,
    };
    let tmp = p.store.tmp_file(name).unwrap();
    std::fs::write(&tmp, content).unwrap();
    p.store.publish(&tmp, name, &v).unwrap();
    p.make_current(name, v.clone());
    v
}

#[test]
fn versions_are_kept_until_collected_and_removed_packages_wait_for_use() {
    let d = tempdir();
    let mut p = Packages::open(&d, limits(), Arc::new(|| {}));
    stored(&mut p, "p", "1", b"one");
    stored(&mut p, "p", "2", b"two");
    let vars = p.vars();
    let path = vars.get("opamp.package.p.path").unwrap().to_string();
    assert!(path.ends_with("packages/p/2/p.conf"), "{path}");
    assert_eq!(std::fs::read(&path).unwrap(), b"two");
    assert!(p.store.dir("p", "1").exists(), "previous kept");
    assert!(!p.collect_garbage(&|_| true));
    assert!(!p.store.dir("p", "1").exists(), "collected once applied");
    assert_eq!(
        std::fs::read(p.root().join("p/current/p.conf")).unwrap(),
        b"two"
    );

    // The server drops it: it stays while a config uses it.
    p.offer(&PackagesAvailable::default());
    assert!(p.statuses().packages["p"].server_offered_version.is_empty());
    assert!(!p.collect_garbage(&|n| n == "p"));
    assert!(p.store.dir("p", "2").exists());
    assert!(p.collect_garbage(&|_| false));
    assert!(!p.root().join("p").exists());
    assert!(p.vars().get("opamp.package.p.path").is_none());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_reopened_store_reports_what_it_has() {
    let d = tempdir();
    let mut p = Packages::open(&d, limits(), Arc::new(|| {}));
    stored(&mut p, "p", "1", b"one");
    std::fs::create_dir_all(p.root().join(".tmp")).unwrap();
    std::fs::write(p.root().join(".tmp/p.half"), b"partial").unwrap();
    drop(p);
    let p = Packages::open(&d, limits(), Arc::new(|| {}));
    assert!(
        !p.root().join(".tmp").exists(),
        "interrupted downloads dropped"
    );
    let s = p.statuses();
    assert_eq!(s.packages["p"].status, PackageStatusEnum::Installed as i32);
    assert_eq!(s.packages["p"].agent_has_version, "1");
    assert!(matches!(
        p.ix.packages.get("p"),
        Some(Stored {
            current: Some(_),
            ..
        })
    ));
    std::fs::remove_dir_all(&d).unwrap();
}
