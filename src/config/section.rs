//! Finds the `opamp` input's own lines in Fluent Bit's configuration.
//!
//! The proxy ABI only answers `input_get_property(key)` with the first value
//! of a key Fluent Bit did not consume itself. That loses repeated keys
//! (`header`, `agent_attribute`), hides the `tls.*` keys (Fluent Bit takes
//! those for every input) and cannot list keys, so a typo would pass
//! silently. We therefore read the section ourselves, from the bootstrap
//! file named on the command line (classic or YAML, following includes) or
//! from `-i opamp -p key=value` arguments.

use std::path::{Path, PathBuf};

use super::properties::RawProperties;
use super::text::{strip_comment, unquote};

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

/// Expand `${NAME}` from @SET variables first, then the environment, as
/// Fluent Bit does. Unknown names expand to nothing.
pub fn expand_vars(value: &str, vars: &[(String, String)]) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        match rest[start + 2..].find('}') {
            Some(end) => {
                let name = &rest[start + 2..start + 2 + end];
                if let Some((_, v)) = vars.iter().find(|(k, _)| k == name) {
                    out.push_str(v);
                } else if let Ok(v) = std::env::var(name) {
                    out.push_str(&v);
                }
                rest = &rest[start + 3 + end..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

pub fn is_yaml_path(p: &Path) -> bool {
    matches!(
        p.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("yaml") | Some("yml")
    )
}

/// The `opamp` sections of a config file and everything it includes, read
/// with the same include resolution as the effective-config report (which
/// follows Fluent Bit's: classic includes resolve against the bootstrap's
/// folder, YAML ones against the including file's).
pub fn sections_from_file(path: &Path) -> std::io::Result<Vec<RawProperties>> {
    let mut out = Vec::new();
    let mut vars = Vec::new();
    for file in crate::status::effective_config::read_files(path)? {
        if file.yaml {
            yaml_sections(&file.text, &mut out, &mut vars);
        } else {
            classic_sections(&file.text, &mut out, &mut vars);
        }
    }
    Ok(out)
}

/// Classic format: returns the @INCLUDE patterns it saw.
fn classic_sections(
    text: &str,
    out: &mut Vec<RawProperties>,
    vars: &mut Vec<(String, String)>,
) -> Vec<String> {
    let mut includes = Vec::new();
    let mut section: Option<(String, RawProperties)> = None;
    let flush = |s: Option<(String, RawProperties)>, out: &mut Vec<RawProperties>| {
        if let Some((kind, props)) = s {
            let is_opamp = props
                .get("name")
                .is_some_and(|n| n.eq_ignore_ascii_case("opamp"));
            if kind == "INPUT" && is_opamp {
                out.push(props);
            }
        }
    };
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some(rest) = t.strip_prefix('@') {
            let (cmd, arg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            if cmd.eq_ignore_ascii_case("include") {
                includes.push(arg.trim().to_string());
            } else if cmd.eq_ignore_ascii_case("set") {
                if let Some((k, v)) = arg.split_once('=') {
                    vars.push((k.trim().to_string(), v.trim().to_string()));
                }
            }
            continue;
        }
        if t.starts_with('[') && t.ends_with(']') {
            flush(section.take(), out);
            section = Some((
                t[1..t.len() - 1].trim().to_ascii_uppercase(),
                RawProperties::default(),
            ));
            continue;
        }
        if let Some((_, props)) = section.as_mut() {
            let (k, v) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
            props.push(k, &expand_vars(v.trim(), vars));
        }
    }
    flush(section.take(), out);
    includes
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// YAML format, read line by line: the shapes Fluent Bit documents (block
/// maps and lists, `[a, b]` flow lists, quoted scalars). Returns the
/// `includes:` entries it saw.
fn yaml_sections(
    text: &str,
    out: &mut Vec<RawProperties>,
    vars: &mut Vec<(String, String)>,
) -> Vec<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(|l| strip_comment(l).trim_end())
        .filter(|l| !l.trim().is_empty())
        .collect();
    let mut includes = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim();
        let ind = indent_of(line);
        if ind == 0 && (t == "includes:" || t == "env:") {
            let top = t.to_string();
            i += 1;
            while i < lines.len() && indent_of(lines[i]) > 0 {
                let item = lines[i].trim();
                if top == "includes:" {
                    if let Some(v) = item.strip_prefix("- ") {
                        includes.push(unquote(v).to_string());
                    }
                } else if let Some((k, v)) = item.split_once(':') {
                    vars.push((k.trim().to_string(), unquote(v).to_string()));
                }
                i += 1;
            }
            continue;
        }
        if t == "inputs:" {
            i += 1;
            while i < lines.len() && indent_of(lines[i]) > ind {
                let item_line = lines[i];
                let item_ind = indent_of(item_line);
                let Some(first) = item_line.trim().strip_prefix("- ") else {
                    i += 1;
                    continue;
                };
                let key_ind = item_ind + 2;
                let mut item: Vec<&str> = vec![first];
                i += 1;
                while i < lines.len() && indent_of(lines[i]) >= key_ind {
                    item.push(&lines[i][key_ind.min(lines[i].len())..]);
                    i += 1;
                }
                let props = yaml_item(&item, vars);
                if props
                    .get("name")
                    .is_some_and(|n| n.eq_ignore_ascii_case("opamp"))
                {
                    out.push(props);
                }
            }
            continue;
        }
        i += 1;
    }
    includes
}

/// One list item of `inputs:`, its lines re-indented to the item's keys.
fn yaml_item(lines: &[&str], vars: &[(String, String)]) -> RawProperties {
    let mut props = RawProperties::default();
    let mut j = 0;
    while j < lines.len() {
        let l = lines[j];
        j += 1;
        if l.starts_with(' ') {
            continue; // nested content of a key we do not model (processors)
        }
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if v.is_empty() {
            // Block list: each `- value` becomes one occurrence of the key.
            while j < lines.len() && lines[j].starts_with(' ') {
                if let Some(item) = lines[j].trim().strip_prefix("- ") {
                    props.push(k, &expand_vars(unquote(item), vars));
                }
                j += 1;
            }
        } else if v.starts_with('[') && v.ends_with(']') {
            for item in v[1..v.len() - 1]
                .split(',')
                .filter(|s| !s.trim().is_empty())
            {
                props.push(k, &expand_vars(unquote(item), vars));
            }
        } else {
            props.push(k, &expand_vars(unquote(v), vars));
        }
    }
    props
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

    #[test]
    fn classic_section_with_repeats_vars_and_tls() {
        let mut out = Vec::new();
        let mut vars = Vec::new();
        let text = "@SET TOKEN=abc\n[SERVICE]\n    Flush 1\n[INPUT]\n    Name   opamp\n    Endpoint wss://h/v1\n    header Authorization Bearer ${TOKEN}\n    header X-A b\n    tls.verify off\n    # comment\n[INPUT]\n    Name dummy\n@INCLUDE managed.conf\n";
        let inc = classic_sections(text, &mut out, &mut vars);
        assert_eq!(inc, vec!["managed.conf".to_string()]);
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
        let mut out = Vec::new();
        let mut vars = Vec::new();
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
        let inc = yaml_sections(text, &mut out, &mut vars);
        assert_eq!(inc, vec!["managed.yaml".to_string()]);
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
