//! Waking the agent thread: the control channel plus one byte per message
//! on a socket the thread can poll beside its WebSocket.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use crossbeam_channel::Sender;

use super::control::Control;

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
    pub(super) fn new(tx: Sender<Control>, wake: UnixStream) -> Notifier {
        Notifier { tx, wake }
    }

    pub fn send(&self, c: Control) {
        // A send fails only once the thread has ended, when there is no one
        // left to tell. The socket is non-blocking: if it is full the thread
        // has wake-ups pending anyway.
        let _ = self.tx.send(c);
        let _ = (&self.wake).write(&[1]);
    }
}

/// The agent thread's end of the wake-up socket, and a way to wake itself
/// from helper threads (the dry run).
pub(super) struct Wake {
    socket: UnixStream,
    /// Shared with the host-facing handle: one channel, one socket.
    pub(super) notifier: Arc<Notifier>,
}

impl Wake {
    pub(super) fn new(socket: UnixStream, notifier: Arc<Notifier>) -> Wake {
        Wake { socket, notifier }
    }

    /// Empties the socket; the control channel holds the messages.
    pub(super) fn drain(&mut self) {
        let mut buf = [0u8; 64];
        while matches!(self.socket.read(&mut buf), Ok(n) if n > 0) {}
    }

    pub(super) fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}
