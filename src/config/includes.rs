//! Wildcard include patterns, as Fluent Bit expands them.
//!
//! Which folder a relative pattern is relative to depends on the format
//! (see `status::effective_config::read_files`); this module only expands
//! `*` and `?` in the last path component against a given base.

use std::path::{Path, PathBuf};

/// Matches `name` against a pattern with `*` and `?`.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The files an include pattern names, sorted, as Fluent Bit's glob does.
pub fn resolve_pattern(base: &Path, pattern: &str) -> Vec<PathBuf> {
    let pattern = pattern.trim();
    if pattern.is_empty() {
        return Vec::new();
    }
    let full = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        base.join(pattern)
    };
    let name = full.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !name.contains(['*', '?']) {
        return vec![full];
    }
    let dir = full.parent().unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|f| wildcard_match(name, f))
        })
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.conf", "a.conf"));
        assert!(wildcard_match("in_?.conf", "in_1.conf"));
        assert!(!wildcard_match("*.conf", "a.yaml"));
        assert!(wildcard_match("*", ""));
    }

    #[test]
    fn relative_patterns_resolve_against_base() {
        assert_eq!(
            resolve_pattern(Path::new("/etc/fb"), "managed.conf"),
            vec![PathBuf::from("/etc/fb/managed.conf")]
        );
        assert_eq!(
            resolve_pattern(Path::new("/etc/fb"), "/abs/x.conf"),
            vec![PathBuf::from("/abs/x.conf")]
        );
    }
}
