//! Regenerates the sources that the plugin commits instead of generating at
//! build time, so a plain `cargo build` needs neither protoc nor protox.
//!
//! Usage: `codegen <job> [--check]`
//!
//! Jobs:
//! - `proto`: prost types for `proto/*.proto` -> `src/proto/opamp.proto.rs`.
//! - `bindings`: bindgen of `include/flb_opamp_abi.h` -> `src/ffi/bindings.rs`.
//!
//! With `--check` nothing is written; the job fails with a diff excerpt when
//! the committed file is stale, which is what CI runs.

mod bindings;
mod proto;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: codegen <job> [--check]\n\njobs:\n  proto      regenerate src/proto/opamp.proto.rs from proto/*.proto\n  bindings   regenerate src/ffi/bindings.rs from include/flb_opamp_abi.h (needs libclang)\n";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = args.iter().any(|a| a == "--check");
    let jobs: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if let Some(bad) = args
        .iter()
        .find(|a| a.starts_with("--") && a.as_str() != "--check")
    {
        eprintln!("unknown option {bad}\n{USAGE}");
        return ExitCode::from(2);
    }
    let [job] = jobs.as_slice() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };

    let root = repo_root();
    let result = match *job {
        "proto" => proto::run(&root, check),
        "bindings" => bindings::run(&root, check),
        // Further jobs go here, each in its own module with the same
        // `run(root, check)` shape.
        other => {
            eprintln!("unknown job {other:?}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(msg) => {
            println!("{msg}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}

/// The tool lives at `<root>/tools/codegen`, so the root is fixed relative to
/// the manifest regardless of the directory it is run from.
fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(|p| p.parent())
        .expect("tools/codegen sits two levels below the repository root")
        .to_path_buf()
}
