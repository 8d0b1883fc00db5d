//! The classic format, one line at a time, by the rules of Fluent Bit's
//! `flb_cf_fluentbit.c` (the same in 2.2 through 5.1):
//!
//! - lines end at LF; one CR before the LF is dropped (a lone CR is not a
//!   line break, and a BOM is not skipped);
//! - `#` in column 0 is a comment; `[NAME]` in column 0 starts a section
//!   (text after `]` is ignored, no `]` is an error);
//! - `@INCLUDE ` (any case, exactly one space) includes the rest of the
//!   line, verbatim; any other `@` line longer than 3 bytes is a meta
//!   command that needs a space (`@SET k=v`), or the file is invalid;
//! - the first key line of a file fixes its indentation; later lines must
//!   start with the same blanks, or with twice as many (a group's content),
//!   and only then can they be comments;
//! - key and value split at the first space (not tab); both are trimmed
//!   and neither may be empty.

use std::ops::Range;

/// What one line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Blank,
    Comment,
    /// `@INCLUDE pattern`, the pattern as Fluent Bit takes it (not trimmed).
    Include(String),
    /// `@SET key=value`.
    Set {
        key: String,
        value: String,
        value_at: Range<usize>,
    },
    /// Another `@cmd args` meta command, which Fluent Bit ignores.
    Meta,
    /// `[NAME]` in column 0, the name as written.
    Section(String),
    /// `[NAME]` indented: a group inside the current section.
    Group(String),
    /// `key value`. `in_group` when indented as a group's content.
    Entry {
        key: String,
        value: String,
        key_at: Range<usize>,
        value_at: Range<usize>,
        in_group: bool,
    },
    /// A line that makes Fluent Bit refuse the whole file.
    Invalid(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based.
    pub no: usize,
    /// The line's content in the text, without its line break.
    pub span: Range<usize>,
    pub kind: Kind,
}

/// Fluent Bit's section types in the order its `get_section_type` tries
/// them, with the kind each becomes.
const SECTION_TYPES: &[(&str, &str)] = &[
    ("service", "SERVICE"),
    ("parser", "PARSER"),
    ("multiline_parser", "MULTILINE_PARSER"),
    ("stream_processor", "STREAM_PROCESSOR"),
    ("plugins", "PLUGINS"),
    ("upstream_servers", "UPSTREAM_SERVERS"),
    ("custom", "CUSTOM"),
    ("customs", "CUSTOM"),
    ("input", "INPUT"),
    ("inputs", "INPUT"),
    ("filter", "FILTER"),
    ("filters", "FILTER"),
    ("output", "OUTPUT"),
    ("outputs", "OUTPUT"),
];

/// The kind Fluent Bit gives a `[NAME]` header, `None` for a section of
/// its own. It compares with `strncasecmp(name, type, strlen(name))`, so
/// any prefix of a type selects the first type it begins (`[IN]` is an
/// input, `[PL]` loads plugins, `[]` is the service), and nothing is
/// trimmed (`[OUTPUT ]` is no output).
pub fn section_type(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    SECTION_TYPES
        .iter()
        .find(|(t, _)| t.starts_with(&lower))
        .map(|(_, kind)| *kind)
}

/// Every line of one classic file, one at a time: a large config is never
/// held twice over as a list of lines.
pub fn lines(text: &str) -> impl Iterator<Item = Line> + '_ {
    let mut indent: Option<Vec<u8>> = None;
    let mut in_section = false;
    let mut start = 0;
    text.split_inclusive('\n').enumerate().map(move |(n, raw)| {
        let mut content = raw.strip_suffix('\n').unwrap_or(raw);
        if raw.ends_with('\n') {
            content = content.strip_suffix('\r').unwrap_or(content);
        }
        let kind = classify(content, &mut indent, &mut in_section);
        let line = Line {
            no: n + 1,
            span: start..start + content.len(),
            kind: shift(kind, start),
        };
        start += raw.len();
        line
    })
}

/// The pattern of an `@INCLUDE` line, exactly as Fluent Bit matches it.
pub fn include_of(line: &str) -> Option<&str> {
    let head = line.get(..9)?;
    (line.len() > 9 && head.eq_ignore_ascii_case("@include ")).then(|| &line[9..])
}

/// The line that includes `path`, for a file we write.
pub fn include_line(path: &str) -> String {
    format!("@INCLUDE {path}")
}

fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn classify(line: &str, indent: &mut Option<Vec<u8>>, in_section: &mut bool) -> Kind {
    let b = line.as_bytes();
    if b.is_empty() {
        return Kind::Blank;
    }
    if b[0] == b'#' {
        return Kind::Comment;
    }
    if let Some(p) = include_of(line) {
        return Kind::Include(p.to_string());
    }
    if b[0] == b'@' && b.len() > 3 {
        return meta(line);
    }
    if b[0] == b'[' {
        return match line.find(']') {
            Some(end) if end > 0 => {
                *in_section = true;
                Kind::Section(line[1..end].to_string())
            }
            _ => Kind::Invalid("bad header definition"),
        };
    }
    let ind = indent.get_or_insert_with(|| {
        // Fluent Bit takes the first byte, blank or not, plus the blanks
        // after it; an unindented key line therefore fails further on.
        let mut i = 1;
        while i < b.len() && is_blank(b[i]) {
            i += 1;
        }
        b[..i].to_vec()
    });
    let (level, in_group) = match check_indent(b, ind) {
        Ok(v) => v,
        Err(why) => return Kind::Invalid(why),
    };
    if !line.is_char_boundary(level) {
        // Only when the first key line starts with a multi-byte character
        // (a BOM, say): Fluent Bit would take a key of broken bytes.
        return Kind::Invalid("key starts inside a character");
    }
    if level >= b.len() {
        return Kind::Blank;
    }
    if b[level] == b'#' {
        return Kind::Comment;
    }
    entry(line, level, in_group, *in_section)
}

/// `(column where the key starts, whether it is a group's content)`.
fn check_indent(line: &[u8], indent: &[u8]) -> Result<(usize, bool), &'static str> {
    let level = line.iter().zip(indent).take_while(|(a, b)| a == b).count();
    if level < indent.len() {
        return Err(if line.get(level).copied().is_some_and(is_blank) {
            "inconsistent use of tab and space"
        } else {
            "indentation level is too low"
        });
    }
    let extra = line[level..].iter().take_while(|c| is_blank(**c)).count();
    match extra {
        0 => Ok((level, false)),
        e if e == level => Ok((level + extra, true)),
        _ => Err("extra indentation level found"),
    }
}

fn entry(line: &str, level: usize, in_group: bool, in_section: bool) -> Kind {
    let rest = &line[level..];
    let Some(sp) = rest.find(' ') else {
        return Kind::Invalid("undefined value");
    };
    let key = &rest[..sp];
    if key.starts_with('[') {
        return match key.find(']') {
            None => Kind::Invalid("expected a valid group name"),
            Some(_) if !in_section => Kind::Invalid("group without a parent section"),
            Some(end) => Kind::Group(key[1..end].to_string()),
        };
    }
    let value_raw = &rest[sp + 1..];
    if value_raw.is_empty() {
        return Kind::Invalid("key has an empty value");
    }
    if !in_section {
        // Fluent Bit has nowhere to put it and refuses the file.
        return Kind::Invalid("key outside a section");
    }
    let key_at = trimmed(line, level..level + sp);
    let value_at = trimmed(line, level + sp + 1..line.len());
    Kind::Entry {
        key: line[key_at.clone()].to_string(),
        value: line[value_at.clone()].to_string(),
        key_at,
        value_at,
        in_group,
    }
}

fn meta(line: &str) -> Kind {
    let Some(sp) = line.find(' ') else {
        // flb_cf_meta_property_add fails, and the file with it.
        return Kind::Invalid("meta command without an argument");
    };
    if !line[1..sp].trim().eq_ignore_ascii_case("set") {
        return Kind::Meta;
    }
    let arg = trimmed(line, sp + 1..line.len());
    match line[arg.clone()].find('=') {
        Some(eq) => {
            let key = line[arg.start..arg.start + eq].trim().to_string();
            let value_at = trimmed(line, arg.start + eq + 1..arg.end);
            Kind::Set {
                key,
                value: line[value_at.clone()].to_string(),
                value_at,
            }
        }
        None => Kind::Meta,
    }
}

/// `r` without the blanks at either end.
fn trimmed(line: &str, r: Range<usize>) -> Range<usize> {
    let s = &line[r.clone()];
    let lead = s.len() - s.trim_start().len();
    let body = s.trim().len();
    r.start + lead..r.start + lead + body
}

/// Moves a kind's spans from line offsets to text offsets.
fn shift(kind: Kind, by: usize) -> Kind {
    let mv = |r: Range<usize>| r.start + by..r.end + by;
    match kind {
        Kind::Set {
            key,
            value,
            value_at,
        } => Kind::Set {
            key,
            value,
            value_at: mv(value_at),
        },
        Kind::Entry {
            key,
            value,
            key_at,
            value_at,
            in_group,
        } => Kind::Entry {
            key,
            value,
            key_at: mv(key_at),
            value_at: mv(value_at),
            in_group,
        },
        other => other,
    }
}

/// A line read leniently as `key value`, split at the first blank run:
/// for text Fluent Bit would refuse or never reads (comments), where a
/// redactor must still find what looks like a secret.
pub fn loose_pair(line: &str) -> Option<(Range<usize>, Range<usize>)> {
    let lead = line.len() - line.trim_start().len();
    let body = line[lead..].trim_end();
    let key_end = lead + body.find(char::is_whitespace)?;
    let value = trimmed(line, key_end..lead + body.len());
    (!value.is_empty()).then_some((lead..key_end, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Kind> {
        lines(text).map(|l| l.kind).collect()
    }

    fn entry_kv(k: &Kind) -> Option<(&str, &str)> {
        match k {
            Kind::Entry { key, value, .. } => Some((key, value)),
            _ => None,
        }
    }

    #[test]
    fn section_types_match_by_prefix_as_fluent_bit_does() {
        assert_eq!(section_type("IN"), Some("INPUT"));
        assert_eq!(section_type("inputs"), Some("INPUT"));
        assert_eq!(section_type("PL"), Some("PLUGINS"));
        assert_eq!(section_type("p"), Some("PARSER"));
        assert_eq!(section_type(""), Some("SERVICE"));
        assert_eq!(section_type("Serv"), Some("SERVICE"));
        assert_eq!(section_type("OUTPUT "), None);
        assert_eq!(section_type(" INPUT"), None);
        assert_eq!(section_type("INPUTSX"), None);
    }

    #[test]
    fn sections_entries_comments() {
        let k = kinds("[SERVICE]\n    Flush   1\n    # c\n\n[INPUT] x\n    Name dummy\r\n#top\n");
        assert_eq!(k[0], Kind::Section("SERVICE".into()));
        assert_eq!(entry_kv(&k[1]), Some(("Flush", "1")));
        assert_eq!(k[2], Kind::Comment);
        assert_eq!(k[3], Kind::Blank);
        assert_eq!(k[4], Kind::Section("INPUT".into()));
        assert_eq!(entry_kv(&k[5]), Some(("Name", "dummy")));
        assert_eq!(k[6], Kind::Comment);
    }

    #[test]
    fn include_rule_is_fluent_bits() {
        assert_eq!(include_of("@INCLUDE a.conf"), Some("a.conf"));
        assert_eq!(include_of("@include  b.conf "), Some(" b.conf "));
        assert_eq!(include_of("@INCLUDE\ta.conf"), None);
        assert_eq!(include_of("  @INCLUDE a.conf"), None);
        assert_eq!(include_of("@INCLUDE "), None);
        // A tab after @INCLUDE is a meta command with no space: invalid.
        assert!(matches!(kinds("@INCLUDE\ta.conf\n")[0], Kind::Invalid(_)));
    }

    #[test]
    fn set_and_meta() {
        let k = kinds("@SET a = b c\n@set x=1\n@FOO bar\n");
        assert!(matches!(&k[0], Kind::Set { key, value, .. } if key == "a" && value == "b c"));
        assert!(matches!(&k[1], Kind::Set { key, value, .. } if key == "x" && value == "1"));
        assert_eq!(k[2], Kind::Meta);
    }

    #[test]
    fn indentation_rules() {
        // Group content at twice the indentation. Fluent Bit looks for the
        // key's space before it looks for a group, so a bare `[GROUP]`
        // line is refused.
        let k = kinds("[OUTPUT]\n  Name x\n  [GROUP] g\n    k v\n  [G2]\n");
        assert_eq!(k[2], Kind::Group("GROUP".into()));
        assert!(matches!(k[3], Kind::Entry { in_group: true, .. }));
        assert_eq!(k[4], Kind::Invalid("undefined value"));
        assert!(matches!(
            kinds("[A]\n    k v\n  j w\n")[2],
            Kind::Invalid(_)
        ));
        assert!(matches!(
            kinds("[A]\n    k v\n\tj w\n")[2],
            Kind::Invalid(_)
        ));
        assert!(matches!(
            kinds("[A]\n  k v\n     j w\n")[2],
            Kind::Invalid(_)
        ));
        // A comment indented less than the keys is an error too.
        assert!(matches!(
            kinds("[A]\n    k v\n  # c\n")[2],
            Kind::Invalid(_)
        ));
        // Tab-separated key and value: Fluent Bit splits at a space only.
        assert!(matches!(kinds("[A]\n\tName\tdummy\n")[1], Kind::Invalid(_)));
        assert!(matches!(kinds("[A]\n  Name\n")[1], Kind::Invalid(_)));
        assert!(matches!(kinds("[A\n")[0], Kind::Invalid(_)));
        // A BOM is not skipped: the file fails.
        assert!(matches!(kinds("\u{feff}[A]\n  k v\n")[0], Kind::Invalid(_)));
    }

    #[test]
    fn lone_cr_is_not_a_break_and_spans_point_into_the_text() {
        let text = "[INPUT]\r[PARSER]\n  Name  exec\r\n";
        let l: Vec<Line> = lines(text).collect();
        assert_eq!(l[0].kind, Kind::Section("INPUT".into()));
        let Kind::Entry { value_at, .. } = &l[1].kind else {
            panic!()
        };
        assert_eq!(&text[value_at.clone()], "exec");
    }

    #[test]
    fn loose_pairs() {
        let l = "\tSplunk_Token\ttok-2 ";
        let (k, v) = loose_pair(l).unwrap();
        assert_eq!((&l[k], &l[v]), ("Splunk_Token", "tok-2"));
        assert_eq!(loose_pair("  alone"), None);
    }
}
