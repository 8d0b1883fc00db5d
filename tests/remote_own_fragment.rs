//! The plugin's own fragment (own telemetry) through the apply driver
//! against real files, with a fake host for SIGHUP and `--dry-run`: it is
//! composed with the server's config, applied and rolled back like one,
//! never touches the server's status, and survives restarts and crashes.

use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fluent_bit_opamp::config::properties::PluginPolicy;
use fluent_bit_opamp::proto::{
    AgentConfigFile, AgentConfigMap, AgentRemoteConfig, RemoteConfigStatuses,
};
use fluent_bit_opamp::remote::apply::{self, Timing};
use fluent_bit_opamp::remote::policy::{Format, Policy};
use fluent_bit_opamp::remote::staging::{self, Layout};
use fluent_bit_opamp::remote::{Host, Options, RemoteConfig};

#[derive(Default)]
struct Calls {
    signals: u32,
    dry_run_error: Option<String>,
}

struct FakeHost(Arc<Mutex<Calls>>);

impl Host for FakeHost {
    fn signal_reload(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap().signals += 1;
        Ok(())
    }

    fn dry_run(&mut self, _: &Layout) -> Result<(), String> {
        self.0
            .lock()
            .unwrap()
            .dry_run_error
            .clone()
            .map_or(Ok(()), Err)
    }
}

struct Env {
    dir: PathBuf,
    layout: Layout,
    calls: Arc<Mutex<Calls>>,
    t0: Instant,
    generation: u64,
}

const FRAG: &str = "[INPUT]\n    name fluentbit_metrics\n    tag  _opamp.own_metrics\n";
const FRAG2: &str = "[INPUT]\n    name fluentbit_logs\n    tag  _opamp.own_logs\n";
const INCLUDE: &str = "@INCLUDE managed.d/_opamp.own_telemetry.conf\n";
const KEY: &str = "_opamp.own_telemetry.conf";
const SERVER: &str = "[INPUT]\n    Name dummy\n";

impl Env {
    fn new(name: &str) -> Env {
        let dir = std::env::temp_dir().join(format!("opamp-own-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("etc")).unwrap();
        fs::create_dir_all(dir.join("state")).unwrap();
        fs::write(dir.join("etc/managed.conf"), "").unwrap();
        let layout = Layout::new(&dir.join("etc/managed.conf"), &dir.join("state"));
        Env {
            dir,
            layout,
            calls: Default::default(),
            t0: Instant::now(),
            generation: 1,
        }
    }

    fn driver(&self, remote_config: bool) -> RemoteConfig {
        let opts = Options {
            policy: Policy {
                enabled: remote_config,
                format: Format::Classic,
                main_name: "managed.conf".into(),
                folder: self.layout.folder.clone(),
                plugins: PluginPolicy::Deny(Vec::new()),
                max_size: 1 << 20,
                paths: fluent_bit_opamp::remote::paths::AllowPaths::Any,
            },
            timing: Timing::default(),
            layout: Some(self.layout.clone()),
        };
        let mut rc = RemoteConfig::with_host(opts, Box::new(FakeHost(self.calls.clone())));
        rc.on_pre_run(self.t0, self.generation, true);
        rc
    }

    /// The new pipeline starts: the reload is confirmed.
    fn reloaded(&mut self, rc: &mut RemoteConfig) {
        self.generation += 1;
        rc.on_pre_run(Instant::now(), self.generation, true);
    }

    fn main(&self) -> String {
        fs::read_to_string(&self.layout.managed).unwrap()
    }

    fn fragment(&self) -> Option<String> {
        fs::read_to_string(self.layout.folder.join(KEY)).ok()
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

fn server(hash: &str) -> AgentRemoteConfig {
    let mut map = AgentConfigMap::default();
    map.config_map.insert(
        String::new(),
        AgentConfigFile {
            body: SERVER.into(),
            content_type: String::new(),
        },
    );
    AgentRemoteConfig {
        config: Some(map),
        config_hash: hash.into(),
    }
}

fn set(rc: &mut RemoteConfig, ticket: u64, body: Option<&str>) {
    rc.set_own_fragment(Instant::now(), ticket, body.map(|b| b.as_bytes().to_vec()));
}

#[test]
fn with_remote_config_off_the_managed_file_holds_only_the_fragment() {
    let mut env = Env::new("alone");
    let mut rc = env.driver(false);
    set(&mut rc, 1, Some(FRAG));
    assert_eq!(env.signals(), 1, "one reload");
    assert!(
        rc.take_own_outcomes().is_empty(),
        "not done before the reload is confirmed"
    );
    env.reloaded(&mut rc);
    assert_eq!(rc.take_own_outcomes(), vec![(1, Ok(()))]);
    assert!(env.main().ends_with(INCLUDE), "{}", env.main());
    assert_eq!(env.fragment().as_deref(), Some(FRAG));
    assert!(
        rc.poll_status().is_none(),
        "no remote config status for our own fragment"
    );
    assert!(staging::pending(&env.layout).is_none(), "committed");

    // The server's configs are still refused by the operator's policy.
    let st = rc.on_offer(Instant::now(), server("s1")).unwrap();
    assert_eq!(st.status, RemoteConfigStatuses::Failed as i32);
    assert_eq!(env.fragment().as_deref(), Some(FRAG));

    // Removal: one more reload, and the managed file is empty again.
    set(&mut rc, 2, None);
    env.reloaded(&mut rc);
    assert_eq!(rc.take_own_outcomes(), vec![(2, Ok(()))]);
    assert_eq!(env.signals(), 2);
    assert_eq!(env.main(), "");
    assert_eq!(env.fragment(), None);
}

#[test]
fn server_configs_and_the_fragment_compose_both_ways() {
    let mut env = Env::new("compose");
    let mut rc = env.driver(true);
    rc.on_offer(Instant::now(), server("s1"));
    env.reloaded(&mut rc);
    let applied = rc.poll_status().unwrap();
    assert_eq!(applied.status, RemoteConfigStatuses::Applied as i32);

    set(&mut rc, 1, Some(FRAG));
    env.reloaded(&mut rc);
    assert_eq!(rc.take_own_outcomes(), vec![(1, Ok(()))]);
    assert_eq!(
        env.main(),
        format!("{SERVER}# _opamp: own telemetry, written by the opamp plugin\n{INCLUDE}")
    );
    assert!(
        rc.poll_status().is_none(),
        "the server's status did not move"
    );

    // A new server config keeps the live fragment.
    rc.on_offer(Instant::now(), server("s2"));
    env.reloaded(&mut rc);
    assert_eq!(
        rc.poll_status().unwrap().status,
        RemoteConfigStatuses::Applied as i32
    );
    assert!(env.main().ends_with(INCLUDE));
    assert_eq!(env.fragment().as_deref(), Some(FRAG));

    // A fragment change keeps the server's config.
    set(&mut rc, 2, Some(FRAG2));
    env.reloaded(&mut rc);
    assert_eq!(rc.take_own_outcomes(), vec![(2, Ok(()))]);
    assert!(env.main().starts_with(SERVER));
    assert_eq!(env.fragment().as_deref(), Some(FRAG2));
    assert_eq!(rc.applied_hash(), Some(&b"s2"[..]));
}

#[test]
fn a_refused_fragment_changes_nothing() {
    let mut env = Env::new("refused");
    let mut rc = env.driver(false);
    set(&mut rc, 1, Some(FRAG));
    env.reloaded(&mut rc);
    rc.take_own_outcomes();

    // Refused by the dry run: nothing swapped, nothing signalled.
    env.calls.lock().unwrap().dry_run_error = Some("bad property".into());
    set(&mut rc, 2, Some(FRAG2));
    assert_eq!(
        rc.take_own_outcomes(),
        vec![(2, Err("bad property".into()))]
    );
    assert_eq!(env.signals(), 1);
    assert_eq!(env.fragment().as_deref(), Some(FRAG));

    // Refused by Fluent Bit on reload (HALTED): rolled back.
    env.calls.lock().unwrap().dry_run_error = None;
    set(&mut rc, 3, Some(FRAG2));
    assert_eq!(env.fragment().as_deref(), Some(FRAG2));
    rc.on_halted(Instant::now());
    let out = rc.take_own_outcomes();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, 3);
    assert_eq!(out[0].1.as_ref().unwrap_err(), apply::HALTED);
    assert_eq!(env.fragment().as_deref(), Some(FRAG));
    assert!(
        staging::pending(&env.layout).is_none(),
        "the marker is gone"
    );
    assert!(rc.poll_status().is_none());
}

#[test]
fn restarts_recognise_the_live_fragment_and_block_one_that_crashed() {
    let mut env = Env::new("restart");
    let mut rc = env.driver(false);
    set(&mut rc, 1, Some(FRAG));
    env.reloaded(&mut rc);
    rc.take_own_outcomes();
    drop(rc);

    // Same fragment after a restart: live already, no reload.
    let mut rc = env.driver(false);
    set(&mut rc, 1, Some(FRAG));
    assert_eq!(rc.take_own_outcomes(), vec![(1, Ok(()))]);
    assert_eq!(env.signals(), 1);

    // The process dies while a new fragment is being applied.
    set(&mut rc, 2, Some(FRAG2));
    assert_eq!(env.fragment().as_deref(), Some(FRAG2));
    std::mem::forget(rc);
    let mut rc = env.driver(false);
    assert_eq!(
        env.fragment().as_deref(),
        Some(FRAG),
        "the last-known-good is back"
    );
    assert!(rc.startup_status().is_none(), "no server status invented");
    // The restored files go live first (a recovery reload)...
    set(&mut rc, 3, Some(FRAG2));
    assert!(rc.take_own_outcomes().is_empty());
    env.reloaded(&mut rc);
    // ...and the fragment that was interrupted is never tried again.
    let out = rc.take_own_outcomes();
    assert_eq!(out[0].1.as_ref().unwrap_err(), apply::BLOCKED);
    assert_eq!(env.fragment().as_deref(), Some(FRAG));
}

/// A config read back from the live files (a temporary change's revert)
/// holds the fragment as it was: the live fragment replaces it.
#[test]
fn a_config_that_carries_a_fragment_gets_the_live_one() {
    let mut env = Env::new("carried");
    let mut rc = env.driver(true);
    set(&mut rc, 1, Some(FRAG2));
    env.reloaded(&mut rc);
    rc.take_own_outcomes();
    let mut offer = server("s1");
    let map = offer.config.as_mut().unwrap();
    map.config_map.get_mut("").unwrap().body =
        format!("{SERVER}# _opamp: own telemetry, written by the opamp plugin\n{INCLUDE}")
            .into_bytes();
    map.config_map.insert(
        KEY.into(),
        AgentConfigFile {
            body: FRAG.into(),
            content_type: String::new(),
        },
    );
    rc.on_offer(Instant::now(), offer);
    env.reloaded(&mut rc);
    assert_eq!(
        rc.poll_status().unwrap().status,
        RemoteConfigStatuses::Applied as i32
    );
    assert_eq!(
        env.fragment().as_deref(),
        Some(FRAG2),
        "the live fragment, not the carried one"
    );
    assert_eq!(env.main().matches("@INCLUDE").count(), 1, "{}", env.main());
}
