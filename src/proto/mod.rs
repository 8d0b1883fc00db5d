//! OpAMP wire types (prost 0.14), generated from `proto/*.proto`.
//!
//! The generated file is committed so that building the plugin needs no
//! protobuf compiler. After editing a `.proto` file, regenerate with
//! `cargo run --manifest-path tools/codegen/Cargo.toml -- proto`; CI runs the
//! same command with `--check` to catch a stale copy.
//!
//! Maps are `BTreeMap`s so that encoding is deterministic.

// Generated code follows prost's conventions, not ours; lints about its
// shape (enum variant names, large variants, doc formatting) are noise here.
#[allow(
    clippy::all,
    clippy::pedantic,
    missing_docs,
    rustdoc::all,
    unreachable_pub
)]
mod generated {
    include!("opamp.proto.rs");
}

pub use generated::*;
