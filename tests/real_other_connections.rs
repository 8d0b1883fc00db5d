//! Other connections end to end on real Fluent Bit (from `FLUENT_BIT_BIN`):
//! an `http` output takes its host, port, URI and a header from a
//! destination the server offers; a loopback receiver in the test sees the
//! header change after the server rotates it, without a new config push.
//! Ignored without `FLUENT_BIT_BIN`.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::fluent_bit::{binaries, free_port, plugin_path, tmpdir, version_of, Fb};
use support::{messages, TestServer};

/// A loopback HTTP receiver recording each request's `x-api-token`.
fn receiver() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let rec = rec.clone();
            std::thread::spawn(move || serve(stream, rec));
        }
    });
    (port, seen)
}

fn serve(stream: std::net::TcpStream, rec: Arc<Mutex<Vec<String>>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    loop {
        let (mut len, mut token) = (0usize, String::new());
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                match k.to_ascii_lowercase().as_str() {
                    "content-length" => len = v.trim().parse().unwrap_or(0),
                    "x-api-token" => token = v.trim().to_string(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        rec.lock().unwrap().push(token);
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        if w.write_all(ok).is_err() {
            return;
        }
    }
}

fn offer_applied(server: &TestServer, hash: &[u8]) -> bool {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        let st = server
            .recorded()
            .ws
            .iter()
            .flat_map(|c| c.messages())
            .filter_map(|m| m.connection_settings_status)
            .find(|s| s.last_connection_settings_hash == hash && s.status != 2);
        if let Some(s) = st {
            assert_eq!(s.status, 1, "{s:?}");
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn wait_token(seen: &Mutex<Vec<String>>, token: &str) -> bool {
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if seen.lock().unwrap().iter().any(|t| t == token) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

const CONFIG: &str =
    "[INPUT]\n    Name dummy\n    Tag remote\n    Rate 5\n\n[OUTPUT]\n    Name http\n    \
    Match remote\n    Host ${opamp.other.sink.host}\n    Port ${opamp.other.sink.port}\n    \
    URI ${opamp.other.sink.uri}\n    Format json\n    \
    Header X-Api-Token ${opamp.other.sink.header.x-api-token}\n";

fn offer(hash: &[u8], port: u16, token: &str) -> Vec<u8> {
    let url = format!("http://127.0.0.1:{port}/ingest");
    messages::other_connections(hash, &[("sink", url.as_str(), &[("X-Api-Token", token)])])
}

#[test]
#[cfg_attr(
    not(fluent_bit),
    ignore = "needs FLUENT_BIT_BIN (real Fluent Bit builds)"
)]
fn an_http_output_follows_a_rotated_destination() {
    for bin in binaries("an_http_output_follows_a_rotated_destination") {
        let v = version_of(&bin);
        let server = TestServer::start();
        let (port, seen) = receiver();
        let dir = tmpdir("real-other");
        std::fs::write(
            dir.join("plugins.conf"),
            format!("[PLUGINS]\n    Path {}\n", plugin_path().display()),
        )
        .unwrap();
        let managed = dir.join("managed.conf");
        std::fs::write(&managed, "").unwrap();
        let http_port = free_port();
        let conf = dir.join("fluent-bit.conf");
        std::fs::write(
            &conf,
            format!(
                "[SERVICE]\n    Flush 1\n    Grace 1\n    Hot_Reload On\n    HTTP_Server On\n    HTTP_Listen 127.0.0.1\n    \
                 HTTP_Port {http_port}\n    Plugins_File {}\n\n[INPUT]\n    Name opamp\n    Endpoint {}\n    State_Dir {}\n    \
                 Remote_Config On\n    Other_Connections On\n    Managed_Config {}\n    Http_Server http://127.0.0.1:{http_port}\n\n\
                 @INCLUDE managed.conf\n",
                dir.join("plugins.conf").display(),
                server.ws_url(),
                dir.join("state").display(),
                managed.display()
            ),
        )
        .unwrap();
        let mut fb = Fb::with_config(&bin, &conf);
        server.wait_until("agent connected", Duration::from_secs(20), |r| {
            r.ws.iter().any(|c| !c.payloads.is_empty())
        });
        std::thread::sleep(Duration::from_millis(500));

        server.push_ws(offer(b"o1", port, "tok-one-1111"));
        assert!(offer_applied(&server, b"o1"), "first offer");
        server.push_ws(messages::config_offer(CONFIG, b"cfg"));
        assert!(
            wait_token(&seen, "tok-one-1111"),
            "{v}: first token never arrived"
        );
        let t0 = Instant::now();
        server.push_ws(offer(b"o2", port, "tok-two-2222"));
        assert!(offer_applied(&server, b"o2"), "{v}: rotation not APPLIED");
        assert!(
            wait_token(&seen, "tok-two-2222"),
            "{v}: rotated token never arrived"
        );
        let took = t0.elapsed();
        // After the new token, the old one is gone for good.
        std::thread::sleep(Duration::from_millis(1500));
        let tokens = seen.lock().unwrap().clone();
        let first_new = tokens.iter().position(|t| t == "tok-two-2222").unwrap();
        assert!(
            tokens[first_new..].iter().all(|t| t == "tok-two-2222"),
            "{v}: {tokens:?}"
        );
        let reloads = fb.count("reloading instance");
        let out = fb.all();
        for t in ["tok-one-1111", "tok-two-2222"] {
            assert!(!out.contains(t), "{v}: {t} in Fluent Bit's log");
        }
        println!(
            "SUMMARY {v}: http output header rotated by offer in {:.1}s, no config push; {} requests seen, {} after rotation, reload lines {reloads}",
            took.as_secs_f64(),
            tokens.len(),
            tokens.len() - first_new
        );
        fb.terminate();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
