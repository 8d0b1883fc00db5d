//! `${opamp.…}` variables through the driver, against real files and a fake
//! host: expansion before the policy, unknown names FAILED by name, a change
//! of values re-rendering the newest config under the server's hash, and
//! secrets kept out of statuses.

use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fluent_bit_opamp::config::properties::PluginPolicy;
use fluent_bit_opamp::proto::{
    AgentConfigFile, AgentConfigMap, AgentRemoteConfig, RemoteConfigStatus, RemoteConfigStatuses,
};
use fluent_bit_opamp::remote::apply::Timing;
use fluent_bit_opamp::remote::policy::{Format, Policy, DEFAULT_DENY_PLUGINS};
use fluent_bit_opamp::remote::staging::Layout;
use fluent_bit_opamp::remote::vars::Vars;
use fluent_bit_opamp::remote::{Host, Options, RemoteConfig, SOURCE_FILE};

#[derive(Default)]
struct Calls {
    signals: u32,
    dry_runs: u32,
    dry_run_error: Option<String>,
}

struct FakeHost(Arc<Mutex<Calls>>);

impl Host for FakeHost {
    fn signal_reload(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap().signals += 1;
        Ok(())
    }

    fn dry_run(&mut self, _layout: &Layout) -> Result<(), String> {
        let mut c = self.0.lock().unwrap();
        c.dry_runs += 1;
        c.dry_run_error.clone().map_or(Ok(()), Err)
    }
}

struct Env {
    dir: PathBuf,
    layout: Layout,
    calls: Arc<Mutex<Calls>>,
    t0: Instant,
}

impl Env {
    fn new(name: &str) -> Env {
        let dir = std::env::temp_dir().join(format!("opamp-vars-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("etc/managed.d")).unwrap();
        fs::create_dir_all(dir.join("state")).unwrap();
        fs::write(dir.join("etc/managed.conf"), "").unwrap();
        let layout = Layout::new(&dir.join("etc/managed.conf"), &dir.join("state"));
        Env {
            dir,
            layout,
            calls: Arc::new(Mutex::new(Calls::default())),
            t0: Instant::now(),
        }
    }

    fn driver(&self) -> RemoteConfig {
        let opts = Options {
            policy: Policy {
                enabled: true,
                format: Format::Classic,
                main_name: "managed.conf".into(),
                folder: self.layout.folder.clone(),
                plugins: PluginPolicy::Deny(
                    DEFAULT_DENY_PLUGINS.split(',').map(String::from).collect(),
                ),
                max_size: 1 << 20,
                paths: fluent_bit_opamp::remote::paths::AllowPaths::Any,
            },
            timing: Timing {
                confirm_timeout: Duration::from_secs(10),
                max_signals: 3,
                health_gate: Duration::ZERO,
            },
            layout: Some(self.layout.clone()),
        };
        let mut rc = RemoteConfig::with_host(opts, Box::new(FakeHost(self.calls.clone())));
        rc.on_pre_run(self.t0, 1, true);
        rc
    }

    fn at(&self, s: u64) -> Instant {
        self.t0 + Duration::from_secs(s)
    }

    fn main(&self) -> String {
        fs::read_to_string(&self.layout.managed).unwrap()
    }

    fn signals(&self) -> u32 {
        self.calls.lock().unwrap().signals
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

const USES: &str = "[OUTPUT]\n    Name http\n    Match *\n    Host ${opamp.other.logs.host}\n    \
                    Header Authorization ${opamp.other.logs.header.authorization}\n";

fn offer(hash: &str, main: &str) -> AgentRemoteConfig {
    let mut map = AgentConfigMap::default();
    map.config_map.insert(
        String::new(),
        AgentConfigFile {
            body: main.as_bytes().to_vec(),
            content_type: String::new(),
        },
    );
    AgentRemoteConfig {
        config: Some(map),
        config_hash: hash.as_bytes().to_vec(),
    }
}

fn vars(host: &str, token: &str) -> Vars {
    let mut v = Vars::new();
    v.insert("opamp.other.logs.host", host, false);
    v.insert(
        "opamp.other.logs.header.authorization",
        &format!("Bearer {token}"),
        true,
    );
    v
}

fn kind(s: &RemoteConfigStatus) -> RemoteConfigStatuses {
    RemoteConfigStatuses::try_from(s.status).unwrap()
}

fn rendered(host: &str, token: &str) -> String {
    USES.replace("${opamp.other.logs.host}", host).replace(
        "${opamp.other.logs.header.authorization}",
        &format!("Bearer {token}"),
    )
}

#[test]
fn unknown_then_offered_then_rotated_without_a_new_push() {
    let env = Env::new("rotate");
    let mut rc = env.driver();

    // The config arrives before its destination: FAILED naming the name.
    let st = rc.on_offer(env.at(1), offer("h1", USES)).unwrap();
    assert_eq!(kind(&st), RemoteConfigStatuses::Failed);
    assert!(
        st.error_message.contains("${opamp.other.logs.host}"),
        "{}",
        st.error_message
    );
    assert_eq!(env.main(), "", "nothing written");
    assert!(env.layout.state.join(SOURCE_FILE).exists());

    // The destination arrives: the same config is rendered and applied.
    assert!(rc.set_vars(env.at(2), vars("a.example", "tok-one-111")));
    assert_eq!(env.main(), rendered("a.example", "tok-one-111"));
    assert_eq!(rc.take_render_outcome(), None, "waits for the reload");
    rc.on_pre_run(env.at(3), 2, true);
    assert_eq!(rc.take_render_outcome(), Some(Ok(())));
    let st = rc.status().unwrap();
    assert_eq!(
        (kind(&st), st.last_remote_config_hash.as_slice()),
        (RemoteConfigStatuses::Applied, b"h1".as_slice())
    );

    // Rotation: new token, same server hash, no new push.
    assert!(rc.set_vars(env.at(4), vars("a.example", "tok-two-222")));
    assert_eq!(env.main(), rendered("a.example", "tok-two-222"));
    rc.on_pre_run(env.at(5), 3, true);
    assert_eq!(rc.take_render_outcome(), Some(Ok(())));
    assert_eq!(env.signals(), 2);

    // A value the config does not use: nothing runs.
    let mut v = vars("a.example", "tok-two-222");
    v.insert("opamp.other.metrics.host", "m.example", false);
    assert!(!rc.set_vars(env.at(6), v));
    assert_eq!(env.signals(), 2);

    // The server resends the same hash: APPLIED at once, no reload.
    let st = rc.on_offer(env.at(7), offer("h1", USES)).unwrap();
    assert_eq!(kind(&st), RemoteConfigStatuses::Applied);
    assert_eq!(env.signals(), 2);
}

#[test]
fn a_failed_rerender_keeps_the_running_files_and_hides_the_secret() {
    let env = Env::new("fail");
    let mut rc = env.driver();
    rc.init_vars(vars("a.example", "tok-one-111"));
    rc.on_offer(env.at(1), offer("h1", USES));
    rc.on_pre_run(env.at(2), 2, true);
    let good = rendered("a.example", "tok-one-111");
    assert_eq!(env.main(), good);

    // Fluent Bit's dry run quotes the rendered line.
    env.calls.lock().unwrap().dry_run_error =
        Some("invalid header 'Bearer tok-bad-999' in http output".into());
    assert!(rc.set_vars(env.at(3), vars("a.example", "tok-bad-999")));
    let e = rc.take_render_outcome().unwrap().unwrap_err();
    assert!(!e.contains("tok-bad-999"), "{e}");
    assert!(e.contains("<redacted>"), "{e}");
    let st = rc.status().unwrap();
    assert_eq!(kind(&st), RemoteConfigStatuses::Failed);
    assert!(!st.error_message.contains("tok-bad-999"));
    assert_eq!(env.main(), good, "the running files are untouched");
    let record = fs::read_to_string(env.layout.state.join("remote_config.status")).unwrap();
    assert!(!record.contains("tok-bad-999"), "{record}");
}

#[test]
fn a_restart_keeps_the_source_and_does_not_render_again() {
    let env = Env::new("restart");
    {
        let mut rc = env.driver();
        rc.init_vars(vars("a.example", "tok-one-111"));
        rc.on_offer(env.at(1), offer("h1", USES));
        rc.on_pre_run(env.at(2), 2, true);
    }
    let mut rc = env.driver();
    rc.init_vars(vars("a.example", "tok-one-111"));
    assert_eq!(env.signals(), 1, "init_vars renders nothing");
    // The source came back from state_dir: a rotation still re-renders.
    assert!(rc.set_vars(env.at(3), vars("b.example", "tok-one-111")));
    assert_eq!(env.main(), rendered("b.example", "tok-one-111"));
}

#[test]
fn a_config_without_our_variables_is_not_kept_and_not_rerendered() {
    let env = Env::new("plain");
    let mut rc = env.driver();
    rc.on_offer(env.at(1), offer("h1", USES));
    assert!(env.layout.state.join(SOURCE_FILE).exists());
    rc.on_offer(env.at(2), offer("h2", "[OUTPUT]\n    Name null\n"));
    assert!(!env.layout.state.join(SOURCE_FILE).exists());
    rc.on_pre_run(env.at(3), 2, true);
    assert!(!rc.set_vars(env.at(4), vars("a.example", "t")));
}
