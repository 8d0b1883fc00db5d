//! The agent's own telemetry (`own_metrics`, `own_logs`): Fluent Bit's
//! internal metrics and, from 5.0, its own log, sent with the
//! `opentelemetry` output to the endpoint the server offers.
//!
//! The offer becomes a fragment in the managed folder (`telemetry_spec`
//! checks it, `telemetry_render` writes it) that the remote config
//! pipeline composes with the server's config and applies like one: dry
//! run, last-known-good, hot reload, rollback. The part of the offer is
//! done when that apply ends, possibly several reloads later. The offer
//! that is live is kept in `state_dir` (mode 0600: headers and keys), so a
//! restart keeps sending without asking the server again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::telemetry_render::render;
use super::telemetry_spec::{self, supported, Signal, Target, Wanted, PEM_DIR};
use super::{OfferToken, Part};
use crate::agent::runtime::Runtime;
use crate::config::properties::Settings;
use crate::fluent_bit_plugins::{self, Plugins};
use crate::proto::TelemetryConnectionSettings;
use crate::remote::apply::SUPERSEDED;
use crate::remote::validate::discover_binary;
use crate::state_dir::write_atomic_private;
use crate::{debug, error, info, warn};

/// The live offer, as persisted.
const FILE: &str = "own_telemetry.offer";

pub(crate) const OFF: &str = "own telemetry is off on this agent; the operator turns it on with \
     'own_telemetry on' (and managed_config) in the opamp section";

type Offer = (
    OfferToken,
    Option<TelemetryConnectionSettings>,
    Option<TelemetryConnectionSettings>,
);

/// The agent's own-telemetry state.
#[derive(Default)]
pub(crate) struct OwnTelemetry {
    /// The offer live now.
    live: Wanted,
    /// Changes handed to the apply pipeline, oldest first: a newer offer
    /// may arrive while an older one is still being applied.
    inflight: Vec<Pending>,
    /// An offer that came before the binary's plugin list was known.
    waiting: Option<Offer>,
    next_ticket: u64,
    /// Whether the live files were brought in line with `live` and the
    /// operator's consent after a start or a settings change.
    synced: bool,
    /// Whether the capabilities reflect the plugin list yet.
    plugins_seen: bool,
}

struct Pending {
    token: Option<OfferToken>,
    ticket: u64,
    wanted: Wanted,
    targets: Vec<Target>,
}

/// What the running binary can send, when the operator allows it.
pub(crate) fn own_capabilities(s: &Settings) -> (bool, bool) {
    let Some(Ok(p)) = fluent_bit_plugins::get() else {
        return (false, false);
    };
    let on = s.steering.own_telemetry && s.managed_config.is_some();
    let can = |signal| on && supported(signal, p).is_ok();
    (can(Signal::Metrics), can(Signal::Logs))
}

/// Learns the binary's plugins beside the agent thread, once per process.
/// Own telemetry and the available components both need it, so it runs
/// whatever the settings (one short child per process).
pub(crate) fn start_discovery(_s: &Settings, waker: Arc<dyn Fn() + Send + Sync>) {
    fluent_bit_plugins::discover(discover_binary(), waker);
}

impl Runtime {
    pub(super) fn own_telemetry_offer(
        &mut self,
        token: OfferToken,
        metrics: Option<TelemetryConnectionSettings>,
        logs: Option<TelemetryConnectionSettings>,
        traces: Option<TelemetryConnectionSettings>,
    ) {
        let refused = if !self.settings.steering.own_telemetry {
            Some(OFF.to_string())
        } else if traces.is_some_and(|t| !t.destination_endpoint.is_empty()) {
            Some("own_traces is not supported: Fluent Bit has no traces of its own".into())
        } else if metrics.is_none() && logs.is_none() {
            // Only an empty own_traces: nothing to do.
            return self.offer_part_done(token, Part::OwnTelemetry, Ok(()));
        } else {
            None
        };
        if let Some(e) = refused {
            warn!("own telemetry offer refused: {e}");
            return self.offer_part_done(token, Part::OwnTelemetry, Err(e));
        }
        match fluent_bit_plugins::get() {
            None => self.own.waiting = Some((token, metrics, logs)),
            Some(Err(e)) => {
                let e = format!("cannot tell which plugins this Fluent Bit has: {e}");
                warn!("own telemetry offer refused: {e}");
                self.offer_part_done(token, Part::OwnTelemetry, Err(e));
            }
            Some(Ok(p)) => {
                let wanted = self.own_latest().merge(metrics, logs);
                self.own_apply(Some(token), wanted, p);
            }
        }
    }

    /// Everything own telemetry waits for; called on every loop step.
    pub(in crate::agent) fn own_telemetry_step(&mut self) {
        let plugins = fluent_bit_plugins::get();
        if !self.own.plugins_seen && plugins.is_some() {
            self.own.plugins_seen = true;
            if let Some(Err(e)) = plugins {
                warn!("own telemetry is unavailable: {e}");
            }
            self.client
                .set_capabilities(crate::agent::runtime::capabilities(&self.settings));
            self.publish_components();
        }
        if !self.own.synced {
            self.own_sync(plugins);
        }
        if let (Some(Ok(p)), Some((token, m, l))) = (plugins, self.own.waiting.take()) {
            let wanted = self.own_latest().merge(m, l);
            self.own_apply(Some(token), wanted, p);
        }
        self.own_outcomes();
    }

    /// Until when the first connect waits for the binary's plugin list, so
    /// that the first message already claims own metrics / own logs (a
    /// server offers them only to an agent that does). The list takes a few
    /// milliseconds; the wait is bounded in case it never comes.
    pub(in crate::agent) fn own_discovery_wait(&self) -> Option<Instant> {
        let until = self.started + std::time::Duration::from_secs(2);
        // The flag, not the list: it is set in the step that updates the
        // capabilities, so a connect can never slip in between the two.
        let waiting = self.settings.steering.own_telemetry
            && !self.own.plugins_seen
            && Instant::now() < until;
        waiting.then_some(until)
    }

    /// A new generation's settings: consent may have changed.
    pub(in crate::agent) fn own_telemetry_settings(&mut self, old: &Settings) {
        if old.steering.own_telemetry != self.settings.steering.own_telemetry
            || old.managed_config != self.settings.managed_config
        {
            self.own.synced = false;
        }
    }

    /// After a start: the persisted offer goes (back) in place, or, without
    /// the operator's consent, the fragment and the offer go away.
    fn own_sync(&mut self, plugins: Option<&'static Result<Plugins, String>>) {
        if !self.settings.steering.own_telemetry {
            self.own.synced = true;
            let _ = std::fs::remove_file(self.state.path().join(FILE));
            self.own.live = Wanted::default();
            if self.remote.has_own_fragment() {
                self.own_submit(None, Wanted::default(), Vec::new());
            }
            return;
        }
        let Some(found) = plugins else { return };
        self.own.synced = true;
        let Some(live) = self.state.read(FILE).and_then(|b| Wanted::decode(&b)) else {
            return;
        };
        let Ok(p) = found else { return };
        info!("own telemetry: resuming the offer kept in state_dir");
        self.own_apply(None, live, p);
    }

    /// What a new offer's absent parts leave unchanged: the newest offer
    /// handed on, else the live one.
    fn own_latest(&self) -> Wanted {
        self.own
            .inflight
            .last()
            .map_or(&self.own.live, |p| &p.wanted)
            .clone()
    }

    fn own_apply(&mut self, token: Option<OfferToken>, wanted: Wanted, p: &Plugins) {
        let fail = |rt: &mut Runtime, e: String| {
            warn!("own telemetry offer FAILED: {e}");
            if let Some(t) = token {
                rt.offer_part_done(t, Part::OwnTelemetry, Err(e));
            }
        };
        if !self.remote.has_layout() {
            return fail(
                self,
                "managed_config is not set: the own-telemetry fragment has nowhere to go".into(),
            );
        }
        match wanted.targets(p, &self.pem_dir()) {
            Ok(targets) => self.own_submit(token, wanted, targets),
            Err(e) => fail(self, e),
        }
    }

    /// Hands the rendered fragment to the apply pipeline.
    fn own_submit(&mut self, token: Option<OfferToken>, wanted: Wanted, targets: Vec<Target>) {
        let body = render(&targets, self.remote.own_format());
        self.own.next_ticket += 1;
        let ticket = self.own.next_ticket;
        // Hosts and ports only: a URL's query or a header may hold a secret.
        let to: Vec<String> = targets
            .iter()
            .map(|t| format!("{} to {}:{}", t.signal.name(), t.host, t.port))
            .collect();
        info!(
            "own telemetry: applying ({})",
            if to.is_empty() {
                "nothing to send".into()
            } else {
                to.join(", ")
            }
        );
        self.own.inflight.push(Pending {
            token,
            ticket,
            wanted,
            targets,
        });
        self.remote.set_own_fragment(Instant::now(), ticket, body);
        self.remote_status();
        self.own_outcomes();
    }

    fn own_outcomes(&mut self) {
        for (ticket, result) in self.remote.take_own_outcomes() {
            let Some(at) = self.own.inflight.iter().position(|p| p.ticket == ticket) else {
                debug!("own telemetry: change {ticket} is unknown: {result:?}");
                continue;
            };
            let p = self.own.inflight.remove(at);
            match &result {
                Ok(()) => self.own_live(p.wanted, &p.targets),
                Err(e) if e == SUPERSEDED => debug!("own telemetry: change {ticket} {e}"),
                Err(e) => warn!("own telemetry change FAILED, the previous config stays: {e}"),
            }
            if let Some(token) = p.token {
                self.offer_part_done(token, Part::OwnTelemetry, result);
            }
        }
    }

    fn own_live(&mut self, wanted: Wanted, targets: &[Target]) {
        let path = self.state.path().join(FILE);
        let stored = if wanted.is_empty() {
            std::fs::remove_file(&path).or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
        } else {
            write_atomic_private(&path, &wanted.encode())
        };
        if let Err(e) = stored {
            error!("own telemetry: cannot keep the offer in state_dir: {e}");
        }
        // Files of changes still in flight stay too: their fragments name them.
        let mut keep = targets.to_vec();
        keep.extend(self.own.inflight.iter().flat_map(|p| p.targets.clone()));
        telemetry_spec::tidy_pems(&self.pem_dir(), &keep);
        info!("own telemetry APPLIED ({} signal(s))", targets.len());
        self.own.live = wanted;
    }

    /// Absolute: the dry run's child runs in another folder.
    fn pem_dir(&self) -> PathBuf {
        let dir = self.state.path().join(PEM_DIR);
        if dir.is_absolute() {
            dir
        } else {
            std::env::current_dir().unwrap_or_default().join(dir)
        }
    }
}
