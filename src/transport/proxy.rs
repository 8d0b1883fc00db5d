//! Choosing an HTTP proxy the way other command-line tools do.
//!
//! Only `http://` proxy URLs are supported. Both transports reach TLS and
//! WebSocket endpoints through a `CONNECT` tunnel; requests to a plain
//! `http://` endpoint are handed to the proxy to forward (absolute-form).
//! Credentials in the proxy URL become `Proxy-Authorization: Basic` on
//! either path. Lookup order follows curl and Go:
//! for TLS endpoints `HTTPS_PROXY`/`https_proxy`, otherwise
//! `HTTP_PROXY`/`http_proxy`, then `ALL_PROXY`/`all_proxy`; `NO_PROXY`/
//! `no_proxy` exempts hosts. Unlike Go, loopback is not exempted
//! implicitly: curl does not do that either, and it keeps behaviour
//! predictable (list `localhost,127.0.0.1` in NO_PROXY to bypass).
//!
//! Resolution takes an environment lookup function so tests never touch
//! the process environment, which is shared with Fluent Bit.

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;

use super::endpoint::{self, Endpoint, Scheme};
use super::TransportError;

/// Where proxy settings come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ProxyMode {
    /// The standard environment variables (the default).
    #[default]
    FromEnv,
    /// Always connect directly.
    Disabled,
    /// Always use this proxy.
    Explicit(Proxy),
}

/// An HTTP proxy reached with `CONNECT`.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    host: String,
    port: u16,
    /// Percent-decoded `user`, `password` from the URL's userinfo.
    credentials: Option<(String, String)>,
}

impl Proxy {
    /// Parse `[http://][user:password@]host[:port][/]`. The port defaults to
    /// 80, as curl would; most proxies listen elsewhere, so say it.
    pub fn parse(url: &str) -> Result<Self, TransportError> {
        let url = url.trim();
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(TransportError::Config(format!(
                    "proxy scheme '{}' is not supported; only http:// proxies are",
                    scheme.escape_default()
                )))
            }
            None => url,
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('/') || authority.contains('?') || authority.contains('#') {
            return Err(TransportError::Config(
                "a proxy URL must not have a path or query".into(),
            ));
        }
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (host, port) = endpoint::split_host_port(hostport, Scheme::Http).map_err(|e| {
            TransportError::Config(format!("invalid proxy URL: {}", strip_prefix(&e)))
        })?;
        let credentials = userinfo.map(|info| {
            let (user, password) = info.split_once(':').unwrap_or((info, ""));
            (percent_decode(user), percent_decode(password))
        });
        Ok(Self {
            host,
            port,
            credentials,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    pub(crate) fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// `host:port` for connecting and for messages.
    pub fn authority(&self) -> String {
        format!("{}:{}", endpoint::bracketed(&self.host), self.port)
    }

    /// The `Proxy-Authorization` value for the URL's credentials, if any.
    /// It is the password in reversible form: never log it.
    pub(crate) fn authorization(&self) -> Option<String> {
        let (user, password) = self.credentials()?;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Some(format!("Basic {token}"))
    }
}

/// Shows where the proxy is, never who we are to it.
impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.authority())
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = if self.credentials.is_some() {
            "<credentials>@"
        } else {
            ""
        };
        write!(f, "Proxy(http://{auth}{})", self.authority())
    }
}

/// The proxy to use for `endpoint` under `mode`, reading the real process
/// environment for [`ProxyMode::FromEnv`].
pub fn resolve(mode: &ProxyMode, endpoint: &Endpoint) -> Result<Option<Proxy>, TransportError> {
    resolve_with(mode, endpoint, |name| std::env::var(name).ok())
}

/// [`resolve`] with an injectable environment.
pub fn resolve_with(
    mode: &ProxyMode,
    endpoint: &Endpoint,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>, TransportError> {
    match mode {
        ProxyMode::Disabled => Ok(None),
        ProxyMode::Explicit(proxy) => Ok(Some(proxy.clone())),
        ProxyMode::FromEnv => from_env(endpoint, env),
    }
}

fn from_env(
    endpoint: &Endpoint,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>, TransportError> {
    let names: &[&str] = if endpoint.scheme().is_tls() {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    let found = names.iter().find_map(|name| {
        env(name)
            .filter(|value| !value.trim().is_empty())
            .map(|value| (*name, value))
    });
    let Some((name, value)) = found else {
        return Ok(None);
    };
    let no_proxy = env("NO_PROXY")
        .filter(|v| !v.trim().is_empty())
        .or_else(|| env("no_proxy"))
        .unwrap_or_default();
    if bypasses(&no_proxy, endpoint.host(), endpoint.port()) {
        return Ok(None);
    }
    Proxy::parse(&value).map(Some).map_err(|e| {
        TransportError::Config(format!("environment variable {name}: {}", strip_prefix(&e)))
    })
}

/// Whether a `NO_PROXY` list exempts `host:port`. Entries are separated by
/// commas or spaces and may be `*`, a host name (matching it and its
/// subdomains; a leading `.` or `*.` is accepted), an IP address, a CIDR
/// block, each optionally with `:port`.
pub fn bypasses(no_proxy: &str, host: &str, port: u16) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let host_ip: Option<IpAddr> = host.parse().ok();
    no_proxy
        .split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .any(|entry| entry_matches(&entry.to_ascii_lowercase(), &host, host_ip, port))
}

fn entry_matches(entry: &str, host: &str, host_ip: Option<IpAddr>, port: u16) -> bool {
    if entry == "*" {
        return true;
    }
    if let Some((net, bits)) = entry.split_once('/') {
        return match (host_ip, net.parse::<IpAddr>(), bits.parse::<u32>()) {
            (Some(ip), Ok(net), Ok(bits)) => in_cidr(ip, net, bits),
            _ => false,
        };
    }
    let (name, entry_port) = split_entry_port(entry);
    if entry_port.is_some_and(|p| p != port) {
        return false;
    }
    if let (Some(ip), Ok(entry_ip)) = (host_ip, name.parse::<IpAddr>()) {
        return ip == entry_ip;
    }
    let name = name.trim_start_matches("*.").trim_start_matches('.');
    !name.is_empty()
        && (host == name
            || host
                .strip_suffix(name)
                .is_some_and(|prefix| prefix.ends_with('.')))
}

/// `[v6]:port`, `host:port`, bare v6 (several colons) or bare host.
fn split_entry_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(inner) = entry.strip_prefix('[') {
        return match inner.split_once(']') {
            Some((v6, rest)) => (v6, rest.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (entry, None),
        };
    }
    match entry.split_once(':') {
        Some((host, port)) if !port.contains(':') => match port.parse() {
            Ok(port) => (host, Some(port)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u32) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// Drop the "invalid transport configuration: " or "invalid endpoint: "
/// framing of a nested message, keeping only the reason.
fn strip_prefix(err: &TransportError) -> String {
    match err {
        TransportError::Config(msg) => msg
            .strip_prefix("invalid endpoint: ")
            .unwrap_or(msg)
            .to_string(),
        other => other.to_string(),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn ep(url: &str) -> Endpoint {
        Endpoint::parse(url).unwrap()
    }

    fn resolved(url: &str, pairs: &[(&str, &str)]) -> Option<String> {
        resolve_with(&ProxyMode::FromEnv, &ep(url), env_of(pairs))
            .unwrap()
            .map(|p| p.authority())
    }

    #[test]
    fn parses_proxy_urls() {
        let p = Proxy::parse("http://proxy.corp:3128").unwrap();
        assert_eq!(
            (p.host(), p.port(), p.has_credentials()),
            ("proxy.corp", 3128, false)
        );
        let p = Proxy::parse("proxy.corp:8080/").unwrap();
        assert_eq!(p.authority(), "proxy.corp:8080");
        let p = Proxy::parse("HTTP://[::1]").unwrap();
        assert_eq!(p.authority(), "[::1]:80");
        let p = Proxy::parse("http://al%40ice:p%3Ass@proxy:3128").unwrap();
        assert_eq!(p.credentials(), Some(("al@ice", "p:ss")));
        // base64("al@ice:p:ss")
        assert_eq!(p.authorization().as_deref(), Some("Basic YWxAaWNlOnA6c3M="));
        assert_eq!(Proxy::parse("proxy:3128").unwrap().authorization(), None);
    }

    #[test]
    fn rejects_unsupported_proxy_urls_without_leaking_credentials() {
        let err = Proxy::parse("socks5://u:s3cret@h:1080")
            .unwrap_err()
            .to_string();
        assert!(err.contains("'socks5'") && !err.contains("s3cret"), "{err}");
        assert!(Proxy::parse("https://h:443").is_err());
        assert!(Proxy::parse("http://h:3128/path").is_err());
        let err = Proxy::parse("http://u:s3cret@h:notaport")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("invalid proxy URL") && !err.contains("s3cret"),
            "{err}"
        );
    }

    #[test]
    fn display_and_debug_hide_credentials() {
        let p = Proxy::parse("http://user:s3cret@proxy:3128").unwrap();
        assert_eq!(p.to_string(), "http://proxy:3128");
        let dbg = format!("{p:?}");
        assert!(!dbg.contains("s3cret") && !dbg.contains("user"), "{dbg}");
    }

    #[test]
    fn scheme_decides_which_variable_is_read() {
        let env = [("HTTP_PROXY", "plain:1"), ("HTTPS_PROXY", "secure:2")];
        assert_eq!(resolved("ws://h/", &env).as_deref(), Some("plain:1"));
        assert_eq!(resolved("http://h/", &env).as_deref(), Some("plain:1"));
        assert_eq!(resolved("wss://h/", &env).as_deref(), Some("secure:2"));
        assert_eq!(resolved("https://h/", &env).as_deref(), Some("secure:2"));
    }

    #[test]
    fn lower_case_and_all_proxy_fallbacks() {
        assert_eq!(
            resolved("wss://h/", &[("https_proxy", "lower:1")]).as_deref(),
            Some("lower:1")
        );
        assert_eq!(
            resolved(
                "wss://h/",
                &[("HTTPS_PROXY", "upper:1"), ("https_proxy", "lower:1")]
            )
            .as_deref(),
            Some("upper:1")
        );
        assert_eq!(
            resolved("ws://h/", &[("ALL_PROXY", "all:1")]).as_deref(),
            Some("all:1")
        );
        assert_eq!(
            resolved("ws://h/", &[("all_proxy", "all:2")]).as_deref(),
            Some("all:2")
        );
        // An empty variable counts as unset.
        assert_eq!(
            resolved("ws://h/", &[("HTTP_PROXY", ""), ("ALL_PROXY", "all:1")]).as_deref(),
            Some("all:1")
        );
        assert_eq!(resolved("wss://h/", &[("HTTP_PROXY", "plain:1")]), None);
        assert_eq!(resolved("ws://h/", &[]), None);
    }

    #[test]
    fn no_proxy_is_honoured() {
        let env = [
            ("HTTP_PROXY", "p:1"),
            ("NO_PROXY", "internal.corp, 10.0.0.0/8"),
        ];
        assert_eq!(resolved("ws://opamp.internal.corp/", &env), None);
        assert_eq!(resolved("ws://10.1.2.3/", &env), None);
        assert_eq!(resolved("ws://example.com/", &env).as_deref(), Some("p:1"));
        let lower = [("HTTP_PROXY", "p:1"), ("no_proxy", "*")];
        assert_eq!(resolved("ws://anything/", &lower), None);
    }

    #[test]
    fn mode_overrides_environment() {
        let env = env_of(&[("HTTP_PROXY", "p:1")]);
        assert_eq!(
            resolve_with(&ProxyMode::Disabled, &ep("ws://h/"), &env).unwrap(),
            None
        );
        let explicit = Proxy::parse("other:2").unwrap();
        assert_eq!(
            resolve_with(&ProxyMode::Explicit(explicit.clone()), &ep("ws://h/"), &env).unwrap(),
            Some(explicit)
        );
    }

    #[test]
    fn bad_environment_proxy_names_the_variable() {
        let err = resolve_with(
            &ProxyMode::FromEnv,
            &ep("wss://h/"),
            env_of(&[("HTTPS_PROXY", "socks5://u:s3cret@x:1")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("HTTPS_PROXY") && !err.contains("s3cret"),
            "{err}"
        );
    }

    #[test]
    fn no_proxy_entry_forms() {
        assert!(bypasses("example.com", "example.com", 80));
        assert!(bypasses("example.com", "api.example.com", 80));
        assert!(bypasses(".example.com", "api.example.com", 80));
        assert!(bypasses("*.example.com", "api.example.com", 80));
        assert!(bypasses(".example.com", "example.com", 80));
        assert!(!bypasses("example.com", "badexample.com", 80));
        assert!(!bypasses("example.com", "example.com.evil", 80));
        assert!(bypasses("EXAMPLE.com", "Example.COM", 80));
        assert!(bypasses("h:4320", "h", 4320));
        assert!(!bypasses("h:4320", "h", 443));
        assert!(bypasses("127.0.0.1", "127.0.0.1", 1));
        assert!(bypasses("::1", "::1", 1));
        assert!(bypasses("[::1]:8080", "[::1]", 8080));
        assert!(bypasses("0:0:0:0:0:0:0:1", "::1", 1));
        assert!(bypasses("192.168.0.0/16", "192.168.44.2", 1));
        assert!(!bypasses("192.168.0.0/16", "192.169.0.1", 1));
        assert!(bypasses("fd00::/8", "fd12::1", 1));
        assert!(bypasses("0.0.0.0/0", "8.8.8.8", 1));
        assert!(!bypasses("10.0.0.0/8", "ten.example", 1));
        assert!(!bypasses("", "h", 1));
        assert!(!bypasses(" , ", "h", 1));
        assert!(bypasses("a,b c\th", "h", 1));
    }

    #[test]
    fn percent_coding() {
        assert_eq!(percent_decode("a%20b%zz%4"), "a b%zz%4");
    }
}
