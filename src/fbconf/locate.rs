//! Where one plugin's section sits in a file's text, so a copy of the file
//! can leave it out (the dry run leaves out our own `opamp` input).

use std::ops::Range;

use super::classic::{self, Kind};
use super::view::{items_of, pairs_of};
use super::yaml::{self, Tree};
use super::Format;

/// The byte ranges of every `category` section (`input`, `output`, ...)
/// whose `name` is `plugin`, both matched without case. Classic: from the
/// `[INPUT]` line to the end of the section's last line. YAML: the item of
/// the `pipeline:` list, without its `- `.
pub fn plugin_sections(
    format: Format,
    text: &str,
    category: &str,
    plugin: &str,
) -> Vec<Range<usize>> {
    match format {
        Format::Classic => classic_sections(text, category, plugin),
        Format::Yaml => yaml_items(text, category, plugin),
    }
}

fn classic_sections(text: &str, category: &str, plugin: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    // The section being read: its span so far, and whether it is a match.
    let mut open: Option<(Range<usize>, bool)> = None;
    for line in classic::lines(text) {
        match &line.kind {
            Kind::Section(name) => {
                out.extend(open.take().filter(|(_, hit)| *hit).map(|(r, _)| r));
                if name.eq_ignore_ascii_case(category) {
                    open = Some((line.span.clone(), false));
                }
            }
            // An include ends the section as far as its own lines go.
            Kind::Include(_) | Kind::Set { .. } => {
                out.extend(open.take().filter(|(_, hit)| *hit).map(|(r, _)| r));
            }
            Kind::Entry { key, value, .. } => {
                if let Some((span, hit)) = open.as_mut() {
                    span.end = line.span.end;
                    *hit |= key.eq_ignore_ascii_case("name") && value.eq_ignore_ascii_case(plugin);
                }
            }
            _ => {
                if let Some((span, _)) = open.as_mut() {
                    span.end = line.span.end;
                }
            }
        }
    }
    out.extend(open.filter(|(_, hit)| *hit).map(|(r, _)| r));
    out
}

fn yaml_items(text: &str, category: &str, plugin: &str) -> Vec<Range<usize>> {
    let list = format!("{category}s");
    let (docs, _) = yaml::documents(text);
    let mut out = Vec::new();
    for doc in &docs {
        for (top, pipeline) in pairs_of(doc) {
            if !top.eq_ignore_ascii_case("pipeline") {
                continue;
            }
            for (kind, items) in pairs_of(pipeline) {
                if kind.eq_ignore_ascii_case(&list) {
                    let hits = items_of(items).filter(|i| named(i, plugin));
                    out.extend(hits.map(|i| trimmed(text, i.span.clone())));
                }
            }
        }
    }
    out
}

/// A block mapping ends where the next token starts (libyaml's marks):
/// the line break and indentation before it are not the item's.
fn trimmed(text: &str, mut r: Range<usize>) -> Range<usize> {
    let bytes = text.as_bytes();
    while r.end > r.start && bytes[r.end - 1].is_ascii_whitespace() {
        r.end -= 1;
    }
    r
}

fn named(item: &Tree, plugin: &str) -> bool {
    pairs_of(item).any(|(k, v)| {
        k.eq_ignore_ascii_case("name") && v.scalar().is_some_and(|n| n.eq_ignore_ascii_case(plugin))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(format: Format, text: &str) -> String {
        let mut out = text.to_string();
        for r in plugin_sections(format, text, "input", "opamp")
            .into_iter()
            .rev()
        {
            out.replace_range(r, "<cut>");
        }
        out
    }

    #[test]
    fn classic_section_with_its_entries_and_groups() {
        let text = "[SERVICE]\n    Flush 1\n[INPUT]\n    Name dummy\n\n[INPUT]\n    \
                    name  OpAMP\n    Endpoint ws://x\n    # c\n[OUTPUT]\n    Name null\n";
        assert_eq!(
            cut(Format::Classic, text),
            "[SERVICE]\n    Flush 1\n[INPUT]\n    Name dummy\n\n<cut>\n[OUTPUT]\n    Name null\n"
        );
        let last = "[INPUT]\n    Name opamp\n    Header A b\n";
        assert_eq!(cut(Format::Classic, last), "<cut>\n");
        let before_include = "[INPUT]\n    Name opamp\n@INCLUDE x.conf\n";
        assert_eq!(
            cut(Format::Classic, before_include),
            "<cut>\n@INCLUDE x.conf\n"
        );
        assert_eq!(
            cut(Format::Classic, "[OUTPUT]\n    Name opamp\n"),
            "[OUTPUT]\n    Name opamp\n"
        );
    }

    #[test]
    fn yaml_item_in_block_and_flow_style() {
        let text = "pipeline:\n  inputs:\n    - name: dummy\n    - name: opamp\n      endpoint: ws://x\n  \
                    outputs:\n    - name: null\n";
        assert_eq!(
            cut(Format::Yaml, text),
            "pipeline:\n  inputs:\n    - name: dummy\n    - <cut>\n  outputs:\n    - name: null\n"
        );
        let flow = "pipeline:\n  inputs: [{name: dummy}, {Name: OPAMP, endpoint: x}]\n";
        assert_eq!(
            cut(Format::Yaml, flow),
            "pipeline:\n  inputs: [{name: dummy}, <cut>]\n"
        );
    }
}
