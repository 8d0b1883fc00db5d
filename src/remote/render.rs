//! Re-rendering the newest remote config when our `${opamp.…}` values
//! change, so a rotated credential needs no new config push.
//!
//! The config as the server wrote it (unexpanded) is kept, in memory and in
//! `state_dir`, whenever it uses our variables: the managed files hold only
//! the expanded text, which cannot be rendered again. When the values
//! change in a way that changes what the config expands to, it goes
//! through the whole pipeline again (expand, policy, dry run, LKG, reload,
//! rollback) under the server's own hash.

use std::path::{Path, PathBuf};
use std::time::Instant;

use prost::Message;

use super::vars::{self, Vars};
use super::RemoteConfig;
use crate::proto::{AgentRemoteConfig, RemoteConfigStatuses};
use crate::state_dir::write_atomic;

/// The newest offer, unexpanded, when it uses our variables.
pub const SOURCE_FILE: &str = "remote_config.source";

#[derive(Default)]
pub(super) struct Render {
    vars: Vars,
    source: Option<AgentRemoteConfig>,
    /// Where `source` is persisted; none without a managed config.
    file: Option<PathBuf>,
    /// What `source` expanded to when it last went to the machine.
    key: Option<u64>,
    /// The hash of a re-render whose end someone waits for.
    waiting: Option<Vec<u8>>,
}

impl Render {
    /// The source a previous process kept, if any.
    pub(super) fn load(state: Option<&Path>) -> Render {
        let file = state.map(|s| s.join(SOURCE_FILE));
        let source = file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|b| AgentRemoteConfig::decode(b.as_slice()).ok());
        let mut r = Render {
            source,
            file,
            ..Render::default()
        };
        r.key = r.source_key();
        r
    }

    /// A new offer from the server: kept only if it uses our variables.
    fn remember(&mut self, offer: &AgentRemoteConfig) {
        let uses = offer.config.as_ref().is_some_and(vars::map_references);
        self.source = uses.then(|| offer.clone());
        self.key = self.source_key();
        if let Some(f) = &self.file {
            let r = match &self.source {
                Some(s) => write_atomic(f, &s.encode_to_vec()),
                None => match std::fs::remove_file(f) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                },
            };
            if let Err(e) = r {
                crate::warn!("cannot keep the remote config's source in state_dir: {e}");
            }
        }
    }

    fn source_key(&self) -> Option<u64> {
        let map = self.source.as_ref()?.config.as_ref()?;
        Some(self.vars.render_key(map))
    }
}

impl RemoteConfig {
    /// The values of `${opamp.…}` from now on. When the newest config
    /// expands differently with them, it is applied again; returns whether
    /// that happened ([`RemoteConfig::take_render_outcome`] tells how it ends).
    pub fn set_vars(&mut self, now: Instant, vars: Vars) -> bool {
        self.render.vars = vars.clone();
        self.machine.set_vars(vars);
        let key = self.render.source_key();
        let changed = key != self.render.key;
        self.render.key = key;
        if !changed {
            return false;
        }
        let Some(source) = self.render.source.clone() else {
            return false;
        };
        crate::info!(
            "remote config {}: the values it uses changed; applying it again",
            super::record::hex(&source.config_hash)
        );
        self.render.waiting = Some(source.config_hash.clone());
        self.machine.rerender(source);
        self.drive(now);
        true
    }

    /// The values a previous process kept: the running files were rendered
    /// with them, so nothing runs again.
    pub fn init_vars(&mut self, vars: Vars) {
        self.render.vars = vars.clone();
        self.machine.set_vars(vars);
        self.render.key = self.render.source_key();
    }

    /// The current values.
    pub fn vars(&self) -> &Vars {
        &self.render.vars
    }

    /// How the re-render [`RemoteConfig::set_vars`] started ended, once:
    /// `None` while it runs. A newer config from the server ends it too; it
    /// is rendered with the same values.
    pub fn take_render_outcome(&mut self) -> Option<Result<(), String>> {
        let hash = self.render.waiting.as_ref()?;
        let st = self.machine.status();
        let outcome = match st {
            Some(s) if s.last_remote_config_hash != *hash => Ok(()),
            Some(s) if s.status == RemoteConfigStatuses::Applied as i32 => Ok(()),
            Some(s) if s.status == RemoteConfigStatuses::Failed as i32 => Err(format!(
                "the remote config using these destinations failed with them: {}",
                s.error_message
            )),
            _ => return None,
        };
        self.render.waiting = None;
        Some(outcome)
    }

    /// Whether the newest config, as the server wrote it, mentions
    /// `needle` (a package's variable prefix): such a package is in use.
    pub fn source_mentions(&self, needle: &str) -> bool {
        let needle = needle.to_ascii_lowercase();
        self.render
            .source
            .iter()
            .filter_map(|s| s.config.as_ref())
            .flat_map(|m| m.config_map.values())
            .any(|f| {
                String::from_utf8_lossy(&f.body)
                    .to_ascii_lowercase()
                    .contains(&needle)
            })
    }

    /// Every offer passes here before the machine sees it.
    pub(super) fn remember_offer(&mut self, offer: &AgentRemoteConfig) {
        self.render.remember(offer);
    }
}
