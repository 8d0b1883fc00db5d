//! What the agent reports: samples of Fluent Bit's state, the health
//! overlay for the plugin's own problems, and the apply pipeline's status.

use std::time::{Duration, Instant};

use super::connection::unix_now_ms;
use super::runtime::Runtime;
use crate::proto::ComponentHealth;

impl Runtime {
    /// Samples Fluent Bit's state and hands the core whatever changed.
    pub(super) fn sample(&mut self) {
        crate::fault::inject("sample");
        self.check_state_dir();
        let update = self.collector.sample(Instant::now());
        self.next_sample =
            Instant::now() + self.settings.health_interval.max(Duration::from_secs(1));
        if let Some(d) = update.description {
            self.client.set_agent_description(d);
        }
        if let Some(e) = update.effective_config {
            self.client.set_effective_config(e);
        }
        if let Some(h) = update.health {
            self.health = Some(h);
            self.publish_health();
        }
        self.remote_tick();
    }

    /// A state folder deleted under a running agent: what is lost is
    /// written back (the instance UID, so a restart keeps the identity) and
    /// the operator is told. One stat per sample while all is well.
    fn check_state_dir(&mut self) {
        if self.state.has_instance_uid() {
            return;
        }
        let uid = self.client.instance_uid();
        match self.state.store_instance_uid(&uid) {
            Ok(()) => crate::warn!(
                "state_dir {} lost its files (deleted while running?); the instance UID is stored again, remote config state starts afresh",
                self.state.path().display()
            ),
            Err(e) => crate::error!(
                "state_dir {} is unusable ({e}); remote configs are refused until it is writable again",
                self.state.path().display()
            ),
        }
    }

    /// The binary's plugins with the current config's use of them; again
    /// after every reload, since the config may use others now.
    pub(super) fn publish_components(&mut self) {
        let Some(Ok(p)) = crate::fluent_bit_plugins::get() else {
            return;
        };
        if let Some(v) = &p.version {
            self.collector.set_binary_version(v);
        }
        let used = crate::status::components::used_plugins(self.collector.bootstrap());
        let lists = [
            &p.inputs[..],
            &p.processors[..],
            &p.filters[..],
            &p.outputs[..],
        ];
        self.client
            .set_available_components(crate::status::components::build(lists, &used));
    }

    /// Advances the apply pipeline (confirmation timeouts, the health gate)
    /// and reports any status change.
    pub(super) fn remote_tick(&mut self) {
        let health_ok = self.collector.current_health().map(|h| h.healthy);
        self.remote.on_tick(Instant::now(), health_ok);
        self.remote_status();
    }

    pub(super) fn remote_status(&mut self) {
        while let Some(st) = self.remote.poll_status() {
            self.client.set_remote_config_status(st);
        }
        self.event_config_outcomes();
        self.other_connections_progress();
        self.packages_progress();
    }

    /// The collector's health, overridden at the top level while the
    /// plugin's own configuration is broken, or while the client recovers
    /// from an internal error: problems the pipeline metrics cannot show.
    pub(super) fn publish_health(&mut self) {
        let mut h = self.health.clone().unwrap_or_else(|| ComponentHealth {
            healthy: true,
            start_time_unix_nano: unix_now_ms() * 1_000_000,
            status: "starting".into(),
            ..Default::default()
        });
        if let Some(p) = &self.problem {
            h.healthy = false;
            h.last_error = p.clone();
            h.status = "opamp plugin configuration error".into();
        }
        h.status_time_unix_nano = unix_now_ms() * 1_000_000;
        self.client.set_health(h);
    }
}
