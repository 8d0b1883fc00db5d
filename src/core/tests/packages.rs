//! "Packages": offers handed out once per aggregate hash, only with
//! AcceptsPackages, before a config in the same message; PackageStatuses
//! compressed and gated by ReportsPackageStatuses.

use super::*;
use crate::proto::{
    DownloadableFile, PackageAvailable, PackageStatus, PackageStatusEnum, PackageStatuses,
    PackagesAvailable,
};

fn offer(all_hash: &[u8]) -> PackagesAvailable {
    let mut pa = PackagesAvailable {
        all_packages_hash: all_hash.to_vec(),
        ..Default::default()
    };
    pa.packages.insert(
        "parsers".into(),
        PackageAvailable {
            r#type: crate::proto::PackageType::Addon as i32,
            version: "1".into(),
            file: Some(DownloadableFile {
                download_url: "https://example/p".into(),
                ..Default::default()
            }),
            hash: all_hash.to_vec(),
        },
    );
    pa
}

fn with_packages(pa: PackagesAvailable) -> ServerToAgent {
    ServerToAgent {
        packages_available: Some(pa),
        ..ack()
    }
}

fn pkg_caps_client(t0: Instant, on: bool) -> Client {
    let mut cfg = config(Transport::WebSocket);
    cfg.capabilities.accepts_packages = on;
    cfg.capabilities.reports_package_statuses = on;
    let mut c = Client::new(cfg, t0);
    c.on_connected(t0);
    send(&mut c, t0);
    drain(&mut c);
    c
}

fn offers(actions: &[Action]) -> Vec<PackagesAvailable> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Packages(p) => Some((**p).clone()),
            _ => None,
        })
        .collect()
}

fn statuses(hash: &[u8], state: PackageStatusEnum) -> PackageStatuses {
    let mut s = PackageStatuses {
        server_provided_all_packages_hash: hash.to_vec(),
        ..Default::default()
    };
    s.packages.insert(
        "parsers".into(),
        PackageStatus {
            name: "parsers".into(),
            status: state as i32,
            ..Default::default()
        },
    );
    s
}

#[test]
fn an_offer_is_handed_out_once_per_aggregate_hash() {
    let t0 = Instant::now();
    let mut c = pkg_caps_client(t0, true);
    c.on_received(t0, with_packages(offer(b"A")));
    c.on_received(t0, with_packages(offer(b"A")));
    assert_eq!(offers(&drain(&mut c)), vec![offer(b"A")]);
    c.on_received(t0, with_packages(offer(b"B")));
    assert_eq!(offers(&drain(&mut c)), vec![offer(b"B")]);
}

#[test]
fn an_offer_equal_to_the_reported_set_is_not_handed_out() {
    let t0 = Instant::now();
    let mut c = pkg_caps_client(t0, true);
    c.set_package_statuses(statuses(b"A", PackageStatusEnum::Installed));
    c.on_received(t0, with_packages(offer(b"A")));
    assert!(offers(&drain(&mut c)).is_empty());
}

#[test]
fn without_the_capability_offers_are_ignored_and_bits_are_off() {
    let t0 = Instant::now();
    let mut cfg = config(Transport::WebSocket);
    cfg.capabilities.accepts_packages = false;
    let mut c = Client::new(cfg, t0);
    c.on_connected(t0);
    let m = send(&mut c, t0);
    assert_eq!(m.capabilities & 0x18, 0);
    c.on_received(t0, with_packages(offer(b"A")));
    assert!(offers(&drain(&mut c)).is_empty());

    let mut c = pkg_caps_client(t0, true);
    c.set_package_statuses(statuses(b"A", PackageStatusEnum::Installed));
    let m = send(&mut c, t0);
    assert_eq!(m.capabilities & 0x18, 0x18);
}

#[test]
fn packages_come_before_the_config_of_the_same_message() {
    let t0 = Instant::now();
    let mut c = pkg_caps_client(t0, true);
    let mut msg = with_packages(offer(b"A"));
    msg.remote_config = Some(crate::proto::AgentRemoteConfig {
        config_hash: b"c1".to_vec(),
        config: Some(AgentConfigMap::default()),
    });
    c.on_received(t0, msg);
    let a = drain(&mut c);
    let kinds: Vec<_> = a
        .iter()
        .filter_map(|a| match a {
            Action::Packages(_) => Some("packages"),
            Action::ApplyRemoteConfig(_) => Some("config"),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["packages", "config"]);
}

#[test]
fn statuses_are_compressed_and_gated() {
    let t0 = Instant::now();
    let mut c = pkg_caps_client(t0, true);
    c.set_package_statuses(statuses(b"A", PackageStatusEnum::Downloading));
    assert!(send(&mut c, t0).package_statuses.is_some());
    c.set_package_statuses(statuses(b"A", PackageStatusEnum::Downloading));
    assert!(c.poll_transmit(t0).is_none(), "unchanged: nothing to send");
    c.set_package_statuses(statuses(b"A", PackageStatusEnum::Installed));
    let m = send(&mut c, t0);
    assert_eq!(
        m.package_statuses.unwrap().packages["parsers"].status,
        PackageStatusEnum::Installed as i32
    );

    let mut c = pkg_caps_client(t0, false);
    c.set_package_statuses(statuses(b"A", PackageStatusEnum::Installed));
    assert!(c.poll_transmit(t0).is_none(), "not claimed: never reported");
}
