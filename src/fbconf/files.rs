//! The main config file and everything it includes, read as Fluent Bit
//! reads them.
//!
//! Every file is read in the main file's format: classic `@INCLUDE` parses
//! any file as classic and YAML `includes:` any file as YAML, whatever its
//! extension. Includes resolve by [`super::includes`]. A file already read
//! (by its real path) is not read again, which also ends include cycles.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use super::format::Format;
use super::includes::{classic_targets, yaml_targets};
use super::view;

/// Fluent Bit stops nesting includes long before this; it only guards
/// against include cycles we failed to spot.
pub const MAX_DEPTH: usize = 16;
/// Config files are small; a huge one would crowd out the whole message.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
pub const MAX_FILES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    /// The path relative to the main file's folder (the main file by its
    /// name), as the operator sees the layout.
    pub key: String,
    pub path: PathBuf,
    pub format: Format,
    /// Unredacted text; redact before it leaves the host.
    pub text: String,
}

impl ConfigFile {
    pub fn is_yaml(&self) -> bool {
        self.format == Format::Yaml
    }
}

/// Include patterns named by one file's text, in order.
pub fn includes_of(text: &str, format: Format) -> Vec<String> {
    view::view(format, text)
        .includes
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

/// `a/./b/../c` → `a/c`, without touching the filesystem (symlinks are
/// not resolved, matching what the operator wrote).
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

fn key_for(path: &Path, root: &Path, main: &Path) -> String {
    if path == main {
        if let Some(name) = path.file_name() {
            return name.to_string_lossy().into_owned();
        }
    }
    match path.strip_prefix(root) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.to_string_lossy().into_owned(),
        _ => path.to_string_lossy().into_owned(),
    }
}

/// A file's text, or a one-line note in its place when it is too big.
pub fn read_limited(path: &Path) -> std::io::Result<String> {
    let len = std::fs::metadata(path)?.len();
    if len > MAX_FILE_BYTES {
        return Ok(format!(
            "# not reported: {len} bytes is over the {MAX_FILE_BYTES}-byte limit for one file\n"
        ));
    }
    let bytes = std::fs::read(path)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The files of a config, and what would make Fluent Bit refuse it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    pub files: Vec<ConfigFile>,
    /// `key:line: why`, or `key: why` for a whole include.
    pub problems: Vec<String>,
}

/// What one walk shares: the main file, its folder, the working folder.
struct Walk {
    main: PathBuf,
    root: PathBuf,
    cwd: PathBuf,
    format: Format,
    out: Checked,
    seen: HashSet<PathBuf>,
}

/// The main file and everything it includes, depth first in include
/// order. Only an unreadable main file is an error; an include that has
/// vanished since Fluent Bit read it is skipped.
pub fn read_files(main: &Path) -> std::io::Result<Vec<ConfigFile>> {
    Ok(read_checked(main)?.files)
}

/// Like [`read_files`], also listing what Fluent Bit would refuse: syntax,
/// includes that name nothing, and files read twice (Fluent Bit refuses
/// include cycles and repeats rather than skipping them).
pub fn read_checked(main: &Path) -> std::io::Result<Checked> {
    let cwd = std::env::current_dir()?;
    let main = normalize(&cwd.join(main));
    let text = read_limited(&main)?;
    let mut walk = Walk {
        root: main.parent().unwrap_or(Path::new("/")).to_path_buf(),
        format: Format::of_path(&main),
        main: main.clone(),
        cwd,
        out: Checked::default(),
        seen: HashSet::new(),
    };
    walk.visit(&main, text, 0);
    Ok(walk.out)
}

impl Walk {
    fn visit(&mut self, path: &Path, text: String, depth: usize) {
        let key = key_for(path, &self.root, &self.main);
        // Real paths catch cycles through symlinks or `..` spellings.
        let identity = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if !self.seen.insert(identity) {
            self.out.problems.push(format!("{key}: read twice"));
            return;
        }
        if self.out.files.len() >= MAX_FILES {
            return;
        }
        let v = view::view(self.format, &text);
        for (line, why) in &v.problems {
            self.out.problems.push(format!("{key}:{line}: {why}"));
        }
        self.out.files.push(ConfigFile {
            key: key.clone(),
            path: path.to_path_buf(),
            format: self.format,
            text,
        });
        if depth >= MAX_DEPTH {
            return;
        }
        for (pattern, line) in v.includes {
            let found = match self.format {
                Format::Classic => classic_targets(&self.root, &self.cwd, &pattern),
                Format::Yaml => yaml_targets(path.parent().unwrap_or(Path::new("/")), &pattern),
            };
            if found.is_empty() {
                self.out
                    .problems
                    .push(format!("{key}:{line}: {pattern:?} matches no file"));
            }
            for inc in found {
                let inc = normalize(&inc);
                match read_limited(&inc) {
                    Ok(text) => self.visit(&inc, text, depth + 1),
                    Err(e) => self
                        .out
                        .problems
                        .push(format!("{key}:{line}: {pattern:?}: {e}")),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_includes_follow_fluent_bits_rule() {
        let t = "[SERVICE]\n  Flush 1\n@INCLUDE a.conf\n@include conf.d/*.conf\n# @INCLUDE no.conf\n  @INCLUDE indented.conf\n";
        assert_eq!(
            includes_of(t, Format::Classic),
            vec!["a.conf", "conf.d/*.conf"]
        );
    }

    #[test]
    fn yaml_includes_block_and_flow() {
        let t = "env:\n  A: b\nincludes:\n  - a.yaml   # first\n  - 'b/*.yaml'\npipeline:\n  inputs:\n    - name: dummy\n";
        assert_eq!(includes_of(t, Format::Yaml), vec!["a.yaml", "b/*.yaml"]);
        assert_eq!(
            includes_of("includes: [x.yaml, \"y.yaml\"]\n", Format::Yaml),
            vec!["x.yaml", "y.yaml"]
        );
    }

    #[test]
    fn normalizing() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }

    #[test]
    fn included_files_take_the_main_files_format() {
        let d = std::env::temp_dir().join(format!("opamp-fbconf-files-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("main.conf"), "@INCLUDE extra.yaml\n").unwrap();
        std::fs::write(d.join("extra.yaml"), "[INPUT]\n    Name dummy\n").unwrap();
        let files = read_files(&d.join("main.conf")).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files[1].format, Format::Classic);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
