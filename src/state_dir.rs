//! The plugin's persistent folder: the process lock, the instance UID and
//! the apply state, all of which must survive reloads and restarts.
//!
//! The lock is a `flock` on a file in the folder (std's `File::try_lock`),
//! not a static: a second copy of the library loaded from another path has
//! its own statics, but it opens its own descriptor of the same file and so
//! is refused, as is a second Fluent Bit sharing the folder.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

pub struct StateDir {
    path: PathBuf,
    _lock: File,
}

const LOCK_FILE: &str = "agent.lock";
const UID_FILE: &str = "instance_uid";

impl StateDir {
    pub fn open(path: &Path) -> Result<StateDir, String> {
        std::fs::create_dir_all(path).map_err(|e| {
            format!(
                "state_dir '{}' cannot be created: {e}; set 'state_dir' to a writable folder",
                path.display()
            )
        })?;
        let lock_path = path.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| {
                format!(
                    "state_dir lock '{}' cannot be opened: {e}",
                    lock_path.display()
                )
            })?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(format!(
                    "another OpAMP agent holds '{}' (a second copy of the plugin loaded from another path, \
                     or another Fluent Bit using the same state_dir); give each agent its own state_dir",
                    lock_path.display()
                ))
            }
            Err(TryLockError::Error(e)) => {
                return Err(format!("state_dir lock '{}' failed: {e}", lock_path.display()))
            }
        }
        Ok(StateDir {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn read(&self, name: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path.join(name)).ok()
    }

    /// Replaces a file so a crash leaves either the old or the new content.
    pub fn write_atomic(&self, name: &str, data: &[u8]) -> std::io::Result<()> {
        write_atomic(&self.path.join(name), data)
    }

    /// The stored instance UID, or a new one made by `make` and stored.
    pub fn instance_uid(&self, make: impl FnOnce() -> [u8; 16]) -> std::io::Result<[u8; 16]> {
        if let Some(bytes) = self.read(UID_FILE) {
            if let Some(uid) =
                crate::config::properties::parse_uuid(String::from_utf8_lossy(&bytes).trim())
            {
                return Ok(uid);
            }
        }
        let uid = make();
        self.store_instance_uid(&uid)?;
        Ok(uid)
    }

    /// Whether the UID file is still there (a cheap check that the folder
    /// was not deleted under us).
    pub fn has_instance_uid(&self) -> bool {
        self.path.join(UID_FILE).exists()
    }

    pub fn store_instance_uid(&self, uid: &[u8; 16]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.path)?;
        self.write_atomic(
            UID_FILE,
            format!("{}\n", crate::core::format_uuid(uid)).as_bytes(),
        )
    }
}

/// Serializes every state write in the process: the main thread (abort
/// path) and the agent thread may both write, and a write is three steps.
static WRITES: Mutex<()> = Mutex::new(());
static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Temp file in the same folder, fsync, rename, fsync the folder. Temp
/// names are unique per write (`.<name>.tmp<pid>-<n>`), so two writers can
/// never interleave in one temporary file.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    write_atomic_mode(path, data, 0o666)
}

/// [`write_atomic`] for key material: the file is 0600 from its creation,
/// never readable by others even for a moment.
pub fn write_atomic_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    write_atomic_mode(path, data, 0o600)
}

fn write_atomic_mode(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let _one_at_a_time = WRITES.lock().unwrap_or_else(|p| p.into_inner());
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let seq = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp{}-{seq}", std::process::id()));
    let written = (|| {
        // A leftover of a crashed process with our pid could hold another
        // mode: start from nothing.
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        // A full disk must not leave half-written temporaries behind.
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// 16 random bytes for an identity, or, if the kernel refuses (it does not
/// on any supported Linux), bytes that are still unique per process and
/// moment: std's per-process hash keys come from the OS at startup.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    crate::sys::random_bytes().unwrap_or_else(|e| {
        crate::warn!("the kernel gave no random bytes ({e}); using a weaker source");
        weak_random()
    })
}

fn weak_random<const N: usize>() -> [u8; N] {
    use std::hash::{BuildHasher, Hasher};
    let mut out = [0u8; N];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        chunk.copy_from_slice(&h.finish().to_le_bytes()[..chunk.len()]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("opamp-state-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn second_open_of_same_folder_is_refused_until_first_drops() {
        let d = tmp("lock");
        let a = StateDir::open(&d).unwrap();
        let err = StateDir::open(&d).err().unwrap();
        assert!(err.contains("another OpAMP agent"), "{err}");
        drop(a);
        StateDir::open(&d).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn instance_uid_is_created_once_and_kept() {
        let d = tmp("uid");
        let s = StateDir::open(&d).unwrap();
        let first = s.instance_uid(|| [7; 16]).unwrap();
        let again = s.instance_uid(|| [9; 16]).unwrap();
        assert_eq!(first, [7; 16]);
        assert_eq!(again, [7; 16]);
        s.store_instance_uid(&[1; 16]).unwrap();
        assert_eq!(s.instance_uid(|| [9; 16]).unwrap(), [1; 16]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn uuid_text_round_trip() {
        let u = [
            0x01, 0x92, 0xc3, 0xa4, 0, 0, 0x70, 0, 0x80, 0, 0, 0, 0, 0, 0, 1,
        ];
        let s = crate::core::format_uuid(&u);
        assert_eq!(s, "0192c3a4-0000-7000-8000-000000000001");
        assert_eq!(crate::config::properties::parse_uuid(&s), Some(u));
    }
}

#[cfg(test)]
mod write_tests {
    use super::*;

    /// Two threads writing the same file at once each leave a whole file,
    /// and no temporary survives.
    #[test]
    fn concurrent_writes_never_mix() {
        let d = std::env::temp_dir().join(format!("opamp-write-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let f = d.join("state");
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let f = f.clone();
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        write_atomic(&f, &vec![t; 4096]).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let data = std::fs::read(&f).unwrap();
        assert_eq!(data.len(), 4096);
        assert!(data.iter().all(|&b| b == data[0]), "mixed content");
        let left: Vec<_> = std::fs::read_dir(&d).unwrap().collect();
        assert_eq!(left.len(), 1, "temporaries left behind");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
