//! What the server may change about connections (`ConnectionSettingsOffers`):
//! the OpAMP connection itself, where the agent's own telemetry goes, and
//! named other connections. One offer carries any of the three parts; each
//! part is carried out by its own module, and the offer as a whole is
//! reported as one `ConnectionSettingsStatus` under the offer's hash:
//! APPLYING until every part it carried is done, then APPLIED, or FAILED
//! with the reasons of the parts that failed.

mod dest_store;
mod destinations;
mod opamp;
mod other_connections;
mod own_telemetry;
mod tracker;

pub(crate) use other_connections::OtherState;
pub(crate) use tracker::{OfferToken, Part, Tracker};

use super::runtime::Runtime;
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
        let token = self.offers.start(&cs.hash, &parts);
        if let Some(op) = cs.opamp {
            self.opamp_offer(token, op);
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
        if self.offers.done(token, part, outcome) {
            self.publish_offer_status();
        }
    }

    fn publish_offer_status(&mut self) {
        if let Some(st) = self.offers.status() {
            self.client.set_connection_settings_status(st);
        }
    }
}
