//! Crash safety: the process dies between any two steps of a swap or a
//! restore. At that moment every live file holds its old or its new
//! content, never a torn mix; after the next start the whole set is the
//! old one (an unconfirmed apply is rolled back), or the new one once
//! committed.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use fluent_bit_opamp::config::properties::PluginPolicy;
use fluent_bit_opamp::remote::apply::Timing;
use fluent_bit_opamp::remote::files::Node;
use fluent_bit_opamp::remote::policy::{Candidate, Format, Policy};
use fluent_bit_opamp::remote::staging::{self, Layout};
use fluent_bit_opamp::remote::{record, Host, Options, RemoteConfig};

struct NoHost;

impl Host for NoHost {
    fn signal_reload(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn dry_run(&mut self, _: &Layout) -> Result<(), String> {
        Ok(())
    }
}

type Files = (Option<Vec<u8>>, BTreeMap<String, Vec<u8>>);

fn old() -> Files {
    (
        Some(b"old main".to_vec()),
        [
            ("a.conf", "old a"),
            ("gone.conf", "old gone"),
            ("sub/x.lua", "old x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect(),
    )
}

fn candidate() -> Candidate {
    Candidate {
        main: b"new main".to_vec(),
        files: vec![
            ("a.conf".into(), b"new a".to_vec()),
            ("new/y.conf".into(), b"new y".to_vec()),
            ("sub/x.lua".into(), b"new x".to_vec()),
        ],
    }
}

fn new() -> Files {
    let c = candidate();
    (Some(c.main), c.files.into_iter().collect())
}

fn setup(name: &str) -> (PathBuf, Layout) {
    let dir = std::env::temp_dir().join(format!("opamp-crash-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("state")).unwrap();
    fs::create_dir_all(dir.join("etc")).unwrap();
    let layout = Layout::new(&dir.join("etc/managed.conf"), &dir.join("state"));
    let (main, files) = old();
    fs::write(&layout.managed, main.unwrap()).unwrap();
    for (k, v) in files {
        fluent_bit_opamp::remote::files::write_in(&layout.folder, &k, &v).unwrap();
    }
    (dir, layout)
}

fn live(l: &Layout) -> Files {
    let (main, tree) = staging::live(l).unwrap();
    let files = tree
        .into_iter()
        .map(|(k, n)| match n {
            Node::File(d) => (k, d),
            Node::Link(_) => panic!("no links here"),
        })
        .collect();
    (main, files)
}

/// Each live file is exactly its old or its new version.
fn assert_no_torn_file(l: &Layout, at: &str) {
    let (main, files) = live(l);
    let (old_main, old_files) = old();
    let (new_main, new_files) = new();
    assert!(
        main == old_main || main == new_main,
        "main torn at {at}: {main:?}"
    );
    for (k, v) in files {
        let ok = old_files.get(&k) == Some(&v) || new_files.get(&k) == Some(&v);
        assert!(ok, "{k} torn at {at}: {v:?}");
    }
}

/// What a new process does first.
fn restart(l: &Layout) -> RemoteConfig {
    let opts = Options {
        policy: Policy {
            enabled: true,
            format: Format::Classic,
            main_name: "managed.conf".into(),
            folder: l.folder.clone(),
            plugins: PluginPolicy::Deny(vec![]),
            max_size: 1 << 20,
            paths: fluent_bit_opamp::remote::paths::AllowPaths::Any,
        },
        timing: Timing {
            confirm_timeout: Duration::from_secs(1),
            max_signals: 1,
            health_gate: Duration::ZERO,
        },
        layout: Some(l.clone()),
    };
    RemoteConfig::with_host(opts, Box::new(NoHost))
}

fn crash_at(target: usize) -> impl FnMut(&str) -> io::Result<()> {
    let mut n = 0;
    move |_| {
        n += 1;
        if n == target {
            Err(io::Error::other("power cut"))
        } else {
            Ok(())
        }
    }
}

fn swap_checkpoints() -> Vec<String> {
    let (dir, l) = setup("count");
    let mut names = Vec::new();
    staging::swap_with(&l, b"h", &candidate(), &mut |n| {
        names.push(n.to_string());
        Ok(())
    })
    .unwrap();
    fs::remove_dir_all(dir).unwrap();
    names
}

#[test]
fn a_crash_anywhere_in_a_swap_leaves_old_or_new_and_restart_restores_old() {
    let names = swap_checkpoints();
    assert_eq!(
        names,
        vec![
            "lkg",
            "marker",
            "file a.conf",
            "file new/y.conf",
            "file sub/x.lua",
            "prune",
            "main"
        ]
    );
    for (i, name) in names.iter().enumerate() {
        let (dir, l) = setup(&format!("swap{i}"));
        let err = staging::swap_with(&l, b"h", &candidate(), &mut crash_at(i + 1)).unwrap_err();
        assert_eq!(err.to_string(), "power cut");
        assert_no_torn_file(&l, name);
        if name != "main" {
            assert_eq!(live(&l).0, old().0, "the main file changes last ({name})");
        }

        let rc = restart(&l);
        assert_eq!(live(&l), old(), "after a crash at {name}");
        if name == "lkg" {
            // Before the marker nothing live had changed: nothing to report.
            assert!(rc.startup_status().is_none());
        } else {
            let st = rc.startup_status().unwrap();
            assert_eq!(st.last_remote_config_hash, b"h", "{name}");
        }
        assert!(staging::pending(&l).is_none(), "{name}");
        assert!(!l.state.join("remote_config.lkg").exists(), "{name}");
        fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn a_crash_while_restoring_is_finished_by_the_next_start() {
    let (dir, l) = setup("restore-count");
    staging::swap(&l, b"h", &candidate()).unwrap();
    let mut names = Vec::new();
    staging::restore_with(&l, &mut |n| {
        names.push(n.to_string());
        Ok(())
    })
    .unwrap();
    fs::remove_dir_all(dir).unwrap();

    for (i, name) in names.iter().enumerate() {
        let (dir, l) = setup(&format!("restore{i}"));
        staging::swap(&l, b"h", &candidate()).unwrap();
        staging::restore_with(&l, &mut crash_at(i + 1)).unwrap_err();
        assert_no_torn_file(&l, name);
        restart(&l);
        assert_eq!(live(&l), old(), "after a crash mid-restore at {name}");
        fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn a_crash_after_commit_keeps_the_new_config() {
    let (dir, l) = setup("committed");
    staging::swap(&l, b"h", &candidate()).unwrap();
    staging::commit(&l).unwrap();
    let rc = restart(&l);
    assert_eq!(live(&l), new());
    assert!(
        rc.startup_status().is_none(),
        "nothing was recorded in this test"
    );
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_crash_while_staging_never_touches_live_files() {
    let (dir, l) = setup("staging");
    staging::stage(&l, &candidate()).unwrap();
    // Dies before the dry run finishes: staging is left behind.
    assert!(l.staging.exists());
    restart(&l);
    assert!(!l.staging.exists());
    assert_eq!(live(&l), old());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_torn_temporary_file_is_ignored_and_cleaned() {
    let (dir, l) = setup("torn");
    // write_atomic died after writing its temporary file, before the rename.
    fs::write(l.folder.join(".a.conf.tmp4242"), b"new").unwrap();
    staging::swap(&l, b"h", &candidate()).unwrap();
    assert!(!l.folder.join(".a.conf.tmp4242").exists());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_interrupted_config_is_recorded_blocked() {
    let (dir, l) = setup("blocked");
    staging::swap(&l, b"h", &candidate()).unwrap();
    restart(&l);
    let rec = record::load(&l.state).unwrap();
    assert!(!rec.applied);
    assert_eq!(rec.blocked, vec![b"h".to_vec()]);
    fs::remove_dir_all(dir).unwrap();
}
