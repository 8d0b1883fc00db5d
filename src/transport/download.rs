//! One HTTP GET streamed into a writer: package files.
//!
//! The same road as every other request (our dialer, proxy rules and
//! rustls), with the limits a download needs: a size cap counted as bytes
//! arrive (whatever `Content-Length` claims), one deadline for the whole
//! transfer, a bounded number of redirects followed by hand (so each hop is
//! checked against the same scheme rule), and only the headers the caller
//! gives. Memory is one fixed buffer: the body never sits in memory whole.
//!
//! Header values and URL queries may hold credentials: no error here quotes
//! them.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::connector::{self, Dialer};
use super::endpoint::Endpoint;
use super::headers::Headers;
use super::proxy::{self, ProxyMode};
use super::TransportError;

/// Redirects followed before the download counts as a loop.
pub const MAX_REDIRECTS: usize = 5;
/// The copy buffer: the whole of what a download holds in memory beyond
/// the connection's own 16 KiB buffers.
pub const CHUNK: usize = 64 * 1024;

#[derive(Clone)]
pub struct DownloadConfig {
    /// For `https://` URLs (the opamp section's CA and client settings).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub proxy: ProxyMode,
    pub connect_timeout: Duration,
    /// For the whole download, redirects included.
    pub timeout: Duration,
    /// Largest body accepted.
    pub max_bytes: u64,
    /// Whether plain `http://` URLs (first or redirected) may be used.
    pub allow_http: bool,
}

/// Why a download failed; never quotes a header value or a query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownloadError {
    /// A URL we refuse to fetch (scheme, shape, policy).
    Refused(String),
    /// The body was larger than the limit (declared or counted).
    TooLarge { limit: u64 },
    /// Too many redirects (a loop, or a very long chain).
    Redirects(usize),
    /// The server answered with a status other than 200.
    Status(u16),
    /// The body ended before its declared length, or the connection broke.
    Truncated(String),
    /// The sink refused the data (a full disk).
    Write(String),
    /// The network or TLS failed.
    Transport(String),
    /// The deadline passed.
    Timeout(Duration),
}

impl std::fmt::Display for DownloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(why) => write!(f, "download refused: {why}"),
            Self::TooLarge { limit } => write!(f, "the file is larger than {limit} bytes"),
            Self::Redirects(n) => write!(f, "more than {n} redirects (a redirect loop?)"),
            Self::Status(s) => write!(f, "the download server answered HTTP {s}"),
            Self::Truncated(why) => write!(f, "the download ended early: {why}"),
            Self::Write(why) => write!(f, "cannot store the download: {why}"),
            Self::Transport(why) => write!(f, "download failed: {why}"),
            Self::Timeout(d) => write!(f, "the download took longer than {}s", d.as_secs()),
        }
    }
}

/// Checks a URL against the scheme rule; the message names the scheme
/// only.
pub fn check_url(url: &str, allow_http: bool) -> Result<Endpoint, DownloadError> {
    let e = Endpoint::parse(url).map_err(|_| {
        DownloadError::Refused("the download_url is not a valid http(s) URL".into())
    })?;
    match e.scheme() {
        super::Scheme::Https => Ok(e),
        super::Scheme::Http if allow_http => Ok(e),
        super::Scheme::Http => Err(DownloadError::Refused(
            "the download_url is plain http://; the operator allows it with \
             'packages.allow_http on'"
                .into(),
        )),
        s => Err(DownloadError::Refused(format!(
            "a download_url cannot be {}://",
            s.as_str()
        ))),
    }
}

/// GETs `url` into `sink`; `progress(bytes so far, declared total)` is
/// called after every chunk. Returns the number of bytes written.
pub fn fetch(
    cfg: &DownloadConfig,
    url: &str,
    headers: &Headers,
    sink: &mut dyn Write,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<u64, DownloadError> {
    let deadline = Instant::now() + cfg.timeout;
    let mut url = url.to_string();
    let first = check_url(&url, cfg.allow_http)?;
    for _ in 0..=MAX_REDIRECTS {
        let endpoint = check_url(&url, cfg.allow_http)?;
        // Credentials meant for the offered host do not follow a redirect
        // to another one.
        let same_origin =
            endpoint.authority() == first.authority() && endpoint.scheme() == first.scheme();
        let empty = Headers::new();
        let hdrs = if same_origin { headers } else { &empty };
        match get_once(cfg, &endpoint, hdrs, deadline, sink, progress)? {
            Hop::Done(n) => return Ok(n),
            Hop::Redirect(next) => url = resolve(&endpoint, &next)?,
        }
    }
    Err(DownloadError::Redirects(MAX_REDIRECTS))
}

enum Hop {
    Done(u64),
    Redirect(String),
}

fn get_once(
    cfg: &DownloadConfig,
    endpoint: &Endpoint,
    headers: &Headers,
    deadline: Instant,
    sink: &mut dyn Write,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<Hop, DownloadError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(DownloadError::Timeout(cfg.timeout));
    }
    let tls = match (endpoint.scheme().is_tls(), &cfg.tls) {
        (false, _) => None,
        (true, Some(t)) => Some(t.clone()),
        (true, None) => Some(
            super::tls::build(&super::TlsOptions::default())
                .map_err(|e| DownloadError::Transport(e.to_string()))?
                .config,
        ),
    };
    let proxy = proxy::resolve(&cfg.proxy, endpoint)
        .map_err(|e| DownloadError::Transport(e.to_string()))?;
    let dialer = Dialer {
        proxy,
        tls,
        connect_timeout: cfg.connect_timeout,
    };
    let agent = connector::agent(dialer, left);
    let mut req = agent.get(endpoint.url());
    for (name, value) in headers.iter() {
        req = req.header(name, value.as_bytes());
    }
    let resp = req.call().map_err(|e| failure(e, cfg.timeout))?;
    let status = resp.status().as_u16();
    if (300..400).contains(&status) {
        let loc = resp
            .headers()
            .get("Location")
            .and_then(|v| v.to_str().ok())
            .ok_or(DownloadError::Status(status))?;
        return Ok(Hop::Redirect(loc.to_string()));
    }
    if status != 200 {
        return Err(DownloadError::Status(status));
    }
    let declared = resp.body().content_length();
    if declared.is_some_and(|n| n > cfg.max_bytes) {
        return Err(DownloadError::TooLarge {
            limit: cfg.max_bytes,
        });
    }
    let reader = resp.into_body().into_reader();
    copy_limited(reader, sink, cfg.max_bytes, declared, progress)
        .map(Hop::Done)
        .map_err(|e| match e {
            DownloadError::Transport(m) if m.contains("imed out") => {
                DownloadError::Timeout(cfg.timeout)
            }
            other => other,
        })
}

/// Copies through one fixed buffer, counting against `max`.
pub fn copy_limited(
    mut reader: impl Read,
    sink: &mut dyn Write,
    max: u64,
    declared: Option<u64>,
    progress: &mut dyn FnMut(u64, Option<u64>),
) -> Result<u64, DownloadError> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_failure(e)),
        };
        total += n as u64;
        if total > max {
            return Err(DownloadError::TooLarge { limit: max });
        }
        sink.write_all(&buf[..n])
            .map_err(|e| DownloadError::Write(e.to_string()))?;
        progress(total, declared);
    }
    if declared.is_some_and(|d| d != total) {
        return Err(DownloadError::Truncated(format!(
            "{total} of {} bytes",
            declared.unwrap_or_default()
        )));
    }
    Ok(total)
}

fn read_failure(e: io::Error) -> DownloadError {
    match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => {
            DownloadError::Truncated("the server closed the connection mid-body".into())
        }
        _ => DownloadError::Transport(e.to_string()),
    }
}

/// A `Location` may be absolute or a path on the same server.
fn resolve(base: &Endpoint, location: &str) -> Result<String, DownloadError> {
    if location.contains("://") {
        return Ok(location.to_string());
    }
    if location.starts_with('/') && !location.starts_with("//") {
        return Ok(format!(
            "{}://{}{location}",
            base.scheme().as_str(),
            base.authority()
        ));
    }
    Err(DownloadError::Refused(
        "a redirect points to a relative or scheme-less location".into(),
    ))
}

fn failure(e: ureq::Error, timeout: Duration) -> DownloadError {
    match e {
        ureq::Error::Other(inner) => match inner.downcast::<TransportError>() {
            Ok(ours) => DownloadError::Transport(ours.to_string()),
            Err(other) => DownloadError::Transport(other.to_string()),
        },
        ureq::Error::Timeout(_) => DownloadError::Timeout(timeout),
        ureq::Error::Io(io) => read_failure(io),
        // Neither the URL nor the header values are quoted.
        ureq::Error::Http(_) | ureq::Error::BadUri(_) => DownloadError::Refused(
            "no valid request can be made from the download_url and its headers".into(),
        ),
        _ => DownloadError::Transport("invalid HTTP response from the download server".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_needs_the_operator() {
        assert!(matches!(
            check_url("http://h/p", false),
            Err(DownloadError::Refused(m)) if m.contains("packages.allow_http")
        ));
        assert!(check_url("http://h/p", true).is_ok());
        assert!(check_url("https://h/p", false).is_ok());
        assert!(check_url("ws://h/p", true).is_err());
        assert!(check_url("file:///etc/passwd", true).is_err());
    }

    struct Full(usize);
    impl Write for Full {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.0 < b.len() {
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            self.0 -= b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_full_disk_is_a_write_error() {
        let data = vec![7u8; 3 * CHUNK];
        let err =
            copy_limited(&data[..], &mut Full(CHUNK), u64::MAX, None, &mut |_, _| {}).unwrap_err();
        assert!(
            matches!(err, DownloadError::Write(ref m) if m.contains("space")),
            "{err}"
        );
    }

    #[test]
    fn the_cap_counts_bytes_not_claims() {
        let data = vec![7u8; 1000];
        let err = copy_limited(&data[..], &mut Vec::new(), 999, None, &mut |_, _| {}).unwrap_err();
        assert_eq!(err, DownloadError::TooLarge { limit: 999 });
        let n = copy_limited(&data[..], &mut Vec::new(), 1000, Some(1000), &mut |_, _| {});
        assert_eq!(n, Ok(1000));
        let short = copy_limited(&data[..], &mut Vec::new(), 5000, Some(2000), &mut |_, _| {});
        assert!(matches!(short, Err(DownloadError::Truncated(_))));
    }

    #[test]
    fn redirect_locations_resolve_on_the_same_server_only() {
        let base = Endpoint::parse("https://h:8443/a").unwrap();
        assert_eq!(resolve(&base, "/b").unwrap(), "https://h:8443/b");
        assert_eq!(resolve(&base, "http://x/y").unwrap(), "http://x/y");
        assert!(resolve(&base, "//evil/x").is_err());
        assert!(resolve(&base, "b").is_err());
    }
}
