//! The FFI Unregister path of an ABORTED reload: `on_process_abort` runs on
//! Fluent Bit's main thread with no access to the agent's state, and must
//! restore the last-known-good from disk alone. Its own test binary,
//! because the layout it restores is process-global.

use std::fs;
use std::io;
use std::time::{Duration, Instant};

use fluent_bit_opamp::config::properties::PluginPolicy;
use fluent_bit_opamp::proto::{AgentConfigFile, AgentConfigMap, AgentRemoteConfig};
use fluent_bit_opamp::remote::apply::{self, Timing};
use fluent_bit_opamp::remote::policy::{Format, Policy};
use fluent_bit_opamp::remote::staging::{self, Layout, Phase};
use fluent_bit_opamp::remote::{on_process_abort, record, Host, Options, RemoteConfig};

struct NoHost;

impl Host for NoHost {
    fn signal_reload(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn dry_run(&mut self, _: &Layout) -> Result<(), String> {
        Ok(())
    }
}

#[test]
fn unregister_restores_from_disk_and_the_next_start_reports_it() {
    let dir = std::env::temp_dir().join(format!("opamp-abort-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("etc")).unwrap();
    fs::create_dir_all(dir.join("state")).unwrap();
    let layout = Layout::new(&dir.join("etc/managed.conf"), &dir.join("state"));
    fs::write(&layout.managed, "old").unwrap();
    let opts = || Options {
        policy: Policy {
            enabled: true,
            format: Format::Classic,
            main_name: "managed.conf".into(),
            folder: layout.folder.clone(),
            plugins: PluginPolicy::Deny(vec![]),
            max_size: 1 << 20,
            paths: fluent_bit_opamp::remote::paths::AllowPaths::Any,
        },
        timing: Timing {
            confirm_timeout: Duration::from_secs(10),
            max_signals: 3,
            health_gate: Duration::ZERO,
        },
        layout: Some(layout.clone()),
    };

    assert_eq!(
        on_process_abort(),
        None,
        "nothing to do before any driver exists"
    );
    let mut rc = RemoteConfig::with_host(opts(), Box::new(NoHost));
    assert_eq!(
        on_process_abort(),
        None,
        "nothing to do while no apply is pending"
    );

    let t = Instant::now();
    rc.on_pre_run(t, 1, true);
    let mut map = AgentConfigMap::default();
    map.config_map.insert(
        String::new(),
        AgentConfigFile {
            body: b"[INPUT]\n    Name dummy\n".to_vec(),
            content_type: String::new(),
        },
    );
    rc.on_offer(
        t,
        AgentRemoteConfig {
            config: Some(map),
            config_hash: b"\x01\x02".to_vec(),
        },
    );
    assert_eq!(
        fs::read_to_string(&layout.managed).unwrap(),
        "[INPUT]\n    Name dummy\n"
    );

    // Main thread, Unregister of the new registration, just before exit(255).
    let msg = on_process_abort().expect("a restore happened");
    assert!(msg.contains("0102"), "{msg}");
    assert_eq!(fs::read_to_string(&layout.managed).unwrap(), "old");
    assert_eq!(staging::pending(&layout).unwrap().phase, Phase::Aborted);
    // The agent thread hears of it too, late: nothing changes any more.
    rc.on_aborted();
    rc.on_pre_run(t + Duration::from_secs(1), 2, true);
    assert_eq!(fs::read_to_string(&layout.managed).unwrap(), "old");
    drop(rc);

    let rc = RemoteConfig::with_host(opts(), Box::new(NoHost));
    let st = rc.startup_status().unwrap();
    assert_eq!(st.last_remote_config_hash, vec![1, 2]);
    assert_eq!(st.error_message, apply::ABORTED);
    assert!(staging::pending(&layout).is_none());
    assert_eq!(
        record::load(&layout.state).unwrap().blocked,
        vec![vec![1, 2]]
    );
    fs::remove_dir_all(&dir).unwrap();
}
