//! Other connections through the real FFI path, in CI: the C host loads
//! the plugin, the test server offers a named destination and a remote
//! config that references it, then rotates the destination's credentials;
//! the config is rendered again and reloaded without a new push. No secret
//! reaches the server, the effective config or the log.

mod support;

use std::time::{Duration, Instant};

use fluent_bit_opamp::proto::ConnectionSettingsStatus;
use support::c_host::Host;
use support::fluent_bit::tmpdir;
use support::remote::{bootstrap, outcome, wait_connected};
use support::{messages, TestServer};

const USES: &str = "[OUTPUT]\n    Name http\n    Match *\n    Host ${opamp.other.logs.host}\n    \
                    Port ${opamp.other.logs.port}\n    URI ${opamp.other.logs.uri}\n    \
                    Header Authorization ${opamp.other.logs.header.authorization}\n    \
                    Header X-Fleet ${opamp.other.logs.header.x-fleet}\n";

const TOKENS: [&str; 4] = [
    "tok-one-aaaa",
    "fleet-one-1111",
    "tok-two-bbbb",
    "fleet-two-2222",
];

/// The final ConnectionSettingsStatus (APPLIED 1 / FAILED 3) for `hash`.
fn offer_outcome(server: &TestServer, hash: &[u8]) -> ConnectionSettingsStatus {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let found = server
            .recorded()
            .ws
            .iter()
            .flat_map(|c| c.messages())
            .filter_map(|m| m.connection_settings_status)
            .find(|s| s.last_connection_settings_hash == hash && (s.status == 1 || s.status == 3));
        if let Some(s) = found {
            return s;
        }
        if Instant::now() >= end {
            let all: Vec<_> = server
                .recorded()
                .ws
                .iter()
                .flat_map(|c| c.messages())
                .filter_map(|m| m.connection_settings_status)
                .collect();
            panic!("no outcome for offer {hash:?}: {all:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn offer(hash: &[u8], token: &str, fleet: &str) -> Vec<u8> {
    let auth = format!("Bearer {token}");
    messages::other_connections(
        hash,
        &[(
            "logs",
            "http://127.0.0.1:9880/ingest",
            &[("Authorization", auth.as_str()), ("X-Fleet", fleet)],
        )],
    )
}

#[test]
fn a_destination_is_rendered_and_rotated_without_a_new_push() {
    let dir = tmpdir("chost-other");
    let server = TestServer::start();
    let (conf, managed) = bootstrap(&dir, &server, "    Other_Connections On\n");
    let log = dir.join("host.log");
    let host = Host::start(&conf, &managed, &log);
    wait_connected(&server, 1);

    server.push_ws(offer(b"o1", TOKENS[0], TOKENS[1]));
    assert_eq!(offer_outcome(&server, b"o1").status, 1, "APPLIED");
    let n = server.remote_config_statuses().len();
    server.push_ws(messages::config_offer(USES, b"cfg"));
    assert_eq!(outcome(&server, b"cfg", n).status, 1);
    let text = std::fs::read_to_string(&managed).unwrap();
    assert!(
        text.contains("Host 127.0.0.1\n    Port 9880\n    URI /ingest\n"),
        "{text}"
    );
    assert!(text.contains("Bearer tok-one-aaaa") && text.contains("X-Fleet fleet-one-1111"));
    assert_eq!(host.reloads(), 1);

    // Rotation: a new offer, no new config push. The offer is APPLIED once
    // the re-rendered config is.
    let n = server.remote_config_statuses().len();
    server.push_ws(offer(b"o2", TOKENS[2], TOKENS[3]));
    let st = offer_outcome(&server, b"o2");
    assert_eq!(st.status, 1, "{st:?}");
    let text = std::fs::read_to_string(&managed).unwrap();
    assert!(
        text.contains("Bearer tok-two-bbbb") && text.contains("X-Fleet fleet-two-2222"),
        "{text}"
    );
    assert_eq!(host.reloads(), 2);
    // The server's view: still its own hash, APPLIED. (A re-render's
    // APPLYING and APPLIED may coalesce into no new status at all, since
    // the status compares equal to what the server already has.)
    let _ = n;
    let last = server.remote_config_statuses().last().cloned().unwrap();
    assert_eq!(
        (last.last_remote_config_hash.as_slice(), last.status),
        (b"cfg".as_slice(), 1)
    );

    // Hostile and broken offers: FAILED with a reason, nothing reloads.
    let bad = [
        (
            b"b1".as_slice(),
            messages::other_connections(b"b1", &[("../evil", "http://h/", &[])]),
            "destination name",
        ),
        (
            b"b2".as_slice(),
            messages::other_connections(b"b2", &[("logs", "http://h:99999/", &[])]),
            "destination_endpoint",
        ),
        (
            b"b3".as_slice(),
            messages::other_connections(
                b"b3",
                &[("logs", "http://h/", &[("X-Big", &"a".repeat(9000))])],
            ),
            "larger than",
        ),
    ];
    for (hash, msg, why) in bad {
        server.push_ws(msg);
        let st = offer_outcome(&server, hash);
        assert_eq!(st.status, 3, "{st:?}");
        assert!(st.error_message.contains(why), "{}", st.error_message);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(host.reloads(), 2, "the running pipeline is untouched");
    assert!(std::fs::read_to_string(&managed)
        .unwrap()
        .contains("tok-two-bbbb"));

    // A config naming a destination that does not exist: FAILED naming it.
    let n = server.remote_config_statuses().len();
    server.push_ws(messages::config_offer(
        "[OUTPUT]\n    Name http\n    Host ${opamp.other.nope.host}\n",
        b"nope",
    ));
    let st = outcome(&server, b"nope", n);
    assert_eq!(st.status, 3);
    assert!(
        st.error_message.contains("${opamp.other.nope.host}"),
        "{}",
        st.error_message
    );

    // The effective config shows the managed file, with the values hidden.
    let rec = server.wait_until(
        "effective config of the rotated file",
        Duration::from_secs(20),
        |r| {
            r.ws.iter()
                .flat_map(|c| c.messages())
                .filter_map(|m| m.effective_config)
                .any(|e| {
                    e.config_map.is_some_and(|m| {
                        m.config_map.get("managed.conf").is_some_and(|f| {
                            String::from_utf8_lossy(&f.body).contains("X-Fleet <redacted>")
                        })
                    })
                })
        },
    );
    // No secret in any AgentToServer, the log, or the host's output.
    for c in &rec.ws {
        for p in &c.payloads {
            for t in TOKENS {
                assert!(
                    !p.windows(t.len()).any(|w| w == t.as_bytes()),
                    "{t} sent to the server"
                );
            }
        }
    }
    let logs = std::fs::read_to_string(&log).unwrap_or_default() + &host.output();
    for t in TOKENS {
        assert!(!logs.contains(t), "{t} in the log");
    }
    let values = std::fs::metadata(dir.join("state/other_connections/values")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(values.permissions().mode() & 0o777, 0o600);
    println!("SUMMARY c_host other connections: offer+config APPLIED, rotation re-rendered (reloads=2), 3 bad offers FAILED, unknown variable FAILED, no secret in {} payloads or the log", rec.ws.iter().map(|c| c.payloads.len()).sum::<usize>());
    drop(host);
    let _ = std::fs::remove_dir_all(&dir);
}
