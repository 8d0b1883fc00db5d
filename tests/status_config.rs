//! Effective config: include resolution for both formats, keys, content
//! types, redaction on the way out, and change detection.

use std::path::{Path, PathBuf};

use fluent_bit_opamp::proto::EffectiveConfig;
use fluent_bit_opamp::status::effective_config::{
    effective_config, fingerprint, from_command_line, read_files, CLASSIC_CONTENT_TYPE,
    COMMAND_LINE_KEY, YAML_CONTENT_TYPE,
};
use fluent_bit_opamp::status::redact::Redactor;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("opamp-status-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn keys(files: &[fluent_bit_opamp::status::effective_config::ConfigFile]) -> Vec<String> {
    files.iter().map(|f| f.key.clone()).collect()
}

fn body<'a>(cfg: &'a EffectiveConfig, key: &str) -> (&'a str, String) {
    let f = &cfg.config_map.as_ref().unwrap().config_map[key];
    (
        f.content_type.as_str(),
        String::from_utf8(f.body.clone()).unwrap(),
    )
}

#[test]
fn classic_includes_with_globs_nested_and_cycles() {
    let d = TempDir::new("classic");
    let main = d.write(
        "fluent-bit.conf",
        "[SERVICE]\n    Flush 1\n@INCLUDE inputs.conf\n@INCLUDE conf.d/*.conf\n@INCLUDE missing.conf\n",
    );
    d.write(
        "inputs.conf",
        "[INPUT]\n    Name dummy\n@INCLUDE fluent-bit.conf\n",
    );
    d.write("conf.d/b.conf", "[OUTPUT]\n    Name null\n");
    // Classic nested includes resolve against the bootstrap's folder, not
    // the including file's (flb_cf_fluentbit.c keeps one root_path).
    d.write(
        "conf.d/a.conf",
        "[OUTPUT]\n    Name es\n    HTTP_Passwd sekrit\n@INCLUDE shared/common.conf\n",
    );
    d.write("conf.d/ignored.yaml", "x: 1\n");
    d.write("shared/common.conf", "[FILTER]\n    Name grep\n");
    let files = read_files(&main).unwrap();
    assert_eq!(
        keys(&files),
        vec![
            "fluent-bit.conf",
            "inputs.conf",
            "conf.d/a.conf",
            "shared/common.conf",
            "conf.d/b.conf"
        ],
        "include order, glob sorted, cycle back to the bootstrap cut"
    );
    let cfg = effective_config(&files, &Redactor::new(&[]));
    let (ct, text) = body(&cfg, "conf.d/a.conf");
    assert_eq!(ct, CLASSIC_CONTENT_TYPE);
    assert!(
        text.contains("HTTP_Passwd <redacted>") && !text.contains("sekrit"),
        "{text}"
    );
}

#[test]
fn yaml_includes_relative_to_the_including_file() {
    let d = TempDir::new("yaml");
    let main = d.write(
        "fluent-bit.yaml",
        "includes:\n  - pipelines/*.yaml\n  - 'extra.yaml'\nservice:\n  flush: 1\n",
    );
    d.write(
        "pipelines/in.yaml",
        "includes: [../common/outputs.yaml]\npipeline:\n  inputs:\n    - name: dummy\n",
    );
    d.write(
        "common/outputs.yaml",
        "pipeline:\n  outputs:\n    - name: http\n      http_passwd: yaml-secret\n",
    );
    d.write("extra.yaml", "includes:\n  - fluent-bit.yaml\n");
    let files = read_files(&main).unwrap();
    assert_eq!(
        keys(&files),
        vec![
            "fluent-bit.yaml",
            "pipelines/in.yaml",
            "common/outputs.yaml",
            "extra.yaml"
        ]
    );
    let cfg = effective_config(&files, &Redactor::new(&[]));
    let (ct, text) = body(&cfg, "common/outputs.yaml");
    assert_eq!(ct, YAML_CONTENT_TYPE);
    assert!(
        text.contains("http_passwd: <redacted>") && !text.contains("yaml-secret"),
        "{text}"
    );
}

#[test]
fn files_outside_the_bootstrap_folder_keep_their_absolute_path() {
    let d = TempDir::new("outside");
    let other = TempDir::new("outside-other");
    let inc = other.write("abs.conf", "[OUTPUT]\n    Name null\n");
    let main = d.write("main.conf", &format!("@INCLUDE {}\n", inc.display()));
    let files = read_files(&main).unwrap();
    assert_eq!(
        keys(&files),
        vec!["main.conf".to_string(), inc.display().to_string()]
    );
}

#[test]
fn missing_bootstrap_is_an_error_and_command_line_is_the_fallback() {
    assert!(read_files(Path::new("/nonexistent/fluent-bit.conf")).is_err());
    let args: Vec<String> = [
        "fluent-bit",
        "-i",
        "dummy",
        "-o",
        "http",
        "-p",
        "http_passwd=arg-secret",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let cfg = from_command_line(&args, &Redactor::new(&[]));
    let (_, text) = body(&cfg, COMMAND_LINE_KEY);
    assert!(
        text.contains("-i\ndummy\n") && !text.contains("arg-secret"),
        "{text}"
    );
}

#[test]
fn fingerprint_changes_with_content_only() {
    let d = TempDir::new("fp");
    let main = d.write("a.conf", "[INPUT]\n    Name dummy\n");
    let r = Redactor::new(&[]);
    let one = fingerprint(&effective_config(&read_files(&main).unwrap(), &r));
    let again = fingerprint(&effective_config(&read_files(&main).unwrap(), &r));
    assert_eq!(one, again);
    d.write("a.conf", "[INPUT]\n    Name dummy\n    Rate 2\n");
    let changed = fingerprint(&effective_config(&read_files(&main).unwrap(), &r));
    assert_ne!(one, changed);
}
