//! Path confinement for remote configs (`allow_paths`): properties that
//! make Fluent Bit read or write host files may only name folders the
//! operator listed. Without it a remote config could `tail` `/etc/shadow`
//! into an `http` output, or point a parser or storage file anywhere the
//! process can reach.
//!
//! A value is checked by what Fluent Bit would open: relative paths against
//! the process's working folder (we run inside Fluent Bit, so it is its
//! folder), a glob by its fixed prefix, and symlinks resolved through the
//! longest part that exists. `..` after a part that does not exist yet is
//! refused: it cannot be resolved.

use std::path::{Path, PathBuf};

/// Where remote configs may point file properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowPaths {
    Any,
    /// Folders, as configured (resolved when checking).
    Under(Vec<PathBuf>),
}

/// Common log and state folders allowed by default, besides the managed
/// folder and the plugin's own state (packages, destinations).
pub const DEFAULT_DIRS: &[&str] = &[
    "/var/log",
    "/var/lib/fluent-bit",
    "/var/lib/docker/containers",
];

/// Whether a property names a host file or folder: `path`, `db`, `file`,
/// `*_file`, `*_path`, `*.path`, `*_dir` (record keys such as `path_key`
/// are not paths).
pub fn is_path_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    matches!(k.as_str(), "path" | "db" | "file" | "exclude_path")
        || k.ends_with("_file")
        || k.ends_with("_path")
        || k.ends_with(".path")
        || k.ends_with("_dir")
        || k.ends_with(".dir")
}

impl AllowPaths {
    /// Checks one value (a path, or a comma list of them as `tail`'s
    /// `path` and `exclude_path` take).
    pub fn check(&self, value: &str, cwd: &Path) -> Result<(), String> {
        let AllowPaths::Under(dirs) = self else {
            return Ok(());
        };
        let allowed: Vec<PathBuf> = dirs.iter().map(|d| resolve(d)).collect::<Result<_, _>>()?;
        for one in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            if one.contains("${") {
                return Err(format!(
                    "'{}' uses a variable Fluent Bit would expand; write the path out",
                    one.escape_default()
                ));
            }
            let full = cwd.join(fixed_prefix(one));
            let real = resolve(&full)?;
            if !allowed.iter().any(|a| real.starts_with(a)) {
                return Err(format!(
                    "'{}' is outside allow_paths ({})",
                    one.escape_default(),
                    dirs.iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// The part of a glob before its first wildcard component.
fn fixed_prefix(p: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in Path::new(p).components() {
        if c.as_os_str()
            .to_string_lossy()
            .contains(['*', '?', '[', '{'])
        {
            break;
        }
        out.push(c);
    }
    out
}

/// The real path: the longest existing ancestor canonicalized (symlinks
/// resolved), the rest appended as written.
fn resolve(p: &Path) -> Result<PathBuf, String> {
    let mut existing = p.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    // The walk stops at a `..` (it has no file name): what is left must
    // exist, or the path climbs through a folder that does not.
    let mut real = existing.canonicalize().map_err(|_| {
        format!(
            "'{}' climbs through a folder that does not exist",
            p.display()
        )
    })?;
    for r in rest.into_iter().rev() {
        real.push(r);
    }
    Ok(real)
}

#[cfg(test)]
mod tests;
