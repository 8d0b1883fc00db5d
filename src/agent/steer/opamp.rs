//! The OpAMP connection's own settings: verify, then commit.

use super::{OfferToken, Part};
use crate::agent::runtime::Runtime;
use crate::proto::OpAmpConnectionSettings;

impl Runtime {
    pub(super) fn opamp_offer(&mut self, token: OfferToken, _offer: OpAmpConnectionSettings) {
        self.offer_part_done(
            token,
            Part::OpAmp,
            Err("OpAMP connection settings are not supported by this build".into()),
        );
    }
}
