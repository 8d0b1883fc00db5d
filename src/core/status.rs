//! Status compression ("Agent Status Compression"): remember the last value
//! of each sub-message that reached the server and send only what differs.

use super::config::Capabilities;
use crate::proto::{
    AgentDescription, AgentToServer, AvailableComponents, ComponentHealth,
    ConnectionSettingsRequest, ConnectionSettingsStatus, CustomCapabilities, EffectiveConfig,
    PackageStatuses, RemoteConfigStatus,
};

/// One slot per compressible sub-message the core reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct StatusParts {
    pub(crate) agent_description: Option<AgentDescription>,
    pub(crate) health: Option<ComponentHealth>,
    pub(crate) effective_config: Option<EffectiveConfig>,
    pub(crate) remote_config_status: Option<RemoteConfigStatus>,
    pub(crate) available_components: Option<AvailableComponents>,
    pub(crate) connection_settings_status: Option<ConnectionSettingsStatus>,
    /// A CSR (or other request) waiting for the server: it travels like a
    /// status, so a lost message or a reconnect sends it again until the
    /// driver withdraws it.
    pub(crate) connection_settings_request: Option<ConnectionSettingsRequest>,
    /// "CustomCapabilities": sent only when the list changes, and in every
    /// full report.
    pub(crate) custom_capabilities: Option<CustomCapabilities>,
    /// "PackageStatuses": the whole set, sent whenever any package's state
    /// or progress changes and in every full report.
    pub(crate) package_statuses: Option<PackageStatuses>,
}

impl StatusParts {
    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub(crate) fn write_into(self, msg: &mut AgentToServer) {
        msg.agent_description = self.agent_description;
        msg.health = self.health;
        msg.effective_config = self.effective_config;
        msg.remote_config_status = self.remote_config_status;
        msg.available_components = self.available_components;
        msg.connection_settings_status = self.connection_settings_status;
        msg.connection_settings_request = self.connection_settings_request;
        msg.custom_capabilities = self.custom_capabilities;
        msg.package_statuses = self.package_statuses;
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct StatusStore {
    /// Latest values from the driver.
    pub(crate) current: StatusParts,
    /// What the server is known to have (delivered, or deliberately given
    /// up on; see `commit`).
    reported: StatusParts,
}

impl StatusStore {
    /// The sub-messages the next `AgentToServer` must carry. `full` asks for
    /// everything (new connection, ReportFullState); `components_map` for
    /// the full AvailableComponents map (ReportAvailableComponents).
    /// Capabilities the agent does not claim are never reported.
    pub(crate) fn outgoing(
        &self,
        caps: &Capabilities,
        full: bool,
        components_map: bool,
    ) -> StatusParts {
        fn pick<T: Clone + PartialEq>(
            allowed: bool,
            full: bool,
            cur: &Option<T>,
            old: &Option<T>,
        ) -> Option<T> {
            let cur = cur.as_ref().filter(|_| allowed)?;
            (full || old.as_ref() != Some(cur)).then(|| cur.clone())
        }
        let (c, r) = (&self.current, &self.reported);
        StatusParts {
            agent_description: pick(true, full, &c.agent_description, &r.agent_description),
            health: pick(caps.reports_health, full, &c.health, &r.health),
            effective_config: pick(
                caps.reports_effective_config,
                full,
                &c.effective_config,
                &r.effective_config,
            ),
            remote_config_status: pick(
                caps.reports_remote_config,
                full,
                &c.remote_config_status,
                &r.remote_config_status,
            ),
            available_components: self.outgoing_components(caps, full, components_map),
            connection_settings_status: pick(
                caps.reports_connection_settings_status,
                full,
                &c.connection_settings_status,
                &r.connection_settings_status,
            ),
            connection_settings_request: pick(
                caps.accepts_opamp_connection_settings,
                full,
                &c.connection_settings_request,
                &r.connection_settings_request,
            ),
            custom_capabilities: pick(true, full, &c.custom_capabilities, &r.custom_capabilities),
            package_statuses: pick(
                caps.reports_package_statuses,
                full,
                &c.package_statuses,
                &r.package_statuses,
            ),
        }
    }

    /// The spec's "Initial Handshake" for AvailableComponents: normally only
    /// the hash travels (and is compressed on it); the map only on request.
    fn outgoing_components(
        &self,
        caps: &Capabilities,
        full: bool,
        components_map: bool,
    ) -> Option<AvailableComponents> {
        if !caps.reports_available_components {
            return None;
        }
        let cur = self.current.available_components.as_ref()?;
        if components_map {
            return Some(cur.clone());
        }
        let old_hash = self.reported.available_components.as_ref().map(|a| &a.hash);
        (full || old_hash != Some(&cur.hash)).then(|| AvailableComponents {
            components: Default::default(),
            hash: cur.hash.clone(),
        })
    }

    /// Makes the next message carry the remote config status again, as if
    /// the server had never received it.
    pub(crate) fn forget_remote_config_status(&mut self) {
        self.reported.remote_config_status = None;
    }

    /// Records parts as known to the server, so they are not sent again
    /// until they change.
    pub(crate) fn commit(&mut self, parts: StatusParts) {
        let r = &mut self.reported;
        macro_rules! take {
            ($($f:ident),*) => {$( if parts.$f.is_some() { r.$f = parts.$f; } )*};
        }
        take!(
            agent_description,
            health,
            effective_config,
            remote_config_status,
            available_components,
            connection_settings_status,
            connection_settings_request,
            custom_capabilities,
            package_statuses
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_caps() -> Capabilities {
        Capabilities {
            reports_health: true,
            reports_effective_config: true,
            reports_remote_config: true,
            reports_available_components: true,
            ..Default::default()
        }
    }

    fn health(ok: bool) -> ComponentHealth {
        ComponentHealth {
            healthy: ok,
            ..Default::default()
        }
    }

    /// "Agent Status Compression": unchanged sub-messages are omitted,
    /// changed ones are sent whole.
    #[test]
    fn only_changed_parts_go_out() {
        let mut s = StatusStore::default();
        s.current.health = Some(health(true));
        s.current.agent_description = Some(AgentDescription::default());
        let first = s.outgoing(&all_caps(), false, false);
        assert!(first.health.is_some() && first.agent_description.is_some());
        s.commit(first);
        assert!(s.outgoing(&all_caps(), false, false).is_empty());

        s.current.health = Some(health(false));
        let next = s.outgoing(&all_caps(), false, false);
        assert_eq!(next.health, Some(health(false)));
        assert_eq!(next.agent_description, None);
    }

    /// "ReportFullState": full reports include unchanged parts too.
    #[test]
    fn full_includes_everything_set() {
        let mut s = StatusStore::default();
        s.current.health = Some(health(true));
        s.commit(s.outgoing(&all_caps(), false, false));
        assert!(s.outgoing(&all_caps(), false, false).is_empty());
        assert_eq!(
            s.outgoing(&all_caps(), true, false).health,
            Some(health(true))
        );
    }

    /// "AgentToServer.capabilities": parts the agent does not claim to
    /// report are not sent.
    #[test]
    fn capabilities_gate_parts() {
        let mut s = StatusStore::default();
        s.current.health = Some(health(true));
        s.current.effective_config = Some(EffectiveConfig::default());
        s.current.remote_config_status = Some(RemoteConfigStatus::default());
        s.current.available_components = Some(AvailableComponents::default());
        assert!(s.outgoing(&Capabilities::default(), true, true).is_empty());
    }

    /// "AvailableComponents Message" / "Initial Handshake": hash only, map
    /// on request, compression keyed on the hash.
    #[test]
    fn components_hash_only_unless_asked() {
        let mut s = StatusStore::default();
        let mut comps = AvailableComponents {
            hash: vec![1],
            ..Default::default()
        };
        comps.components.insert("input".into(), Default::default());
        s.current.available_components = Some(comps.clone());

        let first = s.outgoing(&all_caps(), true, false);
        let sent = first.available_components.clone().unwrap();
        assert!(sent.components.is_empty());
        assert_eq!(sent.hash, vec![1]);
        s.commit(first);
        assert!(s.outgoing(&all_caps(), false, false).is_empty());

        let asked = s.outgoing(&all_caps(), false, true);
        assert_eq!(asked.available_components, Some(comps.clone()));

        comps.hash = vec![2];
        s.current.available_components = Some(comps);
        let changed = s.outgoing(&all_caps(), false, false);
        assert_eq!(changed.available_components.unwrap().hash, vec![2]);
    }

    #[test]
    fn commit_keeps_parts_not_in_the_message() {
        let mut s = StatusStore::default();
        s.current.health = Some(health(true));
        s.current.agent_description = Some(AgentDescription::default());
        s.commit(s.outgoing(&all_caps(), false, false));
        s.current.health = Some(health(false));
        s.commit(s.outgoing(&all_caps(), false, false));
        assert!(s.outgoing(&all_caps(), false, false).is_empty());
        assert_eq!(
            s.reported.agent_description,
            Some(AgentDescription::default())
        );
    }
}
