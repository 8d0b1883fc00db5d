//! Removes secret values from config text before it leaves the host.
//!
//! Works on the text itself, so the server sees the operator's file as
//! written, minus the secrets: the config reader (`fbconf`) says where each
//! value sits (classic lines, YAML events) and only those bytes change. It errs on the side of hiding: a
//! false positive costs one readable value, a false negative leaks a secret.
//! Values that are only a `${VAR}` reference are kept, since they name the
//! secret without holding it.

use super::redact_text::{apply_edits, is_var_ref, Rules};
pub use super::redact_text::{redact_url_credentials, MARKER};
use crate::fbconf::classic::{self, Kind};
use crate::fbconf::includes::wildcard_match;
use crate::fbconf::text::{mask_values, unquote};
use crate::fbconf::OWN_PREFIX;

/// Key fragments that mark a value as secret wherever they appear.
const SECRET_PARTS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "access_key",
    "accesskey",
    "shared_key",
    "account_key",
    "private_key",
    "privatekey",
    "license_key",
    "connection_string",
    "authorization",
    "cloud_auth",
];

/// Whole words (between `.`, `_`, `-`) that mark a secret.
const SECRET_WORDS: &[&str] = &["pass", "pwd", "sas", "cookie"];

/// Last words of keys that hold a path or command naming where a secret
/// lives, not the secret (`kube_token_file`, `tls.key_file`).
const LOCATOR_WORDS: &[&str] = &["file", "path", "dir", "command"];

/// Header names whose value is a credential.
const SECRET_HEADER_PARTS: &[&str] = &[
    "auth",
    "token",
    "key",
    "secret",
    "cookie",
    "pass",
    "session",
    "signature",
    "credential",
];

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Operator-added keys, lower case; `*` and `?` allowed.
    extra: Vec<String>,
    /// Secret values hidden wherever they appear, longest first.
    values: Vec<String>,
}

impl Redactor {
    pub fn new(extra_keys: &[String]) -> Self {
        Redactor {
            extra: extra_keys
                .iter()
                .map(|k| k.trim().to_ascii_lowercase())
                .filter(|k| !k.is_empty())
                .collect(),
            values: Vec::new(),
        }
    }

    /// The redactor for one file. The plugin's own files (named with
    /// [`OWN_PREFIX`]) hold what a server offered for the agent's own
    /// telemetry: every header there is a credential whatever its name, and
    /// the key file's path names a secret of ours.
    pub fn for_file(&self, key: &str) -> std::borrow::Cow<'_, Redactor> {
        let name = key.rsplit('/').next().unwrap_or(key);
        if !name.starts_with(OWN_PREFIX) {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut strict = self.clone();
        strict
            .extra
            .extend(["header", "tls.key_file"].map(String::from));
        std::borrow::Cow::Owned(strict)
    }

    /// Secret values to hide wherever they appear, whatever key holds
    /// them; true when they changed.
    pub fn set_values(&mut self, values: Vec<String>) -> bool {
        let changed = values != self.values;
        self.values = values;
        changed
    }

    pub fn is_secret_key(&self, key: &str) -> bool {
        let k = unquote(key.trim()).to_ascii_lowercase();
        if k.is_empty() {
            return false;
        }
        if self.extra.iter().any(|p| wildcard_match(p, &k)) {
            return true;
        }
        let words: Vec<&str> = k.split(['.', '_', '-']).filter(|w| !w.is_empty()).collect();
        if words.last().is_some_and(|w| LOCATOR_WORDS.contains(w)) {
            return false;
        }
        SECRET_PARTS.iter().any(|p| k.contains(p)) || words.iter().any(|w| SECRET_WORDS.contains(w))
    }

    pub(super) fn is_secret_header(&self, name: &str) -> bool {
        let n = name.to_ascii_lowercase();
        SECRET_HEADER_PARTS.iter().any(|p| n.contains(p)) || self.is_secret_key(&n)
    }

    pub(super) fn is_header_key(key: &str) -> bool {
        let k = unquote(key.trim()).to_ascii_lowercase();
        k == "header" || k == "headers" || k.ends_with(".header") || k.ends_with("_header")
    }

    pub fn redact(&self, text: &str, yaml: bool) -> String {
        let text = redact_pem(text);
        let text = if yaml {
            self.redact_yaml(&text)
        } else {
            self.redact_classic(&text)
        };
        mask_values(&text, &self.values, MARKER)
    }

    /// `Name value` header text: the name stays, a credential value goes.
    pub(super) fn header_value(&self, v: &str) -> String {
        let v = v.trim();
        let end = v
            .find(|c: char| c == ':' || c.is_whitespace())
            .unwrap_or(v.len());
        let name = &v[..end];
        if end < v.len() && self.is_secret_header(name) {
            let sep = if v[end..].starts_with(':') { ": " } else { " " };
            format!("{name}{sep}{MARKER}")
        } else {
            redact_url_credentials(v)
        }
    }

    /// A value under a key: all of it if the key is secret, the credential
    /// part if it is a header, embedded URL passwords otherwise.
    pub(super) fn value_for(&self, key: &str, value: &str) -> String {
        if self.is_secret_key(key) {
            if is_var_ref(value) {
                value.to_string()
            } else {
                MARKER.to_string()
            }
        } else if Self::is_header_key(key) {
            self.header_value(value)
        } else {
            redact_url_credentials(value)
        }
    }

    /// Classic text, read line by line by the config reader: values of
    /// key lines and `@SET`s, and whatever looks like `key value` in a
    /// comment or in a line Fluent Bit would refuse.
    pub fn redact_classic(&self, text: &str) -> String {
        let mut edits = Vec::new();
        for line in classic::lines(text) {
            let at = line.span.start;
            let content = &text[line.span.clone()];
            match &line.kind {
                Kind::Entry {
                    key,
                    value,
                    value_at,
                    ..
                } => edits.push((value_at.clone(), self.value_for(key, value))),
                Kind::Set {
                    key,
                    value,
                    value_at,
                } => edits.push((value_at.clone(), self.value_for(key, value))),
                Kind::Comment => {
                    if let Some(hash) = content.find('#') {
                        let body = at + hash + 1..line.span.end;
                        edits.push((body.clone(), self.comment_body(&text[body], 0)));
                    }
                }
                Kind::Invalid(_) => {
                    if let Some((k, v)) = classic::loose_pair(content) {
                        let value = self.value_for(&content[k], &content[v.clone()]);
                        edits.push((at + v.start..at + v.end, value));
                    }
                }
                _ => {}
            }
        }
        apply_edits(text, edits)
    }

    /// A comment's text: a commented-out secret is still a secret. Read as
    /// YAML (`key: value`) when it is that, else as classic `key value`.
    pub(super) fn comment_body(&self, body: &str, depth: usize) -> String {
        let lead = body.len() - body.trim_start().len();
        let inner = &body[lead..];
        if depth < 2 && (inner.contains(": ") || inner.trim_end().ends_with(':')) {
            if let Some(red) = super::redact_yaml::redact_strict(self, inner, depth + 1) {
                return format!("{}{red}", &body[..lead]);
            }
        }
        match classic::loose_pair(inner) {
            Some((k, v)) => {
                let mut out = inner.to_string();
                out.replace_range(v.clone(), &self.value_for(&inner[k], &inner[v]));
                format!("{}{out}", &body[..lead])
            }
            None => body.to_string(),
        }
    }

    /// Command-line arguments (`-p key=value`), for Fluent Bit started
    /// without a config file.
    pub fn redact_args(&self, args: &[String]) -> Vec<String> {
        let mut out = Vec::with_capacity(args.len());
        let mut prop_next = false;
        for a in args {
            let is_prop_flag = a == "-p" || a == "--prop";
            let inline = a.strip_prefix("--prop=");
            let kv = if prop_next { Some(a.as_str()) } else { inline };
            let redacted = match kv.and_then(|s| s.split_once('=')) {
                Some((k, v)) => {
                    let head = if inline.is_some() { "--prop=" } else { "" };
                    format!("{head}{k}={}", self.value_for(k, v))
                }
                None => redact_url_credentials(a),
            };
            out.push(redacted);
            prop_next = is_prop_flag;
        }
        out
    }

    /// YAML text, read as libyaml's events by the config reader.
    pub fn redact_yaml(&self, text: &str) -> String {
        super::redact_yaml::redact(self, text)
    }
}

fn split_eol(line: &str) -> (&str, &str) {
    let content = line.trim_end_matches(['\n', '\r']);
    (content, &line[content.len()..])
}

/// Replaces every private key PEM block with the marker, whether it spans
/// lines (a YAML block scalar) or sits on one line with `\n` escapes.
pub fn redact_pem(text: &str) -> String {
    const BEGIN: &str = "-----BEGIN ";
    let is_private = |s: &str| s.contains("PRIVATE KEY-----");
    let mut out = String::with_capacity(text.len());
    let mut skipping = false;
    for line in text.split_inclusive('\n') {
        let (content, eol) = split_eol(line);
        if skipping {
            if let Some(end) = content.find("-----END ").filter(|_| is_private(content)) {
                let after = &content[end + 9..];
                let tail = after.find("-----").map_or("", |i| &after[i + 5..]);
                out.push_str(tail);
                out.push_str(eol);
                skipping = false;
            }
            continue;
        }
        match content.find(BEGIN).filter(|&b| is_private(&content[b..])) {
            Some(b) => {
                out.push_str(&content[..b]);
                out.push_str(MARKER);
                let rest = &content[b..];
                match rest.find("-----END ") {
                    Some(end) => {
                        let after = &rest[end + 9..];
                        out.push_str(after.find("-----").map_or("", |i| &after[i + 5..]));
                        out.push_str(eol);
                    }
                    None => skipping = true,
                }
            }
            None => out.push_str(line),
        }
    }
    out
}

impl Rules for Redactor {
    fn is_secret_key(&self, key: &str) -> bool {
        Redactor::is_secret_key(self, key)
    }

    fn is_secret_header(&self, name: &str) -> bool {
        Redactor::is_secret_header(self, name)
    }

    fn is_header_key(&self, key: &str) -> bool {
        Redactor::is_header_key(key)
    }

    fn header_value(&self, v: &str) -> String {
        Redactor::header_value(self, v)
    }

    fn comment_body(&self, body: &str, depth: usize) -> String {
        Redactor::comment_body(self, body, depth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys() {
        let r = Redactor::new(&["x-tenant-*".to_string()]);
        for k in [
            "http_passwd",
            "Password",
            "tls.key_passwd",
            "aws_secret_access_key",
            "aws_access_key_id",
            "api_key",
            "apikey",
            "splunk_token",
            "shared_key",
            "sas_token",
            "client_secret",
            "oauth2.client_secret",
            "private_key",
            "rdkafka.sasl.password",
            "cloud_auth",
            "X-Tenant-Id",
            "Authorization",
            "license_key",
            "connection_string",
            "\"token\"",
            "http_pass",
        ] {
            assert!(r.is_secret_key(k), "{k} should be secret");
        }
        for k in [
            "name",
            "key",
            "tls.key_file",
            "kube_token_file",
            "host",
            "http_user",
            "aws_auth",
            "match",
            "oauth2.enable",
            "passthrough",
        ] {
            assert!(!r.is_secret_key(k), "{k} should not be secret");
        }
    }

    #[test]
    fn url_credentials() {
        assert_eq!(
            redact_url_credentials("http://u:p@h:1/x"),
            "http://u:<redacted>@h:1/x"
        );
        assert_eq!(
            redact_url_credentials("http://h:1/x?a=b@c"),
            "http://h:1/x?a=b@c"
        );
        assert_eq!(redact_url_credentials("plain"), "plain");
    }

    #[test]
    fn var_refs_are_kept() {
        assert!(is_var_ref("${TOKEN}"));
        assert!(is_var_ref("\"${TOKEN}\""));
        assert!(!is_var_ref("Bearer ${TOKEN}"));
    }
}
