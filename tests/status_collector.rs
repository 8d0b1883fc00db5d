//! The collector end to end with a scripted probe: only changes come out,
//! config is re-read on reloads (ours and others'), the version is learned.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fluent_bit_opamp::status::description::{HostFacts, Identity};
use fluent_bit_opamp::status::fluentbit_http::FbHealth;
use fluent_bit_opamp::status::health::HealthPolicy;
use fluent_bit_opamp::status::metrics;
use fluent_bit_opamp::status::{Collector, CollectorConfig, Observation, Probe};

/// Hands out queued observations and records whether the version was asked.
#[derive(Clone, Default)]
struct Script {
    queue: Arc<Mutex<VecDeque<Observation>>>,
    asked_version: Arc<Mutex<Vec<bool>>>,
}

impl Script {
    fn push(&self, o: Observation) {
        self.queue.lock().unwrap().push_back(o);
    }
}

impl Probe for Script {
    fn observe(&mut self, want_version: bool) -> Observation {
        self.asked_version.lock().unwrap().push(want_version);
        self.queue
            .lock()
            .unwrap()
            .pop_front()
            .expect("scripted observation")
    }
}

fn obs(reloads: u64, uptime: u64, delivered: u64, errors: u64) -> Observation {
    let m = metrics::parse(&format!(
        "fluentbit_uptime{{hostname=\"h\"}} {uptime}\n\
         fluentbit_hot_reloaded_times{{hostname=\"h\"}} {reloads}\n\
         fluentbit_build_info{{hostname=\"h\",version=\"5.1.1\",os=\"linux\"}} 1\n\
         fluentbit_output_proc_records_total{{name=\"http.0\"}} {delivered}\n\
         fluentbit_output_errors_total{{name=\"http.0\"}} {errors}\n"
    ));
    Observation {
        metrics: Ok(m),
        fluent_bit_health: FbHealth::Ok,
        version: Some("5.1.1".into()),
        process: None,
    }
}

fn unreachable() -> Observation {
    Observation {
        metrics: Err(
            "Fluent Bit HTTP server unreachable at http://127.0.0.1:1 (connection refused)".into(),
        ),
        fluent_bit_health: FbHealth::Off,
        version: None,
        process: None,
    }
}

struct Dir(PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn setup(name: &str) -> (Dir, Collector, Script) {
    let dir = std::env::temp_dir().join(format!("opamp-collector-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("fluent-bit.conf"),
        "[SERVICE]\n    HTTP_Server On\n@INCLUDE out.conf\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("out.conf"),
        "[OUTPUT]\n    Name http\n    HTTP_Passwd pw-1\n",
    )
    .unwrap();
    let cfg = CollectorConfig {
        identity: Identity {
            service_name: "io.fluentbit.fluent-bit".into(),
            ..Default::default()
        },
        instance_uid: [7; 16],
        http_server: "http://127.0.0.1:1".into(),
        http_off: None,
        http_source: "test",
        bootstrap: Some(dir.join("fluent-bit.conf")),
        args: vec![],
        redact_keys: vec![],
        policy: HealthPolicy {
            cpus: 1,
            ..HealthPolicy::for_interval(Duration::from_secs(10))
        },
    };
    let script = Script::default();
    let facts = HostFacts::from_sources(Some("h"), None, None, "x86_64", 1);
    let c = Collector::with_probe(cfg, facts, Box::new(script.clone()));
    (Dir(dir), c, script)
}

fn body(u: &fluent_bit_opamp::status::StatusUpdate, key: &str) -> String {
    let f = &u
        .effective_config
        .as_ref()
        .unwrap()
        .config_map
        .as_ref()
        .unwrap()
        .config_map[key];
    String::from_utf8(f.body.clone()).unwrap()
}

#[test]
fn first_sample_has_everything_then_only_changes() {
    let (_d, mut c, script) = setup("first");
    let t0 = Instant::now();
    script.push(obs(0, 5, 0, 0));
    let u = c.sample_at(t0, 1);
    assert!(u.description.is_some() && u.health.is_some());
    assert_eq!(
        body(&u, "out.conf"),
        "[OUTPUT]\n    Name http\n    HTTP_Passwd <redacted>\n"
    );
    assert!(body(&u, "fluent-bit.conf").contains("@INCLUDE out.conf"));

    script.push(obs(0, 15, 50, 0));
    let u = c.sample_at(t0 + Duration::from_secs(10), 2);
    assert!(u.is_empty(), "nothing changed: {u:?}");
    assert_eq!(c.fluent_bit_version(), Some("5.1.1"));
    assert_eq!(
        *script.asked_version.lock().unwrap(),
        vec![true, false],
        "version asked until known"
    );
}

#[test]
fn a_reload_seen_in_metrics_rereads_config_and_never_fails_health() {
    let (d, mut c, script) = setup("reload-seen");
    let t0 = Instant::now();
    script.push(obs(0, 5, 0, 7));
    c.sample_at(t0, 1);
    // Someone edits the include and sends SIGHUP.
    std::fs::write(
        d.0.join("out.conf"),
        "[OUTPUT]\n    Name http\n    HTTP_Passwd pw-2\n    Retry_Limit 3\n",
    )
    .unwrap();
    script.push(obs(1, 1, 0, 0));
    let u = c.sample_at(t0 + Duration::from_secs(10), 2);
    assert!(
        body(&u, "out.conf").contains("Retry_Limit 3"),
        "re-read after the reload"
    );
    assert!(!body(&u, "out.conf").contains("pw-2"));
    assert!(c.current_health().unwrap().healthy);
    assert_eq!(c.health_evidence(), Duration::ZERO);

    // Same files after another reload: nothing to send.
    script.push(obs(2, 1, 0, 0));
    let u = c.sample_at(t0 + Duration::from_secs(20), 3);
    assert_eq!(u.effective_config, None);
}

#[test]
fn our_own_reload_rereads_config_even_before_metrics_show_it() {
    let (d, mut c, script) = setup("on-reload");
    let t0 = Instant::now();
    script.push(obs(0, 5, 0, 0));
    c.sample_at(t0, 1);
    std::fs::write(d.0.join("out.conf"), "[OUTPUT]\n    Name null\n").unwrap();
    c.on_reload();
    // The old pipeline is still being sampled (reload count unchanged) and
    // its errors rose meanwhile: the forced baseline keeps that unjudged.
    script.push(obs(0, 15, 0, 9));
    let u = c.sample_at(t0 + Duration::from_secs(10), 2);
    assert_eq!(body(&u, "out.conf"), "[OUTPUT]\n    Name null\n");
    assert!(c.current_health().unwrap().healthy);
}

#[test]
fn unreachable_server_then_reachable() {
    let (_d, mut c, script) = setup("unreachable");
    let t0 = Instant::now();
    script.push(unreachable());
    let u = c.sample_at(t0, 1);
    let h = u.health.expect("first health");
    assert!(h.healthy && h.status.contains("unreachable"), "{h:?}");
    let d = u.description.expect("description without a version");
    assert!(!d
        .identifying_attributes
        .iter()
        .any(|kv| kv.key == "service.version"));

    script.push(obs(0, 5, 0, 0));
    let u = c.sample_at(t0 + Duration::from_secs(10), 2);
    let d = u.description.expect("version learned: description re-sent");
    assert!(d
        .identifying_attributes
        .iter()
        .any(|kv| kv.key == "service.version"));
    assert!(u.health.is_some(), "pipeline became known");
}
