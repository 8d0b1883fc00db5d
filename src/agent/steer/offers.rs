//! The agent thread's side of an offer: split it into its parts, hand
//! each to its module, report the whole as one status.

use super::{OfferToken, Part};
use crate::agent::runtime::Runtime;
use crate::proto::ConnectionSettingsOffers;

impl Runtime {
    /// A new offer supersedes whatever the previous one left pending: late
    /// outcomes carry the old token and are ignored.
    pub(in crate::agent) fn connection_offers(&mut self, cs: ConnectionSettingsOffers) {
        let mut parts = Vec::new();
        if cs.opamp.is_some() {
            parts.push(Part::OpAmp);
        }
        let telemetry =
            cs.own_metrics.is_some() || cs.own_logs.is_some() || cs.own_traces.is_some();
        if telemetry {
            parts.push(Part::OwnTelemetry);
        }
        if !cs.other_connections.is_empty() {
            parts.push(Part::Other);
        }
        let token = self.steer.offers.start(&cs.hash, &parts);
        if let Some(op) = cs.opamp {
            self.opamp_offer(token, &cs.hash, op);
        }
        if telemetry {
            self.own_telemetry_offer(token, cs.own_metrics, cs.own_logs, cs.own_traces);
        }
        if !cs.other_connections.is_empty() {
            self.other_connections_offer(token, cs.other_connections);
        }
        self.publish_offer_status();
    }

    /// One part of an offer finished; reports the offer once all are done.
    pub(in crate::agent) fn offer_part_done(
        &mut self,
        token: OfferToken,
        part: Part,
        outcome: Result<(), String>,
    ) {
        let hash = self.steer.offers.hash().to_vec();
        if self.steer.offers.done(token, part, outcome.clone()) {
            self.event_connection_settings(&hash, part, &outcome);
            self.publish_offer_status();
        }
    }

    fn publish_offer_status(&mut self) {
        if let Some(st) = self.steer.offers.status() {
            self.client.set_connection_settings_status(st);
        }
    }
}
