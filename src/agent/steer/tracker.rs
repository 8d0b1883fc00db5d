//! One `ConnectionSettingsStatus` for an offer made of independent parts.

use crate::proto::{ConnectionSettingsStatus, ConnectionSettingsStatuses};

/// The parts of a `ConnectionSettingsOffers`, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    OpAmp,
    OwnTelemetry,
    Other,
}

impl Part {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Part::OpAmp => "opamp",
            Part::OwnTelemetry => "own telemetry",
            Part::Other => "other connections",
        }
    }
}

/// Which offer an outcome belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OfferToken(u64);

#[derive(Debug, Default)]
pub(crate) struct Tracker {
    next: u64,
    hash: Vec<u8>,
    token: Option<OfferToken>,
    parts: Vec<(Part, Option<Result<(), String>>)>,
}

impl Tracker {
    pub(crate) fn start(&mut self, hash: &[u8], parts: &[Part]) -> OfferToken {
        self.next += 1;
        let token = OfferToken(self.next);
        self.token = Some(token);
        self.hash = hash.to_vec();
        self.parts = parts.iter().map(|p| (*p, None)).collect();
        token
    }

    /// The hash of the offer in progress (or last finished).
    pub(crate) fn hash(&self) -> &[u8] {
        &self.hash
    }

    /// Records an outcome; false when it belongs to a superseded offer or
    /// to a part this offer did not carry.
    pub(crate) fn done(
        &mut self,
        token: OfferToken,
        part: Part,
        outcome: Result<(), String>,
    ) -> bool {
        if self.token != Some(token) {
            return false;
        }
        match self.parts.iter_mut().find(|(p, _)| *p == part) {
            Some(slot) => {
                slot.1 = Some(outcome);
                true
            }
            None => false,
        }
    }

    pub(crate) fn status(&self) -> Option<ConnectionSettingsStatus> {
        self.token?;
        let pending = self.parts.iter().any(|(_, o)| o.is_none());
        let errors: Vec<String> = self
            .parts
            .iter()
            .filter_map(|(p, o)| match o {
                Some(Err(e)) => Some(format!("{}: {e}", p.name())),
                _ => None,
            })
            .collect();
        let status = if pending {
            ConnectionSettingsStatuses::Applying
        } else if errors.is_empty() {
            ConnectionSettingsStatuses::Applied
        } else {
            ConnectionSettingsStatuses::Failed
        };
        Some(ConnectionSettingsStatus {
            last_connection_settings_hash: self.hash.clone(),
            status: status as i32,
            error_message: if pending {
                String::new()
            } else {
                errors.join("; ")
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(t: &Tracker) -> (i32, String) {
        let s = t.status().unwrap();
        (s.status, s.error_message)
    }

    #[test]
    fn applying_until_every_part_is_done() {
        let mut t = Tracker::default();
        assert!(t.status().is_none());
        let k = t.start(b"h", &[Part::OpAmp, Part::Other]);
        assert_eq!(st(&t).0, ConnectionSettingsStatuses::Applying as i32);
        assert!(t.done(k, Part::OpAmp, Ok(())));
        assert_eq!(st(&t).0, ConnectionSettingsStatuses::Applying as i32);
        assert!(t.done(
            k,
            Part::Other,
            Err("refused by other_connections off".into())
        ));
        let (s, e) = st(&t);
        assert_eq!(s, ConnectionSettingsStatuses::Failed as i32);
        assert_eq!(e, "other connections: refused by other_connections off");
        assert!(!t.done(k, Part::OwnTelemetry, Ok(())), "not in this offer");
    }

    #[test]
    fn a_new_offer_supersedes_late_outcomes() {
        let mut t = Tracker::default();
        let old = t.start(b"1", &[Part::OpAmp]);
        let new = t.start(b"2", &[Part::OpAmp]);
        assert!(!t.done(old, Part::OpAmp, Err("late".into())));
        assert!(t.done(new, Part::OpAmp, Ok(())));
        let s = t.status().unwrap();
        assert_eq!(s.last_connection_settings_hash, b"2");
        assert_eq!(s.status, ConnectionSettingsStatuses::Applied as i32);
    }

    #[test]
    fn an_offer_with_no_part_we_handle_is_applied() {
        let mut t = Tracker::default();
        t.start(b"h", &[]);
        assert_eq!(st(&t).0, ConnectionSettingsStatuses::Applied as i32);
    }
}
