//! `AvailableComponents` ("ReportsAvailableComponents"): every plugin the
//! running Fluent Bit has, by type, and which of them the current config
//! uses. The list comes from the binary itself (its `--help`), the use
//! from the bootstrap and the files it includes, read by the one config
//! reader.

use std::collections::BTreeMap;
use std::path::Path;

use crate::fbconf::{files, view};
use crate::proto::{any_value, AnyValue, AvailableComponents, ComponentDetails, KeyValue};

/// The types the report groups plugins by, with the config section kind
/// that uses each.
const TYPES: [(&str, &str); 4] = [
    ("input", "INPUT"),
    ("processor", "PROCESSOR"),
    ("filter", "FILTER"),
    ("output", "OUTPUT"),
];

/// Plugin instances the config at `bootstrap` starts: (section kind, name).
pub fn used_plugins(bootstrap: Option<&Path>) -> Vec<(String, String)> {
    let Some(Ok(list)) = bootstrap.map(files::read_files) else {
        return Vec::new();
    };
    let mut used = Vec::new();
    for f in &list {
        for s in view::view(f.format, &f.text).sections {
            if let Some(name) = s.get("name").filter(|_| s.is_plugin()) {
                used.push((s.kind.clone(), name.trim().to_ascii_lowercase()));
            }
        }
    }
    used
}

/// `available`: the binary's plugins per type, in `TYPES` order. A used
/// plugin the list lacks (a proxy plugin such as `opamp` itself, loaded
/// from a plugins file) is reported as available too: it is running.
pub fn build(available: [&[String]; 4], used: &[(String, String)]) -> AvailableComponents {
    let mut components = BTreeMap::new();
    for ((ty, kind), names) in TYPES.iter().zip(available) {
        let in_use = |n: &str| used.iter().any(|(k, u)| k == kind && u == n);
        let mut subs: BTreeMap<String, ComponentDetails> = names
            .iter()
            .map(|n| (n.clone(), details(in_use(n))))
            .collect();
        for (_, u) in used.iter().filter(|(k, _)| k == kind) {
            subs.entry(u.clone()).or_insert_with(|| details(true));
        }
        components.insert(
            ty.to_string(),
            ComponentDetails {
                metadata: Vec::new(),
                sub_component_map: subs,
            },
        );
    }
    let hash = digest(&components);
    AvailableComponents { components, hash }
}

fn details(in_use: bool) -> ComponentDetails {
    ComponentDetails {
        metadata: vec![KeyValue {
            key: "in_use".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::BoolValue(in_use)),
            }),
        }],
        sub_component_map: BTreeMap::new(),
    }
}

/// SHA-256 over a canonical listing (the maps are ordered), so the same
/// set always has the same hash and any change changes it.
fn digest(c: &BTreeMap<String, ComponentDetails>) -> Vec<u8> {
    let mut text = String::new();
    for (ty, d) in c {
        for (name, sub) in &d.sub_component_map {
            let used = matches!(
                sub.metadata
                    .first()
                    .and_then(|m| m.value.as_ref()?.value.as_ref()),
                Some(any_value::Value::BoolValue(true))
            );
            text += &format!("{ty}/{name}/{used}\n");
        }
    }
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_plugin_by_type_with_its_use() {
        let (i, p, f, o) = (
            names(&["dummy", "tail"]),
            names(&[]),
            names(&["grep"]),
            names(&["stdout", "null"]),
        );
        let used = vec![
            ("INPUT".to_string(), "dummy".to_string()),
            ("INPUT".to_string(), "opamp".to_string()),
            ("OUTPUT".to_string(), "null".to_string()),
        ];
        let a = build([&i, &p, &f, &o], &used);
        let inputs = &a.components["input"].sub_component_map;
        assert_eq!(
            inputs.keys().collect::<Vec<_>>(),
            ["dummy", "opamp", "tail"]
        );
        let flag = |d: &ComponentDetails| d.metadata[0].value.clone();
        assert_eq!(flag(&inputs["tail"]), details(false).metadata[0].value);
        assert_eq!(flag(&inputs["dummy"]), details(true).metadata[0].value);
        assert_eq!(a.components.len(), 4);
        let b = build([&i, &p, &f, &o], &used[..1]);
        assert_ne!(a.hash, b.hash, "use changes the hash");
        assert_eq!(a.hash, build([&i, &p, &f, &o], &used).hash, "stable");
    }

    #[test]
    fn use_is_read_from_the_bootstrap_and_its_includes() {
        let dir = std::env::temp_dir().join(format!("fbo-components-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("inc.conf"),
            "[OUTPUT]\n    Name  Stdout\n    Match *\n",
        )
        .unwrap();
        let main = dir.join("main.conf");
        std::fs::write(
            &main,
            "[INPUT]\n    Name dummy\n@INCLUDE inc.conf\n[SERVICE]\n    Flush 1\n",
        )
        .unwrap();
        let used = used_plugins(Some(&main));
        assert_eq!(
            used,
            vec![
                ("INPUT".to_string(), "dummy".to_string()),
                ("OUTPUT".to_string(), "stdout".to_string())
            ]
        );
    }
}
