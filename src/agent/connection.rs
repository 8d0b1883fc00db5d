//! One transport connection, whichever the endpoint's scheme picked, and the
//! mapping of its errors onto the core's disconnect kinds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::properties::{Compression, Header, Settings, TlsSettings};
use crate::core::{self, Disconnect, DisconnectKind, HttpOutcome, Rejection, Transport};
use crate::transport::endpoint::Endpoint;
use crate::transport::{
    self, Headers, HttpConfig, HttpTransport, ProxyMode, TlsOptions, TransportError, WsConfig,
    WsTransport,
};
use crate::{error, warn};

/// Where and how to reach the OpAMP server: the opamp section's settings,
/// or settings the server offered and the agent committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub endpoint: Endpoint,
    pub headers: Vec<Header>,
    pub tls: TlsSettings,
}

impl Profile {
    pub fn from_settings(s: &Settings) -> Profile {
        Profile {
            endpoint: s.endpoint.clone(),
            headers: s.headers.clone(),
            tls: s.tls.clone(),
        }
    }

    pub fn transport(&self) -> Transport {
        if self.endpoint.scheme().is_websocket() {
            Transport::WebSocket
        } else {
            Transport::Http
        }
    }
}

/// Everything needed to (re)connect, built once per settings change.
pub struct Dialer {
    pub transport: Transport,
    ws: Option<WsConfig>,
    http: Option<HttpConfig>,
    /// Said once at build: verification off, unreadable system roots.
    pub warnings: Vec<String>,
}

pub enum Conn {
    Ws(WsTransport),
    Http(HttpTransport),
}

/// Connect attempts are short so that shutdown is never held up for long by
/// an unreachable server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const HTTP_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

impl Dialer {
    /// `p` says where to; `s` (the opamp section) how big and how packed.
    pub fn new(p: &Profile, s: &Settings) -> Result<Dialer, TransportError> {
        let mut headers = Headers::new();
        for h in &p.headers {
            headers.push(&h.name, &h.value)?;
        }
        let mut warnings = Vec::new();
        let tls = if p.endpoint.scheme().is_tls() {
            let setup = transport::tls::build(&TlsOptions {
                ca_file: p.tls.ca_file.clone(),
                cert_file: p.tls.crt_file.clone(),
                key_file: p.tls.key_file.clone(),
                verify: p.tls.verify,
            })?;
            warnings.extend(setup.warnings);
            Some(setup.config)
        } else {
            None
        };
        let max = s.max_message_size;
        if p.endpoint.scheme().is_websocket() {
            let mut c = WsConfig::new(p.endpoint.clone());
            c.headers = headers;
            c.tls = tls;
            c.proxy = ProxyMode::FromEnv;
            c.connect_timeout = CONNECT_TIMEOUT;
            c.max_message_size = max;
            c.max_send_size = max;
            Ok(Dialer {
                transport: Transport::WebSocket,
                ws: Some(c),
                http: None,
                warnings,
            })
        } else {
            let mut c = HttpConfig::new(p.endpoint.clone());
            c.headers = headers;
            c.tls = tls;
            c.proxy = ProxyMode::FromEnv;
            c.connect_timeout = CONNECT_TIMEOUT;
            c.request_timeout = HTTP_REQUEST_TIMEOUT;
            c.max_message_size = max;
            c.max_send_size = max;
            c.compress = s.compression == Compression::Gzip;
            Ok(Dialer {
                transport: Transport::Http,
                ws: None,
                http: Some(c),
                warnings,
            })
        }
    }

    pub fn connect(&self) -> Result<Conn, TransportError> {
        match (&self.ws, &self.http) {
            (Some(ws), _) => WsTransport::connect(ws).map(Conn::Ws),
            (_, Some(http)) => HttpTransport::new(http).map(Conn::Http),
            _ => Err(TransportError::Config("no transport configured".into())),
        }
    }
}

/// The configured heartbeat, or for HTTP the polling period.
pub fn heartbeat_for(transport: Transport, settings: &Settings) -> Duration {
    match transport {
        Transport::WebSocket => settings.heartbeat_interval.unwrap_or(Duration::ZERO),
        Transport::Http => settings.poll_interval,
    }
}

pub fn build_dialer(p: &Profile, s: &Settings) -> Option<Dialer> {
    match Dialer::new(p, s) {
        Ok(d) => {
            for w in &d.warnings {
                warn!("{w}");
            }
            Some(d)
        }
        Err(e) => {
            error!("cannot set up the OpAMP connection: {e}");
            None
        }
    }
}

/// What a transport error means to the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server refused this one message; the session goes on.
    Rejected(Rejection),
    /// The connection is gone (or never came up).
    Lost(Disconnect),
}

/// The one reading of a transport error: statuses through the core's
/// mapper and Retry-After through the core's parser; everything else the
/// transport reports is a broken or refused connection.
pub fn classify(e: &TransportError) -> Failure {
    let lost = |kind, retry_after| Failure::Lost(Disconnect { kind, retry_after });
    match e {
        TransportError::Status {
            status,
            retry_after,
        } => {
            let hint = retry_after
                .as_deref()
                .and_then(|v| core::parse_retry_after(v, unix_now()));
            match HttpOutcome::from_status(*status) {
                HttpOutcome::Rejected(why) => Failure::Rejected(why),
                HttpOutcome::Disconnected(kind) => lost(kind, hint),
                // Transports report only non-2xx statuses.
                HttpOutcome::Success => lost(DisconnectKind::Network, hint),
            }
        }
        TransportError::ProxyAuth { .. } => lost(DisconnectKind::AuthFailed, None),
        _ => lost(DisconnectKind::Network, None),
    }
}

/// For a connection attempt, a refused message is a refused connection.
pub fn disconnect_for(e: &TransportError) -> Disconnect {
    match classify(e) {
        Failure::Lost(d) => d,
        Failure::Rejected(_) => Disconnect::new(DisconnectKind::Network),
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, retry_after: Option<&str>) -> TransportError {
        TransportError::Status {
            status,
            retry_after: retry_after.map(str::to_string),
        }
    }

    #[test]
    fn statuses_take_the_cores_meaning() {
        use DisconnectKind::*;
        assert_eq!(
            classify(&status(400, None)),
            Failure::Rejected(Rejection::BadRequest)
        );
        assert_eq!(
            classify(&status(413, None)),
            Failure::Rejected(Rejection::TooLarge)
        );
        let kind = |e: &TransportError| disconnect_for(e).kind;
        assert_eq!(kind(&status(401, None)), AuthFailed);
        assert_eq!(kind(&status(503, None)), Throttled);
        assert_eq!(kind(&status(500, None)), Network);
        assert_eq!(
            kind(&status(400, None)),
            Network,
            "a refused upgrade is a failed connect"
        );
        assert_eq!(
            kind(&TransportError::ProxyAuth { proxy: "p".into() }),
            AuthFailed
        );
        assert_eq!(kind(&TransportError::Io("reset".into())), Network);
    }

    #[test]
    fn retry_after_goes_through_the_cores_parser() {
        let d = disconnect_for(&status(429, Some("120")));
        assert_eq!(d.retry_after, Some(Duration::from_secs(120)));
        assert_eq!(disconnect_for(&status(429, Some("soon"))).retry_after, None);
    }
}
