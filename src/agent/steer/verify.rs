//! The one exchange that proves offered settings work, on a second
//! connection beside the running one. It runs on its own thread because a
//! connect and a round trip can take seconds and the agent thread never
//! waits that long; the agent thread keeps its deadline and reads the
//! outcome when the thread wakes it. The bytes are the core's: this module
//! only moves them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};

use super::OfferToken;
use crate::agent::connection::{Conn, Dialer};
use crate::core::Transport;
use crate::transport::TransportError;

/// How long offered settings get to complete one exchange: the connect
/// timeout plus a request timeout, with room to spare.
pub(crate) const VERIFY_WITHIN: Duration = Duration::from_secs(30);

/// A candidate on its way through verification.
pub(crate) struct Verifying {
    pub token: OfferToken,
    pub hash: Vec<u8>,
    pub probe: Probe,
    pub transport: Transport,
    pub endpoint: String,
    /// The certificate answers our CSR: its key is the CSR's.
    pub used_csr_key: bool,
}

pub(crate) struct Probe {
    rx: Receiver<Result<Vec<u8>, TransportError>>,
    pub deadline: Instant,
}

pub(crate) enum Poll {
    Pending,
    /// The server's reply, for the core to read.
    Reply(Vec<u8>),
    Failed(String),
}

/// Starts the exchange: connect with `dialer`, send `bytes`, return the
/// first reply. `wake` tells the agent thread it ended.
pub(crate) fn start(
    dialer: Dialer,
    uid_text: String,
    bytes: Vec<u8>,
    wake: Arc<dyn Fn() + Send + Sync>,
) -> Result<Probe, String> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let deadline = Instant::now() + VERIFY_WITHIN;
    std::thread::Builder::new()
        .name("opamp-verify".into())
        .spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                exchange(&dialer, &uid_text, &bytes, deadline)
            }))
            .unwrap_or_else(|_| Err(TransportError::Io("internal error".into())));
            // The agent may have given up on this probe: nobody listens.
            let _ = tx.send(outcome);
            wake();
        })
        .map_err(|e| format!("cannot start the verification thread: {e}"))?;
    Ok(Probe { rx, deadline })
}

impl Probe {
    pub(crate) fn poll(&self, now: Instant) -> Poll {
        match self.rx.try_recv() {
            Ok(Ok(reply)) => Poll::Reply(reply),
            Ok(Err(e)) => Poll::Failed(e.to_string()),
            Err(TryRecvError::Disconnected) => Poll::Failed("the verification ended early".into()),
            Err(TryRecvError::Empty) if now >= self.deadline => Poll::Failed(format!(
                "no exchange completed within {}s",
                VERIFY_WITHIN.as_secs()
            )),
            Err(TryRecvError::Empty) => Poll::Pending,
        }
    }
}

fn exchange(
    dialer: &Dialer,
    uid_text: &str,
    bytes: &[u8],
    deadline: Instant,
) -> Result<Vec<u8>, TransportError> {
    match dialer.connect()? {
        Conn::Http(mut http) => http.exchange(uid_text, bytes),
        Conn::Ws(mut ws) => {
            ws.send(bytes)?;
            let reply = loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break Err(TransportError::Io("the server sent no reply".into()));
                }
                if let Some(m) = ws.recv(left)? {
                    break Ok(m.to_vec());
                }
            };
            let _ = ws.close(None);
            reply
        }
    }
}
