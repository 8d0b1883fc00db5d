//! Which plugins the running Fluent Bit binary has, learned once per
//! process from its own `--help`.
//!
//! The proxy ABI gives a plugin no way to ask the host what it can load,
//! and a minimal build (or an older version) lacks plugins that features
//! depend on: `fluentbit_logs` exists only from 5.0. `--help` lists every
//! compiled-in plugin under "Inputs", "Processors", "Filters" and
//! "Outputs". The child runs on a thread of its own (it takes ~20 ms, but
//! the agent thread never waits on a process), and the answer is kept for
//! the life of the process: the binary does not change under us.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The binary's plugins by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plugins {
    pub inputs: Vec<String>,
    pub processors: Vec<String>,
    pub filters: Vec<String>,
    pub outputs: Vec<String>,
    /// From `--version` (`Fluent Bit v5.1.1` -> `5.1.1`), for the status
    /// when Fluent Bit's HTTP server is off.
    pub version: Option<String>,
}

impl Plugins {
    pub fn has_input(&self, name: &str) -> bool {
        self.inputs.iter().any(|p| p == name)
    }

    pub fn has_output(&self, name: &str) -> bool {
        self.outputs.iter().any(|p| p == name)
    }
}

/// What discovery found: the list, or why there is none.
pub type Discovered = Result<Plugins, String>;

static RESULT: OnceLock<Discovered> = OnceLock::new();
/// Who to wake when the answer arrives; the flag says a search runs.
static WAITING: Mutex<(bool, Vec<Waker>)> = Mutex::new((false, Vec::new()));

type Waker = Arc<dyn Fn() + Send + Sync>;

/// The answer, once discovery has finished.
pub fn get() -> Option<&'static Discovered> {
    RESULT.get()
}

/// Starts discovery beside the caller, once per process, running `binary`
/// (normally `/proc/self/exe`; `None` means it is not a Fluent Bit binary).
/// `waker` is called when the answer is ready, or at once if it already is.
pub fn discover(binary: Option<PathBuf>, waker: Waker) {
    let mut waiting = WAITING.lock().unwrap_or_else(|p| p.into_inner());
    // Checked under the lock: the search sets the answer before it takes
    // the lock to wake, so a waker pushed here is never missed.
    if RESULT.get().is_some() {
        drop(waiting);
        return waker();
    }
    waiting.1.push(waker);
    if std::mem::replace(&mut waiting.0, true) {
        return;
    }
    drop(waiting);
    let search = move || {
        let found = match binary {
            Some(b) => from_binary(&b),
            None => Err(
                "the Fluent Bit binary is unknown (this process is not named fluent-bit)".into(),
            ),
        };
        finish(found);
    };
    if let Err(e) = std::thread::Builder::new()
        .name("opamp-plugins".into())
        .spawn(search)
    {
        finish(Err(format!("cannot start the plugin discovery: {e}")));
    }
}

fn finish(found: Discovered) {
    let _ = RESULT.set(found);
    let wakers = std::mem::take(&mut WAITING.lock().unwrap_or_else(|p| p.into_inner()).1);
    for w in wakers {
        w();
    }
}

/// Runs `binary --help` and `binary --version` (blocking, up to 10 s
/// each; call it beside the agent thread) and reads the plugin list and
/// the version.
pub fn from_binary(binary: &Path) -> Discovered {
    let help = run(binary, "--help")?;
    let mut plugins = parse_help(&help);
    if plugins.inputs.is_empty() && plugins.outputs.is_empty() {
        return Err(format!("'{} --help' listed no plugins", binary.display()));
    }
    plugins.version = run(binary, "--version")
        .ok()
        .and_then(|t| parse_version(&t));
    Ok(plugins)
}

/// `Fluent Bit v5.1.1` (the first line of `--version`) -> `5.1.1`.
pub fn parse_version(text: &str) -> Option<String> {
    let v = text.lines().next()?.trim().strip_prefix("Fluent Bit v")?;
    (!v.is_empty()).then(|| v.split_whitespace().next().unwrap_or(v).to_string())
}

fn run(binary: &Path, arg: &str) -> Result<String, String> {
    let fail = |e: String| format!("cannot run '{} {arg}': {e}", binary.display());
    let mut child = Command::new(binary)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| fail("no output".into()))?;
    // Read beside the wait, so a long help text never blocks the child.
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.by_ref().take(1 << 20).read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail("it did not finish within 10 s".into()));
            }
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    let out = reader.join().unwrap_or_default();
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Reads the plugin sections of `--help`: a heading line per kind (bold
/// with ANSI escapes on a terminal in some versions), then one
/// `  name   description` line per plugin, until a blank line.
pub fn parse_help(text: &str) -> Plugins {
    let mut p = Plugins::default();
    let mut section: Option<usize> = None;
    for raw in text.lines() {
        let line = strip_ansi(raw);
        let heading = line.trim();
        let kind = ["Inputs", "Processors", "Filters", "Outputs"]
            .iter()
            .position(|h| *h == heading);
        if kind.is_some() {
            section = kind;
            continue;
        }
        if heading.is_empty() || !line.starts_with("  ") {
            section = None;
            continue;
        }
        let list = match section {
            Some(0) => &mut p.inputs,
            Some(1) => &mut p.processors,
            Some(2) => &mut p.filters,
            Some(3) => &mut p.outputs,
            _ => continue,
        };
        if let Some(name) = heading.split_whitespace().next() {
            list.push(name.to_string());
        }
    }
    p
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte (a letter).
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_from_the_first_line() {
        assert_eq!(
            parse_version("Fluent Bit v5.1.1\nGit commit: x\n").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(parse_version("nope"), None);
    }

    const HELP: &str = "Usage: fluent-bit [OPTION]\n\n\x1b[1mInputs\x1b[0m\n  fluentbit_metrics       Fluent Bit internal metrics\n  fluentbit_logs          Fluent Bit internal logs\n  tail                    Tail files\n\n\x1b[1mProcessors\x1b[0m\n\n\x1b[1mFilters\x1b[0m\n  grep                    grep events\n\n\x1b[1mOutputs\x1b[0m\n  opentelemetry           OpenTelemetry\n\n\x1b[1mInternal\x1b[0m\n Event Loop  = epoll\n";

    #[test]
    fn reads_each_kind_and_ignores_the_rest() {
        let p = parse_help(HELP);
        assert_eq!(p.inputs, ["fluentbit_metrics", "fluentbit_logs", "tail"]);
        assert!(p.processors.is_empty());
        assert_eq!(p.filters, ["grep"]);
        assert_eq!(p.outputs, ["opentelemetry"]);
        assert!(p.has_input("fluentbit_logs") && p.has_output("opentelemetry"));
        assert!(!p.has_input("Event"));
    }

    #[test]
    fn options_text_is_not_a_plugin() {
        let p = parse_help("  -c, --config=FILE  specify\n\nInputs\n  dummy   Dummy\n");
        assert_eq!(p.inputs, ["dummy"]);
        assert!(p.outputs.is_empty());
    }
}
