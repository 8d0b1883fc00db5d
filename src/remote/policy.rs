//! The operator's rules for remote configs, applied before anything is
//! written. Pure: a config map in, a candidate or a rejection out.
//!
//! The server never changes these rules: they come from the bootstrap's
//! `[INPUT] opamp` section only.

use std::path::{Path, PathBuf};

use super::keys;
use super::paths::{self, AllowPaths};
use super::scan::{self, What};
use crate::config::properties::{PluginPolicy, Settings};
/// Re-exported: the format is the config reader's, the policy only uses it.
pub use crate::fbconf::Format;
use crate::proto::AgentConfigMap;

pub use crate::config::properties::DEFAULT_DENY_PLUGINS;

/// Why each default entry is there, for messages and the README.
pub fn deny_reason(plugin: &str) -> Option<&'static str> {
    Some(match plugin {
        "exec" => "runs shell commands",
        "exec_wasi" => "runs a WebAssembly (WASI) program",
        "lua" => "runs Lua code (inline 'code' or a 'script' file)",
        "wasm" => "runs a WebAssembly program",
        "tensorflow" => "loads and runs a model file, which the server could ship",
        "calyptia" | "calyptia_fleet" => {
            "fetches configs from another server and reloads, bypassing this policy"
        }
        "exit" => "makes Fluent Bit exit, which under a restarter is a crash loop",
        "file" => {
            "writes files anywhere the process may (e.g. /etc/cron.d), a path to running commands"
        }
        _ => return None,
    })
}

/// Our own input: a second one would fight the bootstrap's for the agent.
const OWN_PLUGIN: &str = "opamp";

/// The rule a rejection broke, named as the operator configures it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    RemoteConfig,
    MaxConfigSize,
    MainFile,
    ConfigKey,
    Format,
    DenyPlugins,
    AllowPlugins,
    PluginLibraries,
    HotReload,
    Include,
    AllowPaths,
    OpampSection,
    Unreadable,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::RemoteConfig => "remote_config",
            Rule::MaxConfigSize => "max_config_size",
            Rule::MainFile => "main file",
            Rule::ConfigKey => "config key",
            Rule::Format => "format",
            Rule::DenyPlugins => "deny_plugins",
            Rule::AllowPlugins => "allow_plugins",
            Rule::PluginLibraries => "plugin libraries",
            Rule::HotReload => "hot_reload",
            Rule::Include => "includes",
            Rule::AllowPaths => "allow_paths",
            Rule::OpampSection => "opamp section",
            Rule::Unreadable => "unreadable config",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub rule: Rule,
    pub detail: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refused by policy ({}): {}",
            self.rule.name(),
            self.detail
        )
    }
}

/// `allow_paths`: `any`, the operator's list, or by default the managed
/// folder, the plugin's own state folders that remote configs reference
/// (packages, destinations) and the common log folders.
fn allow_paths(s: &Settings, managed: &Path) -> AllowPaths {
    match &s.allow_paths {
        Some(list) if list.iter().any(|d| d == "any") => AllowPaths::Any,
        Some(list) => AllowPaths::Under(list.iter().map(PathBuf::from).collect()),
        None => {
            let mut dirs = vec![managed_folder(managed)];
            for sub in ["packages", "other_connections", "own_telemetry"] {
                dirs.push(s.state_dir.join(sub));
            }
            dirs.extend(paths::DEFAULT_DIRS.iter().map(PathBuf::from));
            AllowPaths::Under(dirs)
        }
    }
}

fn reject<T>(rule: Rule, detail: impl Into<String>) -> Result<T, Rejection> {
    Err(Rejection {
        rule,
        detail: detail.into(),
    })
}

/// A config that passed the policy: what the managed file and folder get.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Candidate {
    pub main: Vec<u8>,
    /// (key, body), sorted by key.
    pub files: Vec<(String, Vec<u8>)>,
}

impl Candidate {
    /// The files of a checked map; `main_key` names the main file.
    fn from_map(map: Option<AgentConfigMap>, main_key: Option<String>) -> Candidate {
        let (Some(map), Some(main_key)) = (map, main_key) else {
            return Candidate::default();
        };
        let mut c = Candidate::default();
        // BTreeMap order: the other files come out sorted by key.
        for (k, f) in map.config_map {
            if k == main_key {
                c.main = f.body;
            } else {
                c.files.push((k, f.body));
            }
        }
        c
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub enabled: bool,
    /// The bootstrap's format, which every remote file must share: classic
    /// `@INCLUDE` reads any file as classic, YAML `includes:` as YAML.
    pub format: Format,
    /// The managed file's own name, accepted as the main file's key.
    pub main_name: String,
    /// The managed folder, for the length of the paths keys land at.
    pub folder: PathBuf,
    pub plugins: PluginPolicy,
    pub max_size: usize,
    /// Where file properties may point.
    pub paths: AllowPaths,
}

impl Policy {
    /// The policy the operator configured. `bootstrap` is the config file
    /// Fluent Bit was started with, when known.
    pub fn from_settings(s: &Settings, bootstrap: Option<&Path>) -> Policy {
        let managed = s.managed_config.clone().unwrap_or_default();
        Policy {
            enabled: s.remote_config && s.managed_config.is_some(),
            format: Format::of_path(bootstrap.unwrap_or(&managed)),
            main_name: file_name(&managed),
            folder: managed_folder(&managed),
            plugins: s.plugin_policy.clone(),
            max_size: s.max_config_size,
            paths: allow_paths(s, &managed),
        }
    }

    /// Checks `map` and copies it into a candidate.
    pub fn check(&self, map: Option<&AgentConfigMap>) -> Result<Candidate, Rejection> {
        let main_key = self.rules(map)?;
        Ok(Candidate::from_map(map.cloned(), main_key))
    }

    /// Checks `map` and moves its files into a candidate: a large config is
    /// not held twice.
    pub fn take(&self, map: Option<AgentConfigMap>) -> Result<Candidate, Rejection> {
        let main_key = self.rules(map.as_ref())?;
        Ok(Candidate::from_map(map, main_key))
    }

    /// Checks `map` without keeping anything of it.
    pub fn allows(&self, map: Option<&AgentConfigMap>) -> Result<(), Rejection> {
        self.rules(map).map(drop)
    }

    /// Every rule; the main file's key when there are files at all.
    fn rules(&self, map: Option<&AgentConfigMap>) -> Result<Option<String>, Rejection> {
        if !self.enabled {
            return reject(
                Rule::RemoteConfig,
                "this agent does not accept remote config; the operator turns it on with \
                 'remote_config on' and 'managed_config' in the bootstrap's opamp section",
            );
        }
        let Some(map) = map.filter(|m| !m.config_map.is_empty()) else {
            // No remote pipeline: the managed file becomes empty.
            return Ok(None);
        };
        let entries = &map.config_map;

        let total: usize = entries.iter().map(|(k, f)| k.len() + f.body.len()).sum();
        if total > self.max_size {
            return reject(
                Rule::MaxConfigSize,
                format!(
                    "the config is {total} bytes, more than max_config_size ({} bytes)",
                    self.max_size
                ),
            );
        }

        let is_main = |k: &str| k.is_empty() || k == self.main_name;
        let mains: Vec<&String> = entries.keys().filter(|k| is_main(k)).collect();
        let main_key = match mains.as_slice() {
            [one] => (*one).clone(),
            [] => {
                return reject(
                    Rule::MainFile,
                    format!(
                        "no main file: give the pipeline the key '' or '{}'",
                        self.main_name.escape_default()
                    ),
                )
            }
            _ => {
                return reject(
                    Rule::MainFile,
                    format!(
                        "both '' and '{}' are given; send one main file",
                        self.main_name.escape_default()
                    ),
                )
            }
        };

        let others: Vec<&str> = entries
            .keys()
            .map(String::as_str)
            .filter(|k| !is_main(k))
            .collect();
        for k in &others {
            if let Err(e) = keys::check(k) {
                return reject(Rule::ConfigKey, e);
            }
            let full = self.folder.join(k).as_os_str().len();
            if full >= keys::MAX_PATH {
                return reject(
                    Rule::ConfigKey,
                    format!(
                        "key {} makes a path longer than {} bytes",
                        keys::shown(k),
                        keys::MAX_PATH
                    ),
                );
            }
        }
        if let Some((a, b)) = keys::conflict(&others) {
            return reject(
                Rule::ConfigKey,
                format!(
                    "key {} is a file and also the folder of {}",
                    keys::shown(a),
                    keys::shown(b)
                ),
            );
        }

        let main = &entries[&main_key];
        let announced =
            Format::from_content_type(&main.content_type).or_else(|e| reject(Rule::Format, e))?;
        if announced != self.format {
            return reject(
                Rule::Format,
                format!(
                    "the main file is {} (content_type '{}') but the bootstrap config is {}; send a {} config",
                    announced.name(),
                    main.content_type.escape_default(),
                    self.format.name(),
                    self.format.name()
                ),
            );
        }

        for (k, f) in entries {
            let key = (!is_main(k)).then_some(k.as_str());
            self.check_file(key, &String::from_utf8_lossy(&f.body))?;
        }

        Ok(Some(main_key))
    }

    /// `key` is `None` for the main file.
    fn check_file(&self, key: Option<&str>, text: &str) -> Result<(), Rejection> {
        let file = keys::shown(key.unwrap_or(&self.main_name));
        for f in scan::scan(self.format, text) {
            let at = format!("{file} line {}", f.line);
            match f.what {
                What::Plugin(p) if p == OWN_PLUGIN => {
                    return reject(
                        Rule::OpampSection,
                        format!("{at} declares an opamp input; only the bootstrap may"),
                    )
                }
                What::Plugin(p) => match &self.plugins {
                    PluginPolicy::Deny(list) if listed(list, &p) => {
                        let why = deny_reason(&p).map(|r| format!(": it {r}")).unwrap_or_default();
                        return reject(
                            Rule::DenyPlugins,
                            format!("plugin '{}' ({at}) is on the deny list{why}", p.escape_default()),
                        );
                    }
                    PluginPolicy::Allow(list) if !listed(list, &p) => {
                        return reject(
                            Rule::AllowPlugins,
                            format!("plugin '{}' ({at}) is not on the allow list", p.escape_default()),
                        );
                    }
                    _ => {}
                },
                What::LoadsLibraries => {
                    return reject(
                        Rule::PluginLibraries,
                        format!("{at} loads plugin libraries ([PLUGINS], plugins: or plugins_file); only the bootstrap may"),
                    )
                }
                What::HotReloadSetting => {
                    return reject(
                        Rule::HotReload,
                        format!("{at} sets hot_reload; only the bootstrap may, as remote config depends on it"),
                    )
                }
                What::Include(path) => {
                    if let Err(why) = self.include_stays_inside(key, &path) {
                        return reject(Rule::Include, format!("{at} includes {}: {why}", keys::shown(&path)));
                    }
                }
                What::Unreadable(why) => {
                    return reject(Rule::Unreadable, format!("{at}: {why}"));
                }
            }
        }
        self.check_paths(&file, text)
    }
}

impl Policy {
    /// Remote files may include only each other: anything else could be a
    /// file written by other means, or one whose content would come back
    /// in an error message.
    /// Every file property of every section under `allow_paths`.
    fn check_paths(&self, file: &str, text: &str) -> Result<(), Rejection> {
        if self.paths == AllowPaths::Any {
            return Ok(());
        }
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        for sec in crate::fbconf::view::view(self.format, text).sections {
            if let Err(e) = self.paths.check_section(&sec, &cwd) {
                let what = sec.get("name").unwrap_or(&sec.kind).to_string();
                return reject(
                    Rule::AllowPaths,
                    format!(
                        "'{}' of {} '{}' ({file} line {}): {}",
                        e.key.escape_default(),
                        sec.kind.to_ascii_lowercase(),
                        what.escape_default(),
                        e.line,
                        e.why
                    ),
                );
            }
        }
        Ok(())
    }

    fn include_stays_inside(&self, from: Option<&str>, path: &str) -> Result<(), String> {
        if path.contains('$') {
            return Err("include paths may not use variables".into());
        }
        let p = Path::new(path);
        if p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err("'..' is not allowed".into());
        }
        let folder = file_name(&self.folder);
        let inside = if p.is_absolute() {
            p.starts_with(&self.folder)
        } else if self.format == Format::Yaml && from.is_some() {
            // YAML resolves against the including file's folder, which is
            // already inside the managed folder.
            true
        } else {
            // The main file sits beside the folder; classic resolves every
            // include against the working or the bootstrap's folder.
            p.starts_with(&folder)
        };
        if inside {
            Ok(())
        } else {
            Err(format!(
                "remote configs may include only their own files, as '{}/<key>'",
                folder.escape_default()
            ))
        }
    }
}

fn listed(list: &[String], plugin: &str) -> bool {
    list.iter().any(|e| scan::normalize(e) == plugin)
}

pub fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `<dir>/<stem>.d`: the managed folder beside the managed file.
pub fn managed_folder(managed: &Path) -> PathBuf {
    let stem = managed
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    managed.with_file_name(format!("{stem}.d"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::AgentConfigFile;

    fn policy(format: Format) -> Policy {
        Policy {
            enabled: true,
            format,
            main_name: "managed.conf".into(),
            folder: PathBuf::from("/etc/fb/managed.d"),
            plugins: PluginPolicy::Deny(
                DEFAULT_DENY_PLUGINS.split(',').map(String::from).collect(),
            ),
            max_size: 1 << 20,
            paths: AllowPaths::Any,
        }
    }

    fn map(entries: &[(&str, &str, &str)]) -> AgentConfigMap {
        AgentConfigMap {
            config_map: entries
                .iter()
                .map(|(k, body, ct)| {
                    (
                        k.to_string(),
                        AgentConfigFile {
                            body: body.as_bytes().to_vec(),
                            content_type: ct.to_string(),
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn main_and_other_files_split() {
        let m = map(&[
            ("", "[INPUT]\n    Name dummy\n", ""),
            ("parsers.conf", "[PARSER]\n    Name exec\n", ""),
        ]);
        let c = policy(Format::Classic).check(Some(&m)).unwrap();
        assert_eq!(c.main, b"[INPUT]\n    Name dummy\n");
        assert_eq!(
            c.files,
            vec![(
                "parsers.conf".to_string(),
                b"[PARSER]\n    Name exec\n".to_vec()
            )]
        );
        let m = map(&[("managed.conf", "", "text/plain")]);
        assert_eq!(
            policy(Format::Classic).check(Some(&m)).unwrap(),
            Candidate::default()
        );
    }

    #[test]
    fn empty_map_means_empty_managed_file() {
        assert_eq!(
            policy(Format::Yaml).check(None).unwrap(),
            Candidate::default()
        );
        assert_eq!(
            policy(Format::Yaml).check(Some(&map(&[]))).unwrap(),
            Candidate::default()
        );
    }

    #[test]
    fn disabled_refuses_everything() {
        let p = Policy {
            enabled: false,
            ..policy(Format::Classic)
        };
        let e = p.check(None).unwrap_err();
        assert_eq!(e.rule, Rule::RemoteConfig);
        assert!(e.to_string().contains("remote_config on"), "{e}");
    }

    #[test]
    fn main_file_must_be_there_once() {
        let e = policy(Format::Classic)
            .check(Some(&map(&[("other.conf", "", "")])))
            .unwrap_err();
        assert_eq!(e.rule, Rule::MainFile);
        let e = policy(Format::Classic)
            .check(Some(&map(&[("", "", ""), ("managed.conf", "", "")])))
            .unwrap_err();
        assert_eq!(e.rule, Rule::MainFile);
    }

    #[test]
    fn format_must_match_the_bootstrap() {
        let yaml = map(&[("", "pipeline:\n", "text/yaml")]);
        let e = policy(Format::Classic).check(Some(&yaml)).unwrap_err();
        assert_eq!(e.rule, Rule::Format);
        assert!(
            e.detail.contains("YAML") && e.detail.contains("classic"),
            "{e}"
        );
        assert!(policy(Format::Yaml).check(Some(&yaml)).is_ok());
        let app = map(&[("", "pipeline:\n", "application/yaml; charset=utf-8")]);
        assert!(policy(Format::Yaml).check(Some(&app)).is_ok());
        for ct in ["", "text/plain", "text/x-fluent-bit"] {
            let classic = map(&[("", "[INPUT]\n    Name dummy\n", ct)]);
            assert_eq!(
                policy(Format::Yaml).check(Some(&classic)).unwrap_err().rule,
                Rule::Format
            );
            assert!(policy(Format::Classic).check(Some(&classic)).is_ok());
        }
        let json = map(&[("", "{}", "application/json")]);
        let e = policy(Format::Classic).check(Some(&json)).unwrap_err();
        assert!(e.detail.contains("application/json"), "{e}");
    }

    #[test]
    fn size_counts_every_file() {
        let p = Policy {
            max_size: 100,
            paths: AllowPaths::Any,
            ..policy(Format::Classic)
        };
        // A comment line: the scanner refuses text Fluent Bit would refuse.
        let big = format!("#{}", "x".repeat(59));
        let e = p
            .check(Some(&map(&[("", &big, ""), ("a.conf", &big, "")])))
            .unwrap_err();
        assert_eq!(e.rule, Rule::MaxConfigSize);
        assert!(e.detail.contains("max_config_size"));
        assert!(p.check(Some(&map(&[("", &big, "")]))).is_ok());
    }

    #[test]
    fn bad_keys_are_refused_by_rule() {
        for k in [
            "/abs.conf",
            "../up.conf",
            "a/../../b",
            "nul\0.conf",
            ".hidden",
        ] {
            let e = policy(Format::Classic)
                .check(Some(&map(&[("", "", ""), (k, "", "")])))
                .unwrap_err();
            assert_eq!(e.rule, Rule::ConfigKey, "{k:?}");
        }
        let e = policy(Format::Classic)
            .check(Some(&map(&[("", "", ""), ("a", "", ""), ("a/b", "", "")])))
            .unwrap_err();
        assert_eq!(e.rule, Rule::ConfigKey);
        // Short enough as a key, too long once placed in the folder.
        let deep = vec!["d".repeat(254); 16].join("/");
        assert!(keys::check(&deep).is_ok());
        let e = policy(Format::Classic)
            .check(Some(&map(&[("", "", ""), (&deep, "", "")])))
            .unwrap_err();
        assert!(e.detail.contains("makes a path longer"), "{e}");
    }

    #[test]
    fn denied_plugin_in_any_file_names_plugin_rule_and_line() {
        let m = map(&[
            ("", "[INPUT]\n    Name dummy\n", ""),
            ("extra.conf", "[FILTER]\n    Name lua\n", ""),
        ]);
        let e = policy(Format::Classic).check(Some(&m)).unwrap_err();
        assert_eq!(e.rule, Rule::DenyPlugins);
        assert!(e.to_string().contains("deny_plugins"), "{e}");
        assert!(
            e.detail.contains("'lua'") && e.detail.contains("'extra.conf' line 2"),
            "{e}"
        );
    }

    #[test]
    fn allow_list_replaces_deny_list() {
        let p = Policy {
            plugins: PluginPolicy::Allow(vec!["dummy".into(), "stdout".into()]),
            ..policy(Format::Classic)
        };
        let ok = map(&[(
            "",
            "[INPUT]\n    Name dummy\n[OUTPUT]\n    Name stdout\n",
            "",
        )]);
        assert!(p.check(Some(&ok)).is_ok());
        let bad = map(&[("", "[INPUT]\n    Name tail\n", "")]);
        let e = p.check(Some(&bad)).unwrap_err();
        assert_eq!(e.rule, Rule::AllowPlugins);
        assert!(e.detail.contains("'tail'"));
        // An allow-list may let a default-denied plugin through.
        let p = Policy {
            plugins: PluginPolicy::Allow(vec!["exec".into()]),
            ..p
        };
        assert!(p
            .check(Some(&map(&[("", "[INPUT]\n    Name exec\n", "")])))
            .is_ok());
        // An empty deny-list lets everything through but the hard rules.
        let p = Policy {
            plugins: PluginPolicy::Deny(vec![]),
            ..p
        };
        assert!(p
            .check(Some(&map(&[("", "[INPUT]\n    Name exec\n", "")])))
            .is_ok());
        let e = p
            .check(Some(&map(&[("", "[PLUGINS]\n    Path /x.so\n", "")])))
            .unwrap_err();
        assert_eq!(e.rule, Rule::PluginLibraries);
    }

    #[test]
    fn hard_rules_hold_under_any_list() {
        let p = policy(Format::Yaml);
        let opamp = map(&[("", "pipeline:\n  inputs:\n    - name: opamp\n", "text/yaml")]);
        assert_eq!(p.check(Some(&opamp)).unwrap_err().rule, Rule::OpampSection);
        let hr = map(&[("", "service:\n  hot_reload: off\n", "text/yaml")]);
        assert_eq!(p.check(Some(&hr)).unwrap_err().rule, Rule::HotReload);
        let alias = map(&[("", "pipeline:\n  inputs:\n    - name: *x\n", "text/yaml")]);
        assert_eq!(p.check(Some(&alias)).unwrap_err().rule, Rule::Unreadable);
    }

    #[test]
    fn includes_stay_inside_the_managed_folder() {
        let p = policy(Format::Classic);
        let ok = map(&[
            (
                "",
                "@INCLUDE managed.d/a.conf\n@INCLUDE /etc/fb/managed.d/*.conf\n",
                "",
            ),
            ("a.conf", "", ""),
        ]);
        assert!(p.check(Some(&ok)).is_ok());
        for bad in [
            "@INCLUDE /etc/fluent-bit/other.conf\n",
            "@INCLUDE managed.d/../../x.conf\n",
            "@INCLUDE other.conf\n",
            "@INCLUDE ${HOME}/x.conf\n",
            "@INCLUDE /etc/fb/managed.dx/a.conf\n",
        ] {
            let e = p.check(Some(&map(&[("", bad, "")]))).unwrap_err();
            assert_eq!(e.rule, Rule::Include, "{bad}");
            assert!(e.to_string().contains("(includes)"), "{e}");
        }
        // A classic file in the folder still resolves from the bootstrap's folder.
        let e = p
            .check(Some(&map(&[
                ("", "", ""),
                ("a.conf", "@INCLUDE b.conf\n", ""),
            ])))
            .unwrap_err();
        assert_eq!(e.rule, Rule::Include);
        // A YAML file in the folder resolves from its own folder.
        let m = map(&[
            ("", "includes:\n  - managed.d/a.yaml\n", "text/yaml"),
            ("a.yaml", "includes:\n  - b.yaml\n", "text/yaml"),
            ("b.yaml", "", "text/yaml"),
        ]);
        assert!(policy(Format::Yaml).check(Some(&m)).is_ok());
    }

    #[test]
    fn every_default_denied_plugin_has_a_reason() {
        for p in DEFAULT_DENY_PLUGINS.split(',') {
            assert!(deny_reason(p).is_some(), "{p}");
        }
    }

    #[test]
    fn managed_folder_sits_beside_the_file() {
        assert_eq!(
            managed_folder(Path::new("/etc/fb/managed.yaml")),
            PathBuf::from("/etc/fb/managed.d")
        );
    }
}
