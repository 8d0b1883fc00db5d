//! fluent-bit-opamp: an in-process OpAMP client for Fluent Bit.
//!
//! Fluent Bit loads this library through its external-plugin proxy ABI (the
//! one Go plugins use) as an input plugin named `opamp`. The FFI layer in
//! [`ffi`] (the host ABI, at the top of the house) and [`sys`] (OS calls, at
//! the bottom) are the only places allowed `unsafe`; everything between is
//! plain Rust that tests drive directly.

#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod agent;
pub mod commands;
pub mod config;
pub mod core;
pub mod events;
pub mod fault;
pub mod fbconf;
#[allow(unsafe_code)]
pub mod ffi;
pub mod fluent_bit_plugins;
pub mod lifecycle;
pub mod logging;
pub mod packages;
pub mod plugin;
pub mod proto;
pub mod remote;
pub mod state_dir;
pub mod status;
#[allow(unsafe_code)]
pub mod sys;
pub mod transport;

/// The plugin's own version, reported to the server beside Fluent Bit's.
pub const PLUGIN_VERSION: &str = env!("CARGO_PKG_VERSION");
