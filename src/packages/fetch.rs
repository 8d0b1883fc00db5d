//! One download on a thread of its own: GET, hash while streaming, check
//! the hash and signature, then publish the version folder. The agent
//! thread never waits for it: it reads progress from shared counters and
//! the outcome from a channel when the thread wakes it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};

use super::store::{Store, Version};
use super::verify::{self, Hashing, SignaturePolicy};
use crate::transport::download::{self, DownloadConfig};
use crate::transport::Headers;

/// What to fetch and where it goes.
#[derive(Clone)]
pub struct Job {
    pub name: String,
    pub url: String,
    /// The server's download headers, the only ones sent. Secret.
    pub headers: Headers,
    pub version: Version,
    pub signature: Vec<u8>,
    pub signatures: SignaturePolicy,
    pub config: DownloadConfig,
    /// Also copy the verified file here (the top-level agent package).
    pub stage_to: Option<PathBuf>,
}

/// How often progress wakes the agent thread at most.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

pub struct Running {
    pub name: String,
    /// A top-level package, staged beside the running file.
    pub top_level: bool,
    pub version: Version,
    rx: Receiver<Result<u64, String>>,
    pub got: Arc<AtomicU64>,
    pub total: Arc<AtomicU64>,
    cancel: Arc<AtomicBool>,
    pub started: Instant,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

pub fn start(store: Store, job: Job, wake: Arc<dyn Fn() + Send + Sync>) -> Result<Running, String> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let got = Arc::new(AtomicU64::new(0));
    let total = Arc::new(AtomicU64::new(0));
    let cancel = Arc::new(AtomicBool::new(false));
    let running = Running {
        name: job.name.clone(),
        top_level: job.stage_to.is_some(),
        version: job.version.clone(),
        rx,
        got: got.clone(),
        total: total.clone(),
        cancel: cancel.clone(),
        started: Instant::now(),
    };
    std::thread::Builder::new()
        .name("opamp-package".into())
        .spawn(move || {
            let counters = Counters {
                got,
                total,
                cancel,
                wake: wake.clone(),
            };
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run(&store, &job, &counters)
            }))
            .unwrap_or_else(|_| Err("internal error while downloading".into()));
            let _ = tx.send(r);
            wake();
        })
        .map_err(|e| format!("cannot start the download thread: {e}"))?;
    Ok(running)
}

impl Running {
    /// The outcome once the thread ended: the size stored.
    pub fn poll(&self) -> Option<Result<u64, String>> {
        match self.rx.try_recv() {
            Ok(r) => Some(r),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err("the download ended early".into())),
        }
    }
}

struct Counters {
    got: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
    cancel: Arc<AtomicBool>,
    wake: Arc<dyn Fn() + Send + Sync>,
}

fn run(store: &Store, job: &Job, c: &Counters) -> Result<u64, String> {
    let tmp = store
        .tmp_file(&job.name)
        .map_err(|e| format!("cannot create a download file in state_dir: {e}"))?;
    let r = download_verified(store, job, c, &tmp);
    let _ = std::fs::remove_file(&tmp);
    // Only when empty: one download at a time, so nothing else is in it.
    if let Some(dir) = tmp.parent() {
        let _ = std::fs::remove_dir(dir);
    }
    r
}

fn download_verified(
    store: &Store,
    job: &Job,
    c: &Counters,
    tmp: &std::path::Path,
) -> Result<u64, String> {
    let file = File::create(tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let mut sink = Cancellable {
        inner: Hashing::new(BufWriter::with_capacity(64 * 1024, file)),
        cancel: &c.cancel,
    };
    let mut last_wake = Instant::now();
    let mut progress = |got: u64, total: Option<u64>| {
        c.got.store(got, Ordering::Relaxed);
        c.total.store(total.unwrap_or(0), Ordering::Relaxed);
        if last_wake.elapsed() >= PROGRESS_EVERY {
            last_wake = Instant::now();
            (c.wake)();
        }
    };
    let size = download::fetch(
        &job.config,
        &job.url,
        &job.headers,
        &mut sink,
        &mut progress,
    )
    .map_err(|e| e.to_string())?;
    let (digest, buf) = sink.inner.finish();
    let file = buf
        .into_inner()
        .map_err(|e| format!("cannot store the download: {}", e.error()))?;
    file.sync_all()
        .map_err(|e| format!("cannot store the download: {e}"))?;
    verify::check(
        &digest,
        &job.version.content_hash,
        &job.signature,
        &job.signatures,
    )?;
    if let Some(to) = &job.stage_to {
        stage(tmp, to)?;
    }
    let mut v = job.version.clone();
    v.size = size;
    store
        .publish(tmp, &job.name, &v)
        .map_err(|e| format!("cannot store the package: {e}"))?;
    Ok(size)
}

/// Copies the verified file next to the running one under a new name,
/// atomically; the running file is never opened for writing.
fn stage(from: &std::path::Path, to: &std::path::Path) -> Result<(), String> {
    let tmp = to.with_extension("opamp-partial");
    let r = std::fs::copy(from, &tmp)
        .and_then(|_| File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, to));
    if let Err(e) = r {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot stage it at {}: {e}", to.display()));
    }
    Ok(())
}

/// Stops the transfer when the agent gives up on it (offer withdrawn,
/// shutdown).
struct Cancellable<'a, W> {
    inner: W,
    cancel: &'a AtomicBool,
}

impl<W: Write> Write for Cancellable<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("download cancelled"));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
