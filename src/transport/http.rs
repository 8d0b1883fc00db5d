//! The plain-HTTP transport: each exchange is one POST carrying an
//! AgentToServer and answered with a ServerToAgent.
//!
//! ureq writes and parses the HTTP/1.1 messages; connections are ours
//! (`transport::connector`), and so are gzip (both ways) and the size limits.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use flate2::read::MultiGzDecoder;
use ureq::http::Response;
use ureq::Body;

use super::body::{self, BodyError};
use super::connector::{self, Dialer};
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
    /// The proxy requests are handed to (plain `http://` endpoints only),
    /// for messages: no credentials.
    forwarding_proxy: Option<String>,
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
        let tls = match (&config.tls, endpoint.scheme().is_tls()) {
            (_, false) => None,
            (Some(tls), true) => Some(tls.clone()),
            (None, true) => Some(tls::build(&TlsOptions::default())?.config),
        };
        let proxy = proxy::resolve(&config.proxy, endpoint)?;
        let forwarding_proxy = proxy
            .as_ref()
            .filter(|_| tls.is_none())
            .map(|p| p.to_string());
        let dialer = Dialer {
            proxy,
            tls,
            connect_timeout: config.connect_timeout,
        };
        Ok(Self {
            // Redirects are not followed: a redirected POST would be
            // replayed as a GET, or carry our Authorization header to
            // another host. A 3xx is reported so the operator fixes the
            // endpoint.
            agent: connector::agent(dialer, config.request_timeout),
            url: endpoint.url(),
            shown: endpoint.to_string(),
            forwarding_proxy,
            headers: config.headers.clone(),
            max_message_size: config.max_message_size,
            max_send_size: config.max_send_size,
            compress: config.compress,
        })
    }

    /// POST one AgentToServer (already encoded) and return the body of the
    /// answer, decompressed and within the size limit. Any status but 2xx
    /// is [`TransportError::Status`], for the protocol core to interpret.
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
            .header("Content-Type", CONTENT_TYPE)
            .header(INSTANCE_UID_HEADER, instance_uid)
            .header("Accept-Encoding", "gzip");
        for (name, value) in self.headers.iter() {
            // As bytes: HTTP allows non-ASCII (obs-text) values.
            request = request.header(name, value.as_bytes());
        }
        let result = if self.compress && body.len() >= GZIP_MIN_BODY {
            request
                .header("Content-Encoding", "gzip")
                .send(&body::gzip(body)[..])
        } else {
            request.send(body)
        };
        let response = result.map_err(|e| self.failure(e))?;
        let status = response.status().as_u16();
        if let (407, Some(proxy)) = (status, &self.forwarding_proxy) {
            // The proxy speaking, not the server: the same answer to
            // CONNECT is reported this way too (see `stream::tunnel`).
            return Err(TransportError::ProxyAuth {
                proxy: proxy.clone(),
            });
        }
        if !(200..300).contains(&status) {
            let retry_after = response
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            discard(response);
            return Err(TransportError::Status {
                status,
                retry_after,
            });
        }
        self.read_body(response)
    }

    fn read_body(&self, response: Response<Body>) -> Result<Vec<u8>, TransportError> {
        // A declared length over the limit is refused unread. With gzip the
        // declared length is the compressed size, which real bodies never
        // inflate past the decompressed limit.
        if response
            .body()
            .content_length()
            .is_some_and(|len| len > self.max_message_size as u64)
        {
            return Err(TransportError::TooLarge {
                limit: self.max_message_size,
            });
        }
        let gzipped = response
            .headers()
            .get("Content-Encoding")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let reader = response.into_body().into_reader();
        // The limit counts decompressed bytes: a gzip bomb stops there.
        let result = if gzipped {
            body::read_limited(MultiGzDecoder::new(reader), self.max_message_size)
        } else {
            body::read_limited(reader, self.max_message_size)
        };
        result.map_err(|e| match e {
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

    /// Our own errors come back from the connector as they were made. For
    /// ureq's, messages are rebuilt from the parts: some of its texts quote
    /// the URL, whose query may hold a token.
    fn failure(&self, e: ureq::Error) -> TransportError {
        match e {
            ureq::Error::Other(inner) => match inner.downcast::<TransportError>() {
                Ok(ours) => *ours,
                Err(other) => TransportError::Io(other.to_string()),
            },
            ureq::Error::Timeout(_) => {
                TransportError::Timeout("waiting for the server's HTTP response")
            }
            ureq::Error::Io(io) => io_failure(io),
            // Neither the URL nor the header values are quoted: they may
            // hold credentials.
            ureq::Error::Http(_) | ureq::Error::BadUri(_) => TransportError::Config(format!(
                "no valid HTTP request to {} can be made; check the endpoint and the configured headers",
                self.shown
            )),
            _ => TransportError::Protocol(format!("invalid HTTP response from {}", self.shown)),
        }
    }
}

/// Read what little an error answer carries, so the connection can serve
/// the next exchange; a long one is dropped with its connection instead.
fn discard(response: Response<Body>) {
    let _ = body::read_limited(response.into_body().into_reader(), 64 * 1024);
}

fn io_failure(e: io::Error) -> TransportError {
    // rustls reports a failed handshake as InvalidData wrapping its error.
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return TransportError::Tls(tls.to_string());
    }
    match e.kind() {
        // ureq reports a response that ended early as UnexpectedEof.
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset => {
            TransportError::Io("the server closed the connection before a complete response".into())
        }
        _ => TransportError::Io(e.to_string()),
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
