//! Build script: links the plugin so the host can never unmap it, and tells
//! the tests whether real Fluent Bit builds are at hand. Test code (the C
//! host) is compiled by the tests themselves, never by a release build.

fn main() {
    // The client thread outlives any single Fluent Bit instance; if the host
    // dlclose()s the last handle while the thread runs, its code would vanish.
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");

    // Tests that need real Fluent Bit are `ignore`d unless FLUENT_BIT_BIN
    // names some, so the runner's counts show them as not run.
    println!("cargo:rustc-check-cfg=cfg(fluent_bit)");
    println!("cargo:rerun-if-env-changed=FLUENT_BIT_BIN");
    if std::env::var("FLUENT_BIT_BIN").is_ok_and(|v| !v.trim().is_empty()) {
        println!("cargo:rustc-cfg=fluent_bit");
    }
    // The interop test needs the independent OpAMP server that
    // tests/run.sh installs with npm, and node to run it.
    println!("cargo:rustc-check-cfg=cfg(opamp_mock)");
    let mock = "tests/interop/node_modules/@elastic/mockopampserver/package.json";
    println!("cargo:rerun-if-changed={mock}");
    let node = std::process::Command::new("node").arg("--version").output();
    if std::path::Path::new(mock).exists() && node.is_ok_and(|o| o.status.success()) {
        println!("cargo:rustc-cfg=opamp_mock");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
