//! Sections, plugins and properties of one config file, in either format.
//!
//! The YAML side follows the shape `flb_cf_yaml.c` accepts: top-level keys
//! matched without case; `pipeline:` holds `inputs`, `filters` and
//! `outputs`, each a list of plugin maps; a plugin's `processors:` holds
//! `logs`, `metrics` and `traces` lists of processor maps; `customs`,
//! `parsers` and `multiline_parsers` are lists of maps; `env` is a map of
//! variables; `includes` a list of paths.

use super::classic::{self, Kind};
use super::format::Format;
use super::yaml::{self, Tree, TreeKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prop {
    /// As written.
    pub key: String,
    /// One value, or one per item of a list; none for a nested map.
    pub values: Vec<String>,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Upper case: `SERVICE`, `INPUT`, `FILTER`, `OUTPUT`, `CUSTOM`,
    /// `PROCESSOR`, `PARSER`, `MULTILINE_PARSER`, or any other name.
    pub kind: String,
    pub line: usize,
    pub props: Vec<Prop>,
}

impl Section {
    /// The first value of a key, matched without case.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|p| p.key.eq_ignore_ascii_case(key))
            .and_then(|p| p.values.first())
            .map(String::as_str)
    }

    /// Kinds that start a plugin instance.
    pub fn is_plugin(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "INPUT" | "FILTER" | "OUTPUT" | "CUSTOM" | "PROCESSOR"
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    pub sections: Vec<Section>,
    /// Include patterns with their lines.
    pub includes: Vec<(String, usize)>,
    /// `@SET` or `env:` variables, in order.
    pub vars: Vec<(String, String)>,
    /// What makes Fluent Bit refuse the file, with the line.
    pub problems: Vec<(usize, String)>,
}

pub fn view(format: Format, text: &str) -> View {
    match format {
        Format::Classic => classic_view(text),
        Format::Yaml => yaml_view(text),
    }
}

fn classic_view(text: &str) -> View {
    let mut v = View::default();
    // Fluent Bit files a doubly indented key under a group only while one
    // is open (`[GROUP]`); otherwise the key is the section's. A key at
    // the base indent closes the group.
    let mut group_open = false;
    for line in classic::lines(text) {
        if let Kind::Entry { in_group, .. } = &line.kind {
            group_open &= *in_group;
        }
        match line.kind {
            Kind::Group(_) => group_open = true,
            Kind::Section(name) => {
                group_open = false;
                v.sections.push(Section {
                    kind: classic::section_type(&name)
                        .map_or_else(|| name.to_ascii_uppercase(), str::to_string),
                    line: line.no,
                    props: Vec::new(),
                })
            }
            Kind::Entry { key, value, .. } if !group_open => {
                if let Some(s) = v.sections.last_mut() {
                    s.props.push(Prop {
                        key,
                        values: vec![value],
                        line: line.no,
                    });
                }
            }
            Kind::Include(p) => v.includes.push((p, line.no)),
            Kind::Set { key, value, .. } => v.vars.push((key, value)),
            Kind::Invalid(why) => v.problems.push((line.no, why.to_string())),
            _ => {}
        }
    }
    v
}

fn yaml_view(text: &str) -> View {
    let (docs, error) = yaml::documents(text);
    let mut v = View::default();
    if let Some(e) = error {
        v.problems.push((e.line, e.problem));
    }
    for doc in &docs {
        aliases(&mut v, doc);
        let TreeKind::Map(pairs) = &doc.kind else {
            continue;
        };
        for pair in pairs {
            let top = pair.key.scalar().unwrap_or("").to_ascii_lowercase();
            top_level(&mut v, &top, &pair.value);
        }
    }
    v
}

fn top_level(v: &mut View, key: &str, value: &Tree) {
    match key {
        "pipeline" => {
            for (kind, list) in pairs_of(value) {
                let kind = match kind.to_ascii_lowercase().as_str() {
                    "inputs" => "INPUT",
                    "filters" => "FILTER",
                    "outputs" => "OUTPUT",
                    _ => {
                        let why = format!("unknown pipeline category {kind:?}");
                        v.problems.push((list.line, why));
                        continue;
                    }
                };
                plugin_list(v, kind, list);
            }
        }
        "customs" => plugin_list(v, "CUSTOM", value),
        "parsers" => plugin_list(v, "PARSER", value),
        "multiline_parsers" => plugin_list(v, "MULTILINE_PARSER", value),
        "env" => {
            for (k, val) in pairs_of(value) {
                v.vars
                    .push((k.to_string(), val.scalar().unwrap_or("").to_string()));
            }
        }
        "includes" => {
            for item in items_of(value) {
                if let Some(p) = item.scalar() {
                    v.includes.push((p.to_string(), item.line));
                }
            }
        }
        other => v
            .sections
            .push(map_section(&other.to_ascii_uppercase(), value)),
    }
}

/// Fluent Bit's YAML reader refuses an alias wherever it meets one.
fn aliases(v: &mut View, t: &Tree) {
    match &t.kind {
        TreeKind::Alias(a) => v.problems.push((t.line, format!("YAML alias *{a}"))),
        TreeKind::Seq(items) => items.iter().for_each(|i| aliases(v, i)),
        TreeKind::Map(pairs) => {
            for p in pairs {
                aliases(v, &p.key);
                aliases(v, &p.value);
            }
        }
        TreeKind::Scalar { .. } => {}
    }
}

/// A list of plugin maps, each becoming a section; processors follow
/// their plugin.
fn plugin_list(v: &mut View, kind: &str, list: &Tree) {
    for item in items_of(list) {
        v.sections.push(map_section(kind, item));
        for (k, procs) in pairs_of(item) {
            if k.eq_ignore_ascii_case("processors") {
                for (_signal, list) in pairs_of(procs) {
                    plugin_list(v, "PROCESSOR", list);
                }
            }
        }
    }
}

fn map_section(kind: &str, map: &Tree) -> Section {
    let props = pairs_of(map)
        .map(|(k, val)| Prop {
            key: k.to_string(),
            values: match &val.kind {
                TreeKind::Scalar { value, .. } => vec![value.clone()],
                TreeKind::Seq(items) => items
                    .iter()
                    .filter_map(|i| i.scalar().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            },
            line: val.line,
        })
        .collect();
    Section {
        kind: kind.to_string(),
        line: map.line,
        props,
    }
}

/// A map's pairs whose keys are scalars.
pub fn pairs_of(t: &Tree) -> impl Iterator<Item = (&str, &Tree)> {
    let pairs: &[yaml::Pair] = match &t.kind {
        TreeKind::Map(p) => p,
        _ => &[],
    };
    pairs
        .iter()
        .filter_map(|p| p.key.scalar().map(|k| (k, &p.value)))
}

/// A sequence's items.
pub fn items_of(t: &Tree) -> impl Iterator<Item = &Tree> {
    let items: &[Tree] = match &t.kind {
        TreeKind::Seq(i) => i,
        _ => &[],
    };
    items.iter()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugins(v: &View) -> Vec<String> {
        v.sections
            .iter()
            .filter(|s| s.is_plugin())
            .map(|s| format!("{}:{}", s.kind, s.get("name").unwrap_or("?")))
            .collect()
    }

    #[test]
    fn yaml_pipeline_processors_customs_env_includes() {
        let text = "env:\n  A: b\nincludes: [x.yaml]\ncustoms:\n  - name: c\nPipeline:\n  Inputs:\n    - {name: dummy, processors: {logs: [{name: grep}]}}\n  outputs:\n    - name: stdout\n      match: '*'\nparsers:\n  - name: p\n";
        let v = view(Format::Yaml, text);
        assert_eq!(
            plugins(&v),
            ["CUSTOM:c", "INPUT:dummy", "PROCESSOR:grep", "OUTPUT:stdout"]
        );
        assert_eq!(v.vars, vec![("A".to_string(), "b".to_string())]);
        assert_eq!(v.includes, vec![("x.yaml".to_string(), 3)]);
        assert!(v.problems.is_empty());
    }

    #[test]
    fn classic_sections_and_problems() {
        let v = view(
            Format::Classic,
            "@SET a=1\n[INPUT]\n    Name dummy\n[OUTPUT]\n    Name  stdout\n    Match *\n@INCLUDE x.conf\n",
        );
        assert_eq!(plugins(&v), ["INPUT:dummy", "OUTPUT:stdout"]);
        assert_eq!(v.includes, vec![("x.conf".to_string(), 7)]);
        assert_eq!(v.vars.len(), 1);
        let bad = view(Format::Classic, "[INPUT]\n    Name dummy\n  Tag x\n");
        assert_eq!(bad.problems[0].0, 3);
    }
}
