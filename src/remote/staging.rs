//! The managed file and folder on disk: staging a candidate, keeping the
//! last-known-good (LKG), swapping, restoring and committing.
//!
//! Crash safety rests on one rule: the pending marker exists exactly while
//! the live files may differ from a complete LKG copy. It is written after
//! the LKG copy is complete and before the first live file changes, and
//! removed only after a commit or a recorded rollback. So a process that
//! dies anywhere in between leaves the marker behind, and the next start
//! restores the LKG: the files end up old or new, never mixed. Each single
//! file is replaced atomically (temp, fsync, rename, fsync folder), so none
//! is ever half-written.
//!
//! All operations take one process-wide lock, because the abort path runs
//! on Fluent Bit's main thread while the agent thread may be mid-swap.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use super::files::{self, Node};
use super::policy::{file_name, managed_folder, Candidate};
use super::record::{hex, unhex};
use crate::state_dir::write_atomic;

const MARKER: &str = "remote_config.pending";
const LKG: &str = "remote_config.lkg";
const LKG_TMP: &str = "remote_config.lkg.tmp";
const LKG_MAIN: &str = "main";
const LKG_MAIN_ABSENT: &str = "main.absent";
const LKG_FILES: &str = "files";

static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where everything lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The managed file the bootstrap includes.
    pub managed: PathBuf,
    /// `<stem>.d` beside it, for the config map's other files.
    pub folder: PathBuf,
    /// A hidden copy of the same two, beside them, for the dry run.
    pub staging: PathBuf,
    /// The plugin's `state_dir`: marker, LKG copy and status record.
    pub state: PathBuf,
}

impl Layout {
    pub fn new(managed: &Path, state_dir: &Path) -> Layout {
        Layout {
            managed: managed.to_path_buf(),
            folder: managed_folder(managed),
            staging: managed.with_file_name(format!(".{}.staging", file_name(managed))),
            state: state_dir.to_path_buf(),
        }
    }

    /// The candidate's main file, laid out so that `<stem>.d/<key>`
    /// resolves from the staging folder as it will from the live one.
    pub fn staged_main(&self) -> PathBuf {
        self.staging.join(file_name(&self.managed))
    }

    pub fn staged_folder(&self) -> PathBuf {
        self.staging.join(file_name(&self.folder))
    }

    fn marker(&self) -> PathBuf {
        self.state.join(MARKER)
    }

    fn lkg(&self) -> PathBuf {
        self.state.join(LKG)
    }
}

/// Writes the candidate to the staging folder, replacing what was there.
pub fn stage(l: &Layout, c: &Candidate) -> io::Result<()> {
    files::remove_dir_if_exists(&l.staging)?;
    fs::create_dir_all(&l.staging)?;
    write_atomic(&l.staged_main(), &c.main)?;
    fs::create_dir_all(l.staged_folder())?;
    for (k, body) in &c.files {
        files::write_in(&l.staged_folder(), k, body)?;
    }
    Ok(())
}

pub fn clear_staging(l: &Layout) -> io::Result<()> {
    files::remove_dir_if_exists(&l.staging)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Live files may be the candidate's, fully or in part.
    Applying,
    /// Fluent Bit exited on this config; the LKG is back in place.
    Aborted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub hash: Vec<u8>,
    pub phase: Phase,
    /// The process that wrote it, to tell a live apply from an orphan.
    pub pid: u32,
}

impl Marker {
    fn encode(&self) -> String {
        let phase = match self.phase {
            Phase::Applying => "applying",
            Phase::Aborted => "aborted",
        };
        format!(
            "hash={}\nphase={phase}\npid={}\n",
            hex(&self.hash),
            self.pid
        )
    }

    fn decode(text: &str) -> Option<Marker> {
        let mut hash = None;
        let mut phase = None;
        let mut pid = 0;
        for line in text.lines() {
            match line.split_once('=')? {
                ("hash", v) => hash = unhex(v),
                ("phase", "applying") => phase = Some(Phase::Applying),
                ("phase", "aborted") => phase = Some(Phase::Aborted),
                ("pid", v) => pid = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        Some(Marker {
            hash: hash?,
            phase: phase?,
            pid,
        })
    }
}

pub fn pending(l: &Layout) -> Option<Marker> {
    let _g = lock();
    read_marker(l)
}

fn read_marker(l: &Layout) -> Option<Marker> {
    match fs::read_to_string(l.marker()) {
        Ok(text) => Some(Marker::decode(&text).unwrap_or(Marker {
            // An unreadable marker still means "live files are suspect":
            // restore rather than trust them.
            hash: Vec::new(),
            phase: Phase::Applying,
            pid: 0,
        })),
        Err(_) => None,
    }
}

fn write_marker(l: &Layout, m: &Marker) -> io::Result<()> {
    write_atomic(&l.marker(), m.encode().as_bytes())
}

/// A point between two steps of [`swap_with`] or [`restore_with`]; tests
/// stop there to play a crash.
pub type Checkpoint<'a> = &'a mut dyn FnMut(&str) -> io::Result<()>;

/// Keeps the live files as LKG, writes the marker, and puts the candidate
/// in place: other files first, the main file last, so the old main file
/// never includes a file the new config removed.
pub fn swap(l: &Layout, hash: &[u8], c: &Candidate) -> io::Result<()> {
    swap_with(l, hash, c, &mut |_| Ok(()))
}

pub fn swap_with(l: &Layout, hash: &[u8], c: &Candidate, at: Checkpoint) -> io::Result<()> {
    let _g = lock();
    if read_marker(l).is_some_and(|m| m.phase == Phase::Aborted) {
        // The process is exiting on the last-known-good; keep it that way.
        return Err(io::Error::other(
            "Fluent Bit is exiting after an aborted reload",
        ));
    }
    snapshot(l)?;
    at("lkg")?;
    write_marker(
        l,
        &Marker {
            hash: hash.to_vec(),
            phase: Phase::Applying,
            pid: std::process::id(),
        },
    )?;
    at("marker")?;
    for (k, body) in &c.files {
        if !files::holds(&l.folder.join(k), body) {
            files::write_in(&l.folder, k, body)?;
        }
        at(&format!("file {k}"))?;
    }
    let keep: BTreeSet<String> = c.files.iter().map(|(k, _)| k.clone()).collect();
    files::remove_others(&l.folder, &keep)?;
    at("prune")?;
    if !files::holds(&l.managed, &c.main) {
        write_atomic(&l.managed, &c.main)?;
    }
    at("main")?;
    Ok(())
}

/// Copies the live files to the LKG folder, complete before it is used.
fn snapshot(l: &Layout) -> io::Result<()> {
    let tmp = l.state.join(LKG_TMP);
    files::remove_dir_if_exists(&tmp)?;
    fs::create_dir_all(tmp.join(LKG_FILES))?;
    match fs::read(&l.managed) {
        Ok(main) => write_atomic(&tmp.join(LKG_MAIN), &main)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            write_atomic(&tmp.join(LKG_MAIN_ABSENT), b"")?
        }
        Err(e) => return Err(e),
    }
    for (k, node) in files::read_tree(&l.folder)? {
        files::write_node(&tmp.join(LKG_FILES), &k, &node)?;
    }
    files::remove_dir_if_exists(&l.lkg())?;
    fs::rename(&tmp, l.lkg())?;
    files::fsync_dir(&l.state);
    Ok(())
}

/// Puts the LKG back. Idempotent, so a crash mid-restore is finished by
/// the next one. Returns whether any live file changed.
pub fn restore(l: &Layout) -> io::Result<bool> {
    restore_with(l, &mut |_| Ok(()))
}

pub fn restore_with(l: &Layout, at: Checkpoint) -> io::Result<bool> {
    let _g = lock();
    restore_locked(l, at)
}

fn restore_locked(l: &Layout, at: Checkpoint) -> io::Result<bool> {
    let lkg = l.lkg();
    if !lkg.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "no last-known-good copy to restore",
        ));
    }
    let mut changed = false;
    let tree = files::read_tree(&lkg.join(LKG_FILES))?;
    for (k, node) in &tree {
        if files::node_at(&l.folder, k).as_ref() != Some(node) {
            files::write_node(&l.folder, k, node)?;
            changed = true;
        }
        at(&format!("file {k}"))?;
    }
    let keep: BTreeSet<String> = tree.iter().map(|(k, _)| k.clone()).collect();
    let extra = files::read_tree(&l.folder)?
        .iter()
        .any(|(k, _)| !keep.contains(k));
    files::remove_others(&l.folder, &keep)?;
    changed |= extra;
    at("prune")?;
    if lkg.join(LKG_MAIN_ABSENT).exists() {
        if fs::symlink_metadata(&l.managed).is_ok() {
            fs::remove_file(&l.managed)?;
            changed = true;
        }
    } else {
        let main = fs::read(lkg.join(LKG_MAIN))?;
        if !files::holds(&l.managed, &main) {
            write_atomic(&l.managed, &main)?;
            changed = true;
        }
    }
    at("main")?;
    Ok(changed)
}

/// The new config is confirmed: forget the LKG. Refused once the abort
/// path has rolled back, so a late confirmation cannot commit a config
/// that is no longer in place.
pub fn commit(l: &Layout) -> io::Result<()> {
    let _g = lock();
    if let Some(m) = read_marker(l) {
        if m.phase == Phase::Aborted {
            return Err(io::Error::other(
                "the config was rolled back when Fluent Bit aborted",
            ));
        }
    }
    forget(l)
}

/// Drops marker, LKG and staging once the outcome is recorded.
pub fn finish(l: &Layout) -> io::Result<()> {
    let _g = lock();
    forget(l)
}

fn forget(l: &Layout) -> io::Result<()> {
    match fs::remove_file(l.marker()) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    files::fsync_dir(&l.state);
    files::remove_dir_if_exists(&l.lkg())?;
    files::remove_dir_if_exists(&l.state.join(LKG_TMP))?;
    clear_staging(l)
}

/// Fluent Bit is exiting on the candidate: restore the LKG now and leave an
/// `Aborted` marker for the next start. Returns the aborted config's hash,
/// or `None` when no apply was in progress.
pub fn abort(l: &Layout) -> io::Result<Option<Vec<u8>>> {
    let _g = lock();
    let Some(mut m) = read_marker(l) else {
        return Ok(None);
    };
    if m.phase == Phase::Aborted {
        return Ok(None);
    }
    restore_locked(l, &mut |_| Ok(()))?;
    m.phase = Phase::Aborted;
    write_marker(l, &m)?;
    Ok(Some(m.hash))
}

/// Removes what a crash before the marker may have left: half-built LKG
/// copies and staging folders. Never touches live files.
pub fn tidy(l: &Layout) -> io::Result<()> {
    let _g = lock();
    if read_marker(l).is_none() {
        files::remove_dir_if_exists(&l.lkg())?;
    }
    files::remove_dir_if_exists(&l.state.join(LKG_TMP))?;
    clear_staging(l)
}

/// The managed file (absent or not) and the folder's entries.
pub type Snapshot = (Option<Vec<u8>>, Vec<(String, Node)>);

/// What the live files hold now, for tests and for the effective config.
pub fn live(l: &Layout) -> io::Result<Snapshot> {
    let main = match fs::read(&l.managed) {
        Ok(d) => Some(d),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    Ok((main, files::read_tree(&l.folder)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(name: &str) -> Layout {
        let d = std::env::temp_dir().join(format!("opamp-staging-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("etc")).unwrap();
        fs::create_dir_all(d.join("state")).unwrap();
        Layout::new(&d.join("etc/managed.conf"), &d.join("state"))
    }

    fn cleanup(l: &Layout) {
        let _ = fs::remove_dir_all(l.state.parent().unwrap());
    }

    fn cand(main: &str, files: &[(&str, &str)]) -> Candidate {
        Candidate {
            main: main.as_bytes().to_vec(),
            files: files
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn layout_places_folder_and_staging_beside_the_managed_file() {
        let l = Layout::new(Path::new("/etc/fb/managed.conf"), Path::new("/var/lib/s"));
        assert_eq!(l.folder, PathBuf::from("/etc/fb/managed.d"));
        assert_eq!(
            l.staged_main(),
            PathBuf::from("/etc/fb/.managed.conf.staging/managed.conf")
        );
        assert_eq!(
            l.staged_folder(),
            PathBuf::from("/etc/fb/.managed.conf.staging/managed.d")
        );
    }

    #[test]
    fn swap_then_restore_brings_back_every_old_file() {
        let l = layout("swap");
        fs::write(&l.managed, "old main").unwrap();
        files::write_in(&l.folder, "old.conf", b"old").unwrap();
        files::write_in(&l.folder, "same.conf", b"same").unwrap();
        swap(
            &l,
            b"h1",
            &cand("new main", &[("new.conf", "new"), ("same.conf", "same")]),
        )
        .unwrap();
        let (main, tree) = live(&l).unwrap();
        assert_eq!(main.unwrap(), b"new main");
        let keys: Vec<&str> = tree.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, vec!["new.conf", "same.conf"]);
        assert_eq!(pending(&l).unwrap().phase, Phase::Applying);

        assert!(restore(&l).unwrap());
        let (main, tree) = live(&l).unwrap();
        assert_eq!(main.unwrap(), b"old main");
        let keys: Vec<&str> = tree.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, vec!["old.conf", "same.conf"]);
        // A second restore finds nothing to do.
        assert!(!restore(&l).unwrap());
        cleanup(&l);
    }

    #[test]
    fn commit_forgets_lkg_and_marker() {
        let l = layout("commit");
        fs::write(&l.managed, "old").unwrap();
        swap(&l, b"h", &cand("new", &[])).unwrap();
        commit(&l).unwrap();
        assert!(pending(&l).is_none());
        assert!(!l.lkg().exists());
        assert!(restore(&l).is_err());
        assert_eq!(fs::read(&l.managed).unwrap(), b"new");
        cleanup(&l);
    }

    #[test]
    fn abort_restores_and_blocks_a_later_commit() {
        let l = layout("abort");
        fs::write(&l.managed, "old").unwrap();
        swap(&l, b"hh", &cand("bad", &[])).unwrap();
        assert_eq!(abort(&l).unwrap(), Some(b"hh".to_vec()));
        assert_eq!(fs::read(&l.managed).unwrap(), b"old");
        assert_eq!(pending(&l).unwrap().phase, Phase::Aborted);
        assert!(commit(&l).is_err());
        assert!(swap(&l, b"next", &cand("next", &[])).is_err());
        assert_eq!(fs::read(&l.managed).unwrap(), b"old");
        assert_eq!(abort(&l).unwrap(), None, "a second abort changes nothing");
        cleanup(&l);
    }

    #[test]
    fn a_missing_managed_file_is_restored_as_missing() {
        let l = layout("absent");
        swap(&l, b"h", &cand("new", &[])).unwrap();
        restore(&l).unwrap();
        assert!(!l.managed.exists());
        cleanup(&l);
    }

    #[test]
    fn marker_round_trip_and_garbage_means_applying() {
        let m = Marker {
            hash: vec![1, 2],
            phase: Phase::Aborted,
            pid: 42,
        };
        assert_eq!(Marker::decode(&m.encode()), Some(m));
        let l = layout("garbage");
        fs::write(l.marker(), "???").unwrap();
        assert_eq!(pending(&l).unwrap().phase, Phase::Applying);
        cleanup(&l);
    }
}
