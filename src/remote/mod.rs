//! Remote config that never bricks an agent.
//!
//! The server offers a config map; the operator's policy ([`policy`])
//! decides whether it may run; Fluent Bit's own `--dry-run` ([`validate`])
//! decides whether it parses; then the managed file is swapped with the
//! last-known-good kept ([`staging`]), Fluent Bit is told to reload, and the
//! new pipeline must start (and stay healthy) before the config counts as
//! APPLIED. Every failure puts the last-known-good back.
//!
//! [`apply::Machine`] holds the decisions and does no IO; [`RemoteConfig`]
//! is the thin driver the agent thread calls, carrying out the machine's
//! steps through [`Host`] (signal, dry run) and the file modules.

pub mod apply;
pub mod check;
pub mod files;
pub mod fragment;
mod host;
pub mod keys;
pub mod leave_out;
mod own;
pub mod paths;
pub mod policy;
pub mod record;
mod render;
pub mod scan;
pub mod staging;
pub mod temporary;
pub mod validate;
pub mod vars;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crossbeam_channel::{Receiver, TryRecvError};

use crate::config::properties::Settings;
use crate::config::section::config_path_from_args;
use crate::proto::{AgentRemoteConfig, RemoteConfigStatus};
use apply::{Action, Machine, Outcome, Resume, Timing};
pub use apply::{Ended, RestartOutcome, Settled};
pub use host::{DryRunJob, Host, SystemHost};
use policy::Policy;
use record::Record;
use render::Render;
pub use render::SOURCE_FILE;
use staging::{Layout, Phase};

/// The bootstrap config: `config_file`, else `-c` on the command line.
pub fn bootstrap(settings: &Settings, args: &[String]) -> Option<PathBuf> {
    settings
        .config_file
        .clone()
        .or_else(|| config_path_from_args(args))
}

/// Everything the driver is configured with.
#[derive(Debug, Clone)]
pub struct Options {
    pub policy: Policy,
    pub timing: Timing,
    /// `None` when no managed file is configured: every offer then fails
    /// by policy and nothing touches the disk.
    pub layout: Option<Layout>,
}

impl Options {
    pub fn from_settings(settings: &Settings, bootstrap: Option<&Path>) -> Options {
        Options {
            policy: Policy::from_settings(settings, bootstrap),
            timing: Timing {
                health_gate: settings.health_gate,
                ..Timing::default()
            },
            layout: settings
                .managed_config
                .as_ref()
                .map(|m| Layout::new(m, &settings.state_dir)),
        }
    }
}

/// The layout the abort path restores, set by the newest driver.
static ABORT_LAYOUT: Mutex<Option<Layout>> = Mutex::new(None);

/// For the FFI `Unregister` that ends an ABORTED reload, on Fluent Bit's
/// main thread, before the process exits: puts the last-known-good config
/// back and records the config as failed and blocked. Fast (a few small
/// file writes) and safe to call when nothing was being applied. Returns a
/// line to log, if anything happened.
pub fn on_process_abort() -> Option<String> {
    let layout = ABORT_LAYOUT
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()?;
    abort_restore(&layout)
}

fn abort_restore(layout: &Layout) -> Option<String> {
    match staging::abort(layout) {
        Ok(Some(hash)) if fragment::is_local(&hash) => own::aborted(layout, &hash),
        Ok(Some(hash)) => {
            let mut rec = record::load(&layout.state).unwrap_or_default();
            rec.hash = hash.clone();
            rec.applied = false;
            rec.error = apply::ABORTED.to_string();
            rec.block(&hash);
            if let Err(e) = record::store(&layout.state, &rec) {
                return Some(format!(
                    "remote config {} aborted Fluent Bit; last-known-good restored, but recording it failed: {e}",
                    record::hex(&hash)
                ));
            }
            Some(format!(
                "remote config {} aborted Fluent Bit; the last-known-good config is restored for the next start",
                record::hex(&hash)
            ))
        }
        Ok(None) => None,
        Err(e) => Some(format!(
            "restoring the last-known-good config failed ({e}); the next start will retry"
        )),
    }
}

/// The driver the agent thread owns.
pub struct RemoteConfig {
    machine: Machine,
    layout: Option<Layout>,
    host: Box<dyn Host>,
    startup: Option<RemoteConfigStatus>,
    /// The dry run running beside the agent thread, if one is.
    background: Option<Background>,
    /// Called from the dry run's thread when it ends, so the agent thread
    /// wakes for [`RemoteConfig::poll_background`] at once.
    waker: Arc<dyn Fn() + Send + Sync>,
    /// The bootstrap's format, which the plugin's own fragment is written in.
    format: crate::fbconf::Format,
    /// The newest config as the server wrote it, for `${opamp.…}` changes.
    render: Render,
    /// The temporary change in force, and the hash of its revert once that
    /// has started.
    temporary: Option<temporary::Temporary>,
    revert_hash: Option<Vec<u8>>,
    reverted: Vec<temporary::Temporary>,
    /// Audit lines of temporary changes a server config cancelled.
    cancelled: Vec<String>,
    /// The latest apply outcomes, newest last, for `diagnostics`.
    history: std::collections::VecDeque<String>,
    /// The outcome of the last `validate` check, until taken.
    check_result: Option<check::CheckReport>,
    /// The policy verdict of the check whose dry run runs in `background`.
    check_pending: Option<check::CheckReport>,
}

struct Background {
    done: Receiver<Result<(), String>>,
    cancel: Arc<AtomicBool>,
    /// A `validate` check (apply nothing), not a step of the machine.
    check: bool,
}

impl Drop for RemoteConfig {
    /// A dry run still going at shutdown is stopped: its child must not
    /// outlive the process that asked for it.
    fn drop(&mut self) {
        if let Some(b) = &self.background {
            b.cancel.store(true, Ordering::Relaxed);
            // The runner polls the flag every few ms; waiting this long
            // keeps the child from outliving a process that exits next.
            let _ = b.done.recv_timeout(std::time::Duration::from_millis(200));
        }
    }
}

impl RemoteConfig {
    /// The production driver, from the opamp section's settings and our
    /// command line.
    pub fn new(settings: &Settings, args: &[String]) -> RemoteConfig {
        let bootstrap = bootstrap(settings, args);
        RemoteConfig::with_host(
            Options::from_settings(settings, bootstrap.as_deref()),
            Box::new(SystemHost::discover(settings, args)),
        )
    }

    /// Recovers from whatever the previous process left (a pending marker
    /// means it died mid-apply) and resumes from the persisted outcome.
    pub fn with_host(opts: Options, host: Box<dyn Host>) -> RemoteConfig {
        let resume = match &opts.layout {
            Some(layout) => {
                *ABORT_LAYOUT.lock().unwrap_or_else(|p| p.into_inner()) = Some(layout.clone());
                recover(layout)
            }
            None => Resume::default(),
        };
        let startup = resume.status.clone();
        let format = opts.policy.format;
        let render = Render::load(opts.layout.as_ref().map(|l| l.state.as_path()));
        let temporary = opts.layout.as_ref().and_then(temporary::load);
        if let Some(t) = &temporary {
            crate::info!(
                "temporary change {} ({}) is in force; it reverts at its deadline",
                record::hex(&t.hash),
                t.label
            );
        }
        let mut rc = RemoteConfig {
            machine: Machine::new(opts.policy, opts.timing, resume),
            layout: opts.layout,
            host,
            startup,
            background: None,
            waker: Arc::new(|| {}),
            format,
            render,
            temporary,
            revert_hash: None,
            reverted: Vec::new(),
            cancelled: Vec::new(),
            history: Default::default(),
            check_result: None,
            check_pending: None,
        };
        rc.read_own_layout(format);
        rc
    }

    /// How a background step wakes the agent thread when it ends.
    pub fn set_waker(&mut self, waker: Arc<dyn Fn() + Send + Sync>) {
        self.waker = waker;
    }

    /// Whether a step runs beside the agent thread (a dry run).
    pub fn has_background_step(&self) -> bool {
        self.background.is_some()
    }

    /// Takes the result of a background step if it has ended, and carries
    /// on with the steps after it. Returns whether anything happened.
    pub fn poll_background(&mut self) -> bool {
        let Some(b) = &self.background else {
            return false;
        };
        let result = match b.done.try_recv() {
            Ok(r) => r,
            Err(TryRecvError::Empty) => return false,
            Err(TryRecvError::Disconnected) => {
                Err("the --dry-run check stopped unexpectedly; nothing was applied".into())
            }
        };
        let check = self.background.take().is_some_and(|b| b.check);
        let now = Instant::now();
        if check {
            self.check_done(result);
        } else {
            if let Some(layout) = &self.layout {
                let _ = staging::clear_staging(layout);
            }
            if result.is_ok() {
                crate::fault::checkpoint("validated");
            }
            self.machine.done(now, result);
        }
        self.drive(now);
        self.temporary_tick(now);
        true
    }

    /// New settings after a reload re-read the bootstrap. A changed managed
    /// path takes effect only between applies.
    pub fn update_settings(&mut self, settings: &Settings, args: &[String]) {
        let bootstrap = bootstrap(settings, args);
        let opts = Options::from_settings(settings, bootstrap.as_deref());
        let format = opts.policy.format;
        self.machine.set_policy(opts.policy, opts.timing);
        if (opts.layout != self.layout || format != self.format) && !self.machine.is_busy() {
            if let Some(l) = &opts.layout {
                *ABORT_LAYOUT.lock().unwrap_or_else(|p| p.into_inner()) = Some(l.clone());
            }
            self.layout = opts.layout;
            self.format = format;
            self.read_own_layout(format);
        }
    }

    /// The status to report on (re)connecting after a restart: the last
    /// outcome, or FAILED for a config the previous process died applying.
    pub fn startup_status(&self) -> Option<RemoteConfigStatus> {
        self.startup.clone()
    }

    /// An offer from the server. Always answers: APPLIED again for the
    /// config already running, FAILED for a refused one, APPLYING while the
    /// reload is under way.
    pub fn on_offer(
        &mut self,
        now: Instant,
        offer: AgentRemoteConfig,
    ) -> Option<RemoteConfigStatus> {
        crate::fault::checkpoint("received");
        if self.revert_hash.is_none() {
            if let Some(line) = self.cancel_temporary(&offer.config_hash) {
                self.cancelled.push(line);
            }
        }
        self.remember_offer(&offer);
        self.machine.offer(offer);
        self.drive(now);
        self.machine
            .take_status()
            .or_else(|| self.machine.status().cloned())
    }

    /// A pipeline generation started (`FLBPluginInputPreRun`).
    pub fn on_pre_run(&mut self, now: Instant, generation: u64, hot_reload: bool) {
        let applying = self.machine.is_busy();
        if applying {
            crate::fault::checkpoint("confirming");
        }
        self.machine.pre_run(now, generation, hot_reload);
        self.drive(now);
        if applying && self.machine.is_busy() {
            crate::fault::checkpoint("health_gate");
        }
        self.temporary_tick(now);
    }

    /// Fluent Bit refused a reload (new registration unregistered without Init).
    pub fn on_halted(&mut self, now: Instant) {
        self.machine.halted();
        self.drive(now);
        self.temporary_tick(now);
    }

    /// Audit lines of temporary changes a server config cancelled since
    /// the last call.
    pub fn take_cancelled(&mut self) -> Vec<String> {
        std::mem::take(&mut self.cancelled)
    }

    /// Fluent Bit is exiting after a reload failed in init: restores the
    /// last-known-good at once. The FFI path may call [`on_process_abort`]
    /// first; doing both is harmless.
    pub fn on_aborted(&mut self) -> Option<String> {
        let msg = self.layout.as_ref().and_then(abort_restore);
        self.machine.aborted();
        msg
    }

    /// Time passed. `health_ok` is the newest pipeline health sample, if
    /// one was taken since the last tick.
    pub fn on_tick(&mut self, now: Instant, health_ok: Option<bool>) {
        self.machine.tick(now, health_ok);
        self.drive(now);
        self.temporary_tick(now);
    }

    /// Fluent Bit's reload count (`/api/v2/reload`), when the HTTP server
    /// is on: a rise confirms a reload like PreRun does.
    pub fn on_reload_count(&mut self, now: Instant, count: u64) {
        self.machine.reload_count(now, count);
        self.drive(now);
    }

    /// Fluent Bit is stopping (SIGTERM, the end of a run) in the middle of
    /// an apply: the files go back to the last-known-good and the apply
    /// simply did not happen. The record keeps the previous outcome, so
    /// the next start reports that, and a server that still wants the new
    /// config offers it again; the shutdown was not the config's doing. A
    /// process killed outright never gets here: the next start restores
    /// and blocks the config.
    pub fn on_shutdown(&mut self) {
        let Some(layout) = &self.layout else {
            return;
        };
        let Some(marker) = staging::pending(layout).filter(|m| m.phase == Phase::Applying) else {
            return;
        };
        match staging::restore(layout).and_then(|_| staging::finish(layout)) {
            Ok(()) => crate::warn!("remote config {}: {SHUT_DOWN}", record::hex(&marker.hash)),
            Err(e) => crate::error!(
                "remote config: cannot restore the last-known-good config at shutdown ({e}); the next start will"
            ),
        }
    }

    /// The server's Restart command: hot-reload the current config, never
    /// two reloads at once.
    pub fn on_restart_command(&mut self, now: Instant) -> RestartOutcome {
        let outcome = self.machine.restart();
        self.drive(now);
        outcome
    }

    /// A status that changed since the last call, to send now.
    pub fn poll_status(&mut self) -> Option<RemoteConfigStatus> {
        self.machine.take_status()
    }

    /// The offers that ended since the last call, for the management
    /// events.
    pub fn take_ended(&mut self) -> Vec<Ended> {
        self.machine.take_ended()
    }

    /// The current status, for every message that carries one.
    pub fn status(&self) -> Option<RemoteConfigStatus> {
        self.machine.status().cloned()
    }

    /// When the agent loop should call [`RemoteConfig::on_tick`] at the latest.
    pub fn next_deadline(&self) -> Option<Instant> {
        let machine = self.machine.next_deadline();
        // A revert that must wait for a running apply starts on that
        // apply's own events; a past deadline here would spin the loop.
        let revert = self
            .temporary
            .as_ref()
            .filter(|t| !t.reverting && !self.machine.is_busy() && self.background.is_none())
            .map(|t| t.due_at(Instant::now()));
        match (machine, revert) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn applied_hash(&self) -> Option<&[u8]> {
        self.machine.applied_hash()
    }

    pub fn is_busy(&self) -> bool {
        self.machine.is_busy()
    }

    /// The pipeline generation that ran last (PreRun).
    pub fn generation(&self) -> u64 {
        self.machine.generation()
    }

    pub fn hot_reload(&self) -> Option<bool> {
        self.machine.hot_reload()
    }

    /// The latest apply outcomes, oldest first: unix seconds, hash, result.
    pub fn history(&self) -> Vec<String> {
        self.history.iter().cloned().collect()
    }

    fn remember_outcome(&mut self, o: &Outcome) {
        const KEEP: usize = 20;
        let secs = temporary::unix_ms() / 1000;
        let what = if o.applied {
            "APPLIED".to_string()
        } else {
            format!("FAILED: {}", o.error)
        };
        if self.history.len() == KEEP {
            self.history.pop_front();
        }
        self.history
            .push_back(format!("{secs} {} {what}", record::hex(&o.hash)));
    }

    /// Carries out the machine's steps until it waits for something. `now`
    /// is when the event arrived; the clock is read again after each step,
    /// because a step takes time and a stale `now` would shorten the windows
    /// that start after it (time never runs back: the later one wins).
    fn drive(&mut self, mut now: Instant) {
        while self.background.is_none() {
            let Some(action) = self.machine.next_action() else {
                break;
            };
            let result = match action {
                Action::DryRun => match self.start_dry_run() {
                    Some(r) => {
                        if r.is_ok() {
                            crate::fault::checkpoint("validated");
                        }
                        r
                    }
                    None => break,
                },
                other => {
                    let r = self.execute(&other);
                    if r.is_ok() {
                        checkpoint_after(&other);
                    }
                    r
                }
            };
            if let Err(e) = &result {
                crate::debug!("remote config step failed: {e}");
            }
            now = now.max(Instant::now());
            self.machine.done(now, result);
        }
    }

    /// Starts the dry run: done at once (no binary, test hosts) or on a
    /// thread of its own, whose end wakes the agent thread. `None` while it
    /// runs.
    fn start_dry_run(&mut self) -> Option<Result<(), String>> {
        let Some(layout) = &self.layout else {
            return Some(Err("no managed_config is set".into()));
        };
        let job = match self.host.dry_run_job(layout) {
            DryRunJob::Done(r) => {
                let _ = staging::clear_staging(layout);
                return Some(r);
            }
            DryRunJob::Background(job) => job,
        };
        let (tx, done) = crossbeam_channel::bounded(1);
        let cancel = Arc::new(AtomicBool::new(false));
        let (flag, waker) = (cancel.clone(), self.waker.clone());
        let spawned = std::thread::Builder::new()
            .name("opamp-dry-run".into())
            .spawn(move || {
                let _ = tx.send(job(&flag));
                waker();
            });
        match spawned {
            Ok(_) => {
                self.background = Some(Background {
                    done,
                    cancel,
                    check: false,
                });
                None
            }
            Err(e) => Some(Err(format!("cannot start the --dry-run check: {e}"))),
        }
    }

    fn execute(&mut self, action: &Action) -> Result<(), String> {
        let Some(layout) = &self.layout else {
            return Err("no managed_config is set".into());
        };
        let io = |r: std::io::Result<()>| r.map_err(|e| e.to_string());
        match action {
            Action::Stage(c) => io(staging::stage(layout, c)),
            // Started by `drive`, never executed inline.
            Action::DryRun => Err("internal: dry run outside drive".into()),
            Action::Swap { hash, candidate } => io(staging::swap(layout, hash, candidate)),
            Action::SignalReload => io(self.host.signal_reload()),
            Action::Restore => io(staging::restore(layout).map(|_| ())),
            Action::Commit => io(staging::commit(layout)),
            Action::Persist(outcome) => {
                persist(layout, outcome);
                self.remember_outcome(outcome);
                Ok(())
            }
        }
    }
}

/// The crash tests' checkpoints after the steps that change the disk or
/// the process.
fn checkpoint_after(action: &Action) {
    match action {
        Action::Stage(_) => crate::fault::checkpoint("staged"),
        Action::Swap { .. } => crate::fault::checkpoint("swapped"),
        Action::SignalReload => crate::fault::checkpoint("signalled"),
        _ => {}
    }
}

fn persist(layout: &Layout, o: &Outcome) {
    let mut rec = record::load(&layout.state).unwrap_or_default();
    rec.hash = o.hash.clone();
    rec.applied = o.applied;
    rec.error = o.error.clone();
    if let Err(e) = record::store(&layout.state, &rec) {
        crate::error!("cannot record the remote config outcome in state_dir: {e}");
        return;
    }
    if o.applied {
        crate::info!("remote config {} APPLIED", record::hex(&o.hash));
    } else {
        crate::warn!("remote config {} FAILED: {}", record::hex(&o.hash), o.error);
        // The outcome is recorded, so the marker of a rolled-back apply may
        // go; before this point a crash would roll back again on restart.
        if let Err(e) = staging::finish(layout) {
            crate::error!("cannot clear the remote config's pending marker: {e}");
        }
    }
}

pub const SHUT_DOWN: &str =
    "Fluent Bit shut down while this config was being applied; the last-known-good \
     config is restored for the next start, which reports the previous outcome";

pub const INTERRUPTED: &str = "the agent stopped while applying this config (killed or crashed before \
     the reload was confirmed); the last-known-good config was restored and this config will not be \
     applied again";

/// Startup: finish what a previous process left half done.
fn recover(layout: &Layout) -> Resume {
    if let Err(e) = staging::tidy(layout) {
        crate::warn!("remote config: cannot tidy staging leftovers: {e}");
    }
    let mut rec = record::load(&layout.state);
    let mut reload_needed = false;
    if let Some(marker) = staging::pending(layout) {
        let error = match marker.phase {
            Phase::Aborted => apply::ABORTED.to_string(),
            Phase::Applying => match staging::restore(layout) {
                Ok(changed) => {
                    reload_needed = changed;
                    INTERRUPTED.to_string()
                }
                Err(e) => {
                    crate::error!("remote config: cannot restore the last-known-good config: {e}");
                    format!("{INTERRUPTED}; restoring the last-known-good config failed: {e}")
                }
            },
        };
        if fragment::is_local(&marker.hash) {
            own::interrupted(layout, &marker.hash, &error);
            return resume_from(rec, reload_needed);
        }
        let r = rec.get_or_insert_with(Record::default);
        r.hash = marker.hash.clone();
        r.applied = false;
        r.error = error;
        if !marker.hash.is_empty() {
            r.block(&marker.hash);
        }
        match record::store(&layout.state, r) {
            Ok(()) => {
                if let Err(e) = staging::finish(layout) {
                    crate::error!("remote config: cannot clear the pending marker: {e}");
                }
            }
            Err(e) => crate::error!("remote config: cannot record the interrupted apply: {e}"),
        }
        crate::warn!("remote config {}: {}", record::hex(&marker.hash), r.error);
    }
    resume_from(rec, reload_needed)
}

fn resume_from(rec: Option<Record>, reload_needed: bool) -> Resume {
    match rec {
        None => Resume {
            reload_needed,
            ..Resume::default()
        },
        Some(r) => Resume {
            applied: r.applied.then(|| r.hash.clone()),
            blocked: r.blocked.clone(),
            status: Some(r.status()),
            reload_needed,
        },
    }
}
