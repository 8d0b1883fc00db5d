//! Opening the byte stream under both transports: TCP, optionally through
//! an HTTP proxy tunnel, optionally wrapped in TLS.
//!
//! We dial ourselves instead of letting tungstenite or ureq do it so that
//! the connect timeout (DNS included), the proxy rules and our own rustls
//! configuration apply the same way to WebSocket and plain HTTP, and so
//! read timeouts can be changed on the live socket for `recv(wait)`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::body::is_would_block;
use super::dns;
use super::endpoint::Endpoint;
use super::proxy::Proxy;
use super::TransportError;

/// A proxy's answer to CONNECT is a short header block; anything longer is
/// not a proxy we can talk to.
const MAX_PROXY_RESPONSE: usize = 8 * 1024;

pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(tcp) => tcp,
            Self::Tls(tls) => &tls.sock,
        }
    }

    /// A zero duration would mean "block forever" to the OS call, the
    /// opposite of what a caller asking for zero wants; 1 ms is the floor.
    pub(crate) fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.tcp()
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
    }

    pub(crate) fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.tcp()
            .set_write_timeout(Some(timeout.max(Duration::from_millis(1))))
    }

    /// Whether an idle connection can still carry a request: nothing may be
    /// waiting to be read (an idle peer sends nothing; bytes or EOF mean it
    /// is closing or confused). One zero-timeout poll(2), nothing consumed.
    pub(crate) fn is_idle_and_open(&self) -> bool {
        use std::os::fd::AsRawFd;
        !crate::sys::poll_readable(&[self.tcp().as_raw_fd()], Duration::ZERO)[0]
    }

    pub(crate) fn shutdown(&mut self) {
        if let Self::Tls(tls) = self {
            tls.conn.send_close_notify();
            // Best effort: the peer may already be gone.
            let _ = tls.conn.complete_io(&mut tls.sock);
        }
        let _ = self.tcp().shutdown(Shutdown::Both);
    }
}

/// Only where it goes: the TLS state holds keys.
impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            Self::Plain(_) => "Plain",
            Self::Tls(_) => "Tls",
        };
        f.debug_struct("Stream")
            .field("kind", &kind)
            .field("peer", &self.tcp().peer_addr().ok())
            .finish()
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.read(buf),
            Self::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.write(buf),
            Self::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.flush(),
            Self::Tls(tls) => tls.flush(),
        }
    }
}

/// Connect to `endpoint` (through `proxy` if any), run the TLS handshake if
/// `tls` is given, and leave the read timeout at `io_timeout`.
pub(crate) fn open(
    endpoint: &Endpoint,
    proxy: Option<&Proxy>,
    tls: Option<Arc<ClientConfig>>,
    connect_timeout: Duration,
    io_timeout: Duration,
) -> Result<Stream, TransportError> {
    let tcp = match proxy {
        None => dial(endpoint.host(), endpoint.port(), connect_timeout).map_err(|reason| {
            TransportError::Connect {
                target: endpoint.authority(),
                reason,
            }
        })?,
        Some(proxy) => {
            let tcp = dial(proxy.host(), proxy.port(), connect_timeout).map_err(|reason| {
                TransportError::Proxy {
                    proxy: proxy.to_string(),
                    reason,
                }
            })?;
            set_timeouts(&tcp, connect_timeout, io_timeout)?;
            tunnel(tcp, proxy, endpoint)?
        }
    };
    set_timeouts(&tcp, connect_timeout, io_timeout)?;
    // OpAMP messages are small and latency matters more than packet count.
    let _ = tcp.set_nodelay(true);
    let stream = match tls {
        None => Stream::Plain(tcp),
        Some(config) => Stream::Tls(Box::new(handshake(tcp, config, endpoint)?)),
    };
    stream
        .set_read_timeout(io_timeout)
        .map_err(|e| TransportError::Io(e.to_string()))?;
    Ok(stream)
}

/// A plain connection to `proxy` itself, for requests it forwards
/// (absolute-form, no tunnel): plain-HTTP endpoints only.
pub(crate) fn open_to_proxy(
    proxy: &Proxy,
    connect_timeout: Duration,
    io_timeout: Duration,
) -> Result<Stream, TransportError> {
    let tcp = dial(proxy.host(), proxy.port(), connect_timeout).map_err(|reason| {
        TransportError::Proxy {
            proxy: proxy.to_string(),
            reason,
        }
    })?;
    set_timeouts(&tcp, io_timeout, io_timeout)?;
    let _ = tcp.set_nodelay(true);
    Ok(Stream::Plain(tcp))
}

fn set_timeouts(tcp: &TcpStream, read: Duration, write: Duration) -> Result<(), TransportError> {
    tcp.set_read_timeout(Some(read.max(Duration::from_millis(1))))
        .and_then(|()| tcp.set_write_timeout(Some(write.max(Duration::from_millis(1)))))
        .map_err(|e| TransportError::Io(e.to_string()))
}

/// Try each resolved address in turn, as browsers and curl do, so a host
/// with an unreachable IPv6 address still works over IPv4. The name lookup
/// and all the attempts share one `timeout`.
fn dial(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let deadline = Instant::now() + timeout;
    let addrs = dns::resolve(host, port, timeout)?;
    let mut last = String::from("host name resolved to no address");
    let count = addrs.len();
    for (i, addr) in addrs.into_iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("{addr}: timed out after {timeout:?}"));
        }
        // An even share of what is left, so one black-holed address cannot
        // use up the time the next one needed; the last gets all the rest.
        let share = left / (count - i) as u32;
        match TcpStream::connect_timeout(&addr, share.max(Duration::from_millis(1))) {
            Ok(tcp) => return Ok(tcp),
            Err(e) if is_would_block(&e) => last = format!("{addr}: timed out after {timeout:?}"),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

/// Ask the proxy for a tunnel to the endpoint with `CONNECT`.
fn tunnel(
    mut tcp: TcpStream,
    proxy: &Proxy,
    endpoint: &Endpoint,
) -> Result<TcpStream, TransportError> {
    let target = endpoint.authority();
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(value) = proxy.authorization() {
        request.push_str(&format!("Proxy-Authorization: {value}\r\n"));
    }
    request.push_str("\r\n");
    let fail = |reason: String| TransportError::Proxy {
        proxy: proxy.to_string(),
        reason,
    };
    tcp.write_all(request.as_bytes())
        .map_err(|e| fail(format!("cannot send CONNECT: {e}")))?;

    // Byte by byte so no byte of the tunnelled stream is consumed here.
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_PROXY_RESPONSE {
            return Err(fail("response to CONNECT is too long".into()));
        }
        match tcp.read(&mut byte) {
            Ok(0) => {
                return Err(fail(
                    "closed the connection without answering CONNECT".into(),
                ))
            }
            Ok(_) => head.push(byte[0]),
            Err(e) if is_would_block(&e) => {
                return Err(TransportError::Timeout(
                    "waiting for the proxy to answer CONNECT",
                ))
            }
            Err(e) => return Err(fail(format!("reading the CONNECT response: {e}"))),
        }
    }
    let status_line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let status = parse_status_line(status_line)
        .ok_or_else(|| fail("answered CONNECT with something that is not HTTP".into()))?;
    match status {
        200..=299 => Ok(tcp),
        407 => Err(TransportError::ProxyAuth {
            proxy: proxy.to_string(),
        }),
        other => Err(fail(format!(
            "refused the tunnel to {target} with HTTP {other}"
        ))),
    }
}

/// `HTTP/1.x NNN reason` -> NNN.
pub(crate) fn parse_status_line(line: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.splitn(3, ' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

fn handshake(
    mut tcp: TcpStream,
    config: Arc<ClientConfig>,
    endpoint: &Endpoint,
) -> Result<StreamOwned<ClientConnection, TcpStream>, TransportError> {
    let name = ServerName::try_from(endpoint.host().to_string()).map_err(|_| {
        TransportError::Config(format!(
            "'{}' cannot be used as a TLS server name",
            endpoint.host()
        ))
    })?;
    let mut conn =
        ClientConnection::new(config, name).map_err(|e| TransportError::Tls(e.to_string()))?;
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut tcp) {
            return Err(tls_error(e));
        }
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// rustls reports protocol failures as `InvalidData` wrapping its own error;
/// surface that error's text (certificate problems) rather than "invalid data".
fn tls_error(e: io::Error) -> TransportError {
    if is_would_block(&e) {
        return TransportError::Timeout("waiting for the TLS handshake");
    }
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => TransportError::Tls(tls.to_string()),
        None if e.kind() == io::ErrorKind::UnexpectedEof => {
            TransportError::Tls("the server closed the connection during the handshake".into())
        }
        None => TransportError::Io(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status_line(b"HTTP/1.1 200 Connection established"),
            Some(200)
        );
        assert_eq!(parse_status_line(b"HTTP/1.0 407 Proxy Auth"), Some(407));
        assert_eq!(parse_status_line(b"HTTP/1.1 200"), Some(200));
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 2000 x"), None);
        assert_eq!(parse_status_line(b"\xff\xfe"), None);
    }
}
