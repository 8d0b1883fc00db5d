//! The apply state machine, driven without IO: every step, every wait and
//! every failure path, with the actions it asks for checked in order.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fluent_bit_opamp::config::properties::PluginPolicy;
use fluent_bit_opamp::proto::{
    AgentConfigFile, AgentConfigMap, AgentRemoteConfig, RemoteConfigStatuses,
};
use fluent_bit_opamp::remote::apply::{self, Action, Machine, RestartOutcome, Resume, Timing};
use fluent_bit_opamp::remote::policy::{Format, Policy, DEFAULT_DENY_PLUGINS};

fn policy() -> Policy {
    Policy {
        enabled: true,
        format: Format::Classic,
        main_name: "managed.conf".into(),
        folder: PathBuf::from("/etc/fb/managed.d"),
        plugins: PluginPolicy::Deny(DEFAULT_DENY_PLUGINS.split(',').map(String::from).collect()),
        max_size: 1 << 20,
        paths: fluent_bit_opamp::remote::paths::AllowPaths::Any,
    }
}

fn timing(gate: u64) -> Timing {
    Timing {
        confirm_timeout: Duration::from_secs(10),
        max_signals: 3,
        health_gate: Duration::from_secs(gate),
    }
}

fn offer(hash: &str, body: &str) -> AgentRemoteConfig {
    let mut map = AgentConfigMap::default();
    map.config_map.insert(
        String::new(),
        AgentConfigFile {
            body: body.as_bytes().to_vec(),
            content_type: String::new(),
        },
    );
    AgentRemoteConfig {
        config: Some(map),
        config_hash: hash.as_bytes().to_vec(),
    }
}

const GOOD: &str = "[INPUT]\n    Name dummy\n";

/// A machine plus a script of step results; records every action.
struct Sim {
    m: Machine,
    t0: Instant,
    actions: Vec<String>,
    fail: Vec<(&'static str, String)>,
}

impl Sim {
    fn new(gate: u64) -> Sim {
        Sim::resume(gate, Resume::default())
    }

    fn resume(gate: u64, r: Resume) -> Sim {
        Sim {
            m: Machine::new(policy(), timing(gate), r),
            t0: Instant::now(),
            actions: vec![],
            fail: vec![],
        }
    }

    fn at(&self, secs: u64) -> Instant {
        self.t0 + Duration::from_secs(secs)
    }

    /// Carries out due actions at `secs`, failing the ones scripted to.
    fn drive(&mut self, secs: u64) {
        let now = self.at(secs);
        while let Some(a) = self.m.next_action() {
            let name = match &a {
                Action::Stage(_) => "stage".to_string(),
                Action::DryRun => "dry_run".to_string(),
                Action::Swap { hash, .. } => format!("swap {}", String::from_utf8_lossy(hash)),
                Action::SignalReload => "signal".to_string(),
                Action::Restore => "restore".to_string(),
                Action::Commit => "commit".to_string(),
                Action::Persist(o) => format!(
                    "persist {} {}",
                    String::from_utf8_lossy(&o.hash),
                    if o.applied { "applied" } else { "failed" }
                ),
            };
            let step = name.split(' ').next().unwrap().to_string();
            let result = match self.fail.iter().position(|(s, _)| *s == step) {
                Some(i) => Err(self.fail.remove(i).1),
                None => Ok(()),
            };
            self.actions.push(name);
            self.m.done(now, result);
        }
    }

    fn offer(&mut self, secs: u64, hash: &str, body: &str) {
        self.m.offer(offer(hash, body));
        self.drive(secs);
    }

    fn pre_run(&mut self, secs: u64, generation: u64, hot: bool) {
        self.m.pre_run(self.at(secs), generation, hot);
        self.drive(secs);
    }

    fn tick(&mut self, secs: u64, health: Option<bool>) {
        self.m.tick(self.at(secs), health);
        self.drive(secs);
    }

    fn status(&self) -> (String, RemoteConfigStatuses, String) {
        let s = self.m.status().expect("a status");
        (
            String::from_utf8_lossy(&s.last_remote_config_hash).into_owned(),
            RemoteConfigStatuses::try_from(s.status).unwrap(),
            s.error_message.clone(),
        )
    }

    fn take(&mut self) -> Vec<String> {
        std::mem::take(&mut self.actions)
    }

    fn signals(&self) -> usize {
        self.actions.iter().filter(|a| *a == "signal").count()
    }
}

fn started(gate: u64) -> Sim {
    let mut s = Sim::new(gate);
    s.pre_run(0, 1, true);
    s
}

#[test]
fn good_config_goes_through_every_step_to_applied() {
    let mut s = started(0);
    s.offer(1, "h1", GOOD);
    assert_eq!(s.take(), vec!["stage", "dry_run", "swap h1", "signal"]);
    assert_eq!(s.status().1, RemoteConfigStatuses::Applying);
    assert_eq!(s.m.next_deadline(), Some(s.at(11)));
    s.pre_run(2, 2, true);
    assert_eq!(s.take(), vec!["commit", "persist h1 applied"]);
    assert_eq!(
        s.status(),
        ("h1".into(), RemoteConfigStatuses::Applied, String::new())
    );
    assert_eq!(s.m.applied_hash(), Some(&b"h1"[..]));
    assert!(!s.m.is_busy());
}

#[test]
fn the_same_config_twice_reloads_once_and_answers_applied() {
    let mut s = started(0);
    s.offer(1, "h1", GOOD);
    s.pre_run(2, 2, true);
    s.m.take_status();
    s.offer(3, "h1", GOOD);
    assert_eq!(s.signals(), 1);
    assert_eq!(s.take().last().unwrap(), "persist h1 applied");
    let again = s.m.take_status().expect("always answered");
    assert_eq!(again.status, RemoteConfigStatuses::Applied as i32);
}

#[test]
fn the_same_offer_while_it_is_applying_is_not_queued() {
    let mut s = started(0);
    s.offer(1, "h1", GOOD);
    s.offer(1, "h1", GOOD);
    s.pre_run(2, 2, true);
    s.tick(30, None);
    assert_eq!(s.signals(), 1);
    assert_eq!(s.status().1, RemoteConfigStatuses::Applied);
}

#[test]
fn a_policy_rejection_fails_before_any_file_step() {
    let mut s = started(0);
    s.offer(1, "bad", "[INPUT]\n    Name exec\n    Command id\n");
    assert_eq!(s.take(), vec!["persist bad failed"]);
    let (h, st, e) = s.status();
    assert_eq!((h.as_str(), st), ("bad", RemoteConfigStatuses::Failed));
    assert!(e.contains("deny_plugins") && e.contains("'exec'"), "{e}");
}

#[test]
fn hot_reload_off_fails_and_says_how_to_turn_it_on() {
    let mut s = Sim::new(0);
    s.pre_run(0, 1, false);
    s.offer(1, "h", GOOD);
    assert_eq!(s.take(), vec!["persist h failed"]);
    let e = s.status().2;
    assert!(
        e.contains("Hot_Reload On") && e.contains("hot_reload: on"),
        "{e}"
    );
}

#[test]
fn an_offer_before_the_first_pre_run_waits_for_it() {
    let mut s = Sim::new(0);
    s.offer(0, "h", GOOD);
    assert!(s.take().is_empty());
    assert_eq!(s.status().1, RemoteConfigStatuses::Applying);
    s.pre_run(1, 1, true);
    assert_eq!(s.take(), vec!["stage", "dry_run", "swap h", "signal"]);
}

#[test]
fn a_dry_run_failure_reports_fluent_bits_text_and_changes_nothing() {
    let mut s = started(0);
    s.fail.push((
        "dry_run",
        "[error] section 'nosuch' tried to instance a plugin name that doesn't exist".into(),
    ));
    s.offer(1, "h", GOOD);
    assert_eq!(s.take(), vec!["stage", "dry_run", "persist h failed"]);
    assert!(s.status().2.contains("nosuch"));
    assert!(!s.m.is_busy());
}

#[test]
fn a_staging_failure_fails_without_touching_live_files() {
    let mut s = started(0);
    s.fail.push(("stage", "disk full".into()));
    s.offer(1, "h", GOOD);
    assert_eq!(s.take(), vec!["stage", "persist h failed"]);
    assert!(s.status().2.contains("cannot stage") && s.status().2.contains("disk full"));
}

#[test]
fn a_swap_failure_restores_the_last_known_good() {
    let mut s = started(0);
    s.fail.push((
        "swap",
        "escapes the managed folder through a symlink".into(),
    ));
    s.offer(1, "h", GOOD);
    assert_eq!(
        s.take(),
        vec!["stage", "dry_run", "swap h", "restore", "persist h failed"]
    );
    assert!(s.status().2.contains("symlink"));
}

#[test]
fn halted_reload_restores_and_fails() {
    let mut s = started(0);
    s.offer(1, "h", GOOD);
    s.take();
    s.m.halted();
    s.drive(2);
    assert_eq!(s.take(), vec!["restore", "persist h failed"]);
    assert_eq!(s.status().2, apply::HALTED);
    // The old pipeline still runs: no rollback reload.
    assert_eq!(s.signals(), 0);
}

#[test]
fn silence_after_the_signal_re_signals_up_to_the_limit_then_rolls_back() {
    let mut s = started(0);
    s.offer(1, "h", GOOD);
    s.tick(5, None);
    assert_eq!(s.signals(), 1, "no re-signal before the timeout");
    s.tick(11, None);
    assert_eq!(s.signals(), 2);
    s.tick(21, None);
    assert_eq!(s.signals(), 3);
    s.tick(31, None);
    assert_eq!(s.signals(), 3, "never more than max_signals");
    assert_eq!(s.take().last().unwrap(), "persist h failed");
    let e = s.status().2;
    assert!(
        e.contains("bad header definition") && e.contains("3 reload signals"),
        "{e}"
    );
}

#[test]
fn a_late_pre_run_after_a_dropped_signal_still_confirms() {
    let mut s = started(0);
    s.offer(1, "h", GOOD);
    s.tick(11, None);
    assert_eq!(s.signals(), 2);
    s.pre_run(12, 2, true);
    assert_eq!(s.status().1, RemoteConfigStatuses::Applied);
}

#[test]
fn a_pre_run_of_the_old_generation_does_not_confirm() {
    let mut s = started(0);
    s.offer(1, "h", GOOD);
    s.pre_run(2, 1, true);
    assert_eq!(s.status().1, RemoteConfigStatuses::Applying);
}

#[test]
fn a_rising_reload_count_confirms() {
    let mut s = started(0);
    s.m.reload_count(s.at(0), 4);
    s.offer(1, "h", GOOD);
    s.m.reload_count(s.at(2), 4);
    s.drive(2);
    assert_eq!(s.status().1, RemoteConfigStatuses::Applying);
    s.m.reload_count(s.at(3), 5);
    s.drive(3);
    assert_eq!(s.status().1, RemoteConfigStatuses::Applied);
}

#[test]
fn health_gate_passes_after_its_full_length() {
    let mut s = started(30);
    s.offer(1, "h", GOOD);
    s.pre_run(2, 2, true);
    assert_eq!(s.m.next_deadline(), Some(s.at(32)));
    s.tick(20, Some(true));
    s.tick(31, None);
    assert_eq!(s.status().1, RemoteConfigStatuses::Applying);
    s.tick(32, Some(true));
    assert_eq!(s.status().1, RemoteConfigStatuses::Applied);
}

#[test]
fn health_gate_failure_rolls_back_and_reloads_the_old_config() {
    let mut s = started(30);
    s.offer(1, "h", GOOD);
    s.pre_run(2, 2, true);
    s.take();
    s.tick(10, Some(false));
    assert_eq!(s.take(), vec!["restore", "persist h failed", "signal"]);
    assert!(s.status().2.contains("health gate"));
    assert!(s.m.is_busy(), "the rollback reload is itself confirmed");
    s.pre_run(11, 3, true);
    assert!(!s.m.is_busy());
    assert_eq!(s.m.applied_hash(), None);
}

#[test]
fn a_commit_failure_rolls_back_rather_than_lie() {
    let mut s = started(0);
    s.fail.push(("commit", "read-only file system".into()));
    s.offer(1, "h", GOOD);
    s.pre_run(2, 2, true);
    let a = s.take();
    assert_eq!(
        a[a.len() - 4..],
        ["commit", "restore", "persist h failed", "signal"]
    );
    assert_eq!(s.status().1, RemoteConfigStatuses::Failed);
}

#[test]
fn aborted_reports_failed_and_does_nothing_more() {
    let mut s = started(0);
    s.offer(1, "h", GOOD);
    s.take();
    s.m.aborted();
    s.drive(2);
    assert!(s.take().is_empty(), "the driver restored the files already");
    assert_eq!(
        s.status(),
        (
            "h".into(),
            RemoteConfigStatuses::Failed,
            apply::ABORTED.into()
        )
    );
    s.offer(3, "h2", GOOD);
    s.tick(60, None);
    assert!(s.take().is_empty());
}

#[test]
fn a_blocked_config_fails_at_once_after_restart() {
    let mut s = Sim::resume(
        0,
        Resume {
            blocked: vec![b"h".to_vec()],
            ..Resume::default()
        },
    );
    s.pre_run(0, 1, true);
    s.offer(1, "h", GOOD);
    assert!(s.take().is_empty());
    assert_eq!(s.status().2, apply::BLOCKED);
}

#[test]
fn a_config_that_failed_is_answered_again_without_redoing_it() {
    let mut s = started(0);
    s.fail.push(("dry_run", "nope".into()));
    s.offer(1, "h", GOOD);
    s.take();
    s.m.take_status();
    s.offer(2, "h", GOOD);
    assert!(s.take().is_empty());
    assert_eq!(s.m.take_status().unwrap().error_message, "nope");
}

#[test]
fn a_second_offer_waits_for_the_first_reload_to_finish() {
    let mut s = started(0);
    s.offer(1, "a", GOOD);
    s.offer(2, "b", "[INPUT]\n    Name cpu\n");
    assert_eq!(s.take(), vec!["stage", "dry_run", "swap a", "signal"]);
    // The server hears about its newest offer only.
    assert_eq!(
        s.status(),
        ("b".into(), RemoteConfigStatuses::Applying, String::new())
    );
    s.pre_run(3, 2, true);
    assert_eq!(
        s.take(),
        vec![
            "commit",
            "persist a applied",
            "stage",
            "dry_run",
            "swap b",
            "signal"
        ]
    );
    assert_eq!(s.status().0, "b");
    s.pre_run(4, 3, true);
    assert_eq!(
        s.status(),
        ("b".into(), RemoteConfigStatuses::Applied, String::new())
    );
}

#[test]
fn only_the_newest_waiting_offer_is_kept() {
    let mut s = started(0);
    s.offer(1, "a", GOOD);
    s.offer(2, "b", GOOD);
    s.offer(3, "c", GOOD);
    s.pre_run(4, 2, true);
    let a = s.take();
    assert!(
        a.contains(&"swap c".to_string()) && !a.contains(&"swap b".to_string()),
        "{a:?}"
    );
}

#[test]
fn an_offer_back_to_the_running_config_after_a_newer_one_is_reapplied() {
    let mut s = started(0);
    s.offer(1, "a", GOOD);
    s.pre_run(2, 2, true);
    s.offer(3, "b", "[INPUT]\n    Name cpu\n");
    s.offer(4, "a", GOOD);
    s.pre_run(5, 3, true);
    assert_eq!(s.status().0, "a");
    assert!(s.take().contains(&"swap a".to_string()));
}

#[test]
fn restart_command_reloads_once_and_never_during_another_reload() {
    let mut s = started(0);
    assert_eq!(s.m.restart(), RestartOutcome::Started);
    s.drive(0);
    assert_eq!(s.take(), vec!["signal"]);
    assert_eq!(s.m.restart(), RestartOutcome::Deferred);
    s.drive(0);
    assert_eq!(s.signals(), 0);
    s.pre_run(1, 2, true);
    assert_eq!(s.take(), vec!["signal"], "the deferred restart follows");
    s.pre_run(2, 3, true);
    assert!(!s.m.is_busy());
}

#[test]
fn restart_command_with_hot_reload_off_is_refused() {
    let mut s = Sim::new(0);
    s.pre_run(0, 1, false);
    assert!(matches!(s.m.restart(), RestartOutcome::Refused(e) if e.contains("Hot_Reload On")));
}

#[test]
fn a_crash_recovery_reloads_the_restored_files_once_running() {
    let mut s = Sim::resume(
        0,
        Resume {
            reload_needed: true,
            ..Resume::default()
        },
    );
    s.drive(0);
    assert!(
        s.take().is_empty(),
        "not before Fluent Bit says hot reload is on"
    );
    s.pre_run(0, 1, true);
    assert_eq!(s.take(), vec!["signal"]);
}

#[test]
fn the_resumed_status_is_reported_first() {
    let st = fluent_bit_opamp::proto::RemoteConfigStatus {
        last_remote_config_hash: b"old".to_vec(),
        status: RemoteConfigStatuses::Failed as i32,
        error_message: "x".into(),
    };
    let mut s = Sim::resume(
        0,
        Resume {
            status: Some(st.clone()),
            ..Resume::default()
        },
    );
    assert_eq!(s.m.take_status(), Some(st));
    assert_eq!(s.m.take_status(), None);
}

#[test]
fn offers_without_a_hash_are_never_taken_for_one_another() {
    let mut s = started(0);
    s.offer(1, "", GOOD);
    s.pre_run(2, 2, true);
    s.offer(3, "", "[INPUT]\n    Name cpu\n");
    assert_eq!(s.signals(), 2, "the second hash-less config is applied too");
}

/// How each offer ended, for the management events: refused before any
/// file changed, failed (files restored, pipeline unchanged), rolled back
/// (the new pipeline ran), applied; each once, with its reason.
#[test]
fn each_offer_ends_once_as_refused_failed_rolled_back_or_applied() {
    use apply::Settled::*;
    let ended = |s: &mut Sim| -> Vec<(String, apply::Settled, String)> {
        s.m.take_ended()
            .into_iter()
            .map(|e| {
                (
                    String::from_utf8_lossy(&e.hash).into_owned(),
                    e.how,
                    e.reason,
                )
            })
            .collect()
    };
    let mut s = started(30);
    s.offer(1, "denied", "[INPUT]\n    Name exec\n");
    let e = ended(&mut s);
    assert_eq!(
        (e.len(), &e[0].0, e[0].1),
        (1, &"denied".to_string(), Refused)
    );
    assert!(e[0].2.contains("exec"), "{}", e[0].2);

    s.offer(2, "halt", GOOD);
    s.m.halted();
    s.drive(3);
    assert_eq!(
        ended(&mut s),
        vec![("halt".into(), Failed, apply::HALTED.into())]
    );

    s.offer(4, "unhealthy", GOOD);
    s.pre_run(5, 2, true);
    s.tick(10, Some(false));
    let e = ended(&mut s);
    assert_eq!((e.len(), e[0].1), (1, RolledBack), "{e:?}");
    assert!(e[0].2.contains("health gate"));
    s.pre_run(11, 3, true);

    s.offer(12, "good", GOOD);
    s.pre_run(13, 4, true);
    s.tick(44, Some(true));
    assert_eq!(ended(&mut s), vec![("good".into(), Applied, String::new())]);
    assert!(ended(&mut s).is_empty(), "each once");
}
