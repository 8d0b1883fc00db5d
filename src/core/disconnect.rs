//! How the driver reports that a connection ended or could not be made,
//! and how HTTP status codes map onto that.

use std::time::Duration;

/// Input to [`super::Client::on_disconnected`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disconnect {
    pub kind: DisconnectKind,
    /// Server-requested wait, e.g. a parsed `Retry-After` header
    /// (see [`super::parse_retry_after`]).
    pub retry_after: Option<Duration>,
}

impl Disconnect {
    pub fn new(kind: DisconnectKind) -> Self {
        Self {
            kind,
            retry_after: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisconnectKind {
    /// Could not connect, or the connection broke: I/O error, timeout, peer
    /// close, an unexpected HTTP status.
    Network,
    /// HTTP 429 or 503 ("Throttling"). Waits at least 30 s.
    Throttled,
    /// HTTP 401 or 403 ("Authentication"). Retries slowly, at the backoff cap.
    AuthFailed,
    /// The driver closed the connection itself (shutdown, new settings); no
    /// penalty, reconnecting is allowed at once.
    Local,
}

/// The server refused one HTTP request but the session goes on; input to
/// [`super::Client::on_rejected`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// HTTP 400 ("Bad Request": do not retry the message).
    BadRequest,
    /// HTTP 413 ("Plain HTTP Message Size Limits": MUST NOT retry the same
    /// request).
    TooLarge,
}

/// What an HTTP status on an OpAMP request (or WebSocket upgrade) means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpOutcome {
    /// 2xx: decode the body and pass it to the core.
    Success,
    Rejected(Rejection),
    Disconnected(DisconnectKind),
}

impl HttpOutcome {
    pub fn from_status(status: u16) -> Self {
        match status {
            200..=299 => Self::Success,
            400 => Self::Rejected(Rejection::BadRequest),
            413 => Self::Rejected(Rejection::TooLarge),
            401 | 403 => Self::Disconnected(DisconnectKind::AuthFailed),
            429 | 503 => Self::Disconnected(DisconnectKind::Throttled),
            _ => Self::Disconnected(DisconnectKind::Network),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "Throttling", "Authentication", "Bad Request" and "Plain HTTP Message
    /// Size Limits" each give a status code its meaning.
    #[test]
    fn http_status_mapping() {
        use DisconnectKind::*;
        use HttpOutcome::*;
        assert_eq!(HttpOutcome::from_status(200), Success);
        assert_eq!(HttpOutcome::from_status(204), Success);
        assert_eq!(
            HttpOutcome::from_status(400),
            Rejected(Rejection::BadRequest)
        );
        assert_eq!(HttpOutcome::from_status(413), Rejected(Rejection::TooLarge));
        assert_eq!(HttpOutcome::from_status(401), Disconnected(AuthFailed));
        assert_eq!(HttpOutcome::from_status(403), Disconnected(AuthFailed));
        assert_eq!(HttpOutcome::from_status(429), Disconnected(Throttled));
        assert_eq!(HttpOutcome::from_status(503), Disconnected(Throttled));
        assert_eq!(HttpOutcome::from_status(500), Disconnected(Network));
        assert_eq!(HttpOutcome::from_status(404), Disconnected(Network));
        assert_eq!(HttpOutcome::from_status(302), Disconnected(Network));
    }
}
