//! The config Fluent Bit runs: its bootstrap file plus every file that
//! includes, redacted, one config-map entry per file.
//!
//! Keys are paths relative to the bootstrap's folder (the bootstrap itself by
//! file name), so the server sees the same layout the operator edits.
//! Content types: `text/yaml` for `.yaml`/`.yml` files (Fluent Bit picks
//! the format by extension too) and `text/x-fluent-bit` for the classic
//! format, both of which the remote-config side accepts back. Fluent Bit
//! started without a config file gets one `command-line` entry instead.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use super::redact::Redactor;
use crate::proto::{AgentConfigFile, AgentConfigMap, EffectiveConfig};

/// Reading the files (includes, limits, cycles) is the config reader's.
pub use crate::fbconf::files::{read_files, ConfigFile};

pub const CLASSIC_CONTENT_TYPE: &str = "text/x-fluent-bit";
pub const YAML_CONTENT_TYPE: &str = "text/yaml";
/// Argument list, one per line; informational, not a config format.
pub const COMMAND_LINE_CONTENT_TYPE: &str = "text/x-fluent-bit-command-line";
pub const COMMAND_LINE_KEY: &str = "command-line";

pub fn effective_config(files: &[ConfigFile], redactor: &Redactor) -> EffectiveConfig {
    let config_map = files
        .iter()
        .map(|f| {
            let content_type = if f.is_yaml() {
                YAML_CONTENT_TYPE
            } else {
                CLASSIC_CONTENT_TYPE
            };
            (
                f.key.clone(),
                AgentConfigFile {
                    body: redactor
                        .for_file(&f.key)
                        .redact(&f.text, f.is_yaml())
                        .into_bytes(),
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
