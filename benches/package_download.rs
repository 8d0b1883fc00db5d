//! Memory while a package downloads: the real path (manager, download
//! thread, our HTTP stack, SHA-256, file, publish) fetching packages of 1,
//! 16 and 64 MiB from a loopback server that generates the body on the
//! fly, next to reading the same 64 MiB body into memory. Prints the peak
//! RSS growth of each (VmHWM after resetting it through
//! /proc/self/clear_refs) and the ratios.
//!
//! `cargo bench --bench package_download`

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fluent_bit_opamp::config::properties::PluginPolicy;
use fluent_bit_opamp::packages::verify::SignaturePolicy;
use fluent_bit_opamp::packages::{Limits, Packages};
use fluent_bit_opamp::proto::{DownloadableFile, PackageAvailable, PackagesAvailable};
use fluent_bit_opamp::transport::download::DownloadConfig;
use fluent_bit_opamp::transport::ProxyMode;

const MIB: u64 = 1 << 20;

fn block() -> Vec<u8> {
    (0..64 * 1024).map(|i| (i * 7 % 251) as u8).collect()
}

/// Serves `size` bytes of the repeating block for any GET.
fn server(size: u64) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let b = block();
        for mut s in l.incoming().map_while(Result::ok) {
            let mut head = [0u8; 4096];
            let _ = s.read(&mut head);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
            );
            let mut left = size;
            while left > 0 {
                let n = left.min(b.len() as u64) as usize;
                if s.write_all(&b[..n]).is_err() {
                    break;
                }
                left -= n as u64;
            }
        }
    });
    port
}

fn sha(size: u64) -> Vec<u8> {
    let b = block();
    let mut c = ring::digest::Context::new(&ring::digest::SHA256);
    let mut left = size;
    while left > 0 {
        let n = left.min(b.len() as u64) as usize;
        c.update(&b[..n]);
        left -= n as u64;
    }
    c.finish().as_ref().to_vec()
}

fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Resets the peak to the current RSS; returns the RSS now.
fn reset_peak() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").expect("clear_refs");
    status_kib("VmRSS:")
}

fn limits() -> Limits {
    Limits {
        max_size: 128 * MIB,
        quota: 1024 * MIB,
        download: DownloadConfig {
            tls: None,
            proxy: ProxyMode::Disabled,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(120),
            max_bytes: 0,
            allow_http: true,
        },
        signatures: SignaturePolicy::default(),
        plugins: PluginPolicy::Deny(vec![]),
        agent: false,
        stage_to: None,
    }
}

/// Peak RSS growth (KiB) while the manager installs a `size` package.
fn through_manager(dir: &std::path::Path, size: u64, round: u32) -> (u64, Duration) {
    let port = server(size);
    let hash = sha(size);
    let mut mgr = Packages::open(dir, limits(), Arc::new(|| {}));
    let mut pa = PackagesAvailable {
        all_packages_hash: vec![round as u8],
        ..Default::default()
    };
    pa.packages.insert(
        format!("p{round}"),
        PackageAvailable {
            r#type: 1,
            version: "1".into(),
            file: Some(DownloadableFile {
                download_url: format!("http://127.0.0.1:{port}/pkg.dat"),
                content_hash: hash,
                ..Default::default()
            }),
            hash: vec![round as u8],
        },
    );
    let base = reset_peak();
    let t0 = Instant::now();
    mgr.offer(&pa);
    while mgr.is_busy() {
        std::thread::sleep(Duration::from_millis(5));
        mgr.poll();
    }
    let took = t0.elapsed();
    let st = mgr.statuses();
    assert_eq!(st.packages[&format!("p{round}")].status, 0, "{st:?}");
    (status_kib("VmHWM:").saturating_sub(base), took)
}

/// The same body read whole into memory, as a non-streaming client would.
fn into_memory(size: u64) -> u64 {
    let port = server(size);
    let base = reset_peak();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    assert!(all.len() as u64 > size);
    let peak = status_kib("VmHWM:").saturating_sub(base);
    drop(all);
    peak
}

fn main() {
    let dir = std::env::temp_dir().join(format!("opamp-bench-pkg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // `cargo test --all-targets` runs this once as a check: one small size.
    let bench = std::env::args().any(|a| a == "--bench");
    let sizes: &[u64] = if bench { &[1, 16, 64] } else { &[1] };
    let mut rows = Vec::new();
    for (i, &mib) in sizes.iter().enumerate() {
        let (kib, took) = through_manager(&dir, mib * MIB, i as u32);
        rows.push((mib, kib, took));
    }
    let naive = into_memory(if bench { 64 } else { 1 } * MIB);
    println!("package download, peak RSS growth (VmHWM - RSS before), KiB:");
    for (mib, kib, took) in &rows {
        println!(
            "  streamed {mib:>3} MiB: +{kib:>6} KiB  ({:.1}% of the package; {:.0} MiB/s)",
            *kib as f64 * 100.0 / (*mib as f64 * 1024.0),
            *mib as f64 / took.as_secs_f64()
        );
    }
    let s64 = rows.last().map(|r| r.1).unwrap_or(0);
    let s1 = rows.first().map(|r| r.1).unwrap_or(0);
    println!("  read whole 64 MiB: +{naive:>6} KiB");
    println!(
        "ratios: streamed 64 MiB / streamed 1 MiB = {:.2}; streamed 64 MiB / whole in memory = {:.3}",
        s64 as f64 / s1.max(1) as f64,
        s64 as f64 / naive.max(1) as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}
