//! The agent's side of the management events (`crate::events`): which
//! moments become records, and the context every record shares (the
//! instance UID, the values that must never appear).
//!
//! The agent only pushes; Fluent Bit's collector drains through the plugin.

use super::runtime::Runtime;
use super::steer::Part;
use crate::core::DropReason;
use crate::events::{self, Event, Kind, Outcome};
use crate::remote::{Ended, Settled};
use crate::transport::TransportError;

impl Runtime {
    /// The `events` property, the UID and the secrets, for records from
    /// now on. Called whenever one of them may have changed.
    pub(super) fn events_context(&self) {
        events::set_enabled(self.settings.events);
        events::set_instance_uid(&self.uid_text);
        // Every header value counts as secret (tokens, API keys): the
        // section's, the committed profile's, and the other connections'.
        let mut secrets: Vec<String> = self
            .settings
            .headers
            .iter()
            .chain(&self.steer.profile().headers)
            .map(|h| h.value.clone())
            .collect();
        secrets.extend(self.other.confirmed_secret_values());
        events::set_secrets(secrets);
    }

    pub(super) fn event_connected(&mut self) {
        // The endpoint's Display elides the query, which may carry a token.
        let endpoint = self.steer.profile().endpoint.to_string();
        self.linked_to = Some(endpoint.clone());
        events::emit(Event::new(Kind::Connected).field("endpoint", endpoint));
    }

    /// The connection went: lost (`Err`), or closed on purpose (`Ok`,
    /// with why).
    pub(super) fn event_disconnected(&mut self, why: Result<&str, &TransportError>) {
        let endpoint = self
            .linked_to
            .take()
            .unwrap_or_else(|| self.steer.profile().endpoint.to_string());
        let (outcome, reason) = match why {
            Ok(why) => (Outcome::Ok, why.to_string()),
            Err(e) => (Outcome::Failed, e.to_string()),
        };
        events::emit(
            Event::new(Kind::Disconnected)
                .outcome(outcome)
                .reason(reason)
                .field("endpoint", endpoint),
        );
    }

    pub(super) fn event_dropped_connection(&mut self, why: DropReason) {
        let why = format!("the agent dropped the connection ({why:?})");
        self.event_disconnected(Ok(&why));
    }

    pub(super) fn event_config_offered(&self, hash: &[u8]) {
        events::emit(Event::new(Kind::ConfigOffered).hash("config_hash", hash));
    }

    /// Every offer the apply pipeline finished since the last call.
    pub(super) fn event_config_outcomes(&mut self) {
        for Ended { hash, how, reason } in self.remote.take_ended() {
            let kind = match how {
                Settled::Refused => Kind::ConfigRefused,
                Settled::Failed => Kind::ConfigFailed,
                Settled::RolledBack => Kind::ConfigRolledBack,
                Settled::Applied => Kind::ConfigApplied,
            };
            events::emit(Event::new(kind).hash("config_hash", &hash).reason(reason));
        }
    }

    /// One part of a connection settings offer was committed or failed.
    pub(super) fn event_connection_settings(
        &self,
        hash: &[u8],
        part: Part,
        outcome: &Result<(), String>,
    ) {
        let e = Event::new(Kind::ConnectionSettingsChanged)
            .hash("settings_hash", hash)
            .field("part", part.name());
        events::emit(match outcome {
            Ok(()) => e,
            Err(why) => e.outcome(Outcome::Failed).reason(why.as_str()),
        });
    }

    /// Committed settings gave way to the section's after failing.
    pub(super) fn event_connection_fallback(&self, hash: &[u8], why: String) {
        events::emit(
            Event::new(Kind::ConnectionSettingsChanged)
                .outcome(Outcome::Failed)
                .hash("settings_hash", hash)
                .field("part", Part::OpAmp.name())
                .reason(why),
        );
    }
}
