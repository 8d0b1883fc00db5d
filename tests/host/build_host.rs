//! Builds the C test host (`tests/host/proxy_host.c`) on first use, so that
//! only tests compile test code: `cargo build --release` compiles none of it.
//!
//! Include with `#[path = "host/build_host.rs"] mod build_host;`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The host executable, compiled once per test binary into cargo's
/// per-target temporary folder.
pub fn host_path() -> PathBuf {
    static HOST: OnceLock<PathBuf> = OnceLock::new();
    HOST.get_or_init(build).clone()
}

fn build() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let exe = out_dir.join("proxy_host");
    // Test binaries may run at the same time: each compiles to its own name
    // and renames over the shared one, which is atomic.
    let tmp = out_dir.join(format!("proxy_host.{}", std::process::id()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror"])
        .arg(format!("-I{}", root.join("include").display()))
        .arg(root.join("tests/host/proxy_host.c"))
        .arg("-o")
        .arg(&tmp)
        .args(["-ldl", "-lpthread"])
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler '{cc}': {e}"));
    assert!(status.success(), "building tests/host/proxy_host.c failed");
    std::fs::rename(&tmp, &exe).expect("install the test host");
    exe
}
