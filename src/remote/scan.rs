//! What a candidate config asks Fluent Bit to run, read the way Fluent Bit
//! reads it.
//!
//! The policy only works if this scanner sees every plugin Fluent Bit would
//! start, so it errs towards seeing too much: a construct it cannot read
//! with certainty (a YAML alias, a block scalar or variable as a plugin
//! name, a complex key) is reported as [`What::Unreadable`] and the config
//! is refused, rather than guessed at.
//!
//! Both formats are read by the one config reader, [`crate::fbconf`]:
//! classic lines by Fluent Bit's own rules, YAML as libyaml's events (the
//! parser Fluent Bit uses). On top of that, this scanner stays suspicious:
//! a line Fluent Bit would refuse is still read leniently for plugin names,
//! and YAML keys are matched without case, as `flb_cf_yaml.c` does.

use crate::fbconf::classic::{self, Kind};
use crate::fbconf::yaml::{self, Style, Tree, TreeKind};
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
    "UPSTREAM_SERVERS",
    "NODE",
];
const YAML_NON_PLUGIN_SECTIONS: &[&str] = &[
    "parsers",
    "multiline_parsers",
    "stream_processor",
    "upstream_servers",
    "env",
];

/// Findings in line order.
pub fn scan(format: Format, text: &str) -> Vec<Finding> {
    let mut out = match format {
        Format::Classic => scan_classic(text),
        Format::Yaml => scan_yaml(text),
    };
    out.sort_by_key(|f| f.line);
    out
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

fn finding(line: usize, what: What) -> Finding {
    Finding { line, what }
}

fn unreadable(line: usize, why: impl Into<String>) -> Finding {
    finding(line, What::Unreadable(why.into()))
}

fn scan_classic(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut section = String::new();
    for line in classic::lines(text) {
        let no = line.no;
        match &line.kind {
            Kind::Include(path) => out.push(finding(no, What::Include(path.clone()))),
            Kind::Section(name) => {
                // Fluent Bit's kind (`[PL]` loads plugins, `[S]` is the
                // service); other names as written, for the files other
                // loaders read (`[NODE]`, `[STREAM_TASK]`).
                section = classic::section_type(name)
                    .map_or_else(|| name.trim().to_ascii_uppercase(), str::to_string);
                if section == "PLUGINS" {
                    out.push(finding(no, What::LoadsLibraries));
                }
            }
            Kind::Entry { key, value, .. } => classic_entry(&mut out, no, &section, key, value),
            Kind::Invalid(why) => {
                out.push(unreadable(
                    no,
                    format!("Fluent Bit refuses this line: {why}"),
                ));
                // Still look inside, in case the refusal is ever relaxed.
                let content = &text[line.span.clone()];
                if let Some((k, v)) = classic::loose_pair(content) {
                    classic_entry(&mut out, no, &section, &content[k], &content[v]);
                }
            }
            _ => {}
        }
    }
    out
}

fn classic_entry(out: &mut Vec<Finding>, no: usize, section: &str, key: &str, value: &str) {
    let key = key.to_ascii_lowercase();
    if key == "plugins_file" {
        out.push(finding(no, What::LoadsLibraries));
    } else if key == "hot_reload" && section == "SERVICE" {
        out.push(finding(no, What::HotReloadSetting));
    } else if key == "name" && !CLASSIC_NON_PLUGIN_SECTIONS.contains(&section) {
        out.push(plugin(no, unquote_loosely(value)));
    }
}

/// Classic values are taken literally by Fluent Bit; stripping quotes
/// here only makes the check stricter.
fn unquote_loosely(v: &str) -> &str {
    v.trim_matches(|c| c == '"' || c == '\'')
}

fn scan_yaml(text: &str) -> Vec<Finding> {
    let (docs, error) = yaml::documents(text);
    let mut out = Vec::new();
    if let Some(e) = error {
        out.push(unreadable(e.line, e.to_string()));
    }
    let cx = Yaml { text };
    for doc in &docs {
        match &doc.kind {
            TreeKind::Map(pairs) => {
                for pair in pairs {
                    cx.check_key(&mut out, &pair.key, pair.explicit);
                    let section = pair.key.scalar().unwrap_or("").to_ascii_lowercase();
                    cx.top_level(&mut out, &section, &pair.key, &pair.value);
                }
            }
            _ => cx.walk(&mut out, "", doc),
        }
    }
    out
}

struct Yaml<'a> {
    text: &'a str,
}

impl Yaml<'_> {
    fn top_level(&self, out: &mut Vec<Finding>, section: &str, key: &Tree, value: &Tree) {
        if section == "plugins" {
            out.push(finding(key.line, What::LoadsLibraries));
        }
        if section != "includes" {
            return self.walk(out, section, value);
        }
        let items: Vec<&Tree> = match &value.kind {
            TreeKind::Seq(items) => items.iter().collect(),
            _ => vec![value],
        };
        for item in items {
            match self.literal(item) {
                Ok(path) => out.push(finding(item.line, What::Include(path.to_string()))),
                Err(_) => out.push(unreadable(
                    item.line,
                    "include path is not a plain value on one line",
                )),
            }
        }
    }

    /// Every key at any depth, for names, library loading and hot reload.
    fn walk(&self, out: &mut Vec<Finding>, section: &str, node: &Tree) {
        match &node.kind {
            TreeKind::Alias(_) => out.push(unreadable(
                node.line,
                "YAML alias ('*name'): it could hide a plugin name",
            )),
            TreeKind::Scalar { .. } => {}
            TreeKind::Seq(items) => items.iter().for_each(|i| self.walk(out, section, i)),
            TreeKind::Map(pairs) => {
                for pair in pairs {
                    self.check_key(out, &pair.key, pair.explicit);
                    let key = pair.key.scalar().unwrap_or("").to_ascii_lowercase();
                    self.judge(out, section, &key, &pair.key, &pair.value);
                    self.walk(out, section, &pair.value);
                }
            }
        }
    }

    fn judge(&self, out: &mut Vec<Finding>, section: &str, key: &str, k: &Tree, v: &Tree) {
        if key == "plugins_file" {
            out.push(finding(k.line, What::LoadsLibraries));
        } else if key == "hot_reload" && section == "service" {
            out.push(finding(k.line, What::HotReloadSetting));
        } else if key == "name" && !YAML_NON_PLUGIN_SECTIONS.contains(&section) {
            out.push(match self.literal(v) {
                Ok(name) if v.line == k.line => plugin(k.line, name),
                Ok(_) => unreadable(
                    k.line,
                    "plugin name is not a plain value on the same line as 'name:'",
                ),
                Err(why) => unreadable(k.line, why),
            });
        }
    }

    /// Keys a line-minded reader would misread: complex, aliased or escaped.
    fn check_key(&self, out: &mut Vec<Finding>, key: &Tree, explicit: bool) {
        if explicit {
            out.push(unreadable(key.line, "YAML complex key ('? ')"));
        }
        match &key.kind {
            TreeKind::Scalar { .. } if self.escaped(key) => {
                out.push(unreadable(key.line, "escape sequence in a quoted key"))
            }
            TreeKind::Scalar { .. } => {}
            TreeKind::Alias(_) => out.push(unreadable(key.line, "YAML alias as a key")),
            _ => out.push(unreadable(key.line, "YAML complex key (a map or list)")),
        }
    }

    /// A scalar's value when its text says plainly what it is.
    fn literal<'t>(&self, node: &'t Tree) -> Result<&'t str, &'static str> {
        match &node.kind {
            TreeKind::Scalar { value, style } => match style {
                Style::Block => Err("plugin name is a block scalar; write it literally"),
                _ if self.escaped(node) => {
                    Err("plugin name uses an escape sequence; write it literally")
                }
                _ if value.contains(['\n', '\r']) => Err("value runs over several lines"),
                _ => Ok(value),
            },
            TreeKind::Alias(_) => Err("YAML alias ('*name'): it could hide a plugin name"),
            _ => Err("plugin name is not a plain value on the same line as 'name:'"),
        }
    }

    fn escaped(&self, node: &Tree) -> bool {
        matches!(
            node.kind,
            TreeKind::Scalar {
                style: Style::DoubleQuoted,
                ..
            }
        ) && self
            .text
            .get(node.span.clone())
            .is_some_and(|s| s.contains('\\'))
    }
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
    fn classic_headers_are_matched_by_prefix_as_fluent_bit_does() {
        // Found by tests/fbconf_fuzz.rs: Fluent Bit takes any prefix of a
        // section type, so `[PL]` loads libraries and `[S]` is the service.
        let f = scan(Format::Classic, "[PL]\n    Path /x.so\n[S]\n    Hot_Reload off\n[IN]\n    Name exec\n[UPSTREAM]\n    name u\n");
        let whats: Vec<&What> = f.iter().map(|f| &f.what).collect();
        assert_eq!(
            whats,
            vec![
                &What::LoadsLibraries,
                &What::HotReloadSetting,
                &What::Plugin("exec".into())
            ]
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
                "@INCLUDE managed.d/a.conf\n@include /etc/x.conf\n#@INCLUDE no\n"
            ),
            vec!["managed.d/a.conf", "/etc/x.conf"]
        );
        // Fluent Bit matches "@INCLUDE " with one space: with a tab the
        // line is a meta command without an argument, which fails the
        // file. The scanner says so instead of guessing at an include.
        let tab = scan(Format::Classic, "@include\t/etc/x.conf\n");
        assert!(matches!(&tab[0].what, What::Unreadable(_)), "{tab:?}");
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
