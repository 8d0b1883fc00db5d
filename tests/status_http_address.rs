//! "Status that needs no extra settings": with `HTTP_Port` set to a
//! non-default port in the bootstrap (classic and YAML) and no
//! `http_server` property, the agent still reports Fluent Bit's version and
//! a known pipeline health. Real Fluent Bit from `FLUENT_BIT_BIN`.

mod support;

use std::path::Path;
use std::time::Duration;

use fluent_bit_opamp::proto::{any_value::Value, AgentToServer};
use support::fluent_bit::{binaries, free_port, plugin_path, tmpdir, version_of, Fb};
use support::TestServer;

fn messages(server: &TestServer) -> Vec<AgentToServer> {
    server
        .recorded()
        .ws
        .iter()
        .flat_map(|c| c.messages())
        .collect()
}

fn version_reported(m: &AgentToServer) -> Option<String> {
    let d = m.agent_description.as_ref()?;
    d.identifying_attributes
        .iter()
        .find(|kv| kv.key == "service.version")
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        })
}

fn classic(dir: &Path, server: &TestServer, port: u16) -> std::path::PathBuf {
    let conf = dir.join("fluent-bit.conf");
    std::fs::write(
        &conf,
        format!(
            "@SET fb_port={port}\n[SERVICE]\n    Flush 1\n    Grace 1\n    HTTP_Server On\n    HTTP_Port ${{fb_port}}\n    Plugins_File {}\n\n\
             [INPUT]\n    Name opamp\n    Endpoint {}\n    State_Dir {}\n    Health_Interval 1s\n\n\
             [INPUT]\n    Name dummy\n    Tag base\n\n[OUTPUT]\n    Name null\n    Match base\n",
            dir.join("plugins.conf").display(),
            server.ws_url(),
            dir.join("state").display(),
        ),
    )
    .unwrap();
    conf
}

fn yaml(dir: &Path, server: &TestServer, port: u16) -> std::path::PathBuf {
    let conf = dir.join("fluent-bit.yaml");
    std::fs::write(
        &conf,
        format!(
            "service:\n  flush: 1\n  grace: 1\n  http_server: on\n  http_listen: 0.0.0.0\n  http_port: {port}\n  plugins_file: {}\n\
             pipeline:\n  inputs:\n    - name: opamp\n      endpoint: {}\n      state_dir: {}\n      health_interval: 1s\n\
             \x20   - name: dummy\n      tag: base\n  outputs:\n    - name: 'null'\n      match: base\n",
            dir.join("plugins.conf").display(),
            server.ws_url(),
            dir.join("state-yaml").display(),
        ),
    )
    .unwrap();
    conf
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn version_and_health_without_an_http_server_property() {
    for bin in binaries("version_and_health_without_an_http_server_property") {
        let v = version_of(&bin);
        let dir = tmpdir("status-http-address");
        std::fs::write(
            dir.join("plugins.conf"),
            format!("[PLUGINS]\n    Path {}\n", plugin_path().display()),
        )
        .unwrap();
        for (form, make) in [
            ("classic", classic as fn(&Path, &TestServer, u16) -> _),
            ("yaml", yaml),
        ] {
            let server = TestServer::start();
            let port = free_port();
            let conf = make(&dir, &server, port);
            let mut fb = Fb::with_config(&bin, &conf);
            let r = server.wait_until("version and health", Duration::from_secs(30), |_| {
                let m = messages(&server);
                let version = m.iter().filter_map(version_reported).next_back();
                let healthy = m
                    .iter()
                    .filter_map(|m| m.health.as_ref())
                    .next_back()
                    .is_some_and(|h| h.healthy);
                version.is_some() && healthy
            });
            let m = messages(&server);
            let version = m.iter().filter_map(version_reported).next_back().unwrap();
            println!(
                "SUMMARY {v}: {form} HTTP_Port {port}, no http_server property: service.version {version}, healthy ({} connections)",
                r.ws.len()
            );
            assert!(v.contains(&version), "{v} reports {version}");
            fb.terminate();
        }
    }
}
