//! Moving opaque OpAMP protobuf bytes between the agent and the server.
//!
//! Two transports are offered, as the spec defines: [`ws::WsTransport`]
//! (full duplex, one long-lived connection) and [`http::HttpTransport`]
//! (one POST per exchange). Neither knows the message types: the protocol
//! core encodes and decodes, the transports only frame, compress, bound and
//! deliver. Everything here is blocking and runs on the caller's thread.
//!
//! Header values (tokens, API keys) are treated as secrets: no error,
//! `Debug` or `Display` output in this module carries them.

pub mod body;
pub(crate) mod connector;
mod dns;
pub mod download;
pub mod endpoint;
pub mod headers;
pub mod http;
pub mod proxy;
mod status;
mod stream;
pub mod tls;
pub mod tls_material;
pub mod ws;

use std::fmt;
use std::time::Duration;

pub use endpoint::{Endpoint, Scheme};
pub use headers::Headers;
pub use http::{HttpConfig, HttpTransport};
pub use proxy::{Proxy, ProxyMode};
pub use tls::{TlsOptions, TlsSetup};
pub use ws::{WsConfig, WsTransport};

/// Largest message accepted from (or sent to) the server unless configured
/// otherwise. The spec recommends 64 MiB; an in-process plugin sharing
/// Fluent Bit's memory budget is better served by a smaller ceiling, and
/// real OpAMP messages (configs, statuses) are far below it.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// Time allowed for the name lookup and TCP connect together, and for each
/// read while setting up (proxy CONNECT, TLS handshake, WebSocket upgrade).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Time allowed for a single write, or for a whole HTTP exchange.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Sent as `User-Agent` unless the configured headers carry one.
pub const USER_AGENT: &str = concat!("fluent-bit-opamp/", env!("CARGO_PKG_VERSION"));

/// Why a transport operation failed, phrased for the operator reading the
/// Fluent Bit log, and classified for the driver deciding what to do next.
///
/// Unless stated otherwise on the variant, after an error from `send`,
/// `recv` or `exchange` on a WebSocket transport the connection is finished:
/// drop it and reconnect (after backoff when [`is_retryable`](Self::is_retryable)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// The configuration can never work (bad endpoint, unreadable
    /// certificate, forbidden header). Retrying cannot help.
    Config(String),
    /// DNS resolution or the TCP connect failed.
    Connect { target: String, reason: String },
    /// The HTTP proxy could not be reached or refused the tunnel.
    Proxy { proxy: String, reason: String },
    /// The HTTP proxy wants credentials it was not given, or refused them.
    ProxyAuth { proxy: String },
    /// The TLS handshake failed (untrusted certificate, name mismatch, ...).
    Tls(String),
    /// Nothing happened within the allowed time; the text says what was
    /// being waited for.
    Timeout(&'static str),
    /// The connection broke while in use.
    Io(String),
    /// The server (or the WebSocket upgrade) answered with a status other
    /// than success. The transport does not interpret it: the protocol
    /// core's `HttpOutcome::from_status` is the one mapper of statuses, and
    /// `retry_after` is the raw `Retry-After` header for the core to parse.
    Status {
        status: u16,
        retry_after: Option<String>,
    },
    /// A message from the server exceeded the configured limit (after
    /// decompression, for HTTP). It was discarded unread.
    TooLarge { limit: usize },
    /// A message to the server exceeded the configured limit and was not
    /// sent. On a WebSocket this leaves the connection usable.
    RequestTooLarge { size: usize, limit: usize },
    /// A message from the server could not be unframed or decompressed.
    Malformed(String),
    /// The server broke the WebSocket or HTTP rules.
    Protocol(String),
    /// The server closed the WebSocket connection.
    Closed { code: Option<u16>, reason: String },
}

impl TransportError {
    /// The configuration itself is wrong; only an operator can fix it.
    pub fn is_config(&self) -> bool {
        matches!(self, Self::Config(_))
    }

    /// The proxy refused our credentials: like a refused token, retrying at
    /// full speed cannot help.
    pub fn is_proxy_auth(&self) -> bool {
        matches!(self, Self::ProxyAuth { .. })
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(msg) => write!(f, "invalid transport configuration: {msg}"),
            Self::Connect { target, reason } => write!(f, "cannot connect to {target}: {reason}"),
            Self::Proxy { proxy, reason } => write!(f, "HTTP proxy {proxy} failed: {reason}"),
            Self::ProxyAuth { proxy } => write!(
                f,
                "HTTP proxy {proxy} requires authentication (407); put credentials in the proxy URL"
            ),
            Self::Tls(msg) => write!(f, "TLS handshake with the server failed: {msg}"),
            Self::Timeout(what) => write!(f, "timed out {what}"),
            Self::Io(msg) => write!(f, "connection to the server failed: {msg}"),
            Self::Status {
                status,
                retry_after,
            } => {
                write!(
                    f,
                    "server answered HTTP {status}{}",
                    status::describe(*status)
                )?;
                if let Some(raw) = retry_after {
                    write!(f, " (Retry-After: {})", printable(raw, 64))?;
                }
                Ok(())
            }
            Self::TooLarge { limit } => write!(
                f,
                "message from the server exceeds the {limit}-byte limit and was discarded"
            ),
            Self::RequestTooLarge { size, limit } => write!(
                f,
                "message to the server is {size} bytes, over the {limit}-byte limit; not sent"
            ),
            Self::Malformed(msg) => write!(f, "malformed message from the server: {msg}"),
            Self::Protocol(msg) => write!(f, "protocol error: {msg}"),
            Self::Closed { code, reason } => {
                write!(f, "server closed the connection")?;
                if let Some(code) = code {
                    write!(f, " with code {code}")?;
                }
                if !reason.is_empty() {
                    write!(f, ": {}", printable(reason, 123))?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for TransportError {}

/// Server-supplied text goes into the agent's log; keep it short and free
/// of control characters so it cannot forge log lines.
fn printable(text: &str, max_chars: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max_chars)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > max_chars {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert!(TransportError::Config("x".into()).is_config());
        assert!(!TransportError::Io("x".into()).is_config());
        assert!(TransportError::ProxyAuth { proxy: "p".into() }.is_proxy_auth());
    }

    #[test]
    fn transports_can_move_to_the_client_thread() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<WsTransport>();
        assert_send::<HttpTransport>();
        assert_send::<TransportError>();
    }

    #[test]
    fn display_is_readable_and_sanitised() {
        let err = TransportError::Status {
            status: 503,
            retry_after: Some("5\r\nX-Injected: 1".into()),
        };
        assert_eq!(
            err.to_string(),
            "server answered HTTP 503 Service Unavailable (Retry-After: 5??X-Injected: 1)"
        );
        assert_eq!(
            TransportError::Status {
                status: 401,
                retry_after: None
            }
            .to_string(),
            "server answered HTTP 401 Unauthorized"
        );
        assert_eq!(
            TransportError::Closed {
                code: Some(1001),
                reason: "bye".into()
            }
            .to_string(),
            "server closed the connection with code 1001: bye"
        );
    }
}
