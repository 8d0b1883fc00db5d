//! Management event records end to end in real Fluent Bit (from
//! `FLUENT_BIT_BIN`): the plugin's records go through Fluent Bit's proxy
//! collector to a `stdout` output in `json_lines` format, and this test
//! parses them. Ignored without `FLUENT_BIT_BIN`.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fluent_bit_opamp::core::format_uuid;
use support::fluent_bit::{binaries, plugin_path, tmpdir, version_of, Fb};
use support::{messages, TestServer};

const SECRET: &str = "sekrit-real-fb-token-0815";
const GOOD: &str = "[INPUT]\n    Name dummy\n    Tag remote\n    Rate 1\n\n[OUTPUT]\n    Name null\n    Match remote\n";
const DENIED: &str = "[INPUT]\n    Name exec\n    Command id\n";

fn setup(dir: &Path, server: &TestServer) -> PathBuf {
    std::fs::write(
        dir.join("plugins.conf"),
        format!("[PLUGINS]\n    Path {}\n", plugin_path().display()),
    )
    .unwrap();
    let managed = dir.join("managed.conf");
    std::fs::write(&managed, "").unwrap();
    let conf = dir.join("fluent-bit.conf");
    std::fs::write(
        &conf,
        format!(
            "[SERVICE]\n    Flush 1\n    Grace 1\n    Hot_Reload On\n    Plugins_File {}\n\n\
             [INPUT]\n    Name opamp\n    Tag opamp.events\n    Endpoint {}\n    State_Dir {}\n    \
             Header Authorization Bearer {SECRET}\n    Remote_Config On\n    Managed_Config {}\n\n\
             [OUTPUT]\n    Name stdout\n    Match opamp.events\n    Format json_lines\n\n\
             @INCLUDE managed.conf\n",
            dir.join("plugins.conf").display(),
            server.ws_url(),
            dir.join("state").display(),
            managed.display()
        ),
    )
    .unwrap();
    conf
}

/// The flat JSON objects Fluent Bit's `json_lines` prints, one a line.
fn records(fb: &Fb) -> Vec<BTreeMap<String, String>> {
    let out = fb.out.lock().unwrap().clone();
    out.lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(flat_json)
        .filter(|r| r.contains_key("event"))
        .collect()
}

fn wait_for(fb: &Fb, event: &str, hash: &str) -> BTreeMap<String, String> {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let found = records(fb).into_iter().find(|r| {
            r.get("event").map(String::as_str) == Some(event)
                && r.get("config_hash").map_or("", String::as_str) == hash
        });
        if let Some(r) = found {
            return r;
        }
        assert!(Instant::now() < end, "no {event} {hash}:\n{}", fb.all());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn management_events_reach_a_stdout_output() {
    for bin in binaries("management_events_reach_a_stdout_output") {
        let v = version_of(&bin);
        let dir = tmpdir("real-events");
        let server = TestServer::start();
        let conf = setup(&dir, &server);
        let mut fb = Fb::with_config(&bin, &conf);
        let rec = server.wait_until("agent connected", Duration::from_secs(20), |r| {
            r.ws.iter().any(|c| !c.payloads.is_empty())
        });
        let uid = format_uuid(
            &rec.ws[0].messages()[0]
                .instance_uid
                .clone()
                .try_into()
                .unwrap(),
        );
        // Let the first PreRun (the hot reload flag) reach the agent.
        std::thread::sleep(Duration::from_millis(500));

        server.push_ws(messages::config_offer(GOOD, b"good"));
        let applied = wait_for(&fb, "config_applied", &hex(b"good"));
        server.push_ws(messages::config_offer(DENIED, b"denied"));
        let refused = wait_for(&fb, "config_refused", &hex(b"denied"));
        let connected = wait_for(&fb, "connected", "");

        let all = records(&fb);
        let names: Vec<&str> = all.iter().map(|r| r["event"].as_str()).collect();
        println!("SUMMARY {v}: management events: {}", names.join(", "));
        let at = |e: &str, h: &[u8]| {
            all.iter()
                .position(|r| r["event"] == e && r.get("config_hash") == Some(&hex(h)))
                .unwrap_or_else(|| panic!("no {e}: {names:?}"))
        };
        assert_eq!(names.first(), Some(&"connected"), "{names:?}");
        assert!(at("config_offered", b"good") < at("config_applied", b"good"));
        assert!(at("config_offered", b"denied") < at("config_refused", b"denied"));
        assert_eq!(applied["outcome"], "ok");
        assert_eq!(refused["outcome"], "refused");
        assert!(refused["reason"].contains("exec"), "{refused:?}");
        assert_eq!(connected["endpoint"], server.ws_url());
        for r in &all {
            assert_eq!(r["instance_uid"], uid, "{r:?}");
            let date: f64 = r["date"].parse().unwrap();
            assert!(date > 1.6e9, "EventTime became Fluent Bit's date: {r:?}");
        }
        assert!(
            !fb.out.lock().unwrap().contains(SECRET),
            "a secret reached the output"
        );
        fb.terminate();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Without `Tag`, Fluent Bit tags an input with its instance name: the
/// records of an opamp input that comes first arrive as `opamp.0`.
#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn the_default_tag_is_the_instance_name() {
    for bin in binaries("the_default_tag_is_the_instance_name") {
        let v = version_of(&bin);
        let dir = tmpdir("real-events-tag");
        let server = TestServer::start();
        let conf = setup(&dir, &server);
        let text = std::fs::read_to_string(&conf)
            .unwrap()
            .replace("    Tag opamp.events\n", "")
            .replace("Match opamp.events", "Match opamp.0");
        std::fs::write(&conf, text).unwrap();
        let mut fb = Fb::with_config(&bin, &conf);
        let connected = wait_for(&fb, "connected", "");
        println!(
            "SUMMARY {v}: default tag opamp.0 carries {}",
            connected["event"]
        );
        fb.terminate();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// One line of flat JSON (string, number, bool and null values) as text
/// values; `None` for anything else.
fn flat_json(line: &str) -> Option<BTreeMap<String, String>> {
    let mut c = line.trim().chars().peekable();
    let mut out = BTreeMap::new();
    (c.next()? == '{').then_some(())?;
    loop {
        match c.next()? {
            '}' => return Some(out),
            ',' => continue,
            '"' => {
                let k = string(&mut c)?;
                (c.next()? == ':').then_some(())?;
                let v = if c.peek() == Some(&'"') {
                    c.next();
                    string(&mut c)?
                } else {
                    let mut v = String::new();
                    while let Some(&ch) = c.peek() {
                        if ch == ',' || ch == '}' {
                            break;
                        }
                        v.push(ch);
                        c.next();
                    }
                    v
                };
                out.insert(k, v);
            }
            _ => return None,
        }
    }
}

fn string(c: &mut impl Iterator<Item = char>) -> Option<String> {
    let mut s = String::new();
    loop {
        match c.next()? {
            '"' => return Some(s),
            '\\' => match c.next()? {
                'n' => s.push('\n'),
                't' => s.push('\t'),
                'u' => {
                    let h: String = (0..4).filter_map(|_| c.next()).collect();
                    s.push(char::from_u32(u32::from_str_radix(&h, 16).ok()?)?);
                }
                other => s.push(other),
            },
            ch => s.push(ch),
        }
    }
}
