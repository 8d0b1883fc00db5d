//! File operations inside the managed folder: each file is replaced
//! atomically, nothing is written outside the folder, and no symlink is
//! followed out of it.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::keys;
use crate::state_dir::write_atomic;

/// One entry of a folder snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File(Vec<u8>),
    /// Kept as a link: an operator's symlink comes back as it was.
    Link(PathBuf),
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Writes `data` at `root/key`, creating folders as needed.
pub fn write_in(root: &Path, key: &str, data: &[u8]) -> io::Result<()> {
    let target = prepare(root, key)?;
    write_atomic(&target, data)
}

/// Recreates a snapshot entry at `root/key`.
pub fn write_node(root: &Path, key: &str, node: &Node) -> io::Result<()> {
    match node {
        Node::File(data) => write_in(root, key, data),
        Node::Link(to) => {
            let target = prepare(root, key)?;
            let tmp = tmp_name(&target);
            let _ = fs::remove_file(&tmp);
            std::os::unix::fs::symlink(to, &tmp)?;
            fs::rename(&tmp, &target)?;
            fsync_dir(target.parent().unwrap_or(root));
            Ok(())
        }
    }
}

/// Checks the key, creates its parent folders without following any
/// symlink, and returns the path to write.
fn prepare(root: &Path, key: &str) -> io::Result<PathBuf> {
    keys::check(key).map_err(invalid)?;
    fs::create_dir_all(root)?;
    let parts: Vec<&str> = key.split('/').collect();
    let mut dir = root.to_path_buf();
    for part in &parts[..parts.len() - 1] {
        dir.push(part);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_dir() => {}
            Ok(_) => {
                return Err(invalid(format!(
                    "key {} passes through '{}', which is not a real folder (a file or a symlink)",
                    keys::shown(key),
                    dir.display()
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&dir)?;
                fsync_dir(dir.parent().unwrap_or(root));
            }
            Err(e) => return Err(e),
        }
    }
    // The walk above refuses symlinks it meets; this also catches a folder
    // swapped for one between the walk and now, and a root that is itself
    // a link to somewhere odd.
    let real_root = fs::canonicalize(root)?;
    let real_parent = fs::canonicalize(&dir)?;
    if !real_parent.starts_with(&real_root) {
        return Err(invalid(format!(
            "key {} escapes the managed folder through a symlink",
            keys::shown(key)
        )));
    }
    let target = dir.join(parts[parts.len() - 1]);
    if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
        return Err(invalid(format!(
            "key {} names an existing folder",
            keys::shown(key)
        )));
    }
    Ok(target)
}

fn tmp_name(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.tmp{}", std::process::id()))
}

/// Every file and link under `root`, by key, not following links. Hidden
/// names are skipped: keys cannot be hidden, so those are not ours.
pub fn read_tree(root: &Path) -> io::Result<Vec<(String, Node)>> {
    let mut out = Vec::new();
    match fs::symlink_metadata(root) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    walk(root, "", &mut out)?;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, Node)>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        let ft = entry.file_type()?;
        if ft.is_symlink() {
            out.push((key, Node::Link(fs::read_link(entry.path())?)));
        } else if ft.is_dir() {
            walk(&entry.path(), &key, out)?;
        } else if ft.is_file() {
            out.push((key, Node::File(fs::read(entry.path())?)));
        }
    }
    Ok(())
}

/// Removes every file and link under `root` whose key is not in `keep`,
/// then the folders left empty, and our own temporary files from a crash.
pub fn remove_others(root: &Path, keep: &BTreeSet<String>) -> io::Result<()> {
    if !root.is_dir() {
        return Ok(());
    }
    prune(root, "", keep)?;
    Ok(())
}

/// Returns whether `dir` is empty afterwards.
fn prune(dir: &Path, prefix: &str, keep: &BTreeSet<String>) -> io::Result<bool> {
    let mut empty = true;
    let mut changed = false;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let ft = entry.file_type()?;
        if name.starts_with('.') {
            if is_our_tmp(&name) && !ft.is_dir() {
                fs::remove_file(&path)?;
                changed = true;
            } else {
                empty = false;
            }
            continue;
        }
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if ft.is_dir() {
            if prune(&path, &key, keep)? {
                fs::remove_dir(&path)?;
                changed = true;
            } else {
                empty = false;
            }
        } else if keep.contains(&key) {
            empty = false;
        } else {
            fs::remove_file(&path)?;
            changed = true;
        }
    }
    if changed {
        fsync_dir(dir);
    }
    Ok(empty)
}

/// `state_dir::write_atomic`'s temporary names: `.<name>.tmp<pid>-<n>`, and
/// `.<name>.tmp<pid>` as earlier versions named them (a crash may have left
/// one behind before an upgrade).
fn is_our_tmp(name: &str) -> bool {
    let Some(tail) = name.rfind(".tmp").map(|i| &name[i + 4..]) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match tail.split_once('-') {
        Some((pid, n)) => digits(pid) && digits(n),
        None => digits(tail),
    }
}

/// Whether `path` already holds exactly `data`; skipping such writes keeps
/// a restore that changes nothing from touching the files at all.
pub fn holds(path: &Path, data: &[u8]) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) && fs::read(path).is_ok_and(|d| d == data)
}

pub fn node_at(root: &Path, key: &str) -> Option<Node> {
    let p = root.join(key);
    let m = fs::symlink_metadata(&p).ok()?;
    if m.file_type().is_symlink() {
        fs::read_link(&p).ok().map(Node::Link)
    } else if m.is_file() {
        fs::read(&p).ok().map(Node::File)
    } else {
        None
    }
}

pub fn fsync_dir(dir: &Path) {
    // Only durability is at stake: a failed folder sync is not worth
    // failing an apply for.
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

pub fn remove_dir_if_exists(dir: &Path) -> io::Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("opamp-files-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn writes_nested_keys_and_reads_them_back() {
        let d = tmp("nested");
        let root = d.join("m.d");
        write_in(&root, "a/b/c.lua", b"x").unwrap();
        write_in(&root, "top.conf", b"y").unwrap();
        let tree = read_tree(&root).unwrap();
        assert_eq!(
            tree,
            vec![
                ("a/b/c.lua".into(), Node::File(b"x".to_vec())),
                ("top.conf".into(), Node::File(b"y".to_vec()))
            ]
        );
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_symlinked_folder_is_not_followed_out() {
        let d = tmp("link");
        let root = d.join("m.d");
        let outside = d.join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("esc")).unwrap();
        let e = write_in(&root, "esc/pwn.conf", b"x").unwrap_err();
        assert!(e.to_string().contains("not a real folder"), "{e}");
        assert!(!outside.join("pwn.conf").exists());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn bad_keys_never_reach_the_disk() {
        let d = tmp("keys");
        let root = d.join("m.d");
        for k in ["../x", "/abs", "a\0b"] {
            assert!(write_in(&root, k, b"x").is_err(), "{k:?}");
        }
        assert!(!d.join("x").exists());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn remove_others_keeps_what_is_listed_and_hidden_files() {
        let d = tmp("prune");
        let root = d.join("m.d");
        write_in(&root, "keep.conf", b"1").unwrap();
        write_in(&root, "old/gone.conf", b"2").unwrap();
        write_in(&root, "lua/keep.lua", b"3").unwrap();
        fs::write(root.join(".operator-note"), b"n").unwrap();
        fs::write(root.join(".keep.conf.tmp123"), b"torn").unwrap();
        let keep: BTreeSet<String> = ["keep.conf".to_string(), "lua/keep.lua".to_string()].into();
        remove_others(&root, &keep).unwrap();
        let keys: Vec<String> = read_tree(&root)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, vec!["keep.conf", "lua/keep.lua"]);
        assert!(!root.join("old").exists());
        assert!(root.join(".operator-note").exists());
        assert!(!root.join(".keep.conf.tmp123").exists());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn links_round_trip_as_links() {
        let d = tmp("linknode");
        let root = d.join("m.d");
        write_node(&root, "l", &Node::Link(PathBuf::from("/etc/hostname"))).unwrap();
        assert_eq!(
            read_tree(&root).unwrap(),
            vec![("l".into(), Node::Link(PathBuf::from("/etc/hostname")))]
        );
        fs::remove_dir_all(&d).unwrap();
    }
}
