//! Parsing the `endpoint` property into something both transports can use.
//!
//! Only the four schemes OpAMP uses are accepted, and the parser is strict:
//! a typo should fail at startup with a message naming the problem, not
//! produce a mysterious connection error later. Error messages quote only
//! the offending part, never the whole URL, because a query string may
//! carry a token.

use std::fmt;
use std::net::Ipv6Addr;

use super::TransportError;

/// Which transport, and whether TLS wraps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Ws,
    Wss,
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ws => "ws",
            Self::Wss => "wss",
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Self::Ws | Self::Http => 80,
            Self::Wss | Self::Https => 443,
        }
    }

    pub fn is_tls(self) -> bool {
        matches!(self, Self::Wss | Self::Https)
    }

    pub fn is_websocket(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }
}

/// A validated OpAMP server address.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    scheme: Scheme,
    /// Without brackets for IPv6 literals, lower-cased.
    host: String,
    port: u16,
    /// Path plus query, always starting with '/'.
    path_and_query: String,
}

impl Endpoint {
    /// Parse `scheme://host[:port][/path][?query]`.
    pub fn parse(input: &str) -> Result<Self, TransportError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(invalid("it is empty"));
        }
        if let Some(bad) = input.chars().find(|c| c.is_control() || c.is_whitespace()) {
            return Err(invalid(&format!(
                "it contains the character {bad:?}, which is not allowed in a URL"
            )));
        }
        let (scheme_text, rest) = input.split_once("://").ok_or_else(|| {
            invalid(
                "it has no scheme; write it as ws://, wss://, http:// or https://host:port/path",
            )
        })?;
        let scheme = match scheme_text.to_ascii_lowercase().as_str() {
            "ws" => Scheme::Ws,
            "wss" => Scheme::Wss,
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => {
                return Err(invalid(&format!(
                    "scheme '{}' is not supported; use ws, wss, http or https",
                    clip(other)
                )))
            }
        };
        if rest.contains('#') {
            return Err(invalid(
                "it has a #fragment, which means nothing to a server",
            ));
        }
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(invalid(
                "it contains user:password@; put credentials in the headers property instead",
            ));
        }
        let (host, port) = split_host_port(authority, scheme)?;
        let path_and_query = if tail.starts_with('/') {
            tail.to_string()
        } else {
            format!("/{tail}")
        };
        Ok(Self {
            scheme,
            host,
            port,
            path_and_query,
        })
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Host name or IP address, without IPv6 brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Path and query, always starting with '/'.
    pub fn path_and_query(&self) -> &str {
        &self.path_and_query
    }

    /// `host:port`, bracketing IPv6 literals, as a CONNECT target or for
    /// messages.
    pub fn authority(&self) -> String {
        format!("{}:{}", bracketed(&self.host), self.port)
    }

    /// The full URL to hand to an HTTP or WebSocket library. The port is
    /// omitted when it is the scheme's default, so the `Host` header looks
    /// the way servers and virtual-host routers expect.
    pub fn url(&self) -> String {
        let host = bracketed(&self.host);
        if self.port == self.scheme.default_port() {
            format!("{}://{host}{}", self.scheme.as_str(), self.path_and_query)
        } else {
            format!(
                "{}://{host}:{}{}",
                self.scheme.as_str(),
                self.port,
                self.path_and_query
            )
        }
    }
}

/// For logs: the query string is elided because it may carry a token.
impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = match self.path_and_query.split_once('?') {
            Some((path, _)) => format!("{path}?…"),
            None => self.path_and_query.clone(),
        };
        write!(f, "{}://{}{}", self.scheme.as_str(), self.authority(), path)
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({self})")
    }
}

pub(crate) fn bracketed(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Split `host[:port]` or `[v6][:port]`, validating both halves. Shared
/// with proxy URL parsing.
pub(crate) fn split_host_port(
    authority: &str,
    scheme: Scheme,
) -> Result<(String, u16), TransportError> {
    if authority.is_empty() {
        return Err(invalid("it has no host"));
    }
    let (host, port_text) = if let Some(inner) = authority.strip_prefix('[') {
        let (v6, after) = inner
            .split_once(']')
            .ok_or_else(|| invalid("an IPv6 address is missing its closing ']'"))?;
        if v6.parse::<Ipv6Addr>().is_err() {
            return Err(invalid(&format!("'[{}]' is not an IPv6 address", clip(v6))));
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(|| {
                invalid("unexpected text after the IPv6 address; expected ':port'")
            })?),
        };
        (v6.to_ascii_lowercase(), port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if host.contains(':') {
            return Err(invalid(
                "IPv6 addresses must be written in brackets, as [::1]",
            ));
        }
        if host.is_empty() {
            return Err(invalid("it has no host"));
        }
        if let Some(bad) = host.chars().find(|c| !is_host_char(*c)) {
            return Err(invalid(&format!(
                "host '{}' contains {bad:?}, which is not allowed in a host name",
                clip(host)
            )));
        }
        (host.to_ascii_lowercase(), port)
    };
    let port = match port_text {
        None => scheme.default_port(),
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port != 0 && text.bytes().all(|b| b.is_ascii_digit()) => port,
            _ => {
                return Err(invalid(&format!(
                    "port '{}' is not a number between 1 and 65535",
                    clip(text)
                )))
            }
        },
    };
    Ok((host, port))
}

/// RFC 3986 reg-name characters, minus percent-encoding (nobody writes a
/// percent-encoded host name in a config file, and resolvers won't decode it).
fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

fn invalid(why: &str) -> TransportError {
    TransportError::Config(format!("invalid endpoint: {why}"))
}

/// Quoted fragments of user input stay short in messages.
fn clip(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        text.to_string()
    } else {
        let mut out: String = text.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> Endpoint {
        Endpoint::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"))
    }

    fn err(input: &str) -> String {
        match Endpoint::parse(input) {
            Ok(ep) => panic!("{input} parsed as {ep:?}"),
            Err(TransportError::Config(msg)) => msg,
            Err(other) => panic!("{input}: unexpected {other:?}"),
        }
    }

    #[test]
    fn parses_each_scheme_with_default_ports() {
        let cases = [
            ("ws://opamp.example.com/v1/opamp", Scheme::Ws, 80),
            ("wss://opamp.example.com/v1/opamp", Scheme::Wss, 443),
            ("http://opamp.example.com/v1/opamp", Scheme::Http, 80),
            ("https://opamp.example.com/v1/opamp", Scheme::Https, 443),
        ];
        for (input, scheme, port) in cases {
            let ep = ok(input);
            assert_eq!(ep.scheme(), scheme, "{input}");
            assert_eq!(ep.port(), port, "{input}");
            assert_eq!(ep.host(), "opamp.example.com");
            assert_eq!(ep.path_and_query(), "/v1/opamp");
            assert_eq!(ep.url(), input);
        }
    }

    #[test]
    fn explicit_port_path_and_query() {
        let ep = ok("wss://Server.Example:4320/v1/opamp?tenant=a&x=1");
        assert_eq!(ep.host(), "server.example");
        assert_eq!(ep.port(), 4320);
        assert_eq!(ep.path_and_query(), "/v1/opamp?tenant=a&x=1");
        assert_eq!(ep.url(), "wss://server.example:4320/v1/opamp?tenant=a&x=1");
        assert_eq!(ep.authority(), "server.example:4320");
    }

    #[test]
    fn scheme_is_case_insensitive_and_default_port_is_dropped_from_url() {
        let ep = ok("HTTPS://h:443/p");
        assert_eq!(ep.scheme(), Scheme::Https);
        assert_eq!(ep.url(), "https://h/p");
    }

    #[test]
    fn missing_path_becomes_root() {
        assert_eq!(ok("ws://127.0.0.1:4320").path_and_query(), "/");
        assert_eq!(ok("http://h?q=1").path_and_query(), "/?q=1");
    }

    #[test]
    fn ipv6_literals() {
        let ep = ok("ws://[::1]:4320/v1/opamp");
        assert_eq!(ep.host(), "::1");
        assert_eq!(ep.authority(), "[::1]:4320");
        assert_eq!(ep.url(), "ws://[::1]:4320/v1/opamp");
        let ep = ok("https://[2001:DB8::7]/x");
        assert_eq!(ep.host(), "2001:db8::7");
        assert_eq!(ep.port(), 443);
        assert_eq!(ep.url(), "https://[2001:db8::7]/x");
    }

    #[test]
    fn rejects_unsupported_schemes_by_name() {
        assert_eq!(
            err("tcp://h:1/"),
            "invalid endpoint: scheme 'tcp' is not supported; use ws, wss, http or https"
        );
        assert!(err("h:4320/v1/opamp").contains("has no scheme"));
        assert!(err("/v1/opamp").contains("has no scheme"));
    }

    #[test]
    fn rejects_malformed_authorities() {
        assert!(err("ws:///v1/opamp").contains("has no host"));
        assert!(err("ws://:80/").contains("has no host"));
        assert!(err("ws://h:0/").contains("port '0'"));
        assert!(err("ws://h:70000/").contains("port '70000'"));
        assert!(err("ws://h:+80/").contains("port '+80'"));
        assert!(err("ws://h:/").contains("port ''"));
        assert!(err("ws://::1/").contains("brackets"));
        assert!(err("ws://[::1/").contains("closing ']'"));
        assert!(err("ws://[zz::1]/").contains("not an IPv6 address"));
        assert!(err("ws://[::1]x/").contains("after the IPv6 address"));
        assert!(err("ws://bad$host/").contains("'$'"));
        assert!(err("ws://h/#frag").contains("fragment"));
        assert!(err("").contains("empty"));
        assert!(err("ws://h /x").contains("' '"));
    }

    #[test]
    fn credentials_in_the_url_are_refused_without_echoing_them() {
        let msg = err("wss://user:s3cret@h/v1/opamp");
        assert!(msg.contains("headers property"), "{msg}");
        assert!(!msg.contains("s3cret"), "{msg}");
    }

    #[test]
    fn display_hides_the_query() {
        let ep = ok("wss://h/v1/opamp?token=s3cret");
        assert_eq!(ep.to_string(), "wss://h:443/v1/opamp?…");
        assert!(!format!("{ep:?}").contains("s3cret"));
    }

    #[test]
    fn classification_helpers() {
        assert!(Scheme::Wss.is_tls() && Scheme::Wss.is_websocket());
        assert!(Scheme::Https.is_tls() && !Scheme::Https.is_websocket());
        assert!(!Scheme::Ws.is_tls() && !Scheme::Http.is_tls());
    }
}
