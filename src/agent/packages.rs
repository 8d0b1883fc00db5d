//! The agent thread's side of packages: offers from the core go to the
//! manager, its downloads run beside this thread and wake it, statuses go
//! back to the core, and the values reach the remote config pipeline.
//!
//! Ordering: a config that arrives while downloads run waits for them
//! (it may use them), then goes through the pipeline once, with the new
//! values: one reload for packages and config together. Without a waiting
//! config, new values re-render the newest config if its text changes
//! (a new version is a new path), again one reload.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::control::Control;
use super::notify::Notifier;
use super::runtime::Runtime;
use crate::config::properties::Settings;
use crate::packages::{Limits, Packages, VAR_PREFIX};
use crate::proto::{
    AgentRemoteConfig, PackagesAvailable, RemoteConfigStatus, RemoteConfigStatuses,
};
use crate::remote::vars::Vars;
use crate::transport::download::DownloadConfig;
use crate::transport::{ProxyMode, TlsOptions};
use crate::{debug, warn};

impl Runtime {
    /// At startup: what a previous process stored.
    pub(super) fn load_packages(&mut self, notifier: Arc<Notifier>) {
        self.packages.wake = Some(Arc::new(move || notifier.send(Control::Wake)));
        self.open_packages();
    }

    /// Opens the store once packages are on (at start, or a reload that
    /// turns them on).
    fn open_packages(&mut self) {
        let Some(wake) = self.packages.wake.clone() else {
            return;
        };
        if !self.settings.packages.enabled || self.packages.mgr.is_some() {
            return;
        }
        let mgr = Packages::open(self.state.path(), limits(&self.settings), wake);
        self.client.set_package_statuses(mgr.statuses());
        self.packages.mgr = Some(mgr);
        // The running files were rendered with these: nothing runs again.
        let vars = self.with_package_vars(self.other.current());
        self.remote.init_vars(vars);
    }

    /// New section settings: new limits for the next download.
    pub(super) fn packages_settings(&mut self) {
        if self.packages.mgr.is_none() {
            return self.open_packages();
        }
        let l = limits(&self.settings);
        if let Some(m) = self.packages.mgr.as_mut() {
            m.set_limits(l);
        }
    }

    /// `other` plus the installed packages' values.
    pub(in crate::agent) fn with_package_vars(&self, other: &Vars) -> Vars {
        let mut v = other.clone();
        if let Some(m) = &self.packages.mgr {
            v.merge(&m.vars());
        }
        v
    }

    pub(super) fn packages_offer(&mut self, pa: PackagesAvailable) {
        let Some(m) = self.packages.mgr.as_mut() else {
            debug!("ignoring a packages offer: packages are off");
            return;
        };
        m.offer(&pa);
        let busy = m.is_busy();
        self.client.set_package_statuses(m.statuses());
        if !busy {
            self.packages_settled();
        }
    }

    /// A config offer: held while downloads run, reported APPLYING.
    pub(super) fn hold_for_packages(&mut self, rc: AgentRemoteConfig) -> Option<AgentRemoteConfig> {
        if !self.packages.mgr.as_ref().is_some_and(Packages::is_busy) {
            return Some(rc);
        }
        debug!("remote config waits for its packages to download");
        self.client.set_remote_config_status(RemoteConfigStatus {
            last_remote_config_hash: rc.config_hash.clone(),
            status: RemoteConfigStatuses::Applying as i32,
            error_message: "waiting for packages to download".into(),
        });
        self.packages.held = Some(rc);
        None
    }

    /// Every loop step: progress and ends of downloads.
    pub(super) fn packages_step(&mut self) {
        let Some(m) = self.packages.mgr.as_mut() else {
            return;
        };
        let polled = m.poll();
        if polled.changed {
            let st = m.statuses();
            self.client.set_package_statuses(st);
        }
        if polled.settled {
            self.packages_settled();
        }
    }

    /// Downloads ended: the values change, then the waiting config (or a
    /// re-render of the newest one) goes through the pipeline once.
    fn packages_settled(&mut self) {
        let vars = self.with_package_vars(self.other.current());
        match self.packages.held.take() {
            Some(rc) => {
                self.remote.init_vars(vars);
                if let Some(st) = self.remote.on_offer(Instant::now(), rc) {
                    self.client.set_remote_config_status(st);
                }
            }
            None => {
                self.remote.set_vars(Instant::now(), vars);
            }
        }
        self.remote_status();
    }

    /// Whenever the remote-config status may have moved: once the config
    /// in use is APPLIED (or there is none), older versions and packages
    /// the server removed that no config uses are deleted.
    pub(super) fn packages_progress(&mut self) {
        let Some(m) = self.packages.mgr.as_mut() else {
            return;
        };
        if m.is_busy() || self.packages.held.is_some() || self.remote.is_busy() {
            return;
        }
        let applied = self
            .remote
            .status()
            .is_none_or(|s| s.status == RemoteConfigStatuses::Applied as i32);
        if !applied {
            return;
        }
        let remote = &self.remote;
        let in_use = |name: &str| remote.source_mentions(&format!("{VAR_PREFIX}{name}."));
        if m.collect_garbage(&in_use) {
            let st = m.statuses();
            self.client.set_package_statuses(st);
            let vars = self.with_package_vars(self.other.current());
            self.remote.set_vars(Instant::now(), vars);
        }
    }
}

fn limits(s: &Settings) -> Limits {
    let p = &s.packages;
    let tls = crate::transport::tls::build(&TlsOptions {
        ca_file: s.tls.ca_file.clone(),
        cert_file: s.tls.crt_file.clone(),
        key_file: s.tls.key_file.clone(),
        verify: s.tls.verify,
    });
    let tls = match tls {
        Ok(t) => Some(t.config),
        Err(e) => {
            warn!("packages: the opamp section's TLS settings cannot be used ({e}); using the system roots");
            None
        }
    };
    Limits {
        max_size: p.max_size,
        quota: p.quota,
        download: DownloadConfig {
            tls,
            proxy: ProxyMode::FromEnv,
            connect_timeout: std::time::Duration::from_secs(10),
            timeout: p.timeout,
            max_bytes: p.max_size,
            allow_http: p.allow_http,
        },
        signatures: crate::packages::verify::SignaturePolicy {
            keys: p.signing_keys.clone(),
            required: p.require_signature,
        },
        plugins: s.plugin_policy.clone(),
        agent: p.agent,
        stage_to: running_file().map(|f| {
            let mut name = f.file_name().unwrap_or_default().to_os_string();
            name.push(".next");
            f.with_file_name(name)
        }),
    }
}

/// The file this plugin was loaded from: the mapping in /proc/self/maps
/// that holds one of its functions.
fn running_file() -> Option<PathBuf> {
    let addr = running_file as fn() -> Option<PathBuf> as usize;
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|l| {
        let mut parts = l.split_whitespace();
        let (lo, hi) = parts.next()?.split_once('-')?;
        let (lo, hi) = (
            usize::from_str_radix(lo, 16).ok()?,
            usize::from_str_radix(hi, 16).ok()?,
        );
        let path = parts.nth(4)?;
        (lo <= addr && addr < hi && path.starts_with('/')).then(|| PathBuf::from(path))
    })
}
