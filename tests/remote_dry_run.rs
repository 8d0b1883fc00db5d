//! The `--dry-run` validator against a real Fluent Bit binary, named by
//! FLUENT_BIT_BIN (e.g. /work/fb/bin/fluent-bit-5.1.1). Without it these
//! tests say so loudly and pass: CI without a Fluent Bit build still runs
//! everything else.

mod support;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fluent_bit_opamp::config::properties::PluginPolicy;
use fluent_bit_opamp::proto::{
    AgentConfigFile, AgentConfigMap, AgentRemoteConfig, RemoteConfigStatuses,
};
use fluent_bit_opamp::remote::apply::Timing;
use fluent_bit_opamp::remote::policy::{Candidate, Format, Policy};
use fluent_bit_opamp::remote::staging::{self, Layout};
use fluent_bit_opamp::remote::validate::{DryRun, DEFAULT_TIMEOUT};
use fluent_bit_opamp::remote::{Host, Options, RemoteConfig};

fn binaries() -> Vec<PathBuf> {
    support::fluent_bit::binaries("remote_dry_run")
}

struct Site {
    dir: PathBuf,
    bootstrap: PathBuf,
    layout: Layout,
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

const LIVE_MAIN: &str = "[INPUT]\n    Name cpu\n";

fn site(name: &str, format: Format) -> Site {
    let dir = std::env::temp_dir().join(format!("opamp-dryrun-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("etc/managed.d")).unwrap();
    fs::create_dir_all(dir.join("state")).unwrap();
    let (bootstrap, managed, text, live) = match format {
        Format::Classic => (
            "fluent-bit.conf",
            "managed.conf",
            "[SERVICE]\n    Flush 1\n    Hot_Reload On\n@INCLUDE managed.conf\n[INPUT]\n    Name dummy\n[OUTPUT]\n    Name null\n    Match *\n",
            LIVE_MAIN,
        ),
        Format::Yaml => (
            "fluent-bit.yaml",
            "managed.yaml",
            "service:\n  flush: 1\n  hot_reload: on\nincludes:\n  - managed.yaml\npipeline:\n  inputs:\n    - name: dummy\n  outputs:\n    - name: null\n      match: '*'\n",
            "pipeline:\n  inputs:\n    - name: cpu\n",
        ),
    };
    fs::write(dir.join("etc").join(bootstrap), text).unwrap();
    fs::write(dir.join("etc").join(managed), live).unwrap();
    Site {
        bootstrap: dir.join("etc").join(bootstrap),
        layout: Layout::new(&dir.join("etc").join(managed), &dir.join("state")),
        dir,
    }
}

fn dry_run(bin: &Path, s: &Site) -> DryRun {
    DryRun {
        binary: bin.to_path_buf(),
        bootstrap: s.bootstrap.clone(),
        extra_args: vec![],
        timeout: DEFAULT_TIMEOUT,
    }
}

fn validate(bin: &Path, s: &Site, main: &str, files: &[(&str, &str)]) -> Result<(), String> {
    let c = Candidate {
        main: main.as_bytes().to_vec(),
        files: files
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect(),
    };
    staging::stage(&s.layout, &c).unwrap();
    let r = dry_run(bin, s).check(&s.layout);
    staging::clear_staging(&s.layout).unwrap();
    r
}

fn untouched(s: &Site, live: &str) {
    assert_eq!(
        fs::read_to_string(&s.layout.managed).unwrap(),
        live,
        "the live managed file is never touched"
    );
    let leftovers: Vec<_> = fs::read_dir(s.bootstrap.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("opamp-dryrun"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary bootstrap left behind: {leftovers:?}"
    );
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn classic_good_and_unknown_plugin() {
    for bin in binaries() {
        let s = site("classic", Format::Classic);
        validate(&bin, &s, "[INPUT]\n    Name dummy\n    Tag remote\n", &[])
            .expect("a good config passes");
        let e = validate(&bin, &s, "[INPUT]\n    Name nosuchplugin\n", &[]).unwrap_err();
        assert!(
            e.contains("nosuchplugin"),
            "the error names the plugin: {e}"
        );
        assert!(e.contains("--dry-run"), "{e}");
        untouched(&s, LIVE_MAIN);
    }
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn classic_candidate_files_are_validated_in_place_of_the_live_ones() {
    for bin in binaries() {
        let s = site("siblings", Format::Classic);
        // extra.conf exists only in the candidate, not in the live folder.
        let main = "[INPUT]\n    Name dummy\n@INCLUDE managed.d/extra.conf\n";
        validate(
            &bin,
            &s,
            main,
            &[("extra.conf", "[OUTPUT]\n    Name stdout\n    Match *\n")],
        )
        .expect("the staged sibling is found");
        let e = validate(
            &bin,
            &s,
            main,
            &[("extra.conf", "[OUTPUT]\n    Name nosuchout\n")],
        )
        .unwrap_err();
        assert!(e.contains("nosuchout"), "{e}");
        untouched(&s, LIVE_MAIN);
    }
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn classic_syntax_error_is_reported_against_the_managed_file() {
    for bin in binaries() {
        let s = site("syntax", Format::Classic);
        let e = validate(&bin, &s, "[INPUT\n    Name dummy\n", &[]).unwrap_err();
        assert!(e.contains("bad header definition"), "{e}");
        assert!(
            !e.contains(".staging"),
            "staging paths are shown as the live ones: {e}"
        );
    }
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn yaml_good_and_unknown_plugin() {
    for bin in binaries() {
        let s = site("yaml", Format::Yaml);
        let live = "pipeline:\n  inputs:\n    - name: cpu\n";
        validate(
            &bin,
            &s,
            "pipeline:\n  inputs:\n    - name: dummy\n      tag: remote\n",
            &[],
        )
        .expect("good YAML passes");
        let e = validate(
            &bin,
            &s,
            "pipeline:\n  inputs:\n    - name: nosuchplugin\n",
            &[],
        )
        .unwrap_err();
        assert!(e.contains("nosuchplugin"), "{e}");
        untouched(&s, live);
    }
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn an_empty_candidate_passes_in_both_formats() {
    for bin in binaries() {
        for f in [Format::Classic, Format::Yaml] {
            let s = site(&format!("empty-{}", f.name()), f);
            validate(&bin, &s, "", &[]).unwrap_or_else(|e| panic!("{}: {e}", f.name()));
        }
    }
}

struct RealDryRunHost {
    dry: DryRun,
    signals: Arc<Mutex<u32>>,
}

impl Host for RealDryRunHost {
    fn signal_reload(&mut self) -> io::Result<()> {
        *self.signals.lock().unwrap() += 1;
        Ok(())
    }
    fn dry_run(&mut self, layout: &Layout) -> Result<(), String> {
        self.dry.check(layout)
    }
}

fn offer(hash: &str, body: &str) -> AgentRemoteConfig {
    let mut m = AgentConfigMap::default();
    m.config_map.insert(
        String::new(),
        AgentConfigFile {
            body: body.as_bytes().to_vec(),
            content_type: String::new(),
        },
    );
    AgentRemoteConfig {
        config: Some(m),
        config_hash: hash.as_bytes().to_vec(),
    }
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn the_driver_reports_fluent_bits_error_and_keeps_the_live_config() {
    for bin in binaries() {
        let s = site("driver", Format::Classic);
        let signals = Arc::new(Mutex::new(0));
        let opts = Options {
            policy: Policy {
                enabled: true,
                format: Format::Classic,
                main_name: "managed.conf".into(),
                folder: s.layout.folder.clone(),
                plugins: PluginPolicy::Deny(vec!["exec".into()]),
                max_size: 1 << 20,
                paths: fluent_bit_opamp::remote::paths::AllowPaths::Any,
            },
            timing: Timing::default(),
            layout: Some(s.layout.clone()),
        };
        let host = RealDryRunHost {
            dry: dry_run(&bin, &s),
            signals: signals.clone(),
        };
        let mut rc = RemoteConfig::with_host(opts, Box::new(host));
        let t = Instant::now();
        rc.on_pre_run(t, 1, true);

        let st = rc
            .on_offer(t, offer("bad", "[INPUT]\n    Name nosuchplugin\n"))
            .unwrap();
        assert_eq!(st.status, RemoteConfigStatuses::Failed as i32);
        assert!(
            st.error_message.contains("nosuchplugin"),
            "{}",
            st.error_message
        );
        assert_eq!(*signals.lock().unwrap(), 0);
        untouched(&s, LIVE_MAIN);

        let good = "[INPUT]\n    Name dummy\n    Tag remote\n";
        let st = rc.on_offer(t, offer("good", good)).unwrap();
        assert_eq!(
            st.status,
            RemoteConfigStatuses::Applying as i32,
            "{}",
            st.error_message
        );
        assert_eq!(*signals.lock().unwrap(), 1);
        assert_eq!(fs::read_to_string(&s.layout.managed).unwrap(), good);
        rc.on_pre_run(t + Duration::from_millis(500), 2, true);
        assert_eq!(
            rc.status().unwrap().status,
            RemoteConfigStatuses::Applied as i32
        );
    }
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn a_read_only_bootstrap_folder_is_validated_from_beside_the_managed_file() {
    for bin in binaries() {
        let dir = std::env::temp_dir().join(format!("opamp-dryrun-ro-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let cm = dir.join("configmap");
        fs::create_dir_all(cm.join("conf.d")).unwrap();
        fs::create_dir_all(dir.join("var")).unwrap();
        fs::create_dir_all(dir.join("state")).unwrap();
        let managed = dir.join("var/managed.conf");
        fs::write(&managed, LIVE_MAIN).unwrap();
        fs::write(
            cm.join("parsers.conf"),
            "[PARSER]\n    Name mine\n    Format json\n",
        )
        .unwrap();
        fs::write(cm.join("conf.d/in.conf"), "[INPUT]\n    Name dummy\n").unwrap();
        let bootstrap = cm.join("fluent-bit.conf");
        fs::write(
        &bootstrap,
        format!(
            "[SERVICE]\n    Parsers_File parsers.conf\n@INCLUDE conf.d/in.conf\n@INCLUDE {}\n[OUTPUT]\n    Name null\n    Match *\n",
            managed.display()
        ),
    )
    .unwrap();
        // Root ignores permission bits, so block the copy's name instead: the
        // write beside the bootstrap fails as it would on a read-only mount.
        fs::create_dir_all(cm.join(format!(
            ".opamp-dryrun-{}-fluent-bit.conf",
            std::process::id()
        )))
        .unwrap();
        let s = Site {
            dir: dir.clone(),
            bootstrap,
            layout: Layout::new(&managed, &dir.join("state")),
        };

        validate(&bin, &s, "[INPUT]\n    Name dummy\n    Tag remote\n", &[])
            .expect("validated from beside the managed file");
        let e = validate(&bin, &s, "[INPUT]\n    Name nosuchplugin\n", &[]).unwrap_err();
        assert!(e.contains("nosuchplugin"), "{e}");
        assert_eq!(fs::read_to_string(&managed).unwrap(), LIVE_MAIN);
        let left: Vec<_> = fs::read_dir(dir.join("var"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("managed.conf")],
            "no temporary copy left behind"
        );
    }
}
