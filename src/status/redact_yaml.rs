//! Redacting YAML by its structure, as libyaml (and so Fluent Bit) reads it.
//!
//! The config reader gives every node with its byte range, so a secret is
//! found however it is written (block or flow style, quoted, folded over
//! lines, nested) and only its own bytes are replaced; the rest of the
//! file stays as the operator wrote it. Comments are not YAML nodes: they
//! are the `#` runs outside every scalar, and their text is redacted as a
//! small document of its own.

use std::ops::Range;

use super::redact_text::{apply_edits, is_var_ref, redact_url_credentials, Rules, MARKER};
use crate::fbconf::yaml::{self, Style, Tree, TreeKind};

/// What the keys above a node say about it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Under {
    /// Nothing special: only URL passwords are hidden.
    Plain,
    /// A secret key: every leaf value is hidden.
    Secret,
    /// A header key: `Name value` text, or a map of header names.
    Header,
}

/// The redacted text. Past a syntax error, where the reader stops, every
/// line is hidden: what Fluent Bit cannot read, we cannot sort either.
pub fn redact(r: &dyn Rules, text: &str) -> String {
    match redact_strict(r, text, 0) {
        Some(out) => out,
        None => {
            let (docs, _) = yaml::documents(text);
            let events = yaml::parse(text).events;
            let read_to = events.iter().map(|e| e.span.end).max().unwrap_or(0);
            let upto = text[..read_to].rfind('\n').map_or(0, |i| i + 1);
            let mut edits = edits_for(r, text, &docs, 0);
            edits.retain(|(span, _)| span.end <= upto);
            edits.push((upto..text.len(), hide_lines(&text[upto..])));
            apply_edits(text, edits)
        }
    }
}

/// The redacted text, or `None` when it is not valid YAML.
pub(super) fn redact_strict(r: &dyn Rules, text: &str, depth: usize) -> Option<String> {
    let (docs, error) = yaml::documents(text);
    if error.is_some() {
        return None;
    }
    Some(apply_edits(text, edits_for(r, text, &docs, depth)))
}

fn edits_for(
    r: &dyn Rules,
    text: &str,
    docs: &[Tree],
    depth: usize,
) -> Vec<(Range<usize>, String)> {
    let mut w = Walk {
        r,
        text,
        edits: Vec::new(),
        scalars: Vec::new(),
    };
    for d in docs {
        w.node(d, Under::Plain);
    }
    let comments = comments(text, &mut w.scalars);
    for c in comments {
        let body = &text[c.clone()];
        w.edits.push((c, r.comment_body(body, depth)));
    }
    w.edits
}

struct Walk<'a> {
    r: &'a dyn Rules,
    text: &'a str,
    edits: Vec<(Range<usize>, String)>,
    /// Every scalar's bytes, where a `#` is text and not a comment.
    scalars: Vec<Range<usize>>,
}

impl Walk<'_> {
    fn node(&mut self, t: &Tree, under: Under) {
        match &t.kind {
            TreeKind::Scalar { value, style } => {
                self.scalars.push(t.span.clone());
                self.scalar(t, value, *style, under);
            }
            TreeKind::Alias(_) => {}
            TreeKind::Seq(items) => items.iter().for_each(|i| self.node(i, under)),
            TreeKind::Map(pairs) => {
                for p in pairs {
                    self.node(&p.key, Under::Plain);
                    let key = p.key.scalar().unwrap_or("");
                    let child = self.child(under, key);
                    self.node(&p.value, child);
                }
            }
        }
    }

    /// How a value under `key` is treated, given what is above the key.
    fn child(&self, under: Under, key: &str) -> Under {
        match under {
            Under::Secret => Under::Secret,
            // In a map under `header:`, keys are header names.
            Under::Header if self.r.is_secret_header(key) => Under::Secret,
            Under::Header => Under::Plain,
            Under::Plain if self.r.is_secret_key(key) => Under::Secret,
            Under::Plain if self.r.is_header_key(key) => Under::Header,
            Under::Plain => Under::Plain,
        }
    }

    fn scalar(&mut self, t: &Tree, value: &str, style: Style, under: Under) {
        let raw = &self.text[t.span.clone()];
        if raw.trim().is_empty() {
            return; // an empty value holds nothing to hide
        }
        let new = match under {
            Under::Secret if is_var_ref(value) => return,
            Under::Secret => {
                // A block scalar's range ends with its line breaks: keep them.
                let body = raw.trim_end();
                format!("{MARKER}{}", &raw[body.len()..])
            }
            Under::Header if style == Style::Block => return self.hide(t),
            Under::Header => requote(raw, &self.r.header_value(value)),
            Under::Plain => redact_url_credentials(raw),
        };
        if new != raw {
            self.edits.push((t.span.clone(), new));
        }
    }

    fn hide(&mut self, t: &Tree) {
        self.edits.push((t.span.clone(), MARKER.to_string()));
    }
}

/// `new` in the quotes `raw` was written in, when it fits in them.
fn requote(raw: &str, new: &str) -> String {
    match raw.chars().next() {
        Some(q @ ('"' | '\'')) if !new.contains(q) && !new.contains('\\') => format!("{q}{new}{q}"),
        _ => new.to_string(),
    }
}

/// The text after each `#` that starts a comment: at a line's start or
/// after a blank, outside every scalar.
fn comments(text: &str, scalars: &mut [Range<usize>]) -> Vec<Range<usize>> {
    scalars.sort_by_key(|r| r.start);
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut next_scalar = 0;
    let mut i = 0;
    while i < b.len() {
        while next_scalar < scalars.len() && scalars[next_scalar].end <= i {
            next_scalar += 1;
        }
        if let Some(s) = scalars.get(next_scalar).filter(|s| s.start <= i) {
            i = s.end.max(i + 1);
            continue;
        }
        let starts = i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'\r');
        if b[i] == b'#' && starts {
            let end = text[i..].find(['\n', '\r']).map_or(text.len(), |e| i + e);
            out.push(i + 1..end);
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// Each line's text replaced by the marker, its indentation and line
/// break kept.
fn hide_lines(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|l| {
            let body = l.trim_end_matches(['\n', '\r']);
            let t = body.trim_start();
            if t.is_empty() {
                l.to_string()
            } else {
                format!(
                    "{}{MARKER}{}",
                    &body[..body.len() - t.len()],
                    &l[body.len()..]
                )
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn red(text: &str) -> String {
        redact(&crate::status::redact::Redactor::new(&[]), text)
    }

    #[test]
    fn flow_style_and_anchored_secrets() {
        let out = red("pipeline:\n  outputs: [{name: es, http_passwd: s1, host: h}]\n");
        assert_eq!(
            out,
            "pipeline:\n  outputs: [{name: es, http_passwd: <redacted>, host: h}]\n"
        );
        let out = red("a:\n  password: &p !!str s2 # note\n");
        assert_eq!(out, "a:\n  password: <redacted> # note\n");
    }

    #[test]
    fn hash_inside_values_is_not_a_comment() {
        let text = "k: \"a # password: x\"\nj: |\n  # token: y\n";
        assert_eq!(red(text), text);
        assert_eq!(red("k: v # token: z\n"), "k: v # token: <redacted>\n");
    }

    #[test]
    fn after_a_syntax_error_everything_is_hidden() {
        let out = red("service:\n  flush: 1\npipeline: [\n  password: x\n");
        assert!(!out.contains("password: x"), "{out}");
        assert!(out.starts_with("service:\n  flush: 1\n"), "{out}");
    }
}
