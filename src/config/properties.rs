//! The `[INPUT] opamp` property set: names, defaults, parsing and validation.
//!
//! The whole surface is defined here once, even for behaviour that later
//! work fills in, so users meet one stable set of keys. Every error names the
//! property and the form it expects; secrets (header values) never appear in
//! a message.

use std::path::PathBuf;
use std::time::Duration;

use crate::transport::endpoint::Endpoint;

/// Plugins a remote config may not use unless the operator says otherwise:
/// every Fluent Bit plugin (v3.2 to v5.1) that runs commands or code on the
/// host, or that would let the server get around the remote-config policy.
/// The default of `deny_plugins` lives here, with the other defaults, so the
/// property table needs nothing from `remote` (which reads it from here).
pub const DEFAULT_DENY_PLUGINS: &str =
    "exec,exec_wasi,lua,wasm,tensorflow,calyptia,calyptia_fleet,exit,file";

/// Every command of the `io.fluentbit.command` capability. Named here, with
/// the default list, so the property table needs nothing from `commands`
/// (which reads them from here).
pub const COMMAND_NAMES: &[&str] = &[
    "describe",
    "health",
    "metrics",
    "validate",
    "diagnostics",
    "reload",
    "temporary_config",
    "log_level",
];
/// The read-only commands: on unless the operator says otherwise.
pub const DEFAULT_COMMANDS: &str = "describe,health,metrics,validate,diagnostics";

/// One documented property.
pub struct PropertySpec {
    pub name: &'static str,
    pub default: Option<&'static str>,
    pub repeatable: bool,
    pub help: &'static str,
}

macro_rules! prop {
    ($name:literal, $default:expr, $rep:literal, $help:literal) => {
        PropertySpec {
            name: $name,
            default: $default,
            repeatable: $rep,
            help: $help,
        }
    };
}

/// Every key the plugin understands. The README's table mirrors this list and
/// a unit test keeps the two in step.
pub const PROPERTIES: &[PropertySpec] = &[
    prop!("endpoint", None, false, "OpAMP server URL: ws://, wss://, http:// or https://. Required."),
    prop!("header", None, true, "Extra request header `Name value`, sent on every HTTP request and WebSocket upgrade. Repeatable. Values are never logged."),
    prop!("tls.verify", Some("on"), false, "Verify the server certificate. Turning it off is logged as a warning."),
    prop!("tls.ca_file", None, false, "PEM file with extra CA certificates, added to the system roots."),
    prop!("tls.crt_file", None, false, "PEM client certificate for mutual TLS."),
    prop!("tls.key_file", None, false, "PEM private key for `tls.crt_file`."),
    prop!("state_dir", Some("/var/lib/fluent-bit/opamp"), false, "Folder for the instance UID, the apply state and the process lock. Must survive restarts."),
    prop!("instance_uid", None, false, "Pin the agent's instance UID (UUID text form). By default a UUIDv7 is created once and kept in `state_dir`."),
    prop!("heartbeat_interval", Some("30s"), false, "Heartbeat period; `0` turns heartbeats off. The server's offer overrides it."),
    prop!("poll_interval", Some("30s"), false, "How often the HTTP transport polls the server when it has nothing to send."),
    prop!("compression", Some("gzip"), false, "HTTP request body compression: `gzip` or `none`."),
    prop!("reconnect_max", Some("5m"), false, "Longest wait between attempts to reach the server: exponential backoff with full jitter from 1s up to this."),
    prop!("max_message_size", Some("16M"), false, "Largest OpAMP message accepted or sent."),
    prop!("remote_config", Some("off"), false, "Accept configuration from the server. Off unless the operator turns it on."),
    prop!("managed_config", None, false, "Path of the managed include file that remote configs are written to. Required when `remote_config` is on."),
    prop!("config_file", None, false, "Path of Fluent Bit's bootstrap config. Learned from the command line when unset."),
    prop!("agent_attribute", None, true, "Extra non-identifying agent attribute `key value`. Repeatable."),
    prop!("service_name", Some("io.fluentbit.fluent-bit"), false, "The `service.name` identifying attribute."),
    prop!("service_namespace", None, false, "The `service.namespace` identifying attribute."),
    prop!("http_server", None, false, "Fluent Bit's built-in HTTP server, read for version, metrics and health. By default taken from what Fluent Bit uses: the bootstrap's service section (`HTTP_Server`, `HTTP_Listen`, `HTTP_Port`), then `-H`/`-L`/`-P`, then Fluent Bit's defaults; every-address listeners are reached on loopback."),
    prop!("health_interval", Some("10s"), false, "How often pipeline health is sampled."),
    prop!("redact_key", None, true, "Extra config key whose value is redacted in the reported effective config. Repeatable."),
    prop!("deny_plugins", Some(DEFAULT_DENY_PLUGINS), false, "Plugins a remote config may not use (comma list). `none` clears it. The default lists every plugin that runs commands or code on the host, or gets around this policy."),
    prop!("allow_plugins", None, false, "If set, the only plugins a remote config may use (comma list); replaces `deny_plugins`."),
    prop!("allow_paths", None, false, "Folders a remote config's file properties (`path`, `db`, `parsers_file`, `storage.path`, any `*_file` or `*.path`) may point into (comma list), or `any`. Default: the managed folder, the plugin's `state_dir/packages`, `state_dir/other_connections` and `state_dir/own_telemetry`, `/var/log`, `/var/lib/fluent-bit` and `/var/lib/docker/containers`."),
    prop!("max_config_size", Some("4M"), false, "Largest remote config accepted, all files together."),
    prop!("health_gate", Some("0s"), false, "After a remote config reloads, how long it must stay healthy before it is reported APPLIED."),
    prop!("connection_settings", Some("off"), false, "Accept OpAMP connection settings offers (endpoint, headers, TLS material, heartbeat). Verified on a second connection before they replace the running one; kept in `state_dir/connection/settings`."),
    prop!("connection_endpoint_allow", None, false, "Hosts an offered endpoint may point to (comma list; `*.example.com` matches subdomains). Empty: any host."),
    prop!("connection_fallback", Some("5m"), false, "How long persisted connection settings may fail to connect before the agent falls back to this section's settings."),
    prop!("tls.csr", Some("off"), false, "Request a client certificate from the server by CSR when there is none or it nears expiry. The private key never leaves `state_dir`."),
    prop!("own_telemetry", Some("off"), false, "Accept own metrics and own logs offers: Fluent Bit's internal metrics and logs sent to the offered OTLP/HTTP endpoint."),
    prop!("other_connections", Some("off"), false, "Accept other connection settings: named destinations that remote configs reference as variables."),
    prop!("commands", Some(DEFAULT_COMMANDS), false, "Fluent Bit commands the server may run (comma list), `all` or `none`. The changing ones (`reload`, `temporary_config`, `log_level`) are off unless listed. See Commands."),
    prop!("packages", Some("off"), false, "Accept packages (parsers files, lookup tables, scripts, certificates) offered by the server and report their statuses. Stored in `state_dir/packages`."),
    prop!("packages.max_size", Some("64M"), false, "Largest package file downloaded."),
    prop!("packages.quota", Some("256M"), false, "Most disk space all stored package versions may use together."),
    prop!("packages.timeout", Some("5m"), false, "Time allowed for one package download, redirects included."),
    prop!("packages.allow_http", Some("off"), false, "Allow package downloads over plain http://. Off: only https:// URLs are fetched."),
    prop!("packages.signing_key", None, true, "Base64 of a 32-byte Ed25519 public key that package signatures are checked against. Repeatable."),
    prop!("packages.require_signature", Some("off"), false, "Refuse packages without a valid signature by a `packages.signing_key`."),
    prop!("packages.agent", Some("off"), false, "Accept the top-level agent package: downloaded, verified and staged beside the running file for the next restart; never replaces it in place."),
    prop!("events", Some("on"), false, "Emit one record per management event (connected, config applied, command done, ...) under this input's `Tag`. `off` emits none. See Management events."),
];

/// Keys Fluent Bit itself consumes for every input; not ours to warn about.
pub const HOST_KEYS: &[&str] = &[
    "name",
    "alias",
    "tag",
    "log_level",
    "log_suppress_interval",
    "routable",
    "mem_buf_limit",
    "listen",
    "host",
    "port",
    "ipv6",
    "tls",
    "tls.verify_client_cert",
    "tls.verify_hostname",
    "tls.debug",
    "tls.vhost",
    "tls.ca_path",
    "tls.key_passwd",
    "tls.min_version",
    "tls.max_version",
    "tls.ciphers",
    "storage.type",
    "storage.pause_on_chunks_overlimit",
    "threaded",
    "thread.ring_buffer.capacity",
    "thread.ring_buffer.window",
    "rate_window",
    "rate_gate",
    "processors",
];

const HOST_KEY_PREFIXES: &[&str] = &["net.", "oauth2", "rate_gate.", "storage."];

pub fn spec(name: &str) -> Option<&'static PropertySpec> {
    PROPERTIES
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
}

pub fn is_host_key(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    HOST_KEYS.contains(&n.as_str()) || HOST_KEY_PREFIXES.iter().any(|p| n.starts_with(p))
}

/// A property problem, worded for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyError {
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for PropertyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "property '{}': {}", self.key, self.message)
    }
}

/// Property values as the plugin saw them: every occurrence, in order, with
/// lower-cased keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawProperties {
    pub pairs: Vec<(String, String)>,
}

impl RawProperties {
    pub fn push(&mut self, key: &str, value: &str) {
        self.pairs
            .push((key.to_ascii_lowercase(), value.to_string()));
    }

    /// The last value given for a single-valued key: later lines win, as
    /// they do for Fluent Bit's own properties.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Keys that neither we nor Fluent Bit know: almost always typos.
    pub fn unknown_keys(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (k, _) in &self.pairs {
            if spec(k).is_none() && !is_host_key(k) && !out.contains(k) {
                out.push(k.clone());
            }
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginPolicy {
    Deny(Vec<String>),
    Allow(Vec<String>),
}

#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: <redacted>", self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub verify: bool,
    pub ca_file: Option<PathBuf>,
    pub crt_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// Validated settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub endpoint: Endpoint,
    pub headers: Vec<Header>,
    pub tls: TlsSettings,
    pub state_dir: PathBuf,
    pub instance_uid: Option<[u8; 16]>,
    pub heartbeat_interval: Option<Duration>,
    pub poll_interval: Duration,
    pub compression: Compression,
    pub max_message_size: usize,
    pub reconnect_max: Duration,
    pub remote_config: bool,
    pub managed_config: Option<PathBuf>,
    pub config_file: Option<PathBuf>,
    pub agent_attributes: Vec<(String, String)>,
    pub service_name: String,
    pub service_namespace: Option<String>,
    /// The operator's override; `None`: learned from Fluent Bit's own config.
    pub http_server: Option<String>,
    pub health_interval: Duration,
    pub redact_keys: Vec<String>,
    pub plugin_policy: PluginPolicy,
    /// `allow_paths` as listed (`None`: the default set).
    pub allow_paths: Option<Vec<String>>,
    pub max_config_size: usize,
    pub health_gate: Duration,
    pub steering: Steering,
    /// The commands the server may run, by name.
    pub commands: Vec<String>,
    pub packages: PackageSettings,
    /// Management event records into the pipeline (`events`).
    pub events: bool,
}

/// Addon packages: off unless the operator turns them on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageSettings {
    pub enabled: bool,
    pub max_size: u64,
    pub quota: u64,
    pub timeout: Duration,
    pub allow_http: bool,
    /// Raw 32-byte Ed25519 public keys.
    pub signing_keys: Vec<[u8; 32]>,
    pub require_signature: bool,
    pub agent: bool,
}

/// What the server may change about connections, each part off unless the
/// operator turns it on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Steering {
    pub connection_settings: bool,
    /// Lower-case host names; empty allows any.
    pub endpoint_allow: Vec<String>,
    pub fallback_after: Duration,
    pub csr: bool,
    pub own_telemetry: bool,
    pub other_connections: bool,
}

struct Reader<'a> {
    raw: &'a RawProperties,
    errors: Vec<PropertyError>,
}

impl<'a> Reader<'a> {
    fn value(&self, key: &'static str) -> Option<&'a str> {
        let v = self
            .raw
            .get(key)
            .or_else(|| spec(key).and_then(|s| s.default))?;
        let v = v.trim();
        (!v.is_empty()).then_some(v)
    }

    fn fail(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(PropertyError {
            key: key.to_string(),
            message: message.into(),
        });
    }

    fn bool(&mut self, key: &'static str) -> bool {
        let v = self.value(key).unwrap_or("off");
        match parse_bool(v) {
            Some(b) => b,
            None => {
                self.fail(
                    key,
                    format!("expected on/off, true/false or yes/no, got '{v}'"),
                );
                false
            }
        }
    }

    fn duration(&mut self, key: &'static str) -> Duration {
        let v = self.value(key).unwrap_or("0");
        match parse_duration(v) {
            Some(d) => d,
            None => {
                self.fail(
                    key,
                    format!("expected a time such as 30, 30s, 5m or 1h, got '{v}'"),
                );
                Duration::ZERO
            }
        }
    }

    fn size(&mut self, key: &'static str) -> usize {
        let v = self.value(key).unwrap_or("0");
        match parse_size(v) {
            Some(s) if s > 0 => s,
            _ => {
                self.fail(
                    key,
                    format!("expected a size such as 512K, 16M or 1048576, got '{v}'"),
                );
                0
            }
        }
    }

    fn path(&mut self, key: &'static str) -> Option<PathBuf> {
        let v = self.value(key)?;
        if v.contains('\0') {
            self.fail(key, "path contains a NUL byte");
            return None;
        }
        Some(PathBuf::from(v))
    }

    fn pairs(&mut self, key: &'static str, what: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let values: Vec<&str> = self.raw.all(key).collect();
        for v in values {
            let v = v.trim();
            match v.split_once(char::is_whitespace) {
                Some((k, rest)) if !k.is_empty() && !rest.trim().is_empty() => {
                    out.push((k.to_string(), rest.trim().to_string()))
                }
                _ => self.fail(key, format!("expected '{what}' separated by a space")),
            }
        }
        out
    }
}

pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Some(true),
        "off" | "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

/// Fluent Bit's time form: a number with an optional s/m/h/d suffix.
pub fn parse_duration(v: &str) -> Option<Duration> {
    let v = v.trim().to_ascii_lowercase();
    let (num, mult) = match v.chars().last()? {
        's' => (&v[..v.len() - 1], 1u64),
        'm' => (&v[..v.len() - 1], 60),
        'h' => (&v[..v.len() - 1], 3600),
        'd' => (&v[..v.len() - 1], 86400),
        c if c.is_ascii_digit() => (v.as_str(), 1),
        _ => return None,
    };
    let n: u64 = num.trim().parse().ok()?;
    n.checked_mul(mult).map(Duration::from_secs)
}

/// Fluent Bit's size form: a number with an optional K/M/G suffix (powers of 1024).
pub fn parse_size(v: &str) -> Option<usize> {
    let v = v.trim().to_ascii_uppercase();
    let v = v.strip_suffix('B').unwrap_or(&v);
    let (num, mult) = match v.chars().last()? {
        'K' => (&v[..v.len() - 1], 1usize << 10),
        'M' => (&v[..v.len() - 1], 1 << 20),
        'G' => (&v[..v.len() - 1], 1 << 30),
        c if c.is_ascii_digit() => (v, 1),
        _ => return None,
    };
    let n: usize = num.trim().parse().ok()?;
    n.checked_mul(mult)
}

/// Parse a UUID in its text form (hyphens optional).
pub fn parse_uuid(v: &str) -> Option<[u8; 16]> {
    let hex: String = v.trim().chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty() && s != "none")
        .collect()
}

/// Validate everything; all problems are returned together so one restart
/// fixes them all.
pub fn parse(raw: &RawProperties) -> Result<Settings, Vec<PropertyError>> {
    let mut r = Reader {
        raw,
        errors: Vec::new(),
    };

    let endpoint = match r.value("endpoint") {
        None => {
            r.fail(
                "endpoint",
                "missing; expected a URL such as wss://opamp.example.com/v1/opamp",
            );
            None
        }
        Some(v) => match Endpoint::parse(v) {
            Ok(e) => Some(e),
            Err(e) => {
                r.fail(
                    "endpoint",
                    format!("{e}; expected ws://, wss://, http:// or https:// URL"),
                );
                None
            }
        },
    };

    let headers = r
        .pairs("header", "Name value")
        .into_iter()
        .filter_map(|(name, value)| {
            let valid = name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !valid || value.contains(['\r', '\n']) {
                r.fail("header", format!("'{name}' is not a valid HTTP header"));
                None
            } else {
                Some(Header { name, value })
            }
        })
        .collect();

    let tls = TlsSettings {
        verify: {
            let v = r.value("tls.verify").unwrap_or("on");
            parse_bool(v).unwrap_or_else(|| {
                r.fail("tls.verify", format!("expected on or off, got '{v}'"));
                true
            })
        },
        ca_file: r.path("tls.ca_file"),
        crt_file: r.path("tls.crt_file"),
        key_file: r.path("tls.key_file"),
    };
    if tls.crt_file.is_some() != tls.key_file.is_some() {
        r.fail(
            "tls.key_file",
            "tls.crt_file and tls.key_file must be set together",
        );
    }

    let state_dir = r.path("state_dir").unwrap_or_default();
    let instance_uid = match r.value("instance_uid") {
        None => None,
        Some(v) => match parse_uuid(v) {
            Some(u) => Some(u),
            None => {
                r.fail(
                    "instance_uid",
                    format!("expected a UUID such as 0192c3a4-..., got '{v}'"),
                );
                None
            }
        },
    };

    let hb = r.duration("heartbeat_interval");
    let poll_interval = r.duration("poll_interval");
    if poll_interval.is_zero() {
        r.fail("poll_interval", "must be at least 1s");
    }
    let compression = match r
        .value("compression")
        .unwrap_or("gzip")
        .to_ascii_lowercase()
        .as_str()
    {
        "gzip" | "on" => Compression::Gzip,
        "none" | "off" => Compression::None,
        other => {
            r.fail(
                "compression",
                format!("expected gzip or none, got '{other}'"),
            );
            Compression::Gzip
        }
    };
    let max_message_size = r.size("max_message_size");
    let reconnect_max = r.duration("reconnect_max");
    if reconnect_max < Duration::from_secs(1) {
        r.fail("reconnect_max", "must be at least 1s");
    }
    let remote_config = r.bool("remote_config");
    let managed_config = r.path("managed_config");
    if remote_config && managed_config.is_none() {
        r.fail(
            "managed_config",
            "required when remote_config is on: the path of the file your bootstrap config includes",
        );
    }
    let config_file = r.path("config_file");
    let agent_attributes = r.pairs("agent_attribute", "key value");
    let service_name = r.value("service_name").unwrap_or_default().to_string();
    let service_namespace = r.value("service_namespace").map(str::to_string);
    let http_server = r.value("http_server").map(str::to_string);
    if http_server
        .as_ref()
        .is_some_and(|h| !h.starts_with("http://"))
    {
        r.fail(
            "http_server",
            "expected an http:// URL such as http://127.0.0.1:2020",
        );
    }
    let health_interval = r.duration("health_interval");
    let redact_keys = r
        .raw
        .all("redact_key")
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let plugin_policy = match r.value("allow_plugins") {
        Some(v) => PluginPolicy::Allow(list(v)),
        None => PluginPolicy::Deny(list(r.value("deny_plugins").unwrap_or(""))),
    };
    let allow_paths = r.value("allow_paths").map(|v| {
        v.split(',')
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty())
            .collect::<Vec<_>>()
    });
    if let Some(bad) = allow_paths
        .iter()
        .flatten()
        .find(|d| *d != "any" && !d.starts_with('/'))
    {
        r.fail(
            "allow_paths",
            format!("'{bad}' is not an absolute folder; expected any or a comma list of folders"),
        );
    }
    let max_config_size = r.size("max_config_size");
    let health_gate = r.duration("health_gate");
    let events = r.bool("events");
    let steering = Steering {
        connection_settings: r.bool("connection_settings"),
        endpoint_allow: list(r.value("connection_endpoint_allow").unwrap_or(""))
            .into_iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        fallback_after: r.duration("connection_fallback"),
        csr: r.bool("tls.csr"),
        own_telemetry: r.bool("own_telemetry"),
        other_connections: r.bool("other_connections"),
    };
    if steering.own_telemetry && managed_config.is_none() {
        r.fail(
            "managed_config",
            "required when own_telemetry is on: the own-telemetry fragment is applied through the \
             managed file your bootstrap config includes",
        );
    }
    let packages = package_props::read(&mut r);
    if steering.csr && !steering.connection_settings {
        r.fail(
            "tls.csr",
            "needs connection_settings on: the certificate comes back as a connection settings offer",
        );
    }

    let commands = commands(&mut r);

    if !r.errors.is_empty() {
        return Err(r.errors);
    }
    Ok(Settings {
        endpoint: endpoint.expect("endpoint errors are reported above"),
        headers,
        tls,
        state_dir,
        instance_uid,
        heartbeat_interval: (!hb.is_zero()).then_some(hb),
        poll_interval,
        compression,
        max_message_size,
        reconnect_max,
        remote_config,
        managed_config,
        config_file,
        agent_attributes,
        service_name,
        service_namespace,
        http_server,
        health_interval,
        redact_keys,
        plugin_policy,
        allow_paths,
        max_config_size,
        health_gate,
        steering,
        commands,
        packages,
        events,
    })
}

fn commands(r: &mut Reader<'_>) -> Vec<String> {
    let v = r.value("commands").unwrap_or("none");
    match v.to_ascii_lowercase().as_str() {
        "all" => return COMMAND_NAMES.iter().map(|c| c.to_string()).collect(),
        "none" => return Vec::new(),
        _ => {}
    }
    let mut out: Vec<String> = Vec::new();
    for c in list(v) {
        let c = c.to_ascii_lowercase();
        if !COMMAND_NAMES.contains(&c.as_str()) {
            r.fail(
                "commands",
                format!(
                    "unknown command '{c}'; expected all, none or a comma list of {}",
                    COMMAND_NAMES.join(", ")
                ),
            );
        } else if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

#[path = "package_props.rs"]
mod package_props;

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawProperties {
        let mut r = RawProperties::default();
        for (k, v) in pairs {
            r.push(k, v);
        }
        r
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let s = parse(&raw(&[("endpoint", "ws://127.0.0.1:4320/v1/opamp")])).unwrap();
        assert_eq!(s.heartbeat_interval, Some(Duration::from_secs(30)));
        assert_eq!(s.poll_interval, Duration::from_secs(30));
        assert_eq!(s.max_message_size, 16 << 20);
        assert!(!s.remote_config);
        assert!(s.tls.verify);
        assert_eq!(s.compression, Compression::Gzip);
        assert_eq!(s.state_dir, PathBuf::from("/var/lib/fluent-bit/opamp"));
        let PluginPolicy::Deny(list) = &s.plugin_policy else {
            panic!("a deny list by default")
        };
        for p in [
            "exec",
            "exec_wasi",
            "lua",
            "wasm",
            "tensorflow",
            "calyptia_fleet",
            "exit",
            "file",
        ] {
            assert!(list.contains(&p.to_string()), "{p} is denied by default");
        }
    }

    #[test]
    fn repeatable_keys_keep_every_value() {
        let s = parse(&raw(&[
            ("endpoint", "https://x/v1/opamp"),
            ("header", "Authorization Bearer abc def"),
            ("header", "X-Tenant t1"),
            ("agent_attribute", "deployment.environment prod"),
        ]))
        .unwrap();
        assert_eq!(s.headers.len(), 2);
        assert_eq!(s.headers[0].value, "Bearer abc def");
        assert_eq!(
            s.agent_attributes,
            vec![("deployment.environment".into(), "prod".into())]
        );
    }

    #[test]
    fn every_bad_value_names_its_property() {
        let err = parse(&raw(&[
            ("endpoint", "ftp://x"),
            ("heartbeat_interval", "soon"),
            ("tls.verify", "maybe"),
            ("max_message_size", "huge"),
            ("remote_config", "on"),
            ("instance_uid", "nope"),
            ("header", "Bad:Name v"),
        ]))
        .unwrap_err();
        let keys: Vec<&str> = err.iter().map(|e| e.key.as_str()).collect();
        for k in [
            "endpoint",
            "heartbeat_interval",
            "tls.verify",
            "max_message_size",
            "managed_config",
            "instance_uid",
            "header",
        ] {
            assert!(keys.contains(&k), "{k} not reported in {err:?}");
        }
    }

    #[test]
    fn own_telemetry_needs_managed_config() {
        let ep = ("endpoint", "ws://127.0.0.1:4320/v1/opamp");
        let err = parse(&raw(&[ep, ("own_telemetry", "on")])).unwrap_err();
        assert_eq!(err[0].key, "managed_config");
        assert!(err[0].to_string().contains("own_telemetry"), "{err:?}");
        let s = parse(&raw(&[
            ep,
            ("own_telemetry", "on"),
            ("managed_config", "/m.conf"),
        ]))
        .unwrap();
        assert!(s.steering.own_telemetry && !s.remote_config);
    }

    #[test]
    fn missing_endpoint_is_an_error() {
        let err = parse(&raw(&[])).unwrap_err();
        assert_eq!(err[0].key, "endpoint");
    }

    #[test]
    fn header_values_never_reach_messages_or_debug() {
        let err = parse(&raw(&[
            ("endpoint", "http://x"),
            ("header", "Authorization"),
        ]))
        .unwrap_err();
        assert!(!format!("{err:?}").contains("Bearer"));
        let s = parse(&raw(&[
            ("endpoint", "http://x"),
            ("header", "Authorization Bearer sekrit"),
        ]))
        .unwrap();
        assert!(!format!("{s:?}").contains("sekrit"));
    }

    #[test]
    fn heartbeat_zero_turns_it_off() {
        let s = parse(&raw(&[("endpoint", "ws://x"), ("heartbeat_interval", "0")])).unwrap();
        assert_eq!(s.heartbeat_interval, None);
    }

    #[test]
    fn unknown_keys_exclude_ours_and_the_hosts() {
        let r = raw(&[
            ("Name", "opamp"),
            ("Tag", "x"),
            ("endpoint", "ws://x"),
            ("endpont", "ws://y"),
            ("net.keepalive", "on"),
            ("heartbeat", "5s"),
        ]);
        assert_eq!(
            r.unknown_keys(),
            vec!["endpont".to_string(), "heartbeat".to_string()]
        );
    }

    #[test]
    fn units_parse_like_fluent_bit() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_size("512K"), Some(512 << 10));
        assert_eq!(parse_size("16MB"), Some(16 << 20));
        assert_eq!(parse_size("-1"), None);
        assert_eq!(
            parse_uuid("0192c3a4-0000-7000-8000-000000000001").unwrap()[15],
            1
        );
    }

    #[test]
    fn readme_table_lists_every_property_with_its_default() {
        let readme = include_str!("../../README.md");
        for p in PROPERTIES {
            let default = p.default.map(|d| format!("`{d}`")).unwrap_or_default();
            let row_start = format!("| `{}` |", p.name);
            let row = readme
                .lines()
                .find(|l| l.starts_with(&row_start))
                .unwrap_or_else(|| panic!("README has no row for {}", p.name));
            assert!(
                row.trim_end().ends_with(&format!("| {default} |")),
                "README default for {} is stale: {row}",
                p.name
            );
        }
    }

    #[test]
    fn commands_default_to_the_read_only_ones() {
        let s = parse(&raw(&[("endpoint", "ws://x")])).unwrap();
        assert_eq!(s.commands.join(","), DEFAULT_COMMANDS);
        let s = parse(&raw(&[("endpoint", "ws://x"), ("commands", "all")])).unwrap();
        assert_eq!(s.commands.len(), COMMAND_NAMES.len());
        let s = parse(&raw(&[("endpoint", "ws://x"), ("commands", "none")])).unwrap();
        assert!(s.commands.is_empty());
        let s = parse(&raw(&[
            ("endpoint", "ws://x"),
            ("commands", "health, Reload"),
        ]))
        .unwrap();
        assert_eq!(s.commands, vec!["health".to_string(), "reload".to_string()]);
        let e = parse(&raw(&[("endpoint", "ws://x"), ("commands", "health,rm")])).unwrap_err();
        assert_eq!(e[0].key, "commands");
    }

    #[test]
    fn events_are_on_unless_turned_off() {
        let on = parse(&raw(&[("endpoint", "ws://x")])).unwrap();
        assert!(on.events);
        let off = parse(&raw(&[("endpoint", "ws://x"), ("events", "off")])).unwrap();
        assert!(!off.events);
        let bad = parse(&raw(&[("endpoint", "ws://x"), ("events", "maybe")])).unwrap_err();
        assert_eq!(bad[0].key, "events");
    }

    #[test]
    fn allow_list_replaces_deny_list() {
        let s = parse(&raw(&[
            ("endpoint", "ws://x"),
            ("allow_plugins", "tail, http ,stdout"),
        ]))
        .unwrap();
        assert_eq!(
            s.plugin_policy,
            PluginPolicy::Allow(vec!["tail".into(), "http".into(), "stdout".into()])
        );
    }
}
