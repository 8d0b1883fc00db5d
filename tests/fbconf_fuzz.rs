//! Differential fuzzing of the config reader and the policy scanner
//! against real Fluent Bit, on configs from the seeded grammar in
//! tests/confgen.
//!
//! For each case we take two views: the reader's (`fbconf`: valid or not,
//! and the inputs, filters and outputs it sees) and the policy scanner's
//! (`remote::scan` over every file: refused as unreadable, or the set of
//! plugin names). Fluent Bit's view is `--dry-run -v`: accepted or not,
//! and the inputs, filters and outputs it lists.
//!
//! - A **miss**: Fluent Bit accepts the config and lists a plugin that
//!   the scanner did not see, though it would let the config through. That
//!   is a security bug; the test fails on any.
//! - A **reader disagreement**: validity or plugin list differ. Reported,
//!   and a failure unless listed in tests/fixtures/fbconf/fuzz_* with the
//!   version's verdict.
//!
//! Without Fluent Bit, `recorded_verdicts_still_hold` replays the corpus
//! (seeds 0..N of each format) against the verdicts recorded in
//! tests/fixtures/fbconf_fuzz/verdicts, so a change in either view shows.

mod confgen;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use confgen::{generate, seed_of, Case, ENV, KNOWN};
use fluent_bit_opamp::fbconf::files::read_checked;
use fluent_bit_opamp::fbconf::vars::expand_vars;
use fluent_bit_opamp::fbconf::view::view;
use fluent_bit_opamp::fbconf::Format;
use fluent_bit_opamp::remote::scan::{normalize, scan, What};

const VERDICTS: &str = "tests/fixtures/fbconf_fuzz/verdicts";
/// Cases of each format the recorded verdicts cover (the seeds of the
/// 10,000-per-version runs).
const RECORDED: u64 = 5000;
const BLOCK: u64 = 500;

fn set_env() {
    for (k, v) in ENV {
        std::env::set_var(k, v);
    }
}

fn write_case(case: &Case, dir: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    for (path, body) in &case.files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, body).unwrap();
    }
    dir.join(&case.files[0].0)
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Ours {
    valid: bool,
    /// `KIND name`, sorted: what the reader says starts.
    reader: Vec<String>,
    /// Every input, filter and output names a plugin the builds have.
    names_ok: bool,
    /// None when the scanner finds the text unreadable (the policy
    /// refuses it); else the plugin names it saw.
    scanner: Option<BTreeSet<String>>,
}

impl Ours {
    fn line(&self) -> String {
        let scanner = match &self.scanner {
            None => "refused".to_string(),
            Some(s) => s.iter().cloned().collect::<Vec<_>>().join(","),
        };
        format!(
            "{}{} [{}] [{scanner}]",
            if self.valid { "valid" } else { "invalid" },
            if self.names_ok { "" } else { " unknown-plugin" },
            self.reader.join(",")
        )
    }
}

fn ours(case: &Case, main: &Path) -> Ours {
    let checked = read_checked(main).unwrap();
    let views: Vec<_> = checked
        .files
        .iter()
        .map(|f| view(f.format, &f.text))
        .collect();
    let vars: Vec<(String, String)> = views.iter().flat_map(|v| v.vars.clone()).collect();
    let mut names_ok = true;
    let mut reader: Vec<String> = views
        .iter()
        .flat_map(|v| v.sections.iter())
        .filter_map(|s| {
            let kind = ["INPUT", "FILTER", "OUTPUT"]
                .iter()
                .position(|k| *k == s.kind)?;
            let name = expand_vars(s.get("name").unwrap_or("?"), &vars);
            // `name://...` selects the plugin for inputs and outputs only.
            let plain = kind == 1 || !name.contains("://");
            let known = KNOWN[kind].contains(&normalize(&name).as_str());
            names_ok &= known && (plain || !name.starts_with(' '));
            names_ok &= kind != 1 || !name.contains("://");
            Some(format!("{} {}", s.kind, normalize(&name)))
        })
        .collect();
    reader.sort();
    let format = if case.yaml {
        Format::Yaml
    } else {
        Format::Classic
    };
    let mut scanner = Some(BTreeSet::new());
    for (_, body) in &case.files {
        for f in scan(format, &String::from_utf8_lossy(body)) {
            match (f.what, scanner.as_mut()) {
                (What::Unreadable(_), _) => scanner = None,
                (What::Plugin(p), Some(s)) => {
                    s.insert(p);
                }
                _ => {}
            }
        }
    }
    Ours {
        names_ok,
        valid: checked.problems.is_empty(),
        reader,
        scanner,
    }
}

/// Fluent Bit's `--dry-run -v`: accepted, and the plugins it lists.
fn theirs(bin: &Path, main: &Path) -> (bool, Vec<String>) {
    let mut cmd = Command::new(bin);
    cmd.arg("-c")
        .arg(main)
        .arg("--dry-run")
        .arg("-v")
        .current_dir(main.parent().unwrap())
        .stdin(Stdio::null());
    for (k, v) in ENV {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let valid = out.status.success() && text.contains("configuration test is successful");
    (valid, listed(&text))
}

/// The `inputs:`, `filters:` and `outputs:` blocks of the `-v` banner.
fn listed(text: &str) -> Vec<String> {
    let mut kind = None;
    let mut out = Vec::new();
    for line in text.lines() {
        let rest = line.rsplit("] ").next().unwrap_or("").trim();
        match rest {
            "inputs:" => kind = Some("INPUT"),
            "filters:" => kind = Some("FILTER"),
            "outputs:" => kind = Some("OUTPUT"),
            r if r.starts_with("___") || r.ends_with(':') => kind = None,
            r if !r.is_empty() => {
                if let Some(k) = kind {
                    // Instances print as `grep.0`; inputs as the plugin.
                    let name = r.rsplit_once('.').map_or(r, |(n, i)| {
                        if i.bytes().all(|b| b.is_ascii_digit()) {
                            n
                        } else {
                            r
                        }
                    });
                    out.push(format!("{k} {name}"));
                }
            }
            _ => {}
        }
    }
    out.sort();
    out
}

/// Processors are not in `--dry-run`'s banner: a real start with the HTTP
/// server on lists every plugin instance (processors too) as `name="x.N"`
/// labels of `/api/v2/metrics`. None when it did not start.
fn real_start(bin: &Path, main: &Path) -> Option<BTreeSet<String>> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let mut cmd = Command::new(bin);
    cmd.arg("-c")
        .arg(main)
        .args(["-H", "-L", "127.0.0.1", "-P", &port.to_string()])
        .current_dir(main.parent().unwrap())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in ENV {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().ok()?;
    let end = std::time::Instant::now() + std::time::Duration::from_secs(4);
    let mut names = None;
    // A plugin that fails init (exec without a command) ends the process.
    while names.is_none() && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        names = metric_names(port);
    }
    let _ = child.kill();
    let _ = child.wait();
    names
}

fn metric_names(port: u16) -> Option<BTreeSet<String>> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .ok()?;
    s.write_all(b"GET /api/v2/metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    let names: BTreeSet<String> = body
        .split("name=\"")
        .skip(1)
        .filter_map(|r| r.split('"').next())
        .filter_map(|n| n.rsplit_once('.'))
        .filter(|(_, i)| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
        .map(|(n, _)| n.to_string())
        .collect();
    (!names.is_empty()).then_some(names)
}

fn work_dir(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("opamp-fbconf-fuzz-{tag}-{}", std::process::id()))
}

fn verdict_blocks() -> Vec<String> {
    set_env();
    let dir = work_dir("replay");
    let mut lines = Vec::new();
    for yaml in [false, true] {
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        for i in 0..RECORDED {
            let case = generate(seed_of(yaml, i));
            let main = write_case(&case, &dir);
            for b in ours(&case, &main).line().bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
            if (i + 1) % BLOCK == 0 {
                let f = if yaml { "yaml" } else { "classic" };
                lines.push(format!("{f} {}..{} {h:016x}", i + 1 - BLOCK, i + 1));
                h = 0xcbf2_9ce4_8422_2325;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    lines
}

/// The reader's and the scanner's verdicts on the generated corpus are the
/// recorded ones (FBCONF_FUZZ_RECORD=1 records them anew, after a run
/// against Fluent Bit has checked them).
#[test]
fn recorded_verdicts_still_hold() {
    let got = verdict_blocks().join("\n") + "\n";
    if std::env::var_os("FBCONF_FUZZ_RECORD").is_some() {
        std::fs::create_dir_all(Path::new(VERDICTS).parent().unwrap()).unwrap();
        std::fs::write(VERDICTS, &got).unwrap();
    }
    let want = std::fs::read_to_string(VERDICTS).unwrap();
    assert_eq!(
        got, want,
        "the verdicts changed: rerun the Fluent Bit comparison, then FBCONF_FUZZ_RECORD=1"
    );
}

#[test]
fn the_generator_is_deterministic_and_varied() {
    let a = generate(seed_of(true, 42));
    let b = generate(seed_of(true, 42));
    assert_eq!(a.files, b.files);
    let distinct: BTreeSet<Vec<u8>> = (0..200)
        .map(|i| generate(seed_of(i % 2 == 0, i)).files[0].1.clone())
        .collect();
    assert!(distinct.len() > 190, "{}", distinct.len());
}

#[test]
fn the_banner_lists_instances() {
    let text = "[ info]  inputs:\n[ info]      dummy\n[ info] ___________\n[ info]  filters:\n[ info]      grep.0\n[ info]  outputs:\n[ info]      null.1\n[ info] ___________\n[ info]  collectors:\n";
    assert_eq!(listed(text), ["FILTER grep", "INPUT dummy", "OUTPUT null"]);
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn version_of(bin: &Path) -> String {
    let out = Command::new(bin).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let first = text.lines().next().unwrap_or("");
    first.trim_start_matches("Fluent Bit v").trim().to_string()
}

/// Reader disagreements already understood: `<version prefix> <seed>
/// <why>` lines in tests/fixtures/fbconf_fuzz/known.
fn known(version: &str, seed: u64) -> bool {
    let text = std::fs::read_to_string("tests/fixtures/fbconf_fuzz/known").unwrap_or_default();
    text.lines().any(|l| {
        let mut w = l.split_whitespace();
        let (Some(v), Some(s)) = (w.next(), w.next()) else {
            return false;
        };
        version.starts_with(v) && s.parse() == Ok(seed)
    })
}

#[derive(Default)]
struct Tally {
    compared: u64,
    accepted: u64,
    refused: u64,
    processors: u64,
    /// Real starts for processor cases (FBCONF_FUZZ_STARTS caps them).
    real_starts: u64,
    no_start: u64,
    misses: Vec<String>,
    reader: Vec<String>,
    /// Fluent Bit refuses, the reader accepts.
    stricter: Vec<String>,
}

/// One case against one binary; `FBCONF_FUZZ_SAVE` keeps the disagreeing
/// ones as files.
fn compare(bin: &Path, version: &str, seed: u64, dir: &Path, t: &mut Tally) {
    let case = generate(seed);
    let main = write_case(&case, dir);
    let ours = ours(&case, &main);
    let (valid, started) = theirs(bin, &main);
    t.compared += 1;
    t.accepted += u64::from(valid);
    t.refused += u64::from(ours.scanner.is_none());
    t.processors += u64::from(case.processors && valid && ours.scanner.is_some());
    let mut bad = false;
    if let (true, Some(seen)) = (valid, &ours.scanner) {
        let missed: Vec<&String> = started
            .iter()
            .filter(|p| !seen.contains(p.split(' ').nth(1).unwrap()))
            .collect();
        if !missed.is_empty() {
            bad = true;
            t.misses.push(format!(
                "{version} seed {seed}: Fluent Bit starts {missed:?}, the scanner saw {seen:?}"
            ));
        }
    }
    if let (true, true, Some(seen), true) = (
        valid,
        case.processors,
        &ours.scanner,
        t.real_starts < env_u64("FBCONF_FUZZ_STARTS", 0),
    ) {
        t.real_starts += 1;
        match real_start(bin, &main) {
            None => t.no_start += 1,
            Some(names) => {
                let missed: Vec<&String> = names.iter().filter(|n| !seen.contains(*n)).collect();
                if !missed.is_empty() {
                    bad = true;
                    t.misses.push(format!(
                        "{version} seed {seed}: a real start runs {missed:?} (processors), the scanner saw {seen:?}"
                    ));
                }
            }
        }
    }
    let expect = ours.valid && ours.names_ok;
    if expect && !valid {
        // Fluent Bit refuses what the reader accepts: nothing starts, so
        // no risk, but counted (3.2's YAML keys are case-sensitive).
        t.stricter
            .push(format!("{version} seed {seed}: reader {}", ours.line()));
    } else if valid && (!expect || started != ours.reader) && !known(version, seed) {
        bad = true;
        t.reader.push(format!(
            "{version} seed {seed}: Fluent Bit valid={valid} {started:?}; reader {}",
            ours.line()
        ));
    }
    if let (true, Ok(save)) = (bad, std::env::var("FBCONF_FUZZ_SAVE")) {
        let to = Path::new(&save).join(format!("{version}-{seed}"));
        write_case(&case, &to);
    }
}

/// FBCONF_FUZZ_COUNT cases of each format (from FBCONF_FUZZ_START) on
/// every binary in FLUENT_BIT_BIN; FBCONF_FUZZ_REPORT appends the figures
/// to a file; FBCONF_FUZZ_STARTS real starts check processor cases.
#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn generated_configs_agree_with_fluent_bit() {
    set_env();
    let count = env_u64("FBCONF_FUZZ_COUNT", 100);
    let start = env_u64("FBCONF_FUZZ_START", 0);
    let bins: Vec<PathBuf> = std::env::var("FLUENT_BIT_BIN")
        .unwrap_or_default()
        .split(':')
        .filter(|s| !s.trim().is_empty())
        .map(PathBuf::from)
        .collect();
    assert!(!bins.is_empty(), "FLUENT_BIT_BIN names no binary");
    let dir = work_dir("live");
    let (mut misses, mut reader) = (Vec::new(), Vec::new());
    for bin in &bins {
        let version = version_of(bin);
        let mut t = Tally::default();
        for yaml in [false, true] {
            for i in start..start + count {
                compare(bin, &version, seed_of(yaml, i), &dir, &mut t);
            }
        }
        let line = format!(
            "Fluent Bit {version}: {} configs (seeds {start}..{} of each format), {} accepted by Fluent Bit, {} refused by the scanner as unreadable, {} accepted with processors ({} of them started for real, {} did not start, e.g. exec without a command), {} misses, {} reader disagreements, {} refused by Fluent Bit only",
            t.compared, start + count, t.accepted, t.refused, t.processors, t.real_starts, t.no_start, t.misses.len(), t.reader.len(), t.stricter.len()
        );
        eprintln!("{line}");
        if let Ok(report) = std::env::var("FBCONF_FUZZ_REPORT") {
            use std::io::Write as _;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(report)
                .unwrap();
            writeln!(f, "{line}").unwrap();
            for l in t.misses.iter().chain(&t.reader).chain(&t.stricter) {
                writeln!(f, "  {l}").unwrap();
            }
        }
        misses.extend(t.misses);
        reader.extend(t.reader);
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        misses.is_empty(),
        "the scanner missed plugins:\n{}",
        misses.join("\n")
    );
    assert!(
        reader.is_empty(),
        "reader disagreements:\n{}",
        reader.join("\n")
    );
}
