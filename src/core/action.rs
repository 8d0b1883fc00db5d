//! What the core asks the driver to do.

use crate::proto::{AgentRemoteConfig, ConnectionSettingsOffers};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

/// Drained with [`super::Client::poll_action`] after every input.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A new remote configuration offer. Decide, apply, then report the
    /// outcome with `set_remote_config_status` (and the new effective
    /// config). Offers already handed out, or equal to the reported
    /// status's hash, are not repeated.
    ApplyRemoteConfig(AgentRemoteConfig),
    /// The server asked for a restart (only with `accepts_restart_command`).
    Restart,
    /// Connection settings on offer (only with
    /// `accepts_opamp_connection_settings`). The heartbeat interval in them
    /// is already in effect; everything else is the driver's call. Boxed:
    /// it dwarfs every other variant.
    ConnectionSettings(Box<ConnectionSettingsOffers>),
    /// The server assigned a new instance uid, already in use by the core;
    /// store it so the next process start keeps it.
    PersistInstanceUid([u8; 16]),
    /// Close the connection now (server overload, malformed input). The core
    /// already counts the link as down: do not report this close through
    /// `on_disconnected`; reconnect once `should_connect` says so.
    Disconnect,
    /// Something worth telling the operator.
    Log(LogLevel, String),
}
