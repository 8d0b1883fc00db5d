//! The dry run's copy of the bootstrap leaves our own `opamp` input out.
//!
//! Fluent Bit 2.2 crashes (SIGSEGV in `flb_input_thread_instance_pause`)
//! when it tears down a proxy input instance that was registered but never
//! initialised, which is what every `--dry-run` of a config with our
//! section does: it prints "configuration test is successful", then dies.
//! With the section left out (the plugin file still loaded) it passes
//! cleanly on 2.2, 3.2, 4.2 and 5.1. Our own section is never part of a
//! remote config, and Fluent Bit already accepted it when it started us,
//! so nothing the dry run is for is lost. It also spares the child a
//! second copy of our client's start-up.

use std::ops::Range;

use crate::fbconf::locate::plugin_sections;
use crate::fbconf::Format;

/// What stands in for our item when it is a YAML `inputs:` list's only
/// one: Fluent Bit refuses an empty list, and `dummy` starts nothing in a
/// dry run.
const PLACEHOLDER: &str = "{name: dummy}";

/// Edits that take every `opamp` input out of `text`.
pub fn own_section_edits(format: Format, text: &str) -> Vec<(Range<usize>, String)> {
    let found = plugin_sections(format, text, "input", "opamp");
    let inputs = match format {
        Format::Classic => 0,
        Format::Yaml => yaml_input_count(text),
    };
    found
        .into_iter()
        .map(|r| match format {
            // Blank lines in place of the section keep line numbers true.
            Format::Classic => {
                let lines = text[r.clone()].matches('\n').count();
                (r, "\n".repeat(lines))
            }
            Format::Yaml => match block_item_line(text, &r) {
                Some(whole) if inputs > 1 => (whole, String::new()),
                _ => (r, PLACEHOLDER.to_string()),
            },
        })
        .collect()
}

/// How many YAML inputs there are, ours included.
fn yaml_input_count(text: &str) -> usize {
    crate::fbconf::view::view(Format::Yaml, text)
        .sections
        .iter()
        .filter(|s| s.kind.eq_ignore_ascii_case("INPUT"))
        .count()
}

/// A block-style item (`- name: opamp ...` on lines of its own): the
/// range from the start of its `- ` line through its last line break.
fn block_item_line(text: &str, item: &Range<usize>) -> Option<Range<usize>> {
    let start = text[..item.start].rfind('\n').map_or(0, |i| i + 1);
    if text[start..item.start].trim() != "-" {
        return None;
    }
    let end = text[item.end..]
        .find('\n')
        .map_or(text.len(), |i| item.end + i + 1);
    text[item.end..end].trim().is_empty().then_some(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(format: Format, text: &str) -> String {
        crate::fbconf::text::apply_edits(text, own_section_edits(format, text))
    }

    #[test]
    fn classic_section_becomes_blank_lines() {
        let text = "[INPUT]\n    Name dummy\n[INPUT]\n    Name opamp\n    Endpoint ws://x\n[OUTPUT]\n    Name null\n";
        assert_eq!(
            apply(Format::Classic, text),
            "[INPUT]\n    Name dummy\n\n\n\n[OUTPUT]\n    Name null\n"
        );
    }

    #[test]
    fn yaml_item_goes_or_gives_way_to_a_placeholder() {
        let two = "pipeline:\n  inputs:\n    - name: dummy\n    - name: opamp\n      endpoint: x\n  outputs:\n    - name: null\n";
        assert_eq!(
            apply(Format::Yaml, two),
            "pipeline:\n  inputs:\n    - name: dummy\n  outputs:\n    - name: null\n"
        );
        let only = "pipeline:\n  inputs:\n    - name: opamp\n      endpoint: x\n  outputs:\n    - name: null\n";
        assert_eq!(
            apply(Format::Yaml, only),
            "pipeline:\n  inputs:\n    - {name: dummy}\n  outputs:\n    - name: null\n"
        );
        let flow = "pipeline:\n  inputs: [{name: dummy}, {name: opamp}]\n";
        assert_eq!(
            apply(Format::Yaml, flow),
            "pipeline:\n  inputs: [{name: dummy}, {name: dummy}]\n"
        );
    }
}
