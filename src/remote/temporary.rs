//! Temporary changes: a config the agent applies for a time to live, then
//! takes back by applying what ran before, through the same pipeline
//! (policy, dry run, LKG, reload, rollback) both ways.
//!
//! The revert must happen with the server gone and across a restart, so
//! the deadline (wall clock) and the files to restore are kept in
//! `state_dir` before anything changes. A config the server sends
//! meanwhile replaces the temporary one and cancels the revert: the
//! server's word is newer than ours.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prost::Message;

use super::files::Node;
use super::record::{hex, unhex};
use super::staging::{self, Layout};
use super::RemoteConfig;
use crate::proto::{AgentConfigFile, AgentConfigMap, AgentRemoteConfig};
use crate::state_dir::write_atomic_private;

/// The files to restore (a serialized `AgentRemoteConfig` under the hash
/// of what ran before). Private: the live files it copies may hold
/// expanded secrets, as the managed files do.
const RESTORE_FILE: &str = "temporary.restore";
/// `key=value` lines: the temporary config's hash, the deadline, a label.
const STATE_FILE: &str = "temporary.state";

/// A temporary change in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Temporary {
    pub hash: Vec<u8>,
    pub deadline_unix_ms: u64,
    /// What it is, for the log and replies (e.g. `temporary_config`).
    pub label: String,
    /// The revert has been handed to the machine.
    pub reverting: bool,
}

impl Temporary {
    fn encode(&self) -> String {
        format!(
            "hash={}\ndeadline_unix_ms={}\nlabel={}\n",
            hex(&self.hash),
            self.deadline_unix_ms,
            self.label.replace('\n', " ")
        )
    }

    fn decode(text: &str) -> Option<Temporary> {
        let (mut hash, mut deadline, mut label) = (None, None, String::new());
        for line in text.lines() {
            match line.split_once('=')? {
                ("hash", v) => hash = unhex(v),
                ("deadline_unix_ms", v) => deadline = v.parse().ok(),
                ("label", v) => label = v.to_string(),
                _ => {}
            }
        }
        Some(Temporary {
            hash: hash?,
            deadline_unix_ms: deadline?,
            label,
            reverting: false,
        })
    }

    /// The deadline on this process's monotonic clock; one already past is
    /// due now.
    pub fn due_at(&self, now: Instant) -> Instant {
        let left = self.deadline_unix_ms.saturating_sub(unix_ms());
        now + Duration::from_millis(left)
    }
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The temporary change a previous process left, if any.
pub(super) fn load(layout: &Layout) -> Option<Temporary> {
    let text = std::fs::read_to_string(layout.state.join(STATE_FILE)).ok()?;
    Temporary::decode(&text)
}

fn load_restore(layout: &Layout) -> Option<AgentRemoteConfig> {
    let bytes = std::fs::read(layout.state.join(RESTORE_FILE)).ok()?;
    AgentRemoteConfig::decode(bytes.as_slice()).ok()
}

fn clear(layout: &Layout) {
    for f in [STATE_FILE, RESTORE_FILE] {
        match std::fs::remove_file(layout.state.join(f)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                crate::error!("cannot remove {f} from state_dir: {e}")
            }
            _ => {}
        }
    }
}

/// The live managed files as a config map under `main_key`, with the hash
/// of the config they came from.
fn snapshot(
    layout: &Layout,
    main_key: &str,
    content_type: &str,
    hash: &[u8],
) -> Result<AgentRemoteConfig, String> {
    let (main, tree) = staging::live(layout)
        .map_err(|e| format!("cannot read the running managed config: {e}"))?;
    let mut map = AgentConfigMap::default();
    let file = |body: Vec<u8>| AgentConfigFile {
        body,
        content_type: content_type.to_string(),
    };
    map.config_map
        .insert(main_key.to_string(), file(main.unwrap_or_default()));
    for (key, node) in tree {
        match node {
            Node::File(body) => {
                map.config_map.insert(key, file(body));
            }
            Node::Link(_) => {
                return Err(format!(
                    "the managed folder holds a symlink ('{key}') that a revert could not put back \
                     as it was; temporary changes need plain files"
                ))
            }
        }
    }
    Ok(AgentRemoteConfig {
        config: Some(map),
        config_hash: hash.to_vec(),
    })
}

/// A hash for a config the agent made: never equal to a server's, stable
/// for the same files.
pub fn local_hash(label: &str, map: &AgentConfigMap) -> Vec<u8> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"opamp-temporary\0");
    ctx.update(label.as_bytes());
    for (k, f) in &map.config_map {
        for part in [k.as_bytes(), &f.body, f.content_type.as_bytes()] {
            ctx.update(&(part.len() as u64).to_le_bytes());
            ctx.update(part);
        }
    }
    ctx.finish().as_ref().to_vec()
}

impl RemoteConfig {
    /// The main file's key and the content type of the bootstrap's format.
    pub fn main_key_and_type(&self) -> (String, &'static str) {
        let p = self.machine.policy();
        let ct = match p.format {
            crate::fbconf::format::Format::Yaml => "text/yaml",
            crate::fbconf::format::Format::Classic => "text/x-fluent-bit",
        };
        (p.main_name.clone(), ct)
    }

    /// The main file of the running managed config, to derive a change
    /// from (`log_level`).
    pub fn live_main(&self) -> Result<Vec<u8>, String> {
        let layout = self.layout.as_ref().ok_or("no managed_config is set")?;
        let (main, _) = staging::live(layout)
            .map_err(|e| format!("cannot read the running managed config: {e}"))?;
        Ok(main.unwrap_or_default())
    }

    /// The running managed config as a map (main file and folder), with the
    /// main file's key, to derive a change from.
    pub fn live_map(&self) -> Result<AgentConfigMap, String> {
        let layout = self.layout.as_ref().ok_or("no managed_config is set")?;
        let (main_key, ct) = self.main_key_and_type();
        Ok(snapshot(layout, &main_key, ct, &[])?
            .config
            .unwrap_or_default())
    }

    /// Starts a temporary change; returns its hash, whose outcome
    /// [`RemoteConfig::temporary_outcome`] tells. What to restore is kept
    /// before anything changes.
    pub fn start_temporary(
        &mut self,
        now: Instant,
        label: &str,
        map: AgentConfigMap,
        ttl: Duration,
    ) -> Result<Vec<u8>, String> {
        let layout = self.layout.clone().ok_or("no managed_config is set")?;
        if self.machine.is_busy() || self.background.is_some() {
            return Err("busy: a config is being applied".into());
        }
        if self.temporary.is_some() {
            return Err("busy: a temporary change is already in force".into());
        }
        let before = self.machine.applied_hash().unwrap_or_default().to_vec();
        let (main_key, ct) = self.main_key_and_type();
        let restore = snapshot(&layout, &main_key, ct, &before)?;
        let hash = local_hash(label, &map);
        let t = Temporary {
            hash: hash.clone(),
            deadline_unix_ms: unix_ms() + ttl.as_millis() as u64,
            label: label.to_string(),
            reverting: false,
        };
        let keep = |name: &str, data: &[u8]| {
            write_atomic_private(&layout.state.join(name), data)
                .map_err(|e| format!("cannot keep what to restore in state_dir: {e}"))
        };
        keep(RESTORE_FILE, &restore.encode_to_vec())?;
        keep(STATE_FILE, t.encode().as_bytes())?;
        self.temporary = Some(t);
        self.machine.offer_local(AgentRemoteConfig {
            config: Some(map),
            config_hash: hash.clone(),
        });
        self.drive(now);
        Ok(hash)
    }

    /// How the apply of a temporary change ended; `None` while it runs. A
    /// failed one is forgotten at once: it changed nothing.
    pub fn temporary_outcome(&mut self, hash: &[u8]) -> Option<Result<(), String>> {
        let outcome = self.machine.outcome_of(hash)?;
        let ours = self.temporary.as_ref().is_some_and(|t| t.hash == hash);
        if outcome.is_err() && ours {
            self.temporary = None;
            if let Some(l) = &self.layout {
                clear(l);
            }
        }
        Some(outcome)
    }

    /// The temporary change in force, if any.
    pub fn temporary(&self) -> Option<&Temporary> {
        self.temporary.as_ref()
    }

    /// A config from the server arrived: it replaces a temporary change and
    /// cancels its revert. Returns the line for the audit, if it did.
    pub(super) fn cancel_temporary(&mut self, by: &[u8]) -> Option<String> {
        let t = self.temporary.take()?;
        if let Some(l) = &self.layout {
            clear(l);
        }
        let line = format!(
            "temporary change {} ({}) cancelled: remote config {} from the server replaces it; no revert will follow",
            hex(&t.hash),
            t.label,
            hex(by)
        );
        crate::info!("{line}");
        Some(line)
    }

    /// Starts the revert once the deadline has passed and nothing else is
    /// being applied; forgets the change once the revert has ended.
    pub(super) fn temporary_tick(&mut self, now: Instant) {
        let Some(layout) = self.layout.clone() else {
            return;
        };
        let Some(t) = self.temporary.as_mut() else {
            return;
        };
        if t.reverting {
            return self.revert_progress(&layout);
        }
        if t.due_at(now) > now || self.machine.is_busy() || self.background.is_some() {
            return;
        }
        let Some(restore) = load_restore(&layout) else {
            crate::error!(
                "temporary change {}: what to restore is missing from state_dir; it stays",
                hex(&t.hash)
            );
            self.temporary = None;
            return clear(&layout);
        };
        t.reverting = true;
        crate::info!(
            "temporary change {} ({}) ends: restoring the config that ran before",
            hex(&t.hash),
            t.label
        );
        self.revert_hash = Some(restore.config_hash.clone());
        if restore.config_hash.is_empty() {
            // No server config ran before: nothing of the server's to
            // report, so the revert stays the agent's own.
            let mut r = restore;
            r.config_hash = local_hash(
                "revert",
                r.config.as_ref().unwrap_or(&AgentConfigMap::default()),
            );
            self.revert_hash = Some(r.config_hash.clone());
            self.machine.offer_local(r);
        } else {
            self.machine.offer(restore);
        }
        self.drive(now);
    }

    fn revert_progress(&mut self, layout: &Layout) {
        let Some(hash) = self.revert_hash.clone() else {
            return;
        };
        let Some(outcome) = self.machine.outcome_of(&hash) else {
            return;
        };
        let t = self.temporary.take().expect("checked by the caller");
        self.revert_hash = None;
        clear(layout);
        match outcome {
            Ok(()) => crate::info!(
                "temporary change {} ({}) reverted: the config that ran before is back",
                hex(&t.hash),
                t.label
            ),
            Err(e) => crate::error!(
                "temporary change {} ({}): the revert failed: {e}",
                hex(&t.hash),
                t.label
            ),
        }
        self.reverted.push(t);
    }

    /// Temporary changes reverted since the last call, for the audit.
    pub fn take_reverted(&mut self) -> Vec<Temporary> {
        std::mem::take(&mut self.reverted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips() {
        let t = Temporary {
            hash: vec![1, 2, 0xab],
            deadline_unix_ms: 1_700_000_000_123,
            label: "log_level".into(),
            reverting: false,
        };
        assert_eq!(Temporary::decode(&t.encode()), Some(t));
        assert_eq!(Temporary::decode("hash=zz\n"), None);
    }

    #[test]
    fn local_hash_depends_on_files_and_label() {
        let mut m = AgentConfigMap::default();
        m.config_map.insert(
            "a".into(),
            AgentConfigFile {
                body: b"x".to_vec(),
                content_type: String::new(),
            },
        );
        let h = local_hash("t", &m);
        assert_eq!(h, local_hash("t", &m));
        assert_ne!(h, local_hash("u", &m));
        m.config_map.get_mut("a").unwrap().body = b"y".to_vec();
        assert_ne!(h, local_hash("t", &m));
    }

    #[test]
    fn a_past_deadline_is_due_now() {
        let t = Temporary {
            hash: vec![],
            deadline_unix_ms: 1,
            label: String::new(),
            reverting: false,
        };
        let now = Instant::now();
        assert_eq!(t.due_at(now), now);
    }
}
