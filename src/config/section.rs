//! Finds the `opamp` input's own lines in Fluent Bit's configuration.
//!
//! The proxy ABI only answers `input_get_property(key)` with the first value
//! of a key Fluent Bit did not consume itself. That loses repeated keys
//! (`header`, `agent_attribute`), hides the `tls.*` keys (Fluent Bit takes
//! those for every input) and cannot list keys, so a typo would pass
//! silently. We therefore read the section ourselves, from the bootstrap
//! file named on the command line (classic or YAML, following includes,
//! through the one config reader in `fbconf`) or from `-i opamp -p
//! key=value` arguments.

use std::path::{Path, PathBuf};

use super::properties::RawProperties;
use crate::fbconf::files::read_files;
use crate::fbconf::vars::expand_vars;
use crate::fbconf::view::{view, View};

/// Where the section was found, for log messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    CommandLine,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub origin: Origin,
    pub properties: RawProperties,
}

/// The bootstrap config path from Fluent Bit's argv (`-c F`, `--config F`, `--config=F`).
pub fn config_path_from_args(args: &[String]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        if a == "-c" || a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(p) = a.strip_prefix("--config=") {
            return Some(PathBuf::from(p));
        }
        if let Some(p) = a.strip_prefix("-c").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
    }
    None
}

/// `-i opamp -p k=v -p k2=v2` sections from argv. Every `-p` after an `-i`
/// belongs to that input until the next `-i`, `-o` or `-F`.
pub fn sections_from_args(args: &[String]) -> Vec<RawProperties> {
    let mut out = Vec::new();
    let mut current: Option<RawProperties> = None;
    let mut it = args.iter().skip(1).peekable();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-i" | "--input" | "-o" | "--output" | "-F" | "--filter" => {
                if let Some(done) = current.take() {
                    out.push(done);
                }
                let name = it.next().map(String::as_str).unwrap_or("");
                if (a == "-i" || a == "--input") && name.eq_ignore_ascii_case("opamp") {
                    let mut p = RawProperties::default();
                    p.push("name", "opamp");
                    current = Some(p);
                }
            }
            "-p" | "--prop" => {
                if let (Some(p), Some(kv)) = (current.as_mut(), it.next()) {
                    if let Some((k, v)) = kv.split_once('=') {
                        p.push(k.trim(), v.trim());
                    }
                }
            }
            _ => {}
        }
    }
    out.extend(current);
    out
}

/// The `opamp` sections of a config file and everything it includes, as
/// the config reader sees them. `${VAR}`s expand from every file's `@SET`
/// or `env:` (Fluent Bit applies them all before any section), then the
/// environment.
pub fn sections_from_file(path: &Path) -> std::io::Result<Vec<RawProperties>> {
    let views: Vec<View> = read_files(path)?
        .iter()
        .map(|f| view(f.format, &f.text))
        .collect();
    let vars: Vec<(String, String)> = views.iter().flat_map(|v| v.vars.clone()).collect();
    Ok(views
        .iter()
        .flat_map(|v| opamp_sections(v, &vars))
        .collect())
}

/// `[INPUT]` sections (or `inputs:` items) named `opamp`, each key once per
/// value (a YAML list gives a repeated key).
fn opamp_sections(v: &View, vars: &[(String, String)]) -> Vec<RawProperties> {
    v.sections
        .iter()
        .filter(|s| s.kind == "INPUT")
        .filter(|s| {
            s.get("name")
                .is_some_and(|n| n.eq_ignore_ascii_case("opamp"))
        })
        .map(|s| {
            let mut props = RawProperties::default();
            for p in &s.props {
                for value in &p.values {
                    props.push(&p.key, &expand_vars(value, vars));
                }
            }
            props
        })
        .collect()
}

/// All `opamp` sections visible to this process: from the config file
/// (explicit path first) or from the command line.
pub fn find_sections(
    explicit: Option<&Path>,
    args: &[String],
) -> Option<(Origin, Vec<RawProperties>)> {
    let path = explicit
        .map(Path::to_path_buf)
        .or_else(|| config_path_from_args(args));
    if let Some(p) = path {
        if let Ok(found) = sections_from_file(&p) {
            if !found.is_empty() {
                return Some((Origin::File(p), found));
            }
        }
    }
    let from_args = sections_from_args(args);
    (!from_args.is_empty()).then_some((Origin::CommandLine, from_args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fbconf::files::includes_of;
    use crate::fbconf::Format;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn config_path_forms() {
        assert_eq!(
            config_path_from_args(&args("fb -c /a.conf")),
            Some("/a.conf".into())
        );
        assert_eq!(
            config_path_from_args(&args("fb --config=/b.yaml")),
            Some("/b.yaml".into())
        );
        assert_eq!(
            config_path_from_args(&args("fb --config /c")),
            Some("/c".into())
        );
        assert_eq!(config_path_from_args(&args("fb -i dummy")), None);
    }

    #[test]
    fn command_line_section() {
        let s = sections_from_args(&args(
            "fb -e /p.so -i opamp -p endpoint=ws://x -p header=A b -i dummy -p rate=1 -o stdout",
        ));
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].get("endpoint"), Some("ws://x"));
        assert_eq!(s[0].get("header"), Some("A"));
        assert_eq!(s[0].get("rate"), None);
    }

    fn sections_in(format: Format, text: &str) -> Vec<RawProperties> {
        let v = view(format, text);
        opamp_sections(&v, &v.vars)
    }

    #[test]
    fn classic_section_with_repeats_vars_and_tls() {
        let text = "@SET TOKEN=abc\n[SERVICE]\n    Flush 1\n[INPUT]\n    Name   opamp\n    Endpoint wss://h/v1\n    header Authorization Bearer ${TOKEN}\n    header X-A b\n    tls.verify off\n    # comment\n[INPUT]\n    Name dummy\n@INCLUDE managed.conf\n";
        let inc = includes_of(text, Format::Classic);
        assert_eq!(inc, vec!["managed.conf".to_string()]);
        let out = sections_in(Format::Classic, text);
        assert_eq!(out.len(), 1);
        let p = &out[0];
        assert_eq!(
            p.all("header").collect::<Vec<_>>(),
            vec!["Authorization Bearer abc", "X-A b"]
        );
        assert_eq!(p.get("tls.verify"), Some("off"));
        assert_eq!(p.get("endpoint"), Some("wss://h/v1"));
    }

    #[test]
    fn yaml_section_with_lists() {
        let text = r#"
env:
  TOKEN: xyz
includes:
  - managed.yaml
pipeline:
  inputs:
    - name: dummy
      rate: 1
    - name: opamp   # the agent
      endpoint: "ws://127.0.0.1:4320/v1/opamp"
      header:
        - Authorization Bearer ${TOKEN}
        - X-B c
      agent_attribute: [a 1, b 2]
      tls.verify: off
      processors:
        logs:
          - name: grep
  outputs:
    - name: stdout
"#;
        let inc = includes_of(text, Format::Yaml);
        assert_eq!(inc, vec!["managed.yaml".to_string()]);
        let out = sections_in(Format::Yaml, text);
        assert_eq!(out.len(), 1);
        let p = &out[0];
        assert_eq!(p.get("endpoint"), Some("ws://127.0.0.1:4320/v1/opamp"));
        assert_eq!(
            p.all("header").collect::<Vec<_>>(),
            vec!["Authorization Bearer xyz", "X-B c"]
        );
        assert_eq!(p.all("agent_attribute").count(), 2);
        assert_eq!(p.get("tls.verify"), Some("off"));
        assert_eq!(p.unknown_keys(), Vec::<String>::new());
    }

    #[test]
    fn sections_follow_includes() {
        let dir = std::env::temp_dir().join(format!("opamp-section-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        std::fs::write(
            dir.join("main.conf"),
            "[SERVICE]\n  Flush 1\n@INCLUDE conf.d/*.conf\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("conf.d/opamp.conf"),
            "[INPUT]\n  Name opamp\n  endpont ws://x\n",
        )
        .unwrap();
        let found = sections_from_file(&dir.join("main.conf")).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].unknown_keys(), vec!["endpont".to_string()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
