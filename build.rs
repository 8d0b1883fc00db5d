//! Build script: links the plugin so the host can never unmap it, and compiles
//! the C test host that plays Fluent Bit's proxy loader in integration tests.

fn main() {
    // The client thread outlives any single Fluent Bit instance; if the host
    // dlclose()s the last handle while the thread runs, its code would vanish.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");

    build_test_host();

    // `cfg(fluent_bit)` when real Fluent Bit binaries are named, so tests
    // that need them are ignored (and say so) rather than passing silently.
    println!("cargo:rustc-check-cfg=cfg(fluent_bit)");
    println!("cargo:rerun-if-env-changed=FLUENT_BIT_BIN");
    if std::env::var("FLUENT_BIT_BIN").is_ok_and(|v| !v.trim().is_empty()) {
        println!("cargo:rustc-cfg=fluent_bit");
    }
    println!("cargo:rerun-if-changed=tests/host/proxy_host.c");
    println!("cargo:rerun-if-changed=include/flb_opamp_abi.h");
    println!("cargo:rerun-if-changed=build.rs");
}

/// The host is a plain executable, so it is linked with the compiler driver
/// that `cc` discovers rather than as a static library.
fn build_test_host() {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let exe = out.join("proxy_host");
    let compiler = cc::Build::new().cargo_metadata(false).get_compiler();
    let status = compiler
        .to_command()
        .args([
            "-std=c11",
            "-O1",
            "-g",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-Iinclude",
        ])
        .arg("tests/host/proxy_host.c")
        .arg("-o")
        .arg(&exe)
        .args(["-ldl", "-lpthread"])
        .status()
        .expect("run the C compiler for the test host");
    assert!(status.success(), "building tests/host/proxy_host.c failed");
}
