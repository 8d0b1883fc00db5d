//! Where an include points: one rule per format, as Fluent Bit resolves it.
//!
//! - Classic `@INCLUDE p` (`flb_cf_fluentbit.c`): a pattern with `*` is a
//!   glob, relative to the main config's folder; any other path is tried
//!   as written (so against the working folder) and, if it does not exist
//!   and is relative, against the main config's folder.
//! - YAML `includes: [p]` (`flb_cf_yaml.c`): relative to the folder of the
//!   file that includes it; a pattern with `*` is a glob there.
//!
//! Globs are glob(3): `*`, `?` in any path component, a leading `.` only
//! matched literally. Fluent Bit asks for them unsorted; we sort, so our
//! report is stable.

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

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// The files a glob names, sorted. A component without wildcards is taken
/// as written, like glob(3) does.
pub fn glob(pattern: &Path) -> Vec<PathBuf> {
    let mut found = vec![PathBuf::new()];
    for comp in pattern.components() {
        let c = comp.as_os_str().to_string_lossy();
        let mut next = Vec::new();
        for base in &found {
            if !is_glob(&c) {
                next.push(base.join(comp.as_os_str()));
                continue;
            }
            let dir = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base.as_path()
            };
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|f| (c.starts_with('.') || !f.starts_with('.')) && wildcard_match(&c, f))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| base.join(n)));
        }
        found = next;
    }
    found.retain(|p| p.exists());
    found
}

/// What a classic `@INCLUDE pattern` reads. `root` is the main config's
/// folder, `cwd` Fluent Bit's working folder.
pub fn classic_targets(root: &Path, cwd: &Path, pattern: &str) -> Vec<PathBuf> {
    let p = Path::new(pattern);
    if pattern.contains('*') {
        // Only `*` makes Fluent Bit glob; `?` alone is a literal name.
        return glob(&root.join(p));
    }
    let as_written = cwd.join(p);
    if as_written.exists() || p.is_absolute() {
        vec![as_written]
    } else {
        vec![root.join(p)]
    }
}

/// What a YAML `includes:` entry reads, in the file whose folder is `dir`.
pub fn yaml_targets(dir: &Path, pattern: &str) -> Vec<PathBuf> {
    let full = dir.join(pattern);
    if pattern.contains('*') {
        glob(&full)
    } else {
        vec![full]
    }
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
    fn relative_patterns_resolve_by_format() {
        let root = Path::new("/nonexistent-root");
        let cwd = Path::new("/nonexistent-cwd");
        assert_eq!(
            classic_targets(root, cwd, "managed.conf"),
            vec![PathBuf::from("/nonexistent-root/managed.conf")]
        );
        assert_eq!(
            classic_targets(root, cwd, "/abs/x.conf"),
            vec![PathBuf::from("/abs/x.conf")]
        );
        assert_eq!(
            yaml_targets(Path::new("/etc/fb/sub"), "b.yaml"),
            vec![PathBuf::from("/etc/fb/sub/b.yaml")]
        );
    }

    #[test]
    fn globs_in_any_component_skip_dot_files() {
        let d = std::env::temp_dir().join(format!("opamp-glob-{}", std::process::id()));
        for f in ["a/x.conf", "b/y.conf", "b/.hidden.conf", "c/z.yaml"] {
            std::fs::create_dir_all(d.join(f).parent().unwrap()).unwrap();
            std::fs::write(d.join(f), "").unwrap();
        }
        let got = glob(&d.join("*/*.conf"));
        assert_eq!(got, vec![d.join("a/x.conf"), d.join("b/y.conf")]);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
