//! Running real Fluent Bit binaries in tests: which ones (`FLUENT_BIT_BIN`,
//! one path or several separated by `:` or `,`), the plugin to load, and a
//! child process whose output is collected as it comes.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binaries to test. Tests that call this are `ignore`d unless
/// FLUENT_BIT_BIN was set when they were built (see build.rs), so an unset
/// variable here means one was run by name with `--ignored`: that fails.
pub fn binaries(test: &str) -> Vec<PathBuf> {
    let v = std::env::var("FLUENT_BIT_BIN").unwrap_or_default();
    assert!(
        !v.trim().is_empty(),
        "{test} needs FLUENT_BIT_BIN: a `:`-separated list of real Fluent Bit binaries"
    );
    let bins: Vec<PathBuf> = v
        .split([':', ','])
        .filter(|s| !s.trim().is_empty())
        .map(|s| PathBuf::from(s.trim()))
        .collect();
    for b in &bins {
        assert!(
            b.exists(),
            "FLUENT_BIT_BIN names {} which does not exist",
            b.display()
        );
    }
    bins
}

/// The plugin as `cargo test` last built it: the copy in deps/, beside the
/// test binary (target/debug/ only gets a copy on `cargo build`).
pub fn plugin_path() -> PathBuf {
    std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .join("libfluent_bit_opamp.so")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh folder under the system temp dir, unique to this process.
pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("opamp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The first line of `--version`, e.g. "Fluent Bit v5.1.1".
pub fn version_of(bin: &Path) -> String {
    let out = Command::new(bin).arg("--version").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("?")
        .to_string()
}

/// A running Fluent Bit; stdout and stderr are collected separately.
pub struct Fb {
    pub child: Child,
    pub out: Arc<Mutex<String>>,
    pub err: Arc<Mutex<String>>,
}

fn pump(r: impl Read + Send + 'static, buf: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut line = String::new();
        while r.read_line(&mut line).unwrap_or(0) > 0 {
            buf.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
}

impl Fb {
    pub fn spawn(bin: &Path, args: &[String]) -> Fb {
        Self::spawn_env(bin, args, &[])
    }

    pub fn spawn_env(bin: &Path, args: &[String], env: &[(&str, &str)]) -> Fb {
        let mut child = Command::new(bin)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start fluent-bit");
        let out = Arc::new(Mutex::new(String::new()));
        let err = Arc::new(Mutex::new(String::new()));
        pump(child.stdout.take().unwrap(), out.clone());
        pump(child.stderr.take().unwrap(), err.clone());
        Fb { child, out, err }
    }

    /// `-c conf`.
    pub fn with_config(bin: &Path, conf: &Path) -> Fb {
        Self::spawn(bin, &["-c".into(), conf.display().to_string()])
    }

    /// Everything printed so far, stdout then stderr.
    pub fn all(&self) -> String {
        format!("{}{}", self.out.lock().unwrap(), self.err.lock().unwrap())
    }

    pub fn count(&self, what: &str) -> usize {
        self.all().matches(what).count()
    }

    pub fn wait_for(&mut self, what: &str, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.all().contains(what) {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.all().contains(what);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Waits until `what` occurs more than `than` times.
    pub fn wait_for_more(&self, what: &str, than: usize, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if self.count(what) > than {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// SIGTERM and the time until the process is gone (killed after 10 s).
    pub fn terminate(&mut self) -> Duration {
        let t0 = Instant::now();
        self.signal("-TERM");
        if self.wait_exit(Duration::from_secs(10)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        t0.elapsed()
    }

    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Fb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
