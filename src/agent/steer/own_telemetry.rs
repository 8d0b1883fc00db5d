//! The agent's own telemetry (`own_metrics`, `own_logs`): not built yet.

use super::{OfferToken, Part};
use crate::agent::runtime::Runtime;
use crate::proto::TelemetryConnectionSettings;

impl Runtime {
    pub(super) fn own_telemetry_offer(
        &mut self,
        token: OfferToken,
        _metrics: Option<TelemetryConnectionSettings>,
        _logs: Option<TelemetryConnectionSettings>,
        _traces: Option<TelemetryConnectionSettings>,
    ) {
        self.offer_part_done(
            token,
            Part::OwnTelemetry,
            Err("own telemetry is not supported by this build".into()),
        );
    }
}
