//! Checks one offered other connection and turns it into the values remote
//! configs reference as `${opamp.other.NAME.…}`. Pure: the PEM files are
//! returned for the caller to write; their paths become values later.
//!
//! Every value lands in Fluent Bit config text, classic or YAML, so the
//! rules are those of the text, not of HTTP alone: no line breaks, no
//! `${` (Fluent Bit would expand it again), no ` #` or `: ` (a YAML
//! comment or key), no leading YAML indicator.

use crate::proto::OtherConnectionSettings;
use crate::transport::endpoint::{Endpoint, Scheme};
use crate::transport::tls_material;

pub(crate) const PREFIX: &str = "opamp.other.";
pub(crate) const MAX_NAME: usize = 64;
pub(crate) const MAX_DESTINATIONS: usize = 32;
/// Name plus value of one header, or one setting.
pub(crate) const MAX_VALUE: usize = 8 * 1024;
pub(crate) const MAX_ENTRIES: usize = 64;

/// A PEM file the destination needs; `var` is the value naming its path.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PemFile {
    pub var: &'static str,
    pub content: Vec<u8>,
    /// Key material: mode 0600.
    pub private: bool,
}

/// A checked destination: (suffix, value, secret) plus its files.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    pub name: String,
    pub values: Vec<(String, String, bool)>,
    pub files: Vec<PemFile>,
}

/// Names only: values may be credentials.
impl std::fmt::Debug for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.values.iter().map(|(k, _, _)| k.as_str()).collect();
        write!(f, "Checked({}: {names:?})", self.name)
    }
}

/// The destination's name as variables and a folder name use it.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let shown: String = name
        .chars()
        .take(40)
        .collect::<String>()
        .escape_default()
        .to_string();
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!(
            "destination name '{shown}' must be 1 to {MAX_NAME} characters"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "destination name '{shown}' may hold only letters, digits, '_' and '-'"
        ));
    }
    Ok(())
}

pub(crate) fn check(
    name: &str,
    s: &OtherConnectionSettings,
    now_unix: i64,
) -> Result<Checked, String> {
    check_name(name)?;
    let mut c = Checked {
        name: name.to_string(),
        values: Vec::new(),
        files: Vec::new(),
    };
    endpoint(&mut c, &s.destination_endpoint)?;
    let headers = s.headers.as_ref().map_or(&[][..], |h| &h.headers[..]);
    if headers.len() + s.other_settings.len() > MAX_ENTRIES {
        return Err(format!("more than {MAX_ENTRIES} headers and settings"));
    }
    for h in headers {
        let key = word(&h.key, "header name", false)?.to_ascii_lowercase();
        if h.key.len() + h.value.len() > MAX_VALUE {
            return Err(format!("header '{key}' is larger than {MAX_VALUE} bytes"));
        }
        let v = value(&h.value).map_err(|e| format!("header '{key}': {e}"))?;
        push_new(&mut c, format!("header.{key}"), v, true)?;
    }
    for (k, v) in &s.other_settings {
        let key = word(k, "setting name", true)?;
        if k.len() + v.len() > MAX_VALUE {
            return Err(format!("setting '{key}' is larger than {MAX_VALUE} bytes"));
        }
        let v = value(v).map_err(|e| format!("setting '{key}': {e}"))?;
        push_new(&mut c, format!("setting.{key}"), v, true)?;
    }
    tls(&mut c, s, now_unix)?;
    Ok(c)
}

/// The URL whole and in the parts Fluent Bit outputs take.
fn endpoint(c: &mut Checked, url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Ok(());
    }
    let e = Endpoint::parse(url).map_err(|e| format!("destination_endpoint: {e}"))?;
    if !matches!(e.scheme(), Scheme::Http | Scheme::Https) {
        return Err("destination_endpoint must be an http:// or https:// URL".into());
    }
    // A query may carry a token: then the URL and URI are secret.
    let secret = e.path_and_query().contains('?');
    let url = e.url();
    value(&url).map_err(|x| format!("destination_endpoint: {x}"))?;
    let tls = if e.scheme().is_tls() { "on" } else { "off" };
    for (k, v, s) in [
        ("url", url.as_str(), secret),
        ("scheme", e.scheme().as_str(), false),
        ("host", e.host(), false),
        ("port", &e.port().to_string(), false),
        ("uri", e.path_and_query(), secret),
        ("tls", tls, false),
    ] {
        c.values.push((k.into(), v.into(), s));
    }
    Ok(())
}

fn tls(c: &mut Checked, s: &OtherConnectionSettings, now: i64) -> Result<(), String> {
    let mut ca = Vec::new();
    if let Some(cert) = &s.certificate {
        if cert.cert.is_empty() || cert.private_key.is_empty() {
            return Err("certificate needs both cert and private_key".into());
        }
        tls_material::check_pair(&cert.cert, &cert.private_key, now.max(0) as u64)?;
        c.files.push(PemFile {
            var: "tls.crt_file",
            content: cert.cert.clone(),
            private: false,
        });
        c.files.push(PemFile {
            var: "tls.key_file",
            content: cert.private_key.clone(),
            private: true,
        });
        ca.extend_from_slice(&cert.ca_cert);
    }
    if let Some(t) = &s.tls {
        if !ca.is_empty() && !ca.ends_with(b"\n") {
            ca.push(b'\n');
        }
        ca.extend_from_slice(t.ca_pem_contents.as_bytes());
        let verify = if t.insecure_skip_verify { "off" } else { "on" };
        c.values.push(("tls.verify".into(), verify.into(), false));
    }
    if !ca.is_empty() {
        tls_material::check_cas(&ca, now.max(0) as u64)?;
        c.files.push(PemFile {
            var: "tls.ca_file",
            content: ca,
            private: false,
        });
    }
    Ok(())
}

fn push_new(c: &mut Checked, key: String, v: &str, secret: bool) -> Result<(), String> {
    if c.values.iter().any(|(k, _, _)| *k == key) {
        return Err(format!(
            "'{key}' is given twice (names are compared without case)"
        ));
    }
    c.values.push((key, v.to_string(), secret));
    Ok(())
}

/// A header or setting name as part of a variable name.
fn word<'a>(w: &'a str, what: &str, dots: bool) -> Result<&'a str, String> {
    let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (dots && b == b'.');
    if w.is_empty() || w.len() > MAX_NAME || !w.bytes().all(ok) {
        let shown: String = w.chars().take(40).collect();
        return Err(format!(
            "{what} '{}' must be 1 to {MAX_NAME} letters, digits, '_' or '-'{}",
            shown.escape_default(),
            if dots { " or '.'" } else { "" }
        ));
    }
    Ok(w)
}

/// A value that reads back the same from classic and YAML config text.
/// Never quotes the value: it may be a credential.
pub(crate) fn value(v: &str) -> Result<&str, String> {
    if v.chars().any(char::is_control) {
        return Err("the value has a control character (such as a line break)".into());
    }
    if v.trim() != v {
        return Err("the value starts or ends with white space".into());
    }
    for (bad, why) in [
        ("${", "'${', which Fluent Bit would expand as a variable"),
        (" #", "' #', which starts a comment in YAML"),
        (": ", "': ', which YAML reads as a key"),
    ] {
        if v.contains(bad) {
            return Err(format!("the value contains {why}"));
        }
    }
    if v.starts_with([
        '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@',
        '`',
    ]) {
        return Err("the value starts with a character YAML gives a meaning to".into());
    }
    Ok(v)
}

#[cfg(test)]
#[path = "destinations_tests.rs"]
mod tests;
