//! The WebSocket transport: one long-lived, full-duplex connection.
//!
//! Driven from a single thread: `send` when the core has a message,
//! `recv(wait)` in between to pick up server messages and answer pings.
//! Any error from `send`/`recv` ends the connection (except
//! `RequestTooLarge`, which refuses one message before it is written).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Request;
use tungstenite::handshake::HandshakeError;
use tungstenite::http::header::{HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tungstenite::{Bytes, Message, WebSocket};

use super::body::is_would_block;
use super::endpoint::Endpoint;
use super::headers::Headers;
use super::proxy::{self, ProxyMode};
use super::stream::{self, Stream};
use super::{tls, TlsOptions, TransportError};

/// How long `close` waits for the server to acknowledge our Close frame.
/// Shutdown must not hang on a silent server; the spec does not require
/// the acknowledgement, it is only courtesy.
pub const CLOSE_WAIT: Duration = Duration::from_millis(500);

/// tungstenite's read buffer (its default is 128 KiB).
const READ_BUFFER: usize = 4096;

/// Everything needed to open a WebSocket connection.
#[derive(Clone)]
pub struct WsConfig {
    pub endpoint: Endpoint,
    /// Sent on the upgrade request (e.g. `Authorization`).
    pub headers: Headers,
    /// Required for `wss://`; `None` builds a default (system roots,
    /// verification on) at connect time.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub proxy: ProxyMode,
    /// For the TCP connect and for each read of the proxy/TLS/upgrade
    /// handshakes.
    pub connect_timeout: Duration,
    /// For each write; a server that stops reading cannot block us longer.
    pub write_timeout: Duration,
    /// Largest inbound OpAMP message (header + protobuf), after which the
    /// connection is closed with 1009.
    pub max_message_size: usize,
    /// Largest outbound OpAMP message; larger ones are refused unsent.
    pub max_send_size: usize,
}

/// Written out so the TLS configuration (which holds the client key) is
/// only ever shown as present or absent.
impl std::fmt::Debug for WsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsConfig")
            .field("endpoint", &self.endpoint)
            .field("tls", &self.tls.as_ref().map(|_| "<rustls config>"))
            .field("headers", &self.headers)
            .field("proxy", &self.proxy)
            .field("connect_timeout", &self.connect_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("max_message_size", &self.max_message_size)
            .field("max_send_size", &self.max_send_size)
            .finish()
    }
}

impl WsConfig {
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            headers: Headers::new(),
            tls: None,
            proxy: ProxyMode::FromEnv,
            connect_timeout: super::DEFAULT_CONNECT_TIMEOUT,
            write_timeout: super::DEFAULT_IO_TIMEOUT,
            max_message_size: super::DEFAULT_MAX_MESSAGE_SIZE,
            max_send_size: super::DEFAULT_MAX_MESSAGE_SIZE,
        }
    }
}

/// An open OpAMP WebSocket connection.
pub struct WsTransport {
    socket: WebSocket<Stream>,
    max_message_size: usize,
    max_send_size: usize,
    /// Set once the connection is finished, so `close` after an error (or
    /// twice) does no I/O.
    finished: bool,
    /// The socket's read timeout as last set, so the common zero-wait read
    /// after poll(2) costs no setsockopt.
    read_timeout: Option<Duration>,
}

/// Open the connection: TCP (via proxy), TLS, WebSocket upgrade.
pub fn connect(config: &WsConfig) -> Result<WsTransport, TransportError> {
    WsTransport::connect(config)
}

impl WsTransport {
    pub fn connect(config: &WsConfig) -> Result<Self, TransportError> {
        let endpoint = &config.endpoint;
        if !endpoint.scheme().is_websocket() {
            return Err(TransportError::Config(format!(
                "the WebSocket transport needs a ws:// or wss:// endpoint, not {}://",
                endpoint.scheme().as_str()
            )));
        }
        let request = upgrade_request(endpoint, &config.headers)?;
        let tls = match (endpoint.scheme().is_tls(), &config.tls) {
            (false, _) => None,
            (true, Some(tls)) => Some(tls.clone()),
            (true, None) => Some(tls::build(&TlsOptions::default())?.config),
        };
        let proxy = proxy::resolve(&config.proxy, endpoint)?;
        let stream = stream::open(
            endpoint,
            proxy.as_ref(),
            tls,
            config.connect_timeout,
            config.write_timeout,
        )?;
        stream
            .set_read_timeout(config.connect_timeout)
            .map_err(io_error)?;

        // The frame limit matters as much as the message limit: without it
        // a single frame header could announce gigabytes and tungstenite
        // would buffer towards that before the message check ran.
        // A small read buffer: tungstenite zeroes the free part of it before
        // every read, and OpAMP traffic is a few hundred bytes a message. A
        // large message still gets room for its whole length at once.
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            .max_message_size(Some(config.max_message_size))
            .max_frame_size(Some(config.max_message_size));
        let socket = match tungstenite::client::client_with_config(request, stream, Some(ws_config))
        {
            Ok((socket, _response)) => socket,
            Err(HandshakeError::Interrupted(_)) => {
                return Err(TransportError::Timeout(
                    "waiting for the server to accept the WebSocket upgrade",
                ))
            }
            Err(HandshakeError::Failure(e)) => return Err(upgrade_error(e)),
        };
        Ok(Self {
            socket,
            max_message_size: config.max_message_size,
            max_send_size: config.max_send_size,
            finished: false,
            read_timeout: Some(config.connect_timeout),
        })
    }

    /// Send one OpAMP message as one binary WebSocket message, exactly as
    /// the core framed it.
    pub fn send(&mut self, payload: &[u8]) -> Result<(), TransportError> {
        if self.finished {
            return Err(TransportError::Io(
                "the connection is already closed".into(),
            ));
        }
        let size = payload.len();
        if size > self.max_send_size {
            return Err(TransportError::RequestTooLarge {
                size,
                limit: self.max_send_size,
            });
        }
        let result = self.socket.send(Message::Binary(payload.to_vec().into()));
        result.map_err(|e| self.fail(e))
    }

    /// The socket, for a caller that waits on it together with other
    /// descriptors (poll) instead of sleeping in [`recv`](Self::recv).
    /// Data may already sit in TLS or WebSocket buffers, so after a wake-up
    /// drain with `recv(Duration::ZERO)` until it returns `Ok(None)`.
    pub fn as_raw_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.socket.get_ref().tcp().as_raw_fd()
    }

    /// Wait up to `wait` for one binary message and return its payload as
    /// received (OpAMP header included); `Ok(None)` if none arrived in time.
    /// Pings that arrive meanwhile are answered. The payload shares
    /// tungstenite's buffer: a large message is not copied again.
    pub fn recv(&mut self, wait: Duration) -> Result<Option<Bytes>, TransportError> {
        if self.finished {
            return Err(TransportError::Io(
                "the connection is already closed".into(),
            ));
        }
        // `Duration::MAX` means "as long as it takes"; it must not overflow.
        let deadline = Instant::now()
            .checked_add(wait)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(365 * 24 * 3600));
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            self.set_read_timeout(remaining)?;
            match self.socket.read() {
                // Unframing is the core's: the payload goes up untouched.
                Ok(Message::Binary(payload)) => return Ok(Some(payload)),
                Ok(Message::Ping(_)) => {
                    // tungstenite queued the pong; push it out now rather
                    // than at the next read, which may be much later.
                    if let Err(e) = self.socket.flush() {
                        return Err(self.fail(e));
                    }
                }
                Ok(Message::Pong(_)) | Ok(Message::Frame(_)) => {}
                Ok(Message::Text(_)) => {
                    self.abort(CloseCode::Unsupported, "OpAMP uses binary messages");
                    return Err(TransportError::Protocol(
                        "the server sent a text message; OpAMP messages are binary".into(),
                    ));
                }
                Ok(Message::Close(frame)) => {
                    // Our Close reply is queued; send it, then we are done.
                    let _ = self.socket.flush();
                    self.finish();
                    return Err(TransportError::Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    });
                }
                Err(tungstenite::Error::Io(e)) if is_would_block(&e) => {
                    if Instant::now() >= deadline {
                        return Ok(None);
                    }
                }
                Err(tungstenite::Error::Capacity(_)) => {
                    self.abort(CloseCode::Size, "message too big");
                    return Err(TransportError::TooLarge {
                        limit: self.max_message_size,
                    });
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
    }

    fn set_read_timeout(&mut self, t: Duration) -> Result<(), TransportError> {
        // The socket layer rounds zero up to 1 ms (zero means "forever").
        let t = t.max(Duration::from_millis(1));
        if self.read_timeout != Some(t) {
            self.socket
                .get_ref()
                .set_read_timeout(t)
                .map_err(io_error)?;
            self.read_timeout = Some(t);
        }
        Ok(())
    }

    /// Say goodbye: send `goodbye` (an AgentToServer with agent_disconnect)
    /// if given, then a Close frame, and wait at most [`CLOSE_WAIT`] for the
    /// server's Close. Errors only if the goodbye could not be sent.
    pub fn close(&mut self, goodbye: Option<&[u8]>) -> Result<(), TransportError> {
        if self.finished {
            return Ok(());
        }
        let sent = match goodbye {
            Some(message) => self.send(message),
            None => Ok(()),
        };
        if self.finished {
            return sent;
        }
        let _ = self.socket.close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        }));
        let deadline = Instant::now() + CLOSE_WAIT;
        while Instant::now() < deadline {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if self.set_read_timeout(remaining).is_err() {
                break;
            }
            match self.socket.read() {
                Ok(Message::Close(_)) => break,
                // Messages already in flight are discarded: we are leaving.
                Ok(_) => {}
                Err(tungstenite::Error::Io(e)) if is_would_block(&e) => {}
                Err(_) => break,
            }
        }
        self.finish();
        sent
    }

    /// The server's address, for logs.
    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.socket.get_ref().tcp().peer_addr()
    }

    /// Drop the connection at once, without waiting for the server's Close:
    /// 1002 when the server broke the protocol (the core found a message
    /// malformed), 1000 otherwise.
    pub fn close_now(&mut self, protocol_error: bool) {
        if self.finished {
            return;
        }
        if protocol_error {
            self.abort(CloseCode::Protocol, "malformed OpAMP message");
        } else {
            self.abort(CloseCode::Normal, "");
        }
    }

    /// Fail the connection with a Close frame carrying `code`, without
    /// waiting for an answer (the stream may be mid-frame).
    fn abort(&mut self, code: CloseCode, reason: &'static str) {
        let _ = self.socket.get_ref().set_write_timeout(CLOSE_WAIT);
        let _ = self.socket.close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        self.finish();
    }

    fn finish(&mut self) {
        self.finished = true;
        self.socket.get_mut().shutdown();
    }

    fn fail(&mut self, e: tungstenite::Error) -> TransportError {
        self.finish();
        session_error(e)
    }
}

impl std::fmt::Debug for WsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsTransport")
            .field("peer", &self.peer_addr().ok())
            .field("finished", &self.finished)
            .finish()
    }
}

fn upgrade_request(endpoint: &Endpoint, headers: &Headers) -> Result<Request, TransportError> {
    let mut request = endpoint
        .url()
        .into_client_request()
        .map_err(|e| TransportError::Config(format!("endpoint {endpoint} is not usable: {e}")))?;
    let map = request.headers_mut();
    for (name, value) in headers.iter() {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| TransportError::Config(format!("header name '{name}' is not valid")))?;
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            TransportError::Config(format!("the value of header '{name}' is not valid"))
        })?;
        // Keeps the value out of the http crate's Debug output.
        value.set_sensitive(true);
        map.append(name, value);
    }
    if !map.contains_key(USER_AGENT) {
        map.insert(USER_AGENT, HeaderValue::from_static(super::USER_AGENT));
    }
    Ok(request)
}

fn upgrade_error(e: tungstenite::Error) -> TransportError {
    match e {
        tungstenite::Error::Http(response) => {
            let code = response.status().as_u16();
            if code < 300 {
                return TransportError::Protocol(format!(
                    "the server answered the WebSocket upgrade with HTTP {code} instead of 101; \
                     if it is a plain-HTTP OpAMP server, use an http:// or https:// endpoint"
                ));
            }
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            TransportError::Status {
                status: code,
                retry_after,
            }
        }
        tungstenite::Error::Io(e) if is_would_block(&e) => {
            TransportError::Timeout("waiting for the server to accept the WebSocket upgrade")
        }
        tungstenite::Error::Io(e) => io_error(e),
        tungstenite::Error::Url(e) => {
            TransportError::Config(format!("endpoint is not usable: {e}"))
        }
        tungstenite::Error::Protocol(e) => {
            TransportError::Protocol(format!("WebSocket upgrade failed: {e}"))
        }
        other => TransportError::Protocol(format!("WebSocket upgrade failed: {other}")),
    }
}

fn session_error(e: tungstenite::Error) -> TransportError {
    match e {
        tungstenite::Error::Io(e) if is_would_block(&e) => {
            TransportError::Timeout("writing to the server (is it still reading?)")
        }
        tungstenite::Error::Io(e) => io_error(e),
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            TransportError::Closed {
                code: None,
                reason: String::new(),
            }
        }
        tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => {
            TransportError::Io("the server dropped the connection without a WebSocket close".into())
        }
        tungstenite::Error::Protocol(e) => TransportError::Protocol(e.to_string()),
        tungstenite::Error::Utf8(e) => TransportError::Protocol(e),
        other => TransportError::Io(other.to_string()),
    }
}

fn io_error(e: io::Error) -> TransportError {
    TransportError::Io(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Proxy;

    #[test]
    fn debug_output_hides_secrets() {
        let mut cfg = WsConfig::new(Endpoint::parse("wss://h/v1/opamp?token=s3cret").unwrap());
        cfg.headers = Headers::from_pairs([("Authorization", "Bearer s3cret")]).unwrap();
        cfg.proxy = ProxyMode::Explicit(Proxy::parse("http://u:s3cret@p:3128").unwrap());
        let setup = tls::build(&TlsOptions {
            verify: false,
            ..TlsOptions::default()
        })
        .unwrap();
        assert!(!format!("{setup:?}").contains("s3cret"));
        cfg.tls = Some(setup.config);
        let text = format!("{cfg:?}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("Authorization"), "{text}");
    }

    #[test]
    fn upgrade_request_carries_headers_and_a_user_agent() {
        let headers =
            Headers::from_pairs([("Authorization", "Bearer x"), ("X-A", "1"), ("X-A", "2")])
                .unwrap();
        let endpoint = Endpoint::parse("ws://[::1]:4320/v1/opamp?x=1").unwrap();
        let request = upgrade_request(&endpoint, &headers).unwrap();
        let map = request.headers();
        assert_eq!(map["authorization"], "Bearer x");
        assert!(map["authorization"].is_sensitive());
        assert_eq!(map.get_all("x-a").iter().count(), 2);
        assert_eq!(map[USER_AGENT], crate::transport::USER_AGENT);
        assert_eq!(map["host"], "[::1]:4320");
        assert_eq!(request.uri().path_and_query().unwrap(), "/v1/opamp?x=1");

        let custom = Headers::from_pairs([("User-Agent", "mine/1")]).unwrap();
        let request = upgrade_request(&endpoint, &custom).unwrap();
        assert_eq!(request.headers().get_all(USER_AGENT).iter().count(), 1);
        assert_eq!(request.headers()[USER_AGENT], "mine/1");
    }
}
