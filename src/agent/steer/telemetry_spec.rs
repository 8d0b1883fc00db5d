//! An own-telemetry offer checked and turned into what Fluent Bit's
//! `opentelemetry` output needs: host, port, URI, headers and TLS files.
//!
//! Everything the server sends ends up as text in a config file Fluent Bit
//! reads, so every value is checked against what could change the file's
//! meaning: line breaks and control characters (a new property or
//! section) and `${` (Fluent Bit would expand an environment variable into
//! a header and send it out). TLS material is written to files in
//! `state_dir` (mode 0600) and loaded once with rustls before anything is
//! applied, so a key that does not match its certificate fails here with a
//! reason instead of in Fluent Bit's init.

use std::path::{Path, PathBuf};

use crate::fluent_bit_plugins::Plugins;
use crate::proto::{ConnectionSettingsOffers, TelemetryConnectionSettings};
use crate::state_dir::write_atomic_private;
use crate::transport::{tls, tls_material, Endpoint, Scheme, TlsOptions};

/// Fluent Bit's HTTP client refuses longer header lines; keep well below.
const MAX_HEADER: usize = 4096;
const MAX_HEADERS: usize = 32;
/// Folder in `state_dir` for the offered TLS files.
pub(super) const PEM_DIR: &str = "own_telemetry";

/// The two signals Fluent Bit can send about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Signal {
    Metrics,
    Logs,
}

impl Signal {
    pub(super) fn name(self) -> &'static str {
        match self {
            Signal::Metrics => "own_metrics",
            Signal::Logs => "own_logs",
        }
    }

    /// The input that produces the signal.
    pub(super) fn input(self) -> &'static str {
        match self {
            Signal::Metrics => "fluentbit_metrics",
            Signal::Logs => "fluentbit_logs",
        }
    }

    /// The `opentelemetry` output's property for the URL path.
    pub(super) fn uri_key(self) -> &'static str {
        match self {
            Signal::Metrics => "metrics_uri",
            Signal::Logs => "logs_uri",
        }
    }

    fn default_path(self) -> &'static str {
        match self {
            Signal::Metrics => "/v1/metrics",
            Signal::Logs => "/v1/logs",
        }
    }
}

/// One signal's destination, ready to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    pub(super) signal: Signal,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) uri: String,
    pub(super) tls: bool,
    pub(super) verify: bool,
    pub(super) ca_file: Option<PathBuf>,
    pub(super) crt_file: Option<PathBuf>,
    pub(super) key_file: Option<PathBuf>,
    /// `Name value` pairs.
    pub(super) headers: Vec<(String, String)>,
}

/// The offer the agent acts on: the latest settings for each signal.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Wanted {
    pub(super) metrics: Option<TelemetryConnectionSettings>,
    pub(super) logs: Option<TelemetryConnectionSettings>,
}

impl Wanted {
    /// An absent part leaves a signal as it is; a present one with an empty
    /// endpoint removes it.
    pub(super) fn merge(
        &self,
        metrics: Option<TelemetryConnectionSettings>,
        logs: Option<TelemetryConnectionSettings>,
    ) -> Wanted {
        let pick = |old: &Option<TelemetryConnectionSettings>,
                    new: Option<TelemetryConnectionSettings>| match new {
            None => old.clone(),
            Some(n) if n.destination_endpoint.trim().is_empty() => None,
            Some(n) => Some(n),
        };
        Wanted {
            metrics: pick(&self.metrics, metrics),
            logs: pick(&self.logs, logs),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.metrics.is_none() && self.logs.is_none()
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        use prost::Message;
        ConnectionSettingsOffers {
            own_metrics: self.metrics.clone(),
            own_logs: self.logs.clone(),
            ..Default::default()
        }
        .encode_to_vec()
    }

    pub(super) fn decode(bytes: &[u8]) -> Option<Wanted> {
        use prost::Message;
        let o = ConnectionSettingsOffers::decode(bytes).ok()?;
        Some(Wanted {
            metrics: o.own_metrics,
            logs: o.own_logs,
        })
    }

    /// Checks every signal and writes its TLS files into `pem_dir`.
    pub(super) fn targets(&self, plugins: &Plugins, pem_dir: &Path) -> Result<Vec<Target>, String> {
        let mut out = Vec::new();
        for (signal, s) in [(Signal::Metrics, &self.metrics), (Signal::Logs, &self.logs)] {
            if let Some(s) = s {
                supported(signal, plugins)?;
                let t =
                    target(signal, s, pem_dir).map_err(|e| format!("{}: {e}", signal.name()))?;
                out.push(t);
            }
        }
        Ok(out)
    }
}

/// Whether the running Fluent Bit has what `signal` needs.
pub(super) fn supported(signal: Signal, plugins: &Plugins) -> Result<(), String> {
    if !plugins.has_output("opentelemetry") {
        return Err(format!(
            "{}: this Fluent Bit has no opentelemetry output",
            signal.name()
        ));
    }
    if !plugins.has_input(signal.input()) {
        let why = match signal {
            Signal::Logs => " (Fluent Bit's own logs need Fluent Bit 5.0 or later)",
            Signal::Metrics => "",
        };
        return Err(format!(
            "{}: this Fluent Bit has no {} input{why}",
            signal.name(),
            signal.input()
        ));
    }
    Ok(())
}

fn target(
    signal: Signal,
    s: &TelemetryConnectionSettings,
    pem_dir: &Path,
) -> Result<Target, String> {
    let url = s.destination_endpoint.trim();
    let lower = url.to_ascii_lowercase();
    if !lower.starts_with("http://") && !lower.starts_with("https://") {
        return Err("destination_endpoint must be an http:// or https:// OTLP/HTTP URL".into());
    }
    let ep = Endpoint::parse(url).map_err(|e| format!("destination_endpoint: {e}"))?;
    let tls = ep.scheme() == Scheme::Https;
    let uri = match ep.path_and_query() {
        "/" => signal.default_path().to_string(),
        p => p.to_string(),
    };
    safe("destination_endpoint", ep.host())?;
    safe("destination_endpoint", &uri)?;
    if s.proxy.as_ref().is_some_and(|p| !p.url.is_empty()) {
        return Err("a proxy for own telemetry is not supported".into());
    }
    let mut t = Target {
        signal,
        host: ep.host().to_string(),
        port: ep.port(),
        uri,
        tls,
        verify: true,
        ca_file: None,
        crt_file: None,
        key_file: None,
        headers: headers(s)?,
    };
    tls_files(&mut t, s, pem_dir)?;
    Ok(t)
}

fn headers(s: &TelemetryConnectionSettings) -> Result<Vec<(String, String)>, String> {
    let list = s
        .headers
        .as_ref()
        .map(|h| h.headers.as_slice())
        .unwrap_or(&[]);
    if list.len() > MAX_HEADERS {
        return Err(format!("more than {MAX_HEADERS} headers"));
    }
    let mut out = Vec::new();
    for h in list {
        let name = h.key.trim();
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || !name.chars().all(token) {
            // The name is not secret; the value is never quoted.
            return Err(format!(
                "header name '{}' is not a valid HTTP header name",
                name.escape_default()
            ));
        }
        if name.len() + h.value.len() + 2 > MAX_HEADER {
            return Err(format!("header '{name}' is longer than {MAX_HEADER} bytes"));
        }
        safe(&format!("the value of header '{name}'"), &h.value)?;
        out.push((name.to_string(), h.value.trim().to_string()));
    }
    Ok(out)
}

/// Refuses what would change the config file's meaning (see the module
/// comment). The value itself may be secret, so it is never quoted.
fn safe(what: &str, v: &str) -> Result<(), String> {
    if v.chars().any(|c| c.is_control()) {
        return Err(format!("{what} contains a control character"));
    }
    if v.contains("${") {
        return Err(format!(
            "{what} contains '${{', which Fluent Bit would expand as a variable"
        ));
    }
    Ok(())
}

fn tls_files(t: &mut Target, s: &TelemetryConnectionSettings, dir: &Path) -> Result<(), String> {
    let cert = s.certificate.clone().unwrap_or_default();
    let opts = s.tls.clone().unwrap_or_default();
    let mut ca = opts.ca_pem_contents.into_bytes();
    if !cert.ca_cert.is_empty() {
        ca.extend_from_slice(b"\n");
        ca.extend_from_slice(&cert.ca_cert);
    }
    let client = !cert.cert.is_empty() || !cert.private_key.is_empty();
    if !t.tls && (client || !ca.is_empty()) {
        return Err("TLS material was offered for a plain http:// endpoint; use https://".into());
    }
    if !t.tls {
        return Ok(());
    }
    t.verify = !opts.insecure_skip_verify;
    // The offer's own words first (no match, expired, not a CA), then the
    // files as Fluent Bit will read them.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if !ca.is_empty() {
        tls_material::check_cas(&ca, now).map_err(|e| format!("TLS: {e}"))?;
    }
    if client && !cert.cert.is_empty() && !cert.private_key.is_empty() {
        tls_material::check_pair(&cert.cert, &cert.private_key, now)
            .map_err(|e| format!("TLS: {e}"))?;
    }
    let tag = t.signal.name();
    if !ca.is_empty() {
        t.ca_file = Some(write_pem(dir, tag, "ca", &ca)?);
    }
    if client {
        if cert.cert.is_empty() || cert.private_key.is_empty() {
            return Err("a client certificate needs both cert and private_key".into());
        }
        t.crt_file = Some(write_pem(dir, tag, "crt", &cert.cert)?);
        t.key_file = Some(write_pem(dir, tag, "key", &cert.private_key)?);
    }
    // Loads the files as the OpAMP connection would: unreadable PEM, an
    // empty CA or a key that does not match its certificate fail here.
    tls::build(&TlsOptions {
        ca_file: t.ca_file.clone(),
        cert_file: t.crt_file.clone(),
        key_file: t.key_file.clone(),
        verify: t.verify,
    })
    .map(drop)
    .map_err(|e| format!("TLS: {}", name_offered_files(&e.to_string(), t)))
}

/// The error names our files by what the offer called them: their paths
/// in `state_dir` are the plugin's business (the key's is treated as
/// secret), and the server knows the material only by these names.
fn name_offered_files(error: &str, t: &Target) -> String {
    let mut e = error
        .trim_start_matches("invalid transport configuration: ")
        .to_string();
    for (path, what) in [
        (&t.key_file, "the offered private_key"),
        (&t.crt_file, "the offered cert"),
        (&t.ca_file, "the offered CA"),
    ] {
        if let Some(p) = path {
            e = e.replace(&p.display().to_string(), what);
        }
    }
    e
}

/// Named by content, so the same offer renders the same fragment (no
/// reload after a restart) and a new one never overwrites a file the live
/// config still uses.
fn write_pem(dir: &Path, tag: &str, kind: &str, data: &[u8]) -> Result<PathBuf, String> {
    let name = format!("{tag}-{kind}-{}.pem", short_hash(data));
    let path = dir.join(name);
    std::fs::create_dir_all(dir)
        .and_then(|_| write_atomic_private(&path, data))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

fn short_hash(data: &[u8]) -> String {
    let h = crate::remote::fragment::local_hash(data);
    let text = String::from_utf8_lossy(&h);
    text.rsplit(':').next().unwrap_or_default().to_string()
}

/// Removes TLS files no live target names.
pub(super) fn tidy_pems(dir: &Path, keep: &[Target]) {
    let used: Vec<&Path> = keep
        .iter()
        .flat_map(|t| [&t.ca_file, &t.crt_file, &t.key_file])
        .filter_map(|p| p.as_deref())
        .collect();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if !used.contains(&p.as_path()) {
            let _ = std::fs::remove_file(&p);
        }
    }
}

#[cfg(test)]
#[path = "telemetry_spec_tests.rs"]
mod tests;
