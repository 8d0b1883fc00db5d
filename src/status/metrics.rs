//! Fluent Bit's Prometheus text, reduced to per-component counters.
//!
//! Both `/api/v1/metrics/prometheus` and `/api/v2/metrics/prometheus` are
//! understood. The v2 form is preferred because only it carries
//! `fluentbit_hot_reloaded_times` (reload detection) and it labels every
//! sample with `hostname`; v1 appends a millisecond timestamp to each sample.
//! Shapes were read from real 3.2.10, 4.2.8 and 5.1.1 builds; the recorded
//! payloads live in `tests/fixtures/metrics/`.

use std::collections::BTreeMap;

/// Which part of the pipeline a component belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Input,
    Filter,
    Output,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Input => "input",
            Kind::Filter => "filter",
            Kind::Output => "output",
        }
    }
}

/// Counters of one pipeline instance since it (re)started. Fields that a
/// kind does not have stay zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Records read (input), seen (filter) or delivered (output `proc_records`).
    pub records: u64,
    pub bytes: u64,
    pub errors: u64,
    pub retries: u64,
    pub retries_failed: u64,
    /// Records an output gave up on.
    pub dropped_records: u64,
    pub retried_records: u64,
    /// Records a filter removed; for grep and friends that is the job, not a fault.
    pub filter_dropped: u64,
    pub filter_added: u64,
    /// Records a threaded input lost because its ring buffer stayed full.
    pub ring_buffer_failures: u64,
    /// Input ingestion paused (buffer limit reached). A gauge, not a counter.
    pub paused: bool,
}

impl Counters {
    /// True when any monotonic counter went down: the pipeline restarted.
    pub fn went_back_from(&self, earlier: &Counters) -> bool {
        let now = self.monotonic();
        let then = earlier.monotonic();
        now.iter().zip(then.iter()).any(|(n, t)| n < t)
    }

    fn monotonic(&self) -> [u64; 10] {
        [
            self.records,
            self.bytes,
            self.errors,
            self.retries,
            self.retries_failed,
            self.dropped_records,
            self.retried_records,
            self.filter_dropped,
            self.filter_added,
            self.ring_buffer_failures,
        ]
    }

    /// `self - earlier`, field by field; callers check for resets first.
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            records: self.records.saturating_sub(earlier.records),
            bytes: self.bytes.saturating_sub(earlier.bytes),
            errors: self.errors.saturating_sub(earlier.errors),
            retries: self.retries.saturating_sub(earlier.retries),
            retries_failed: self.retries_failed.saturating_sub(earlier.retries_failed),
            dropped_records: self.dropped_records.saturating_sub(earlier.dropped_records),
            retried_records: self.retried_records.saturating_sub(earlier.retried_records),
            filter_dropped: self.filter_dropped.saturating_sub(earlier.filter_dropped),
            filter_added: self.filter_added.saturating_sub(earlier.filter_added),
            ring_buffer_failures: self
                .ring_buffer_failures
                .saturating_sub(earlier.ring_buffer_failures),
            paused: self.paused,
        }
    }
}

/// Everything we use from one metrics payload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// Keyed `kind:instance`, e.g. `output:http.0`.
    pub components: BTreeMap<String, (Kind, Counters)>,
    /// Seconds since the pipeline started; it restarts at a hot reload.
    pub uptime_secs: Option<u64>,
    /// `fluentbit_hot_reloaded_times` (v2 only).
    pub reload_count: Option<u64>,
    /// From `fluentbit_build_info{version=...}`.
    pub version: Option<String>,
    pub process_start_secs: Option<u64>,
}

impl Metrics {
    pub fn component(&self, key: &str) -> Option<&Counters> {
        self.components.get(key).map(|(_, c)| c)
    }
}

pub fn component_key(kind: Kind, name: &str) -> String {
    format!("{}:{}", kind.as_str(), name)
}

/// One sample line: `name{labels} value [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PromSample<'a> {
    pub name: &'a str,
    pub labels: Vec<(&'a str, String)>,
    pub value: f64,
}

impl PromSample<'_> {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses one exposition-format line; comments and malformed lines give None.
pub fn parse_line(line: &str) -> Option<PromSample<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty() {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(body)?;
        labels = parsed;
        rest = after;
    }
    let value_text = rest.split_whitespace().next()?;
    let value = match value_text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(PromSample {
        name,
        labels,
        value,
    })
}

/// Label pairs up to the closing brace, with `\"`, `\\` and `\n` escapes.
fn parse_labels(mut s: &str) -> Option<(Vec<(&str, String)>, &str)> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start_matches([' ', ',']);
        if let Some(after) = s.strip_prefix('}') {
            return Some((out, after));
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim();
        s = s[eq + 1..].trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        out.push((key, value));
        s = &s[end + 1..];
    }
}

/// Stores one metric's value in its field.
type Setter = fn(&mut Counters, u64);

/// What a metric name contributes to a component.
fn field(name: &str) -> Option<(Kind, Setter)> {
    let f: (Kind, Setter) = match name {
        "fluentbit_input_records_total" => (Kind::Input, |c, v| c.records = v),
        "fluentbit_input_bytes_total" => (Kind::Input, |c, v| c.bytes = v),
        "fluentbit_input_ring_buffer_retry_failures_total" => {
            (Kind::Input, |c, v| c.ring_buffer_failures = v)
        }
        "fluentbit_input_ingestion_paused" => (Kind::Input, |c, v| c.paused = v > 0),
        "fluentbit_filter_records_total" => (Kind::Filter, |c, v| c.records = v),
        "fluentbit_filter_bytes_total" => (Kind::Filter, |c, v| c.bytes = v),
        "fluentbit_filter_drop_records_total" => (Kind::Filter, |c, v| c.filter_dropped = v),
        "fluentbit_filter_add_records_total" => (Kind::Filter, |c, v| c.filter_added = v),
        "fluentbit_output_proc_records_total" => (Kind::Output, |c, v| c.records = v),
        "fluentbit_output_proc_bytes_total" => (Kind::Output, |c, v| c.bytes = v),
        "fluentbit_output_errors_total" => (Kind::Output, |c, v| c.errors = v),
        "fluentbit_output_retries_total" => (Kind::Output, |c, v| c.retries = v),
        "fluentbit_output_retries_failed_total" => (Kind::Output, |c, v| c.retries_failed = v),
        "fluentbit_output_dropped_records_total" => (Kind::Output, |c, v| c.dropped_records = v),
        "fluentbit_output_retried_records_total" => (Kind::Output, |c, v| c.retried_records = v),
        _ => return None,
    };
    Some(f)
}

fn as_count(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 {
        v as u64
    } else {
        0
    }
}

/// Reads a Prometheus payload from either API version.
pub fn parse(text: &str) -> Metrics {
    let mut m = Metrics::default();
    for s in text.lines().filter_map(parse_line) {
        if let Some((kind, set)) = field(s.name) {
            let Some(name) = s.label("name") else {
                continue;
            };
            let entry = m
                .components
                .entry(component_key(kind, name))
                .or_insert((kind, Counters::default()));
            set(&mut entry.1, as_count(s.value));
            continue;
        }
        match s.name {
            "fluentbit_uptime" => m.uptime_secs = Some(as_count(s.value)),
            "fluentbit_hot_reloaded_times" => m.reload_count = Some(as_count(s.value)),
            "fluentbit_build_info" => m.version = s.label("version").map(str::to_string),
            "fluentbit_process_start_time_seconds" | "process_start_time_seconds" => {
                m.process_start_secs = Some(as_count(s.value))
            }
            _ => {}
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_line_with_timestamp_and_v2_line_with_hostname() {
        let a = parse_line(r#"fluentbit_output_retries_total{name="http.0"} 17 1795627384623"#)
            .unwrap();
        assert_eq!(
            (a.name, a.label("name"), a.value),
            ("fluentbit_output_retries_total", Some("http.0"), 17.0)
        );
        let b = parse_line(
            r#"fluentbit_build_info{hostname="vm",version="5.1.1",os="linux"} 1795627366"#,
        )
        .unwrap();
        assert_eq!(b.label("version"), Some("5.1.1"));
        assert_eq!(b.label("os"), Some("linux"));
    }

    #[test]
    fn escaped_label_values_and_odd_lines() {
        let s = parse_line(r#"x{name="a\"b\\c",le="+Inf"} +Inf"#).unwrap();
        assert_eq!(s.label("name"), Some(r#"a"b\c"#));
        assert!(s.value.is_infinite());
        assert_eq!(parse_line("# HELP x y"), None);
        assert_eq!(parse_line("x{name=\"unterminated} 1"), None);
        assert_eq!(parse_line("x notanumber"), None);
        assert_eq!(parse_line("fluentbit_uptime 18").unwrap().value, 18.0);
    }

    #[test]
    fn counters_by_component() {
        let m = parse(
            "fluentbit_input_records_total{name=\"dummy.0\"} 88\n\
             fluentbit_output_retries_failed_total{name=\"http.0\"} 8\n\
             fluentbit_output_proc_records_total{name=\"http.0\"} 3\n\
             fluentbit_filter_drop_records_total{name=\"grep.0\"} 2\n\
             fluentbit_input_ingestion_paused{name=\"dummy.0\"} 1\n\
             fluentbit_hot_reloaded_times{hostname=\"vm\"} 2\n\
             fluentbit_uptime{hostname=\"vm\"} 17\n",
        );
        assert_eq!(m.component("input:dummy.0").unwrap().records, 88);
        assert!(m.component("input:dummy.0").unwrap().paused);
        assert_eq!(m.component("output:http.0").unwrap().retries_failed, 8);
        assert_eq!(m.component("output:http.0").unwrap().records, 3);
        assert_eq!(m.component("filter:grep.0").unwrap().filter_dropped, 2);
        assert_eq!((m.reload_count, m.uptime_secs), (Some(2), Some(17)));
    }

    #[test]
    fn going_back_is_detected() {
        let a = Counters {
            retries: 5,
            ..Default::default()
        };
        let b = Counters {
            retries: 1,
            records: 9,
            ..Default::default()
        };
        assert!(b.went_back_from(&a));
        assert!(!a.went_back_from(&Counters::default()));
        assert_eq!(
            a.since(&Counters {
                retries: 2,
                ..Default::default()
            })
            .retries,
            3
        );
    }
}
