//! The config Fluent Bit runs: its bootstrap file plus every file that
//! includes, redacted, one config-map entry per file.
//!
//! Keys are paths relative to the bootstrap's folder (the bootstrap itself by
//! file name), so the server sees the same layout the operator edits.
//! Content types: `text/yaml` for `.yaml`/`.yml` files (Fluent Bit picks
//! the format by extension too) and `text/x-fluent-bit` for the classic
//! format, both of which the remote-config side accepts back. Fluent Bit
//! started without a config file gets one `command-line` entry instead.

use crate::config::text::unquote;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::{Component, Path, PathBuf};

use super::redact::Redactor;
use crate::config::includes::resolve_pattern;
use crate::config::section::is_yaml_path;
use crate::proto::{AgentConfigFile, AgentConfigMap, EffectiveConfig};

pub const CLASSIC_CONTENT_TYPE: &str = "text/x-fluent-bit";
pub const YAML_CONTENT_TYPE: &str = "text/yaml";
/// Argument list, one per line; informational, not a config format.
pub const COMMAND_LINE_CONTENT_TYPE: &str = "text/x-fluent-bit-command-line";
pub const COMMAND_LINE_KEY: &str = "command-line";

/// Fluent Bit stops nesting includes long before this; it only guards
/// against include cycles we failed to spot.
const MAX_DEPTH: usize = 16;
/// Config files are small; a huge one would crowd out the whole message.
const MAX_FILE_BYTES: u64 = 1 << 20;
const MAX_FILES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    pub key: String,
    pub path: PathBuf,
    pub yaml: bool,
    /// Unredacted text; redact before it leaves the host.
    pub text: String,
}

/// Include patterns named by one file's text.
pub fn includes_of(text: &str, yaml: bool) -> Vec<String> {
    if yaml {
        yaml_includes(text)
    } else {
        text.lines()
            .filter_map(|l| {
                let t = l.trim();
                let head = t.get(..9)?;
                head.eq_ignore_ascii_case("@include ")
                    .then(|| t[9..].trim().to_string())
            })
            .filter(|p| !p.is_empty())
            .collect()
    }
}

/// Top-level `includes:` as a block list or a one-line flow list.
fn yaml_includes(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let body = line.split(" #").next().unwrap_or("").trim_end();
        let t = body.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let top = body.len() == t.len();
        if top {
            inside = false;
            if let Some(v) = t.strip_prefix("includes:") {
                let v = v.trim();
                if let Some(list) = v.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                    out.extend(
                        list.split(',')
                            .map(|s| unquote(s).to_string())
                            .filter(|s| !s.is_empty()),
                    );
                } else if v.is_empty() {
                    inside = true;
                }
            }
            continue;
        }
        if inside {
            if let Some(item) = t.strip_prefix("- ") {
                out.push(unquote(item).to_string());
            }
        }
    }
    out
}

/// `a/./b/../c` → `a/c`, without touching the filesystem (symlinks are
/// not resolved, matching what the operator wrote).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

fn key_for(path: &Path, root: &Path, bootstrap: &Path) -> String {
    if path == bootstrap {
        if let Some(name) = path.file_name() {
            return name.to_string_lossy().into_owned();
        }
    }
    match path.strip_prefix(root) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.to_string_lossy().into_owned(),
        _ => path.to_string_lossy().into_owned(),
    }
}

fn read_limited(path: &Path) -> std::io::Result<String> {
    let len = std::fs::metadata(path)?.len();
    if len > MAX_FILE_BYTES {
        return Ok(format!(
            "# not reported: {len} bytes is over the {MAX_FILE_BYTES}-byte limit for one file\n"
        ));
    }
    let bytes = std::fs::read(path)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The bootstrap file and everything it includes, depth first in include
/// order. Only an unreadable bootstrap is an error; an include that has
/// vanished since Fluent Bit read it is skipped.
pub fn read_files(bootstrap: &Path) -> std::io::Result<Vec<ConfigFile>> {
    let abs = if bootstrap.is_absolute() {
        bootstrap.to_path_buf()
    } else {
        std::env::current_dir()?.join(bootstrap)
    };
    let bootstrap = normalize(&abs);
    let root = bootstrap.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    let text = read_limited(&bootstrap)?;
    visit(
        &bootstrap, text, &root, &bootstrap, 0, &mut files, &mut seen,
    );
    Ok(files)
}

fn visit(
    path: &Path,
    text: String,
    root: &Path,
    bootstrap: &Path,
    depth: usize,
    files: &mut Vec<ConfigFile>,
    seen: &mut HashSet<PathBuf>,
) {
    // Canonical paths catch cycles through symlinks or `..` spellings.
    let identity = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if !seen.insert(identity) || files.len() >= MAX_FILES {
        return;
    }
    let yaml = is_yaml_path(path);
    let includes = includes_of(&text, yaml);
    files.push(ConfigFile {
        key: key_for(path, root, bootstrap),
        path: path.to_path_buf(),
        yaml,
        text,
    });
    if depth >= MAX_DEPTH {
        return;
    }
    for pattern in includes {
        let found = if yaml {
            resolve_pattern(path.parent().unwrap_or(Path::new("/")), &pattern)
        } else {
            classic_include(root, &pattern)
        };
        for inc in found {
            let inc = normalize(&inc);
            if let Ok(text) = read_limited(&inc) {
                visit(&inc, text, root, bootstrap, depth + 1, files, seen);
            }
        }
    }
}

/// Where Fluent Bit's classic reader looks for `@INCLUDE pattern`
/// (`flb_cf_fluentbit.c`): a glob is relative to the bootstrap's folder, at
/// any depth; a plain relative path is tried against the working directory
/// first, then the bootstrap's folder. YAML instead resolves against the
/// including file's folder.
fn classic_include(root: &Path, pattern: &str) -> Vec<PathBuf> {
    let p = Path::new(pattern);
    if pattern.contains('*') || p.is_absolute() {
        return resolve_pattern(root, pattern);
    }
    match std::env::current_dir() {
        Ok(cwd) if cwd.join(p).is_file() => vec![cwd.join(p)],
        _ => vec![root.join(p)],
    }
}

pub fn effective_config(files: &[ConfigFile], redactor: &Redactor) -> EffectiveConfig {
    let config_map = files
        .iter()
        .map(|f| {
            let content_type = if f.yaml {
                YAML_CONTENT_TYPE
            } else {
                CLASSIC_CONTENT_TYPE
            };
            (
                f.key.clone(),
                AgentConfigFile {
                    body: redactor.redact(&f.text, f.yaml).into_bytes(),
                    content_type: content_type.to_string(),
                },
            )
        })
        .collect();
    EffectiveConfig {
        config_map: Some(AgentConfigMap { config_map }),
    }
}

/// For Fluent Bit started with `-i ... -o ... -p ...` and no config file.
pub fn from_command_line(args: &[String], redactor: &Redactor) -> EffectiveConfig {
    let mut body = redactor.redact_args(args).join("\n");
    body.push('\n');
    let file = AgentConfigFile {
        body: body.into_bytes(),
        content_type: COMMAND_LINE_CONTENT_TYPE.to_string(),
    };
    EffectiveConfig {
        config_map: Some(AgentConfigMap {
            config_map: [(COMMAND_LINE_KEY.to_string(), file)].into_iter().collect(),
        }),
    }
}

/// Cheap change detection within this process; not stable across builds,
/// so never persist or send it.
pub fn fingerprint(cfg: &EffectiveConfig) -> u64 {
    let mut h = DefaultHasher::new();
    if let Some(map) = &cfg.config_map {
        for (k, f) in &map.config_map {
            k.hash(&mut h);
            f.content_type.hash(&mut h);
            f.body.hash(&mut h);
        }
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_includes() {
        let t =
            "[SERVICE]\n  Flush 1\n@INCLUDE a.conf\n@include  conf.d/*.conf \n# @INCLUDE no.conf\n";
        assert_eq!(includes_of(t, false), vec!["a.conf", "conf.d/*.conf"]);
    }

    #[test]
    fn yaml_includes_block_and_flow() {
        let t = "env:\n  A: b\nincludes:\n  - a.yaml   # first\n  - 'b/*.yaml'\npipeline:\n  inputs:\n    - name: dummy\n";
        assert_eq!(includes_of(t, true), vec!["a.yaml", "b/*.yaml"]);
        assert_eq!(
            includes_of("includes: [x.yaml, \"y.yaml\"]\n", true),
            vec!["x.yaml", "y.yaml"]
        );
    }

    #[test]
    fn normalizing() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }
}
