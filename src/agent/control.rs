//! What host callbacks tell the agent thread.

use crate::config::properties::Settings;

/// Messages from host callbacks to the agent thread.
#[derive(Debug)]
pub enum Control {
    /// A new pipeline generation initialised, with its (re-read) settings.
    Attach {
        generation: u64,
        settings: Box<Settings>,
        /// Property errors that were worked around with defaults; reported
        /// to the server as unhealthy.
        problem: Option<String>,
    },
    /// A new generation initialised with settings that cannot be used even
    /// with defaults: keep the connection, report the problem, act on
    /// nothing else until a later generation fixes them.
    Inert { generation: u64, problem: String },
    /// The generation's input thread started: the new pipeline is running.
    PreRun { generation: u64, hot_reload: bool },
    /// A generation exited because a reload replaced it.
    Detach { generation: u64 },
    /// Fluent Bit refused a new config; the old pipeline keeps running.
    HaltedReload,
    /// A reload failed in init and the process is exiting.
    Aborted { generation: u64 },
    /// A step running beside the agent thread (the dry run) ended.
    Wake,
    /// Final shutdown: say goodbye and end.
    Shutdown,
}
