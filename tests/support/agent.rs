//! The whole client (runtime + core + transports) in the test process,
//! started and stopped as the plugin does it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fluent_bit_opamp::agent::{self, AgentHandle, Control};
use fluent_bit_opamp::config::properties::{self, RawProperties};

pub struct Agent {
    handle: Option<AgentHandle>,
    pub state: PathBuf,
    /// Leave `state` behind on drop, for a restart on the same folder.
    pub keep_state: bool,
}

impl Agent {
    pub fn start(name: &str, endpoint: &str, extra: &[(&str, &str)]) -> Agent {
        let state = Self::state_dir(name);
        let _ = std::fs::remove_dir_all(&state);
        Self::start_in(state, endpoint, extra)
    }

    pub fn state_dir(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("opamp-agent-{name}-{}", std::process::id()))
    }

    /// Starts on an existing state folder, as a restarted process does.
    pub fn start_in(state: PathBuf, endpoint: &str, extra: &[(&str, &str)]) -> Agent {
        let mut raw = RawProperties::default();
        raw.push("endpoint", endpoint);
        raw.push("state_dir", &state.display().to_string());
        raw.push("heartbeat_interval", "30s");
        raw.push("poll_interval", "1s");
        for (k, v) in extra {
            raw.push(k, v);
        }
        let settings = properties::parse(&raw).unwrap();
        let handle = agent::start(settings, 1, None).unwrap();
        handle.send(Control::PreRun {
            generation: 1,
            hot_reload: true,
        });
        Agent {
            handle: Some(handle),
            state,
            keep_state: false,
        }
    }

    pub fn send(&self, c: Control) {
        self.handle.as_ref().unwrap().send(c);
    }

    /// Final shutdown as the plugin does it: the budget is one second.
    pub fn stop(&mut self) -> Duration {
        let h = self.handle.take().unwrap();
        let t0 = Instant::now();
        h.send(Control::Shutdown);
        assert!(
            h.wait_until(t0 + Duration::from_secs(1)),
            "goodbye took over 1 s"
        );
        t0.elapsed()
    }

    /// A status change the server must eventually see: the plugin reports a
    /// configuration problem as unhealthy.
    pub fn break_health(&self, why: &str) {
        self.send(Control::Inert {
            generation: 2,
            problem: why.into(),
        });
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.send(Control::Shutdown);
            h.wait_until(Instant::now() + Duration::from_secs(2));
        }
        if !self.keep_state {
            let _ = std::fs::remove_dir_all(&self.state);
        }
    }
}
