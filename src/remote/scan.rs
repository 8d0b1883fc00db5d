//! What a candidate config asks Fluent Bit to run, read the way Fluent Bit
//! reads it.
//!
//! The policy only works if this scanner sees every plugin Fluent Bit would
//! start, so it errs towards seeing too much: a construct it cannot read
//! with certainty (a YAML alias, a block scalar or variable as a plugin
//! name, a complex key) is reported as [`What::Unreadable`] and the config
//! is refused, rather than guessed at.
//!
//! Classic rules follow `flb_cf_fluentbit.c`: a section header starts in
//! column 0, `#` comments only at the start of a (possibly indented) line,
//! key and value split at the first blank. YAML is read as a token stream,
//! line by line, tracking quotes, flow collections and block scalars across
//! lines; keys are matched case-insensitively, as `flb_cf_yaml.c` does.

use crate::fbconf::Format;

/// One thing the policy must judge, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub line: usize,
    pub what: What,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// A plugin instance (input, filter, output, custom or processor), by
    /// its normalised name.
    Plugin(String),
    /// `[PLUGINS]`, YAML `plugins:` or `plugins_file`: loads shared objects
    /// into the process, which runs their code whatever they are named.
    LoadsLibraries,
    /// `hot_reload` in a service section: turning it off would leave the
    /// agent unable to apply the next config.
    HotReloadSetting,
    /// An included file, as written (`@INCLUDE` or YAML `includes:`).
    Include(String),
    /// Something we cannot read with certainty, with the reason.
    Unreadable(String),
}

/// Sections whose `name` keys name parsers, tasks or servers, not plugins.
const CLASSIC_NON_PLUGIN_SECTIONS: &[&str] = &[
    "PARSER",
    "MULTILINE_PARSER",
    "STREAM_TASK",
    "UPSTREAM",
    "NODE",
];
const YAML_NON_PLUGIN_SECTIONS: &[&str] = &[
    "parsers",
    "multiline_parsers",
    "stream_processor",
    "upstream_servers",
    "env",
];

pub fn scan(format: Format, text: &str) -> Vec<Finding> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    match format {
        Format::Classic => scan_classic(text),
        Format::Yaml => scan_yaml(&yaml_lines(text)),
    }
}

/// libyaml breaks lines at CR, LF, CRLF, NEL, LS and PS; `str::lines`
/// only at LF and CRLF. Classic files are read with `fgets`, which breaks
/// at LF only, so they are left alone.
fn yaml_lines(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace(['\r', '\u{85}', '\u{2028}', '\u{2029}'], "\n")
}

/// The plugin a `name` value selects, as Fluent Bit matches it: without
/// case, up to an optional `://` suffix, through its alias table.
pub fn normalize(name: &str) -> String {
    let n = name.trim().to_ascii_lowercase();
    let n = match n.find("://") {
        Some(i) if i > 0 => n[..i].to_string(),
        _ => n,
    };
    match n.as_str() {
        // flb_plugin_alias.c (5.x)
        "elasticsearch" => "es".to_string(),
        _ => n,
    }
}

fn plugin(line: usize, value: &str) -> Finding {
    let what = if value.contains('$') {
        What::Unreadable("plugin name uses a variable; write it literally".into())
    } else if value.trim().is_empty() {
        What::Unreadable("plugin name is empty".into())
    } else {
        What::Plugin(normalize(value))
    };
    Finding { line, what }
}

fn scan_classic(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut section = String::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if let Some(path) = classic_include(line) {
            out.push(Finding {
                line: line_no,
                what: What::Include(path.to_string()),
            });
            continue;
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            section = rest
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_uppercase();
            if section == "PLUGINS" {
                out.push(Finding {
                    line: line_no,
                    what: What::LoadsLibraries,
                });
            }
            continue;
        }
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') || t.starts_with('[') {
            continue;
        }
        let (key, value) = t.split_once([' ', '\t']).unwrap_or((t, ""));
        let key = key.to_ascii_lowercase();
        let value = value.trim();
        if key == "plugins_file" {
            out.push(Finding {
                line: line_no,
                what: What::LoadsLibraries,
            });
        } else if key == "hot_reload" && section == "SERVICE" {
            out.push(Finding {
                line: line_no,
                what: What::HotReloadSetting,
            });
        } else if key == "name" && !CLASSIC_NON_PLUGIN_SECTIONS.contains(&section.as_str()) {
            out.push(plugin(line_no, unquote_loosely(value)));
        }
    }
    out
}

/// `@INCLUDE path` in column 0, matched without case. Fluent Bit wants one
/// space after it; any blank counts here, to be safe.
fn classic_include(line: &str) -> Option<&str> {
    let head = line.get(..8)?;
    let rest = &line[8..];
    (head.eq_ignore_ascii_case("@include") && rest.starts_with([' ', '\t'])).then(|| rest.trim())
}

/// Classic values are taken literally by Fluent Bit; stripping quotes
/// here only makes the check stricter.
fn unquote_loosely(v: &str) -> &str {
    v.trim_matches(|c| c == '"' || c == '\'')
}

#[derive(Default)]
struct YamlState {
    /// An open quoted scalar continuing onto the next line.
    quote: Option<char>,
    /// Depth of open `[` / `{` collections.
    flow: usize,
    /// Inside a block scalar: lines indented more than this are text.
    block_scalar: Option<usize>,
    /// The current top-level key, lower-cased.
    section: String,
}

/// A token the line reader produced.
#[derive(Debug)]
enum Token {
    /// A mapping key at a column, lower-cased and unquoted.
    Key {
        name: String,
        col: usize,
        flow: usize,
    },
    /// A scalar value (plain or quoted), and whether it can be trusted as
    /// literal text.
    Scalar { text: String, literal: bool },
    /// The start of a flow collection.
    Other,
    /// A node whose text this reader does not follow: a block scalar, an
    /// alias, a quoted scalar running onto later lines.
    Opaque,
}

fn scan_yaml(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut st = YamlState::default();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if let Some(limit) = st.block_scalar {
            if line.trim().is_empty() || indent(line) > limit {
                continue;
            }
            st.block_scalar = None;
        }
        if st.quote.is_none() && st.flow == 0 {
            let t = line.trim_end();
            if t == "---" || t.starts_with("--- ") || t == "..." {
                st.section.clear();
                continue;
            }
            if t.starts_with('%') {
                continue;
            }
            if !t.is_empty() && !t.starts_with([' ', '#']) {
                // Anything in column 0 ends the previous top-level section;
                // a key there starts the next one (set below).
                st.section.clear();
            }
        }
        let tokens = yaml_tokens(line, line_no, &mut st, &mut out);
        judge_yaml_line(&tokens, line_no, &mut st, &mut out);
    }
    if st.quote.is_some() {
        out.push(Finding {
            line: text.lines().count(),
            what: What::Unreadable("unterminated quoted string".into()),
        });
    }
    out
}

fn judge_yaml_line(tokens: &[Token], line_no: usize, st: &mut YamlState, out: &mut Vec<Finding>) {
    let mut i = 0;
    while i < tokens.len() {
        if st.section == "includes" {
            let what = match &tokens[i] {
                Token::Scalar {
                    text,
                    literal: true,
                } => Some(What::Include(text.clone())),
                Token::Scalar { literal: false, .. } | Token::Opaque => Some(What::Unreadable(
                    "include path is not a plain value on one line".into(),
                )),
                _ => None,
            };
            if let Some(what) = what {
                out.push(Finding {
                    line: line_no,
                    what,
                });
            }
        }
        if let Token::Key { name, col, flow } = &tokens[i] {
            if *col == 0 && *flow == 0 && i == 0 {
                st.section = name.clone();
                if name == "plugins" {
                    out.push(Finding {
                        line: line_no,
                        what: What::LoadsLibraries,
                    });
                }
            } else if name == "plugins_file" {
                out.push(Finding {
                    line: line_no,
                    what: What::LoadsLibraries,
                });
            } else if name == "hot_reload" && st.section == "service" {
                out.push(Finding {
                    line: line_no,
                    what: What::HotReloadSetting,
                });
            } else if name == "name" && !YAML_NON_PLUGIN_SECTIONS.contains(&st.section.as_str()) {
                let finding = match tokens.get(i + 1) {
                    Some(Token::Scalar {
                        text,
                        literal: true,
                    }) => plugin(line_no, text),
                    Some(Token::Scalar { literal: false, .. }) => Finding {
                        line: line_no,
                        what: What::Unreadable(
                            "plugin name uses an escape sequence; write it literally".into(),
                        ),
                    },
                    _ => Finding {
                        line: line_no,
                        what: What::Unreadable(
                            "plugin name is not a plain value on the same line as 'name:'".into(),
                        ),
                    },
                };
                out.push(finding);
            }
        }
        i += 1;
    }
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Reads one line into tokens, carrying quote, flow and block-scalar state
/// to the next line.
fn yaml_tokens(
    line: &str,
    line_no: usize,
    st: &mut YamlState,
    out: &mut Vec<Finding>,
) -> Vec<Token> {
    let b: Vec<char> = line.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    if let Some(q) = st.quote {
        match close_quote(&b, 0, q) {
            None => return tokens,
            Some(end) => {
                st.quote = None;
                i = end + 1;
            }
        }
    }
    // Whether the next token starts a node (and so may be an indicator).
    let mut expect_node = true;
    // Column of the innermost key or sequence dash on this line, for the
    // indentation a block scalar's text must exceed.
    let mut parent_col: Option<usize> = None;
    let unreadable = |out: &mut Vec<Finding>, why: &str| {
        out.push(Finding {
            line: line_no,
            what: What::Unreadable(why.to_string()),
        });
    };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        let next_blank = matches!(next, None | Some(' ') | Some('\t'));
        if c == ' ' || c == '\t' {
            i += 1;
            continue;
        }
        if c == '#' && (i == 0 || b[i - 1] == ' ' || b[i - 1] == '\t') {
            break;
        }
        if st.flow > 0 && matches!(c, ',' | ']' | '}') {
            if c != ',' {
                st.flow -= 1;
            }
            expect_node = c == ',';
            i += 1;
            continue;
        }
        if c == ':' && (next_blank || st.flow > 0) {
            // A value follows a key read earlier.
            expect_node = true;
            i += 1;
            continue;
        }
        if !expect_node {
            // Text after a complete scalar that is not an indicator, e.g. a
            // stray character; read it as another plain scalar.
            expect_node = true;
        }
        match c {
            '-' if next_blank && st.flow == 0 => {
                parent_col = Some(i);
                i += 1;
            }
            '?' if next_blank => {
                unreadable(out, "YAML complex key ('? ')");
                i += 1;
            }
            '*' => {
                unreadable(out, "YAML alias ('*name'): it could hide a plugin name");
                i = skip_token(&b, i);
                expect_node = false;
                tokens.push(Token::Opaque);
            }
            '&' | '!' => {
                // Anchors and tags decorate the node that follows.
                i = skip_token(&b, i);
            }
            '|' | '>' => {
                let limit = parent_col.unwrap_or_else(|| indent(line).saturating_sub(1));
                st.block_scalar = Some(limit);
                tokens.push(Token::Opaque);
                return tokens;
            }
            '{' | '[' => {
                st.flow += 1;
                tokens.push(Token::Other);
                i += 1;
            }
            '"' | '\'' => {
                match close_quote(&b, i + 1, c) {
                    None => {
                        st.quote = Some(c);
                        tokens.push(Token::Opaque);
                        return tokens;
                    }
                    Some(end) => {
                        let raw: String = b[i + 1..end].iter().collect();
                        let literal = c == '\'' || !raw.contains('\\');
                        if !literal && b.get(skip_blanks(&b, end + 1)) == Some(&':') {
                            unreadable(out, "escape sequence in a quoted key");
                        }
                        let text = if c == '\'' {
                            raw.replace("''", "'")
                        } else {
                            raw
                        };
                        let after = skip_blanks(&b, end + 1);
                        if b.get(after) == Some(&':') {
                            tokens.push(key_token(&text, i, st.flow));
                            parent_col = Some(i);
                        } else {
                            tokens.push(Token::Scalar { text, literal });
                        }
                        i = end + 1;
                    }
                }
                expect_node = false;
            }
            _ => {
                let (end, is_key) = plain_end(&b, i, st.flow > 0);
                let text: String = b[i..end].iter().collect::<String>().trim_end().to_string();
                if is_key {
                    tokens.push(key_token(&text, i, st.flow));
                    parent_col = Some(i);
                } else {
                    tokens.push(Token::Scalar {
                        text,
                        literal: true,
                    });
                }
                i = end;
                expect_node = false;
            }
        }
    }
    tokens
}

fn key_token(text: &str, col: usize, flow: usize) -> Token {
    Token::Key {
        name: text.trim().to_ascii_lowercase(),
        col,
        flow,
    }
}

/// Index of the closing quote of a scalar whose body starts at `from`.
fn close_quote(b: &[char], from: usize, q: char) -> Option<usize> {
    let mut i = from;
    while i < b.len() {
        if q == '"' && b[i] == '\\' {
            i += 2;
            continue;
        }
        if b[i] == q {
            if q == '\'' && b.get(i + 1) == Some(&'\'') {
                i += 2;
                continue;
            }
            return Some(i);
        }
        i += 1;
    }
    None
}

fn skip_token(b: &[char], mut i: usize) -> usize {
    while i < b.len() && !matches!(b[i], ' ' | '\t' | ',' | ']' | '}') {
        i += 1;
    }
    i
}

fn skip_blanks(b: &[char], mut i: usize) -> usize {
    while i < b.len() && (b[i] == ' ' || b[i] == '\t') {
        i += 1;
    }
    i
}

/// End of a plain scalar starting at `i`, and whether a `:` made it a key.
fn plain_end(b: &[char], mut i: usize, in_flow: bool) -> (usize, bool) {
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == ':' {
            let ends = match next {
                None | Some(' ') | Some('\t') => true,
                Some(',') | Some(']') | Some('}') | Some('[') | Some('{') => in_flow,
                _ => false,
            };
            if ends {
                return (i, true);
            }
        }
        if c == '#' && i > 0 && (b[i - 1] == ' ' || b[i - 1] == '\t') {
            return (i, false);
        }
        if in_flow && matches!(c, ',' | '[' | ']' | '{' | '}') {
            return (i, false);
        }
        i += 1;
    }
    (i, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugins(format: Format, text: &str) -> Vec<String> {
        scan(format, text)
            .into_iter()
            .filter_map(|f| match f.what {
                What::Plugin(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    fn unreadable(text: &str) -> bool {
        scan(Format::Yaml, text)
            .iter()
            .any(|f| matches!(f.what, What::Unreadable(_)))
    }

    #[test]
    fn classic_names_in_every_plugin_section() {
        let text = "[SERVICE]\n    Flush 1\n[INPUT]\n    Name   tail\n[filter]\n    name\tLUA\n[OUTPUT]\n    NAME exec://x\n[CUSTOM]\n    Name calyptia\n[PARSER]\n    Name exec\n[MULTILINE_PARSER]\n    name lua\n";
        assert_eq!(
            plugins(Format::Classic, text),
            vec!["tail", "lua", "exec", "calyptia"]
        );
    }

    #[test]
    fn classic_comments_and_includes_are_not_plugins() {
        let text = "# [INPUT]\n#    Name exec\n[INPUT]\n    # Name exec\n    Name dummy\n@INCLUDE exec.conf\n@SET name=exec\n";
        assert_eq!(plugins(Format::Classic, text), vec!["dummy"]);
    }

    #[test]
    fn classic_library_loading_and_variables() {
        let f = scan(Format::Classic, "[PLUGINS]\n    Path /x.so\n[SERVICE]\n    plugins_file p.conf\n    Hot_Reload off\n[INPUT]\n    Name ${X}\n");
        let whats: Vec<&What> = f.iter().map(|f| &f.what).collect();
        assert!(matches!(whats[0], What::LoadsLibraries));
        assert!(matches!(whats[1], What::LoadsLibraries));
        assert!(matches!(whats[2], What::HotReloadSetting));
        assert!(matches!(whats[3], What::Unreadable(_)));
        assert_eq!(f[3].line, 7);
    }

    #[test]
    fn yaml_names_in_pipeline_processors_and_customs() {
        let text = r#"
customs:
  - name: calyptia
pipeline:
  inputs:
    - name: tail
      processors:
        logs:
          - name: LUA
            call: f
          - {name: "content_modifier", action: insert}
  filters: [ {name: 'wasm'}, {Name: grep} ]
  outputs:
    - Name: "exec_wasi"   # comment
parsers:
  - name: exec
"#;
        assert_eq!(
            plugins(Format::Yaml, text),
            vec![
                "calyptia",
                "tail",
                "lua",
                "content_modifier",
                "wasm",
                "grep",
                "exec_wasi"
            ]
        );
    }

    #[test]
    fn yaml_block_scalars_are_text_not_structure() {
        let text = "pipeline:\n  filters:\n    - name: lua\n      code: |\n        name: exec\n        - name: exec\n      call: f\n    - name: grep\n";
        assert_eq!(plugins(Format::Yaml, text), vec!["lua", "grep"]);
    }

    #[test]
    fn yaml_apostrophes_in_plain_text_do_not_open_quotes() {
        let text =
            "service:\n  note: don't\npipeline:\n  inputs:\n    - name: exec\n      x: it's\n";
        assert_eq!(plugins(Format::Yaml, text), vec!["exec"]);
    }

    #[test]
    fn yaml_multi_line_quotes_hide_nothing_after_they_close() {
        let text = "pipeline:\n  inputs:\n    - name: dummy\n      dummy: \"{\n        name: exec\"\n    - name: exec\n";
        assert_eq!(plugins(Format::Yaml, text), vec!["dummy", "exec"]);
    }

    #[test]
    fn yaml_tricks_are_unreadable() {
        assert!(unreadable(
            "x: &a exec\npipeline:\n  inputs:\n    - name: *a\n"
        ));
        assert!(unreadable("pipeline:\n  inputs:\n    - <<: *base\n"));
        assert!(unreadable(
            "pipeline:\n  inputs:\n    - name: >\n        exec\n"
        ));
        assert!(unreadable(
            "pipeline:\n  inputs:\n    - name:\n        exec\n"
        ));
        assert!(unreadable(
            "pipeline:\n  inputs:\n    - name: \"\\x65xec\"\n"
        ));
        assert!(unreadable(
            "pipeline:\n  inputs:\n    - ? name\n      : exec\n"
        ));
        assert!(unreadable(
            "pipeline:\n  inputs:\n    - \"n\\x61me\": exec\n"
        ));
        assert!(unreadable("pipeline:\n  inputs:\n    - name: ${PLUGIN}\n"));
        assert!(!unreadable("pipeline:\n  inputs:\n    - name: tail\n      path: /var/log/*.log\n      match: '*'\n"));
    }

    #[test]
    fn yaml_line_breaks_other_than_lf_do_not_hide_a_name() {
        for br in ["\r", "\r\n", "\u{85}", "\u{2028}"] {
            let text = ["pipeline:", "  inputs:", "    - name: exec", ""].join(br);
            assert_eq!(plugins(Format::Yaml, &text), vec!["exec"], "{br:?}");
        }
    }

    #[test]
    fn classic_lone_cr_is_not_a_line_break() {
        // Fluent Bit reads `[INPUT]\r[PARSER]` as the header [INPUT].
        let text = "[INPUT]\r[PARSER]\n    Name exec\n";
        assert_eq!(plugins(Format::Classic, text), vec!["exec"]);
    }

    #[test]
    fn yaml_tags_and_quoting_do_not_hide_a_name() {
        assert_eq!(
            plugins(
                Format::Yaml,
                "pipeline:\n  inputs:\n    - name: !!str exec\n"
            ),
            vec!["exec"]
        );
        assert_eq!(
            plugins(
                Format::Yaml,
                "pipeline:\n  inputs:\n    - 'name': 'ex''ec'\n"
            ),
            vec!["ex'ec"]
        );
        assert_eq!(
            plugins(Format::Yaml, "{pipeline: {inputs: [{name: exec}]}}\n"),
            vec!["exec"]
        );
        assert_eq!(
            plugins(Format::Yaml, "pipeline:\n  inputs: [name: exec]\n"),
            vec!["exec"]
        );
    }

    #[test]
    fn yaml_library_loading_and_hot_reload() {
        let f = scan(
            Format::Yaml,
            "service:\n  hot_reload: off\n  plugins_file: p.yaml\nplugins:\n  - /x.so\n",
        );
        let whats: Vec<&What> = f.iter().map(|f| &f.what).collect();
        assert_eq!(
            whats,
            vec![
                &What::HotReloadSetting,
                &What::LoadsLibraries,
                &What::LoadsLibraries
            ]
        );
    }

    fn includes(format: Format, text: &str) -> Vec<String> {
        scan(format, text)
            .into_iter()
            .filter_map(|f| match f.what {
                What::Include(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn includes_are_reported_in_both_formats() {
        assert_eq!(
            includes(
                Format::Classic,
                "@INCLUDE managed.d/a.conf\n@include\t/etc/x.conf\n#@INCLUDE no\n"
            ),
            vec!["managed.d/a.conf", "/etc/x.conf"]
        );
        assert_eq!(
            includes(Format::Yaml, "includes:\n  - managed.d/a.yaml\n  - '/etc/x.yaml'\npipeline:\n  inputs:\n    - name: dummy\n"),
            vec!["managed.d/a.yaml", "/etc/x.yaml"]
        );
        assert_eq!(
            includes(Format::Yaml, "INCLUDES: [a.yaml, \"b.yaml\"]\n"),
            vec!["a.yaml", "b.yaml"]
        );
        assert!(unreadable("includes:\n  - >\n    /etc/shadow\n"));
    }

    #[test]
    fn names_normalise_like_fluent_bit() {
        assert_eq!(normalize(" Exec "), "exec");
        assert_eq!(normalize("exec://127.0.0.1"), "exec");
        assert_eq!(normalize("Elasticsearch"), "es");
        assert_eq!(normalize("://x"), "://x");
    }
}
