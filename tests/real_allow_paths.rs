//! `allow_paths` against real Fluent Bit (issue 12): for each way a config
//! can make Fluent Bit read or write outside the allowed folder, run the
//! config on real Fluent Bit to see that the escape is real on that
//! version, and check that the policy refuses the same config. A control
//! config that stays inside is allowed and works.
//!
//! `FLUENT_BIT_BIN=... cargo test --test real_allow_paths -- --nocapture`

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fluent_bit_opamp::config::properties::PluginPolicy;
use fluent_bit_opamp::proto::{AgentConfigFile, AgentConfigMap};
use fluent_bit_opamp::remote::paths::AllowPaths;
use fluent_bit_opamp::remote::policy::{Format, Policy, Rule};
use support::fluent_bit::{binaries, tmpdir, version_of, Fb};

/// One hostile (or control) config: what it does on real Fluent Bit, and
/// the file whose existence proves it.
struct Case {
    name: &'static str,
    config: String,
    /// Appears when Fluent Bit escaped (or, for the control, worked).
    proof: PathBuf,
    /// Text the proof file (or stdout) must contain.
    marker: &'static str,
}

fn policy(allowed: &Path) -> Policy {
    Policy {
        enabled: true,
        format: Format::Classic,
        main_name: "managed.conf".into(),
        folder: allowed.join("managed.d"),
        plugins: PluginPolicy::Deny(Vec::new()),
        max_size: 4 << 20,
        paths: AllowPaths::Under(vec![allowed.to_path_buf()]),
    }
}

fn verdict(p: &Policy, body: &str) -> Result<(), String> {
    let file = AgentConfigFile {
        body: body.as_bytes().to_vec(),
        content_type: "text/x-fluent-bit".into(),
    };
    let map = AgentConfigMap {
        config_map: [(String::new(), file)].into_iter().collect(),
    };
    p.allows(Some(&map)).map_err(|e| {
        assert_eq!(e.rule, Rule::AllowPaths, "{e}");
        e.detail
    })
}

fn dummy(tag: &str, record: &str) -> String {
    format!("[INPUT]\n    Name dummy\n    Tag {tag}\n    Dummy {record}\n    Samples 1\n\n")
}

fn cases(root: &Path) -> Vec<Case> {
    let (inside, outside) = (root.join("allowed"), root.join("outside"));
    let (i, o) = (inside.display(), outside.display());
    let secret = r#"{"leak":"SECRET-LINE"}"#;
    let tail_to = |path: String| {
        format!(
            "[INPUT]\n    Name tail\n    Path {path}\n    Read_From_Head On\n    Tag t\n\n[OUTPUT]\n    Name file\n    Match t\n    Path {i}\n    File tailed.out\n"
        )
    };
    vec![
        Case {
            name: "control: tail and file output inside",
            config: tail_to(format!("{i}/logs/*.log")),
            proof: inside.join("tailed.out"),
            marker: "INSIDE-LINE",
        },
        Case {
            name: "file output named by a '../' tag",
            config: dummy("../outside/by_tag", secret)
                + &format!("[OUTPUT]\n    Name file\n    Match *\n    Path {i}\n"),
            proof: outside.join("by_tag"),
            marker: "SECRET-LINE",
        },
        Case {
            name: "file output File '../'",
            config: dummy("x", secret)
                + &format!("[OUTPUT]\n    Name file\n    Match x\n    Path {i}\n    File ../outside/by_file\n"),
            proof: outside.join("by_file"),
            marker: "SECRET-LINE",
        },
        Case {
            // 5.x wants a fixed prefix and a fallback file; '/' will do.
            name: "file output Path from a record (/$dir)",
            config: dummy("x", &format!(r#"{{"dir":"{}","leak":"SECRET-LINE"}}"#, &o.to_string()[1..]))
                + &format!("[OUTPUT]\n    Name file\n    Match x\n    Path /$dir\n    File by_record\n    Fallback_Path {i}\n    Fallback_File fallback\n"),
            proof: outside.join("by_record"),
            marker: "SECRET-LINE",
        },
        Case {
            name: "tail Path comma list",
            config: tail_to(format!("{i}/logs/a.log,{o}/secret.log")),
            proof: inside.join("tailed.out"),
            marker: "SECRET-LINE",
        },
        Case {
            name: "tail through a symlink",
            config: tail_to(format!("{i}/link/*.log")),
            proof: inside.join("tailed.out"),
            marker: "SECRET-LINE",
        },
    ]
}

fn lay_out(root: &Path) {
    let _ = std::fs::remove_dir_all(root);
    for d in ["allowed/logs", "outside", "run"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("allowed/logs/a.log"), "INSIDE-LINE\n").unwrap();
    std::fs::write(root.join("outside/secret.log"), "SECRET-LINE\n").unwrap();
    std::os::unix::fs::symlink(root.join("outside"), root.join("allowed/link")).unwrap();
}

/// Runs `config` until `proof` holds `marker` (or 6 s); whether it did.
fn escapes(bin: &Path, root: &Path, case: &Case) -> bool {
    let conf = root.join("run/fluent-bit.conf");
    let text = format!("[SERVICE]\n    Flush 0.2\n    Grace 0\n\n{}", case.config);
    std::fs::write(&conf, text).unwrap();
    let mut fb = Fb::with_config(bin, &conf);
    let end = Instant::now() + Duration::from_secs(6);
    let mut seen = false;
    while Instant::now() < end && !seen {
        std::thread::sleep(Duration::from_millis(100));
        seen = std::fs::read_to_string(&case.proof).is_ok_and(|t| t.contains(case.marker));
    }
    fb.terminate();
    seen
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn every_escape_that_real_fluent_bit_makes_is_refused() {
    for bin in binaries("real_allow_paths") {
        let v = version_of(&bin);
        let root = tmpdir("allow-paths").join(v.replace(' ', "_"));
        for case in cases(&root) {
            lay_out(&root);
            let allowed = root.join("allowed").canonicalize().unwrap();
            let ours = verdict(&policy(&allowed), &case.config);
            let real = escapes(&bin, &root, &case);
            let control = case.name.starts_with("control");
            println!(
                "SUMMARY {v}: {}: Fluent Bit {}; policy {}",
                case.name,
                match (control, real) {
                    (true, true) => "works",
                    (true, false) => "DID NOT WORK",
                    (false, true) => "escapes",
                    (false, false) => "stays inside",
                },
                match &ours {
                    Ok(()) => "allows".to_string(),
                    Err(e) => format!("refuses ({e})"),
                }
            );
            if control {
                assert!(real && ours.is_ok(), "{v}: the control must work and pass");
            } else {
                assert!(ours.is_err(), "{v}: {} passed the policy", case.name);
            }
        }
    }
}
