//! What the driver tells the core up front.

use std::time::Duration;

use super::backoff::BackoffConfig;
use super::wire::DEFAULT_MAX_MESSAGE_BYTES;
use crate::proto::AgentCapabilities as Cap;

/// Which transport the driver runs; the core's timing rules differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Full duplex: a status counts as delivered once sent; heartbeats only
    /// with `reports_heartbeat`.
    WebSocket,
    /// Request/response: one request at a time, a status counts as
    /// delivered once its response arrives, and polling never stops.
    Http,
}

/// What this agent can do. Only set what the driver really implements: the
/// server will act on every bit. `ReportsStatus` is always sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub accepts_remote_config: bool,
    pub reports_effective_config: bool,
    pub reports_health: bool,
    pub reports_remote_config: bool,
    pub reports_heartbeat: bool,
    pub accepts_restart_command: bool,
    pub reports_available_components: bool,
    pub accepts_opamp_connection_settings: bool,
    pub reports_connection_settings_status: bool,
    pub reports_own_metrics: bool,
    pub reports_own_logs: bool,
    pub accepts_other_connection_settings: bool,
    pub accepts_packages: bool,
    pub reports_package_statuses: bool,
}

impl Capabilities {
    /// The `AgentToServer.capabilities` bitmask.
    pub fn bits(&self) -> u64 {
        let mut b = Cap::ReportsStatus as u64;
        for (on, cap) in [
            (self.accepts_remote_config, Cap::AcceptsRemoteConfig),
            (self.reports_effective_config, Cap::ReportsEffectiveConfig),
            (self.reports_health, Cap::ReportsHealth),
            (self.reports_remote_config, Cap::ReportsRemoteConfig),
            (self.reports_heartbeat, Cap::ReportsHeartbeat),
            (self.accepts_restart_command, Cap::AcceptsRestartCommand),
            (
                self.reports_available_components,
                Cap::ReportsAvailableComponents,
            ),
            (
                self.accepts_opamp_connection_settings,
                Cap::AcceptsOpAmpConnectionSettings,
            ),
            (
                self.reports_connection_settings_status,
                Cap::ReportsConnectionSettingsStatus,
            ),
            (self.reports_own_metrics, Cap::ReportsOwnMetrics),
            (self.reports_own_logs, Cap::ReportsOwnLogs),
            (
                self.accepts_other_connection_settings,
                Cap::AcceptsOtherConnectionSettings,
            ),
            (self.accepts_packages, Cap::AcceptsPackages),
            (self.reports_package_statuses, Cap::ReportsPackageStatuses),
        ] {
            if on {
                b |= cap as u64;
            }
        }
        b
    }
}

/// Default heartbeat / HTTP polling period named by the spec ("WebSocket
/// Message Exchange", "Plain HTTP Transport").
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(30);

/// Smallest accepted outbound limit: a bare status (uid, sequence number,
/// capabilities, flags) always fits, so dropping optional parts can always
/// make a message sendable.
pub const MIN_MAX_OUTBOUND_BYTES: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// Persisted or freshly generated (see [`super::uuid_v7`]).
    pub instance_uid: [u8; 16],
    pub transport: Transport,
    pub capabilities: Capabilities,
    /// Heartbeat period for WebSocket (zero: none) and polling period for
    /// HTTP (zero: the 30 s default, since an HTTP client must poll).
    /// A server-offered `heartbeat_interval_seconds` replaces it.
    pub heartbeat_interval: Duration,
    pub backoff: BackoffConfig,
    /// Largest encoded `AgentToServer` the core will hand out; larger ones
    /// lose their optional parts. Clamped to at least
    /// [`MIN_MAX_OUTBOUND_BYTES`]. For WebSocket the 1-byte header comes on
    /// top.
    pub max_outbound_bytes: usize,
    /// Largest message accepted by [`super::Client::receive_bytes`].
    pub max_inbound_bytes: usize,
    /// Seed for backoff jitter; give each process a different one.
    pub jitter_seed: u64,
}

impl ClientConfig {
    /// Spec defaults: 30 s heartbeat, 64 MiB limits, 1 s..5 min backoff.
    pub fn new(instance_uid: [u8; 16], transport: Transport) -> Self {
        Self {
            instance_uid,
            transport,
            capabilities: Capabilities::default(),
            heartbeat_interval: DEFAULT_HEARTBEAT,
            backoff: BackoffConfig::default(),
            max_outbound_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_inbound_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            jitter_seed: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "AgentToServer.capabilities": ReportsStatus MUST always be set, and
    /// only the bits the driver enabled may follow.
    #[test]
    fn capabilities_bits_match_the_enum() {
        assert_eq!(Capabilities::default().bits(), 0x1);
        let all = Capabilities {
            accepts_remote_config: true,
            reports_effective_config: true,
            reports_health: true,
            reports_remote_config: true,
            reports_heartbeat: true,
            accepts_restart_command: true,
            reports_available_components: true,
            accepts_opamp_connection_settings: true,
            reports_connection_settings_status: true,
            reports_own_metrics: true,
            reports_own_logs: true,
            accepts_other_connection_settings: true,
            accepts_packages: true,
            reports_package_statuses: true,
        };
        assert_eq!(
            all.bits(),
            0x1 | 0x2
                | 0x4
                | 0x800
                | 0x1000
                | 0x2000
                | 0x400
                | 0x4000
                | 0x100
                | 0x8000
                | 0x40
                | 0x80
                | 0x200
                | 0x8
                | 0x10
        );
        let health_only = Capabilities {
            reports_health: true,
            ..Default::default()
        };
        assert_eq!(health_only.bits(), 0x801);
    }
}
