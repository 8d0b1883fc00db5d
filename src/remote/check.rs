//! `validate`: the checks an apply would run on a config (variable
//! expansion, the operator's policy, Fluent Bit's `--dry-run`), with
//! nothing applied. The dry run takes the driver's background slot, so it
//! never overlaps an apply's own (they share the bootstrap copy's name),
//! and it stages into a folder of its own.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::host::DryRunJob;
use super::staging::{self, Layout};
use super::{Background, RemoteConfig};
use crate::proto::AgentConfigMap;

/// What an apply of the config would meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// The policy's verdict (variables included): the refusal, if any.
    pub policy: Result<(), String>,
    /// Fluent Bit's `--dry-run`: `None` when it did not run (refused by
    /// policy first), `Some(Ok)` also when no binary was found to run.
    pub fluent_bit: Option<Result<(), String>>,
    /// Whether a reload could apply it at all; `None` before Fluent Bit
    /// said whether hot reload is on.
    pub hot_reload: Option<bool>,
}

impl CheckReport {
    /// Whether an apply would go ahead to the reload.
    pub fn would_apply(&self) -> bool {
        self.policy.is_ok()
            && matches!(self.fluent_bit, Some(Ok(())))
            && self.hot_reload != Some(false)
    }
}

pub enum CheckStart {
    Done(CheckReport),
    /// The dry run runs beside the agent thread; its end wakes the thread
    /// and [`RemoteConfig::take_check`] has the report.
    Running,
    Busy(String),
}

fn check_layout(l: &Layout) -> Layout {
    let name = super::policy::file_name(&l.managed);
    Layout {
        staging: l.managed.with_file_name(format!(".{name}.check")),
        ..l.clone()
    }
}

impl RemoteConfig {
    /// Checks `map` as an apply would, applying nothing.
    pub fn check(&mut self, map: AgentConfigMap) -> CheckStart {
        if self.background.is_some() {
            return CheckStart::Busy("busy: a --dry-run is already running".into());
        }
        let mut report = CheckReport {
            policy: Ok(()),
            fluent_bit: None,
            hot_reload: self.machine.hot_reload(),
        };
        let expanded = self.vars().expand_map(map);
        let policy = self.machine.policy();
        let candidate =
            match expanded.and_then(|m| policy.check(Some(&m)).map_err(|r| r.to_string())) {
                Ok(c) => c,
                Err(e) => {
                    report.policy = Err(self.redacted(&e));
                    return CheckStart::Done(report);
                }
            };
        let Some(layout) = self.layout.as_ref().map(check_layout) else {
            report.policy = Err("no managed_config is set".into());
            return CheckStart::Done(report);
        };
        if let Err(e) = staging::stage(&layout, &candidate) {
            report.fluent_bit = Some(Err(format!("cannot stage the config for --dry-run: {e}")));
            return CheckStart::Done(report);
        }
        match self.host.dry_run_job(&layout) {
            DryRunJob::Done(r) => {
                let _ = staging::clear_staging(&layout);
                report.fluent_bit = Some(r.map_err(|e| self.redacted(&e)));
                CheckStart::Done(report)
            }
            DryRunJob::Background(job) => {
                let (tx, done) = crossbeam_channel::bounded(1);
                let cancel = Arc::new(AtomicBool::new(false));
                let (flag, waker) = (cancel.clone(), self.waker.clone());
                let spawned = std::thread::Builder::new()
                    .name("opamp-validate".into())
                    .spawn(move || {
                        let _ = tx.send(job(&flag));
                        waker();
                    });
                if let Err(e) = spawned {
                    let _ = staging::clear_staging(&layout);
                    report.fluent_bit = Some(Err(format!("cannot start the --dry-run check: {e}")));
                    return CheckStart::Done(report);
                }
                self.background = Some(Background {
                    done,
                    cancel,
                    check: true,
                });
                self.check_pending = Some(report);
                CheckStart::Running
            }
        }
    }

    /// The report of the check that ran in the background, once.
    pub fn take_check(&mut self) -> Option<CheckReport> {
        self.check_result.take()
    }

    pub(super) fn check_done(&mut self, result: Result<(), String>) {
        if let Some(layout) = self.layout.as_ref().map(check_layout) {
            let _ = staging::clear_staging(&layout);
        }
        let mut report = self.check_pending.take().unwrap_or(CheckReport {
            policy: Ok(()),
            fluent_bit: None,
            hot_reload: self.machine.hot_reload(),
        });
        report.fluent_bit = Some(result.map_err(|e| self.redacted(&e)));
        self.check_result = Some(report);
    }

    /// Fluent Bit's errors may quote a rendered line: no secret value goes
    /// into a reply.
    fn redacted(&self, text: &str) -> String {
        self.vars().redact(text, crate::fbconf::text::REDACTED)
    }
}
