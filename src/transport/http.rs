//! The plain-HTTP transport: each exchange is one POST carrying an
//! AgentToServer and answered with a ServerToAgent.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use super::body::{self, BodyError};
use super::endpoint::Endpoint;
use super::headers::Headers;
use super::proxy::{self, ProxyMode};
use super::{tls, TlsOptions, TransportError};

const CONTENT_TYPE: &str = "application/x-protobuf";
/// The spec's header name; its value is the instance UID as a UUID string.
pub const INSTANCE_UID_HEADER: &str = "OpAMP-Instance-UID";

/// Smaller bodies go uncompressed: gzip's 18 bytes of framing and the
/// deflate set-up cost more than they save on a heartbeat-sized protobuf.
pub const GZIP_MIN_BODY: usize = 256;

/// Everything needed to talk to an OpAMP server over plain HTTP.
#[derive(Clone)]
pub struct HttpConfig {
    pub endpoint: Endpoint,
    /// Sent on every POST (e.g. `Authorization`).
    pub headers: Headers,
    /// For `https://`; `None` builds a default (system roots, verification
    /// on) when the transport is created.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub proxy: ProxyMode,
    pub connect_timeout: Duration,
    /// For the whole exchange, connect included.
    pub request_timeout: Duration,
    /// Largest response body accepted, measured after decompression.
    pub max_message_size: usize,
    /// Largest request body sent, measured before compression.
    pub max_send_size: usize,
    /// gzip request bodies (`Content-Encoding: gzip`).
    pub compress: bool,
}

/// Written out so the TLS configuration (which holds the client key) is
/// only ever shown as present or absent.
impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("endpoint", &self.endpoint)
            .field("tls", &self.tls.as_ref().map(|_| "<rustls config>"))
            .field("headers", &self.headers)
            .field("proxy", &self.proxy)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_message_size", &self.max_message_size)
            .field("max_send_size", &self.max_send_size)
            .field("compress", &self.compress)
            .finish()
    }
}

impl HttpConfig {
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            headers: Headers::new(),
            tls: None,
            proxy: ProxyMode::FromEnv,
            connect_timeout: super::DEFAULT_CONNECT_TIMEOUT,
            request_timeout: super::DEFAULT_IO_TIMEOUT,
            max_message_size: super::DEFAULT_MAX_MESSAGE_SIZE,
            max_send_size: super::DEFAULT_MAX_MESSAGE_SIZE,
            compress: true,
        }
    }
}

/// A reusable HTTP client for one endpoint (keeps the connection alive
/// between polls).
pub struct HttpTransport {
    agent: ureq::Agent,
    url: String,
    /// For messages: never carries the query string.
    shown: String,
    /// The proxy in use, for messages (no credentials).
    proxy: Option<String>,
    headers: Headers,
    max_message_size: usize,
    max_send_size: usize,
    compress: bool,
}

impl HttpTransport {
    pub fn new(config: &HttpConfig) -> Result<Self, TransportError> {
        let endpoint = &config.endpoint;
        if endpoint.scheme().is_websocket() {
            return Err(TransportError::Config(format!(
                "the HTTP transport needs an http:// or https:// endpoint, not {}://",
                endpoint.scheme().as_str()
            )));
        }
        let mut builder = ureq::AgentBuilder::new()
            .timeout_connect(config.connect_timeout)
            .timeout(config.request_timeout)
            // A redirected POST would be replayed as a GET, or carry our
            // Authorization header to another host. Neither is wanted:
            // a 3xx is reported so the operator fixes the endpoint.
            .redirects(0)
            // ureq would otherwise read the proxy variables itself, without
            // NO_PROXY, overriding what `proxy::resolve` decided.
            .try_proxy_from_env(false)
            .user_agent(super::USER_AGENT)
            .max_idle_connections_per_host(1);
        if endpoint.scheme().is_tls() {
            let tls = match &config.tls {
                Some(tls) => tls.clone(),
                None => tls::build(&TlsOptions::default())?.config,
            };
            builder = builder.tls_config(tls);
        }
        let proxy = proxy::resolve(&config.proxy, endpoint)?;
        if let Some(proxy) = &proxy {
            let ureq_proxy = ureq::Proxy::new(proxy.url_with_credentials()).map_err(|_| {
                TransportError::Config(format!("proxy {proxy} is not usable by the HTTP client"))
            })?;
            builder = builder.proxy(ureq_proxy);
        }
        Ok(Self {
            agent: builder.build(),
            url: endpoint.url(),
            shown: endpoint.to_string(),
            proxy: proxy.map(|p| p.to_string()),
            headers: config.headers.clone(),
            max_message_size: config.max_message_size,
            max_send_size: config.max_send_size,
            compress: config.compress,
        })
    }

    /// POST one AgentToServer (protobuf bytes) and return the
    /// ServerToAgent bytes from the response.
    pub fn exchange(&mut self, instance_uid: &str, body: &[u8]) -> Result<Vec<u8>, TransportError> {
        if body.len() > self.max_send_size {
            return Err(TransportError::RequestTooLarge {
                size: body.len(),
                limit: self.max_send_size,
            });
        }
        let mut request = self
            .agent
            .post(&self.url)
            .set("Content-Type", CONTENT_TYPE)
            .set(INSTANCE_UID_HEADER, instance_uid)
            .set("Accept-Encoding", "gzip");
        for (name, value) in self.headers.iter() {
            request = request.set(name, value);
        }
        let result = if self.compress && body.len() >= GZIP_MIN_BODY {
            request
                .set("Content-Encoding", "gzip")
                .send_bytes(&body::gzip(body))
        } else {
            request.send_bytes(body)
        };
        match result {
            Ok(response) if (200..300).contains(&response.status()) => self.read_body(response),
            // ureq returns 1xx/3xx as successes; for us they are refusals.
            Ok(response) => Err(TransportError::Status {
                status: response.status(),
                retry_after: None,
            }),
            Err(ureq::Error::Status(code, response)) => Err(TransportError::Status {
                status: code,
                retry_after: response.header("Retry-After").map(str::to_string),
            }),
            Err(ureq::Error::Transport(t)) => Err(self.transport_error(t)),
        }
    }

    fn read_body(&self, response: ureq::Response) -> Result<Vec<u8>, TransportError> {
        // A declared length over the limit is refused unread. With gzip the
        // declared length is the compressed size, which real bodies never
        // inflate past the decompressed limit.
        let declared = response
            .header("Content-Length")
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max_message_size as u64) {
            return Err(TransportError::TooLarge {
                limit: self.max_message_size,
            });
        }
        // ureq has already wrapped a gzip body in a decoder, so the limit
        // below counts decompressed bytes: a gzip bomb stops at the limit.
        body::read_limited(response.into_reader(), self.max_message_size).map_err(|e| match e {
            BodyError::TooLarge { limit } => TransportError::TooLarge { limit },
            BodyError::Corrupt(msg) => TransportError::Malformed(format!(
                "the response body from {} is not valid gzip: {msg}",
                self.shown
            )),
            BodyError::Io(msg) => TransportError::Io(format!(
                "reading the response body from {}: {msg}",
                self.shown
            )),
        })
    }

    /// ureq's own `Display` starts with the URL (which may hold a token in
    /// its query) and, for header errors, the header line: neither may
    /// reach the log, so messages are rebuilt from the error's parts.
    fn transport_error(&self, t: ureq::Transport) -> TransportError {
        use ureq::ErrorKind;
        let source = std::error::Error::source(&t).map(|s| s.to_string());
        let cause = || source.clone().unwrap_or_else(|| t.kind().to_string());
        if let Some(timeout) = find_timeout(&t) {
            return timeout;
        }
        if let Some(tls) = find_tls_error(&t) {
            return TransportError::Tls(tls);
        }
        match t.kind() {
            ErrorKind::Dns | ErrorKind::ConnectionFailed => TransportError::Connect {
                target: self.shown.clone(),
                reason: cause(),
            },
            ErrorKind::ProxyConnect => TransportError::Proxy {
                proxy: self.proxy_shown(),
                reason: format!("no tunnel to {}: {}", self.shown, cause()),
            },
            ErrorKind::ProxyUnauthorized => TransportError::ProxyAuth {
                proxy: self.proxy_shown(),
            },
            ErrorKind::InvalidUrl
            | ErrorKind::UnknownScheme
            | ErrorKind::InvalidProxyUrl
            | ErrorKind::InsecureRequestHttpsOnly => TransportError::Config(format!(
                "the HTTP client cannot use {}: {}",
                self.shown,
                t.kind()
            )),
            ErrorKind::TooManyRedirects => TransportError::Status {
                status: 300,
                retry_after: None,
            },
            ErrorKind::BadStatus | ErrorKind::BadHeader | ErrorKind::HTTP => {
                TransportError::Protocol(format!("invalid HTTP response from {}", self.shown))
            }
            ErrorKind::Io if is_eof(&t) => TransportError::Io(
                "the server closed the connection before a complete response".into(),
            ),
            ErrorKind::Io => TransportError::Io(cause()),
        }
    }
}

impl HttpTransport {
    fn proxy_shown(&self) -> String {
        self.proxy
            .clone()
            .unwrap_or_else(|| "(none configured)".into())
    }
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("endpoint", &self.shown)
            .field("headers", &self.headers)
            .field("compress", &self.compress)
            .finish()
    }
}

fn sources(t: &ureq::Transport) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(std::error::Error::source(t), |e| e.source())
}

fn find_timeout(t: &ureq::Transport) -> Option<TransportError> {
    sources(t)
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .any(body::is_would_block)
        .then_some(TransportError::Timeout(
            "waiting for the server's HTTP response",
        ))
}

fn is_eof(t: &ureq::Transport) -> bool {
    sources(t)
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .any(|e| {
            // ureq reports a response that never started as ConnectionAborted.
            matches!(
                e.kind(),
                io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionAborted
            )
        })
}

fn find_tls_error(t: &ureq::Transport) -> Option<String> {
    sources(t).find_map(|e| {
        e.downcast_ref::<rustls::Error>()
            .or_else(|| {
                e.downcast_ref::<io::Error>()
                    .and_then(|io| io.get_ref())
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            })
            .map(|tls| tls.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_endpoints_are_refused() {
        let cfg = HttpConfig::new(Endpoint::parse("ws://h/v1/opamp").unwrap());
        let err = HttpTransport::new(&cfg).unwrap_err();
        assert!(err.is_config(), "{err}");
    }
}
