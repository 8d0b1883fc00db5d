//! The C test host (tests/host/proxy_host.c) as a child process: it loads
//! the plugin exactly as Fluent Bit's proxy loader does, and reloads on the
//! plugin's SIGHUP with the outcome the managed file asks for
//! (`--verdict-file`).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "../host/build_host.rs"]
pub mod build_host;

use super::fluent_bit::plugin_path;

pub struct Host {
    pub child: Child,
    out: Arc<Mutex<String>>,
}

impl Host {
    pub fn start(conf: &Path, managed: &Path, log: &Path) -> Host {
        Host::spawn(&build_host::host_path(), conf, managed, log, &[])
    }

    pub fn spawn(
        exe: &Path,
        conf: &Path,
        managed: &Path,
        log: &Path,
        env: &[(&str, &str)],
    ) -> Host {
        let mut cmd = Command::new(exe);
        cmd.envs(env.iter().copied())
            .arg("--plugin")
            .arg(plugin_path())
            .arg("-c")
            .arg(conf)
            .arg("--verdict-file")
            .arg(managed)
            .arg("--log")
            .arg(log)
            .args([
                "--scenario",
                "sighup",
                "--interval-ms",
                "50",
                "--steady-ms",
                "100",
            ])
            .stdout(Stdio::piped());
        let mut child = spawn_when_not_busy(&mut cmd);
        let out = Arc::new(Mutex::new(String::new()));
        let buf = out.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                buf.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        Host { child, out }
    }

    pub fn reloads(&self) -> usize {
        self.out
            .lock()
            .unwrap()
            .matches("host: reload done")
            .count()
    }

    pub fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    pub fn wait_exit(&mut self) -> Option<i32> {
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        if self.wait_exit().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Spawns, retrying while the executable is busy (ETXTBSY): a copy of it
/// may still be open for writing in a child another thread just forked.
pub fn spawn_when_not_busy(cmd: &mut Command) -> Child {
    for _ in 0..100 {
        match cmd.spawn() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(Duration::from_millis(20))
            }
            other => return other.expect("spawn the C host"),
        }
    }
    panic!("the C host stayed busy (ETXTBSY) for 2 s");
}
