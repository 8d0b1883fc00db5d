//! Named other connections: not built yet.

use std::collections::BTreeMap;

use super::{OfferToken, Part};
use crate::agent::runtime::Runtime;
use crate::proto::OtherConnectionSettings;

impl Runtime {
    pub(super) fn other_connections_offer(
        &mut self,
        token: OfferToken,
        _offers: BTreeMap<String, OtherConnectionSettings>,
    ) {
        self.offer_part_done(
            token,
            Part::Other,
            Err("other connections are not supported by this build".into()),
        );
    }
}
