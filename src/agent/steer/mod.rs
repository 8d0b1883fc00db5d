//! What the server may change about connections (`ConnectionSettingsOffers`):
//! the OpAMP connection itself, where the agent's own telemetry goes, and
//! named other connections. One offer carries any of the three parts; each
//! part is carried out by its own module, and the offer as a whole is
//! reported as one `ConnectionSettingsStatus` under the offer's hash:
//! APPLYING until every part it carried is done, then APPLIED, or FAILED
//! with the reasons of the parts that failed.

mod candidate;
mod csr;
mod dest_store;
mod destinations;
mod offers;
mod opamp;
mod other_connections;
mod own_telemetry;
/// For fuzz targets and tests only; see the module.
pub mod seam;
mod store;
mod telemetry_render;
mod telemetry_spec;
mod tracker;
mod verify;

pub(crate) use other_connections::OtherState;
pub(crate) use own_telemetry::{own_capabilities, start_discovery, OwnTelemetry};
pub(crate) use tracker::{OfferToken, Part, Tracker};

use std::sync::Arc;
use std::time::Instant;

use super::connection::Profile;
use crate::config::properties::Settings;
use crate::state_dir::StateDir;
use crate::{error, info};
use csr::Csr;

/// The agent thread's connection-settings state.
pub(crate) struct Steer {
    pub(crate) offers: Tracker,
    /// The opamp section's connection properties: the operator's fallback.
    bootstrap: Profile,
    /// Settings the server offered and the agent verified and committed;
    /// `None` while the section's are in use.
    committed: Option<store::Persisted>,
    verifying: Option<verify::Verifying>,
    /// Since when the committed settings have failed without a success.
    failing_since: Option<Instant>,
    csr: csr::Csr,
    waker: Arc<dyn Fn() + Send + Sync>,
}

impl Steer {
    /// The settings to connect with: committed ones win over the section's
    /// until they fail for `connection_fallback` or the operator deletes
    /// them.
    pub(crate) fn profile(&self) -> &Profile {
        self.committed
            .as_ref()
            .map_or(&self.bootstrap, |c| &c.profile)
    }

    /// A new generation's opamp section. Committed settings stay only
    /// while the section's connection properties are the ones they were
    /// committed over: an operator's edit wins.
    pub(crate) fn on_new_section(&mut self, s: &Settings, state: &crate::state_dir::StateDir) {
        self.bootstrap = Profile::from_settings(s);
        if self
            .committed
            .as_ref()
            .is_some_and(|c| c.base_endpoint != fingerprint(s))
        {
            crate::info!("the opamp section's connection properties changed; the server's committed settings give way to them");
            let _ = store::abandon(state.path());
            self.committed = None;
            self.failing_since = None;
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let probe = self.verifying.as_ref().map(|v| v.probe.deadline);
        match (probe, self.csr.renew_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A digest of the section's connection properties. Committed settings
/// remember it: an operator who edits any of them takes back control.
pub(crate) fn fingerprint(s: &Settings) -> String {
    let mut text = format!("{}\n{}\n", s.endpoint.url(), s.tls.verify);
    for p in [&s.tls.ca_file, &s.tls.crt_file, &s.tls.key_file] {
        text += &format!("{:?}\n", p);
    }
    for h in &s.headers {
        text += &format!("{}: {}\n", h.name, h.value);
    }
    store::hex(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref())
}

impl Steer {
    /// The section's settings plus whatever was committed before, unless
    /// the operator has since changed the section.
    pub(crate) fn load(
        settings: &Settings,
        state: &StateDir,
        waker: std::sync::Arc<dyn Fn() + Send + Sync>,
    ) -> Steer {
        let dir = state.path();
        store::discard_pending(dir);
        let committed = match store::load(dir) {
            Ok(Some(p)) if p.base_endpoint == fingerprint(settings) => {
                info!(
                    "using the OpAMP connection settings the server offered earlier ({}); delete {} to go back to the opamp section's",
                    p.profile.endpoint.url(),
                    store::settings_file(dir).display()
                );
                Some(p)
            }
            Ok(Some(_)) => {
                info!("the opamp section's connection properties changed since the server's settings were committed; using the section's");
                let _ = store::abandon(dir);
                None
            }
            Ok(None) => None,
            Err(e) => {
                error!("ignoring the committed OpAMP connection settings: {e}");
                None
            }
        };
        Steer {
            offers: Default::default(),
            bootstrap: Profile::from_settings(settings),
            committed,
            verifying: None,
            failing_since: None,
            csr: Csr::default(),
            waker,
        }
    }
}
