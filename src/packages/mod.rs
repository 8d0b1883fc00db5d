//! Addon packages the server offers (`PackagesAvailable`): which to
//! download, one download at a time beside the agent thread, verified
//! storage in `state_dir/packages`, the `${opamp.package.NAME.…}` values
//! remote configs use, garbage collection and the `PackageStatuses` report.
//!
//! No agent import: the agent thread drives this with offers, polls and
//! "the config using these is applied" ([`Packages::collect_garbage`]).

pub mod fetch;
pub mod names;
mod plan;
mod report;
pub mod store;
pub mod verify;

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::properties::PluginPolicy;
use crate::proto::PackagesAvailable;
use crate::remote::vars::Vars;
use crate::transport::download::DownloadConfig;
use fetch::{Job, Running};
use store::{Index, Store};
use verify::SignaturePolicy;

/// Prefix of every package variable.
pub const VAR_PREFIX: &str = "opamp.package.";
/// The name a top-level package with an empty name is stored under.
pub const AGENT_NAME: &str = "agent";

/// The operator's limits and rules.
#[derive(Clone)]
pub struct Limits {
    pub max_size: u64,
    pub quota: u64,
    /// `max_bytes` is set per download from `max_size` and the quota.
    pub download: DownloadConfig,
    pub signatures: SignaturePolicy,
    pub plugins: PluginPolicy,
    /// Whether the top-level agent package is accepted.
    pub agent: bool,
    /// Where a top-level package is staged (beside the running file).
    pub stage_to: Option<PathBuf>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Pending,
    Downloading,
    Installed,
    Failed(String),
}

#[derive(Clone, Debug)]
struct Entry {
    offered_version: String,
    offered_hash: Vec<u8>,
    state: State,
    /// Said with an installed top-level package: where it waits.
    note: String,
}

pub struct Packages {
    store: Store,
    ix: Index,
    limits: Limits,
    entries: BTreeMap<String, Entry>,
    offer_hash: Vec<u8>,
    queue: VecDeque<Job>,
    running: Option<Running>,
    wake: Arc<dyn Fn() + Send + Sync>,
}

/// What a poll found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Polled {
    /// The statuses changed (progress, an outcome).
    pub changed: bool,
    /// The last download of the offer ended just now.
    pub settled: bool,
}

impl Packages {
    /// What a previous process stored; interrupted downloads are dropped
    /// and come again with the server's next offer.
    pub fn open(state_dir: &Path, limits: Limits, wake: Arc<dyn Fn() + Send + Sync>) -> Packages {
        let mut store = Store::new(state_dir);
        let _ = std::fs::create_dir_all(&store.root);
        if let Ok(abs) = std::fs::canonicalize(&store.root) {
            store.root = abs;
        }
        let ix = store.load();
        let entries = ix
            .packages
            .iter()
            .filter_map(|(n, p)| Some((n.clone(), installed_entry(p.current.as_ref()?))))
            .collect();
        Packages {
            offer_hash: ix.offer_hash.clone(),
            store,
            ix,
            limits,
            entries,
            queue: VecDeque::new(),
            running: None,
            wake,
        }
    }

    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    pub fn root(&self) -> &Path {
        &self.store.root
    }

    /// Downloads queued or running.
    pub fn is_busy(&self) -> bool {
        self.running.is_some() || !self.queue.is_empty()
    }

    /// A new offer: the whole set. Packages it leaves out are marked for
    /// removal; a download of a package it changes or drops stops.
    pub fn offer(&mut self, pa: &PackagesAvailable) {
        self.offer_hash = pa.all_packages_hash.clone();
        self.queue.clear();
        if self.running.as_ref().is_some_and(|r| {
            pa.packages
                .get(&r.name)
                .is_none_or(|p| p.hash != r.version.hash)
        }) {
            self.running = None;
        }
        let mut entries = BTreeMap::new();
        for (name, p) in &pa.packages {
            let key = plan::stored_name(name, p);
            let mut e = Entry {
                offered_version: p.version.clone(),
                offered_hash: p.hash.clone(),
                state: State::Pending,
                note: String::new(),
            };
            match self.plan(&key, p) {
                Ok(plan::Plan::Have) => {
                    e.state = State::Installed;
                    e.note = self
                        .entries
                        .get(&key)
                        .map(|o| o.note.clone())
                        .unwrap_or_default();
                }
                Ok(plan::Plan::Promote(v)) => {
                    self.make_current(&key, v);
                    e.state = State::Installed;
                }
                Ok(plan::Plan::Fetch(job)) => {
                    let already = self.running.as_ref().is_some_and(|r| r.name == key);
                    e.state = if already {
                        State::Downloading
                    } else {
                        State::Pending
                    };
                    if !already {
                        self.queue.push_back(*job);
                    }
                }
                Err(why) => {
                    crate::warn!("package '{}' FAILED: {why}", names::clip(&key));
                    e.state = State::Failed(why);
                }
            }
            entries.insert(key, e);
        }
        for (name, p) in self.ix.packages.iter_mut() {
            p.removed = !entries.contains_key(name);
            if p.removed {
                if let Some(v) = &p.current {
                    entries.insert(name.clone(), installed_entry(v));
                }
            }
        }
        self.entries = entries;
        self.ix.offer_hash.clear();
        self.save();
        self.start_next();
        self.settle_if_idle();
    }

    /// Progress and outcomes of the running download.
    pub fn poll(&mut self) -> Polled {
        let Some(r) = &self.running else {
            return Polled::default();
        };
        let Some(outcome) = r.poll() else {
            return Polled {
                changed: true,
                settled: false,
            };
        };
        let r = self.running.take().expect("checked above");
        self.finish(&r, outcome);
        self.start_next();
        let settled = !self.is_busy();
        if settled {
            self.settle_if_idle();
        }
        Polled {
            changed: true,
            settled,
        }
    }

    fn start_next(&mut self) {
        while self.running.is_none() {
            let Some(mut job) = self.queue.pop_front() else {
                return;
            };
            let name = job.name.clone();
            match self.room() {
                Ok(room) => job.config.max_bytes = room,
                Err(e) => {
                    self.set_state(&name, State::Failed(e));
                    continue;
                }
            }
            match fetch::start(self.store.clone(), job, self.wake.clone()) {
                Ok(r) => {
                    self.set_state(&name, State::Downloading);
                    self.running = Some(r);
                }
                Err(e) => self.set_state(&name, State::Failed(e)),
            }
        }
    }

    fn finish(&mut self, r: &Running, outcome: Result<u64, String>) {
        match outcome {
            Ok(size) => {
                let mut v = r.version.clone();
                v.size = size;
                crate::info!("package '{}' version '{}' installed", r.name, v.version);
                if let Some(p) = self.ix.packages.get_mut(&r.name) {
                    p.top_level = r.top_level;
                } else if r.top_level {
                    self.ix.packages.insert(
                        r.name.clone(),
                        store::Stored {
                            top_level: true,
                            ..Default::default()
                        },
                    );
                }
                self.make_current(&r.name, v);
                if let (true, Some(e)) = (r.top_level, self.entries.get_mut(&r.name)) {
                    e.note = plan::staged_note(self.limits.stage_to.as_deref());
                }
                self.set_state(&r.name, State::Installed);
            }
            Err(why) => {
                let why = self.explain(why);
                crate::warn!("package '{}' FAILED: {why}", r.name);
                self.set_state(&r.name, State::Failed(why));
            }
        }
    }

    fn make_current(&mut self, name: &str, v: store::Version) {
        let p = self.ix.packages.entry(name.to_string()).or_default();
        p.kept.retain(|k| k.version != v.version);
        if let Some(old) = p.current.take().filter(|o| o.version != v.version) {
            p.kept.push(old);
        }
        let version = v.version.clone();
        p.current = Some(v);
        p.removed = false;
        if let Err(e) = self.store.point_current(name, &version) {
            crate::warn!("package '{name}': cannot update its 'current' link: {e}");
        }
        self.save();
    }

    fn set_state(&mut self, name: &str, s: State) {
        if let Some(e) = self.entries.get_mut(name) {
            e.state = s;
        }
    }

    /// Once everything of the offer is settled and installed, the offer's
    /// hash is what the agent has (so a restart does not fetch it again).
    fn settle_if_idle(&mut self) {
        if self.is_busy() {
            return;
        }
        let all = self.entries.values().all(|e| e.state == State::Installed);
        if all && self.ix.offer_hash != self.offer_hash {
            self.ix.offer_hash = self.offer_hash.clone();
            self.save();
        }
    }

    fn save(&self) {
        if let Err(e) = self.store.save(&self.ix) {
            crate::warn!("cannot record the installed packages in state_dir: {e}");
        }
    }

    /// The values remote configs use: each installed addon's stable
    /// `current` paths would hide a rollback, so the paths name the
    /// version folder; a failed package never installed is unusable.
    pub fn vars(&self) -> Vars {
        let mut vars = Vars::new();
        for (name, p) in &self.ix.packages {
            let Some(v) = p.current.as_ref().filter(|_| !p.top_level) else {
                continue;
            };
            let dir = self.store.dir(name, &v.version);
            let file = dir.join(&v.file);
            let prefix = format!("{VAR_PREFIX}{name}.");
            vars.insert(&format!("{prefix}path"), &file.to_string_lossy(), false);
            vars.insert(&format!("{prefix}dir"), &dir.to_string_lossy(), false);
            vars.insert(&format!("{prefix}version"), &v.version, false);
        }
        for (name, e) in &self.entries {
            let stored = self.ix.packages.get(name).and_then(|p| p.current.as_ref());
            match (&e.state, stored) {
                (State::Failed(why), None) => vars.insert_unavailable(
                    &format!("{VAR_PREFIX}{name}."),
                    &format!("package '{name}' failed to install: {why}"),
                ),
                (State::Pending | State::Downloading, None) => vars.insert_unavailable(
                    &format!("{VAR_PREFIX}{name}."),
                    &format!("package '{name}' is not installed yet"),
                ),
                _ => {}
            }
        }
        vars
    }

    /// A config using the current versions is applied: older versions go,
    /// and so do packages the server removed that `in_use` says no config
    /// references. Returns whether the set of values changed.
    pub fn collect_garbage(&mut self, in_use: &dyn Fn(&str) -> bool) -> bool {
        let before = self.vars();
        let mut gone = Vec::new();
        for (name, p) in self.ix.packages.iter_mut() {
            for v in std::mem::take(&mut p.kept) {
                if let Err(e) = self.store.remove_version(name, &v.version) {
                    crate::warn!(
                        "package '{name}': cannot remove version '{}': {e}",
                        v.version
                    );
                }
            }
            if p.removed && !in_use(name) {
                gone.push(name.clone());
            }
        }
        for name in gone {
            crate::info!("package '{name}' removed: the server no longer offers it");
            let _ = self.store.remove_package(&name);
            self.ix.packages.remove(&name);
            self.entries.remove(&name);
        }
        self.save();
        self.vars() != before
    }
}

fn installed_entry(v: &store::Version) -> Entry {
    Entry {
        offered_version: v.version.clone(),
        offered_hash: v.hash.clone(),
        state: State::Installed,
        note: String::new(),
    }
}

#[cfg(test)]
mod tests;
