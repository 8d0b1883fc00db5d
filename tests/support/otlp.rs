//! A loopback OTLP/HTTP receiver: records every POST (path, headers, body)
//! and answers 200, as a collector would. Just enough of the OTLP protobuf
//! schema is declared here to decode metric names and count log records
//! (prost skips the fields not declared).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::server_stream::ServerStream;

#[derive(Debug, Clone)]
pub struct OtlpRequest {
    pub path: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    /// Decompressed when sent with `Content-Encoding: gzip`.
    pub body: Vec<u8>,
    /// Whether the client presented a TLS certificate.
    pub client_cert: bool,
}

impl OtlpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct OtlpReceiver {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<OtlpRequest>>>,
    stop: Arc<AtomicBool>,
}

impl OtlpReceiver {
    pub fn start() -> OtlpReceiver {
        Self::start_with(None)
    }

    /// HTTPS with `config` (see `certs::TestPki::server_config`).
    pub fn start_tls(config: Arc<rustls::ServerConfig>) -> OtlpReceiver {
        Self::start_with(Some(config))
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> OtlpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (reqs, flag) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let (reqs, tls) = (reqs.clone(), tls.clone());
                        std::thread::spawn(move || {
                            let _ = s.set_nonblocking(false);
                            // A failed handshake (no client certificate) records nothing.
                            if let Ok(s) = ServerStream::accept(s, tls.as_ref()) {
                                serve(s, reqs)
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        OtlpReceiver {
            addr,
            requests,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn requests(&self) -> Vec<OtlpRequest> {
        self.requests.lock().unwrap().clone()
    }

    pub fn count(&self, path: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .count()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// HTTP/1.1 keep-alive: one request after another until the peer closes.
fn serve(s: ServerStream, reqs: Arc<Mutex<Vec<OtlpRequest>>>) {
    s.set_read_timeout(Duration::from_secs(30));
    let client_cert = s.client_cert();
    let mut r = BufReader::new(s);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        if headers
            .iter()
            .any(|(k, v)| k == "content-encoding" && v.contains("gzip"))
        {
            let mut out = Vec::new();
            let _ = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out);
            body = out;
        }
        reqs.lock().unwrap().push(OtlpRequest {
            path,
            headers,
            body,
            client_cert,
        });
        let ok =
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n";
        if r.get_mut().write_all(ok.as_bytes()).is_err() {
            return;
        }
    }
}

/// The part of `ExportMetricsServiceRequest` that names metrics.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportMetrics {
    #[prost(message, repeated, tag = "1")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceMetrics {
    #[prost(message, repeated, tag = "2")]
    pub scope_metrics: Vec<ScopeMetrics>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeMetrics {
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    #[prost(string, tag = "1")]
    pub name: String,
}

/// The part of `ExportLogsServiceRequest` that counts records.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportLogs {
    #[prost(message, repeated, tag = "1")]
    pub resource_logs: Vec<ResourceLogs>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceLogs {
    #[prost(message, repeated, tag = "2")]
    pub scope_logs: Vec<ScopeLogs>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeLogs {
    #[prost(message, repeated, tag = "2")]
    pub log_records: Vec<LogRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LogRecord {
    #[prost(fixed64, tag = "1")]
    pub time_unix_nano: u64,
}

/// Metric names in an `ExportMetricsServiceRequest`.
pub fn metric_names(body: &[u8]) -> Result<Vec<String>, prost::DecodeError> {
    let m = <ExportMetrics as prost::Message>::decode(body)?;
    Ok(m.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| m.name.clone())
        .collect())
}

/// Log records in an `ExportLogsServiceRequest`.
pub fn log_records(body: &[u8]) -> Result<usize, prost::DecodeError> {
    let m = <ExportLogs as prost::Message>::decode(body)?;
    Ok(m.resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum())
}
