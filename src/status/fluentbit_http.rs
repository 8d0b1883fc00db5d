//! Blocking loopback client for Fluent Bit's built-in HTTP server.
//!
//! Called from the agent thread only, never from a Fluent Bit callback, so a
//! blocking GET with a short timeout is fine. Endpoints, as served by 3.2 to
//! 5.1 (checked against the source and real builds):
//! - `GET /` → `{"fluent-bit":{"version":"x.y.z",...}}`
//! - `GET /api/v2/metrics/prometheus` (v1 as fallback) → Prometheus text
//! - `GET /api/v1/health` → `ok` (200) / `error` (500) when `Health_Check` is
//!   on; otherwise 404 (5.x) or the `GET /` document (3.x, 4.x)
//! - `GET /api/v2/reload` → `{"hot_reload_count":N}`

use std::io::Read;
use std::time::Duration;

use super::metrics::{self, Metrics};
use super::redact::redact_url_credentials;
use crate::transport::connector::{self, Dialer};
use crate::transport::TransportError;

/// Each request's whole budget: connect, send and read.
pub const TIMEOUT: Duration = Duration::from_millis(500);
const NO_ANSWER: &str = "no answer within 500 ms";
/// Far beyond any real metrics payload; stops a confused peer from
/// making us buffer without bound.
const MAX_BODY: u64 = 4 << 20;

/// Fluent Bit's own health-check verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FbHealth {
    Ok,
    Error,
    /// `Health_Check` is off (or the server could not be asked).
    Off,
}

impl FbHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            FbHealth::Ok => "ok",
            FbHealth::Error => "error",
            FbHealth::Off => "off",
        }
    }
}

/// Why the server could not be read, worded for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    Unreachable { base: String, detail: String },
    Unexpected { url: String, detail: String },
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Unreachable { base, detail } => write!(
                f,
                "Fluent Bit HTTP server unreachable at {} ({detail}): enable it with \
                 `HTTP_Server On` in [SERVICE] or `http_server: on` under service:, \
                 and point the opamp input's http_server property at its address",
                redact_url_credentials(base)
            ),
            HttpError::Unexpected { url, detail } => {
                write!(f, "{}: {detail}", redact_url_credentials(url))
            }
        }
    }
}

impl std::error::Error for HttpError {}

/// One client, one kept-alive connection, reused for every sample.
pub struct FluentBitHttp {
    base: String,
    agent: ureq::Agent,
    /// Learned on first use: 3.x lacks nothing we need in v2, but older
    /// or trimmed builds may only serve v1.
    metrics_path: &'static str,
}

const V2_METRICS: &str = "/api/v2/metrics/prometheus";
const V1_METRICS: &str = "/api/v1/metrics/prometheus";

impl FluentBitHttp {
    /// `base` is the `http_server` property, e.g. `http://127.0.0.1:2020`.
    pub fn new(base: &str) -> Self {
        // Plain HTTP only, so no TLS roots are loaded. The server is Fluent
        // Bit's own (loopback) listener: an environment proxy would be
        // wrong, and could leak metrics.
        let dialer = Dialer {
            proxy: None,
            tls: None,
            connect_timeout: TIMEOUT,
        };
        FluentBitHttp {
            base: base.trim_end_matches('/').to_string(),
            agent: connector::agent(dialer, TIMEOUT),
            metrics_path: V2_METRICS,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Status and body; HTTP error statuses are answers, not failures.
    fn get(&self, path: &str) -> Result<(u16, String), HttpError> {
        let url = format!("{}{}", self.base, path);
        let response = match self.agent.get(&url).call() {
            Ok(r) => r,
            // The kept-alive connection may have been closed by the server
            // just as it was reused; one fresh attempt tells that apart
            // from a server that is gone. A timeout is not retried: it
            // would only double the wait.
            Err(e) if !timed_out(&e) => {
                self.agent
                    .get(&url)
                    .call()
                    .map_err(|e| HttpError::Unreachable {
                        base: self.base.clone(),
                        detail: unreachable_detail(e),
                    })?
            }
            Err(e) => {
                return Err(HttpError::Unreachable {
                    base: self.base.clone(),
                    detail: unreachable_detail(e),
                })
            }
        };
        let status = response.status().as_u16();
        let mut body = String::new();
        // Read to the end (within the cap) so the connection is kept.
        response
            .into_body()
            .into_reader()
            .take(MAX_BODY)
            .read_to_string(&mut body)
            .map_err(|e| HttpError::Unexpected {
                url,
                detail: format!("reading the answer failed: {e}"),
            })?;
        Ok((status, body))
    }

    /// Fluent Bit's version from `GET /`.
    pub fn version(&self) -> Result<Option<String>, HttpError> {
        let (status, body) = self.get("/")?;
        Ok((status == 200).then(|| version_from_root(&body)).flatten())
    }

    pub fn metrics(&mut self) -> Result<Metrics, HttpError> {
        let (status, body) = self.get(self.metrics_path)?;
        if status == 404 && self.metrics_path == V2_METRICS {
            self.metrics_path = V1_METRICS;
            return self.metrics();
        }
        if status != 200 {
            return Err(HttpError::Unexpected {
                url: format!("{}{}", self.base, self.metrics_path),
                detail: format!("HTTP {status}"),
            });
        }
        Ok(metrics::parse(&body))
    }

    pub fn health(&self) -> Result<FbHealth, HttpError> {
        let (status, body) = self.get("/api/v1/health")?;
        Ok(health_from_answer(status, &body))
    }

    /// `hot_reload_count` from `GET /api/v2/reload`, for when the metrics
    /// payload did not carry `fluentbit_hot_reloaded_times`.
    pub fn reload_count(&self) -> Result<Option<u64>, HttpError> {
        let (status, body) = self.get("/api/v2/reload")?;
        Ok((status == 200)
            .then(|| json_number(&body, "hot_reload_count"))
            .flatten())
    }
}

/// Whether the time ran out (ureq's budget, or our dial's).
fn timed_out(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Timeout(_) => true,
        ureq::Error::Other(inner) => match inner.downcast_ref::<TransportError>() {
            Some(TransportError::Timeout(_)) => true,
            // The texts of `stream::dial` and `dns::resolve`.
            Some(TransportError::Connect { reason, .. }) => {
                reason.contains("timed out") || reason.contains("did not finish")
            }
            _ => false,
        },
        _ => false,
    }
}

/// Why the server could not be asked, in a few words.
fn unreachable_detail(e: ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(_) => NO_ANSWER.to_string(),
        ureq::Error::Other(inner) => match inner.downcast::<TransportError>() {
            Ok(ours) => match *ours {
                TransportError::Connect { reason, .. } if reason.contains("refused") => {
                    "connection refused".to_string()
                }
                TransportError::Connect { reason, .. } => redact_url_credentials(&reason),
                TransportError::Timeout(_) => NO_ANSWER.to_string(),
                other => redact_url_credentials(&other.to_string()),
            },
            Err(other) => redact_url_credentials(&other.to_string()),
        },
        ureq::Error::Io(io) => io.to_string(),
        _ => "the answer is not valid HTTP".to_string(),
    }
}

/// Reads the health endpoint's answer. Older builds answer unknown paths
/// with the `GET /` document, so anything but a bare ok/error means off.
pub fn health_from_answer(status: u16, body: &str) -> FbHealth {
    match (status, body.trim()) {
        (200, "ok") => FbHealth::Ok,
        (500, "error") => FbHealth::Error,
        _ => FbHealth::Off,
    }
}

/// `"version":"x"` inside the `"fluent-bit"` object. Fluent Bit writes this
/// document itself, compactly and without escapes in the version, so a
/// targeted scan is enough and keeps serde out of the plugin.
pub fn version_from_root(body: &str) -> Option<String> {
    let after = &body[body.find("\"fluent-bit\"")?..];
    json_string(after, "version")
}

/// The first string value of `"key"` in `text`.
pub fn json_string(text: &str, key: &str) -> Option<String> {
    let rest = after_key(text, key)?.strip_prefix('"')?;
    let end = rest.find('"')?;
    let v = &rest[..end];
    (!v.is_empty()).then(|| v.to_string())
}

/// The first unsigned integer value of `"key"` in `text`.
pub fn json_number(text: &str, key: &str) -> Option<u64> {
    let rest = after_key(text, key)?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn after_key<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let quoted = format!("\"{key}\"");
    let at = text.find(&quoted)? + quoted.len();
    Some(text[at..].trim_start().strip_prefix(':')?.trim_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_and_reload_count() {
        let root = r#"{"fluent-bit":{"version":"5.1.1","edition":"Community","flags":["A"]}}"#;
        assert_eq!(version_from_root(root).as_deref(), Some("5.1.1"));
        assert_eq!(version_from_root(r#"{"other":{"version":"1"}}"#), None);
        assert_eq!(
            json_number(r#"{"hot_reload_count":3}"#, "hot_reload_count"),
            Some(3)
        );
        assert_eq!(
            json_number(r#"{"hot_reload_count": 12 }"#, "hot_reload_count"),
            Some(12)
        );
        assert_eq!(json_number(r#"{"x":1}"#, "hot_reload_count"), None);
    }

    #[test]
    fn health_answers() {
        assert_eq!(health_from_answer(200, "ok\n"), FbHealth::Ok);
        assert_eq!(health_from_answer(500, "error\n"), FbHealth::Error);
        assert_eq!(health_from_answer(404, ""), FbHealth::Off);
        assert_eq!(
            health_from_answer(200, r#"{"fluent-bit":{}}"#),
            FbHealth::Off
        );
    }

    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A stand-in for Fluent Bit's server: answers every GET with `ok`,
    /// counting connections and requests; `close` ends each connection
    /// after one answer (without saying so, as a server timing out an idle
    /// connection would).
    fn fake_server(close: bool) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (conns, requests) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (c, r) = (conns.clone(), requests.clone());
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                c.fetch_add(1, Ordering::SeqCst);
                let r = r.clone();
                std::thread::spawn(move || serve(tcp, &r, close));
            }
        });
        (base, conns, requests)
    }

    fn serve(mut tcp: TcpStream, requests: &AtomicUsize, close: bool) {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while let Ok(1) = tcp.read(&mut byte) {
            head.push(byte[0]);
            if head.ends_with(b"\r\n\r\n") {
                head.clear();
                requests.fetch_add(1, Ordering::SeqCst);
                let _ = tcp.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
                if close {
                    return;
                }
            }
        }
    }

    #[test]
    fn samples_reuse_one_kept_alive_connection() {
        let (base, conns, requests) = fake_server(false);
        let mut c = FluentBitHttp::new(&base);
        for _ in 0..3 {
            c.metrics().unwrap();
            assert_eq!(c.health().unwrap(), FbHealth::Ok);
        }
        assert_eq!(requests.load(Ordering::SeqCst), 6);
        assert_eq!(conns.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_connection_closed_by_the_server_is_replaced() {
        let (base, conns, requests) = fake_server(true);
        let c = FluentBitHttp::new(&base);
        for _ in 0..3 {
            assert_eq!(c.health().unwrap(), FbHealth::Ok);
        }
        assert_eq!(requests.load(Ordering::SeqCst), 3);
        assert!(conns.load(Ordering::SeqCst) >= 3);
    }

    #[test]
    fn closed_port_is_a_clear_unreachable_error() {
        // Bind then drop to get a loopback port that nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut c = FluentBitHttp::new(&format!("http://127.0.0.1:{port}"));
        let e = c.metrics().unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, HttpError::Unreachable { .. }), "{e:?}");
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(
            text.contains("HTTP_Server On") && text.contains("http_server: on"),
            "{text}"
        );
    }
}
