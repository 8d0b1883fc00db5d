//! The plugin's own fragment (own telemetry) composed into the managed
//! config beside the server's.
//!
//! The fragment is one file in the managed folder, named with the
//! [`OWN_PREFIX`] no server config may use, and included from the managed
//! file by one marked line that [`strip`] can take out again exactly. So
//! the managed file and folder always hold "server config + fragment", the
//! apply pipeline (dry run, LKG, reload, rollback) treats both alike, and
//! the server's part can be recovered from the live files after a restart
//! without keeping a second copy of it.

use super::policy::{file_name, Candidate};
use crate::fbconf::Format;
pub use crate::fbconf::OWN_PREFIX;

/// The fragment's file name without extension.
pub const STEM: &str = "_opamp.own_telemetry";
/// Ends every line the composition adds to the managed file.
const MARK: &str = "# _opamp: own telemetry, written by the opamp plugin";

/// The plugin's fragment, identified by a hash of its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// [`OWN_PREFIX`]-marked, so it can never equal a server's config hash.
    pub hash: Vec<u8>,
    pub body: Vec<u8>,
}

impl Fragment {
    pub fn new(body: Vec<u8>) -> Fragment {
        Fragment {
            hash: local_hash(&body),
            body,
        }
    }
}

/// The hash an apply of the fragment runs under (`None` body: removal).
pub fn local_hash(body: &[u8]) -> Vec<u8> {
    // FNV-1a: an identity for the same text, not a security measure.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{STEM}:{h:016x}").into_bytes()
}

/// Whether a job's hash is the plugin's own (not a server config's).
pub fn is_local(hash: &[u8]) -> bool {
    hash.starts_with(OWN_PREFIX.as_bytes())
}

/// The fragment's key in the managed folder.
pub fn key(format: Format) -> String {
    match format {
        Format::Yaml => format!("{STEM}.yaml"),
        Format::Classic => format!("{STEM}.conf"),
    }
}

/// How the managed file names a file of its folder: relative, as server
/// configs do, so the dry run's staged copy resolves to the staged folder.
fn include_path(folder: &str, format: Format) -> String {
    format!("{folder}/{}", key(format))
}

fn classic_block(path: &str) -> String {
    format!("{MARK}\n@INCLUDE {path}\n")
}

fn yaml_block(path: &str) -> String {
    format!("{MARK}\nincludes:\n  - {path}\n")
}

fn yaml_item(indent: &str, path: &str) -> String {
    format!("{indent}- {path}  {MARK}\n")
}

/// The server's candidate with the fragment added (or as is, without one).
pub fn compose(
    base: &Candidate,
    fragment: Option<&Fragment>,
    format: Format,
    folder: &str,
) -> Result<Candidate, String> {
    let Some(f) = fragment else {
        return Ok(base.clone());
    };
    let key = key(format);
    if base.files.iter().any(|(k, _)| k == &key) {
        return Err(format!(
            "the file name '{key}' is reserved for the plugin's own telemetry"
        ));
    }
    let mut out = base.clone();
    let main = String::from_utf8_lossy(&base.main).into_owned();
    let path = include_path(folder, format);
    out.main = match format {
        Format::Classic => append(main, &classic_block(&path)),
        Format::Yaml => yaml_include(main, &path)?,
    }
    .into_bytes();
    let at = out.files.partition_point(|(k, _)| k < &key);
    out.files.insert(at, (key, f.body.clone()));
    Ok(out)
}

fn append(mut main: String, block: &str) -> String {
    if !main.is_empty() && !main.ends_with('\n') {
        main.push('\n');
    }
    main + block
}

/// Adds the include to a YAML main file: a new `includes:` at the end, or
/// one more item in the block list the file already has (a second
/// top-level `includes:` key would be a duplicate).
fn yaml_include(main: String, path: &str) -> Result<String, String> {
    let lines: Vec<&str> = main.split_inclusive('\n').collect();
    let Some(at) = lines.iter().position(|l| l.starts_with("includes:")) else {
        return Ok(append(main, &yaml_block(path)));
    };
    let rest = lines[at]["includes:".len()..].trim();
    if !rest.is_empty() && !rest.starts_with('#') {
        return Err(
            "the remote config's 'includes:' is not a block list, so the own-telemetry include \
             cannot be added; write it as 'includes:' followed by '- path' lines"
                .into(),
        );
    }
    let indent = lines[at + 1..]
        .iter()
        .find(|l| l.trim_start().starts_with('-'))
        .map_or("  ", |l| &l[..l.len() - l.trim_start().len()]);
    let mut out = String::with_capacity(main.len() + 80);
    for (i, l) in lines.iter().enumerate() {
        out.push_str(l);
        if i == at {
            if !l.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(&yaml_item(indent, path));
        }
    }
    Ok(out)
}

/// The server's part of live files: the fragment file and the lines that
/// include it taken out. `managed` is the managed file's path.
pub fn strip(main: &[u8], files: &[(String, Vec<u8>)], format: Format, folder: &str) -> Candidate {
    let key = key(format);
    let path = include_path(folder, format);
    let mut text = String::from_utf8_lossy(main).into_owned();
    for added in [classic_block(&path), yaml_block(&path)] {
        text = text.replacen(&added, "", 1);
    }
    let text: String = text
        .split_inclusive('\n')
        .filter(|l| !l.trim_end().ends_with(MARK))
        .collect();
    Candidate {
        main: text.into_bytes(),
        files: files.iter().filter(|(k, _)| *k != key).cloned().collect(),
    }
}

/// The managed folder's name as the managed file refers to it.
pub fn folder_name(folder: &std::path::Path) -> String {
    file_name(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(main: &str, files: &[(&str, &str)]) -> Candidate {
        Candidate {
            main: main.into(),
            files: files
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn classic_compose_then_strip_gives_the_server_part_back() {
        let base = cand(
            "[INPUT]\n    Name dummy",
            &[("a.conf", "x"), ("z.conf", "y")],
        );
        let f = Fragment::new(b"[INPUT]\n    Name fluentbit_metrics\n".to_vec());
        let c = compose(&base, Some(&f), Format::Classic, "managed.d").unwrap();
        let main = String::from_utf8(c.main.clone()).unwrap();
        assert!(
            main.ends_with("@INCLUDE managed.d/_opamp.own_telemetry.conf\n"),
            "{main}"
        );
        let keys: Vec<&str> = c.files.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["_opamp.own_telemetry.conf", "a.conf", "z.conf"]);
        let back = strip(&c.main, &c.files, Format::Classic, "managed.d");
        assert_eq!(back.files, base.files);
        assert_eq!(back.main, b"[INPUT]\n    Name dummy\n");
        assert!(is_local(&f.hash) && !is_local(b"server-hash"));
    }

    #[test]
    fn yaml_adds_to_an_existing_includes_list_or_appends_one() {
        let f = Fragment::new(b"pipeline: {}\n".to_vec());
        let base = cand(
            "includes:\n    - managed.d/a.yaml\npipeline:\n  inputs: []\n",
            &[],
        );
        let c = compose(&base, Some(&f), Format::Yaml, "managed.d").unwrap();
        let main = String::from_utf8(c.main.clone()).unwrap();
        assert!(
            main.starts_with("includes:\n    - managed.d/_opamp.own_telemetry.yaml  #"),
            "{main}"
        );
        let back = strip(&c.main, &c.files, Format::Yaml, "managed.d");
        assert_eq!(back.main, base.main);

        let empty = compose(&Candidate::default(), Some(&f), Format::Yaml, "m.d").unwrap();
        assert!(String::from_utf8_lossy(&empty.main)
            .contains("includes:\n  - m.d/_opamp.own_telemetry.yaml\n"));
        assert!(strip(&empty.main, &empty.files, Format::Yaml, "m.d")
            .main
            .is_empty());

        let flow = cand("includes: [a.yaml]\n", &[]);
        assert!(compose(&flow, Some(&f), Format::Yaml, "m.d").is_err());
    }

    #[test]
    fn a_server_file_with_the_reserved_name_is_refused() {
        let f = Fragment::new(b"x".to_vec());
        let base = cand("", &[("_opamp.own_telemetry.conf", "mine")]);
        assert!(compose(&base, Some(&f), Format::Classic, "m.d").is_err());
        assert_eq!(compose(&base, None, Format::Classic, "m.d").unwrap(), base);
    }
}
