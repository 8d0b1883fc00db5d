//! Config shapes on which the old hand-written readers disagreed with
//! Fluent Bit (checked with 2.2.3, 3.2.10, 4.2.8 and 5.1.1; see
//! tests/fbconf_differential.rs), now read the way Fluent Bit reads them.

use std::path::{Path, PathBuf};

use fluent_bit_opamp::config::section::sections_from_file;
use fluent_bit_opamp::fbconf::files::{read_checked, read_files};
use fluent_bit_opamp::fbconf::Format;
use fluent_bit_opamp::remote::scan::{scan, What};
use fluent_bit_opamp::status::redact::Redactor;

fn case(name: &str, file: &str) -> PathBuf {
    Path::new("tests/fixtures/fbconf").join(name).join(file)
}

fn keys(main: &Path) -> Vec<String> {
    read_files(main)
        .unwrap()
        .into_iter()
        .map(|f| f.key)
        .collect()
}

#[test]
fn an_indented_include_is_a_key_not_an_include() {
    // The old effective-config reader trimmed lines first and reported
    // out.conf; Fluent Bit reads `@INCLUDE out.conf` as a [SERVICE] key.
    assert_eq!(
        keys(&case("classic_include_indented", "main.conf")),
        ["main.conf"]
    );
}

#[test]
fn an_include_with_a_tab_fails_the_file() {
    // The old scanner and property reader took a tab as the separator;
    // Fluent Bit wants "@INCLUDE " and refuses the meta line otherwise.
    let main = case("classic_include_tab", "main.conf");
    assert!(!read_checked(&main).unwrap().problems.is_empty());
    let text = std::fs::read_to_string(&main).unwrap();
    assert!(scan(Format::Classic, &text)
        .iter()
        .any(|f| matches!(f.what, What::Unreadable(_))));
}

#[test]
fn included_files_are_read_in_the_including_files_format() {
    // The old readers chose by each file's own extension.
    let files = read_files(&case("classic_include_yaml_ext", "main.conf")).unwrap();
    assert_eq!(files[1].format, Format::Classic);
    let files = read_files(&case("yaml_include_conf_ext", "main.yaml")).unwrap();
    assert_eq!(files[1].format, Format::Yaml);
}

#[test]
fn yaml_flow_includes_over_several_lines_are_followed() {
    // The old reader only knew one-line `[a, b]` lists.
    assert_eq!(
        keys(&case("yaml_includes_flow_multiline", "main.yaml")),
        ["main.yaml", "in.yaml", "out.yaml"]
    );
}

#[test]
fn include_cycles_are_errors_as_in_fluent_bit() {
    // The old reader skipped the repeat silently; Fluent Bit refuses it.
    let c = read_checked(&case("classic_include_cycle", "main.conf")).unwrap();
    assert!(c.problems.iter().any(|p| p.contains("read twice")), "{c:?}");
}

fn temp(name: &str, text: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("opamp-fbconf-reg-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_flow_style_opamp_input_is_found() {
    // The old property reader missed `- {name: opamp, ...}`.
    let p = temp(
        "flow.yaml",
        "pipeline:\n  inputs:\n    - {name: opamp, endpoint: \"ws://h:1/v1/opamp\", header: [A b, C d]}\n",
    );
    let found = sections_from_file(&p).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].get("endpoint"), Some("ws://h:1/v1/opamp"));
    assert_eq!(found[0].all("header").count(), 2);
}

#[test]
fn a_quoted_include_with_a_hash_is_one_path() {
    // The old reader cut `- "a #b.yaml"` at " #".
    let p = temp("hash.yaml", "includes:\n  - \"in #1.yaml\"\n");
    temp("in #1.yaml", "pipeline:\n  inputs:\n    - name: dummy\n");
    assert_eq!(keys(&p), ["hash.yaml", "in #1.yaml"]);
}

#[test]
fn secrets_in_flow_lists_and_after_unicode_line_breaks_are_hidden() {
    let r = Redactor::new(&[]);
    // The old redactor only looked into `{...}` values on one line.
    let out = r.redact(
        "pipeline:\n  outputs: [{name: es, http_passwd: s3cr3t}]\n",
        true,
    );
    assert!(!out.contains("s3cr3t"), "{out}");
    // libyaml (so Fluent Bit) breaks lines at U+2028; the old redactor
    // read this as one value of `tag`.
    let out = r.redact(
        "outputs:\n  - tag: a\u{2028}    http_passwd: hunter2\n",
        true,
    );
    assert!(!out.contains("hunter2"), "{out}");
}
