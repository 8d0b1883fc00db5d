//! What the core asks the driver to do.

use crate::proto::{AgentRemoteConfig, ConnectionSettingsOffers, CustomMessage, PackagesAvailable};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

/// Why the core dropped the connection; a WebSocket driver closes with the
/// matching code (1002 for a protocol violation, 1000 otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The server sent bytes that are not an OpAMP message.
    Malformed,
    /// The server said it is unavailable (`ServerErrorResponse`).
    Unavailable,
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
    /// Connection settings on offer (only when the agent claims a
    /// capability that accepts some part of them). The heartbeat interval
    /// in them is already in effect; everything else is the driver's call:
    /// it reports the outcome with `set_connection_settings_status`. Each
    /// offer (by hash) is handed out once. Boxed: it dwarfs every other
    /// variant.
    ConnectionSettings(Box<ConnectionSettingsOffers>),
    /// Packages on offer (only with `accepts_packages`). Each offer (by
    /// `all_packages_hash`) is handed out once; an offer equal to the
    /// hash the driver reports in its PackageStatuses is not handed out
    /// either. The driver reports progress with `set_package_statuses`.
    /// Boxed like connection settings: it can carry many files.
    Packages(Box<PackagesAvailable>),
    /// A custom message from the server, whatever its capability: the
    /// driver answers unknown ones itself.
    CustomMessage(CustomMessage),
    /// The server assigned a new instance uid, already in use by the core;
    /// store it so the next process start keeps it.
    PersistInstanceUid([u8; 16]),
    /// Close the connection now. The core already counts the link as down:
    /// do not report this close through `on_disconnected`; reconnect once
    /// `should_connect` says so.
    Disconnect(DropReason),
    /// Something worth telling the operator.
    Log(LogLevel, String),
}
