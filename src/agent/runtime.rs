//! The agent thread: a thin driver around the sans-IO core.
//!
//! It owns the connection and feeds the core messages and time; the core
//! decides what to send and when. Host callbacks reach it only through the
//! control channel, each message followed by a byte on a wake-up socket.
//! While a WebSocket is open the thread sleeps in poll(2) on the socket and
//! that socket; with HTTP or no connection it sleeps on the channel itself.
//! Either way an idle agent wakes only for its own deadlines (heartbeat,
//! health sample, apply timers).

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use prost::Message;

use super::connection::{disconnect_for, unix_now_ms, Conn, Dialer};
use super::Control;
use crate::config::properties::Settings;
use crate::core::{
    self, Action, Capabilities, Client, ClientConfig, Disconnect, DisconnectKind, HttpOutcome,
    LogLevel, Transport,
};
use crate::ffi::sys;
use crate::proto::ComponentHealth;
use crate::remote::{RemoteConfig, RestartOutcome};
use crate::state_dir::{self, StateDir};
use crate::status::{Collector, CollectorConfig};
use crate::transport::TransportError;
use crate::{debug, error, info, logging, warn};

/// Empties the wake-up socket; the control channel holds the messages.
fn drain(wake: &mut UnixStream) {
    let mut buf = [0u8; 64];
    while matches!(wake.read(&mut buf), Ok(n) if n > 0) {}
}

pub(super) fn run(
    settings: Settings,
    state: StateDir,
    generation: u64,
    problem: Option<String>,
    rx: Receiver<Control>,
    wake: UnixStream,
) {
    let tid = sys::thread_id();
    info!(
        "OpAMP client thread started (tid={tid}, generation={generation}, endpoint={})",
        settings.endpoint
    );
    let mut rt = Runtime::new(settings, state, generation, tid);
    if problem.is_some() {
        rt.problem = problem;
        rt.publish_health();
    }
    rt.run(&rx, wake);
    info!("OpAMP client thread ending (tid={tid})");
}

struct Runtime {
    settings: Settings,
    state: StateDir,
    client: Client,
    dialer: Option<Dialer>,
    conn: Option<Conn>,
    generation: Option<u64>,
    hot_reload: bool,
    tid: u64,
    collector: Collector,
    remote: RemoteConfig,
    args: Vec<String>,
    next_sample: Instant,
    /// The collector's latest health, before the problem overlay.
    health: Option<ComponentHealth>,
    /// Property errors of the current generation, reported as health.
    problem: Option<String>,
    failures_in_a_row: u32,
}

enum Flow {
    Continue,
    Stop,
}

impl Runtime {
    fn new(settings: Settings, state: StateDir, generation: u64, tid: u64) -> Runtime {
        let uid = match settings.instance_uid {
            Some(uid) => uid,
            None => state
                .instance_uid(|| core::uuid_v7(unix_now_ms(), state_dir::random_bytes()))
                .unwrap_or_else(|e| {
                    error!(
                        "cannot store the instance UID in {}: {e}; using a temporary one",
                        state.path().display()
                    );
                    core::uuid_v7(unix_now_ms(), state_dir::random_bytes())
                }),
        };
        let dialer = build_dialer(&settings);
        let transport = dialer
            .as_ref()
            .map(|d| d.transport)
            .unwrap_or(Transport::Http);
        let mut cfg = ClientConfig::new(uid, transport);
        cfg.capabilities = capabilities(&settings);
        cfg.heartbeat_interval = match transport {
            Transport::WebSocket => settings.heartbeat_interval.unwrap_or(Duration::ZERO),
            Transport::Http => settings.poll_interval,
        };
        cfg.max_inbound_bytes = settings.max_message_size;
        cfg.max_outbound_bytes = settings.max_message_size;
        cfg.jitter_seed = u64::from_le_bytes(state_dir::random_bytes());
        let client = Client::new(cfg, Instant::now());
        info!("OpAMP instance UID {}", state_dir::format_uuid(&uid));
        let args: Vec<String> = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let collector =
            Collector::new(CollectorConfig::from_settings(&settings, uid, args.clone()));
        // Recovers from a crash in the middle of an apply before anything
        // else, so the first status already tells the truth.
        let remote = RemoteConfig::new(&settings, &args);
        let mut client = client;
        if let Some(st) = remote.startup_status() {
            client.set_remote_config_status(st);
        }
        let mut rt = Runtime {
            settings,
            state,
            client,
            dialer,
            conn: None,
            generation: Some(generation),
            hot_reload: false,
            tid,
            collector,
            remote,
            args,
            next_sample: Instant::now(),
            health: None,
            problem: None,
            failures_in_a_row: 0,
        };
        rt.sample();
        rt
    }

    fn run(&mut self, rx: &Receiver<Control>, mut wake: UnixStream) {
        loop {
            // Drain the wake-up socket before reading the channel: a control
            // message sent after this point leaves its byte in the socket and
            // wakes the poll below, so none can wait for the next deadline.
            drain(&mut wake);
            while let Ok(c) = rx.try_recv() {
                if let Flow::Stop = self.control(c) {
                    return self.goodbye();
                }
            }
            let now = Instant::now();
            if now >= self.next_sample {
                self.sample();
            }
            if self.remote.next_deadline().is_some_and(|d| now >= d) {
                self.remote_tick();
            }
            if self.conn.is_none() && self.dialer.is_some() && self.client.should_connect(now) {
                self.connect(now);
            }
            self.pump();
            let now = Instant::now();
            let wait = self
                .client
                .next_timeout()
                .map_or(self.next_sample, |t| t.min(self.next_sample))
                .min(self.remote.next_deadline().unwrap_or(self.next_sample))
                .saturating_duration_since(now);
            if let Some(Conn::Ws(ws)) = self.conn.as_mut() {
                // Sleep until the server says something, a host callback
                // writes to the wake-up socket, or the next deadline: no timer
                // wake-ups while idle.
                let ready = sys::poll_readable(&[ws.as_raw_fd(), wake.as_raw_fd()], wait);
                if ready[0] {
                    self.read_available();
                }
            } else {
                match rx.recv_timeout(wait) {
                    Ok(c) => {
                        if let Flow::Stop = self.control(c) {
                            return self.goodbye();
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return self.goodbye(),
                }
            }
        }
    }

    /// Everything the WebSocket has ready, including what TLS or the
    /// WebSocket layer buffered, without blocking.
    fn read_available(&mut self) {
        loop {
            let Some(Conn::Ws(ws)) = self.conn.as_mut() else {
                return;
            };
            match ws.recv(Duration::ZERO) {
                Ok(Some(bytes)) => self.received(&bytes),
                Ok(None) => return,
                Err(e) => return self.lost(e),
            }
        }
    }

    fn control(&mut self, c: Control) -> Flow {
        match c {
            Control::Attach {
                generation,
                settings,
                problem,
            } => {
                self.generation = Some(generation);
                info!(
                    "generation {generation} attached to OpAMP client thread (tid={})",
                    self.tid
                );
                self.problem = problem;
                self.apply_settings(*settings);
                self.remote.update_settings(&self.settings, &self.args);
                self.publish_health();
            }
            Control::Inert {
                generation,
                problem,
            } => {
                warn!("generation {generation} has invalid opamp settings; remote config is off until they are fixed");
                self.generation = Some(generation);
                self.problem = Some(problem);
                self.publish_health();
            }
            Control::PreRun {
                generation,
                hot_reload,
            } => {
                self.hot_reload = hot_reload;
                debug!("generation {generation} running (hot_reload={hot_reload})");
                if generation > 1 {
                    // New pipeline: new config files, counters from zero.
                    self.collector.on_reload();
                }
                self.remote
                    .on_pre_run(Instant::now(), generation, hot_reload);
                self.remote_status();
            }
            Control::Detach { generation } => {
                if self.generation == Some(generation) {
                    self.generation = None;
                }
                debug!("generation {generation} detached");
            }
            Control::HaltedReload => {
                info!("Fluent Bit refused a reload; the running pipeline is unchanged");
                self.remote.on_halted(Instant::now());
                self.remote_status();
            }
            Control::Aborted { generation } => {
                warn!("reload into generation {generation} failed in init; Fluent Bit is exiting");
                if let Some(line) = self.remote.on_aborted() {
                    warn!("{line}");
                }
                self.remote_status();
            }
            Control::Shutdown => return Flow::Stop,
        }
        Flow::Continue
    }

    /// A new generation may bring new settings; only transport changes
    /// cost a reconnect.
    fn apply_settings(&mut self, new: Settings) {
        let transport_changed = new.endpoint != self.settings.endpoint
            || new.headers != self.settings.headers
            || new.tls != self.settings.tls
            || new.compression != self.settings.compression
            || new.max_message_size != self.settings.max_message_size;
        self.client.set_capabilities(capabilities(&new));
        self.settings = new;
        if transport_changed {
            info!(
                "OpAMP connection settings changed; reconnecting to {}",
                self.settings.endpoint
            );
            self.dialer = build_dialer(&self.settings);
            if self.conn.take().is_some() {
                self.client
                    .on_disconnected(Instant::now(), Disconnect::new(DisconnectKind::Local));
            }
        }
    }

    fn connect(&mut self, now: Instant) {
        let Some(dialer) = self.dialer.as_ref() else {
            return;
        };
        match dialer.connect() {
            Ok(conn) => {
                self.conn = Some(conn);
                self.client.on_connected(Instant::now());
                if self.failures_in_a_row > 0 {
                    info!(
                        "connected to OpAMP server {} after {} failed attempts",
                        self.settings.endpoint, self.failures_in_a_row
                    );
                } else {
                    info!("connected to OpAMP server {}", self.settings.endpoint);
                }
                self.failures_in_a_row = 0;
            }
            Err(e) => {
                self.note_failure(&e);
                self.client.on_disconnected(now, disconnect_for(&e));
            }
        }
    }

    /// Logs a failure at warn the first time and every tenth time in a row,
    /// so a long outage stays visible without flooding the log.
    fn note_failure(&mut self, e: &TransportError) {
        self.failures_in_a_row += 1;
        let n = self.failures_in_a_row;
        let what = if e.is_auth() {
            format!("authentication failed ({e}); check the 'header' credentials. Retrying slowly")
        } else {
            format!("OpAMP server {} unavailable: {e}", self.settings.endpoint)
        };
        if n == 1 || n.is_multiple_of(10) {
            warn!("{what} (attempt {n})");
        } else {
            debug!("{what} (attempt {n})");
        }
    }

    /// The connection broke: the core decides when to try again.
    fn lost(&mut self, e: TransportError) {
        self.conn = None;
        self.note_failure(&e);
        self.client
            .on_disconnected(Instant::now(), disconnect_for(&e));
    }

    /// Sends whatever the core has due, then carries out its actions.
    fn pump(&mut self) {
        loop {
            let now = Instant::now();
            let Some(msg) = self.client.poll_transmit(now) else {
                break;
            };
            let body = msg.encode_to_vec();
            match self.conn.as_mut() {
                Some(Conn::Ws(ws)) => match ws.send(&body) {
                    Ok(()) => self.client.on_sent(Instant::now()),
                    Err(e) => {
                        self.lost(e);
                        break;
                    }
                },
                Some(Conn::Http(http)) => {
                    let uid = self.client.instance_uid();
                    match http.exchange(&uid, &body) {
                        Ok(resp) => {
                            let now = Instant::now();
                            self.client.on_sent(now);
                            if let Err(e) = self.client.receive_bytes(now, &resp) {
                                debug!("dropped a bad ServerToAgent: {e}");
                            }
                        }
                        Err(e) => {
                            self.http_failed(e);
                            break;
                        }
                    }
                }
                None => break,
            }
            self.actions();
        }
        self.actions();
    }

    fn http_failed(&mut self, e: TransportError) {
        let status = match &e {
            TransportError::Status { status, .. }
            | TransportError::Http { status, .. }
            | TransportError::Auth { status }
            | TransportError::Rejected { status } => Some(*status),
            _ => None,
        };
        match status.map(HttpOutcome::from_status) {
            Some(HttpOutcome::Rejected(why)) => {
                warn!("OpAMP server refused a message: {e}; it will not be retried");
                self.client.on_rejected(Instant::now(), why);
            }
            _ => self.lost(e),
        }
    }

    fn received(&mut self, protobuf: &[u8]) {
        // The WebSocket transport has already removed the OpAMP header.
        match core::decode_http_body(protobuf, self.settings.max_message_size) {
            Ok(msg) => self.client.on_received(Instant::now(), msg),
            Err(e) => {
                error!("malformed message from the OpAMP server: {e}; reconnecting");
                self.conn = None;
                self.client
                    .on_disconnected(Instant::now(), Disconnect::new(DisconnectKind::Network));
            }
        }
        self.actions();
    }

    fn actions(&mut self) {
        while let Some(a) = self.client.poll_action() {
            match a {
                Action::ApplyRemoteConfig(rc) => {
                    let status = self.remote.on_offer(Instant::now(), &rc);
                    if let Some(st) = status {
                        self.client.set_remote_config_status(st);
                    }
                    self.remote_status();
                }
                Action::Restart => match self.remote.on_restart_command(Instant::now()) {
                    RestartOutcome::Started => {
                        info!("restart command: hot-reloading the current config")
                    }
                    RestartOutcome::Deferred => {
                        info!("restart command: will reload after the reload in progress")
                    }
                    RestartOutcome::Refused(why) => warn!("restart command refused: {why}"),
                },
                Action::ConnectionSettings(_) => {}
                Action::PersistInstanceUid(uid) => {
                    info!(
                        "the server assigned a new instance UID {}",
                        state_dir::format_uuid(&uid)
                    );
                    if let Err(e) = self.state.store_instance_uid(&uid) {
                        error!("cannot store the new instance UID: {e}");
                    }
                }
                Action::Disconnect => self.conn = None,
                Action::Log(level, msg) => logging::log(
                    match level {
                        LogLevel::Error => logging::Level::Error,
                        LogLevel::Warn => logging::Level::Warn,
                        LogLevel::Info => logging::Level::Info,
                        LogLevel::Debug => logging::Level::Debug,
                    },
                    &msg,
                ),
            }
        }
    }

    /// Samples Fluent Bit's state and hands the core whatever changed.
    fn sample(&mut self) {
        let update = self.collector.sample(Instant::now());
        self.next_sample =
            Instant::now() + self.settings.health_interval.max(Duration::from_secs(1));
        if let Some(d) = update.description {
            self.client.set_agent_description(d);
        }
        if let Some(e) = update.effective_config {
            self.client.set_effective_config(e);
        }
        if let Some(h) = update.health {
            self.health = Some(h);
            self.publish_health();
        }
        self.remote_tick();
    }

    /// Advances the apply pipeline (confirmation timeouts, the health gate)
    /// and reports any status change.
    fn remote_tick(&mut self) {
        let health_ok = self.collector.current_health().map(|h| h.healthy);
        self.remote.on_tick(Instant::now(), health_ok);
        self.remote_status();
    }

    fn remote_status(&mut self) {
        while let Some(st) = self.remote.poll_status() {
            self.client.set_remote_config_status(st);
        }
    }

    /// The collector's health, overridden at the top level while the
    /// plugin's own configuration is broken: that is the one problem the
    /// pipeline metrics cannot show.
    fn publish_health(&mut self) {
        let mut h = self.health.clone().unwrap_or_else(|| ComponentHealth {
            healthy: true,
            start_time_unix_nano: unix_now_ms() * 1_000_000,
            status: "starting".into(),
            ..Default::default()
        });
        if let Some(p) = &self.problem {
            h.healthy = false;
            h.last_error = p.clone();
            h.status = "opamp plugin configuration error".into();
        }
        h.status_time_unix_nano = unix_now_ms() * 1_000_000;
        self.client.set_health(h);
    }

    /// Final shutdown: `agent_disconnect`, then close, all bounded.
    fn goodbye(&mut self) {
        let connected = self.client.is_connected();
        let msg = self.client.goodbye();
        let body = msg.encode_to_vec();
        match self.conn.take() {
            Some(Conn::Ws(mut ws)) => {
                let _ = ws.close(connected.then_some(body.as_slice()));
            }
            Some(Conn::Http(mut http)) if connected => {
                let uid = self.client.instance_uid();
                let _ = http.exchange(&uid, &body);
            }
            _ => {}
        }
    }
}

fn build_dialer(s: &Settings) -> Option<Dialer> {
    match Dialer::new(s) {
        Ok(d) => {
            for w in &d.warnings {
                warn!("{w}");
            }
            Some(d)
        }
        Err(e) => {
            error!("cannot set up the OpAMP connection: {e}");
            None
        }
    }
}

/// Exactly what this build implements, no more.
fn capabilities(s: &Settings) -> Capabilities {
    Capabilities {
        reports_heartbeat: true,
        reports_health: true,
        reports_effective_config: true,
        accepts_remote_config: s.remote_config,
        reports_remote_config: s.remote_config,
        accepts_restart_command: true,
        ..Default::default()
    }
}
