use std::os::unix::fs::PermissionsExt;

use super::*;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fbo-store-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn candidate(endpoint: &str, token: &str) -> Candidate {
    Candidate {
        hash: vec![0xab, 0x01],
        base_endpoint: "ws://boot/v1/opamp".into(),
        endpoint: Endpoint::parse(endpoint).unwrap(),
        headers: vec![Header {
            name: "Authorization".into(),
            value: format!("Bearer {token}"),
        }],
        verify: true,
        ca: Material::New(b"CA PEM".to_vec()),
        cert: Material::New(b"CERT PEM".to_vec()),
        key: Material::New(b"KEY PEM".to_vec()),
        heartbeat: Some(Duration::from_secs(15)),
    }
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn staged_then_committed_settings_read_back_whole() {
    let state = tmp("commit");
    let staged = stage(&state, &candidate("wss://new:4320/v1/opamp", "t1")).unwrap();
    assert!(load(&state).unwrap().is_none(), "staged is not committed");
    let committed = commit(&state).unwrap();
    assert_eq!(committed.hash, vec![0xab, 0x01]);
    assert_eq!(committed.base_endpoint, "ws://boot/v1/opamp");
    assert_eq!(
        committed.profile.endpoint.url(),
        staged.profile.endpoint.url()
    );
    assert_eq!(committed.profile.headers[0].value, "Bearer t1");
    assert_eq!(committed.heartbeat, Some(Duration::from_secs(15)));
    let key = committed.profile.tls.key_file.clone().unwrap();
    assert_eq!(fs::read(&key).unwrap(), b"KEY PEM");
    assert!(key.starts_with(state.join(DIR)));
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&state.join(DIR).join(SETTINGS)), 0o600);
    assert_eq!(mode(&state.join(DIR)), 0o700);
    assert_eq!(load(&state).unwrap(), Some(committed));
}

/// Keeping a file from the committed folder copies it: the commit
/// replaces that folder.
#[test]
fn kept_material_survives_the_next_commit() {
    let state = tmp("keep");
    stage(&state, &candidate("wss://a/x", "t1")).unwrap();
    let first = commit(&state).unwrap();
    let mut next = candidate("wss://a/x", "t2");
    next.ca = Material::Keep(first.profile.tls.ca_file.clone().unwrap());
    next.cert = Material::None;
    next.key = Material::Keep(PathBuf::from("/etc/operator/key.pem"));
    stage(&state, &next).unwrap();
    let second = commit(&state).unwrap();
    assert_eq!(
        fs::read(second.profile.tls.ca_file.unwrap()).unwrap(),
        b"CA PEM"
    );
    assert_eq!(second.profile.tls.crt_file, None);
    assert_eq!(
        second.profile.tls.key_file,
        Some(PathBuf::from("/etc/operator/key.pem"))
    );
    assert_eq!(second.profile.headers[0].value, "Bearer t2");
}

#[test]
fn deleting_the_settings_file_or_abandoning_clears_them() {
    let state = tmp("clear");
    stage(&state, &candidate("wss://a/x", "t1")).unwrap();
    commit(&state).unwrap();
    abandon(&state).unwrap();
    assert_eq!(load(&state).unwrap(), None);
    assert!(state.join(DIR).join(ABANDONED).exists());
    stage(&state, &candidate("wss://a/x", "t1")).unwrap();
    commit(&state).unwrap();
    fs::remove_file(state.join(DIR).join(SETTINGS)).unwrap();
    assert_eq!(load(&state).unwrap(), None);
}

/// A crash between the two renames of a commit leaves `connection.old`
/// only: the next start takes it back.
#[test]
fn an_interrupted_commit_keeps_the_old_settings() {
    let state = tmp("crash");
    stage(&state, &candidate("wss://old/x", "t1")).unwrap();
    commit(&state).unwrap();
    stage(&state, &candidate("wss://new/x", "t2")).unwrap();
    fs::rename(state.join(DIR), state.join(OLD)).unwrap();
    let back = load(&state).unwrap().unwrap();
    assert_eq!(back.profile.endpoint.host(), "old");
    discard_pending(&state);
    assert!(!state.join(PENDING).exists());
}

#[test]
fn a_damaged_file_is_an_error_naming_it() {
    let state = tmp("damaged");
    fs::create_dir_all(state.join(DIR)).unwrap();
    fs::write(state.join(DIR).join(SETTINGS), "endpoint ftp://x\n").unwrap();
    let e = load(&state).unwrap_err();
    assert!(e.contains("settings"), "{e}");
    fs::write(
        state.join(DIR).join(SETTINGS),
        "hash zz\nendpoint ws://x/\n",
    )
    .unwrap();
    assert!(load(&state).unwrap_err().contains("line 1"));
}
