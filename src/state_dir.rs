//! The plugin's persistent folder: the process lock, the instance UID and
//! the apply state, all of which must survive reloads and restarts.
//!
//! The lock is a `flock` on a file in the folder (std's `File::try_lock`),
//! not a static: a second copy of the library loaded from another path has
//! its own statics, but it opens its own descriptor of the same file and so
//! is refused, as is a second Fluent Bit sharing the folder.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

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

    pub fn store_instance_uid(&self, uid: &[u8; 16]) -> std::io::Result<()> {
        self.write_atomic(UID_FILE, format!("{}\n", format_uuid(uid)).as_bytes())
    }
}

/// Temp file in the same folder, fsync, rename, fsync the folder.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

pub fn format_uuid(u: &[u8; 16]) -> String {
    let h: String = u.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Random bytes from the kernel; std has no public source of its own.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if let Ok(mut f) = File::open("/dev/urandom") {
        let _ = f.read_exact(&mut out);
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
        let s = format_uuid(&u);
        assert_eq!(s, "0192c3a4-0000-7000-8000-000000000001");
        assert_eq!(crate::config::properties::parse_uuid(&s), Some(u));
    }
}
