//! Which config-map keys may become files in the managed folder.
//!
//! A key is a path relative to the managed folder. The server chooses it, so
//! everything that could place a file elsewhere, or hide it from the
//! operator, is refused here before anything touches the disk. Symlinks
//! cannot be judged from the key alone; `files::write_in` checks them when
//! it writes.

/// Linux's NAME_MAX: longer components fail with ENAMETOOLONG anyway, but
/// only after half the files are written.
pub const MAX_COMPONENT: usize = 255;
/// Linux's PATH_MAX, for the key and for the full path it lands at.
pub const MAX_PATH: usize = 4096;

/// Why a key is refused, worded for the operator.
pub fn check(key: &str) -> Result<(), String> {
    if key.contains('\0') {
        return Err(format!("key {} contains a NUL byte", shown(key)));
    }
    if key.starts_with('/') {
        return Err(format!("key {} is an absolute path", shown(key)));
    }
    if key.contains('\\') {
        // Not a separator on Linux, but a traversal on every other system
        // and in the eyes of anyone reading the folder.
        return Err(format!("key {} contains a backslash", shown(key)));
    }
    if key.chars().any(char::is_control) {
        return Err(format!("key {} contains a control character", shown(key)));
    }
    if key.len() > MAX_PATH {
        return Err(format!(
            "key {} is longer than {MAX_PATH} bytes",
            shown(key)
        ));
    }
    for part in key.split('/') {
        if part.is_empty() {
            return Err(format!(
                "key {} has an empty path component (leading, trailing or doubled '/')",
                shown(key)
            ));
        }
        if part == "." || part == ".." {
            return Err(format!("key {} contains a '{part}' component", shown(key)));
        }
        if part.starts_with('.') {
            // Hidden names are where our own temporary and staging files
            // live, and an operator listing the folder would not see them.
            return Err(format!(
                "key {} has a hidden component (starts with '.')",
                shown(key)
            ));
        }
        if part.len() > MAX_COMPONENT {
            return Err(format!(
                "key {} has a component longer than {MAX_COMPONENT} bytes",
                shown(key)
            ));
        }
        if part.contains(['*', '?', '[', ']']) {
            // Fluent Bit expands these in includes: a file literally named
            // `*.conf` would change what a wildcard include picks up.
            return Err(format!("key {} contains a wildcard character", shown(key)));
        }
    }
    Ok(())
}

/// Keys that would need one path to be both a file and a folder.
pub fn conflict<'a>(keys: &[&'a str]) -> Option<(&'a str, &'a str)> {
    for a in keys {
        for b in keys {
            if b.len() > a.len() && b.starts_with(a) && b.as_bytes()[a.len()] == b'/' {
                return Some((a, b));
            }
        }
    }
    None
}

/// A key as it may appear in a message: quoted, escaped, and cut short, so
/// a hostile key can neither forge log lines nor flood them.
pub fn shown(key: &str) -> String {
    const LIMIT: usize = 80;
    let mut out: String = key
        .chars()
        .take(LIMIT)
        .flat_map(char::escape_default)
        .collect();
    if key.chars().count() > LIMIT {
        out.push_str("...");
    }
    format!("'{out}'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_relative_keys_pass() {
        for k in [
            "parsers.conf",
            "lua/filters.lua",
            "a/b/c/d.txt",
            "with space.conf",
            "ünïcode.lua",
        ] {
            assert_eq!(check(k), Ok(()), "{k}");
        }
    }

    #[test]
    fn each_escape_is_refused_with_its_reason() {
        let cases = [
            ("/etc/passwd", "absolute"),
            ("../x", "'..'"),
            ("a/../../x", "'..'"),
            ("a/./b", "'.'"),
            ("a\0b", "NUL"),
            ("a\\..\\b", "backslash"),
            ("a//b", "empty path component"),
            ("a/", "empty path component"),
            (".hidden", "hidden"),
            ("a/.tmp", "hidden"),
            ("line\nbreak", "control"),
            ("*.conf", "wildcard"),
        ];
        for (k, why) in cases {
            let e = check(k).unwrap_err();
            assert!(e.contains(why), "{k:?}: {e}");
        }
    }

    #[test]
    fn overlong_names_are_refused() {
        let long = "x".repeat(MAX_COMPONENT + 1);
        assert!(check(&long).unwrap_err().contains("longer than 255"));
        assert_eq!(check(&"x".repeat(MAX_COMPONENT)), Ok(()));
        let deep = vec!["d".repeat(200); 21].join("/");
        assert!(deep.len() > MAX_PATH);
        assert!(check(&deep).unwrap_err().contains("longer than 4096"));
    }

    #[test]
    fn file_and_folder_with_one_name_conflict() {
        assert_eq!(conflict(&["a", "a/b"]), Some(("a", "a/b")));
        assert_eq!(conflict(&["a", "ab/c", "a.conf"]), None);
    }

    #[test]
    fn shown_keys_cannot_break_lines() {
        assert_eq!(shown("a\nb"), "'a\\nb'");
        assert!(shown(&"y".repeat(500)).len() < 100);
    }
}
