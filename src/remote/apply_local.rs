//! The machine's second source of config: the plugin's own fragment.
//!
//! A fragment change runs as an ordinary apply job (stage, dry run, swap,
//! reload, commit or roll back) of "the server's config now live + the new
//! fragment", under a [`fragment::local_hash`] that can never equal a server
//! hash. Its outcome goes to the agent through [`Machine::take_local`]
//! instead of the remote config status, and the server's record (applied
//! hash, last failure) is left alone: the server's config did not change.
//! Server configs are composed with the fragment that is live, never with
//! one still being tried, so a bad fragment cannot fail a server config.

use std::sync::Arc;

use super::{Job, Kind, Machine, Step, BLOCKED, HOT_RELOAD_OFF};
use crate::fbconf::Format;
use crate::remote::fragment::{self, Fragment};
use crate::remote::policy::Candidate;

/// The outcome of a change replaced before it started.
pub const SUPERSEDED: &str = "superseded by a newer offer";

/// What the machine knows about the fragment.
#[derive(Debug, Default)]
pub(super) struct Own {
    /// How to compose: the managed folder's name and the config format.
    /// `None` until the driver knows the live files.
    pub(super) layout: Option<(Format, String)>,
    /// The server's part of the live config.
    pub(super) base: Arc<Candidate>,
    /// The fragment live now.
    pub(super) applied: Option<Fragment>,
    /// A change not started yet, with its ticket.
    pub(super) wanted: Option<(u64, Option<Fragment>)>,
    /// The change in progress.
    pub(super) running: Option<(u64, Option<Fragment>)>,
    pub(super) outcomes: Vec<(u64, Result<(), String>)>,
}

impl Machine {
    /// What the live files hold, known to the driver after recovery: the
    /// server's part and the fragment in place.
    pub fn set_own_layout(
        &mut self,
        format: Format,
        folder: String,
        base: Candidate,
        live: Option<Fragment>,
        blocked: Vec<Vec<u8>>,
    ) {
        for h in blocked {
            if !self.blocked.contains(&h) {
                self.blocked.push(h);
            }
        }
        self.own.layout = Some((format, folder));
        self.own.base = Arc::new(base);
        self.own.applied = live;
    }

    /// The fragment the plugin wants live (`None`: none). Its outcome comes
    /// back from [`take_local`](Self::take_local) under `ticket`.
    pub fn set_fragment(&mut self, ticket: u64, fragment: Option<Fragment>) {
        if let Some((old, _)) = self.own.wanted.replace((ticket, fragment)) {
            self.own.outcomes.push((old, Err(SUPERSEDED.into())));
        }
        self.pump();
    }

    pub fn has_fragment(&self) -> bool {
        self.own.applied.is_some()
    }

    /// Outcomes of fragment changes since the last call.
    pub fn take_local(&mut self) -> Vec<(u64, Result<(), String>)> {
        std::mem::take(&mut self.own.outcomes)
    }

    /// The server's candidate with the live fragment in it.
    pub(super) fn compose(
        &self,
        server: Candidate,
    ) -> Result<(Arc<Candidate>, Arc<Candidate>), String> {
        // A config read back from the live files (a temporary change's
        // revert) still holds the fragment: it is ours to place, never the
        // server's, so it is taken out and the live one put in.
        let server = match &self.own.layout {
            Some((format, folder)) => fragment::strip(&server.main, &server.files, *format, folder),
            None => server,
        };
        let base = Arc::new(server);
        match (&self.own.layout, &self.own.applied) {
            (Some((format, folder)), Some(f)) => {
                let c = fragment::compose(&base, Some(f), *format, folder)?;
                Ok((Arc::new(c), base))
            }
            _ => Ok((base.clone(), base)),
        }
    }

    /// Starts the wanted change as a job, or answers it at once when there
    /// is nothing to reload. Called only when no job runs.
    pub(super) fn start_local(&mut self) {
        let Some((ticket, wanted)) = self.own.wanted.take() else {
            return;
        };
        if wanted == self.own.applied {
            return self.own.outcomes.push((ticket, Ok(())));
        }
        let Some((format, folder)) = self.own.layout.clone() else {
            let e = "no managed_config is set, so the own-telemetry fragment has nowhere to go";
            return self.own.outcomes.push((ticket, Err(e.into())));
        };
        let hash = match &wanted {
            Some(f) => f.hash.clone(),
            None => fragment::local_hash(b""),
        };
        if self.blocked.contains(&hash) {
            return self.own.outcomes.push((ticket, Err(BLOCKED.into())));
        }
        if self.hot_reload == Some(false) {
            return self.own.outcomes.push((ticket, Err(HOT_RELOAD_OFF.into())));
        }
        let composed = match fragment::compose(&self.own.base, wanted.as_ref(), format, &folder) {
            Ok(c) => c,
            Err(e) => return self.own.outcomes.push((ticket, Err(e))),
        };
        self.own.running = Some((ticket, wanted));
        self.job = Some(Job {
            hash,
            kind: Kind::Apply(Arc::new(composed)),
            step: Step::Staging,
            base_generation: self.generation,
            base: None,
        });
    }

    /// The end of a fragment job: the fragment is live (Ok) or the old one
    /// is back in place (Err).
    pub(super) fn local_done(&mut self, result: Result<(), String>) {
        if result.is_err() && !self.aborted {
            // A server config's failure is persisted, and persisting drops
            // the pending marker; the fragment keeps no record, so the
            // marker goes here (the LKG is back in place, or never left).
            self.side.push_back(super::Action::Commit);
        }
        if let Some((ticket, f)) = self.own.running.take() {
            if result.is_ok() {
                self.own.applied = f;
            }
            self.own.outcomes.push((ticket, result));
        }
    }
}
