//! The process-global OpAMP agent: one thread that outlives every pipeline
//! generation. Host callbacks talk to it only through a channel, so none of
//! them waits on the network.

mod connection;
mod exchange;
mod runtime;
mod supervise;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use crate::config::properties::Settings;
use crate::state_dir::StateDir;

/// Messages from host callbacks to the agent thread.
#[derive(Debug)]
pub enum Control {
    /// A new pipeline generation initialised, with its (re-read) settings.
    Attach {
        generation: u64,
        settings: Box<Settings>,
        /// Property errors that were worked around with defaults; reported
        /// to the server as unhealthy.
        problem: Option<String>,
    },
    /// A new generation initialised with settings that cannot be used even
    /// with defaults: keep the connection, report the problem, act on
    /// nothing else until a later generation fixes them.
    Inert { generation: u64, problem: String },
    /// The generation's input thread started: the new pipeline is running.
    PreRun { generation: u64, hot_reload: bool },
    /// A generation exited because a reload replaced it.
    Detach { generation: u64 },
    /// Fluent Bit refused a new config; the old pipeline keeps running.
    HaltedReload,
    /// A reload failed in init and the process is exiting.
    Aborted { generation: u64 },
    /// A step running beside the agent thread (the dry run) ended.
    Wake,
    /// Final shutdown: say goodbye and end.
    Shutdown,
}

/// Sends control messages to the agent thread and wakes it. One byte per
/// message on the wake-up socket wakes the thread when it waits on a
/// WebSocket, so it never polls on a timer. A socket pair rather than a
/// pipe: writing to a pipe whose reader is gone raises SIGPIPE, which would
/// kill Fluent Bit; std sends on sockets with MSG_NOSIGNAL.
pub struct Notifier {
    tx: Sender<Control>,
    wake: UnixStream,
}

impl Notifier {
    pub fn send(&self, c: Control) {
        // A send fails only once the thread has ended, when there is no one
        // left to tell. The socket is non-blocking: if it is full the thread
        // has wake-ups pending anyway.
        let _ = self.tx.send(c);
        let _ = (&self.wake).write(&[1]);
    }
}

impl Clone for Notifier {
    fn clone(&self) -> Notifier {
        Notifier {
            tx: self.tx.clone(),
            // A failed dup leaves a clone that wakes no one; the channel
            // message still arrives at the next deadline.
            wake: self
                .wake
                .try_clone()
                .unwrap_or_else(|_| UnixStream::pair().expect("socket pair").0),
        }
    }
}

pub struct AgentHandle {
    notifier: Notifier,
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
    let notifier = Notifier { tx, wake };
    let own = supervise::Wake::new(wake_rx, notifier.clone());
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
