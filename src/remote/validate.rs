//! Fluent Bit's own `--dry-run` of the bootstrap with the candidate in
//! place, without touching the live managed file.
//!
//! A temporary copy of the bootstrap is written beside the real one, so
//! every relative path in it resolves as before, with the include of the
//! managed file pointed at the staged candidate. The child runs in the
//! staging folder: Fluent Bit resolves a classic include or parsers file
//! against the working folder first and the bootstrap's folder second, so
//! the candidate's `<stem>.d/...` references find the staged files and the
//! operator's own references still find theirs.

use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::policy::file_name;
use super::staging::Layout;
use crate::fbconf::classic::{self, Kind};
use crate::fbconf::includes::{classic_targets, yaml_targets};
use crate::fbconf::text::apply_edits;
use crate::fbconf::view::{items_of, pairs_of};
use crate::fbconf::yaml::{self, Tree, TreeKind};
use crate::fbconf::Format;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Enough of Fluent Bit's output to explain any failure; the rest is banner.
const MAX_OUTPUT: usize = 64 << 10;
const MAX_MESSAGE: usize = 2000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    pub binary: PathBuf,
    pub bootstrap: PathBuf,
    /// Arguments Fluent Bit needs to understand the bootstrap, such as the
    /// `-e` that loads this plugin (see [`passthrough_args`]).
    pub extra_args: Vec<String>,
    pub timeout: Duration,
}

impl DryRun {
    /// Ok when Fluent Bit accepts the bootstrap with the staged candidate.
    pub fn check(&self, layout: &Layout) -> Result<(), String> {
        self.check_until(layout, &AtomicBool::new(false))
    }

    /// [`check`](Self::check), stopping the child early once `cancel` is set.
    pub fn check_until(&self, layout: &Layout, cancel: &AtomicBool) -> Result<(), String> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let text = std::fs::read_to_string(&self.bootstrap).map_err(|e| {
            format!(
                "cannot validate: bootstrap config '{}' unreadable: {e}",
                self.bootstrap.display()
            )
        })?;
        let base = self.bootstrap.parent().unwrap_or(Path::new("."));
        // Absolute, because the child runs in another folder.
        let absolute = |p: PathBuf| if p.is_absolute() { p } else { cwd.join(p) };
        let staged = absolute(layout.staged_main());
        let rewrite = |relocated: bool| {
            rewrite_bootstrap(
                &text,
                Format::of_path(&self.bootstrap),
                &absolute(base.to_path_buf()),
                &cwd,
                &layout.managed,
                &staged,
                relocated,
            )
        };
        let rewritten = rewrite(false).ok_or_else(|| {
            format!(
                "cannot validate: the bootstrap config '{}' does not include the managed file '{}' directly \
                 (with @INCLUDE or includes:); include it from the bootstrap itself",
                self.bootstrap.display(),
                layout.managed.display()
            )
        })?;
        let name = format!(
            ".opamp-dryrun-{}-{}",
            std::process::id(),
            file_name(&self.bootstrap)
        );
        let beside = base.join(&name);
        let temp = match std::fs::write(&beside, rewritten) {
            Ok(()) => beside,
            Err(first) => {
                // A read-only bootstrap folder (a Kubernetes ConfigMap):
                // write the copy beside the managed file instead, with the
                // bootstrap's own relative paths made absolute.
                let elsewhere = layout.managed.with_file_name(&name);
                let relocated = rewrite(true).unwrap_or_default();
                std::fs::write(&elsewhere, relocated).map_err(|e| {
                    format!(
                        "cannot validate: cannot write '{}' ({first}) or '{}' ({e})",
                        beside.display(),
                        elsewhere.display()
                    )
                })?;
                elsewhere
            }
        };
        let temp_abs = absolute(temp.clone());

        let mut cmd = Command::new(&self.binary);
        cmd.arg("--dry-run")
            .arg("-c")
            .arg(&temp_abs)
            .args(&self.extra_args)
            .current_dir(&layout.staging);
        let result = run(cmd, self.timeout, cancel);
        let _ = std::fs::remove_file(&temp);

        let (ok, output) = result?;
        if ok {
            return Ok(());
        }
        let replacements = [
            (
                temp_abs.display().to_string(),
                self.bootstrap.display().to_string(),
            ),
            (
                staged.display().to_string(),
                layout.managed.display().to_string(),
            ),
            (
                absolute(layout.staged_folder()).display().to_string(),
                layout.folder.display().to_string(),
            ),
        ];
        Err(format!(
            "Fluent Bit's --dry-run rejected the config:\n{}",
            summarize(&output, &replacements)
        ))
    }
}

/// Runs the child, killing it at the deadline. Returns whether it exited 0
/// and everything it printed.
fn run(mut cmd: Command, timeout: Duration, cancel: &AtomicBool) -> Result<(bool, String), String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot validate: cannot run Fluent Bit's --dry-run: {e}"))?;
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut r| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.by_ref().take(MAX_OUTPUT as u64).read_to_end(&mut buf);
            // Drain the rest so the child never blocks on a full pipe.
            let _ = std::io::copy(&mut r, &mut std::io::sink());
            buf
        })
    })
    .collect();

    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if cancel.load(Ordering::Relaxed) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("the --dry-run check was stopped: the agent is shutting down".into());
            }
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "Fluent Bit's --dry-run did not finish within {}s and was stopped",
                    timeout.as_secs()
                ));
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                return Err(format!(
                    "cannot validate: waiting for --dry-run failed: {e}"
                ))
            }
        }
    };
    let mut out = String::new();
    for r in readers {
        out.push_str(&String::from_utf8_lossy(&r.join().unwrap_or_default()));
    }
    if status.code().is_none() {
        return Err(format!(
            "Fluent Bit's --dry-run crashed ({status}):\n{}",
            summarize(&out, &[])
        ));
    }
    Ok((status.success(), out))
}

/// The Fluent Bit binary we run in, when we run in one. A test binary or a
/// C test host is not Fluent Bit and must be given one explicitly.
pub fn discover_binary() -> Option<PathBuf> {
    let exe = std::fs::read_link("/proc/self/exe").ok()?;
    let name = file_name(&exe).to_ascii_lowercase();
    (name.contains("fluent-bit") || name.contains("td-agent-bit")).then_some(exe)
}

/// The arguments of our own command line that change how the bootstrap
/// reads (`-e`/`--plugin` loads this plugin, `-R`/`--parser` adds parsers),
/// with relative paths made absolute for the child's other working folder.
pub fn passthrough_args(args: &[String], cwd: &Path) -> Vec<String> {
    let abs = |p: &str| {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            cwd.join(p)
        }
        .display()
        .to_string()
    };
    let mut out = Vec::new();
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let (flag, value) = match a.as_str() {
            "-e" | "--plugin" => ("-e", it.next().cloned()),
            "-R" | "--parser" => ("-R", it.next().cloned()),
            _ => {
                if let Some(v) = a.strip_prefix("--plugin=") {
                    ("-e", Some(v.to_string()))
                } else if let Some(v) = a.strip_prefix("--parser=") {
                    ("-R", Some(v.to_string()))
                } else if let Some(v) = a
                    .strip_prefix("-e")
                    .filter(|v| !v.is_empty() && !a.starts_with("--"))
                {
                    ("-e", Some(v.to_string()))
                } else if let Some(v) = a.strip_prefix("-R").filter(|v| !v.is_empty()) {
                    ("-R", Some(v.to_string()))
                } else {
                    continue;
                }
            }
        };
        if let Some(v) = value {
            out.push(flag.to_string());
            out.push(abs(&v));
        }
    }
    out
}

/// Service keys naming files that Fluent Bit resolves like includes.
const PATH_KEYS: &[&str] = &["parsers_file", "plugins_file", "streams_file"];

/// The bootstrap with every direct include of `managed` pointed at
/// `staged`, or `None` when it has no such include. When `relocated`, the
/// copy will live in another folder, so its other relative includes and
/// files are made absolute against `base`. Includes are found and resolved
/// by the config reader (`fbconf`), by Fluent Bit's rules.
pub fn rewrite_bootstrap(
    text: &str,
    format: Format,
    base: &Path,
    cwd: &Path,
    managed: &Path,
    staged: &Path,
    relocated: bool,
) -> Option<String> {
    let target = identity(managed);
    let rw = Rewrite {
        names_managed: &|pattern: &str| {
            if pattern.contains('*') {
                return false; // a glob is not a direct include
            }
            let found = match format {
                Format::Classic => classic_targets(base, cwd, pattern),
                Format::Yaml => yaml_targets(base, pattern),
            };
            found.iter().any(|t| identity(t) == target)
        },
        anchor: &|p: &str| {
            (relocated && !p.is_empty() && !Path::new(p).is_absolute())
                .then(|| base.join(p).display().to_string())
        },
        staged: staged.display().to_string(),
    };
    let (mut edits, found) = match format {
        Format::Classic => rw.classic(text),
        Format::Yaml => rw.yaml(text),
    };
    edits.extend(super::leave_out::own_section_edits(format, text));
    found.then(|| apply_edits(text, edits))
}

type Edits = Vec<(Range<usize>, String)>;

struct Rewrite<'a> {
    names_managed: &'a dyn Fn(&str) -> bool,
    /// A relative path made absolute, when the copy is relocated.
    anchor: &'a dyn Fn(&str) -> Option<String>,
    staged: String,
}

impl Rewrite<'_> {
    fn classic(&self, text: &str) -> (Edits, bool) {
        let (mut edits, mut found) = (Vec::new(), false);
        for line in classic::lines(text) {
            match &line.kind {
                Kind::Include(p) if (self.names_managed)(p) => {
                    found = true;
                    edits.push((line.span, classic::include_line(&self.staged)));
                }
                Kind::Include(p) => {
                    if let Some(abs) = (self.anchor)(p) {
                        edits.push((line.span, classic::include_line(&abs)));
                    }
                }
                Kind::Entry {
                    key,
                    value,
                    value_at,
                    ..
                } if is_path_key(key) => {
                    if let Some(abs) = (self.anchor)(value) {
                        edits.push((value_at.clone(), abs));
                    }
                }
                _ => {}
            }
        }
        (edits, found)
    }

    fn yaml(&self, text: &str) -> (Edits, bool) {
        let (mut edits, mut found) = (Vec::new(), false);
        let (docs, _) = yaml::documents(text);
        for doc in &docs {
            for (key, value) in pairs_of(doc) {
                if !key.eq_ignore_ascii_case("includes") {
                    self.yaml_paths(value, &mut edits);
                    continue;
                }
                let items: Vec<&Tree> = match &value.kind {
                    TreeKind::Seq(_) => items_of(value).collect(),
                    _ => vec![value],
                };
                for item in items {
                    let Some(p) = item.scalar() else { continue };
                    if (self.names_managed)(p) {
                        found = true;
                        edits.push((item.span.clone(), yaml_quote(&self.staged)));
                    } else if let Some(abs) = (self.anchor)(p) {
                        edits.push((item.span.clone(), yaml_quote(&abs)));
                    }
                }
            }
        }
        (edits, found)
    }

    /// `parsers_file:` and the like, at any depth outside `includes:`.
    fn yaml_paths(&self, node: &Tree, edits: &mut Edits) {
        for (key, value) in pairs_of(node) {
            match value.scalar() {
                Some(v) if is_path_key(key) => {
                    if let Some(abs) = (self.anchor)(v) {
                        edits.push((value.span.clone(), yaml_quote(&abs)));
                    }
                }
                _ => self.yaml_paths(value, edits),
            }
        }
        items_of(node).for_each(|i| self.yaml_paths(i, edits));
    }
}

fn is_path_key(key: &str) -> bool {
    PATH_KEYS.contains(&key.trim().to_ascii_lowercase().as_str())
}

fn yaml_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A path's identity for comparison: the real path when it exists.
fn identity(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Fluent Bit's error lines, without colours, timestamps or banner, with
/// our temporary paths shown as the real ones.
pub fn summarize(output: &str, replacements: &[(String, String)]) -> String {
    let clean = strip_ansi(output);
    let lines: Vec<String> = clean
        .lines()
        .map(|l| strip_timestamp(l.trim_end()).to_string())
        .filter(|l| !l.trim().is_empty())
        .collect();
    let wanted: Vec<&String> = lines
        .iter()
        .filter(|l| {
            l.starts_with("[error]") || l.starts_with("[ warn]") || l.starts_with("[ help]")
        })
        .collect();
    let picked: Vec<&String> = if wanted.is_empty() {
        // No tagged lines (a crash, an unexpected message): the tail is
        // likelier to explain than the banner at the top.
        lines.iter().rev().take(5).rev().collect()
    } else {
        wanted
    };
    let mut msg = picked
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    for (from, to) in replacements {
        if !from.is_empty() {
            msg = msg.replace(from.as_str(), to);
        }
    }
    if msg.len() > MAX_MESSAGE {
        let mut cut = MAX_MESSAGE;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.truncate(cut);
        msg.push_str("...");
    }
    msg
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\u{1b}' {
            if it.peek() == Some(&'[') {
                it.next();
                // CSI: parameters and intermediates, then one final byte.
                for n in it.by_ref() {
                    if ('@'..='~').contains(&n) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// `[2024/01/02 03:04:05.678] [error] x` -> `[error] x`.
fn strip_timestamp(line: &str) -> &str {
    let t = line.trim_start();
    if t.starts_with('[') && t.as_bytes().get(5) == Some(&b'/') {
        if let Some(end) = t.find("] ") {
            return &t[end + 2..];
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_include_of_the_managed_file_is_pointed_at_the_candidate() {
        let text = "[SERVICE]\n    Flush 1\n@INCLUDE managed.conf\n@include other.conf\n";
        let out = rewrite_bootstrap(
            text,
            Format::Classic,
            Path::new("/nonexistent/etc"),
            Path::new("/nonexistent/cwd"),
            Path::new("/nonexistent/etc/managed.conf"),
            Path::new("/nonexistent/etc/.managed.conf.staging/managed.conf"),
            false,
        )
        .unwrap();
        assert_eq!(
            out,
            "[SERVICE]\n    Flush 1\n@INCLUDE /nonexistent/etc/.managed.conf.staging/managed.conf\n@include other.conf\n"
        );
    }

    #[test]
    fn yaml_block_and_flow_includes_are_rewritten() {
        let base = Path::new("/nonexistent/etc");
        let managed = Path::new("/nonexistent/etc/managed.yaml");
        let staged = Path::new("/s/managed.yaml");
        let text = "service:\n  flush: 1\nincludes:\n  - other.yaml\n  - 'managed.yaml'  # remote\npipeline:\n  inputs:\n    - name: dummy\n";
        let out =
            rewrite_bootstrap(text, Format::Yaml, base, base, managed, staged, false).unwrap();
        assert!(
            out.contains("  - other.yaml\n  - \"/s/managed.yaml\"  # remote\npipeline:"),
            "{out}"
        );
        let flow = "includes: [other.yaml, managed.yaml]\n";
        let out =
            rewrite_bootstrap(flow, Format::Yaml, base, base, managed, staged, false).unwrap();
        assert_eq!(out, "includes: [other.yaml, \"/s/managed.yaml\"]\n");
        // A `- managed.yaml` outside `includes:` is not an include.
        let other = "pipeline:\n  inputs:\n  - managed.yaml\n";
        assert_eq!(
            rewrite_bootstrap(other, Format::Yaml, base, base, managed, staged, false),
            None
        );
    }

    #[test]
    fn no_direct_include_is_reported_as_none() {
        let text = "@INCLUDE conf.d/*.conf\n";
        let p = Path::new("/nonexistent");
        assert_eq!(
            rewrite_bootstrap(
                text,
                Format::Classic,
                p,
                p,
                &p.join("managed.conf"),
                p,
                false
            ),
            None
        );
    }

    #[test]
    fn a_relocated_copy_anchors_the_bootstraps_own_relative_paths() {
        let base = Path::new("/cm/etc");
        let managed = Path::new("/var/lib/fb/managed.conf");
        let staged = Path::new("/var/lib/fb/.managed.conf.staging/managed.conf");
        let text = "[SERVICE]\n    Parsers_File parsers.conf\n    plugins_file /abs/plugins.conf\n@INCLUDE /var/lib/fb/managed.conf\n@INCLUDE conf.d/*.conf\n";
        let out =
            rewrite_bootstrap(text, Format::Classic, base, base, managed, staged, true).unwrap();
        assert_eq!(
            out,
            "[SERVICE]\n    Parsers_File /cm/etc/parsers.conf\n    plugins_file /abs/plugins.conf\n\
             @INCLUDE /var/lib/fb/.managed.conf.staging/managed.conf\n@INCLUDE /cm/etc/conf.d/*.conf\n"
        );
        let yaml = "service:\n  parsers_file: 'parsers.yaml'\nincludes:\n  - /var/lib/fb/managed.conf\n  - inputs.yaml\n";
        let out = rewrite_bootstrap(yaml, Format::Yaml, base, base, managed, staged, true).unwrap();
        assert_eq!(
            out,
            "service:\n  parsers_file: \"/cm/etc/parsers.yaml\"\nincludes:\n  - \"/var/lib/fb/.managed.conf.staging/managed.conf\"\n  - \"/cm/etc/inputs.yaml\"\n"
        );
        // In place, nothing but the managed include changes.
        let out =
            rewrite_bootstrap(text, Format::Classic, base, base, managed, staged, false).unwrap();
        assert!(
            out.contains("Parsers_File parsers.conf") && out.contains("@INCLUDE conf.d/*.conf")
        );
    }

    #[test]
    fn output_keeps_error_lines_without_noise() {
        let out = "\u{1b}[1mFluent Bit v5.1.1\u{1b}[0m\n* Copyright\n\n[2026/11/25 17:27:24.929] [error] [config] error in /etc/.managed.conf.staging/managed.conf:1: bad header definition\n[2026/11/25 17:27:24] [error] configuration file contains errors, aborting.\n";
        let msg = summarize(
            out,
            &[(
                "/etc/.managed.conf.staging/managed.conf".into(),
                "/etc/managed.conf".into(),
            )],
        );
        assert_eq!(
            msg,
            "[error] [config] error in /etc/managed.conf:1: bad header definition\n[error] configuration file contains errors, aborting."
        );
    }

    #[test]
    fn output_without_error_lines_keeps_its_tail() {
        let msg = summarize("banner\na\nb\nc\nd\ne\nf\n", &[]);
        assert_eq!(msg, "b\nc\nd\ne\nf");
        assert!(summarize(&"[error] x".repeat(1000), &[]).len() <= MAX_MESSAGE + 3);
    }

    #[test]
    fn plugin_arguments_pass_through_as_absolute_paths() {
        let args: Vec<String> = [
            "fluent-bit",
            "-c",
            "f.conf",
            "-e",
            "lib/opamp.so",
            "--plugin=/abs/x.so",
            "-R",
            "p.conf",
            "-v",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            passthrough_args(&args, Path::new("/w")),
            vec![
                "-e",
                "/w/lib/opamp.so",
                "-e",
                "/abs/x.so",
                "-R",
                "/w/p.conf"
            ]
        );
    }

    #[test]
    fn a_child_that_hangs_is_killed_at_the_deadline() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let t0 = Instant::now();
        let e = run(cmd, Duration::from_millis(200), &AtomicBool::new(false)).unwrap_err();
        assert!(e.contains("did not finish"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
}
