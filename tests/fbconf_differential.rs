//! The config reader (`fbconf`) against real Fluent Bit, on a corpus of
//! configs in tests/fixtures/fbconf/: one folder per case, holding
//! `main.conf` or `main.yaml`, the files it includes, and `expected`.
//!
//! `expected` is our reader's view: `valid` or `invalid`, then one line per
//! plugin instance (`INPUT dummy`). Lines starting `fluent-bit` are for the
//! comparison with real Fluent Bit: `fluent-bit 3.2: invalid` records a
//! version that refuses what the others accept (and why, in a comment),
//! `fluent-bit-run: no` skips starting the case (it would start the agent).
//!
//! Without Fluent Bit, `corpus_matches_expected_views` still checks the
//! reader. With `FLUENT_BIT_BIN` (paths separated by `:`), the
//! differential test runs each binary on each case: `--dry-run` must
//! accept exactly what we call valid, and a 1.5 s run must start the
//! inputs and outputs we see.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use fluent_bit_opamp::fbconf::files::read_checked;
use fluent_bit_opamp::fbconf::vars::expand_vars;
use fluent_bit_opamp::fbconf::view::view;

const CORPUS: &str = "tests/fixtures/fbconf";
/// Stands in for `/usr/lib/fluent-bit/opamp.so` in the example configs.
const PLUGIN_IN_EXAMPLES: &str = "/usr/lib/fluent-bit/opamp.so";

fn set_env() {
    // classic_env_var and the examples read these.
    std::env::set_var("FBCONF_TEST_INPUT", "dummy");
    std::env::set_var("OPAMP_TOKEN", "t");
}

fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(CORPUS)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected").exists())
        .collect();
    v.sort();
    assert!(v.len() >= 30, "corpus went missing: {v:?}");
    v
}

fn main_of(case: &Path) -> PathBuf {
    ["main.conf", "main.yaml"]
        .iter()
        .map(|m| case.join(m))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{} has no main file", case.display()))
}

/// Our reader's view of a case, in the `expected` file's words.
fn our_view(main: &Path) -> (bool, Vec<(String, String)>) {
    let checked = read_checked(main).unwrap();
    let views: Vec<_> = checked
        .files
        .iter()
        .map(|f| view(f.format, &f.text))
        .collect();
    let vars: Vec<(String, String)> = views.iter().flat_map(|v| v.vars.clone()).collect();
    let plugins = views
        .iter()
        .flat_map(|v| v.sections.iter().filter(|s| s.is_plugin()))
        .map(|s| {
            let name = expand_vars(s.get("name").unwrap_or("?"), &vars);
            (s.kind.clone(), name.to_ascii_lowercase())
        })
        .collect();
    (checked.problems.is_empty(), plugins)
}

fn render(valid: bool, plugins: &[(String, String)]) -> String {
    let mut s = String::from(if valid { "valid\n" } else { "invalid\n" });
    for (k, n) in plugins {
        s.push_str(&format!("{k} {n}\n"));
    }
    s
}

fn expected(case: &Path) -> (String, Vec<String>) {
    let text = std::fs::read_to_string(case.join("expected")).unwrap();
    let (mut view, mut directives) = (String::new(), Vec::new());
    for line in text.lines() {
        let line = line.split(" #").next().unwrap().trim_end();
        if line.starts_with("fluent-bit") {
            directives.push(line.to_string());
        } else if !line.is_empty() && !line.starts_with('#') {
            view.push_str(line);
            view.push('\n');
        }
    }
    (view, directives)
}

#[test]
fn corpus_matches_expected_views() {
    set_env();
    let mut wrong = Vec::new();
    for case in cases() {
        let (valid, plugins) = our_view(&main_of(&case));
        let got = render(valid, &plugins);
        let (want, _) = expected(&case);
        if got != want {
            wrong.push(format!("{}:\n want:\n{want} got:\n{got}", case.display()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A case copied to a temporary folder, with the examples' plugin path
/// pointed at the plugin this build made.
fn staged_copy(case: &Path, into: &Path) -> PathBuf {
    let plugin = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .join("libfluent_bit_opamp.so");
    copy_dir(case, into, &plugin.display().to_string());
    into.join(main_of(case).file_name().unwrap())
}

fn copy_dir(from: &Path, to: &Path, plugin: &str) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest, plugin);
        } else {
            let bytes = std::fs::read(&p).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            if text.contains(PLUGIN_IN_EXAMPLES) {
                std::fs::write(&dest, text.replace(PLUGIN_IN_EXAMPLES, plugin)).unwrap();
            } else {
                std::fs::write(&dest, bytes).unwrap();
            }
        }
    }
}

fn version_of(bin: &Path) -> String {
    let out = Command::new(bin).arg("--version").output().unwrap();
    let first = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    first.trim_start_matches("Fluent Bit v").trim().to_string()
}

fn fluent_bit(bin: &Path, cwd: &Path) -> Command {
    let mut c = Command::new(bin);
    c.current_dir(cwd)
        .env("FBCONF_TEST_INPUT", "dummy")
        .env("OPAMP_TOKEN", "t")
        .stdin(Stdio::null());
    c
}

/// Whether `--dry-run` accepts the config. 2.2.3 dies at teardown of a
/// dry run with a proxy plugin loaded, after saying the test passed.
fn dry_run(bin: &Path, main: &Path, cwd: &Path) -> bool {
    let out = fluent_bit(bin, cwd)
        .arg("-c")
        .arg(main)
        .arg("--dry-run")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    out.status.success()
        || (out.status.code().is_none() && text.contains("configuration test is successful"))
}

/// The inputs and outputs a short run starts, from Fluent Bit's log.
fn started(bin: &Path, main: &Path, cwd: &Path) -> BTreeSet<String> {
    let mut child = fluent_bit(bin, cwd)
        .arg("-c")
        .arg(main)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let mut seen = BTreeSet::new();
    for kind in ["input", "output"] {
        for part in text.split(&format!("[{kind}:")).skip(1) {
            if let Some(name) = part.split(':').next() {
                seen.insert(format!("{} {name}", kind.to_ascii_uppercase()));
            }
        }
    }
    seen
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn fluent_bit_agrees_with_the_reader() {
    set_env();
    let bins: Vec<PathBuf> = std::env::var("FLUENT_BIT_BIN")
        .unwrap_or_default()
        .split(':')
        .filter(|s| !s.trim().is_empty())
        .map(PathBuf::from)
        .collect();
    assert!(!bins.is_empty(), "FLUENT_BIT_BIN names no binary");
    let work = std::env::temp_dir().join(format!("opamp-fbconf-diff-{}", std::process::id()));
    let mut disagreements = Vec::new();
    for bin in &bins {
        let version = version_of(bin);
        let (mut agreed, mut total) = (0, 0);
        for case in cases() {
            let name = case.file_name().unwrap().to_string_lossy().to_string();
            let dir = work.join(&version).join(&name);
            let main = staged_copy(&case, &dir);
            let (ours, plugins) = our_view(&main_of(&case));
            let (_, directives) = expected(&case);
            let mut want = ours;
            for d in &directives {
                if let Some(rest) = d.strip_prefix("fluent-bit ") {
                    let (v, verdict) = rest.split_once(':').unwrap();
                    if version.starts_with(v.trim()) {
                        want = verdict.trim() == "valid";
                    }
                }
            }
            total += 1;
            let theirs = dry_run(bin, &main, &work);
            let mut ok = theirs == want;
            if !ok {
                disagreements.push(format!(
                    "{version} {name}: --dry-run says valid={theirs}, we expect {want}"
                ));
            }
            let run = !directives.iter().any(|d| d == "fluent-bit-run: no");
            if ok && theirs && ours && run {
                let ours: BTreeSet<String> = plugins
                    .iter()
                    .filter(|(k, _)| k == "INPUT" || k == "OUTPUT")
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect();
                let theirs = started(bin, &main, &work);
                if ours != theirs {
                    ok = false;
                    disagreements.push(format!(
                        "{version} {name}: started {theirs:?}, we see {ours:?}"
                    ));
                }
            }
            agreed += usize::from(ok);
        }
        eprintln!("fbconf differential: Fluent Bit {version}: {agreed}/{total} cases agree");
    }
    let _ = std::fs::remove_dir_all(&work);
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
