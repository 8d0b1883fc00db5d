//! The driver's side of the plugin's own fragment: reading what is live at
//! startup, handing changes to the machine, and remembering fragments that
//! made Fluent Bit exit so a restart does not apply them again.
//!
//! A fragment keeps no remote config record (the server's status must not
//! change for it); its blocked hashes live in a file of their own.

use std::path::Path;
use std::time::Instant;

use super::fragment::{self, Fragment};
use super::record::{hex, unhex};
use super::staging::{self, Layout};
use super::RemoteConfig;
use crate::fbconf::Format;
use crate::state_dir::write_atomic;

const BLOCKED_FILE: &str = "own_fragment.blocked";
const MAX_BLOCKED: usize = 16;

impl RemoteConfig {
    /// Tells the machine what the live files hold: the server's part, the
    /// fragment in place, and fragments never to apply again.
    pub(super) fn read_own_layout(&mut self, format: Format) {
        let Some(layout) = &self.layout else { return };
        let folder = fragment::folder_name(&layout.folder);
        let (main, tree) = staging::live(layout).unwrap_or_default();
        let files: Vec<(String, Vec<u8>)> = tree
            .into_iter()
            .filter_map(|(k, n)| match n {
                super::files::Node::File(b) => Some((k, b)),
                _ => None,
            })
            .collect();
        let key = fragment::key(format);
        let live = files
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, b)| Fragment::new(b.clone()));
        let base = fragment::strip(&main.unwrap_or_default(), &files, format, &folder);
        let blocked = load_blocked(&layout.state);
        self.machine
            .set_own_layout(format, folder, base, live, blocked);
    }

    /// The fragment the plugin wants live (`None`: none); the outcome comes
    /// back from [`RemoteConfig::take_own_outcomes`] under `ticket`.
    pub fn set_own_fragment(&mut self, now: Instant, ticket: u64, body: Option<Vec<u8>>) {
        self.machine.set_fragment(ticket, body.map(Fragment::new));
        self.drive(now);
    }

    pub fn take_own_outcomes(&mut self) -> Vec<(u64, Result<(), String>)> {
        self.machine.take_local()
    }

    /// The format the fragment must be written in (the bootstrap's).
    pub fn own_format(&self) -> Format {
        self.format
    }

    /// Whether the plugin's fragment is in the live config.
    pub fn has_own_fragment(&self) -> bool {
        self.machine.has_fragment()
    }

    /// Whether there is a managed file to put a fragment in.
    pub fn has_layout(&self) -> bool {
        self.layout.is_some()
    }
}

fn load_blocked(state: &Path) -> Vec<Vec<u8>> {
    std::fs::read_to_string(state.join(BLOCKED_FILE))
        .unwrap_or_default()
        .lines()
        .filter_map(unhex)
        .collect()
}

fn block(layout: &Layout, hash: &[u8]) -> std::io::Result<()> {
    let mut list = load_blocked(&layout.state);
    if !list.iter().any(|h| h == hash) {
        list.push(hash.to_vec());
    }
    let start = list.len().saturating_sub(MAX_BLOCKED);
    let text: String = list[start..].iter().map(|h| hex(h) + "\n").collect();
    write_atomic(&layout.state.join(BLOCKED_FILE), text.as_bytes())
}

/// The abort path (Fluent Bit's main thread, process exiting): the LKG is
/// already back; remember the fragment so the next start skips it.
pub(super) fn aborted(layout: &Layout, hash: &[u8]) -> Option<String> {
    Some(match block(layout, hash) {
        Ok(()) => "the own-telemetry config aborted Fluent Bit; the last-known-good config is \
                   restored for the next start and this fragment will not be applied again"
            .into(),
        Err(e) => format!(
            "the own-telemetry config aborted Fluent Bit; last-known-good restored, but recording it failed: {e}"
        ),
    })
}

/// Startup after a process died applying a fragment: the LKG is back.
pub(super) fn interrupted(layout: &Layout, hash: &[u8], error: &str) {
    if let Err(e) = block(layout, hash) {
        crate::error!("own telemetry: cannot record the interrupted apply: {e}");
    }
    if let Err(e) = staging::finish(layout) {
        crate::error!("own telemetry: cannot clear the pending marker: {e}");
    }
    crate::warn!("own telemetry: {error}");
}
