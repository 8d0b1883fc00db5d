//! The agent thread: a thin driver around the sans-IO core.
//!
//! It owns the connection and feeds the core messages and time; the core
//! decides what to send and when. Host callbacks reach it only through the
//! control channel, each message followed by a byte on a wake-up socket.
//! The thread sleeps in poll(2) on that socket, and on the WebSocket while
//! one is open, so an idle agent wakes only for its own deadlines (heartbeat,
//! health sample, apply timers). Child processes (the dry run) run beside
//! it and report back through the same wake-up path.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, TryRecvError};

use super::connection::{build_dialer, heartbeat_for, unix_now_ms, Conn, Dialer};
use super::control::Control;
use super::notify::{Notifier, Wake};
use super::supervise::{self, Flow, Supervised};
use crate::config::properties::Settings;
use crate::core::{self, Capabilities, Client, ClientConfig, Transport};
use crate::proto::ComponentHealth;
use crate::remote::RemoteConfig;
use crate::state_dir::{self, StateDir};
use crate::status::{Collector, CollectorConfig};
use crate::sys;
use crate::{debug, error, info, warn};

pub(super) fn run(
    settings: Settings,
    state: StateDir,
    generation: u64,
    problem: Option<String>,
    rx: Receiver<Control>,
    wake: Wake,
) {
    let tid = sys::thread_id();
    info!(
        "OpAMP client thread started (tid={tid}, generation={generation}, endpoint={})",
        settings.endpoint
    );
    let notifier = wake.notifier.clone();
    let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Runtime::new(settings, state, generation, tid, notifier)
    }));
    let Ok(mut rt) = started else {
        error!("internal error while starting the OpAMP client; it stays off until Fluent Bit restarts");
        return;
    };
    if problem.is_some() {
        rt.problem = problem;
        rt.publish_health();
    }
    supervise::run(&mut rt, &rx, wake);
    info!("OpAMP client thread ending (tid={tid})");
}

pub(super) struct Runtime {
    pub(super) settings: Settings,
    pub(super) state: StateDir,
    pub(super) client: Client,
    /// The instance UID as the HTTP header and the logs show it.
    pub(super) uid_text: String,
    pub(super) dialer: Option<Dialer>,
    pub(super) conn: Option<Conn>,
    generation: Option<u64>,
    tid: u64,
    pub(super) collector: Collector,
    pub(super) remote: RemoteConfig,
    args: Vec<String>,
    pub(super) next_sample: Instant,
    /// The collector's latest health, before the problem overlay.
    pub(super) health: Option<ComponentHealth>,
    /// Property errors of the current generation, reported as health.
    pub(super) problem: Option<String>,
    pub(super) failures_in_a_row: u32,
    /// Connection settings: the section's, committed offers, and the offer
    /// in progress.
    pub(super) steer: super::steer::Steer,
    /// The other connections (named destinations) in use.
    pub(super) other: super::steer::OtherState,
    /// Where the agent's own metrics and logs go.
    pub(super) own: super::steer::OwnTelemetry,
    /// Wakes the agent thread from helper threads (plugin discovery).
    waker: Arc<dyn Fn() + Send + Sync>,
    pub(super) started: Instant,
    /// Addon packages (with `packages on`) and a config waiting for them.
    pub(super) packages: super::package_state::PackageState,
    /// Set by [`after_panic`](Self::after_panic); the next step that starts clears
    /// the problem it reported.
    recovering: Option<String>,
    /// Fluent Bit commands: who may run what, and the ones still running.
    pub(super) gate: crate::commands::Gate,
    pub(super) running: Vec<(crate::commands::Request, crate::commands::Job)>,
    /// The job a command runner left to poll.
    pub(super) pending: Option<crate::commands::Job>,
    /// Connection history for `diagnostics`, newest last.
    pub(super) links: std::collections::VecDeque<String>,
    /// The endpoint of the open connection, as its `connected` record named
    /// it: the `disconnected` record names the same one, even when new
    /// settings are already in effect.
    pub(super) linked_to: Option<String>,
}

impl Runtime {
    fn new(
        settings: Settings,
        state: StateDir,
        generation: u64,
        tid: u64,
        notifier: Arc<Notifier>,
    ) -> Runtime {
        let uid = settings.instance_uid.unwrap_or_else(|| {
            let make = || core::uuid_v7(unix_now_ms(), state_dir::random_bytes());
            state.instance_uid(make).unwrap_or_else(|e| {
                error!(
                    "cannot store the instance UID in {}: {e}; using a temporary one",
                    state.path().display()
                );
                make()
            })
        });
        let waker = notifier.clone();
        let steer = super::steer::Steer::load(
            &settings,
            &state,
            Arc::new(move || waker.send(Control::Wake)),
        );
        let dialer = build_dialer(steer.profile(), &settings);
        let client = Client::new(client_config(&settings, &dialer, uid), Instant::now());
        let uid_text = core::format_uuid(&uid);
        info!("OpAMP instance UID {uid_text}");
        let args: Vec<String> = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let cc = CollectorConfig::from_settings(&settings, uid, args.clone());
        match &cc.http_off {
            None => info!(
                "reading Fluent Bit's status from {} ({})",
                cc.http_server, cc.http_source
            ),
            Some(why) => warn!("{why}"),
        }
        let collector = Collector::new(cc);
        // Recovers from a crash in the middle of an apply before anything
        // else, so the first status already tells the truth.
        let mut remote = RemoteConfig::new(&settings, &args);
        let pkg_notifier = notifier.clone();
        let waker: Arc<dyn Fn() + Send + Sync> = Arc::new(move || notifier.send(Control::Wake));
        remote.set_waker(waker.clone());
        super::steer::start_discovery(&settings, waker.clone());
        let mut rt = Runtime {
            settings,
            state,
            client,
            uid_text,
            dialer,
            conn: None,
            generation: Some(generation),
            tid,
            collector,
            remote,
            args,
            next_sample: Instant::now(),
            health: None,
            problem: None,
            failures_in_a_row: 0,
            steer,
            other: Default::default(),
            own: Default::default(),
            waker,
            started: Instant::now(),
            packages: Default::default(),
            recovering: None,
            gate: crate::commands::Gate::new(Vec::new(), crate::commands::Limits::new(0)),
            running: Vec::new(),
            pending: None,
            links: Default::default(),
            linked_to: None,
        };
        rt.gate.update(
            rt.settings.commands.clone(),
            crate::commands::Limits::new(rt.settings.max_config_size),
        );
        rt.advertise_commands();
        rt.load_packages(pkg_notifier);
        rt.events_context();
        rt.load_other_connections();
        if let Some(st) = rt.remote.startup_status() {
            rt.client.set_remote_config_status(st);
        }
        rt.steer_startup();
        // The first sample is the loop's first step (`next_sample` is now),
        // inside the panic boundary, and before the first connect.
        rt
    }

    /// The loop; returns after the goodbye on shutdown. A panic unwinds out
    /// of it to the supervisor, which calls it again after recovering.
    fn run_loop(&mut self, rx: &Receiver<Control>, wake: &mut Wake) {
        loop {
            // Drain the wake-up socket before reading the channel: a control
            // message sent after this point leaves its byte in the socket and
            // wakes the poll below, so none can wait for the next deadline.
            wake.drain();
            loop {
                let flow = match rx.try_recv() {
                    Ok(c) => self.on_control(c),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => Flow::Stop,
                };
                if let Flow::Stop = flow {
                    return self.say_goodbye();
                }
            }
            self.step();
            self.sleep(wake);
        }
    }

    /// Everything that is due now. The clock is read afresh for each part:
    /// any of them may take a while (a connect, a sample).
    fn step(&mut self) {
        if let Some(what) = self.recovering.take() {
            self.recovered(&what);
        }
        if self.remote.poll_background() {
            self.remote_status();
        }
        self.commands_step();
        self.temporary_audit();
        self.packages_step();
        self.steer_step();
        if Instant::now() >= self.next_sample {
            self.sample();
        }
        if self
            .remote
            .next_deadline()
            .is_some_and(|d| Instant::now() >= d)
        {
            self.remote_tick();
        }
        self.own_telemetry_step();
        let now = Instant::now();
        if self.conn.is_none()
            && self.dialer.is_some()
            && self.own_discovery_wait().is_none()
            && self.client.should_connect(now)
        {
            self.connect(now);
        }
        self.pump();
    }

    /// In poll(2) until the next deadline, a control message (its byte on
    /// the wake-up socket), or, on a WebSocket, the server saying
    /// something: no timer wake-ups while idle, and no spinning receive.
    fn sleep(&mut self, wake: &Wake) {
        let wait = self
            .next_deadline()
            .saturating_duration_since(Instant::now());
        if let Some(Conn::Ws(ws)) = self.conn.as_mut() {
            let ready = sys::poll_readable(&[ws.as_raw_fd(), wake.as_raw_fd()], wait);
            if ready[0] {
                self.read_available();
            }
        } else {
            sys::poll_readable(&[wake.as_raw_fd()], wait);
        }
    }

    fn next_deadline(&self) -> Instant {
        let mut t = self.next_sample;
        for d in [
            self.client.next_timeout(),
            self.remote.next_deadline(),
            self.steer.next_deadline(),
            self.own_discovery_wait(),
        ] {
            t = d.map_or(t, |d| d.min(t));
        }
        t
    }

    fn on_control(&mut self, c: Control) -> Flow {
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
            } => self.pre_run(generation, hot_reload),
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
            // A background step ended; the loop polls it next.
            Control::Wake => {}
            Control::Shutdown => return Flow::Stop,
        }
        Flow::Continue
    }

    fn pre_run(&mut self, generation: u64, hot_reload: bool) {
        debug!("generation {generation} running (hot_reload={hot_reload})");
        if generation > 1 {
            // New pipeline: new config files, counters from zero.
            self.collector.on_reload();
            self.publish_components();
        }
        self.remote
            .on_pre_run(Instant::now(), generation, hot_reload);
        self.remote_status();
    }

    /// A new generation may bring new settings; only transport changes
    /// cost a reconnect.
    fn apply_settings(&mut self, new: Settings) {
        let before = self.steer.profile().clone();
        let packing_changed = new.compression != self.settings.compression
            || new.max_message_size != self.settings.max_message_size;
        self.steer.on_new_section(&new, &self.state);
        self.client.set_capabilities(capabilities(&new));
        self.gate.update(
            new.commands.clone(),
            crate::commands::Limits::new(new.max_config_size),
        );
        super::steer::start_discovery(&new, self.waker.clone());
        let old = std::mem::replace(&mut self.settings, new);
        self.own_telemetry_settings(&old);
        self.packages_settings();
        self.events_context();
        if packing_changed || *self.steer.profile() != before {
            info!(
                "OpAMP connection settings changed; reconnecting to {}",
                self.steer.profile().endpoint
            );
            self.use_profile();
        }
    }

    /// After a panic: whatever the connection was in the middle of is
    /// suspect, so it goes (the core resends full state on reconnect); the
    /// client (UID, sequence numbers) and the apply state stay.
    fn after_panic(&mut self, what: &str) {
        self.close_locally();
        if self.problem.is_none() {
            self.problem = Some(what.to_string());
            self.recovering = Some(what.to_string());
        }
        self.publish_health();
    }

    /// The problem recorded by [`after_panic`](Self::after_panic) is cleared when
    /// the loop runs again; a property problem stays until a new generation.
    fn recovered(&mut self, what: &str) {
        if self.problem.as_deref() == Some(what) {
            self.problem = None;
            self.publish_health();
        }
    }
}

impl Supervised for Runtime {
    fn run(&mut self, rx: &Receiver<Control>, wake: &mut Wake) {
        self.run_loop(rx, wake)
    }

    fn recover(&mut self, what: &str) {
        self.after_panic(what)
    }

    fn control(&mut self, c: Control) -> Flow {
        self.on_control(c)
    }

    fn goodbye(&mut self) {
        self.say_goodbye()
    }
}

fn client_config(settings: &Settings, dialer: &Option<Dialer>, uid: [u8; 16]) -> ClientConfig {
    let transport = dialer.as_ref().map_or(Transport::Http, |d| d.transport);
    let mut cfg = ClientConfig::new(uid, transport);
    cfg.capabilities = capabilities(settings);
    cfg.heartbeat_interval = heartbeat_for(transport, settings);
    cfg.backoff.max = settings.reconnect_max;
    cfg.max_inbound_bytes = settings.max_message_size;
    cfg.max_outbound_bytes = settings.max_message_size;
    cfg.jitter_seed = u64::from_le_bytes(state_dir::random_bytes());
    cfg
}

/// Exactly what this build implements, no more; own telemetry only once
/// the running binary is known to have the plugins it needs.
pub(super) fn capabilities(s: &Settings) -> Capabilities {
    let (reports_own_metrics, reports_own_logs) = super::steer::own_capabilities(s);
    Capabilities {
        reports_own_metrics,
        reports_own_logs,
        reports_heartbeat: true,
        reports_health: true,
        reports_effective_config: true,
        accepts_remote_config: s.remote_config,
        reports_remote_config: s.remote_config,
        accepts_restart_command: true,
        accepts_opamp_connection_settings: s.steering.connection_settings,
        accepts_other_connection_settings: s.steering.other_connections,
        reports_connection_settings_status: s.steering.connection_settings
            || s.steering.other_connections
            || s.steering.own_telemetry,
        reports_available_components: matches!(crate::fluent_bit_plugins::get(), Some(Ok(_))),
        accepts_packages: s.packages.enabled,
        reports_package_statuses: s.packages.enabled,
    }
}
