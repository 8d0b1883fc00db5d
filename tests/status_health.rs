//! Health from recorded Fluent Bit payloads (3.2.10, 4.2.8, 5.1.1) and from
//! synthetic sample sequences: failures, recovery, resets, reporting rules.
//!
//! The payloads in tests/fixtures/metrics/<version>/ were recorded from the
//! real binaries with tests/fixtures/metrics/record.sh: a dummy input, a
//! grep filter, an http output pointed at a closed loopback port
//! (Retry_Limit 1) and a null output. Phases: `early` (3 s in), `failing`
//! (15 s in), `after_reload` (4 s after SIGHUP) and `recovered` (16 s after a
//! listener opened on the port).

use std::time::{Duration, Instant};

use fluent_bit_opamp::proto::ComponentHealth;
use fluent_bit_opamp::status::fluentbit_http::{health_from_answer, version_from_root, FbHealth};
use fluent_bit_opamp::status::health::{HealthPolicy, HealthTracker, Pipeline, Sample};
use fluent_bit_opamp::status::metrics::{self, Metrics};
use fluent_bit_opamp::status::process::ProcessStats;

const VERSIONS: &[&str] = &["3.2.10", "4.2.8", "5.1.1"];
const COMPONENTS: &[&str] = &[
    "input:dummy.0",
    "filter:grep.0",
    "output:http.0",
    "output:null.1",
];

fn fixture(version: &str, file: &str) -> String {
    let p = format!(
        "{}/tests/fixtures/metrics/{version}/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn fb_health(version: &str, phase: &str) -> FbHealth {
    // Recorded bodies only; the status code follows from the body.
    let body = fixture(version, &format!("{phase}.health.txt"));
    let status = if body.trim() == "error" { 500 } else { 200 };
    health_from_answer(status, &body)
}

fn policy() -> HealthPolicy {
    HealthPolicy {
        window: Duration::from_secs(30),
        min_interval: Duration::from_secs(60),
        max_failures: 0,
        load_change: 0.25,
        cpus: 2,
    }
}

fn sample(at: Instant, metrics: Metrics, health: FbHealth) -> Sample {
    Sample {
        at,
        unix_nano: 1_800_000_000_000_000_000,
        pipeline: Pipeline::Metrics(metrics),
        fluent_bit_health: health,
        process: None,
    }
}

fn component<'a>(h: &'a ComponentHealth, key: &str) -> &'a ComponentHealth {
    h.component_health_map
        .get(key)
        .unwrap_or_else(|| panic!("{key} missing from {:?}", h.component_health_map.keys()))
}

fn unhealthy(h: &ComponentHealth) -> Vec<&str> {
    h.component_health_map
        .iter()
        .filter(|(_, c)| !c.healthy)
        .map(|(k, _)| k.as_str())
        .collect()
}

#[test]
fn recorded_payloads_parse_for_every_version() {
    for v in VERSIONS {
        assert_eq!(
            version_from_root(&fixture(v, "root.json")).as_deref(),
            Some(*v)
        );
        for phase in ["early", "failing", "after_reload", "recovered"] {
            for api in ["v1", "v2"] {
                let m = metrics::parse(&fixture(v, &format!("{phase}.{api}.prom")));
                for c in COMPONENTS {
                    assert!(
                        m.components.contains_key(*c),
                        "{v} {phase} {api}: {c} missing"
                    );
                }
                assert!(m.uptime_secs.is_some(), "{v} {phase} {api}");
                assert_eq!(
                    m.version.as_deref(),
                    Some(*v),
                    "{v} {phase} {api}: build info"
                );
                if api == "v2" {
                    let want = if matches!(phase, "early" | "failing") {
                        0
                    } else {
                        1
                    };
                    assert_eq!(m.reload_count, Some(want), "{v} {phase}");
                } else {
                    assert_eq!(m.reload_count, None, "v1 has no reload counter");
                }
            }
        }
        let failing = metrics::parse(&fixture(v, "failing.v2.prom"));
        let http = failing.component("output:http.0").unwrap();
        assert!(
            http.retries_failed > 0 && http.dropped_records > 0 && http.records == 0,
            "{v}: {http:?}"
        );
        assert!(failing.component("output:null.1").unwrap().records > 0);
        assert_eq!(fb_health(v, "failing"), FbHealth::Error);
        assert_eq!(fb_health(v, "recovered"), FbHealth::Ok);
    }
}

/// The recorded life of a failing output, through a reload and recovery.
fn replay(version: &str, api: &str) {
    let ctx = format!("{version} {api}");
    let t0 = Instant::now();
    let load = |phase: &str| metrics::parse(&fixture(version, &format!("{phase}.{api}.prom")));
    let mut t = HealthTracker::new(policy());

    let first = t
        .observe(&sample(t0, load("early"), fb_health(version, "early")))
        .expect("first report");
    assert!(first.healthy, "{ctx}: nothing judged yet: {first:?}");

    let failing = t
        .observe(&sample(
            t0 + Duration::from_secs(12),
            load("failing"),
            fb_health(version, "failing"),
        ))
        .unwrap_or_else(|| panic!("{ctx}: turning unhealthy must be reported"));
    assert!(!failing.healthy, "{ctx}");
    assert_eq!(unhealthy(&failing), vec!["output:http.0"], "{ctx}");
    let http = component(&failing, "output:http.0");
    assert!(
        http.last_error.starts_with("output http.0: ")
            && http.last_error.contains("failed retries")
            && http.last_error.contains("records dropped")
            && http.last_error.contains("in the last 12s"),
        "{ctx}: {}",
        http.last_error
    );
    assert!(
        failing.last_error.contains("output http.0"),
        "{ctx}: {}",
        failing.last_error
    );
    assert!(
        failing.last_error.contains("health check"),
        "{ctx}: Fluent Bit's own verdict: {}",
        failing.last_error
    );
    assert!(
        component(&failing, "output:null.1")
            .status
            .contains("records/s delivered"),
        "{ctx}"
    );

    // SIGHUP: every counter restarts. Nothing may read as a failure.
    let reloaded = t.observe(&sample(
        t0 + Duration::from_secs(16),
        load("after_reload"),
        fb_health(version, "after_reload"),
    ));
    assert_eq!(
        reloaded, None,
        "{ctx}: a reset sample is a baseline, not news"
    );
    let current = t.current().unwrap();
    assert!(
        unhealthy(current).is_empty(),
        "{ctx}: reset read as failure: {current:?}"
    );

    let recovered = t
        .observe(&sample(
            t0 + Duration::from_secs(32),
            load("recovered"),
            fb_health(version, "recovered"),
        ))
        .unwrap_or_else(|| panic!("{ctx}: turning healthy must be reported"));
    assert!(recovered.healthy, "{ctx}: {}", recovered.last_error);
    let http = component(&recovered, "output:http.0");
    assert!(
        http.healthy && http.last_error.is_empty(),
        "{ctx}: {http:?}"
    );
    assert!(
        http.status.contains("records/s delivered"),
        "{ctx}: {}",
        http.status
    );
}

#[test]
fn recorded_failure_reload_and_recovery_v2() {
    for v in VERSIONS {
        replay(v, "v2");
    }
}

#[test]
fn recorded_failure_reload_and_recovery_v1_without_reload_counter() {
    // v1 lacks fluentbit_hot_reloaded_times: the reset is seen from
    // counters and uptime going back.
    for v in VERSIONS {
        replay(v, "v1");
    }
}

/// Synthetic payload for one dummy input and one http output.
#[derive(Clone, Copy, Default)]
struct Fig {
    input: u64,
    delivered: u64,
    errors: u64,
    retries: u64,
    failed: u64,
    dropped: u64,
    reloads: u64,
    uptime: u64,
}

fn prom(f: Fig) -> Metrics {
    metrics::parse(&format!(
        "fluentbit_uptime{{hostname=\"h\"}} {}\n\
         fluentbit_hot_reloaded_times{{hostname=\"h\"}} {}\n\
         fluentbit_input_records_total{{name=\"dummy.0\"}} {}\n\
         fluentbit_output_proc_records_total{{name=\"http.0\"}} {}\n\
         fluentbit_output_errors_total{{name=\"http.0\"}} {}\n\
         fluentbit_output_retries_total{{name=\"http.0\"}} {}\n\
         fluentbit_output_retries_failed_total{{name=\"http.0\"}} {}\n\
         fluentbit_output_dropped_records_total{{name=\"http.0\"}} {}\n",
        f.uptime, f.reloads, f.input, f.delivered, f.errors, f.retries, f.failed, f.dropped
    ))
}

/// Feeds `figs` 10 s apart; returns every report sent, with its index.
fn run(t: &mut HealthTracker, t0: Instant, figs: &[Fig]) -> Vec<(usize, ComponentHealth)> {
    figs.iter()
        .enumerate()
        .filter_map(|(i, f)| {
            t.observe(&sample(
                t0 + Duration::from_secs(10 * i as u64),
                prom(*f),
                FbHealth::Off,
            ))
            .map(|h| (i, h))
        })
        .collect()
}

fn healthy_at(i: u64) -> Fig {
    Fig {
        input: 50 * i,
        delivered: 50 * i,
        uptime: 10 * i + 5,
        ..Default::default()
    }
}

#[test]
fn closed_port_turns_unhealthy_within_one_window_then_healthy_again() {
    let mut figs: Vec<Fig> = (0..3).map(healthy_at).collect();
    // Port closes at sample 3: errors and retries climb, nothing delivered.
    let stuck = figs[2].delivered;
    for i in 3..6 {
        figs.push(Fig {
            errors: 4 * (i - 2),
            retries: 6 * (i - 2),
            delivered: stuck,
            ..healthy_at(i)
        });
    }
    // Port opens at sample 6: deliveries resume, failure counters freeze.
    let (e, r) = (figs[5].errors, figs[5].retries);
    for i in 6..12 {
        figs.push(Fig {
            errors: e,
            retries: r,
            delivered: stuck + 60 * (i - 5),
            ..healthy_at(i)
        });
    }
    let mut t = HealthTracker::new(policy());
    let reports = run(&mut t, Instant::now(), &figs);
    let verdicts: Vec<(usize, bool)> = reports.iter().map(|(i, h)| (*i, h.healthy)).collect();
    // The first sample after the failure starts is reported at once;
    // healthy again at sample 8, the first whose 30 s window (samples 5..8)
    // holds no new error.
    assert_eq!(
        verdicts,
        vec![(0, true), (3, false), (8, true)],
        "{reports:#?}"
    );
    let bad = &reports[1].1;
    let http = component(bad, "output:http.0");
    assert_eq!(
        http.last_error,
        "output http.0: 4 errors in the last 30s; records are being retried"
    );
    assert_eq!(bad.last_error, http.last_error);
    assert!(
        bad.status
            .contains("1 of 2 pipeline components unhealthy: output:http.0"),
        "{}",
        bad.status
    );
}

#[test]
fn retrying_without_delivering_is_unhealthy() {
    // Deliveries never start while retries climb; unhealthy once a whole
    // window (30 s) has passed without one delivery.
    let mut figs: Vec<Fig> = (0..2).map(healthy_at).collect();
    // Sample 1 retried and delivered nothing, but over 10 s only: too
    // short to call.
    figs[1].delivered = 0;
    figs[1].retries = 2;
    for i in 2..6 {
        figs.push(Fig {
            retries: 5 * (i - 1),
            delivered: 0,
            ..healthy_at(i)
        });
    }
    let mut t = HealthTracker::new(policy());
    let reports = run(&mut t, Instant::now(), &figs);
    let verdicts: Vec<(usize, bool)> = reports.iter().map(|(i, h)| (*i, h.healthy)).collect();
    assert_eq!(verdicts, vec![(0, true), (3, false)], "{reports:#?}");
    let bad = &reports[1].1;
    assert_eq!(
        component(bad, "output:http.0").last_error,
        "output http.0: 10 retries and nothing delivered in the last 30s; records are waiting for retry"
    );
}

#[test]
fn a_reload_never_reads_as_a_failure() {
    // Before the reload the output had failed a lot but is steady (healthy);
    // the new pipeline starts from zero. Three ways a naive diff goes wrong:
    // wrapping below zero, diffing against the old pipeline when the new
    // one already passed the old totals, and judging the reset sample.
    let old = Fig {
        errors: 40,
        failed: 9,
        dropped: 70,
        retries: 90,
        ..healthy_at(3)
    };
    let mut figs = vec![
        Fig {
            input: 0,
            delivered: 0,
            ..old
        },
        old,
        Fig {
            input: 300,
            delivered: 300,
            ..old
        },
    ];
    // Reload: counters and uptime restart, the reload counter moves.
    figs.push(Fig {
        reloads: 1,
        uptime: 2,
        input: 10,
        delivered: 10,
        ..Default::default()
    });
    figs.push(Fig {
        reloads: 1,
        uptime: 12,
        input: 60,
        delivered: 60,
        ..Default::default()
    });
    // A second reload sampled late: new totals are already above the old.
    figs.push(Fig {
        reloads: 2,
        uptime: 30,
        input: 500,
        delivered: 500,
        errors: 41,
        failed: 10,
        dropped: 71,
        retries: 91,
    });
    figs.push(Fig {
        reloads: 2,
        uptime: 40,
        input: 550,
        delivered: 550,
        errors: 41,
        failed: 10,
        dropped: 71,
        retries: 91,
    });
    let mut t = HealthTracker::new(policy());
    let t0 = Instant::now();
    for (i, f) in figs.iter().enumerate() {
        let out = t.observe(&sample(
            t0 + Duration::from_secs(10 * i as u64),
            prom(*f),
            FbHealth::Ok,
        ));
        let current = t.current().unwrap();
        assert!(current.healthy, "sample {i}: {}", current.last_error);
        if let Some(h) = out {
            assert!(h.healthy, "sample {i} reported unhealthy: {}", h.last_error);
        }
    }
}

#[test]
fn counters_going_back_without_a_reload_counter_are_a_reset() {
    let mut t = HealthTracker::new(policy());
    let t0 = Instant::now();
    let no_counter = |f: Fig| {
        let mut m = prom(f);
        m.reload_count = None;
        m.uptime_secs = None;
        m
    };
    let steady = Fig {
        errors: 100,
        ..healthy_at(5)
    };
    t.observe(&sample(t0, no_counter(steady), FbHealth::Off));
    t.observe(&sample(
        t0 + Duration::from_secs(10),
        no_counter(Fig {
            input: 300,
            delivered: 300,
            ..steady
        }),
        FbHealth::Off,
    ));
    // Only the input went back; the output's errors rose (new pipeline had
    // errors of its own? no: a diff across the reset would invent them).
    let reset = Fig {
        input: 5,
        delivered: 5,
        errors: 101,
        ..steady
    };
    t.observe(&sample(
        t0 + Duration::from_secs(20),
        no_counter(reset),
        FbHealth::Off,
    ));
    assert!(t.current().unwrap().healthy, "{:?}", t.current());
    assert_eq!(
        t.evidence_span(),
        Duration::ZERO,
        "a reset starts a new window"
    );
}

#[test]
fn a_reload_we_caused_resets_even_if_nothing_went_back() {
    let mut t = HealthTracker::new(policy());
    let t0 = Instant::now();
    let mut m = prom(healthy_at(1));
    m.reload_count = None;
    m.uptime_secs = None;
    t.observe(&sample(t0, m.clone(), FbHealth::Off));
    t.reset_counters();
    let mut later = prom(Fig {
        errors: 3,
        ..healthy_at(2)
    });
    later.reload_count = None;
    later.uptime_secs = None;
    assert_eq!(
        t.observe(&sample(t0 + Duration::from_secs(10), later, FbHealth::Off)),
        None
    );
    assert!(t.current().unwrap().healthy);
}

/// Rate 5/s for samples 0..=12, then `per_sample` more records each sample.
fn rate_change(per_sample: u64, n: u64) -> Vec<Fig> {
    let mut figs: Vec<Fig> = (0..=12).map(healthy_at).collect();
    for i in 13..n {
        let prev = figs[i as usize - 1];
        let d = prev.delivered + per_sample;
        figs.push(Fig {
            input: d,
            delivered: d,
            ..healthy_at(i)
        });
    }
    figs
}

#[test]
fn reports_only_on_change_with_min_interval_and_thresholds() {
    let t0 = Instant::now();
    // Steady healthy samples 10 s apart: the first report, then the first
    // rates once min_interval (60 s) has passed, then silence.
    let reports = run(&mut HealthTracker::new(policy()), t0, &rate_change(50, 25));
    let when: Vec<usize> = reports.iter().map(|(i, _)| *i).collect();
    assert_eq!(when, vec![0, 6], "{reports:#?}");
    assert!(
        reports[1]
            .1
            .status
            .contains("5.0 records/s in, 5.0 records/s out"),
        "{}",
        reports[1].1.status
    );

    // A 10% wobble stays under the 25% threshold.
    let when: Vec<usize> = run(&mut HealthTracker::new(policy()), t0, &rate_change(55, 25))
        .iter()
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(when, vec![0, 6]);

    // Tripling: the window rate passes the threshold at sample 13 (8.3/s,
    // 70 s after the last report: sent); it keeps climbing to 15/s but the
    // next report waits for min_interval (sample 19); then silence.
    let reports = run(&mut HealthTracker::new(policy()), t0, &rate_change(150, 32));
    let when: Vec<usize> = reports.iter().map(|(i, _)| *i).collect();
    assert_eq!(when, vec![0, 6, 13, 19], "{reports:#?}");
    assert!(
        reports[3].1.status.contains("15.0 records/s out"),
        "{}",
        reports[3].1.status
    );
}

#[test]
fn http_server_off_reports_process_load_and_how_to_enable() {
    let mut t = HealthTracker::new(policy());
    let t0 = Instant::now();
    let why = "Fluent Bit HTTP server unreachable at http://127.0.0.1:2020 (connection refused): enable it with `HTTP_Server On`".to_string();
    let s = |at: Instant, ticks: u64| Sample {
        at,
        unix_nano: 1,
        pipeline: Pipeline::Unavailable(why.clone()),
        fluent_bit_health: FbHealth::Off,
        process: Some(ProcessStats {
            cpu_ticks: ticks,
            rss_bytes: 30 << 20,
            start_unix_nano: Some(42),
        }),
    };
    let first = t.observe(&s(t0, 1000)).unwrap();
    assert!(first.healthy, "unknown is not unhealthy");
    assert!(
        first.status.contains("HTTP_Server On") && first.status.contains("RSS 30.0 MiB"),
        "{}",
        first.status
    );
    assert_eq!(first.start_time_unix_nano, 42);
    assert!(first.component_health_map.is_empty());
    let second = t
        .observe(&s(t0 + Duration::from_secs(10), 1050))
        .or_else(|| t.current().cloned())
        .unwrap();
    assert!(
        second.status.contains("CPU 5.0% of one core"),
        "{}",
        second.status
    );
    let util = second
        .attributes
        .iter()
        .find(|kv| kv.key == "process.cpu.utilization")
        .expect("cpu attribute");
    assert_eq!(
        format!("{:?}", util.value.as_ref().unwrap().value),
        "Some(DoubleValue(0.025))",
        "5% of one of 2 cores"
    );
}

#[test]
fn filter_drops_are_reported_not_judged_and_input_losses_are_judged() {
    let text = |dropped: u64, ring: u64, paused: u8| {
        metrics::parse(&format!(
            "fluentbit_filter_records_total{{name=\"grep.0\"}} {}\n\
             fluentbit_filter_drop_records_total{{name=\"grep.0\"}} {dropped}\n\
             fluentbit_input_records_total{{name=\"tail.0\"}} {}\n\
             fluentbit_input_ring_buffer_retry_failures_total{{name=\"tail.0\"}} {ring}\n\
             fluentbit_input_ingestion_paused{{name=\"tail.0\"}} {paused}\n",
            dropped * 2,
            dropped * 3
        ))
    };
    let t0 = Instant::now();
    let mut t = HealthTracker::new(policy());
    t.observe(&sample(t0, text(10, 0, 0), FbHealth::Off));
    t.observe(&sample(
        t0 + Duration::from_secs(10),
        text(500, 0, 0),
        FbHealth::Off,
    ));
    let h = t.current().unwrap();
    assert!(h.healthy, "{}", h.last_error);
    assert!(
        component(h, "filter:grep.0")
            .status
            .contains("490 records dropped by the filter"),
        "{h:?}"
    );

    t.observe(&sample(
        t0 + Duration::from_secs(20),
        text(600, 7, 0),
        FbHealth::Off,
    ));
    let h = t.current().unwrap();
    assert_eq!(unhealthy(h), vec!["input:tail.0"]);
    assert!(
        component(h, "input:tail.0")
            .last_error
            .contains("7 records lost"),
        "{h:?}"
    );

    // Paused through a whole window (no losses) is unhealthy too.
    let mut t = HealthTracker::new(policy());
    for i in 0..4u64 {
        t.observe(&sample(
            t0 + Duration::from_secs(10 * i),
            text(10 + i, 0, 1),
            FbHealth::Off,
        ));
    }
    let h = t.current().unwrap();
    assert!(
        component(h, "input:tail.0")
            .last_error
            .contains("ingestion paused"),
        "{h:?}"
    );
}

#[test]
fn fluent_bit_health_check_alone_makes_the_agent_unhealthy() {
    let t0 = Instant::now();
    let mut t = HealthTracker::new(policy());
    t.observe(&sample(t0, prom(healthy_at(1)), FbHealth::Ok));
    let h = t
        .observe(&sample(
            t0 + Duration::from_secs(10),
            prom(healthy_at(2)),
            FbHealth::Error,
        ))
        .unwrap();
    assert!(!h.healthy);
    assert!(unhealthy(&h).is_empty());
    assert!(h.last_error.contains("HC_Errors_Count"), "{}", h.last_error);
}
