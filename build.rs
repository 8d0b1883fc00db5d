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
    println!("cargo:rerun-if-changed=build.rs");
}
