use std::path::PathBuf;

use super::*;

fn args(a: &[&str]) -> Vec<String> {
    std::iter::once("fluent-bit")
        .chain(a.iter().copied())
        .map(String::from)
        .collect()
}

fn file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fbo-http-addr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn defaults_are_fluent_bits() {
    let s = resolve(None, None, &args(&[]));
    assert_eq!(s.url, "http://127.0.0.1:2020");
    assert!(!s.enabled);
    assert_eq!(s.source, "Fluent Bit's defaults");
}

#[test]
fn the_property_overrides_everything() {
    let s = resolve(Some("http://10.0.0.1:9"), None, &args(&["-P", "1"]));
    assert_eq!(s.url, "http://10.0.0.1:9");
    assert!(s.enabled);
}

#[test]
fn classic_service_section_with_set_variables() {
    let p = file(
        "a.conf",
        "@SET port=2021\n[SERVICE]\n    HTTP_Server  On\n    HTTP_Port    ${port}\n[INPUT]\n    Name dummy\n",
    );
    let s = resolve(None, Some(&p), &args(&["-c", "x"]));
    assert_eq!(s.url, "http://127.0.0.1:2021");
    assert!(s.enabled);
    assert_eq!(s.source, "the bootstrap's service section");
}

#[test]
fn yaml_service_and_an_ipv6_listener() {
    let p = file(
        "b.yaml",
        "env:\n  P: 2050\nservice:\n  http_server: on\n  http_listen: '::'\n  http_port: ${P}\npipeline:\n  inputs:\n    - name: dummy\n",
    );
    let s = resolve(None, Some(&p), &args(&[]));
    assert_eq!(s.url, "http://[::1]:2050");
    assert!(s.enabled);
}

/// Fluent Bit applies the file after the command line.
#[test]
fn the_file_wins_over_the_command_line_key_by_key() {
    let p = file("c.conf", "[SERVICE]\n    HTTP_Port 2022\n");
    let s = resolve(
        None,
        Some(&p),
        &args(&["-H", "-L", "127.0.0.2", "-P", "9999"]),
    );
    assert_eq!(s.url, "http://127.0.0.2:2022");
    assert!(s.enabled, "-H turns it on; the file says nothing");
}

#[test]
fn command_line_forms() {
    for a in [
        vec!["-H", "-P2031"],
        vec!["--http", "--port", "2031"],
        vec!["--http_server", "--http_port=2031"],
    ] {
        let s = resolve(None, None, &args(&a));
        assert_eq!(s.url, "http://127.0.0.1:2031", "{a:?}");
        assert!(s.enabled);
        assert_eq!(s.source, "Fluent Bit's command line");
    }
    let s = resolve(None, None, &args(&["--http_listen=192.168.1.5", "-H"]));
    assert_eq!(s.url, "http://192.168.1.5:2020");
}
