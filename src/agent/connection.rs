//! One transport connection, whichever the endpoint's scheme picked, and the
//! mapping of its errors onto the core's disconnect kinds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::properties::{Compression, Settings};
use crate::core::{self, Disconnect, DisconnectKind, Transport};
use crate::transport::{
    self, Headers, HttpConfig, HttpTransport, ProxyMode, TlsOptions, TransportError, WsConfig,
    WsTransport,
};

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
    pub fn new(s: &Settings) -> Result<Dialer, TransportError> {
        let mut headers = Headers::new();
        for h in &s.headers {
            headers.push(&h.name, &h.value)?;
        }
        let mut warnings = Vec::new();
        let tls = if s.endpoint.scheme().is_tls() {
            let setup = transport::tls::build(&TlsOptions {
                ca_file: s.tls.ca_file.clone(),
                cert_file: s.tls.crt_file.clone(),
                key_file: s.tls.key_file.clone(),
                verify: s.tls.verify,
            })?;
            warnings.extend(setup.warnings);
            Some(setup.config)
        } else {
            None
        };
        let max = s.max_message_size;
        if s.endpoint.scheme().is_websocket() {
            let mut c = WsConfig::new(s.endpoint.clone());
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
            let mut c = HttpConfig::new(s.endpoint.clone());
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

/// What the core should make of a transport error.
pub fn disconnect_for(e: &TransportError) -> Disconnect {
    if let TransportError::Status {
        status,
        retry_after,
    } = e
    {
        // The core alone says what a status means.
        let kind = match core::HttpOutcome::from_status(*status) {
            core::HttpOutcome::Disconnected(kind) => kind,
            _ => DisconnectKind::Network,
        };
        let retry_after = retry_after
            .as_deref()
            .and_then(|v| core::parse_retry_after(v, unix_now()));
        return Disconnect { kind, retry_after };
    }
    let kind = if e.is_auth() {
        DisconnectKind::AuthFailed
    } else if e.is_throttled() {
        DisconnectKind::Throttled
    } else {
        DisconnectKind::Network
    };
    let retry_after = match e {
        TransportError::Http {
            retry_after: Some(v),
            ..
        } => core::parse_retry_after(v, unix_now()),
        _ => None,
    };
    Disconnect { kind, retry_after }
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
