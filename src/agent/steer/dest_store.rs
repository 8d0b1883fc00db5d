//! Where accepted destinations live in `state_dir`, so a restart keeps
//! them: `other_connections/values` (every variable, mode 0600, as it holds
//! credentials) and `other_connections/NAME/*.pem`.
//!
//! PEM files are named after their content: a rotated certificate gets a
//! new path, so the rendered config changes and Fluent Bit reloads it,
//! while the last-known-good config still finds the files it names.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::io;
use std::path::{Path, PathBuf};

use super::destinations::{Checked, PREFIX};
use crate::remote::vars::Vars;
use crate::state_dir::{write_atomic, write_atomic_private};

pub(crate) const DIR: &str = "other_connections";
pub(crate) const VALUES: &str = "values";

fn dir(state: &Path) -> PathBuf {
    state.join(DIR)
}

fn private_dir(p: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(p)
}

/// Writes each destination's PEM files; the variables of them all.
pub(crate) fn write(state: &Path, all: &[Checked]) -> io::Result<Vars> {
    let mut vars = Vars::new();
    for c in all {
        let folder = dir(state).join(&c.name);
        private_dir(&folder)?;
        for (k, v, secret) in &c.values {
            vars.insert(&format!("{PREFIX}{}.{k}", c.name), v, *secret);
        }
        for f in &c.files {
            let mut h = DefaultHasher::new();
            f.content.hash(&mut h);
            let stem = f.var.trim_start_matches("tls.").trim_end_matches("_file");
            let path = folder.join(format!("{stem}-{:016x}.pem", h.finish()));
            if !path.exists() {
                match f.private {
                    true => write_atomic_private(&path, &f.content)?,
                    false => write_atomic(&path, &f.content)?,
                }
            }
            let shown = path.to_string_lossy();
            vars.insert(&format!("{PREFIX}{}.{}", c.name, f.var), &shown, false);
        }
    }
    Ok(vars)
}

/// Persists the variables (a line each: `s|p`, tab, name, tab, value).
pub(crate) fn save(state: &Path, vars: &Vars) -> io::Result<()> {
    private_dir(&dir(state))?;
    let mut text = String::new();
    for (k, v, secret) in vars.entries() {
        let flag = if secret { 's' } else { 'p' };
        text.push_str(&format!("{flag}\t{k}\t{v}\n"));
    }
    write_atomic_private(&dir(state).join(VALUES), text.as_bytes())
}

/// What [`save`] kept; empty when nothing was.
pub(crate) fn load(state: &Path) -> Vars {
    let mut vars = Vars::new();
    let Ok(text) = std::fs::read_to_string(dir(state).join(VALUES)) else {
        return vars;
    };
    for line in text.lines() {
        let mut parts = line.splitn(3, '\t');
        if let (Some(flag), Some(k), Some(v)) = (parts.next(), parts.next(), parts.next()) {
            if k.starts_with(PREFIX) {
                vars.insert(k, v, flag == "s");
            }
        }
    }
    vars
}

/// Removes PEM files and folders none of `keep` names.
pub(crate) fn tidy(state: &Path, keep: &[&Vars]) {
    let named: BTreeSet<PathBuf> = keep
        .iter()
        .flat_map(|v| v.entries())
        .filter(|(k, _, _)| k.ends_with("_file"))
        .map(|(_, v, _)| PathBuf::from(v))
        .collect();
    let Ok(rd) = std::fs::read_dir(dir(state)) else {
        return;
    };
    for folder in rd.flatten().filter(|e| e.path().is_dir()) {
        let Ok(files) = std::fs::read_dir(folder.path()) else {
            continue;
        };
        for f in files.flatten() {
            if !named.contains(&f.path()) {
                let _ = std::fs::remove_file(f.path());
            }
        }
        // Fails while files remain: then the folder is still in use.
        let _ = std::fs::remove_dir(folder.path());
    }
}

#[cfg(test)]
#[path = "dest_store_tests.rs"]
mod tests;
