//! The apply pipeline as a pure state machine: no IO, no clock.
//!
//! Events come in (an offer, Fluent Bit's callbacks, ticks with the time
//! and health); steps go out as [`Action`]s, one at a time, which the
//! driver carries out and answers with [`Machine::done`]. Statuses to
//! report are collected for the driver to send.
//!
//! The order of an apply, and the signs that end each wait, follow the call
//! orders measured on real Fluent Bit 3.2, 4.2 and 5.1 (tests/call_order.rs
//! holds the C test host to them):
//! a successful reload ends with the new generation's PreRun; a HALTED one
//! unregisters the new registration without Init (or, for a syntax error,
//! does nothing at all); an ABORTED one exits the process.

#[path = "apply_local.rs"]
mod local;
pub use local::SUPERSEDED;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fragment::is_local;
use super::policy::{Candidate, Policy};
use super::vars::Vars;
use crate::proto::{AgentRemoteConfig, RemoteConfigStatus, RemoteConfigStatuses};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// How long to wait for the new pipeline after a SIGHUP before sending
    /// another (Fluent Bit drops a SIGHUP that arrives mid-reload).
    pub confirm_timeout: Duration,
    /// SIGHUPs per reload, the first included.
    pub max_signals: u32,
    /// How long the new pipeline must stay healthy; zero turns the gate off.
    pub health_gate: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            confirm_timeout: Duration::from_secs(10),
            max_signals: 3,
            health_gate: Duration::ZERO,
        }
    }
}

/// A step for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write the candidate to the staging area.
    Stage(Arc<Candidate>),
    /// Run Fluent Bit's `--dry-run` against the staged candidate, then
    /// clear the staging area.
    DryRun,
    /// Keep the live files as last-known-good, write the pending marker,
    /// and put the candidate in place.
    Swap {
        hash: Vec<u8>,
        candidate: Arc<Candidate>,
    },
    /// SIGHUP our own process.
    SignalReload,
    /// Put the last-known-good files back.
    Restore,
    /// Forget the last-known-good and the marker.
    Commit,
    /// Record an outcome in `state_dir` (its result does not matter).
    Persist(Outcome),
}

/// A finished apply, as persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub hash: Vec<u8>,
    pub applied: bool,
    pub error: String,
}

/// How an offer ended, for the management events: a config the agent
/// refused before anything live changed, one Fluent Bit failed to run (the
/// files were restored, the pipeline never changed), one rolled back after
/// the new pipeline had run, or one applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Refused,
    Failed,
    RolledBack,
    Applied,
}

/// One offer's end, with its hash and (unless applied) the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub hash: Vec<u8>,
    pub how: Settled,
    pub reason: String,
}

/// What became of a Restart command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartOutcome {
    /// The reload signal goes out now.
    Started,
    /// Another reload is in progress (or hot reload is not known yet); this
    /// one follows it.
    Deferred,
    /// It cannot be done, and why.
    Refused(String),
}

pub const HOT_RELOAD_OFF: &str = "Fluent Bit's hot reload is off, so a config cannot be applied without a \
     restart; set 'Hot_Reload On' in [SERVICE] (classic) or 'hot_reload: on' under 'service:' (YAML) \
     in the bootstrap config, then restart Fluent Bit";
pub const HALTED: &str =
    "Fluent Bit refused the new config on reload (HALTED) and kept the running \
     pipeline; the last-known-good config was restored. Fluent Bit's log has the reason";
pub const ABORTED: &str = "a plugin of this config failed to start and Fluent Bit exited (ABORTED \
     reload); the last-known-good config was restored and this config will not be applied again";
pub const BLOCKED: &str =
    "this config made Fluent Bit exit during an earlier apply and is never applied \
     again; send a changed config";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    RestartCommand,
    /// Back onto the last-known-good after the new pipeline had started.
    Rollback,
    /// Onto the last-known-good restored at startup after a crash.
    Recovery,
}

#[derive(Debug, Clone)]
enum Kind {
    Apply(Arc<Candidate>),
    Reload(Why),
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Staging,
    DryRun,
    Swapping,
    Signalling { sent: u32 },
    Confirming { since: Instant, sent: u32 },
    Health { until: Instant },
    Restoring { error: String, reload_after: bool },
    Committing,
}

#[derive(Debug, Clone)]
struct Job {
    hash: Vec<u8>,
    kind: Kind,
    step: Step,
    /// The generation running when the first signal went out.
    base_generation: u64,
    /// A server config's own files, before the fragment was added: the
    /// server's part of the live config once it commits.
    base: Option<Arc<Candidate>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outstanding {
    Step,
    Side,
}

/// What the machine knows after a restart.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    /// The hash live in the managed file, when it was APPLIED.
    pub applied: Option<Vec<u8>>,
    /// Hashes that aborted Fluent Bit.
    pub blocked: Vec<Vec<u8>>,
    /// The status to report first, if any.
    pub status: Option<RemoteConfigStatus>,
    /// A crash left the candidate running; reload onto the restored files.
    pub reload_needed: bool,
}

pub struct Machine {
    policy: Policy,
    timing: Timing,
    hot_reload: Option<bool>,
    generation: u64,
    reload_count: Option<u64>,
    applied: Option<Vec<u8>>,
    last_failed: Option<(Vec<u8>, String)>,
    blocked: Vec<Vec<u8>>,
    /// Hash of the newest offer: only its statuses are reported.
    latest: Option<Vec<u8>>,
    job: Option<Job>,
    queued: Option<AgentRemoteConfig>,
    restart_wanted: bool,
    recovery_reload: bool,
    side: VecDeque<Action>,
    outstanding: Option<Outstanding>,
    status: Option<RemoteConfigStatus>,
    unreported: bool,
    aborted: bool,
    /// The plugin's own fragment (see `apply_local.rs`).
    own: local::Own,
    /// Our `${opamp.…}` values, expanded into every offer before the policy.
    vars: Vars,
    /// An offer to apply again although its hash is applied (or failed):
    /// the variables it uses changed.
    forced: Option<Vec<u8>>,
    /// The hash of a config the agent applies on its own (a temporary
    /// change): its statuses are not the server's business, and a failed
    /// one leaves the recorded outcome alone.
    local: Option<Vec<u8>>,
    /// Offers that ended since [`Machine::take_ended`], oldest first.
    ended: Vec<Ended>,
}

fn status(hash: &[u8], s: RemoteConfigStatuses, error: &str) -> RemoteConfigStatus {
    RemoteConfigStatus {
        last_remote_config_hash: hash.to_vec(),
        status: s as i32,
        error_message: error.to_string(),
    }
}

impl Machine {
    pub fn new(policy: Policy, timing: Timing, resume: Resume) -> Machine {
        Machine {
            policy,
            timing,
            hot_reload: None,
            generation: 0,
            reload_count: None,
            applied: resume.applied,
            last_failed: None,
            blocked: resume.blocked,
            latest: resume
                .status
                .as_ref()
                .map(|s| s.last_remote_config_hash.clone()),
            job: None,
            queued: None,
            restart_wanted: false,
            recovery_reload: resume.reload_needed,
            side: VecDeque::new(),
            outstanding: None,
            unreported: resume.status.is_some(),
            status: resume.status,
            aborted: false,
            own: local::Own::default(),
            vars: Vars::new(),
            forced: None,
            local: None,
            ended: Vec::new(),
        }
    }

    pub fn set_policy(&mut self, policy: Policy, timing: Timing) {
        self.policy = policy;
        self.timing = timing;
    }

    /// The status to put in every message.
    pub fn status(&self) -> Option<&RemoteConfigStatus> {
        self.status.as_ref()
    }

    /// The status, once, when it changed since the last call.
    pub fn take_status(&mut self) -> Option<RemoteConfigStatus> {
        if std::mem::take(&mut self.unreported) {
            self.status.clone()
        } else {
            None
        }
    }

    pub fn applied_hash(&self) -> Option<&[u8]> {
        self.applied.as_deref()
    }

    /// The offers that ended since the last call, oldest first; recorded
    /// even for an offer the server has since replaced.
    pub fn take_ended(&mut self) -> Vec<Ended> {
        std::mem::take(&mut self.ended)
    }

    fn end(&mut self, hash: &[u8], how: Settled, reason: &str) {
        self.ended.push(Ended {
            hash: hash.to_vec(),
            how,
            reason: reason.to_string(),
        });
    }

    pub fn is_busy(&self) -> bool {
        self.job.is_some()
    }

    /// When [`Machine::tick`] next has something to decide.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.job.as_ref()?.step {
            Step::Confirming { since, .. } => Some(since + self.timing.confirm_timeout),
            Step::Health { until } => Some(until),
            _ => None,
        }
    }

    fn report(&mut self, hash: &[u8], s: RemoteConfigStatuses, error: &str) {
        if self.local.as_deref() == Some(hash) {
            return;
        }
        // An outcome for an offer the server has since replaced is recorded
        // but not reported: the server asks only about its newest offer.
        if self.latest.as_deref().is_some_and(|l| l != hash) {
            return;
        }
        self.status = Some(status(hash, s, error));
        self.unreported = true;
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether Fluent Bit's hot reload is on; `None` before the first PreRun.
    pub fn hot_reload(&self) -> Option<bool> {
        self.hot_reload
    }

    /// The operator's policy, for checks that apply nothing.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A config the agent applies on its own (a temporary change), through
    /// the same steps as an offer, but not reported as the server's.
    pub fn offer_local(&mut self, offer: AgentRemoteConfig) {
        self.local = Some(offer.config_hash.clone());
        if self.aborted {
            return;
        }
        if self.job.is_some() {
            self.queued = Some(offer);
            return;
        }
        self.start_offer(offer);
    }

    /// How the apply of `hash` ended: `None` while it waits or runs.
    pub fn outcome_of(&self, hash: &[u8]) -> Option<Result<(), String>> {
        let running = self.job.as_ref().is_some_and(|j| j.hash == hash)
            || self.queued.as_ref().is_some_and(|q| q.config_hash == hash);
        if running {
            return None;
        }
        if self.applied.as_deref() == Some(hash) {
            return Some(Ok(()));
        }
        match &self.last_failed {
            Some((h, e)) if h == hash => Some(Err(e.clone())),
            _ => Some(Err("it was replaced before it ran".into())),
        }
    }

    /// The values for `${opamp.…}` from now on.
    pub fn set_vars(&mut self, vars: Vars) {
        self.vars = vars;
    }

    /// The newest offer again, rendered with new variable values: runs the
    /// whole pipeline although its hash is already applied (or failed).
    pub fn rerender(&mut self, offer: AgentRemoteConfig) {
        self.forced = Some(offer.config_hash.clone());
        self.latest = Some(offer.config_hash.clone());
        if self.aborted {
            return;
        }
        if self.job.is_some() {
            // The job in progress used the old values: this one follows it.
            let hash = offer.config_hash.clone();
            self.queued = Some(offer);
            self.report(&hash, RemoteConfigStatuses::Applying, "");
            return;
        }
        self.start_offer(offer);
    }

    /// An offer from the server.
    pub fn offer(&mut self, offer: AgentRemoteConfig) {
        let hash = offer.config_hash.clone();
        self.latest = Some(hash.clone());
        if self.aborted {
            return;
        }
        if let Some(job) = &self.job {
            if matches!(job.kind, Kind::Apply(_)) && job.hash == hash && !hash.is_empty() {
                // The offer in progress, again: nothing new to do.
                self.queued = None;
            } else {
                // Never two reloads at once: the newest offer waits, and
                // replaces any that waited before it.
                self.queued = Some(offer);
            }
            self.report(&hash, RemoteConfigStatuses::Applying, "");
            return;
        }
        self.start_offer(offer);
    }

    fn start_offer(&mut self, offer: AgentRemoteConfig) {
        let hash = offer.config_hash.clone();
        let forced = self.forced.take().is_some_and(|f| f == hash);
        // Without a hash there is nothing to recognise a config by: apply
        // it, skipping the shortcuts.
        if !hash.is_empty() && self.blocked.contains(&hash) {
            self.end(&hash, Settled::Refused, BLOCKED);
            self.report(&hash, RemoteConfigStatuses::Failed, BLOCKED);
            return;
        }
        // A forced offer runs again although its hash is known.
        if !hash.is_empty() && !forced {
            if self.applied.as_deref() == Some(hash.as_slice()) {
                self.end(&hash, Settled::Applied, "");
                self.report(&hash, RemoteConfigStatuses::Applied, "");
                return;
            }
            if let Some((h, e)) = &self.last_failed {
                if *h == hash {
                    let e = e.clone();
                    self.end(&hash, Settled::Refused, &e);
                    self.report(&hash, RemoteConfigStatuses::Failed, &e);
                    return;
                }
            }
        }
        let Some(hot_reload) = self.hot_reload else {
            // Not started yet: PreRun will say whether we can reload. A
            // config the policy refuses is refused at once all the same.
            // It waits unexpanded: the values may change before it runs.
            let expanded = offer.config.clone().map(|m| self.vars.expand_map(m));
            let checked = match expanded.transpose() {
                Ok(map) => self.policy.allows(map.as_ref()).map_err(|r| r.to_string()),
                Err(e) => Err(e),
            };
            if let Err(e) = checked {
                return self.fail(&hash, e);
            }
            if forced {
                self.forced = Some(hash.clone());
            }
            self.queued = Some(offer);
            return self.report(&hash, RemoteConfigStatuses::Applying, "");
        };
        // Expanded before the policy: what Fluent Bit will read is what the
        // policy checks.
        let config = match offer.config.map(|m| self.vars.expand_map(m)).transpose() {
            Ok(c) => c,
            Err(e) => return self.fail(&hash, e),
        };
        // The files move into the candidate: a large config is held once.
        let candidate = match self.policy.take(config) {
            Ok(c) => c,
            Err(rejection) => return self.fail(&hash, rejection.to_string()),
        };
        if !hot_reload {
            return self.fail(&hash, HOT_RELOAD_OFF.to_string());
        }
        let (composed, base) = match self.compose(candidate) {
            Ok(c) => c,
            Err(e) => return self.fail(&hash, e),
        };
        self.job = Some(Job {
            hash: hash.clone(),
            kind: Kind::Apply(composed),
            step: Step::Staging,
            base_generation: self.generation,
            base: Some(base),
        });
        self.report(&hash, RemoteConfigStatuses::Applying, "");
    }

    /// A failure before anything live changed, or after the LKG is back.
    fn fail(&mut self, hash: &[u8], error: String) {
        self.fail_as(hash, error, Settled::Refused)
    }

    fn fail_as(&mut self, hash: &[u8], error: String, how: Settled) {
        // Fluent Bit's errors may quote a rendered line: no secret value
        // goes into a status, the record or the log.
        let error = self.vars.redact(&error, crate::fbconf::text::REDACTED);
        if is_local(hash) {
            return self.local_done(Err(error));
        }
        self.last_failed = Some((hash.to_vec(), error.clone()));
        if self.local.as_deref() == Some(hash) {
            // A refused temporary change changes nothing, the record included.
            return;
        }
        self.side.push_back(Action::Persist(Outcome {
            hash: hash.to_vec(),
            applied: false,
            error: error.clone(),
        }));
        self.end(hash, how, &error);
        self.report(hash, RemoteConfigStatuses::Failed, &error);
    }

    fn succeed(&mut self, hash: &[u8]) {
        if is_local(hash) {
            return self.local_done(Ok(()));
        }
        self.applied = Some(hash.to_vec());
        self.last_failed = None;
        self.side.push_back(Action::Persist(Outcome {
            hash: hash.to_vec(),
            applied: true,
            error: String::new(),
        }));
        self.end(hash, Settled::Applied, "");
        self.report(hash, RemoteConfigStatuses::Applied, "");
    }

    /// The next step to carry out, if one is due and none is outstanding.
    pub fn next_action(&mut self) -> Option<Action> {
        if self.outstanding.is_some() {
            return None;
        }
        if let Some(a) = self.side.pop_front() {
            self.outstanding = Some(Outstanding::Side);
            return Some(a);
        }
        if self.aborted {
            return None;
        }
        let job = self.job.as_ref()?;
        let candidate = match &job.kind {
            Kind::Apply(c) => Some(c.clone()),
            Kind::Reload(_) => None,
        };
        let action = match (&job.step, candidate) {
            (Step::Staging, Some(c)) => Action::Stage(c),
            (Step::DryRun, _) => Action::DryRun,
            (Step::Swapping, Some(c)) => Action::Swap {
                hash: job.hash.clone(),
                candidate: c,
            },
            (Step::Signalling { .. }, _) => Action::SignalReload,
            (Step::Restoring { .. }, _) => Action::Restore,
            (Step::Committing, _) => Action::Commit,
            _ => return None,
        };
        self.outstanding = Some(Outstanding::Step);
        Some(action)
    }

    /// The result of the action last handed out.
    pub fn done(&mut self, now: Instant, result: Result<(), String>) {
        match self.outstanding.take() {
            None | Some(Outstanding::Side) => return,
            Some(Outstanding::Step) => {}
        }
        let Some(job) = self.job.as_mut() else { return };
        let apply = matches!(job.kind, Kind::Apply(_));
        let hash = job.hash.clone();
        let step = std::mem::replace(&mut job.step, Step::Staging);
        match (step, result) {
            (Step::Staging, Ok(())) => job.step = Step::DryRun,
            (Step::Staging, Err(e)) => {
                self.job = None;
                self.fail(&hash, format!("cannot stage the config: {e}"));
            }
            (Step::DryRun, Ok(())) => job.step = Step::Swapping,
            (Step::DryRun, Err(e)) => {
                self.job = None;
                self.fail(&hash, e);
            }
            (Step::Swapping, Ok(())) => {
                job.base_generation = self.generation;
                job.step = Step::Signalling { sent: 0 };
            }
            (Step::Swapping, Err(e)) => {
                job.step = Step::Restoring {
                    error: format!("cannot write the managed config: {e}"),
                    reload_after: false,
                }
            }
            (Step::Signalling { sent }, Ok(())) => {
                job.step = Step::Confirming {
                    since: now,
                    sent: sent + 1,
                }
            }
            (Step::Signalling { .. }, Err(e)) if apply => {
                job.step = Step::Restoring {
                    error: format!("cannot signal Fluent Bit to reload: {e}"),
                    reload_after: false,
                }
            }
            (Step::Signalling { .. }, Err(e)) => {
                crate::warn!("cannot signal Fluent Bit to reload: {e}");
                self.job = None;
            }
            (
                Step::Restoring {
                    error,
                    reload_after,
                },
                result,
            ) => {
                self.job = None;
                let error = match result {
                    Ok(()) => error,
                    Err(e) => {
                        crate::error!("restoring the last-known-good config failed: {e}");
                        format!("{error}; restoring the last-known-good config also failed: {e}")
                    }
                };
                let how = if reload_after {
                    Settled::RolledBack
                } else {
                    Settled::Failed
                };
                self.fail_as(&hash, error, how);
                if reload_after {
                    self.start_reload(Why::Rollback);
                }
            }
            (Step::Committing, Ok(())) => {
                if let Some(base) = job.base.take() {
                    self.own.base = base;
                }
                self.job = None;
                self.succeed(&hash);
            }
            (Step::Committing, Err(e)) => {
                job.step = Step::Restoring {
                    error: format!("cannot commit the new config: {e}"),
                    reload_after: true,
                }
            }
            (other, _) => job.step = other,
        }
        self.pump();
    }

    /// Fluent Bit started a pipeline generation.
    pub fn pre_run(&mut self, now: Instant, generation: u64, hot_reload: bool) {
        self.hot_reload = Some(hot_reload);
        self.generation = generation;
        let confirmed = self.job.as_ref().is_some_and(|j| {
            matches!(j.step, Step::Confirming { .. }) && generation > j.base_generation
        });
        if confirmed {
            self.confirmed(now);
        }
        self.pump();
    }

    /// The reload count from Fluent Bit's HTTP server: a rise while we wait
    /// also means the reload went through.
    pub fn reload_count(&mut self, now: Instant, count: u64) {
        let rose = self.reload_count.is_some_and(|c| count > c);
        self.reload_count = Some(count);
        if rose
            && self
                .job
                .as_ref()
                .is_some_and(|j| matches!(j.step, Step::Confirming { .. }))
        {
            self.confirmed(now);
            self.pump();
        }
    }

    fn confirmed(&mut self, now: Instant) {
        let Some(job) = self.job.as_mut() else { return };
        match job.kind {
            Kind::Apply(_) if !self.timing.health_gate.is_zero() => {
                job.step = Step::Health {
                    until: now + self.timing.health_gate,
                }
            }
            Kind::Apply(_) => job.step = Step::Committing,
            Kind::Reload(why) => {
                crate::info!("reload confirmed ({why:?})");
                self.job = None;
            }
        }
    }

    /// Fluent Bit refused a reload and kept the running pipeline.
    pub fn halted(&mut self) {
        let Some(job) = self.job.as_mut() else { return };
        if !matches!(job.step, Step::Confirming { .. }) {
            return;
        }
        match job.kind {
            Kind::Apply(_) => {
                job.step = Step::Restoring {
                    error: HALTED.to_string(),
                    reload_after: false,
                };
            }
            Kind::Reload(why) => {
                crate::warn!(
                    "Fluent Bit refused the reload ({why:?}); the running pipeline is unchanged"
                );
                self.job = None;
            }
        }
        self.pump();
    }

    /// Fluent Bit is exiting after a reload failed in init. The driver has
    /// already restored the files; nothing more happens in this process.
    pub fn aborted(&mut self) {
        if let Some(job) = self.job.take() {
            let swapped = !matches!(job.step, Step::Staging | Step::DryRun);
            if matches!(job.kind, Kind::Apply(_)) && swapped {
                self.blocked.push(job.hash.clone());
                if is_local(&job.hash) {
                    self.local_done(Err(ABORTED.into()));
                } else {
                    self.end(&job.hash, Settled::Failed, ABORTED);
                    self.report(&job.hash, RemoteConfigStatuses::Failed, ABORTED);
                }
            }
        }
        self.aborted = true;
        self.queued = None;
    }

    /// Time passed; `health` is the latest pipeline health sample, if any.
    pub fn tick(&mut self, now: Instant, health: Option<bool>) {
        let Some(job) = self.job.as_mut() else {
            self.pump();
            return;
        };
        match job.step {
            Step::Confirming { since, sent } if now >= since + self.timing.confirm_timeout => {
                if sent < self.timing.max_signals {
                    job.step = Step::Signalling { sent };
                } else if matches!(job.kind, Kind::Apply(_)) {
                    job.step = Step::Restoring {
                        error: format!(
                            "Fluent Bit did not start a new pipeline within {}s of each of {sent} reload signals; \
                             it probably refused the config (a syntax error logs only 'bad header definition'). \
                             The last-known-good config was restored",
                            self.timing.confirm_timeout.as_secs()
                        ),
                        reload_after: false,
                    };
                } else {
                    crate::warn!("Fluent Bit did not reload after {sent} signals; giving up");
                    self.job = None;
                }
            }
            Step::Health { .. } if health == Some(false) => {
                job.step = Step::Restoring {
                    error: format!(
                        "the new pipeline became unhealthy within the {}s health gate; rolled back to the \
                         last-known-good config",
                        self.timing.health_gate.as_secs()
                    ),
                    reload_after: true,
                };
            }
            Step::Health { until } if now >= until => job.step = Step::Committing,
            _ => {}
        }
        self.pump();
    }

    /// The server's Restart command: a hot reload of the current config.
    pub fn restart(&mut self) -> RestartOutcome {
        if self.aborted {
            return RestartOutcome::Refused("Fluent Bit is exiting".into());
        }
        match self.hot_reload {
            Some(false) => RestartOutcome::Refused(HOT_RELOAD_OFF.into()),
            None => {
                self.restart_wanted = true;
                RestartOutcome::Deferred
            }
            Some(true) if self.job.is_some() => {
                self.restart_wanted = true;
                RestartOutcome::Deferred
            }
            Some(true) => {
                self.start_reload(Why::RestartCommand);
                self.pump();
                RestartOutcome::Started
            }
        }
    }

    fn start_reload(&mut self, why: Why) {
        if self.hot_reload != Some(true) {
            crate::warn!("cannot reload ({why:?}): {HOT_RELOAD_OFF}");
            return;
        }
        self.job = Some(Job {
            hash: Vec::new(),
            kind: Kind::Reload(why),
            step: Step::Signalling { sent: 0 },
            base_generation: self.generation,
            base: None,
        });
    }

    /// Starts whatever waited for the previous job to end.
    fn pump(&mut self) {
        // Some starts end at once (APPLIED again, a refused offer, a
        // fragment already live): then the next in line may go.
        while self.job.is_none() && !self.aborted && self.hot_reload.is_some() {
            if let Some(offer) = self.queued.take() {
                self.start_offer(offer);
            } else if std::mem::take(&mut self.recovery_reload) {
                self.start_reload(Why::Recovery);
            } else if self.own.wanted.is_some() {
                self.start_local();
            } else if std::mem::take(&mut self.restart_wanted) {
                self.start_reload(Why::RestartCommand);
            } else {
                break;
            }
        }
    }
}
