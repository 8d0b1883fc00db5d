//! What both redactors (classic and YAML) share: the marker, text edits,
//! and the rules a redactor applies, so neither file needs the other's.

pub use crate::fbconf::text::apply_edits;
use crate::fbconf::text::unquote;

/// What stands in for every secret value.
pub const MARKER: &str = crate::fbconf::text::REDACTED;

/// The decisions a redactor makes, as the YAML walker asks for them.
pub trait Rules {
    fn is_secret_key(&self, key: &str) -> bool;
    fn is_secret_header(&self, name: &str) -> bool;
    fn is_header_key(&self, key: &str) -> bool;
    /// A `Header Name value` line's value, with the value hidden if secret.
    fn header_value(&self, v: &str) -> String;
    /// A comment's body, with any commented-out config redacted too.
    fn comment_body(&self, body: &str, depth: usize) -> String;
}

/// True for a value that is only a `${NAME}` reference.
pub fn is_var_ref(v: &str) -> bool {
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
