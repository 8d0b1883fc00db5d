//! The agent through a chaos proxy (tests/support/chaos.rs): drops, delays,
//! truncations, duplicates, corruption and resets from a fixed seed, and a
//! server that keeps forgetting the agent. Throughout, and after the chaos
//! stops, the invariants of issue 12 must hold:
//!
//! - the agent never crashes and a host callback never waits (every
//!   control message goes through at once; shutdown is bounded);
//! - sequence numbers only grow, by one within a connection;
//! - the first message of every WebSocket connection carries the full
//!   state, and so does the answer to a server that forgot the agent;
//! - the reported status is right again soon after the chaos stops;
//! - file descriptors and memory stay bounded.
//!
//! `FBO_CHAOS_SECS` (default 12) and `FBO_CHAOS_SEEDS` (default `1`) set
//! the run; the long run in the issue note used 1800 s and several seeds.

mod support;

use std::time::{Duration, Instant};

use fluent_bit_opamp::agent::Control;
use fluent_bit_opamp::proto::AgentToServer;
use support::agent::Agent;
use support::chaos::ChaosProxy;
use support::{AutoReply, TestServer};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn is_full(m: &AgentToServer) -> bool {
    m.agent_description.is_some() && m.health.is_some()
}

/// The invariants, checked as messages are drained from the server so a
/// long run keeps nothing but counters: sequence numbers grow across
/// connections and by one within each; each WebSocket connection opens
/// with the full state.
#[derive(Default)]
struct Checker {
    last: Option<u64>,
    /// Per WebSocket connection: the last sequence number seen.
    conns: std::collections::BTreeMap<usize, u64>,
    messages: usize,
    last_problem: Option<String>,
    full_since_mark: bool,
}

impl Checker {
    fn feed(&mut self, server: &TestServer) {
        let (ws, http) = server.drain_messages();
        for (conn, msgs) in ws {
            for m in msgs {
                match self.conns.get(&conn) {
                    None => assert!(is_full(&m), "connection {conn} opened without full state"),
                    Some(prev) => {
                        assert_eq!(m.sequence_num, prev + 1, "a gap inside connection {conn}")
                    }
                }
                self.conns.insert(conn, m.sequence_num);
                self.one(&m);
            }
        }
        for m in http {
            self.one(&m);
        }
    }

    fn one(&mut self, m: &AgentToServer) {
        if let Some(l) = self.last {
            assert!(
                m.sequence_num > l,
                "sequence went back: {l} then {}",
                m.sequence_num
            );
        }
        self.last = Some(m.sequence_num);
        self.messages += 1;
        if let Some(h) = &m.health {
            self.last_problem = Some(h.last_error.clone());
        }
        self.full_since_mark |= is_full(m);
    }

    /// Feeds until `done` holds, at most `within`.
    fn until(
        &mut self,
        server: &TestServer,
        what: &str,
        within: Duration,
        done: impl Fn(&Checker) -> bool,
    ) {
        let end = Instant::now() + within;
        loop {
            self.feed(server);
            if done(self) {
                return;
            }
            assert!(Instant::now() < end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn run(seed: u64, secs: u64, websocket: bool) {
    let server = TestServer::start();
    server.set_auto_reply(AutoReply::ForgetEvery(7));
    let upstream = if websocket {
        server.ws_addr()
    } else {
        server.http_addr()
    };
    let proxy = ChaosProxy::start(upstream, seed);
    let scheme = if websocket { "ws" } else { "http" };
    let endpoint = format!("{scheme}://{}/v1/opamp", proxy.addr());
    let name = format!("chaos-{scheme}-{seed}");
    let props = [
        ("heartbeat_interval", "1s"),
        ("reconnect_max", "2s"),
        ("health_interval", "1s"),
    ];
    let mut agent = Agent::start(&name, &endpoint, &props);
    // Measured once the agent runs: what grows after this is the run's.
    std::thread::sleep(Duration::from_secs(2));
    let (fds0, rss0) = (fds(), rss_kib());
    let end = Instant::now() + Duration::from_secs(secs);
    let mut i = 0u64;
    let mut slowest = Duration::ZERO;
    let mut check = Checker::default();
    while Instant::now() < end {
        check.feed(&server);
        i += 1;
        // Status changes keep the agent sending while the link breaks.
        let t = Instant::now();
        agent.break_health(&format!("chaos step {i}"));
        agent.send(Control::Wake);
        slowest = slowest.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(150));
    }
    proxy.calm();
    let calm_at = Instant::now();
    agent.break_health("after the chaos");
    check.until(
        &server,
        "the status after the chaos",
        Duration::from_secs(30),
        |c| c.last_problem.as_deref() == Some("after the chaos"),
    );
    let recovered = calm_at.elapsed();

    // A server that forgets the agent in calm weather gets full state next.
    server.set_auto_reply(AutoReply::ForgetEvery(1));
    check.feed(&server);
    check.full_since_mark = false;
    agent.break_health("forgotten");
    check.until(
        &server,
        "a full report after ReportFullState",
        Duration::from_secs(15),
        |c| c.full_since_mark,
    );
    server.set_auto_reply(AutoReply::Ack);
    let rec = server.recorded();
    let conns = if websocket {
        rec.ws.len()
    } else {
        rec.http_connections
    };
    let count = check.messages;
    let stop = agent.stop();
    drop(agent);
    let proxy_line = proxy.counts.line();
    drop(proxy);
    drop(server);
    std::thread::sleep(Duration::from_millis(300));
    let (fds1, rss1) = (fds(), rss_kib());
    println!(
        "SUMMARY chaos {scheme} seed {seed}: {secs}s, {count} messages on {conns} connections, {} forgets; proxy: {}; status right {:.1}s after calm; slowest control send {:?}; shutdown {:?}; fds {fds0}->{fds1}, RSS {rss0}->{rss1} KiB",
        rec.forgets,
        proxy_line,
        recovered.as_secs_f64(),
        slowest,
        stop
    );
    assert!(count > 10, "the agent kept talking through the chaos");
    assert!(
        slowest < Duration::from_millis(50),
        "a control send waited {slowest:?}"
    );
    assert!(
        fds1 <= fds0 + 8,
        "file descriptors leaked: {fds0} -> {fds1}"
    );
    assert!(rss1 < rss0 + 16 * 1024, "memory grew: {rss0} -> {rss1} KiB");
}

fn seeds() -> Vec<u64> {
    env_or("FBO_CHAOS_SEEDS", "1")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

#[test]
fn websocket_survives_the_chaos_proxy() {
    let secs: u64 = env_or("FBO_CHAOS_SECS", "12").parse().unwrap();
    for seed in seeds() {
        run(seed, secs, true);
    }
}

#[test]
fn http_survives_the_chaos_proxy() {
    let secs: u64 = env_or("FBO_CHAOS_SECS", "12").parse().unwrap();
    for seed in seeds() {
        run(seed + 1000, secs, false);
    }
}
