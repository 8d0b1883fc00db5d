//! Named other connections (`OtherConnectionSettings`): destinations the
//! server offers, which remote configs reference as
//! `${opamp.other.NAME.…}` variables.
//!
//! An offer's map is the whole set: a destination it leaves out is gone.
//! An offer without the map keeps the set (protobuf cannot tell an empty
//! map from an absent one, and the offer's hash covers unchanged parts).
//! When the new values change what the newest remote config renders to, it
//! is applied again through the normal pipeline, and the offer is APPLIED
//! only when that reload is; if it fails, the previous values come back
//! and the running pipeline is the one that ran before.

use std::collections::BTreeMap;
use std::time::Instant;

use super::dest_store;
use super::destinations::{self, MAX_DESTINATIONS};
use super::{OfferToken, Part};
use crate::agent::connection::unix_now_ms;
use crate::agent::runtime::Runtime;
use crate::proto::OtherConnectionSettings;
use crate::remote::vars::Vars;
use crate::{info, warn};

/// The destinations in use, and the ones to go back to.
#[derive(Debug, Default)]
pub(crate) struct OtherState {
    current: Vars,
    /// The values of the last offer that completed.
    confirmed: Vars,
    /// An offer waiting for its remote config to be applied again.
    pending: Option<OfferToken>,
}

impl OtherState {
    /// The destinations' values in use.
    pub(crate) fn current(&self) -> &Vars {
        &self.current
    }

    /// The secret values of the destinations in use and of the ones the
    /// running files may still hold (a re-render not yet confirmed).
    pub(crate) fn confirmed_secret_values(&self) -> Vec<String> {
        let mut values = self.confirmed.secret_values();
        values.extend(self.current.secret_values());
        values
    }
}

impl Runtime {
    pub(super) fn other_connections_offer(
        &mut self,
        token: OfferToken,
        offers: BTreeMap<String, OtherConnectionSettings>,
    ) {
        match self.accept_destinations(&offers) {
            Ok(vars) => self.use_destinations(token, vars),
            Err(e) => {
                warn!("other connections offer FAILED: {e}");
                self.offer_part_done(token, Part::Other, Err(e));
            }
        }
    }

    /// At startup: the destinations a previous process accepted.
    pub(in crate::agent) fn load_other_connections(&mut self) {
        if !self.settings.steering.other_connections {
            return;
        }
        let vars = dest_store::load(self.state.path());
        if !vars.is_empty() {
            info!(
                "other connections: {} values restored from state_dir",
                vars.names().count()
            );
        }
        self.remote.init_vars(self.with_package_vars(&vars));
        self.other.current = vars.clone();
        self.other.confirmed = vars;
        self.publish_secrets();
    }

    /// Checks every destination and writes its files; nothing changes on
    /// any error.
    fn accept_destinations(
        &self,
        offers: &BTreeMap<String, OtherConnectionSettings>,
    ) -> Result<Vars, String> {
        if !self.settings.steering.other_connections {
            return Err(
                "refused by policy (other_connections): this agent does not accept \
                 other connection settings; the operator turns them on with 'other_connections on'"
                    .into(),
            );
        }
        if offers.len() > MAX_DESTINATIONS {
            return Err(format!("more than {MAX_DESTINATIONS} destinations"));
        }
        let now = (unix_now_ms() / 1000) as i64;
        let mut checked = Vec::new();
        for (name, s) in offers {
            let c = destinations::check(name, s, now).map_err(|e| {
                let shown: String = name.chars().take(40).collect();
                format!("destination '{}': {e}", shown.escape_default())
            })?;
            checked.push(c);
        }
        dest_store::write(self.state.path(), &checked)
            .map_err(|e| format!("cannot write the destinations' TLS files in state_dir: {e}"))
    }

    fn use_destinations(&mut self, token: OfferToken, vars: Vars) {
        let names: Vec<&str> = vars.names().collect();
        info!(
            "other connections: {} values offered ({names:?})",
            names.len()
        );
        self.other.current = vars.clone();
        self.store_destinations(&vars);
        self.publish_secrets();
        // An earlier offer still waiting is superseded: its token is stale.
        self.other.pending = None;
        if self
            .remote
            .set_vars(Instant::now(), self.with_package_vars(&vars))
        {
            self.other.pending = Some(token);
            self.remote_status();
        } else {
            self.destinations_done(token, Ok(()));
        }
    }

    /// Called whenever the remote-config status may have moved: ends the
    /// offer waiting for its re-render.
    pub(in crate::agent) fn other_connections_progress(&mut self) {
        if self.other.pending.is_none() {
            return;
        }
        let Some(outcome) = self.remote.take_render_outcome() else {
            return;
        };
        if let Some(token) = self.other.pending.take() {
            self.destinations_done(token, outcome);
        }
    }

    fn destinations_done(&mut self, token: OfferToken, outcome: Result<(), String>) {
        match &outcome {
            Ok(()) => self.other.confirmed = self.other.current.clone(),
            Err(e) => {
                warn!("other connections: the remote config failed with the new values ({e}); keeping the previous ones");
                let back = self.other.confirmed.clone();
                self.other.current = back.clone();
                self.store_destinations(&back);
                // The last-known-good files were rendered with these.
                self.remote.init_vars(self.with_package_vars(&back));
            }
        }
        dest_store::tidy(self.state.path(), &[&self.other.current]);
        self.publish_secrets();
        self.offer_part_done(token, Part::Other, outcome);
    }

    /// The redactor hides the values in use and the ones the running
    /// files may still hold (a re-render not yet confirmed).
    fn publish_secrets(&mut self) {
        let mut values = self.other.confirmed_secret_values();
        values.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        values.dedup();
        self.collector.set_secret_values(values);
        self.events_context();
    }

    fn store_destinations(&self, vars: &Vars) {
        if let Err(e) = dest_store::save(self.state.path(), vars) {
            warn!(
                "cannot keep the other connections in state_dir ({e}); a restart will forget them"
            );
        }
        // Files of the values in use and of the ones to go back to stay.
        dest_store::tidy(self.state.path(), &[vars, &self.other.confirmed]);
    }
}
