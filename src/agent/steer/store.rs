//! Committed OpAMP connection settings in `state_dir/connection/`: one
//! `settings` file (mode 0600: it holds credentials) and the TLS material
//! it names. Deleting `settings` returns the agent to the opamp section's
//! settings at the next start.
//!
//! A candidate is written whole to `connection.pending/` and verified from
//! there; committing swaps the folders with two renames, so a crash leaves
//! the old settings or the new ones, and a start that finds the swap half
//! done finishes it backwards (the old settings were the verified ones
//! still in use).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::agent::connection::Profile;
use crate::config::properties::{parse_bool, Header, TlsSettings};
pub(crate) use crate::remote::record::hex;
use crate::remote::record::unhex;
use crate::state_dir::write_atomic_private as write_private;
use crate::transport::endpoint::Endpoint;

pub(crate) const DIR: &str = "connection";
const PENDING: &str = "connection.pending";
const OLD: &str = "connection.old";
const SETTINGS: &str = "settings";
/// Settings that stopped working are moved here, for the operator to read.
const ABANDONED: &str = "settings.abandoned";

/// TLS material for a candidate: new bytes to write, or a file to keep.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Material {
    None,
    Keep(PathBuf),
    New(Vec<u8>),
}

/// Key bytes are never printed.
impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Material::None => f.write_str("None"),
            Material::Keep(p) => write!(f, "Keep({})", p.display()),
            Material::New(b) => write!(f, "New({} bytes)", b.len()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Persisted {
    /// The offer's hash, reported again after a restart.
    pub hash: Vec<u8>,
    /// The opamp section's endpoint when these were committed: an operator
    /// who changes it takes back control.
    pub base_endpoint: String,
    pub profile: Profile,
    pub heartbeat: Option<Duration>,
}

/// Debug shows headers through their redacting Debug and material as
/// sizes.
#[derive(Debug)]
pub(crate) struct Candidate {
    pub hash: Vec<u8>,
    pub base_endpoint: String,
    pub endpoint: Endpoint,
    pub headers: Vec<Header>,
    pub verify: bool,
    pub ca: Material,
    pub cert: Material,
    pub key: Material,
    pub heartbeat: Option<Duration>,
}

pub(crate) fn settings_file(state: &Path) -> PathBuf {
    state.join(DIR).join(SETTINGS)
}

pub(crate) fn abandoned_file(state: &Path) -> PathBuf {
    state.join(DIR).join(ABANDONED)
}

/// Writes a candidate to `connection.pending/` (replacing any earlier
/// one) and returns the settings as read back from there.
pub(crate) fn stage(state: &Path, c: &Candidate) -> io::Result<Persisted> {
    let dir = state.join(PENDING);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    set_private_dir(&dir)?;
    let mut text = String::from(
        "# OpAMP connection settings offered by the server and verified by fluent-bit-opamp.\n\
         # Delete this file to go back to the opamp section's settings at the next start.\n",
    );
    text += &format!("hash {}\nbase {}\n", hex(&c.hash), c.base_endpoint);
    text += &format!("endpoint {}\n", c.endpoint.url());
    for h in &c.headers {
        text += &format!("header {} {}\n", h.name, h.value);
    }
    if let Some(hb) = c.heartbeat {
        text += &format!("heartbeat {}\n", hb.as_secs());
    }
    text += &format!("tls.verify {}\n", if c.verify { "on" } else { "off" });
    let live = state.join(DIR);
    for (key, file, m) in [
        ("tls.ca_file", "ca.pem", &c.ca),
        ("tls.crt_file", "client.pem", &c.cert),
        ("tls.key_file", "client.key", &c.key),
    ] {
        match m {
            Material::None => {}
            // The committed folder is replaced on commit: what the
            // candidate keeps from it is copied along.
            Material::Keep(p) if p.starts_with(&live) => {
                write_private(&dir.join(file), &fs::read(p)?)?;
                text += &format!("{key} {file}\n");
            }
            Material::Keep(p) => text += &format!("{key} {}\n", p.display()),
            Material::New(bytes) => {
                write_private(&dir.join(file), bytes)?;
                text += &format!("{key} {file}\n");
            }
        }
    }
    write_private(&dir.join(SETTINGS), text.as_bytes())?;
    parse(&text, &dir).map_err(io::Error::other)
}

/// Makes the staged candidate the committed settings.
pub(crate) fn commit(state: &Path) -> io::Result<Persisted> {
    let (live, pending, old) = (state.join(DIR), state.join(PENDING), state.join(OLD));
    let _ = fs::remove_dir_all(&old);
    if live.exists() {
        fs::rename(&live, &old)?;
    }
    fs::rename(&pending, &live)?;
    let _ = fs::remove_dir_all(&old);
    sync_dir(state);
    match load(state) {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(io::Error::other("the committed settings vanished")),
        Err(e) => Err(io::Error::other(e)),
    }
}

/// Drops a candidate that failed verification.
pub(crate) fn discard_pending(state: &Path) {
    let _ = fs::remove_dir_all(state.join(PENDING));
}

/// The committed settings, if any. Finishes an interrupted commit first
/// and clears a candidate no verification is waiting for.
pub(crate) fn load(state: &Path) -> Result<Option<Persisted>, String> {
    let (live, old) = (state.join(DIR), state.join(OLD));
    if !live.exists() && old.exists() {
        let _ = fs::rename(&old, &live);
    }
    let file = live.join(SETTINGS);
    let text = match fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", file.display())),
    };
    parse(&text, &live)
        .map(Some)
        .map_err(|e| format!("{}: {e}", file.display()))
}

/// Moves committed settings aside, so the next start uses the opamp
/// section's; the operator can read (or restore) them.
pub(crate) fn abandon(state: &Path) -> io::Result<()> {
    let live = state.join(DIR);
    fs::rename(live.join(SETTINGS), live.join(ABANDONED))
}

fn parse(text: &str, dir: &Path) -> Result<Persisted, String> {
    let mut hash = Vec::new();
    let mut base = String::new();
    let mut endpoint = None;
    let mut headers = Vec::new();
    let mut heartbeat = None;
    let mut tls = TlsSettings {
        verify: true,
        ca_file: None,
        crt_file: None,
        key_file: None,
    };
    let file = |v: &str| dir.join(v);
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let bad = || format!("line {}: bad value for '{key}'", n + 1);
        match key {
            "hash" => hash = unhex(value).ok_or_else(bad)?,
            "base" => base = value.to_string(),
            "endpoint" => endpoint = Some(Endpoint::parse(value).map_err(|e| e.to_string())?),
            "header" => {
                let (name, value) = value.split_once(' ').ok_or_else(bad)?;
                headers.push(Header {
                    name: name.into(),
                    value: value.into(),
                });
            }
            "heartbeat" => heartbeat = Some(Duration::from_secs(value.parse().map_err(|_| bad())?)),
            "tls.verify" => tls.verify = parse_bool(value).ok_or_else(bad)?,
            "tls.ca_file" => tls.ca_file = Some(file(value)),
            "tls.crt_file" => tls.crt_file = Some(file(value)),
            "tls.key_file" => tls.key_file = Some(file(value)),
            _ => return Err(format!("line {}: unknown key '{key}'", n + 1)),
        }
    }
    let endpoint = endpoint.ok_or("no endpoint")?;
    Ok(Persisted {
        hash,
        base_endpoint: base,
        profile: Profile {
            endpoint,
            headers,
            tls,
        },
        heartbeat,
    })
}

fn set_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests;
