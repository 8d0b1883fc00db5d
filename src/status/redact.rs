//! Removes secret values from config text before it leaves the host.
//!
//! Works on the text itself, line by line, so the server sees the operator's
//! file as written, minus the secrets. It errs on the side of hiding: a
//! false positive costs one readable value, a false negative leaks a secret.
//! Values that are only a `${VAR}` reference are kept, since they name the
//! secret without holding it.

use crate::fbconf::includes::wildcard_match;
use crate::fbconf::text::{strip_comment, unquote};

pub const MARKER: &str = "<redacted>";

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
}

impl Redactor {
    pub fn new(extra_keys: &[String]) -> Self {
        Redactor {
            extra: extra_keys
                .iter()
                .map(|k| k.trim().to_ascii_lowercase())
                .filter(|k| !k.is_empty())
                .collect(),
        }
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

    fn is_secret_header(&self, name: &str) -> bool {
        let n = name.to_ascii_lowercase();
        SECRET_HEADER_PARTS.iter().any(|p| n.contains(p)) || self.is_secret_key(&n)
    }

    fn is_header_key(key: &str) -> bool {
        let k = unquote(key.trim()).to_ascii_lowercase();
        k == "header" || k == "headers" || k.ends_with(".header") || k.ends_with("_header")
    }

    pub fn redact(&self, text: &str, yaml: bool) -> String {
        let text = redact_pem(text);
        if yaml {
            self.redact_yaml(&text)
        } else {
            self.redact_classic(&text)
        }
    }

    /// `Name value` header text: the name stays, a credential value goes.
    fn header_value(&self, v: &str) -> String {
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
    fn value_for(&self, key: &str, value: &str) -> String {
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

    pub fn redact_classic(&self, text: &str) -> String {
        map_lines(text, |line| self.classic_line(line))
    }

    fn classic_line(&self, line: &str) -> String {
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        if body.is_empty() || body.starts_with('[') {
            return line.to_string();
        }
        if let Some(inner) = body.strip_prefix('#') {
            // A commented-out secret is still a secret.
            let inner_body = inner.trim_start();
            let pad = &inner[..inner.len() - inner_body.len()];
            let redacted = if inner_body.contains(':') && !inner_body.starts_with('[') {
                self.yaml_pair_line(inner_body)
                    .unwrap_or_else(|| self.classic_line(inner_body))
            } else {
                self.classic_line(inner_body)
            };
            return format!("{indent}#{pad}{redacted}");
        }
        if let Some(rest) = body.strip_prefix('@') {
            let (cmd, arg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            if cmd.eq_ignore_ascii_case("set") {
                if let Some((k, v)) = arg.split_once('=') {
                    return format!(
                        "{indent}@{cmd} {}={}",
                        k.trim(),
                        self.value_for(k, v.trim())
                    );
                }
            }
            return line.to_string();
        }
        let Some(key_end) = body.find(char::is_whitespace) else {
            return line.to_string();
        };
        let key = &body[..key_end];
        let after = &body[key_end..];
        let value = after.trim_start();
        if value.is_empty() {
            return line.to_string();
        }
        let sep = &after[..after.len() - value.len()];
        format!(
            "{indent}{key}{sep}{}",
            self.value_for(key, value.trim_end())
        )
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

    pub fn redact_yaml(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        // (indent of the secret key, whether its nested lines are dropped
        // as scalar continuation or kept with their leaves redacted)
        let mut secret: Option<(usize, bool)> = None;
        let mut header: Option<usize> = None;
        for line in text.split_inclusive('\n') {
            let (content, eol) = split_eol(line);
            let trimmed = content.trim_start();
            let ind = content.len() - trimmed.len();
            if let Some((kind, drop)) = secret {
                if trimmed.is_empty() || ind > kind {
                    if !drop {
                        out.push_str(&self.nested_secret_line(content));
                        out.push_str(eol);
                    }
                    continue;
                }
                secret = None;
            }
            if header.is_some_and(|h| !trimmed.is_empty() && ind <= h) {
                header = None;
            }
            if trimmed.is_empty() {
                out.push_str(line);
                continue;
            }
            if let Some(inner) = trimmed.strip_prefix('#') {
                let body = inner.trim_start();
                let pad = &inner[..inner.len() - body.len()];
                let red = self
                    .yaml_pair_line(body)
                    .unwrap_or_else(|| body.to_string());
                out.push_str(&format!("{}#{pad}{red}{eol}", &content[..ind]));
                continue;
            }
            let (prefix, rest) = split_list_prefix(content);
            let key_col = prefix.len();
            match split_yaml_pair(rest) {
                Some((key, value)) => {
                    let v = strip_comment(value).trim();
                    if self.is_secret_key(key) {
                        if v.is_empty() {
                            secret = Some((key_col, false));
                            out.push_str(line);
                        } else if is_var_ref(v) {
                            out.push_str(line);
                        } else {
                            // Anything deeper is this scalar's continuation
                            // (block scalar or folded plain text): drop it.
                            secret = Some((key_col, true));
                            out.push_str(&format!("{prefix}{key}: {MARKER}{eol}"));
                        }
                    } else if Self::is_header_key(key) {
                        if v.is_empty() {
                            header = Some(key_col);
                            out.push_str(line);
                        } else if let Some(items) = flow_items(v, '[', ']') {
                            let items: Vec<String> = items
                                .iter()
                                .map(|i| self.header_value(unquote(i)))
                                .collect();
                            out.push_str(&format!("{prefix}{key}: [{}]{eol}", items.join(", ")));
                        } else {
                            out.push_str(&format!(
                                "{prefix}{key}: {}{eol}",
                                self.header_value(unquote(v))
                            ));
                        }
                    } else if let Some(pairs) = flow_items(v, '{', '}') {
                        out.push_str(&format!("{prefix}{key}: {}{eol}", self.flow_map(&pairs)));
                    } else if header.is_some() {
                        // `Authorization: Bearer x` under a `header:` map.
                        out.push_str(&format!("{prefix}{key}: {}{eol}", self.header_pair(key, v)));
                    } else {
                        let red = redact_url_credentials(value);
                        out.push_str(&format!("{prefix}{key}:{red}{eol}"));
                    }
                }
                None => {
                    if header.is_some() && !prefix.is_empty() {
                        // `- Authorization Bearer x` list item under `header:`.
                        out.push_str(&format!(
                            "{prefix}{}{eol}",
                            self.header_value(unquote(rest.trim()))
                        ));
                    } else {
                        out.push_str(&redact_url_credentials(content));
                        out.push_str(eol);
                    }
                }
            }
        }
        out
    }

    fn header_pair(&self, name: &str, value: &str) -> String {
        if self.is_secret_header(unquote(name)) && !is_var_ref(value) {
            MARKER.to_string()
        } else {
            redact_url_credentials(value)
        }
    }

    fn flow_map(&self, pairs: &[String]) -> String {
        let items: Vec<String> = pairs
            .iter()
            .map(|p| match p.split_once(':') {
                Some((k, v)) => format!("{}: {}", k.trim(), self.value_for(k, unquote(v.trim()))),
                None => p.trim().to_string(),
            })
            .collect();
        format!("{{{}}}", items.join(", "))
    }

    /// A line nested under a secret key with no inline value: keep the
    /// shape, hide every leaf.
    fn nested_secret_line(&self, content: &str) -> String {
        let (prefix, rest) = split_list_prefix(content);
        if rest.trim().is_empty() {
            return content.to_string();
        }
        match split_yaml_pair(rest) {
            Some((_, value)) if strip_comment(value).trim().is_empty() => content.to_string(),
            Some((key, _)) => format!("{prefix}{key}: {MARKER}"),
            None => format!("{prefix}{MARKER}"),
        }
    }

    /// `key: value` as a single line, for commented-out YAML.
    fn yaml_pair_line(&self, body: &str) -> Option<String> {
        let (prefix, rest) = split_list_prefix(body);
        let (key, value) = split_yaml_pair(rest)?;
        let v = strip_comment(value).trim();
        if v.is_empty() {
            return Some(body.to_string());
        }
        Some(format!(
            "{prefix}{key}: {}",
            self.value_for(key, unquote(v))
        ))
    }
}

fn map_lines(text: &str, f: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (content, eol) = split_eol(line);
        out.push_str(&f(content));
        out.push_str(eol);
    }
    out
}

fn split_eol(line: &str) -> (&str, &str) {
    let content = line.trim_end_matches(['\n', '\r']);
    (content, &line[content.len()..])
}

/// Leading indentation plus any `- ` list markers, and the rest.
fn split_list_prefix(line: &str) -> (&str, &str) {
    let mut i = line.len() - line.trim_start().len();
    while line[i..].starts_with("- ") || line[i..].trim_end() == "-" {
        i += 1;
        i += line[i..].len() - line[i..].trim_start().len();
    }
    (&line[..i], &line[i..])
}

/// `key: value` (or `key:`) outside quotes; None for scalars and items.
fn split_yaml_pair(s: &str) -> Option<(&str, &str)> {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') if i == 0 => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ':') => {
                let after = &s[i + 1..];
                if after.is_empty() || after.starts_with([' ', '\t']) {
                    let key = s[..i].trim_end();
                    return (!key.is_empty() && !key.starts_with(['{', '[']))
                        .then_some((key, after));
                }
            }
            (None, '#') if i > 0 && s[..i].ends_with(' ') => return None,
            _ => {}
        }
    }
    None
}

/// Items of a one-line `[a, b]` or `{a: 1}`; quoted commas are not split.
fn flow_items(v: &str, open: char, close: char) -> Option<Vec<String>> {
    let inner = v.trim().strip_prefix(open)?.strip_suffix(close)?;
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    for c in inner.chars() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                cur.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (None, ',') => items.push(std::mem::take(&mut cur).trim().to_string()),
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        items.push(cur.trim().to_string());
    }
    Some(items)
}

/// True for a value that is only a `${NAME}` reference.
fn is_var_ref(v: &str) -> bool {
    let v = unquote(v.trim());
    v.strip_prefix("${")
        .and_then(|s| s.strip_suffix('}'))
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// `scheme://user:secret@host` → `scheme://user:<redacted>@host`.
pub fn redact_url_credentials(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let auth_end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'')
            .unwrap_or(tail.len());
        let authority = &tail[..auth_end];
        match authority
            .rfind('@')
            .and_then(|a| authority[..a].find(':').map(|c| (c, a)))
        {
            Some((colon, at)) => {
                out.push_str(&authority[..=colon]);
                out.push_str(MARKER);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[auth_end..];
    }
    out.push_str(rest);
    out
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

    #[test]
    fn list_prefix_and_pairs() {
        assert_eq!(
            split_list_prefix("    - - name: x"),
            ("    - - ", "name: x")
        );
        assert_eq!(split_yaml_pair("name: x"), Some(("name", " x")));
        assert_eq!(split_yaml_pair("\"a: b\": c"), Some(("\"a: b\"", " c")));
        assert_eq!(split_yaml_pair("http://x"), None);
        assert_eq!(split_yaml_pair("just text"), None);
    }
}
