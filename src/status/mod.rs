//! What the agent reports about itself: description, health and effective
//! config, gathered on the agent thread.
//!
//! [`Collector::sample`] does blocking loopback GETs (500 ms timeout each)
//! and reads `/proc` and config files, so it belongs on the agent thread and
//! never in a Fluent Bit callback. It returns only what changed since the
//! previous call; the core's status compression does the rest.

pub mod components;
pub mod description;
pub mod effective_config;
pub mod fluentbit_http;
pub mod health;
pub mod metrics;
pub mod process;
pub mod redact;
mod redact_text;
mod redact_yaml;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::http_address;
use crate::config::properties::Settings;
use crate::config::section::config_path_from_args;
use crate::proto::{AgentDescription, ComponentHealth, EffectiveConfig};

use description::{agent_description, HostFacts, Identity};
use fluentbit_http::{FbHealth, FluentBitHttp};
use health::{HealthPolicy, HealthTracker, Pipeline, Sample};
use metrics::Metrics;
use process::ProcessStats;
use redact::Redactor;

/// The health reason while Fluent Bit's HTTP server is off.
pub const HTTP_OFF: &str = "Fluent Bit's HTTP server is off, so pipeline health is unknown; turn it on with `HTTP_Server On` ([SERVICE]) or `http_server: on` (service:)";

/// The parts of the agent's status that changed; `None` means unchanged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusUpdate {
    pub description: Option<AgentDescription>,
    pub health: Option<ComponentHealth>,
    pub effective_config: Option<EffectiveConfig>,
}

impl StatusUpdate {
    pub fn is_empty(&self) -> bool {
        self.description.is_none() && self.health.is_none() && self.effective_config.is_none()
    }
}

/// One look at Fluent Bit from outside the pipeline.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Err carries the operator-facing reason.
    pub metrics: Result<Metrics, String>,
    pub fluent_bit_health: FbHealth,
    pub version: Option<String>,
    pub process: Option<ProcessStats>,
}

/// Where observations come from: the live HTTP server and `/proc`, or a
/// script in tests.
pub trait Probe: Send {
    /// `want_version`: Fluent Bit's version is still unknown, fetch it if
    /// the metrics did not carry it.
    fn observe(&mut self, want_version: bool) -> Observation;
}

pub struct LiveProbe {
    http: FluentBitHttp,
    /// Set when Fluent Bit's config turns its HTTP server off: nothing to
    /// ask, and this says why.
    off: Option<String>,
}

impl LiveProbe {
    pub fn new(http_server: &str, off: Option<String>) -> Self {
        LiveProbe {
            http: FluentBitHttp::new(http_server),
            off,
        }
    }
}

impl Probe for LiveProbe {
    fn observe(&mut self, want_version: bool) -> Observation {
        let process = process::read_self();
        if let Some(why) = &self.off {
            return Observation {
                metrics: Err(why.clone()),
                fluent_bit_health: FbHealth::Off,
                version: None,
                process,
            };
        }
        match self.http.metrics() {
            // One failure is enough: the other GETs would only wait out
            // their own timeouts.
            Err(e) => Observation {
                metrics: Err(e.to_string()),
                fluent_bit_health: FbHealth::Off,
                version: None,
                process,
            },
            Ok(mut m) => {
                if m.reload_count.is_none() {
                    m.reload_count = self.http.reload_count().ok().flatten();
                }
                let version = match &m.version {
                    Some(v) => Some(v.clone()),
                    None if want_version => self.http.version().ok().flatten(),
                    None => None,
                };
                let fluent_bit_health = self.http.health().unwrap_or(FbHealth::Off);
                Observation {
                    metrics: Ok(m),
                    fluent_bit_health,
                    version,
                    process,
                }
            }
        }
    }
}

/// Everything the collector needs from the plugin's settings.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    pub identity: Identity,
    pub instance_uid: [u8; 16],
    pub http_server: String,
    /// Why there is no HTTP server to read, when Fluent Bit's own config
    /// turns it off.
    pub http_off: Option<String>,
    /// Where the address came from, for the log.
    pub http_source: &'static str,
    /// Fluent Bit's bootstrap config; None when it runs from arguments.
    pub bootstrap: Option<PathBuf>,
    /// Fluent Bit's argv, reported (redacted) when there is no bootstrap.
    pub args: Vec<String>,
    pub redact_keys: Vec<String>,
    pub policy: HealthPolicy,
}

impl CollectorConfig {
    pub fn from_settings(s: &Settings, instance_uid: [u8; 16], args: Vec<String>) -> Self {
        let bootstrap = s
            .config_file
            .clone()
            .or_else(|| config_path_from_args(&args));
        let http = http_address::resolve(s.http_server.as_deref(), bootstrap.as_deref(), &args);
        CollectorConfig {
            identity: Identity {
                service_name: s.service_name.clone(),
                service_namespace: s.service_namespace.clone(),
                agent_attributes: s.agent_attributes.clone(),
            },
            instance_uid,
            http_off: (!http.enabled).then(|| HTTP_OFF.to_string()),
            http_source: http.source,
            http_server: http.url,
            bootstrap,
            args,
            redact_keys: s.redact_keys.clone(),
            policy: HealthPolicy::for_interval(s.health_interval),
        }
    }
}

pub struct Collector {
    cfg: CollectorConfig,
    probe: Box<dyn Probe>,
    facts: HostFacts,
    redactor: Redactor,
    tracker: HealthTracker,
    version: Option<String>,
    description: Option<AgentDescription>,
    config_stale: bool,
    config_fingerprint: Option<u64>,
    reload_count: Option<u64>,
    /// The latest sample's counters and process stats, for commands that
    /// show them (`metrics`, `health`).
    last_metrics: Option<Metrics>,
    last_process: Option<ProcessStats>,
}

impl Collector {
    /// Live collector: Fluent Bit's HTTP server at `cfg.http_server`.
    pub fn new(cfg: CollectorConfig) -> Self {
        let probe = Box::new(LiveProbe::new(&cfg.http_server, cfg.http_off.clone()));
        Self::with_probe(cfg, HostFacts::gather(), probe)
    }

    pub fn with_probe(cfg: CollectorConfig, facts: HostFacts, probe: Box<dyn Probe>) -> Self {
        Collector {
            redactor: Redactor::new(&cfg.redact_keys),
            tracker: HealthTracker::new(cfg.policy.clone()),
            cfg,
            probe,
            facts,
            version: None,
            description: None,
            config_stale: true,
            config_fingerprint: None,
            reload_count: None,
            last_metrics: None,
            last_process: None,
        }
    }

    /// Takes one sample; call every `health_interval`.
    pub fn sample(&mut self, now: Instant) -> StatusUpdate {
        let unix_nano = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        self.sample_at(now, unix_nano)
    }

    /// [`sample`](Self::sample) with the wall clock given, for tests.
    pub fn sample_at(&mut self, now: Instant, unix_nano: u64) -> StatusUpdate {
        let obs = self.probe.observe(self.version.is_none());
        if self.version.is_none() {
            self.version = obs.version.clone();
        }
        if let Ok(m) = &obs.metrics {
            // A reload someone else triggered (SIGHUP, the HTTP API) also
            // means new config files.
            if m.reload_count.is_some() && m.reload_count != self.reload_count {
                if self.reload_count.is_some() {
                    self.config_stale = true;
                }
                self.reload_count = m.reload_count;
            }
        }
        self.last_process = obs.process;
        self.last_metrics = obs.metrics.as_ref().ok().cloned();
        let pipeline = match obs.metrics {
            Ok(m) => Pipeline::Metrics(m),
            Err(why) => Pipeline::Unavailable(why),
        };
        let health = self.tracker.observe(&Sample {
            at: now,
            unix_nano,
            pipeline,
            fluent_bit_health: obs.fluent_bit_health,
            process: obs.process,
        });
        StatusUpdate {
            description: self.description_if_changed(),
            health,
            effective_config: self.effective_config_if_changed(),
        }
    }

    /// Call after a reload this process triggered: config is re-read and the
    /// next sample is a new counter baseline.
    pub fn on_reload(&mut self) {
        self.config_stale = true;
        self.tracker.reset_counters();
    }

    /// Values to hide wherever they appear in the effective config (secrets
    /// that reached config text by `${opamp.…}` expansion), longest first.
    pub fn set_secret_values(&mut self, values: Vec<String>) {
        if self.redactor.set_values(values) {
            self.config_stale = true;
        }
    }

    /// The health built from the latest sample, whether or not it was sent.
    pub fn current_health(&self) -> Option<&ComponentHealth> {
        self.tracker.current()
    }

    /// Span of samples behind the current verdicts; zero right after a reset.
    pub fn health_evidence(&self) -> Duration {
        self.tracker.evidence_span()
    }

    /// The version read from the running binary: stands in while the HTTP
    /// server cannot say (it is off, or not up yet).
    pub fn set_binary_version(&mut self, v: &str) {
        if self.version.is_none() {
            self.version = Some(v.to_string());
        }
    }

    /// Fluent Bit's bootstrap config, if it runs from one.
    pub fn bootstrap(&self) -> Option<&std::path::Path> {
        self.cfg.bootstrap.as_deref()
    }

    /// Where Fluent Bit's HTTP server is read, and why not when it is off.
    pub fn http_server(&self) -> (&str, Option<&str>) {
        (&self.cfg.http_server, self.cfg.http_off.as_deref())
    }

    pub fn fluent_bit_version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The latest sample's counters; `None` when Fluent Bit's HTTP server
    /// did not answer.
    pub fn last_metrics(&self) -> Option<&Metrics> {
        self.last_metrics.as_ref()
    }

    pub fn last_process(&self) -> Option<ProcessStats> {
        self.last_process
    }

    /// The redacted effective config as it is on disk now.
    pub fn effective_config_now(&self) -> Option<EffectiveConfig> {
        match &self.cfg.bootstrap {
            Some(path) => effective_config::read_files(path)
                .ok()
                .map(|files| effective_config::effective_config(&files, &self.redactor)),
            None => Some(effective_config::from_command_line(
                &self.cfg.args,
                &self.redactor,
            )),
        }
    }

    fn description_if_changed(&mut self) -> Option<AgentDescription> {
        let d = agent_description(
            &self.cfg.identity,
            &self.facts,
            self.version.as_deref(),
            &self.cfg.instance_uid,
        );
        if self.description.as_ref() == Some(&d) {
            return None;
        }
        self.description = Some(d.clone());
        Some(d)
    }

    fn effective_config_if_changed(&mut self) -> Option<EffectiveConfig> {
        if !std::mem::take(&mut self.config_stale) {
            return None;
        }
        let cfg = match &self.cfg.bootstrap {
            Some(path) => match effective_config::read_files(path) {
                Ok(files) => effective_config::effective_config(&files, &self.redactor),
                // Unreadable now (moved, permissions): keep what was sent.
                Err(_) => return None,
            },
            None => effective_config::from_command_line(&self.cfg.args, &self.redactor),
        };
        let fp = effective_config::fingerprint(&cfg);
        if self.config_fingerprint == Some(fp) {
            return None;
        }
        self.config_fingerprint = Some(fp);
        Some(cfg)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn collector_can_move_to_the_agent_thread() {
        fn is_send<T: Send>() {}
        is_send::<super::Collector>();
    }
}
