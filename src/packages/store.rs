//! Package files on disk:
//!
//! ```text
//! state_dir/packages/
//!   index                     what is installed (rewritten atomically)
//!   .tmp/                     downloads in progress; emptied at start
//!   <name>/<version>/<file>   one folder per kept version
//!   <name>/current            symlink to the version in use
//! ```
//!
//! A version folder appears by one rename of a complete, verified folder,
//! so nothing half-written is ever visible under its final name.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::verify::{hex, unhex};
use crate::state_dir::write_atomic;

const INDEX: &str = "index";
pub const TMP: &str = ".tmp";
pub const CURRENT: &str = "current";

/// One stored version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub version: String,
    /// The offer's package hash.
    pub hash: Vec<u8>,
    pub content_hash: Vec<u8>,
    pub file: String,
    pub size: u64,
}

/// One package's stored versions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    pub top_level: bool,
    /// The version in use (the `current` link).
    pub current: Option<Version>,
    /// Older versions kept until a config using the current one is applied.
    pub kept: Vec<Version>,
    /// The server no longer offers it; deleted once no config uses it.
    pub removed: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Index {
    pub packages: BTreeMap<String, Stored>,
    /// The `all_packages_hash` everything installed from; empty when some
    /// package of that offer did not install.
    pub offer_hash: Vec<u8>,
}

impl Index {
    /// Bytes used by every stored version.
    pub fn used(&self) -> u64 {
        self.packages
            .values()
            .flat_map(|p| p.current.iter().chain(p.kept.iter()))
            .map(|v| v.size)
            .sum()
    }

    fn encode(&self) -> String {
        let mut out = format!("H\t{}\n", hex(&self.offer_hash));
        for (name, p) in &self.packages {
            out += &format!("P\t{name}\t{}\t{}\n", p.top_level as u8, p.removed as u8);
            let cur = p.current.iter().map(|v| (v, 1));
            for (v, c) in cur.chain(p.kept.iter().map(|v| (v, 0))) {
                out += &format!(
                    "V\t{}\t{}\t{}\t{}\t{}\t{c}\n",
                    v.version,
                    hex(&v.hash),
                    hex(&v.content_hash),
                    v.file,
                    v.size
                );
            }
        }
        out
    }

    /// Lines it cannot read are skipped: a damaged index forgets packages
    /// (they are downloaded again), it never invents them.
    fn decode(text: &str) -> Index {
        let mut ix = Index::default();
        let mut last: Option<String> = None;
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            match f.as_slice() {
                ["H", h] => ix.offer_hash = unhex(h).unwrap_or_default(),
                ["P", name, top, removed] => {
                    let p = Stored {
                        top_level: *top == "1",
                        removed: *removed == "1",
                        ..Stored::default()
                    };
                    ix.packages.insert(name.to_string(), p);
                    last = Some(name.to_string());
                }
                ["V", ver, h, ch, file, size, cur] => {
                    let Some(p) = last.as_ref().and_then(|n| ix.packages.get_mut(n)) else {
                        continue;
                    };
                    let v = Version {
                        version: ver.to_string(),
                        hash: unhex(h).unwrap_or_default(),
                        content_hash: unhex(ch).unwrap_or_default(),
                        file: file.to_string(),
                        size: size.parse().unwrap_or(0),
                    };
                    if *cur == "1" {
                        p.current = Some(v);
                    } else {
                        p.kept.push(v);
                    }
                }
                _ => {}
            }
        }
        ix
    }
}

/// The packages folder.
#[derive(Clone, Debug)]
pub struct Store {
    pub root: PathBuf,
}

impl Store {
    pub fn new(state_dir: &Path) -> Store {
        Store {
            root: state_dir.join("packages"),
        }
    }

    /// The index, with entries whose files are gone dropped; clears what
    /// an interrupted download left.
    pub fn load(&self) -> Index {
        let _ = fs::remove_dir_all(self.root.join(TMP));
        let text = fs::read_to_string(self.root.join(INDEX)).unwrap_or_default();
        let mut ix = Index::decode(&text);
        for (name, p) in ix.packages.iter_mut() {
            let exists = |v: &Version| self.file(name, v).is_file();
            p.current = p.current.take().filter(exists);
            p.kept.retain(exists);
        }
        ix.packages
            .retain(|_, p| p.current.is_some() || !p.kept.is_empty());
        ix
    }

    pub fn save(&self, ix: &Index) -> io::Result<()> {
        fs::create_dir_all(&self.root)?;
        write_atomic(&self.root.join(INDEX), ix.encode().as_bytes())
    }

    pub fn dir(&self, name: &str, version: &str) -> PathBuf {
        self.root.join(name).join(version)
    }

    pub fn file(&self, name: &str, v: &Version) -> PathBuf {
        self.dir(name, &v.version).join(&v.file)
    }

    /// A fresh temporary file path for a download.
    pub fn tmp_file(&self, name: &str) -> io::Result<PathBuf> {
        let dir = self.root.join(TMP);
        fs::create_dir_all(&dir)?;
        let tag = hex(&crate::state_dir::random_bytes::<8>());
        Ok(dir.join(format!("{name}.{tag}")))
    }

    /// Moves a verified download to `<name>/<version>/<file>` in one
    /// rename of its folder.
    pub fn publish(&self, tmp: &Path, name: &str, v: &Version) -> io::Result<()> {
        let final_dir = self.dir(name, &v.version);
        if final_dir.exists() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "version '{}' is already stored with other content; offer a new version",
                    v.version
                ),
            ));
        }
        let staging = self
            .root
            .join(TMP)
            .join(format!("{name}.{}.dir", v.version));
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir_all(&staging)?;
        fs::rename(tmp, staging.join(&v.file))?;
        fs::create_dir_all(self.root.join(name))?;
        fs::rename(&staging, &final_dir)?;
        fs::File::open(self.root.join(name))?.sync_all()
    }

    /// Points `<name>/current` at `version`, atomically (a new link
    /// renamed over the old one).
    pub fn point_current(&self, name: &str, version: &str) -> io::Result<()> {
        let dir = self.root.join(name);
        let tmp = dir.join(".current.new");
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(version, &tmp)?;
        fs::rename(&tmp, dir.join(CURRENT))
    }

    pub fn remove_version(&self, name: &str, version: &str) -> io::Result<()> {
        fs::remove_dir_all(self.dir(name, version))
    }

    pub fn remove_package(&self, name: &str) -> io::Result<()> {
        match fs::remove_dir_all(self.root.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(ver: &str) -> Version {
        Version {
            version: ver.into(),
            hash: vec![1, 2],
            content_hash: vec![3],
            file: "p.conf".into(),
            size: 5,
        }
    }

    #[test]
    fn index_round_trips_and_drops_missing_files() {
        let d = tempdir();
        let s = Store::new(&d);
        let mut ix = Index {
            offer_hash: vec![9],
            ..Default::default()
        };
        ix.packages.insert(
            "p".into(),
            Stored {
                current: Some(v("2")),
                kept: vec![v("1")],
                ..Default::default()
            },
        );
        for ver in ["1", "2"] {
            let tmp = s.tmp_file("p").unwrap();
            fs::write(&tmp, b"hello").unwrap();
            s.publish(&tmp, "p", &v(ver)).unwrap();
        }
        s.point_current("p", "2").unwrap();
        s.save(&ix).unwrap();
        assert_eq!(s.load(), ix);
        assert_eq!(ix.used(), 10);
        assert_eq!(fs::read(s.root.join("p/current/p.conf")).unwrap(), b"hello");
        s.remove_version("p", "1").unwrap();
        let back = s.load();
        assert!(back.packages["p"].kept.is_empty());
        let tmp = s.tmp_file("p").unwrap();
        fs::write(&tmp, b"x").unwrap();
        assert!(s.publish(&tmp, "p", &v("2")).is_err(), "never overwrites");
        fs::remove_dir_all(&d).unwrap();
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "opamp-pkg-store-{}-{}",
            std::process::id(),
            hex(&crate::state_dir::random_bytes::<4>())
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }
}
