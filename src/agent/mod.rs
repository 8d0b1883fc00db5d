//! The process-global OpAMP agent: one thread that outlives every pipeline
//! generation. Host callbacks talk to it only through a channel, so none of
//! them waits on the network.

mod commands;
mod connection;
mod control;
mod events;
mod exchange;
mod notify;
mod package_state;
mod packages;
mod report;
mod runtime;
mod steer;
mod supervise;

pub use control::Control;
pub use notify::Notifier;
/// The connection-settings decoders, for fuzz targets and tests.
pub use steer::seam as steer_seam;

use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::Receiver;

use crate::config::properties::Settings;
use crate::state_dir::StateDir;

pub struct AgentHandle {
    notifier: Arc<Notifier>,
    done: Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl AgentHandle {
    pub fn send(&self, c: Control) {
        self.notifier.send(c);
    }

    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Waits for the thread to end, at most until `deadline`. Returns
    /// whether it ended.
    pub fn wait_until(mut self, deadline: Instant) -> bool {
        let ended = match self.done.recv_deadline(deadline) {
            Ok(()) => true,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => true,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => false,
        };
        if ended {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
        ended
    }
}

/// Starts the agent thread. Fails when the state folder cannot be used or
/// is locked by another copy of the plugin in this process or another.
pub fn start(
    settings: Settings,
    generation: u64,
    problem: Option<String>,
) -> Result<AgentHandle, String> {
    let state = StateDir::open(&settings.state_dir)?;
    let (wake_rx, wake) = UnixStream::pair()
        .and_then(|(r, w)| {
            r.set_nonblocking(true)?;
            w.set_nonblocking(true)?;
            Ok((r, w))
        })
        .map_err(|e| format!("cannot create the client's wake-up socket: {e}"))?;
    let (tx, rx) = crossbeam_channel::unbounded();
    let notifier = Arc::new(Notifier::new(tx, wake));
    let own = notify::Wake::new(wake_rx, notifier.clone());
    let (done_tx, done) = crossbeam_channel::bounded(1);
    let thread = std::thread::Builder::new()
        .name("opamp-client".into())
        .spawn(move || {
            runtime::run(settings, state, generation, problem, rx, own);
            let _ = done_tx.send(());
        })
        .map_err(|e| format!("cannot start the OpAMP client thread: {e}"))?;
    Ok(AgentHandle {
        notifier,
        done,
        thread: Some(thread),
    })
}
