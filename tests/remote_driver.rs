//! The driver against real files: what lands on disk, what is restored, what
//! is persisted for the next start, with a fake host standing in for
//! SIGHUP and `--dry-run`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fluent_bit_opamp::config::properties::PluginPolicy;
use fluent_bit_opamp::proto::{
    AgentConfigFile, AgentConfigMap, AgentRemoteConfig, RemoteConfigStatus, RemoteConfigStatuses,
};
use fluent_bit_opamp::remote::apply::{self, Timing};
use fluent_bit_opamp::remote::policy::{Format, Policy, DEFAULT_DENY_PLUGINS};
use fluent_bit_opamp::remote::staging::Layout;
use fluent_bit_opamp::remote::{record, Host, Options, RemoteConfig, RestartOutcome, INTERRUPTED};

#[derive(Default)]
struct Calls {
    signals: u32,
    dry_runs: u32,
    dry_run_error: Option<String>,
    /// What the staged main file held when the dry run looked.
    staged_seen: Option<Vec<u8>>,
}

struct FakeHost(Arc<Mutex<Calls>>);

impl Host for FakeHost {
    fn signal_reload(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap().signals += 1;
        Ok(())
    }

    fn dry_run(&mut self, layout: &Layout) -> Result<(), String> {
        let mut c = self.0.lock().unwrap();
        c.dry_runs += 1;
        c.staged_seen = fs::read(layout.staged_main()).ok();
        match &c.dry_run_error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

struct Env {
    dir: PathBuf,
    layout: Layout,
    calls: Arc<Mutex<Calls>>,
    t0: Instant,
}

const OLD_MAIN: &str = "[INPUT]\n    Name cpu\n";
const GOOD: &str = "[INPUT]\n    Name dummy\n@INCLUDE managed.d/out.conf\n";

impl Env {
    fn new(name: &str) -> Env {
        let dir = std::env::temp_dir().join(format!("opamp-remote-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("etc/managed.d")).unwrap();
        fs::create_dir_all(dir.join("state")).unwrap();
        fs::write(dir.join("etc/managed.conf"), OLD_MAIN).unwrap();
        fs::write(
            dir.join("etc/managed.d/old.conf"),
            "[OUTPUT]\n    Name null\n",
        )
        .unwrap();
        let layout = Layout::new(&dir.join("etc/managed.conf"), &dir.join("state"));
        Env {
            dir,
            layout,
            calls: Arc::new(Mutex::new(Calls::default())),
            t0: Instant::now(),
        }
    }

    fn options(&self, gate: u64) -> Options {
        Options {
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
                health_gate: Duration::from_secs(gate),
            },
            layout: Some(self.layout.clone()),
        }
    }

    /// A driver as a fresh process would make it, already past PreRun.
    fn driver(&self, gate: u64) -> RemoteConfig {
        let mut rc =
            RemoteConfig::with_host(self.options(gate), Box::new(FakeHost(self.calls.clone())));
        rc.on_pre_run(self.t0, 1, true);
        rc
    }

    fn at(&self, s: u64) -> Instant {
        self.t0 + Duration::from_secs(s)
    }

    fn main(&self) -> String {
        fs::read_to_string(&self.layout.managed).unwrap()
    }

    fn folder(&self) -> Vec<String> {
        let mut v: Vec<String> = walk(&self.layout.folder);
        v.sort();
        v
    }

    fn signals(&self) -> u32 {
        self.calls.lock().unwrap().signals
    }

    fn is_old(&self) -> bool {
        self.main() == OLD_MAIN && self.folder() == vec!["old.conf"]
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn walk(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir(root) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                out.extend(walk(&e.path()).into_iter().map(|k| format!("{name}/{k}")));
            } else {
                out.push(name);
            }
        }
    }
    out
}

fn offer(hash: &str, files: &[(&str, &str)]) -> AgentRemoteConfig {
    let mut map = AgentConfigMap::default();
    for (k, body) in files {
        map.config_map.insert(
            k.to_string(),
            AgentConfigFile {
                body: body.as_bytes().to_vec(),
                content_type: String::new(),
            },
        );
    }
    AgentRemoteConfig {
        config: Some(map),
        config_hash: hash.as_bytes().to_vec(),
    }
}

fn good(hash: &str) -> AgentRemoteConfig {
    offer(
        hash,
        &[("", GOOD), ("out.conf", "[OUTPUT]\n    Name stdout\n")],
    )
}

fn kind(s: &RemoteConfigStatus) -> RemoteConfigStatuses {
    RemoteConfigStatuses::try_from(s.status).unwrap()
}

#[test]
fn a_good_config_is_written_reloaded_confirmed_and_persisted() {
    let env = Env::new("good");
    let mut rc = env.driver(0);
    let st = rc.on_offer(env.at(1), good("h1")).unwrap();
    assert_eq!(kind(&st), RemoteConfigStatuses::Applying);
    assert_eq!(env.signals(), 1);
    assert_eq!(
        env.calls.lock().unwrap().staged_seen.as_deref(),
        Some(GOOD.as_bytes())
    );
    assert!(
        !env.layout.staging.exists(),
        "staging is cleared after the dry run"
    );
    assert_eq!(env.main(), GOOD);
    assert_eq!(env.folder(), vec!["out.conf"]);

    rc.on_pre_run(env.at(2), 2, true);
    let st = rc.poll_status().unwrap();
    assert_eq!(kind(&st), RemoteConfigStatuses::Applied);
    assert_eq!(st.last_remote_config_hash, b"h1");
    let rec = record::load(&env.layout.state).unwrap();
    assert!(rec.applied && rec.hash == b"h1");
    assert_eq!(
        fs::read_dir(&env.layout.state).unwrap().count(),
        1,
        "only the record is left"
    );

    // A restart reports it and recognises the same offer without a reload.
    drop(rc);
    let mut rc = env.driver(0);
    assert_eq!(
        kind(&rc.startup_status().unwrap()),
        RemoteConfigStatuses::Applied
    );
    let st = rc.on_offer(env.at(3), good("h1")).unwrap();
    assert_eq!(kind(&st), RemoteConfigStatuses::Applied);
    assert_eq!(env.signals(), 1);
}

#[test]
fn a_denied_plugin_writes_nothing_at_all() {
    for (name, body) in [
        (
            "classic",
            "[INPUT]\n    Name exec\n    Command touch /tmp/pwned\n",
        ),
        (
            "lua",
            "[FILTER]\n    Name lua\n    Match *\n    code function f() os.execute('id') end\n",
        ),
    ] {
        let env = Env::new(&format!("deny-{name}"));
        let mut rc = env.driver(0);
        let st = rc.on_offer(env.at(1), offer("bad", &[("", body)])).unwrap();
        assert_eq!(kind(&st), RemoteConfigStatuses::Failed);
        assert!(
            st.error_message.contains("deny_plugins"),
            "{}",
            st.error_message
        );
        assert!(env.is_old());
        assert!(!env.layout.staging.exists());
        let c = env.calls.lock().unwrap();
        assert_eq!((c.dry_runs, c.signals), (0, 0));
    }
}

#[test]
fn a_format_mismatch_writes_nothing() {
    let env = Env::new("format");
    let mut rc = env.driver(0);
    let mut o = offer("y", &[("", "pipeline:\n  inputs:\n    - name: dummy\n")]);
    o.config
        .as_mut()
        .unwrap()
        .config_map
        .get_mut("")
        .unwrap()
        .content_type = "text/yaml".into();
    let st = rc.on_offer(env.at(1), o).unwrap();
    assert!(st.error_message.contains("format"), "{}", st.error_message);
    assert!(env.is_old());
}

#[test]
fn a_dry_run_failure_reports_its_text_and_leaves_live_files_alone() {
    let env = Env::new("dryrun");
    env.calls.lock().unwrap().dry_run_error =
        Some("Fluent Bit's --dry-run rejected the config:\n[error] unknown plugin 'nosuch'".into());
    let mut rc = env.driver(0);
    let st = rc.on_offer(env.at(1), good("h")).unwrap();
    assert_eq!(kind(&st), RemoteConfigStatuses::Failed);
    assert!(st.error_message.contains("nosuch"));
    assert!(env.is_old());
    assert!(!env.layout.staging.exists());
    assert_eq!(env.signals(), 0);
}

#[test]
fn an_empty_config_map_empties_the_managed_file_and_folder() {
    let env = Env::new("empty");
    let mut rc = env.driver(0);
    rc.on_offer(env.at(1), offer("empty", &[]));
    rc.on_pre_run(env.at(2), 2, true);
    assert_eq!(kind(&rc.status().unwrap()), RemoteConfigStatuses::Applied);
    assert_eq!(env.main(), "");
    assert!(env.folder().is_empty());
}

#[test]
fn halted_reload_puts_the_old_files_back() {
    let env = Env::new("halted");
    let mut rc = env.driver(0);
    rc.on_offer(env.at(1), good("h"));
    assert!(!env.is_old());
    rc.on_halted(env.at(2));
    assert!(env.is_old());
    let st = rc.poll_status().unwrap();
    assert_eq!(st.error_message, apply::HALTED);
    assert!(!env.layout.state.join("remote_config.pending").exists());
    assert_eq!(
        env.signals(),
        1,
        "no reload needed: the old pipeline never stopped"
    );
}

#[test]
fn no_reload_at_all_is_treated_as_refused_after_the_retries() {
    let env = Env::new("silent");
    let mut rc = env.driver(0);
    rc.on_offer(env.at(1), good("h"));
    for s in [11, 21, 31] {
        assert_eq!(rc.next_deadline(), Some(env.at(s)));
        rc.on_tick(env.at(s), None);
    }
    assert_eq!(env.signals(), 3);
    assert!(env.is_old());
    assert_eq!(kind(&rc.status().unwrap()), RemoteConfigStatuses::Failed);
}

#[test]
fn aborted_restores_synchronously_and_the_next_start_never_retries_it() {
    let env = Env::new("aborted");
    let mut rc = env.driver(0);
    rc.on_offer(env.at(1), good("boom"));
    let msg = rc.on_aborted().expect("something was restored");
    assert!(msg.contains("626f6f6d"), "{msg}");
    assert!(env.is_old(), "restored before the process exits");
    drop(rc);

    // The restarter starts Fluent Bit again, on the old files.
    let mut rc = env.driver(0);
    let st = rc.startup_status().unwrap();
    assert_eq!(st.last_remote_config_hash, b"boom");
    assert_eq!(st.error_message, apply::ABORTED);
    assert!(!env.layout.state.join("remote_config.pending").exists());
    let st = rc.on_offer(env.at(2), good("boom")).unwrap();
    assert_eq!(st.error_message, apply::BLOCKED);
    assert_eq!(env.signals(), 1, "never applied again");
    assert!(env.is_old());
    // A changed config is welcome.
    rc.on_offer(env.at(3), good("fixed"));
    assert_eq!(env.signals(), 2);
}

#[test]
fn health_gate_failure_rolls_back_and_reloads() {
    let env = Env::new("health");
    let mut rc = env.driver(20);
    rc.on_offer(env.at(1), good("h"));
    rc.on_pre_run(env.at(2), 2, true);
    rc.on_tick(env.at(5), Some(true));
    assert!(!env.is_old());
    rc.on_tick(env.at(8), Some(false));
    assert!(env.is_old());
    assert_eq!(
        env.signals(),
        2,
        "a second reload brings the old pipeline back"
    );
    let st = rc.poll_status().unwrap();
    assert!(
        st.error_message.contains("health gate"),
        "{}",
        st.error_message
    );
    assert!(!record::load(&env.layout.state).unwrap().applied);
}

#[test]
fn health_gate_success_commits() {
    let env = Env::new("healthy");
    let mut rc = env.driver(20);
    rc.on_offer(env.at(1), good("h"));
    rc.on_pre_run(env.at(2), 2, true);
    rc.on_tick(env.at(10), Some(true));
    assert!(rc.is_busy());
    rc.on_tick(env.at(22), Some(true));
    assert_eq!(kind(&rc.status().unwrap()), RemoteConfigStatuses::Applied);
    assert!(!env.layout.state.join("remote_config.lkg").exists());
}

#[test]
fn a_key_escaping_through_an_operator_symlink_writes_nothing_outside() {
    let env = Env::new("symlink");
    let outside = env.dir.join("outside");
    fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, env.layout.folder.join("esc")).unwrap();
    let mut rc = env.driver(0);
    let st = rc
        .on_offer(
            env.at(1),
            offer("s", &[("", OLD_MAIN), ("esc/pwn.conf", "x")]),
        )
        .unwrap();
    assert_eq!(kind(&st), RemoteConfigStatuses::Failed);
    assert!(
        st.error_message.contains("not a real folder"),
        "{}",
        st.error_message
    );
    assert!(
        fs::read_dir(&outside).unwrap().next().is_none(),
        "nothing written through the link"
    );
    assert!(fs::symlink_metadata(env.layout.folder.join("esc"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(env.signals(), 0);
}

#[test]
fn path_escapes_are_refused_by_policy() {
    let env = Env::new("escapes");
    let mut rc = env.driver(0);
    for (i, key) in [
        "/etc/cron.d/x",
        "../x.conf",
        "a/../../x",
        "nul\0x",
        "a\\..\\x",
        ".hidden",
    ]
    .iter()
    .enumerate()
    {
        let st = rc
            .on_offer(
                env.at(i as u64),
                offer(&format!("e{i}"), &[("", OLD_MAIN), (key, "x")]),
            )
            .unwrap();
        assert_eq!(kind(&st), RemoteConfigStatuses::Failed, "{key:?}");
        assert!(
            st.error_message.contains("config key"),
            "{key:?}: {}",
            st.error_message
        );
    }
    assert!(env.is_old());
    assert!(!env.dir.join("x.conf").exists() && !env.dir.join("etc/x.conf").exists());
}

#[test]
fn two_offers_never_interleave_reloads() {
    let env = Env::new("two");
    let mut rc = env.driver(0);
    rc.on_offer(env.at(1), good("a"));
    let st = rc
        .on_offer(env.at(1), offer("b", &[("", "[INPUT]\n    Name mem\n")]))
        .unwrap();
    assert_eq!(
        (st.last_remote_config_hash.as_slice(), kind(&st)),
        (&b"b"[..], RemoteConfigStatuses::Applying)
    );
    assert_eq!(env.signals(), 1);
    assert_eq!(env.main(), GOOD, "b waits until a's reload is confirmed");
    rc.on_pre_run(env.at(2), 2, true);
    assert_eq!(env.signals(), 2);
    assert_eq!(env.main(), "[INPUT]\n    Name mem\n");
    rc.on_pre_run(env.at(3), 3, true);
    let st = rc.status().unwrap();
    assert_eq!(
        (st.last_remote_config_hash.as_slice(), kind(&st)),
        (&b"b"[..], RemoteConfigStatuses::Applied)
    );
}

#[test]
fn restart_command_signals_once_per_reload() {
    let env = Env::new("restart");
    let mut rc = env.driver(0);
    assert_eq!(rc.on_restart_command(env.at(1)), RestartOutcome::Started);
    assert_eq!(rc.on_restart_command(env.at(1)), RestartOutcome::Deferred);
    assert_eq!(env.signals(), 1);
    rc.on_pre_run(env.at(2), 2, true);
    assert_eq!(env.signals(), 2);
    assert!(env.is_old(), "a restart never touches the files");
}

#[test]
fn remote_config_off_answers_failed_and_touches_nothing() {
    let env = Env::new("off");
    let mut opts = env.options(0);
    opts.policy.enabled = false;
    let mut rc = RemoteConfig::with_host(opts, Box::new(FakeHost(env.calls.clone())));
    rc.on_pre_run(env.at(0), 1, true);
    let st = rc.on_offer(env.at(1), good("h")).unwrap();
    assert!(
        st.error_message.contains("remote_config"),
        "{}",
        st.error_message
    );
    assert!(env.is_old());
}

#[test]
fn an_interrupted_apply_is_rolled_back_at_the_next_start() {
    let env = Env::new("interrupted");
    let mut rc = env.driver(0);
    rc.on_offer(env.at(1), good("crash"));
    assert!(!env.is_old());
    // The process dies here: no HALTED, no Unregister, nothing.
    std::mem::forget(rc);

    let rc = env.driver(0);
    assert!(env.is_old());
    let st = rc.startup_status().unwrap();
    assert_eq!(st.error_message, INTERRUPTED);
    assert_eq!(
        record::load(&env.layout.state).unwrap().blocked,
        vec![b"crash".to_vec()]
    );
    assert_eq!(
        env.signals(),
        2,
        "the restored files are reloaded once Fluent Bit runs"
    );
}
