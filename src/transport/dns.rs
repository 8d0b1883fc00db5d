//! Host name lookup that cannot outlive the connect timeout.
//!
//! `getaddrinfo` (what `ToSocketAddrs` calls) blocks for as long as the
//! system resolver likes, often well beyond our connect timeout, and it
//! cannot be cancelled. So the lookup runs on a helper thread and the
//! caller waits for it only as long as the budget allows; a lookup that
//! answers late finishes in the background and its answer is dropped.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Abandoned lookups still running in the background. With a resolver that
/// hangs, every reconnect would otherwise leave one more thread behind; past
/// this many, new lookups fail at once until the old ones return.
const MAX_PENDING: usize = 4;

static LOOKUPS: Gate = Gate::new(MAX_PENDING);

/// The addresses of `host:port`, or why there are none, within `timeout`.
/// IP literals are returned without a lookup (and without a thread).
pub(crate) fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = host.to_string();
    let lookup = move || (name.as_str(), port).to_socket_addrs().map(Vec::from_iter);
    match with_timeout(&LOOKUPS, timeout, lookup) {
        Ok(Ok(addrs)) if addrs.is_empty() => Err("host name resolved to no address".into()),
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(format!("cannot resolve the host name: {e}")),
        Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(format!(
            "the host name lookup did not finish within {timeout:?}"
        )),
        Err(e) => Err(format!("cannot resolve the host name: {e}")),
    }
}

/// Run `work` on a helper thread and wait at most `timeout` for its result.
///
/// `TimedOut` when the wait ran out (the thread is left to finish on its
/// own), `WouldBlock` when `gate` is full of earlier calls still running,
/// or the error from starting the thread.
pub(crate) fn with_timeout<T: Send + 'static>(
    gate: &'static Gate,
    timeout: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    let pass = gate.enter().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::WouldBlock,
            "earlier lookups are still hanging",
        )
    })?;
    // Capacity 1: the helper never blocks on sending, even when nobody is
    // waiting for the answer any more.
    let (tx, rx) = mpsc::sync_channel(1);
    thread::Builder::new()
        .name("opamp-dns".into())
        .spawn(move || {
            let answer = work();
            // Out of the gate before answering, so a caller that got the
            // answer finds the gate as it was.
            drop(pass);
            let _ = tx.send(answer);
        })?;
    rx.recv_timeout(timeout)
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer within the time allowed"))
}

/// Counts calls in flight, refusing more than a fixed number.
pub(crate) struct Gate {
    inside: AtomicUsize,
    max: usize,
}

impl Gate {
    pub(crate) const fn new(max: usize) -> Self {
        Self {
            inside: AtomicUsize::new(0),
            max,
        }
    }

    fn enter(&'static self) -> Option<Pass> {
        let before = self.inside.fetch_add(1, Ordering::SeqCst);
        let pass = Pass(self);
        // Dropping the pass undoes the increment either way.
        (before < self.max).then_some(pass)
    }
}

/// Leaves the gate when dropped, whichever thread holds it then.
pub(crate) struct Pass(&'static Gate);

impl Drop for Pass {
    fn drop(&mut self) {
        self.0.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_quick_answer_is_returned() {
        static GATE: Gate = Gate::new(1);
        assert_eq!(
            with_timeout(&GATE, Duration::from_secs(5), || 42).unwrap(),
            42
        );
        // The pass was given back: the gate admits the next call.
        assert_eq!(
            with_timeout(&GATE, Duration::from_secs(5), || 7).unwrap(),
            7
        );
    }

    #[test]
    fn a_hanging_call_is_abandoned_at_the_timeout() {
        static GATE: Gate = Gate::new(1);
        let start = Instant::now();
        let err = with_timeout(&GATE, Duration::from_millis(50), || {
            thread::sleep(Duration::from_millis(400));
            1
        })
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(
            start.elapsed() < Duration::from_millis(300),
            "{:?}",
            start.elapsed()
        );
        // Still hanging: the gate (room for one) refuses another call...
        let err = with_timeout(&GATE, Duration::from_secs(5), || 2).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        // ...until the abandoned call has returned.
        thread::sleep(Duration::from_millis(600));
        assert_eq!(
            with_timeout(&GATE, Duration::from_secs(5), || 3).unwrap(),
            3
        );
    }

    #[test]
    fn ip_literals_need_no_lookup() {
        let addrs = resolve("::1", 4320, Duration::ZERO).unwrap();
        assert_eq!(addrs, vec!["[::1]:4320".parse().unwrap()]);
        let addrs = resolve("127.0.0.1", 80, Duration::ZERO).unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:80".parse().unwrap()]);
    }

    #[test]
    fn localhost_resolves_and_bad_names_fail_with_a_reason() {
        let addrs = resolve("localhost", 8080, Duration::from_secs(5)).unwrap();
        assert!(addrs
            .iter()
            .all(|a| a.port() == 8080 && a.ip().is_loopback()));
        // `.invalid` is reserved (RFC 2606) and never resolves.
        let err = resolve("no-such-host.invalid", 80, Duration::from_secs(5)).unwrap_err();
        assert!(err.contains("resolve") || err.contains("lookup"), "{err}");
    }
}
