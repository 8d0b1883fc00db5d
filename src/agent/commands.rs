//! Running Fluent Bit commands (`io.fluentbit.command`): the agent's side.
//! Parsing, authorization, limits and reply bodies are `crate::commands`';
//! this file carries the commands out with what the agent owns (the
//! collector, the apply pipeline) and answers through the core. Nothing
//! here blocks for seconds: a sample is bounded by the HTTP timeout, and
//! dry runs and reloads run on and are polled from [`Runtime::commands_step`].

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::runtime::Runtime;
use crate::commands::{args, catalog, views, Job, Request, CAPABILITY};
use crate::events::{self, Event, Kind, Outcome as EvOutcome};
use crate::proto::CustomMessage;
use crate::remote::check::{CheckReport, CheckStart};
use crate::remote::record::hex;
use crate::{info, warn};

/// A reload that has not shown a new pipeline by then has failed.
const RELOAD_WAIT: Duration = Duration::from_secs(45);

type Outcome = Option<Result<Value, String>>;

impl Runtime {
    /// The capability is always advertised: a refused command names the
    /// operator's rule instead of meeting silence.
    pub(super) fn advertise_commands(&mut self) {
        self.client
            .set_custom_capabilities(vec![CAPABILITY.to_string()]);
    }

    /// A custom message from the server: always answered.
    pub(super) fn custom_message(&mut self, m: CustomMessage) {
        match self.gate.admit(Instant::now(), &m) {
            Err(reply) => {
                info!(
                    "command '{}' refused: {}",
                    shown(&m.r#type),
                    reply_error(&reply)
                );
                events::emit(
                    Event::new(Kind::CommandRefused)
                        .outcome(EvOutcome::Refused)
                        .field("command", shown(&m.r#type))
                        .reason(reply_error(&reply)),
                );
                self.send_reply(reply);
            }
            Ok(req) => {
                info!("command '{}' received (id {})", req.command, req.id);
                events::emit(
                    Event::new(Kind::CommandReceived)
                        .outcome(EvOutcome::Pending)
                        .field("command", req.command.clone())
                        .field("request_id", req.id.to_string()),
                );
                self.gate.started(&req.command);
                match self.run_command(&req) {
                    Some(outcome) => self.finish(&req, outcome),
                    None => self
                        .running
                        .push((req, self.pending.take().expect("set by run_command"))),
                }
            }
        }
    }

    fn run_command(&mut self, req: &Request) -> Outcome {
        let known: &[&str] = match req.command.as_str() {
            "validate" => &["files"],
            "temporary_config" => &["files", "ttl_seconds"],
            "log_level" => &["level", "ttl_seconds"],
            _ => &[],
        };
        if let Err(e) = args::only(&req.args, known) {
            return Some(Err(e));
        }
        match req.command.as_str() {
            "describe" => Some(Ok(self.describe())),
            "health" => Some(self.health_now()),
            "metrics" => Some(self.metrics_now()),
            "diagnostics" => Some(Ok(self.diagnostics())),
            "validate" => self.validate(req),
            "reload" => self.reload(),
            "temporary_config" => self.temporary(req, None),
            "log_level" => self.log_level(req),
            _ => Some(Err("internal: a command without a runner".into())),
        }
    }

    fn finish(&mut self, req: &Request, outcome: Result<Value, String>) {
        self.gate.finished(&req.command);
        let done = Event::new(Kind::CommandDone)
            .field("command", req.command.clone())
            .field("request_id", req.id.to_string());
        let reply = match outcome {
            Ok(v) => {
                info!("command '{}' done (id {})", req.command, req.id);
                events::emit(done.outcome(EvOutcome::Ok));
                req.ok(v)
            }
            Err(e) => {
                warn!("command '{}' failed (id {}): {e}", req.command, req.id);
                events::emit(done.outcome(EvOutcome::Failed).reason(e.clone()));
                req.fail(e)
            }
        };
        self.send_reply(reply);
    }

    fn send_reply(&mut self, reply: CustomMessage) {
        if self.client.send_custom_message(reply).is_err() {
            warn!("a command reply was dropped: too many replies wait for the server");
        }
    }

    /// Replies to the commands whose work ended; called on every loop step.
    pub(super) fn commands_step(&mut self) {
        if self.running.is_empty() {
            return;
        }
        let running = std::mem::take(&mut self.running);
        for (req, job) in running {
            match self.poll_job(&job) {
                Some(outcome) => self.finish(&req, outcome),
                None => self.running.push((req, job)),
            }
        }
    }

    fn poll_job(&mut self, job: &Job) -> Outcome {
        match job {
            Job::Validate => self.remote.take_check().map(|r| Ok(check_json(&r))),
            Job::Reload { from, since } => {
                let now = self.remote.generation();
                if now > *from {
                    Some(Ok(json!({"generation": now})))
                } else if since.elapsed() >= RELOAD_WAIT
                    || (!self.remote.is_busy() && since.elapsed() >= Duration::from_secs(2))
                {
                    Some(Err(
                        "Fluent Bit did not start a new pipeline; its log has the reason".into(),
                    ))
                } else {
                    None
                }
            }
            Job::Temporary {
                hash,
                ttl_seconds,
                reverts_at_unix_ms,
                level,
            } => {
                let outcome = self.remote.temporary_outcome(hash)?;
                let ours = self.remote.temporary().is_some_and(|t| t.hash == *hash);
                Some(match outcome {
                    Ok(()) if !ours => Err("a remote config from the server replaced this temporary change; no revert will follow".into()),
                    Ok(()) => {
                        let mut v = json!({
                            "hash": hex(hash),
                            "ttl_seconds": ttl_seconds,
                            "reverts_at_unix_ms": reverts_at_unix_ms,
                        });
                        if let Some(l) = level {
                            v["level"] = json!(l);
                        }
                        Ok(v)
                    }
                    Err(e) => Err(format!("refused, nothing changed: {e}")),
                })
            }
        }
    }

    fn describe(&self) -> Value {
        let commands: Vec<Value> = catalog::SPECS
            .iter()
            .filter(|s| self.gate.allowed().iter().any(|a| a == s.name))
            .map(catalog::describe)
            .collect();
        json!({"capability": CAPABILITY, "commands": commands, "limits": self.gate.limits().to_json()})
    }

    fn health_now(&mut self) -> Result<Value, String> {
        self.sample();
        let h = self.collector.current_health().cloned().unwrap_or_default();
        Ok(views::health(
            &h,
            self.collector.last_metrics(),
            self.collector.last_process(),
        ))
    }

    fn metrics_now(&mut self) -> Result<Value, String> {
        self.sample();
        match self.collector.last_metrics() {
            Some(m) => Ok(views::metrics(m)),
            None => Err(match self.collector.http_server() {
                (_, Some(off)) => off.to_string(),
                (url, None) => format!(
                    "Fluent Bit's HTTP server did not answer at {url}; metrics need 'HTTP_Server On' in [SERVICE] \
                     (or the opamp 'http_server' property pointing at it)"
                ),
            }),
        }
    }

    fn diagnostics(&self) -> Value {
        let remote = self.remote.status().map(|s| {
            json!({"hash": hex(&s.last_remote_config_hash), "status": s.status, "error": s.error_message})
        });
        let temporary = self.remote.temporary().map(|t| {
            json!({"hash": hex(&t.hash), "label": t.label, "reverts_at_unix_ms": t.deadline_unix_ms})
        });
        json!({
            "plugin_version": crate::PLUGIN_VERSION,
            "fluent_bit_version": self.collector.fluent_bit_version(),
            "build": views::build(),
            "plugins_in_use": views::plugins_in_use(self.collector.last_metrics()),
            "effective_config": views::effective_config(self.collector.effective_config_now()),
            "log": crate::logging::recent(),
            "apply_history": self.remote.history(),
            "connection_history": self.links.iter().cloned().collect::<Vec<_>>(),
            "remote_config": remote,
            "temporary": temporary,
            "process": views::process(self.collector.last_process()),
        })
    }

    fn validate(&mut self, req: &Request) -> Outcome {
        let map = match args::files(&req.args) {
            Ok(m) => m,
            Err(e) => return Some(Err(e)),
        };
        match self.remote.check(map) {
            CheckStart::Done(r) => Some(Ok(check_json(&r))),
            CheckStart::Busy(e) => Some(Err(e)),
            CheckStart::Running => {
                self.pending = Some(Job::Validate);
                None
            }
        }
    }

    fn reload(&mut self) -> Outcome {
        let from = self.remote.generation();
        match self.remote.on_restart_command(Instant::now()) {
            crate::remote::RestartOutcome::Refused(why) => Some(Err(why)),
            _ => {
                self.pending = Some(Job::Reload {
                    from,
                    since: Instant::now(),
                });
                None
            }
        }
    }

    fn temporary(
        &mut self,
        req: &Request,
        level: Option<(&'static str, crate::proto::AgentConfigMap)>,
    ) -> Outcome {
        let ttl = match args::ttl(&req.args) {
            Ok(t) => t,
            Err(e) => return Some(Err(e)),
        };
        let (label, map, level) = match level {
            Some((l, map)) => ("log_level", map, Some(l)),
            None => match args::files(&req.args) {
                Ok(m) => ("temporary_config", m, None),
                Err(e) => return Some(Err(e)),
            },
        };
        match self.remote.start_temporary(Instant::now(), label, map, ttl) {
            Err(e) => Some(Err(e)),
            Ok(hash) => {
                self.pending = Some(Job::Temporary {
                    hash,
                    ttl_seconds: ttl.as_secs(),
                    reverts_at_unix_ms: self.remote.temporary().map_or(0, |t| t.deadline_unix_ms),
                    level,
                });
                // A config refused at once (policy) has its outcome now.
                None
            }
        }
    }

    /// Fluent Bit reads `[SERVICE]` from an `@INCLUDE`d classic file (the
    /// later value wins); YAML `includes:` ignore `service:` (measured on
    /// 3.2.10, 4.2.8 and 5.1.1), so YAML bootstraps cannot do this.
    fn log_level(&mut self, req: &Request) -> Outcome {
        let level = match args::level(&req.args) {
            Ok(l) => l,
            Err(e) => return Some(Err(e)),
        };
        let (main_key, content_type) = self.remote.main_key_and_type();
        if content_type != "text/x-fluent-bit" {
            return Some(Err(
                "log_level needs a classic bootstrap config: Fluent Bit ignores a 'service:' section in \
                 YAML includes, so the managed file cannot set the log level"
                    .into(),
            ));
        }
        let mut map = match self.remote.live_map() {
            Ok(m) => m,
            Err(e) => return Some(Err(e)),
        };
        let main = map.config_map.entry(main_key).or_default();
        let mut body = String::from_utf8_lossy(&main.body).into_owned();
        if !body.is_empty() && !body.ends_with('\n') {
            body.push('\n');
        }
        body.push_str(&format!("[SERVICE]\n    Log_Level {level}\n"));
        main.body = body.into_bytes();
        main.content_type = content_type.to_string();
        self.temporary(req, Some((level, map)))
    }

    /// One line of connection history for `diagnostics`, bounded.
    pub(super) fn link_event(&mut self, what: String) {
        const KEEP: usize = 20;
        let secs = crate::remote::temporary::unix_ms() / 1000;
        if self.links.len() == KEEP {
            self.links.pop_front();
        }
        self.links.push_back(format!("{secs} {what}"));
    }

    /// Audit lines for temporary changes that ended on their own.
    pub(super) fn temporary_audit(&mut self) {
        for line in self.remote.take_cancelled() {
            info!("audit: {line}");
        }
        for t in self.remote.take_reverted() {
            info!(
                "audit: temporary change {} ({}) reverted",
                hex(&t.hash),
                t.label
            );
            events::emit(
                Event::new(Kind::TemporaryChangeReverted)
                    .outcome(EvOutcome::Ok)
                    .hash("config_hash", &t.hash)
                    .field("change", t.label.clone()),
            );
        }
    }
}

fn check_json(r: &CheckReport) -> Value {
    let policy = match &r.policy {
        Ok(()) => json!({"ok": true}),
        Err(e) => json!({"ok": false, "error": e}),
    };
    let fluent_bit = match &r.fluent_bit {
        None => json!({"ran": false, "ok": false}),
        Some(Ok(())) => json!({"ran": true, "ok": true}),
        Some(Err(e)) => json!({"ran": true, "ok": false, "error": e}),
    };
    json!({"would_apply": r.would_apply(), "policy": policy, "fluent_bit": fluent_bit, "hot_reload": r.hot_reload})
}

fn shown(s: &str) -> String {
    s.chars()
        .take(100)
        .collect::<String>()
        .escape_default()
        .to_string()
}

fn reply_error(m: &CustomMessage) -> String {
    serde_json::from_slice::<Value>(&m.data)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_default()
}
