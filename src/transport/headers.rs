//! Operator-configured request headers (typically `Authorization`).
//!
//! Validated once, up front, so a bad header is a clear configuration error
//! instead of a request that fails (or, with CR/LF in a value, smuggles
//! extra headers) later. Values are secrets: `Debug` shows only names and
//! no error message quotes a value.

use std::fmt;

use super::TransportError;

/// Headers the transports set themselves; letting configuration override
/// them would break framing, compression or the WebSocket handshake.
const RESERVED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "content-type",
    "content-encoding",
    "accept-encoding",
    "opamp-instance-uid",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
];

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, String)>,
}

impl Headers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add one header. Repeating a name adds another line (HTTP allows it).
    pub fn push(&mut self, name: &str, value: &str) -> Result<(), TransportError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(TransportError::Config("a header has an empty name".into()));
        }
        if let Some(bad) = name.chars().find(|c| !is_token_char(*c)) {
            return Err(TransportError::Config(format!(
                "header name '{}' contains {bad:?}, which is not allowed in a header name",
                name.escape_default()
            )));
        }
        let lower = name.to_ascii_lowercase();
        if RESERVED.contains(&lower.as_str()) || lower.starts_with("sec-websocket-") {
            return Err(TransportError::Config(format!(
                "header '{name}' is set by the transport itself and cannot be configured"
            )));
        }
        let value = value.trim_matches([' ', '\t']);
        if value.chars().any(|c| c.is_control() && c != '\t') {
            // The value is not quoted: it is probably a credential.
            return Err(TransportError::Config(format!(
                "the value of header '{name}' contains a control character (such as a line break)"
            )));
        }
        self.entries.push((name.to_string(), value.to_string()));
        Ok(())
    }

    /// Build from (name, value) pairs, stopping at the first invalid one.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, TransportError> {
        let mut headers = Self::new();
        for (name, value) in pairs {
            headers.push(name, value)?;
        }
        Ok(headers)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.entries
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(n, _)| (n, "<redacted>")))
            .finish()
    }
}

/// RFC 9110 `tchar`.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_headers_and_trims_values() {
        let h =
            Headers::from_pairs([("Authorization", "  Bearer abc "), ("X-Tenant", "t1")]).unwrap();
        let all: Vec<_> = h.iter().collect();
        assert_eq!(
            all,
            vec![("Authorization", "Bearer abc"), ("X-Tenant", "t1")]
        );
        assert!(h.contains("authorization"));
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn rejects_bad_names() {
        let err = Headers::from_pairs([("Bad Name", "v")]).unwrap_err();
        assert!(err.to_string().contains("'Bad Name'"), "{err}");
        assert!(Headers::from_pairs([("", "v")]).is_err());
        assert!(Headers::from_pairs([("X:Y", "v")]).is_err());
    }

    #[test]
    fn rejects_reserved_names() {
        for name in [
            "Content-Type",
            "host",
            "Sec-WebSocket-Key",
            "OpAMP-Instance-UID",
        ] {
            let err = Headers::from_pairs([(name, "v")]).unwrap_err();
            assert!(err.to_string().contains("set by the transport"), "{err}");
        }
    }

    #[test]
    fn rejects_header_injection_without_quoting_the_value() {
        let err =
            Headers::from_pairs([("Authorization", "Bearer s3cret\r\nX-Evil: 1")]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("control character"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn debug_redacts_values() {
        let h = Headers::from_pairs([("Authorization", "Bearer s3cret")]).unwrap();
        let text = format!("{h:?}");
        assert!(
            text.contains("Authorization") && !text.contains("s3cret"),
            "{text}"
        );
    }
}
