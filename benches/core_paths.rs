//! Micro-benchmarks of the protocol core's hot paths: encoding a heartbeat,
//! building a full status, and the status diff ("Agent Status Compression")
//! that decides what a message carries.
//!
//! A plain binary (`harness = false`) timed with `Instant` and `black_box`,
//! so CI needs no benchmark framework. `cargo bench --bench core_paths`
//! measures; `cargo test` runs every case once as a check. Options after
//! `--`: `--quick` (short budget, for the smoke run) and `--json FILE`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use fluent_bit_opamp::core::{Capabilities, Client, ClientConfig, Transport};
use fluent_bit_opamp::proto::{
    any_value, AgentConfigFile, AgentConfigMap, AgentDescription, AnyValue, ComponentHealth,
    EffectiveConfig, KeyValue, ServerToAgent,
};
use prost::Message;

const HEARTBEAT: Duration = Duration::from_secs(1);

fn kv(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        }),
    }
}

/// The description the plugin reports (same keys as src/agent/runtime.rs).
fn description() -> AgentDescription {
    AgentDescription {
        identifying_attributes: vec![
            kv("service.name", "io.fluentbit.fluent-bit"),
            kv(
                "service.instance.id",
                "0192f7a4-5c1e-7d3a-9b2f-1c2d3e4f5a6b",
            ),
            kv("service.version", "5.1.1"),
        ],
        non_identifying_attributes: vec![
            kv("process.pid", "12345"),
            kv("fluentbit.opamp.plugin.version", "0.1.0"),
            kv("os.type", "linux"),
            kv("host.name", "bench-host.example.internal"),
            kv("host.arch", "amd64"),
        ],
    }
}

fn health(healthy: bool) -> ComponentHealth {
    ComponentHealth {
        healthy,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        status: if healthy { "running" } else { "degraded" }.into(),
        status_time_unix_nano: 1_700_000_001_000_000_000,
        ..Default::default()
    }
}

/// A classic config of about `size` bytes.
fn effective_config(size: usize) -> EffectiveConfig {
    let mut body =
        String::from("[SERVICE]\n    Flush 1\n    Hot_Reload On\n\n[INPUT]\n    Name dummy\n\n");
    let mut i = 0;
    while body.len() < size {
        body.push_str(&format!(
            "[FILTER]\n    Name modify\n    Match bench.{i}\n    Add team platform-{i}\n\n"
        ));
        i += 1;
    }
    body.truncate(size);
    let mut config_map = BTreeMap::new();
    config_map.insert(
        "fluent-bit.conf".to_string(),
        AgentConfigFile {
            body: body.into_bytes(),
            content_type: "text/x-fluent-bit".into(),
        },
    );
    EffectiveConfig {
        config_map: Some(AgentConfigMap { config_map }),
    }
}

/// A WebSocket client, connected, whose first full status was sent.
fn connected_client(config_size: usize, t0: Instant) -> Client {
    let mut cfg = ClientConfig::new([7; 16], Transport::WebSocket);
    cfg.capabilities = Capabilities {
        reports_heartbeat: true,
        reports_health: true,
        reports_effective_config: true,
        ..Default::default()
    };
    cfg.heartbeat_interval = HEARTBEAT;
    let mut c = Client::new(cfg, t0);
    c.set_agent_description(description());
    c.set_health(health(true));
    c.set_effective_config(effective_config(config_size));
    c.on_connected(t0);
    let first = c.poll_transmit(t0).expect("first full status");
    black_box(c.encode(&first));
    c.on_sent(t0);
    c
}

struct Result {
    name: &'static str,
    ns_per_iter: f64,
    min_ns: f64,
    iters: u64,
    bytes: usize,
}

/// Runs `f` (one iteration, returning the bytes it produced) in batches for
/// about `budget`; reports the median and best batch.
fn measure(name: &'static str, budget: Duration, mut f: impl FnMut() -> usize) -> Result {
    let bytes = f();
    if budget.is_zero() {
        return Result {
            name,
            ns_per_iter: f64::NAN,
            min_ns: f64::NAN,
            iters: 1,
            bytes,
        };
    }
    let mut batch = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..batch {
            black_box(f());
        }
        if t.elapsed() >= Duration::from_millis(5) || batch >= 1 << 30 {
            break;
        }
        batch *= 2;
    }
    let mut per = Vec::new();
    let start = Instant::now();
    let mut iters = 0;
    while start.elapsed() < budget || per.len() < 5 {
        let t = Instant::now();
        for _ in 0..batch {
            black_box(f());
        }
        per.push(t.elapsed().as_nanos() as f64 / batch as f64);
        iters += batch;
    }
    per.sort_by(|a, b| a.total_cmp(b));
    Result {
        name,
        ns_per_iter: per[per.len() / 2],
        min_ns: per[0],
        iters,
        bytes,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench");
    let quick = args.iter().any(|a| a == "--quick");
    let json = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1));
    let budget = match (bench, quick) {
        (false, _) => Duration::ZERO,
        (true, true) => Duration::from_millis(60),
        (true, false) => Duration::from_millis(1500),
    };

    let t0 = Instant::now();
    let mut out = Vec::new();

    // Heartbeat: due every interval; build, encode, settle.
    {
        let mut c = connected_client(512, t0);
        let mut now = t0;
        out.push(measure("heartbeat_encode", budget, || {
            now += HEARTBEAT;
            let msg = c.poll_transmit(now).expect("heartbeat due");
            let bytes = c.encode(&msg);
            c.on_sent(now);
            bytes.len()
        }));
    }

    // Full status (as on every new connection), 0.5 KiB and 64 KiB configs.
    for (name, size) in [
        ("full_status_build_0.5KiB", 512usize),
        ("full_status_build_64KiB", 64 << 10),
    ] {
        let mut c = connected_client(size, t0);
        let now = t0;
        out.push(measure(name, budget, || {
            c.on_connected(now);
            let msg = c.poll_transmit(now).expect("full status");
            let bytes = c.encode(&msg);
            c.on_sent(now);
            bytes.len()
        }));
    }

    // Diff with nothing changed: the compression check finds no part to send
    // (before a heartbeat is due), for a small and a large config.
    for (name, size) in [
        ("status_diff_unchanged_0.5KiB", 512usize),
        ("status_diff_unchanged_64KiB", 64 << 10),
    ] {
        let mut c = connected_client(size, t0);
        out.push(measure(name, budget, || {
            assert!(c.poll_transmit(t0).is_none());
            0
        }));
    }

    // Diff with health changed: only health goes out.
    {
        let mut c = connected_client(64 << 10, t0);
        let (h_ok, h_bad) = (health(true), health(false));
        let mut flip = false;
        out.push(measure("status_diff_health_changed_64KiB", budget, || {
            flip = !flip;
            c.set_health(if flip { h_bad.clone() } else { h_ok.clone() });
            let msg = c.poll_transmit(t0).expect("health changed");
            debug_assert!(msg.effective_config.is_none());
            let bytes = c.encode(&msg);
            c.on_sent(t0);
            bytes.len()
        }));
    }

    // The typical server answer to a heartbeat, decoded and handled.
    {
        let mut c = connected_client(512, t0);
        let reply = {
            let mut b = vec![0u8];
            ServerToAgent {
                instance_uid: vec![7; 16],
                capabilities: 0x7,
                ..Default::default()
            }
            .encode(&mut b)
            .expect("encode");
            b
        };
        out.push(measure("server_reply_receive", budget, || {
            c.receive_bytes(t0, &reply).expect("decodes");
            while c.poll_action().is_some() {}
            reply.len()
        }));
    }

    println!(
        "{:<34} {:>12} {:>12} {:>12} {:>8}",
        "core micro-benchmark", "median ns", "best ns", "iterations", "bytes"
    );
    for r in &out {
        println!(
            "{:<34} {:>12} {:>12} {:>12} {:>8}",
            r.name,
            ns(r.ns_per_iter),
            ns(r.min_ns),
            r.iters,
            r.bytes
        );
    }
    if !bench {
        println!("(checked each case once; `cargo bench --bench core_paths` measures)");
    }
    if let Some(path) = json {
        let items: Vec<String> = out
            .iter()
            .map(|r| {
                format!(
                    "{{\"name\":\"{}\",\"ns_per_iter\":{},\"best_ns\":{},\"iterations\":{},\"bytes\":{}}}",
                    r.name,
                    num(r.ns_per_iter),
                    num(r.min_ns),
                    r.iters,
                    r.bytes
                )
            })
            .collect();
        std::fs::write(path, format!("[{}]\n", items.join(",")))
            .expect("write the micro-benchmark JSON");
    }
}

fn ns(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.0}")
    } else {
        "-".into()
    }
}

fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1}")
    } else {
        "null".into()
    }
}
