//! Who may run what, and how much: the operator's `commands` list, a rate
//! limit, a size limit, and one changing command at a time.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{catalog, parse, unknown_capability, Request, CAPABILITY};
use crate::proto::CustomMessage;

/// The limits, as `describe` reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Requests accepted in a burst...
    pub burst: u32,
    /// ...then one per this long.
    pub refill: Duration,
    /// Largest request body of a command without a config map.
    pub max_request_bytes: usize,
    /// Largest request body carrying a config map (`validate`,
    /// `temporary_config`): the config limit plus room for JSON escaping.
    pub max_config_request_bytes: usize,
}

impl Limits {
    pub fn new(max_config_size: usize) -> Limits {
        Limits {
            burst: 10,
            refill: Duration::from_secs(1),
            max_request_bytes: 64 << 10,
            max_config_request_bytes: max_config_size.saturating_mul(2).max(64 << 10),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "burst": self.burst,
            "refill_ms": self.refill.as_millis() as u64,
            "max_request_bytes": self.max_request_bytes,
            "max_config_request_bytes": self.max_config_request_bytes,
            "changing_at_once": 1,
        })
    }
}

/// Authorization and limits, and which commands are still running.
pub struct Gate {
    allowed: Vec<String>,
    limits: Limits,
    tokens: f64,
    last: Option<Instant>,
    /// The changing command in progress, if any.
    changing: Option<String>,
}

impl Gate {
    pub fn new(allowed: Vec<String>, limits: Limits) -> Gate {
        let tokens = f64::from(limits.burst);
        Gate {
            allowed,
            limits,
            tokens,
            last: None,
            changing: None,
        }
    }

    /// New settings (a reload): what is running keeps running.
    pub fn update(&mut self, allowed: Vec<String>, limits: Limits) {
        self.allowed = allowed;
        self.limits = limits;
    }

    pub fn allowed(&self) -> &[String] {
        &self.allowed
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Checks one incoming message. `Ok` means run it; `Err` is the reply.
    pub fn admit(&mut self, now: Instant, m: &CustomMessage) -> Result<Request, CustomMessage> {
        // Every message costs a token, so a flood of any kind is limited.
        let rate_ok = self.take_token(now);
        if m.capability != CAPABILITY {
            return Err(unknown_capability(m));
        }
        let config = matches!(m.r#type.as_str(), "validate" | "temporary_config");
        let max = if config {
            self.limits.max_config_request_bytes
        } else {
            self.limits.max_request_bytes
        };
        if m.data.len() > max {
            return Err(super::reply(
                &Value::Null,
                &m.r#type,
                Err(format!(
                    "size limit: the request is {} bytes, more than {max} for '{}'",
                    m.data.len(),
                    m.r#type.escape_default()
                )),
            ));
        }
        let req = parse(m)?;
        if !rate_ok {
            return Err(req.fail(format!(
                "rate limit: at most {} commands at once, then one per {} ms; retry later",
                self.limits.burst,
                self.limits.refill.as_millis()
            )));
        }
        let Some(spec) = catalog::spec(&req.command) else {
            let shown: String = req.command.chars().take(100).collect();
            return Err(req.fail(format!(
                "unknown command '{}'; 'describe' lists the commands this agent accepts",
                shown.escape_default()
            )));
        };
        if !self.allowed.iter().any(|a| a == spec.name) {
            return Err(req.fail(format!(
                "refused by the operator's rule 'commands = {}' in the opamp section: '{}' is not listed{}",
                if self.allowed.is_empty() { "none".to_string() } else { self.allowed.join(",") },
                spec.name,
                if spec.changing { " (changing commands are off unless listed)" } else { "" }
            )));
        }
        if spec.changing {
            if let Some(running) = &self.changing {
                return Err(req.fail(format!(
                    "busy: '{running}' is still running; one changing command at a time"
                )));
            }
        }
        Ok(req)
    }

    /// A changing command started; [`Gate::finished`] ends it.
    pub fn started(&mut self, command: &str) {
        if catalog::spec(command).is_some_and(|s| s.changing) {
            self.changing = Some(command.to_string());
        }
    }

    pub fn finished(&mut self, command: &str) {
        if self.changing.as_deref() == Some(command) {
            self.changing = None;
        }
    }

    /// A token bucket: bursts up to `burst`, refilled one per `refill`.
    fn take_token(&mut self, now: Instant) -> bool {
        let burst = f64::from(self.limits.burst);
        if let Some(last) = self.last {
            let gained = now.saturating_duration_since(last).as_secs_f64()
                / self.limits.refill.as_secs_f64().max(1e-3);
            self.tokens = (self.tokens + gained).min(burst);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ty: &str, data: &str) -> CustomMessage {
        CustomMessage {
            capability: CAPABILITY.into(),
            r#type: ty.into(),
            data: data.as_bytes().to_vec(),
        }
    }

    fn error(m: CustomMessage) -> String {
        let v: Value = serde_json::from_slice(&m.data).unwrap();
        v["error"].as_str().unwrap().to_string()
    }

    fn gate(allowed: &[&str]) -> Gate {
        Gate::new(
            allowed.iter().map(|s| s.to_string()).collect(),
            Limits::new(1 << 20),
        )
    }

    #[test]
    fn the_operator_list_decides() {
        let mut g = gate(&["health"]);
        let now = Instant::now();
        assert!(g.admit(now, &msg("health", "{}")).is_ok());
        let e = error(g.admit(now, &msg("reload", "{}")).unwrap_err());
        assert!(
            e.contains("commands = health") && e.contains("'reload' is not listed"),
            "{e}"
        );
        let e = error(g.admit(now, &msg("frobnicate", "{}")).unwrap_err());
        assert!(e.starts_with("unknown command 'frobnicate'"), "{e}");
    }

    #[test]
    fn one_changing_command_at_a_time() {
        let mut g = gate(&["reload", "log_level", "health"]);
        let now = Instant::now();
        let r = g.admit(now, &msg("reload", "{}")).unwrap();
        g.started(&r.command);
        let e = error(g.admit(now, &msg("log_level", "{}")).unwrap_err());
        assert!(e.starts_with("busy: 'reload'"), "{e}");
        assert!(
            g.admit(now, &msg("health", "{}")).is_ok(),
            "read-only commands still run"
        );
        g.finished("reload");
        assert!(g.admit(now, &msg("log_level", "{}")).is_ok());
    }

    #[test]
    fn bursts_are_limited_then_refilled() {
        let mut g = gate(&["health"]);
        let t0 = Instant::now();
        let ok = (0..15)
            .filter(|_| g.admit(t0, &msg("health", "{}")).is_ok())
            .count();
        assert_eq!(ok, 10);
        let e = error(g.admit(t0, &msg("health", "{}")).unwrap_err());
        assert!(e.starts_with("rate limit"), "{e}");
        assert!(g
            .admit(t0 + Duration::from_millis(1100), &msg("health", "{}"))
            .is_ok());
    }

    #[test]
    fn size_and_capability_are_checked() {
        let mut g = gate(&["health"]);
        let now = Instant::now();
        let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(70 << 10));
        assert!(error(g.admit(now, &msg("health", &big)).unwrap_err()).starts_with("size limit"));
        let other = CustomMessage {
            capability: "com.example.x".into(),
            r#type: "y".into(),
            data: vec![],
        };
        let reply = g.admit(now, &other).unwrap_err();
        assert_eq!(reply.capability, CAPABILITY);
        assert!(error(reply).contains("unknown custom capability 'com.example.x'"));
    }
}
