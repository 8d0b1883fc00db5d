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

use crate::fbconf::view::Section;
use crate::remote::scan::normalize;

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
            if one.contains('$') {
                // `${VAR}` is expanded at start, and 5.x's `file` output
                // takes `$key` from each record, which may be absolute.
                return Err(format!(
                    "'{}' uses a variable or record accessor Fluent Bit expands at run time; write the path out",
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

    /// Every file property of one section. The `file` output writes to
    /// `Path/File` as one string, so `File` is checked joined to `Path`.
    pub fn check_section(&self, sec: &Section, cwd: &Path) -> Result<(), PathProblem> {
        if *self == AllowPaths::Any {
            return Ok(());
        }
        let file_output =
            sec.kind == "OUTPUT" && sec.get("name").map(normalize).as_deref() == Some("file");
        if file_output && sec.get("file").is_none() {
            // Before 4.0.14 and 4.1.1, out_file wrote to `Path/<tag>` with
            // the tag as it came: a tag of `../../etc/x` leaves `Path`.
            return Err(PathProblem {
                key: "File".into(),
                line: sec.line,
                why: "a file output must set File: without it each record's tag names the file, and Fluent Bit before 4.0.14 and 4.1.1 lets a tag such as '../../etc/x' leave Path".into(),
            });
        }
        for p in sec.props.iter().filter(|p| is_path_key(&p.key)) {
            for v in &p.values {
                let value = if file_output {
                    joined(sec, &p.key, v)
                } else {
                    v.clone()
                };
                self.check(&value, cwd).map_err(|why| PathProblem {
                    key: p.key.clone(),
                    line: p.line,
                    why,
                })?;
            }
        }
        Ok(())
    }
}

/// A file property of a section that `allow_paths` refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathProblem {
    /// The property as written.
    pub key: String,
    pub line: usize,
    pub why: String,
}

/// What the `file` output opens for `key = value`: `File` (and
/// `fallback_file`) under its folder property, as Fluent Bit joins them.
/// A `$key` file name is one component (5.x refuses `/` in it), checked as
/// a wildcard.
fn joined(sec: &Section, key: &str, value: &str) -> String {
    let folder = match key.to_ascii_lowercase().as_str() {
        "file" => "path",
        "fallback_file" => "fallback_path",
        _ => return value.to_string(),
    };
    let name = if value.contains('$') && !value.contains(['/', '\\']) {
        "*"
    } else {
        value
    };
    match sec.get(folder) {
        Some(dir) => format!("{dir}/{name}"),
        None => name.to_string(),
    }
}

/// The part of a glob before its first wildcard component (`%` is a
/// strftime placeholder of 5.x's `file` output).
fn fixed_prefix(p: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in Path::new(p).components() {
        if c.as_os_str()
            .to_string_lossy()
            .contains(['*', '?', '[', '{', '%'])
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
