//! What each host callback does, in safe Rust.
//!
//! The FFI layer calls in here with copied values. Process-global state is
//! the lifecycle (which callbacks have happened) and the one agent, both
//! behind short-lived locks: no callback waits on the network or on the
//! agent thread, except the final Unregister, which gives the agent at most
//! [`GOODBYE_BUDGET`] to say goodbye.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::agent::{self, AgentHandle, Control};
use crate::config::properties::{self, RawProperties, Settings, PROPERTIES};
use crate::config::section;
use crate::lifecycle::{ExitOutcome, InitOutcome, Lifecycle, RegId, UnregisterOutcome};
use crate::logging;
use crate::{error, info, warn};

/// How long final shutdown may take, from the last Exit to the thread's end.
pub const GOODBYE_BUDGET: Duration = Duration::from_millis(900);

static LIFECYCLE: Mutex<Lifecycle> = Mutex::new(Lifecycle::new());
static AGENT: Mutex<Option<AgentHandle>> = Mutex::new(None);
static SHUTDOWN_STARTED: Mutex<Option<Instant>> = Mutex::new(None);

fn lifecycle<T>(f: impl FnOnce(&mut Lifecycle) -> T) -> T {
    let mut g = LIFECYCLE.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut g)
}

fn with_agent<T>(f: impl FnOnce(&mut Option<AgentHandle>) -> T) -> T {
    let mut g = AGENT.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut g)
}

fn send(c: Control) {
    with_agent(|a| {
        if let Some(a) = a.as_ref() {
            a.send(c);
        }
    });
}

pub fn on_register(def: RegId) {
    lifecycle(|l| l.on_register(def));
}

/// What Init needs from the host, whatever ABI delivered it. The FFI layer
/// implements it over the proxy API table; the plugin never sees a pointer.
pub trait HostApi {
    /// The first value of `key` in the instance's section, copied.
    fn property(&self, key: &str) -> Option<String>;
    /// The most verbose level the instance logs at.
    fn max_level(&self) -> logging::Level;
    /// A sink into Fluent Bit's log, usable from any thread afterwards.
    fn log_sink(&self) -> Option<Box<logging::SinkFn>>;
}

pub fn on_init(host: &dyn HostApi) {
    if let Some(sink) = host.log_sink() {
        logging::install(host.max_level(), sink);
    }
    let outcome = lifecycle(|l| l.on_init());
    let generation = match outcome {
        InitOutcome::Duplicate => {
            error!(
                "only one [INPUT] opamp is supported per Fluent Bit process; \
                 this second one stays inert. Remove it from the configuration."
            );
            return;
        }
        InitOutcome::Unregistered => {
            error!("Init without registration; the plugin stays inert");
            return;
        }
        InitOutcome::Start { generation } | InitOutcome::Reattach { generation } => generation,
    };

    let (settings, problem) = match read_settings(host) {
        Ok(v) => v,
        Err(problem) => {
            // Nothing usable: a running client keeps its connection and
            // reports the problem, but acts on nothing else.
            send(Control::Inert {
                generation,
                problem,
            });
            return;
        }
    };

    let running = with_agent(|a| a.as_ref().map(|a| a.is_running()).unwrap_or(false));
    if running {
        send(Control::Attach {
            generation,
            settings: Box::new(settings),
            problem,
        });
        return;
    }
    match agent::start(settings, generation, problem) {
        Ok(handle) => with_agent(|a| *a = Some(handle)),
        Err(e) => error!("{e}; the plugin stays inert"),
    }
}

/// Gathers the section's properties from every place we can see them and
/// validates them; errors are logged by name and leave the plugin inert.
fn read_settings(host: &dyn HostApi) -> Result<(Settings, Option<String>), String> {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let explicit = host.property("config_file").map(std::path::PathBuf::from);
    let found = section::find_sections(explicit.as_deref(), &args);

    let mut raw = RawProperties::default();
    match &found {
        Some((_, sections)) if sections.len() == 1 => raw = sections[0].clone(),
        Some((_, sections)) if sections.len() > 1 => {
            error!(
                "{} [INPUT] opamp sections found; only one is supported",
                sections.len()
            );
            raw = sections[0].clone();
        }
        _ => debug_unseen_keys(),
    }
    for unknown in raw.unknown_keys() {
        warn!("unknown property '{unknown}' ignored; check its spelling (see the plugin's README for the list)");
    }
    // Keys the section reader could not see (no config file found) come
    // from the host. Where both saw a key the file wins: it keeps every
    // occurrence, and the last one counts, as for Fluent Bit's own plugins,
    // while the host would answer with the first.
    for p in PROPERTIES.iter().filter(|p| !p.repeatable) {
        if raw.get(p.name).is_none() {
            if let Some(v) = host.property(p.name) {
                raw.push(p.name, &v);
            }
        }
    }

    match properties::parse(&raw) {
        Ok(s) => {
            if !s.tls.verify {
                warn!("tls.verify is off: the OpAMP server's certificate is NOT checked");
            }
            Ok((s, None))
        }
        Err(errors) => {
            for e in &errors {
                error!("{e}");
            }
            let problem = format!(
                "invalid [INPUT] opamp configuration: {}",
                errors
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            match degraded(&raw, &errors) {
                Some(s) => {
                    error!(
                        "{} invalid propert{}; the OpAMP client only reports this problem to {} \
                         (remote config is off). Fluent Bit's pipeline is unaffected.",
                        errors.len(),
                        if errors.len() == 1 { "y" } else { "ies" },
                        s.endpoint
                    );
                    Ok((s, Some(problem)))
                }
                None => {
                    error!(
                        "{} invalid propert{}; the OpAMP client is not running. Fluent Bit's pipeline is unaffected.",
                        errors.len(),
                        if errors.len() == 1 { "y" } else { "ies" }
                    );
                    Err(problem)
                }
            }
        }
    }
}

/// Settings that can still reach the server when only non-connection
/// properties are bad: those fall back to their defaults, and remote
/// config is forced off so that nothing is applied under a broken config.
fn degraded(raw: &RawProperties, errors: &[properties::PropertyError]) -> Option<Settings> {
    const CRITICAL: &[&str] = &["endpoint", "header", "state_dir", "instance_uid"];
    if errors
        .iter()
        .any(|e| CRITICAL.contains(&e.key.as_str()) || e.key.starts_with("tls."))
    {
        return None;
    }
    let mut fallback = RawProperties::default();
    for (k, v) in &raw.pairs {
        if !errors.iter().any(|e| &e.key == k) && k != "remote_config" {
            fallback.push(k, v);
        }
    }
    let mut s = properties::parse(&fallback).ok()?;
    s.remote_config = false;
    Some(s)
}

fn debug_unseen_keys() {
    crate::debug!(
        "could not find the [INPUT] opamp section in a config file or on the command line; \
         unknown keys cannot be checked and tls.* keys and repeated keys are unavailable"
    );
}

pub fn on_pre_run(hot_reload: bool) {
    if let Some(generation) = lifecycle(|l| l.on_pre_run()) {
        send(Control::PreRun {
            generation,
            hot_reload,
        });
    }
}

pub fn on_pause() {}

pub fn on_resume() {}

pub fn on_exit() {
    match lifecycle(|l| l.on_exit()) {
        ExitOutcome::Reload { generation } => send(Control::Detach { generation }),
        ExitOutcome::Shutdown { .. } => begin_shutdown(),
        ExitOutcome::Other => {}
    }
}

fn begin_shutdown() {
    let mut started = SHUTDOWN_STARTED.lock().unwrap_or_else(|p| p.into_inner());
    if started.is_none() {
        *started = Some(Instant::now());
        send(Control::Shutdown);
    }
}

pub fn on_unregister(def: RegId) {
    match lifecycle(|l| l.on_unregister(def)) {
        UnregisterOutcome::Shutdown => {
            begin_shutdown();
            finish_shutdown();
        }
        UnregisterOutcome::Aborted { generation } => {
            // The process is about to exit after a reload failed in init:
            // the last-known-good config goes back now, on this thread, so
            // the next start runs it whatever happens to the agent thread.
            if let Some(line) = crate::remote::on_process_abort() {
                warn!("{line}");
            }
            send(Control::Aborted { generation });
            begin_shutdown();
            finish_shutdown();
        }
        UnregisterOutcome::HaltedReload => send(Control::HaltedReload),
        UnregisterOutcome::Superseded | UnregisterOutcome::Idle | UnregisterOutcome::Unknown => {}
    }
}

/// Waits for the agent's goodbye, bounded by the budget counted from the
/// moment shutdown began.
fn finish_shutdown() {
    let start = SHUTDOWN_STARTED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .unwrap_or_else(Instant::now);
    let deadline = start + GOODBYE_BUDGET;
    let handle = with_agent(|a| a.take());
    if let Some(h) = handle {
        let took = start.elapsed();
        if h.wait_until(deadline) {
            info!("OpAMP client stopped ({} ms)", start.elapsed().as_millis());
        } else {
            warn!(
                "OpAMP client did not stop within {} ms; leaving it to process exit (waited {} ms)",
                GOODBYE_BUDGET.as_millis(),
                took.as_millis()
            );
        }
    }
}

/// Fluent Bit's collector asks for records: the management events waiting,
/// encoded, if any. Never waits.
pub fn on_collect() -> Option<Vec<u8>> {
    crate::events::drain()
}
