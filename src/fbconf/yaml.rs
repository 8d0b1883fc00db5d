//! YAML as Fluent Bit reads it: libyaml's event stream.
//!
//! Fluent Bit's `flb_cf_yaml.c` walks the events of libyaml. We read with
//! `libyaml-safer`, a line-by-line safe Rust port of the same parser, so
//! flow style, quoting, escapes, block scalars, tags, anchors, comments,
//! every line break libyaml knows (CR, LF, CRLF, NEL, LS, PS) and every
//! syntax error come out exactly as Fluent Bit sees them. Each event keeps
//! its place in the text, so the redactor and the dry-run rewrite can edit
//! the operator's file in place.

use std::ops::Range;
use std::panic::AssertUnwindSafe;

use libyaml_safer::{EventData, Parser, ScalarStyle};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    DocStart,
    DocEnd,
    MapStart,
    MapEnd,
    SeqStart,
    SeqEnd,
    /// A scalar's value after unquoting and unescaping.
    Scalar {
        value: String,
        style: Style,
    },
    /// `*name`. Fluent Bit refuses aliases wherever it meets one.
    Alias(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// `|` or `>`.
    Block,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub node: Node,
    /// Byte range in the text, from the node's anchor or tag (if any) to
    /// its end; for a block scalar this includes its trailing line breaks.
    pub span: Range<usize>,
    /// 1-based line where the node starts.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// 1-based.
    pub line: usize,
    pub problem: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid YAML at line {}: {}", self.line, self.problem)
    }
}

/// The events of a stream, up to the first error if there is one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stream {
    pub events: Vec<Event>,
    pub error: Option<Error>,
}

/// Reads a whole YAML stream (every document in it).
pub fn parse(text: &str) -> Stream {
    // libyaml-safer panics on a block scalar that ends the text with no
    // line break, which libyaml (Fluent Bit) reads: the differential fuzz
    // found `name: >-` + `exec` at the end of a file. A final line break
    // moves no mark; it only adds one to a kept block scalar at the very
    // end, and Fluent Bit trims plugin names.
    let owned;
    let source = if text.is_empty() || text.ends_with(['\n', '\r']) {
        text
    } else {
        owned = format!("{text}\n");
        &owned
    };
    let mut input = source.as_bytes();
    let mut parser = Parser::new();
    parser.set_input_string(&mut input);
    let mut out = Stream::default();
    // libyaml counts marks in bytes of the UTF-8 text after any BOM.
    let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let at = |i: u64| (i as usize + bom).min(text.len());
    loop {
        // libyaml-safer panics on some malformed input (found by the fuzz
        // targets, see fuzz/regressions/): a server's config must not
        // take the agent down, so a panic is a parse error like any other.
        let parsed = std::panic::catch_unwind(AssertUnwindSafe(|| parser.parse()));
        let Ok(parsed) = parsed else {
            out.error = Some(Error {
                line: out.events.last().map_or(1, |e| e.line),
                problem: "the YAML parser gave up on this text".into(),
            });
            return out;
        };
        let ev = match parsed {
            Ok(ev) => ev,
            Err(e) => {
                let line = e.problem_mark().map_or(0, |m| m.line as usize + 1);
                out.error = Some(Error {
                    line: line.max(1),
                    problem: e.to_string(),
                });
                return out;
            }
        };
        let node = match ev.data {
            EventData::StreamStart { .. } => continue,
            EventData::StreamEnd => return out,
            EventData::DocumentStart { .. } => Node::DocStart,
            EventData::DocumentEnd { .. } => Node::DocEnd,
            EventData::MappingStart { .. } => Node::MapStart,
            EventData::MappingEnd => Node::MapEnd,
            EventData::SequenceStart { .. } => Node::SeqStart,
            EventData::SequenceEnd => Node::SeqEnd,
            EventData::Alias { anchor } => Node::Alias(anchor),
            EventData::Scalar { value, style, .. } => Node::Scalar {
                value,
                style: match style {
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    ScalarStyle::Literal | ScalarStyle::Folded => Style::Block,
                    _ => Style::Plain,
                },
            },
        };
        out.events.push(Event {
            node,
            span: at(ev.start_mark.index)..at(ev.end_mark.index),
            line: ev.start_mark.line as usize + 1,
        });
    }
}

/// A map or sequence being built, with a key waiting for its value.
type Open = (Tree, Option<(Tree, bool)>);

/// A node of a document, built from the events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    pub kind: TreeKind,
    pub span: Range<usize>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeKind {
    Scalar { value: String, style: Style },
    Alias(String),
    Map(Vec<Pair>),
    Seq(Vec<Tree>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub key: Tree,
    pub value: Tree,
    /// Written as `? key`: a complex key, which line-minded readers miss.
    pub explicit: bool,
}

impl Tree {
    /// The value of a scalar node.
    pub fn scalar(&self) -> Option<&str> {
        match &self.kind {
            TreeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }
}

/// Every document of a stream as a tree. After an error, the nodes still
/// open are closed where the events stop, so what came before stays usable.
pub fn documents(text: &str) -> (Vec<Tree>, Option<Error>) {
    let stream = parse(text);
    let mut docs = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    let mut prev_end = 0;
    for ev in stream.events {
        let node = match ev.node {
            Node::DocStart | Node::DocEnd => continue,
            Node::MapStart | Node::SeqStart => {
                let kind = if ev.node == Node::MapStart {
                    TreeKind::Map(Vec::new())
                } else {
                    TreeKind::Seq(Vec::new())
                };
                prev_end = ev.span.end;
                stack.push((
                    Tree {
                        kind,
                        span: ev.span,
                        line: ev.line,
                    },
                    None,
                ));
                continue;
            }
            Node::MapEnd | Node::SeqEnd => {
                let Some((mut t, _)) = stack.pop() else {
                    continue;
                };
                t.span.end = ev.span.end;
                t
            }
            Node::Scalar { value, style } => Tree {
                kind: TreeKind::Scalar { value, style },
                span: ev.span,
                line: ev.line,
            },
            Node::Alias(a) => Tree {
                kind: TreeKind::Alias(a),
                span: ev.span,
                line: ev.line,
            },
        };
        let explicit = is_explicit_key(&text[prev_end.min(node.span.start)..node.span.start]);
        prev_end = node.span.end;
        attach(&mut stack, &mut docs, node, explicit);
    }
    while let Some((t, _)) = stack.pop() {
        attach(&mut stack, &mut docs, t, false);
    }
    (docs, stream.error)
}

/// Adds a finished node to its parent: an item, a key, or a key's value.
fn attach(stack: &mut [Open], docs: &mut Vec<Tree>, node: Tree, explicit: bool) {
    let Some((parent, pending)) = stack.last_mut() else {
        docs.push(node);
        return;
    };
    match &mut parent.kind {
        TreeKind::Seq(items) => items.push(node),
        TreeKind::Map(pairs) => match pending.take() {
            None => *pending = Some((node, explicit)),
            Some((key, explicit)) => pairs.push(Pair {
                key,
                value: node,
                explicit,
            }),
        },
        _ => {}
    }
}

/// Whether the text between two nodes holds the `?` key indicator.
fn is_explicit_key(gap: &str) -> bool {
    gap.lines().any(|l| {
        let code = l.split('#').next().unwrap_or("");
        code.split([' ', '\t', ',', '{', '[', '-'])
            .any(|w| w == "?")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalars(text: &str) -> Vec<(String, String)> {
        parse(text)
            .events
            .into_iter()
            .filter_map(|e| match e.node {
                Node::Scalar { value, .. } => Some((value, text[e.span].to_string())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn spans_are_byte_ranges_of_the_text() {
        let text = "\u{feff}é: \"x\\ty\"\nk: !!str &a v\nb: |\n  l1\n  l2\nc: d\n";
        let s = scalars(text);
        assert_eq!(s[0], ("é".into(), "é".into()));
        assert_eq!(s[1], ("x\ty".into(), "\"x\\ty\"".into()));
        assert_eq!(s[3], ("v".into(), "!!str &a v".into()));
        assert_eq!(s[5], ("l1\nl2\n".into(), "|\n  l1\n  l2\n".into()));
        assert_eq!(s[7].0, "d");
    }

    #[test]
    fn libyaml_line_breaks_and_errors() {
        let s = parse("a: b\u{2028}c: d\n");
        assert!(s.error.is_none());
        let v: Vec<_> = scalars("a: b\u{85}c: d\n")
            .into_iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(v, ["a", "b", "c", "d"]);
        let e = parse("a: [b\n").error.unwrap();
        assert_eq!(e.line, 2);
        assert!(
            parse("a:\tb\n").error.is_none(),
            "libyaml takes a tab after ':'"
        );
    }

    #[test]
    fn aliases_and_documents() {
        let s = parse("a: &x 1\nb: *x\n---\nc: 2\n");
        assert!(s.events.iter().any(|e| e.node == Node::Alias("x".into())));
        let docs = s.events.iter().filter(|e| e.node == Node::DocStart).count();
        assert_eq!(docs, 2);
    }
}
