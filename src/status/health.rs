//! Pipeline health from successive metric samples: pure, clock-free logic.
//!
//! Fluent Bit's counters are totals since the pipeline started, so health is
//! judged on how much they grew over a window. Every hot reload starts a new
//! pipeline whose counters begin at zero again; a counter going down, the
//! reload count rising or the uptime going back is therefore a reset, and the
//! sample becomes a fresh baseline. Nothing is judged until a later sample
//! gives a difference, so a reset can never read as a failure.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::description::{double_kv, int_kv, string_kv};
use super::fluentbit_http::FbHealth;
use super::metrics::{Counters, Kind, Metrics};
use super::process::{cpu_cores_used, ProcessStats};
use crate::proto::{ComponentHealth, KeyValue};

/// When a component counts as unhealthy and when a report is worth sending.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthPolicy {
    /// Span over which counter growth is judged ("in the last 30s").
    pub window: Duration,
    /// Least time between reports that only refresh figures or error
    /// wording; a component turning healthy or unhealthy is sent at once.
    pub min_interval: Duration,
    /// Output errors plus failed retries tolerated per window.
    pub max_failures: u64,
    /// Relative change in CPU, RSS or record rates worth a report.
    pub load_change: f64,
    /// Cores available, to express CPU as OTel's 0..1 utilization.
    pub cpus: u32,
}

impl HealthPolicy {
    /// Defaults scaled to the sampling period (`health_interval`): a window
    /// of three samples, figures refreshed at most every six.
    pub fn for_interval(sample: Duration) -> Self {
        let sample = sample.max(Duration::from_secs(1));
        HealthPolicy {
            window: sample * 3,
            min_interval: sample * 6,
            max_failures: 0,
            load_change: 0.25,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        }
    }
}

/// What the pipeline looked like at one moment.
#[derive(Debug, Clone)]
pub enum Pipeline {
    Metrics(Metrics),
    /// Metrics could not be read; the text says why and how to fix it.
    Unavailable(String),
}

#[derive(Debug, Clone)]
pub struct Sample {
    pub at: Instant,
    pub unix_nano: u64,
    pub pipeline: Pipeline,
    pub fluent_bit_health: FbHealth,
    pub process: Option<ProcessStats>,
}

#[derive(Debug, Clone)]
struct Snap {
    at: Instant,
    components: BTreeMap<String, (Kind, Counters)>,
}

/// Figures whose small wobbles are not worth a report.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Load {
    cpu_cores: Option<f64>,
    rss_bytes: Option<u64>,
    records_in: Option<f64>,
    records_out: Option<f64>,
}

impl Load {
    fn differs(&self, other: &Load, threshold: f64) -> bool {
        fn moved(a: Option<f64>, b: Option<f64>, floor: f64, t: f64) -> bool {
            match (a, b) {
                (Some(a), Some(b)) => (a - b).abs() / a.abs().max(b.abs()).max(floor) > t,
                (None, None) => false,
                _ => true,
            }
        }
        moved(self.cpu_cores, other.cpu_cores, 0.01, threshold)
            || moved(
                self.rss_bytes.map(|b| b as f64),
                other.rss_bytes.map(|b| b as f64),
                f64::from(1u32 << 20),
                threshold,
            )
            || moved(self.records_in, other.records_in, 1.0, threshold)
            || moved(self.records_out, other.records_out, 1.0, threshold)
    }
}

/// The parts of a report whose change is always sent at once.
#[derive(Debug, Clone, PartialEq)]
struct Verdicts {
    healthy: bool,
    pipeline_known: bool,
    fluent_bit_health: FbHealth,
    components: Vec<(String, bool)>,
}

#[derive(Debug, Clone)]
struct Sent {
    at: Instant,
    verdicts: Verdicts,
    errors: Vec<String>,
    load: Load,
}

pub struct HealthTracker {
    policy: HealthPolicy,
    /// Samples since the last reset, oldest first; the front is the base
    /// of the current window.
    history: VecDeque<Snap>,
    reset_pending: bool,
    last_reload_count: Option<u64>,
    last_uptime: Option<u64>,
    pipeline_start_nano: Option<u64>,
    last_process: Option<(Instant, ProcessStats)>,
    sent: Option<Sent>,
    current: Option<ComponentHealth>,
}

/// One component's verdict over the window.
struct Judged {
    health: ComponentHealth,
    records_per_sec: Option<f64>,
}

impl HealthTracker {
    pub fn new(policy: HealthPolicy) -> Self {
        HealthTracker {
            policy,
            history: VecDeque::new(),
            reset_pending: false,
            last_reload_count: None,
            last_uptime: None,
            pipeline_start_nano: None,
            last_process: None,
            sent: None,
            current: None,
        }
    }

    pub fn policy(&self) -> &HealthPolicy {
        &self.policy
    }

    /// Treat the next sample as a new baseline (a reload we caused).
    pub fn reset_counters(&mut self) {
        self.reset_pending = true;
    }

    /// The report built from the latest sample, sent or not.
    pub fn current(&self) -> Option<&ComponentHealth> {
        self.current.as_ref()
    }

    /// How much evidence the current verdicts rest on: the span of samples
    /// since the last reset (zero right after one).
    pub fn evidence_span(&self) -> Duration {
        match (self.history.front(), self.history.back()) {
            (Some(a), Some(b)) => b.at.saturating_duration_since(a.at),
            _ => Duration::ZERO,
        }
    }

    /// Feeds one sample; returns a report only when it is worth sending.
    pub fn observe(&mut self, s: &Sample) -> Option<ComponentHealth> {
        let cpu_cores = self.cpu(s);
        let (components, rates, reload_count) = match &s.pipeline {
            Pipeline::Metrics(m) => {
                self.absorb(s, m);
                let (c, rates) = self.judge_components();
                (Some(c), rates, m.reload_count)
            }
            Pipeline::Unavailable(_) => {
                // Counters read after an outage may belong to a newer
                // pipeline; never diff across the gap.
                self.history.clear();
                self.pipeline_start_nano = None;
                (None, (None, None), None)
            }
        };
        let load = Load {
            cpu_cores,
            rss_bytes: s.process.map(|p| p.rss_bytes),
            records_in: rates.0,
            records_out: rates.1,
        };
        let report = self.build(s, components, &load, reload_count);
        let decision = self.worth_sending(s.at, &report, &load, s.fluent_bit_health);
        self.current = Some(report.clone());
        decision.then_some(report)
    }

    fn cpu(&mut self, s: &Sample) -> Option<f64> {
        let now = s.process?;
        let used = self.last_process.and_then(|(at, before)| {
            cpu_cores_used(
                &before,
                &now,
                s.at.saturating_duration_since(at).as_secs_f64(),
            )
        });
        self.last_process = Some((s.at, now));
        used
    }

    fn absorb(&mut self, s: &Sample, m: &Metrics) {
        let reloaded = matches!(
            (self.last_reload_count, m.reload_count),
            (Some(a), Some(b)) if b != a
        );
        let restarted = matches!((self.last_uptime, m.uptime_secs), (Some(a), Some(b)) if b < a);
        let went_back = self.history.back().is_some_and(|prev| {
            m.components.iter().any(|(k, (_, c))| {
                prev.components
                    .get(k)
                    .is_some_and(|(_, p)| c.went_back_from(p))
            })
        });
        if std::mem::take(&mut self.reset_pending) || reloaded || restarted || went_back {
            self.history.clear();
            self.pipeline_start_nano = None;
        }
        self.last_reload_count = m.reload_count.or(self.last_reload_count);
        self.last_uptime = m.uptime_secs;
        if self.pipeline_start_nano.is_none() {
            self.pipeline_start_nano = m
                .uptime_secs
                .map(|u| s.unix_nano.saturating_sub(u * 1_000_000_000))
                .or_else(|| s.process.and_then(|p| p.start_unix_nano));
        }
        self.history.push_back(Snap {
            at: s.at,
            components: m.components.clone(),
        });
        // Keep the newest sample at or before the window's start as its base.
        if let Some(start) = s.at.checked_sub(self.policy.window) {
            while self.history.len() > 1 && self.history[1].at <= start {
                self.history.pop_front();
            }
        }
    }

    fn judge_components(&self) -> (BTreeMap<String, Judged>, (Option<f64>, Option<f64>)) {
        let mut out = BTreeMap::new();
        let (Some(base), Some(latest)) = (self.history.front(), self.history.back()) else {
            return (out, (None, None));
        };
        let span = latest.at.saturating_duration_since(base.at);
        let have_window = self.history.len() >= 2 && !span.is_zero();
        let (mut rin, mut rout) = (None::<f64>, None::<f64>);
        for (key, (kind, now)) in &latest.components {
            let delta = base
                .components
                .get(key)
                .filter(|_| have_window)
                .map(|(_, then)| now.since(then));
            let paused_all_window = *kind == Kind::Input
                && span >= self.policy.window
                && self
                    .history
                    .iter()
                    .all(|snap| snap.components.get(key).is_some_and(|(_, c)| c.paused));
            let j = judge(
                *kind,
                key,
                now,
                delta.map(|d| (d, span)),
                paused_all_window,
                &self.policy,
                self.pipeline_start_nano.unwrap_or(0),
            );
            if let Some(r) = j.records_per_sec {
                match kind {
                    Kind::Input => *rin.get_or_insert(0.0) += r,
                    Kind::Output => *rout.get_or_insert(0.0) += r,
                    Kind::Filter => {}
                }
            }
            out.insert(key.clone(), j);
        }
        (out, (rin, rout))
    }

    fn build(
        &self,
        s: &Sample,
        components: Option<BTreeMap<String, Judged>>,
        load: &Load,
        reload_count: Option<u64>,
    ) -> ComponentHealth {
        let mut errors: Vec<String> = Vec::new();
        let mut head = String::new();
        let mut map = BTreeMap::new();
        match (&s.pipeline, components) {
            (Pipeline::Metrics(_), Some(components)) => {
                let unhealthy: Vec<&String> = components
                    .iter()
                    .filter(|(_, j)| !j.health.healthy)
                    .map(|(k, _)| k)
                    .collect();
                head = if components.is_empty() {
                    "no pipeline components reported yet".to_string()
                } else if unhealthy.is_empty() {
                    format!("{} pipeline components healthy", components.len())
                } else {
                    let names: Vec<&str> = unhealthy.iter().map(|k| k.as_str()).collect();
                    format!(
                        "{} of {} pipeline components unhealthy: {}",
                        names.len(),
                        components.len(),
                        names.join(", ")
                    )
                };
                for (k, j) in components {
                    if !j.health.healthy {
                        errors.push(j.health.last_error.clone());
                    }
                    map.insert(k, j.health);
                }
            }
            (Pipeline::Unavailable(why), _) => {
                head = format!("pipeline health unknown: {why}");
            }
            _ => {}
        }
        if s.fluent_bit_health == FbHealth::Error {
            errors.push(
                "Fluent Bit's own health check failed (more errors or failed retries than \
                 HC_Errors_Count / HC_Retry_Failure_Count within HC_Period)"
                    .to_string(),
            );
        }
        let mut status = head;
        let load_text = describe_load(load);
        if !load_text.is_empty() {
            status.push_str("; ");
            status.push_str(&load_text);
        }
        let mut attributes = vec![string_kv(
            "fluentbit.health_check",
            s.fluent_bit_health.as_str(),
        )];
        if let Some(c) = load.cpu_cores {
            let cpus = f64::from(self.policy.cpus.max(1));
            attributes.push(double_kv("process.cpu.utilization", round3(c / cpus)));
            attributes.push(double_kv("process.cpu.cores_used", round3(c)));
        }
        if let Some(r) = load.rss_bytes {
            attributes.push(int_kv("process.memory.usage", r as i64));
        }
        if let Some(r) = load.records_in {
            attributes.push(double_kv("fluentbit.records_in.per_second", round3(r)));
        }
        if let Some(r) = load.records_out {
            attributes.push(double_kv("fluentbit.records_out.per_second", round3(r)));
        }
        if let Some(n) = reload_count {
            attributes.push(int_kv("fluentbit.hot_reload.count", n as i64));
        }
        let metrics_start = match &s.pipeline {
            Pipeline::Metrics(m) => m.process_start_secs.map(|secs| secs * 1_000_000_000),
            Pipeline::Unavailable(_) => None,
        };
        for c in map.values_mut() {
            c.status_time_unix_nano = s.unix_nano;
        }
        ComponentHealth {
            healthy: errors.is_empty(),
            start_time_unix_nano: s
                .process
                .and_then(|p| p.start_unix_nano)
                .or(metrics_start)
                .unwrap_or(0),
            last_error: errors.join("; "),
            status,
            status_time_unix_nano: s.unix_nano,
            component_health_map: map,
            attributes,
        }
    }

    fn worth_sending(
        &mut self,
        at: Instant,
        report: &ComponentHealth,
        load: &Load,
        fluent_bit_health: FbHealth,
    ) -> bool {
        let verdicts = Verdicts {
            healthy: report.healthy,
            pipeline_known: self.history.back().is_some(),
            fluent_bit_health,
            components: report
                .component_health_map
                .iter()
                .map(|(k, c)| (k.clone(), c.healthy))
                .collect(),
        };
        let errors: Vec<String> = std::iter::once(report.last_error.clone())
            .chain(
                report
                    .component_health_map
                    .values()
                    .map(|c| c.last_error.clone()),
            )
            .chain(
                // The unreachable reason lives in the status text.
                (!verdicts.pipeline_known).then(|| report.status.clone()),
            )
            .collect();
        let send = match &self.sent {
            None => true,
            // Right after a reset nothing has been judged yet: keep what the
            // server shows until the first real window rather than flap it.
            // (After an outage there is nothing to flap: show the pipeline.)
            Some(prev)
                if verdicts.pipeline_known
                    && prev.verdicts.pipeline_known
                    && self.history.len() < 2 =>
            {
                false
            }
            Some(prev) if prev.verdicts != verdicts => true,
            Some(prev) => {
                at.saturating_duration_since(prev.at) >= self.policy.min_interval
                    && (prev.errors != errors || prev.load.differs(load, self.policy.load_change))
            }
        };
        if send {
            self.sent = Some(Sent {
                at,
                verdicts,
                errors,
                load: *load,
            });
        }
        send
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn describe_load(l: &Load) -> String {
    let mut parts = Vec::new();
    if let Some(c) = l.cpu_cores {
        parts.push(format!("CPU {:.1}% of one core", c * 100.0));
    }
    if let Some(r) = l.rss_bytes {
        parts.push(format!("RSS {:.1} MiB", r as f64 / f64::from(1u32 << 20)));
    }
    if let Some(r) = l.records_in {
        parts.push(format!("{r:.1} records/s in"));
    }
    if let Some(r) = l.records_out {
        parts.push(format!("{r:.1} records/s out"));
    }
    parts.join(", ")
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One component's health over the window; `delta` is None until two
/// samples since the last reset exist.
fn judge(
    kind: Kind,
    key: &str,
    now: &Counters,
    delta: Option<(Counters, Duration)>,
    paused_all_window: bool,
    policy: &HealthPolicy,
    start_nano: u64,
) -> Judged {
    let label = key.replacen(':', " ", 1);
    let mut attributes: Vec<KeyValue> = vec![
        int_kv("records.total", now.records as i64),
        int_kv("bytes.total", now.bytes as i64),
    ];
    let mut health = ComponentHealth {
        healthy: true,
        start_time_unix_nano: start_nano,
        ..Default::default()
    };
    let Some((d, span)) = delta else {
        health.status =
            "collecting: no full sample window since the pipeline (re)started".to_string();
        health.attributes = attributes;
        return Judged {
            health,
            records_per_sec: None,
        };
    };
    let secs = span.as_secs_f64();
    let per_sec = d.records as f64 / secs;
    let window = format!("in the last {}s", span.as_secs_f64().round() as u64);
    attributes.push(double_kv("records.per_second", round3(per_sec)));
    attributes.push(double_kv("bytes.per_second", round3(d.bytes as f64 / secs)));
    attributes.push(int_kv("window.seconds", span.as_secs_f64().round() as i64));
    let mut problem = None;
    match kind {
        Kind::Output => {
            for (k, v) in [
                ("errors", d.errors),
                ("retries", d.retries),
                ("retries_failed", d.retries_failed),
                ("dropped_records", d.dropped_records),
            ] {
                attributes.push(int_kv(k, v as i64));
            }
            let failures = d.errors + d.retries_failed;
            if failures > policy.max_failures || d.dropped_records > 0 {
                let mut what = Vec::new();
                if d.errors > 0 {
                    what.push(plural(d.errors, "error", "errors"));
                }
                if d.retries_failed > 0 {
                    what.push(plural(d.retries_failed, "failed retry", "failed retries"));
                }
                if d.dropped_records > 0 {
                    what.push(plural(
                        d.dropped_records,
                        "record dropped",
                        "records dropped",
                    ));
                }
                let tail = if d.dropped_records > 0 || d.retries_failed > 0 {
                    "records are being dropped after their retries ran out"
                } else {
                    "records are being retried"
                };
                problem = Some(format!("{label}: {} {window}; {tail}", what.join(" and ")));
            } else if d.retries > 0 && d.records == 0 && span >= policy.window {
                // Only over a full window: a quiet input can leave a short
                // span with one transient retry and nothing to deliver.
                problem = Some(format!(
                    "{label}: {} and nothing delivered {window}; records are waiting for retry",
                    plural(d.retries, "retry", "retries")
                ));
            }
            health.status = if d.records == 0 && d.retries == 0 {
                "idle".to_string()
            } else if d.retries > 0 {
                format!(
                    "{per_sec:.1} records/s delivered, {} {window}",
                    plural(d.retries, "retry", "retries")
                )
            } else {
                format!("{per_sec:.1} records/s delivered")
            };
        }
        Kind::Input => {
            attributes.push(int_kv(
                "ring_buffer_failures",
                d.ring_buffer_failures as i64,
            ));
            if d.ring_buffer_failures > 0 {
                problem = Some(format!(
                    "{label}: {} {window}: its ring buffer stayed full",
                    plural(d.ring_buffer_failures, "record lost", "records lost")
                ));
            } else if paused_all_window {
                problem = Some(format!(
                    "{label}: ingestion paused for the whole window ({window}): its buffer limit \
                     is reached, usually because an output cannot keep up"
                ));
            }
            health.status = if now.paused {
                format!("paused (buffer limit reached), {per_sec:.1} records/s in")
            } else {
                format!("{per_sec:.1} records/s in")
            };
        }
        Kind::Filter => {
            // Dropping is what grep-like filters are for; report, never judge.
            attributes.push(int_kv("dropped_records", d.filter_dropped as i64));
            attributes.push(int_kv("added_records", d.filter_added as i64));
            health.status = format!(
                "{per_sec:.1} records/s, {} by the filter {window}",
                plural(d.filter_dropped, "record dropped", "records dropped")
            );
        }
    }
    if let Some(p) = problem {
        health.healthy = false;
        health.last_error = p;
    }
    health.attributes = attributes;
    Judged {
        health,
        records_per_sec: Some(per_sec),
    }
}
