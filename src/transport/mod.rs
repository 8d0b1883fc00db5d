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
pub mod endpoint;
pub mod framing;
pub mod headers;
pub mod http;
pub mod proxy;
mod status;
mod stream;
pub mod tls;
pub mod ws;

use std::fmt;
use std::time::{Duration, SystemTime};

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

/// Time allowed for the TCP connect, and for each read while setting up
/// (proxy CONNECT, TLS handshake, WebSocket upgrade).
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
    /// The server answered with a status that says "later": 429, 5xx.
    /// `retry_after` is the raw `Retry-After` header, if the server sent one;
    /// see [`TransportError::retry_after`] to interpret it.
    Http {
        status: u16,
        retry_after: Option<String>,
    },
    /// The server refused our credentials (401/403).
    Auth { status: u16 },
    /// The server refused this request for good (413, other 4xx, a
    /// redirect, an unexpected status). Sending it again unchanged is
    /// pointless.
    Rejected { status: u16 },
    /// The server answered with a status other than 2xx. Transports do not
    /// interpret it: the protocol core decides what it means.
    /// `retry_after` is the raw `Retry-After` header, if the server sent one.
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
    /// True when the same operation may succeed later without any change to
    /// the agent's configuration: the driver should back off and try again.
    ///
    /// `Auth` is deliberately false: hammering a server with credentials it
    /// just refused helps nobody, so the driver should use its longest
    /// backoff, or wait for new configuration, instead.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            Self::Config(_)
                | Self::Auth { .. }
                | Self::ProxyAuth { .. }
                | Self::Rejected { .. }
                | Self::RequestTooLarge { .. }
        )
    }

    /// The server (or proxy) refused the credentials in the configured headers.
    pub fn is_auth(&self) -> bool {
        matches!(self, Self::Auth { .. } | Self::ProxyAuth { .. })
    }

    /// The server asked us to slow down (HTTP 429 or 503).
    pub fn is_throttled(&self) -> bool {
        matches!(
            self,
            Self::Http {
                status: 429 | 503,
                ..
            }
        )
    }

    /// The configuration itself is wrong; only an operator can fix it.
    pub fn is_config(&self) -> bool {
        matches!(self, Self::Config(_))
    }

    /// The raw `Retry-After` header the server sent with a 429/5xx, if any.
    pub fn retry_after_raw(&self) -> Option<&str> {
        match self {
            Self::Http {
                retry_after: Some(raw),
                ..
            } => Some(raw),
            _ => None,
        }
    }

    /// How long the server asked us to wait, interpreted at `now`.
    /// `None` when it did not say, or said something unparseable.
    pub fn retry_after(&self, now: SystemTime) -> Option<Duration> {
        // One parser for the whole crate: the protocol core's.
        let secs = now.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
        crate::core::parse_retry_after(self.retry_after_raw()?, secs)
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
            Self::Http {
                status,
                retry_after,
            } => {
                write!(f, "server answered HTTP {status}{}", status::describe(*status))?;
                if let Some(raw) = retry_after {
                    write!(f, " (Retry-After: {})", printable(raw, 64))?;
                }
                Ok(())
            }
            Self::Auth { status } => write!(
                f,
                "server refused the agent's credentials: HTTP {status}{}; check the configured headers",
                status::describe(*status)
            ),
            Self::Rejected { status } => write!(
                f,
                "server rejected the request: HTTP {status}{}; it will not be retried as is",
                status::describe(*status)
            ),
            Self::Status {
                status,
                retry_after,
            } => {
                write!(f, "server answered HTTP {status}{}", status::describe(*status))?;
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
        let throttled = TransportError::Http {
            status: 429,
            retry_after: Some("7".into()),
        };
        assert!(throttled.is_retryable() && throttled.is_throttled() && !throttled.is_auth());
        let unavailable = TransportError::Http {
            status: 503,
            retry_after: None,
        };
        assert!(unavailable.is_throttled());
        let bad_gateway = TransportError::Http {
            status: 502,
            retry_after: None,
        };
        assert!(bad_gateway.is_retryable() && !bad_gateway.is_throttled());
        let auth = TransportError::Auth { status: 401 };
        assert!(auth.is_auth() && !auth.is_retryable());
        assert!(!TransportError::Rejected { status: 413 }.is_retryable());
        assert!(!TransportError::Config("x".into()).is_retryable());
        assert!(TransportError::Config("x".into()).is_config());
        assert!(TransportError::TooLarge { limit: 1 }.is_retryable());
        assert!(TransportError::Timeout("connecting").is_retryable());
    }

    #[test]
    fn transports_can_move_to_the_client_thread() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<WsTransport>();
        assert_send::<HttpTransport>();
        assert_send::<TransportError>();
    }

    #[test]
    fn retry_after_is_interpreted_from_the_raw_header() {
        let err = TransportError::Http {
            status: 503,
            retry_after: Some("120".into()),
        };
        assert_eq!(err.retry_after_raw(), Some("120"));
        assert_eq!(
            err.retry_after(SystemTime::UNIX_EPOCH),
            Some(Duration::from_secs(120))
        );
        assert_eq!(TransportError::Auth { status: 401 }.retry_after_raw(), None);
    }

    #[test]
    fn display_is_readable_and_sanitised() {
        let err = TransportError::Http {
            status: 503,
            retry_after: Some("5\r\nX-Injected: 1".into()),
        };
        let text = err.to_string();
        assert_eq!(
            text,
            "server answered HTTP 503 Service Unavailable (Retry-After: 5??X-Injected: 1)"
        );
        assert_eq!(
            TransportError::Auth { status: 401 }.to_string(),
            "server refused the agent's credentials: HTTP 401 Unauthorized; check the configured headers"
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
