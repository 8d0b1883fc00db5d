//! The outside world the apply driver acts on: our own process (the
//! reload signal) and Fluent Bit's `--dry-run`.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use super::bootstrap;
use super::staging::Layout;
use super::validate::{self, DryRun};
use crate::config::properties::Settings;

/// A dry run to carry out beside the agent thread; the flag asks it to stop.
pub type DryRunTask = Box<dyn FnOnce(&AtomicBool) -> Result<(), String> + Send>;

/// A dry run, as the host runs it.
pub enum DryRunJob {
    /// Already decided (no binary to run, or a test double).
    Done(Result<(), String>),
    /// To run beside the agent thread: it may take seconds. The flag asks
    /// it to stop early (shutdown).
    Background(DryRunTask),
}

/// What the driver needs from the outside world; tests replace it so they
/// neither signal the test process nor need a Fluent Bit binary.
pub trait Host: Send {
    /// Ask our own process to hot-reload.
    fn signal_reload(&mut self) -> std::io::Result<()>;
    /// Validate the candidate staged in `layout` with Fluent Bit's
    /// `--dry-run`. The error text is reported to the server.
    fn dry_run(&mut self, layout: &Layout) -> Result<(), String>;
    /// The dry run as a job; by default done inline with [`Host::dry_run`].
    fn dry_run_job(&mut self, layout: &Layout) -> DryRunJob {
        DryRunJob::Done(self.dry_run(layout))
    }
}

/// The real thing: SIGHUP to ourselves, and the binary we run in.
pub struct SystemHost {
    dry_run: Option<DryRun>,
    warned: bool,
}

impl SystemHost {
    pub fn new(dry_run: Option<DryRun>) -> SystemHost {
        SystemHost {
            dry_run,
            warned: false,
        }
    }

    /// Finds the bootstrap and the Fluent Bit binary from our settings and
    /// command line.
    pub fn discover(settings: &Settings, args: &[String]) -> SystemHost {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let dry_run = match (validate::discover_binary(), bootstrap(settings, args)) {
            (Some(binary), Some(bootstrap)) => Some(DryRun {
                binary,
                bootstrap,
                extra_args: validate::passthrough_args(args, &cwd),
                timeout: validate::DEFAULT_TIMEOUT,
            }),
            _ => None,
        };
        SystemHost::new(dry_run)
    }
}

impl Host for SystemHost {
    fn signal_reload(&mut self) -> std::io::Result<()> {
        crate::sys::signal_reload()
    }

    fn dry_run(&mut self, layout: &Layout) -> Result<(), String> {
        match self.dry_run_job(layout) {
            DryRunJob::Done(r) => r,
            DryRunJob::Background(job) => job(&AtomicBool::new(false)),
        }
    }

    fn dry_run_job(&mut self, layout: &Layout) -> DryRunJob {
        match &self.dry_run {
            Some(d) => {
                let (d, layout) = (d.clone(), layout.clone());
                DryRunJob::Background(Box::new(move |cancel| d.check_until(&layout, cancel)))
            }
            None => {
                if !std::mem::replace(&mut self.warned, true) {
                    crate::warn!(
                        "remote config: no Fluent Bit binary or bootstrap path for --dry-run; configs are \
                         checked by policy only, and a refused reload is rolled back"
                    );
                }
                DryRunJob::Done(Ok(()))
            }
        }
    }
}
