//! Driving ureq's HTTP/1.1 engine over our own connections.
//!
//! ureq writes requests and parses responses; every byte goes over a
//! [`Stream`] that [`stream`] opened, the same dial, proxy and TLS code the
//! WebSocket transport uses. ureq's own name lookup, proxy handling and TLS
//! are switched off (see [`agent`]), so there is one road to the server.
//!
//! ureq tunnels through every HTTP proxy with `CONNECT`; for a plain
//! `http://` endpoint we instead hand the request to the proxy to forward
//! (many proxies allow `CONNECT` to port 443 only), which needs the
//! request line in absolute form and the proxy's credentials in the head:
//! [`forward`] rewrites the head on its way out.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::time::Duration as UreqDuration;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, LazyBuffers, NextTimeout, Transport,
};

use super::endpoint::{Endpoint, Scheme};
use super::proxy::Proxy;
use super::stream::{self, Stream};
use super::TransportError;

mod forward;
use forward::Forward;

/// Read and write buffers per connection (allocated on first use). Bodies
/// stream through them in chunks, so they bound nothing but the request
/// and response heads; ureq's 128 KiB defaults would be a large part of the
/// plugin's memory for nothing.
const BUFFER_SIZE: usize = 16 * 1024;
/// Longest response head accepted; it has to fit the read buffer. 8 KiB
/// is what common servers and proxies allow for a request head.
const MAX_RESPONSE_HEAD: usize = 8 * 1024;
/// How long an idle connection is kept. Long enough to span the usual
/// polling and sampling intervals; a connection the server closed meanwhile
/// is noticed before reuse ([`Stream::is_idle_and_open`]).
const MAX_IDLE: Duration = Duration::from_secs(300);

/// A ureq agent that reaches servers only through `dialer`: no redirects,
/// no environment proxy, no automatic headers beyond `User-Agent`, status
/// codes returned as answers (the caller interprets them), at most one
/// idle connection kept, `timeout` for each whole request.
pub(crate) fn agent(dialer: Dialer, timeout: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .user_agent(super::USER_AGENT)
        .accept("")
        .accept_encoding("")
        .timeout_global(Some(timeout))
        .timeout_connect(Some(dialer.connect_timeout))
        .max_idle_connections(1)
        .max_idle_connections_per_host(1)
        .max_idle_age(MAX_IDLE)
        .input_buffer_size(BUFFER_SIZE)
        .output_buffer_size(BUFFER_SIZE)
        .max_response_header_size(MAX_RESPONSE_HEAD)
        .build();
    ureq::Agent::with_parts(config, dialer, NoLookup)
}

/// How connections to the server are opened.
#[derive(Clone)]
pub(crate) struct Dialer {
    /// Already decided by our rules (`proxy::resolve`, NO_PROXY included).
    pub proxy: Option<Proxy>,
    /// Required for `https://`; `None` refuses https.
    pub tls: Option<Arc<ClientConfig>>,
    pub connect_timeout: Duration,
}

/// The TLS configuration holds the client key: shown only as present.
impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dialer")
            .field("proxy", &self.proxy)
            .field("tls", &self.tls.is_some())
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

impl Connector for Dialer {
    type Out = Conn;

    fn connect(
        &self,
        details: &ConnectionDetails,
        _chained: Option<()>,
    ) -> Result<Option<Conn>, ureq::Error> {
        let endpoint = endpoint_of(details.uri).map_err(wrap)?;
        let timeout = match budget(details.timeout)? {
            Some(left) => left.min(self.connect_timeout),
            None => self.connect_timeout,
        };
        let tls = match (endpoint.scheme().is_tls(), &self.tls) {
            (false, _) => None,
            (true, Some(tls)) => Some(tls.clone()),
            (true, None) => {
                return Err(wrap(TransportError::Config(
                    "https is not available to this client".into(),
                )))
            }
        };
        let (stream, forward) = match &self.proxy {
            Some(proxy) if tls.is_none() => (
                stream::open_to_proxy(proxy, timeout, timeout),
                Some(Forward::new(proxy, &endpoint)),
            ),
            proxy => (
                stream::open(&endpoint, proxy.as_ref(), tls, timeout, timeout),
                None,
            ),
        };
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Conn {
            stream: stream.map_err(wrap)?,
            buffers,
            forward,
            head_next: true,
            read_timeout: None,
            write_timeout: None,
        }))
    }
}

/// Our errors travel through ureq boxed, and are unboxed by the caller.
fn wrap(e: TransportError) -> ureq::Error {
    ureq::Error::Other(Box::new(e))
}

/// The scheme, host and port of a request URI, checked as strictly as the
/// configured endpoint was (credentials in the URI are refused unquoted).
fn endpoint_of(uri: &Uri) -> Result<Endpoint, TransportError> {
    let scheme = uri.scheme_str().unwrap_or_default();
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    let endpoint = Endpoint::parse(&format!("{scheme}://{authority}/"))?;
    match endpoint.scheme() {
        Scheme::Http | Scheme::Https => Ok(endpoint),
        other => Err(TransportError::Config(format!(
            "an HTTP request cannot go to a {}:// address",
            other.as_str()
        ))),
    }
}

/// Time left in ureq's budget: `None` for no limit, a ureq timeout error
/// when it is used up.
fn budget(timeout: NextTimeout) -> Result<Option<Duration>, ureq::Error> {
    match timeout.after {
        UreqDuration::NotHappening => Ok(None),
        UreqDuration::Exact(left) if left.is_zero() => Err(ureq::Error::Timeout(timeout.reason)),
        UreqDuration::Exact(left) => Ok(Some(left)),
    }
}

/// ureq needs a lookup step; ours happens when dialing (under the connect
/// timeout, and for the proxy rather than the server when there is one).
#[derive(Debug)]
pub(crate) struct NoLookup;

impl Resolver for NoLookup {
    fn resolve(
        &self,
        _uri: &Uri,
        _config: &Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        Ok(self.empty())
    }
}

/// One open connection, as ureq sees it.
pub(crate) struct Conn {
    stream: Stream,
    buffers: LazyBuffers,
    forward: Option<Forward>,
    /// The next write starts a request head: nothing was written since the
    /// last read (HTTP/1.1 without pipelining or `Expect: 100-continue`).
    head_next: bool,
    /// What the socket was last told (None: not known), to skip needless
    /// `setsockopt`s.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("stream", &self.stream)
            .field("forwarding", &self.forward.is_some())
            .finish()
    }
}

impl Transport for Conn {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        let limit = budget(timeout)?;
        set_timeout(
            &self.stream,
            limit,
            &mut self.write_timeout,
            TcpTimeout::Write,
        )?;
        let output = &self.buffers.output()[..amount];
        let bytes = match (&self.forward, self.head_next) {
            (Some(forward), true) => forward.rewrite(output),
            _ => Cow::Borrowed(output),
        };
        self.head_next = false;
        self.stream
            .write_all(&bytes)
            .and_then(|()| self.stream.flush())
            .map_err(|e| io_failure(e, timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.head_next = true;
        let timeout = timeout.for_read();
        let limit = budget(timeout)?;
        let deadline = limit.map(|left| Instant::now() + left);
        loop {
            let limit = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            set_timeout(
                &self.stream,
                limit,
                &mut self.read_timeout,
                TcpTimeout::Read,
            )?;
            match self.stream.read(self.buffers.input_append_buf()) {
                Ok(n) => {
                    self.buffers.input_appended(n);
                    return Ok(n > 0);
                }
                // A signal: read again with what is left of the budget.
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                    if left.is_some_and(|left| left.is_zero()) {
                        return Err(ureq::Error::Timeout(timeout.reason));
                    }
                }
                Err(e) => return Err(io_failure(e, timeout)),
            }
        }
    }

    fn is_open(&mut self) -> bool {
        self.stream.is_idle_and_open()
    }

    fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }
}

enum TcpTimeout {
    Read,
    Write,
}

/// A socket timeout already set this much beyond the time left is kept:
/// ureq's budget shrinks with every read and write, and re-arming the
/// socket each time cost a `setsockopt` per call for nothing.
const TIMEOUT_SLACK: Duration = Duration::from_millis(50);

fn set_timeout(
    stream: &Stream,
    limit: Option<Duration>,
    current: &mut Option<Duration>,
    which: TcpTimeout,
) -> Result<(), ureq::Error> {
    // Zero would mean "forever" to the OS: 1 ms is the floor.
    let limit = limit.map(|l| l.max(Duration::from_millis(1)));
    // `current` starts unknown (None): what `stream::open` left is not
    // tracked, so the first call always sets.
    let close_enough = match (limit, *current) {
        (Some(want), Some(set)) => set >= want && set - want <= TIMEOUT_SLACK,
        _ => false,
    };
    if close_enough {
        return Ok(());
    }
    let tcp = stream.tcp();
    match which {
        TcpTimeout::Read => tcp.set_read_timeout(limit),
        TcpTimeout::Write => tcp.set_write_timeout(limit),
    }
    .map_err(ureq::Error::Io)?;
    *current = limit;
    Ok(())
}

fn io_failure(e: io::Error, timeout: NextTimeout) -> ureq::Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ureq::Error::Timeout(timeout.reason),
        _ => ureq::Error::Io(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_proxy_credentials() {
        let dialer = Dialer {
            proxy: Some(Proxy::parse("http://u:s3cret@proxy:3128").unwrap()),
            tls: None,
            connect_timeout: Duration::from_secs(1),
        };
        let text = format!("{dialer:?}");
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn request_uris_become_endpoints() {
        let uri: Uri = "http://127.0.0.1:2020/api/v1/health".parse().unwrap();
        assert_eq!(endpoint_of(&uri).unwrap().authority(), "127.0.0.1:2020");
        let uri: Uri = "https://[::1]/x".parse().unwrap();
        assert_eq!(endpoint_of(&uri).unwrap().authority(), "[::1]:443");
        let uri: Uri = "http://u:s3cret@h/x".parse().unwrap();
        let err = endpoint_of(&uri).unwrap_err().to_string();
        assert!(!err.contains("s3cret"), "{err}");
    }
}
