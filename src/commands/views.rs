//! The JSON bodies of the read-only commands, built from what the status
//! collector already holds. Nothing here reads a secret: the effective
//! config arrives redacted, the log never holds one.

use serde_json::{json, Map, Value};

use crate::proto::{ComponentHealth, EffectiveConfig};
use crate::status::metrics::{Counters, Kind, Metrics};
use crate::status::process::{ProcessStats, CLOCK_TICKS_PER_SEC};

fn counters(kind: Kind, c: &Counters) -> Value {
    json!({
        "kind": kind.as_str(),
        "records": c.records,
        "bytes": c.bytes,
        "errors": c.errors,
        "retries": c.retries,
        "retries_failed": c.retries_failed,
        "dropped_records": c.dropped_records,
        "retried_records": c.retried_records,
        "filter_dropped": c.filter_dropped,
        "filter_added": c.filter_added,
        "paused": c.paused,
    })
}

/// `metrics`: counters per plugin instance, keyed `kind:instance`.
pub fn metrics(m: &Metrics) -> Value {
    let components: Map<String, Value> = m
        .components
        .iter()
        .map(|(k, (kind, c))| (k.clone(), counters(*kind, c)))
        .collect();
    json!({
        "uptime_secs": m.uptime_secs,
        "reload_count": m.reload_count,
        "components": components,
    })
}

fn totals(m: &Metrics) -> Value {
    let (mut rin, mut rout, mut retries, mut failed, mut dropped) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for (kind, c) in m.components.values() {
        match kind {
            Kind::Input => rin += c.records,
            Kind::Output => {
                rout += c.records;
                retries += c.retries;
                failed += c.retries_failed;
                dropped += c.dropped_records;
            }
            Kind::Filter => dropped += c.filter_dropped,
        }
    }
    json!({
        "records_in": rin,
        "records_out": rout,
        "retries": retries,
        "retries_failed": failed,
        "dropped_records": dropped,
    })
}

pub fn process(p: Option<ProcessStats>) -> Value {
    match p {
        Some(p) => json!({
            "cpu_seconds": p.cpu_ticks as f64 / CLOCK_TICKS_PER_SEC as f64,
            "rss_bytes": p.rss_bytes,
        }),
        None => Value::Null,
    }
}

/// `health`: the health the agent reports (load in its status words), per
/// component, with cumulative totals and process stats.
pub fn health(h: &ComponentHealth, m: Option<&Metrics>, p: Option<ProcessStats>) -> Value {
    let components: Map<String, Value> = h
        .component_health_map
        .iter()
        .map(|(k, c)| {
            (
                k.clone(),
                json!({"healthy": c.healthy, "status": c.status, "last_error": c.last_error}),
            )
        })
        .collect();
    json!({
        "healthy": h.healthy,
        "status": h.status,
        "last_error": h.last_error,
        "components": components,
        "totals": m.map(totals),
        "process": process(p),
    })
}

/// The effective config as file name to (redacted) text.
pub fn effective_config(c: Option<EffectiveConfig>) -> Value {
    let files: Map<String, Value> = c
        .and_then(|c| c.config_map)
        .map(|m| {
            m.config_map
                .into_iter()
                .map(|(k, f)| {
                    (
                        k,
                        Value::String(String::from_utf8_lossy(&f.body).into_owned()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Value::Object(files)
}

/// The plugins the running config uses, from the metrics' instance names
/// (`output:stdout.0` gives `output:stdout`).
pub fn plugins_in_use(m: Option<&Metrics>) -> Vec<String> {
    let mut out: Vec<String> = m
        .map(|m| {
            m.components
                .keys()
                .map(|k| match k.rsplit_once('.') {
                    Some((name, n)) if n.chars().all(|c| c.is_ascii_digit()) => name.to_string(),
                    _ => k.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

/// What the plugin was built as.
pub fn build() -> Value {
    json!({
        "plugin": crate::PLUGIN_VERSION,
        "target_arch": std::env::consts::ARCH,
        "target_os": std::env::consts::OS,
        "debug_assertions": cfg!(debug_assertions),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_sum_by_kind_and_plugins_lose_their_index() {
        let mut m = Metrics::default();
        let c = |records, retries| Counters {
            records,
            retries,
            ..Default::default()
        };
        m.components
            .insert("input:dummy.0".into(), (Kind::Input, c(10, 0)));
        m.components
            .insert("input:dummy.1".into(), (Kind::Input, c(5, 0)));
        m.components
            .insert("output:stdout.0".into(), (Kind::Output, c(12, 3)));
        let t = totals(&m);
        assert_eq!(t["records_in"], 15);
        assert_eq!(t["records_out"], 12);
        assert_eq!(t["retries"], 3);
        assert_eq!(
            plugins_in_use(Some(&m)),
            vec!["input:dummy", "output:stdout"]
        );
        assert_eq!(metrics(&m)["components"]["output:stdout.0"]["retries"], 3);
    }
}
