//! Available components on real Fluent Bit: the plugins the agent reports
//! are exactly what that binary's `--help` lists (read here independently),
//! plus the running proxy plugin, with `in_use` set for the ones the config
//! starts. The map is sent when the server asks (ReportAvailableComponents).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use fluent_bit_opamp::proto::{
    any_value::Value, AvailableComponents, ServerToAgent, ServerToAgentFlags,
};
use prost::Message as _;
use support::fluent_bit::{binaries, plugin_path, tmpdir, version_of, Fb};
use support::TestServer;

/// `--help`'s plugin lists by our type names, ANSI bold stripped.
fn help_lists(bin: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let out = Command::new(bin).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout)
        .replace("\x1b[1m", "")
        .replace("\x1b[0m", "");
    let mut lists = BTreeMap::new();
    let mut current: Option<&str> = None;
    for line in text.lines() {
        match line.trim() {
            "Inputs" => current = Some("input"),
            "Processors" => current = Some("processor"),
            "Filters" => current = Some("filter"),
            "Outputs" => current = Some("output"),
            "Internal" => current = None,
            _ => {}
        }
        let Some(ty) = current else { continue };
        if line.starts_with("  ") {
            if let Some(name) = line.split_whitespace().next() {
                lists
                    .entry(ty.to_string())
                    .or_insert_with(BTreeSet::new)
                    .insert(name.to_string());
            }
        } else {
            lists.entry(ty.to_string()).or_insert_with(BTreeSet::new);
        }
    }
    lists
}

fn in_use(c: &AvailableComponents, ty: &str, name: &str) -> bool {
    c.components[ty].sub_component_map[name]
        .metadata
        .iter()
        .any(|kv| {
            kv.key == "in_use"
                && matches!(
                    kv.value.as_ref().and_then(|v| v.value.as_ref()),
                    Some(Value::BoolValue(true))
                )
        })
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn available_components_match_the_binarys_help() {
    for bin in binaries("available_components_match_the_binarys_help") {
        let v = version_of(&bin);
        let dir = tmpdir("components");
        let server = TestServer::start();
        std::fs::write(
            dir.join("plugins.conf"),
            format!("[PLUGINS]\n    Path {}\n", plugin_path().display()),
        )
        .unwrap();
        let conf = dir.join("fluent-bit.conf");
        std::fs::write(
            &conf,
            format!(
                "[SERVICE]\n    Flush 1\n    Plugins_File {}\n\n[INPUT]\n    Name opamp\n    Endpoint {}\n    State_Dir {}\n\n\
                 [INPUT]\n    Name dummy\n    Tag d\n\n[OUTPUT]\n    Name null\n    Match d\n",
                dir.join("plugins.conf").display(),
                server.ws_url(),
                dir.join("state").display()
            ),
        )
        .unwrap();
        let mut fb = Fb::with_config(&bin, &conf);
        let r = server.wait_until("the components hash", Duration::from_secs(20), |r| {
            r.ws.iter()
                .flat_map(|c| c.messages())
                .any(|m| m.available_components.is_some())
        });
        let uid = r.ws[0].messages()[0].instance_uid.clone();
        let caps =
            r.ws.iter()
                .flat_map(|c| c.messages())
                .last()
                .unwrap()
                .capabilities;
        assert_eq!(caps & 0x4000, 0x4000, "ReportsAvailableComponents");
        server.push_ws(
            ServerToAgent {
                instance_uid: uid,
                flags: ServerToAgentFlags::ReportAvailableComponents as u64,
                ..Default::default()
            }
            .encode_to_vec(),
        );
        let r = server.wait_until("the components map", Duration::from_secs(20), |r| {
            r.ws.iter().flat_map(|c| c.messages()).any(|m| {
                m.available_components
                    .is_some_and(|a| !a.components.is_empty())
            })
        });
        let map =
            r.ws.iter()
                .flat_map(|c| c.messages())
                .filter_map(|m| m.available_components)
                .rfind(|a| !a.components.is_empty())
                .unwrap();
        let help = help_lists(&bin);
        let mut total = 0;
        for (ty, names) in &help {
            let mut reported: BTreeSet<String> = map.components[ty]
                .sub_component_map
                .keys()
                .cloned()
                .collect();
            if ty == "input" {
                assert!(
                    reported.remove("opamp"),
                    "the running proxy input is listed"
                );
            }
            assert_eq!(&reported, names, "{v}: {ty} plugins");
            total += names.len();
        }
        assert!(
            in_use(&map, "input", "dummy")
                && in_use(&map, "output", "null")
                && in_use(&map, "input", "opamp")
        );
        assert!(!in_use(&map, "input", "tail"));
        // The HTTP server is off in this config: the version comes from the binary.
        let server_wait = server.wait_until("service.version", Duration::from_secs(20), |r| {
            r.ws.iter()
                .flat_map(|c| c.messages())
                .filter_map(|m| m.agent_description)
                .flat_map(|d| d.identifying_attributes)
                .any(|kv| kv.key == "service.version")
        });
        let _ = server_wait;
        let version = server
            .recorded()
            .ws
            .iter()
            .flat_map(|c| c.messages())
            .filter_map(|m| m.agent_description)
            .flat_map(|d| d.identifying_attributes)
            .filter(|kv| kv.key == "service.version")
            .filter_map(|kv| match kv.value.and_then(|v| v.value) {
                Some(Value::StringValue(s)) => Some(s),
                _ => None,
            })
            .next_back()
            .unwrap();
        assert!(v.ends_with(&version), "{v} vs {version}");
        println!("SUMMARY {v}: HTTP server off: service.version {version} from the binary");
        println!("SUMMARY {v}: available components = --help's {total} plugins (+ opamp), in_use dummy/null/opamp, hash {} bytes", map.hash.len());
        fb.terminate();
    }
}
