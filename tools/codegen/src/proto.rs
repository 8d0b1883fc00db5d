//! The `proto` job: compile `proto/opamp.proto` with protox (pure Rust, no
//! protoc) and turn the descriptors into prost 0.14 types.

use std::path::Path;

use crate::sync;

/// Relative to the repository root.
const PROTO_DIR: &str = "proto";
const ENTRY: &str = "opamp.proto";
const OUTPUT: &str = "src/proto/opamp.proto.rs";
/// prost names its output after the protobuf package.
const PROST_FILE: &str = "opamp.proto.rs";

const HEADER: &str = "// Generated from proto/*.proto by tools/codegen; do not edit.\n\
// Regenerate: cargo run --manifest-path tools/codegen/Cargo.toml -- proto\n";

pub fn run(root: &Path, check: bool) -> Result<String, String> {
    let generated = generate(root)?;
    sync::apply(&root.join(OUTPUT), &generated, check, "proto")
}

fn generate(root: &Path) -> Result<String, String> {
    let fds = protox::compile([ENTRY], [root.join(PROTO_DIR)])
        .map_err(|e| format!("protox failed on {PROTO_DIR}/{ENTRY}: {e:?}"))?;

    // prost-build only writes into a directory, so give it a private one.
    let out = std::env::temp_dir().join(format!("codegen-proto-{}", std::process::id()));
    std::fs::create_dir_all(&out).map_err(|e| format!("create {}: {e}", out.display()))?;
    let built = prost_build::Config::new()
        .out_dir(&out)
        // Sorted maps make encodings deterministic, so equal status compares
        // equal byte for byte and test vectors with maps are stable.
        .btree_map(["."])
        .compile_fds(fds)
        .map_err(|e| format!("prost-build failed: {e}"));
    let text = built.and_then(|()| {
        let path = out.join(PROST_FILE);
        std::fs::read_to_string(&path).map_err(|e| format!("read {}: {e}", path.display()))
    });
    let _ = std::fs::remove_dir_all(&out);
    Ok(format!("{HEADER}{}", text?))
}
