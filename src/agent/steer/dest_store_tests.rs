use std::os::unix::fs::PermissionsExt;

use super::super::destinations::PemFile;
use super::*;

fn checked(name: &str, key: &[u8]) -> Checked {
    Checked {
        name: name.into(),
        values: vec![("header.x-token".into(), "tok-secret-1".into(), true)],
        files: vec![PemFile {
            var: "tls.key_file",
            content: key.to_vec(),
            private: true,
        }],
    }
}

fn mode(p: &str) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn keys_are_private_values_round_trip_and_old_files_go() {
    let state = std::env::temp_dir().join(format!("opamp-dest-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state).unwrap();

    let v1 = write(&state, &[checked("a", b"KEY ONE")]).unwrap();
    save(&state, &v1).unwrap();
    let key1 = v1.get("opamp.other.a.tls.key_file").unwrap().to_string();
    assert_eq!(std::fs::read(&key1).unwrap(), b"KEY ONE");
    assert_eq!(mode(&key1), 0o600);
    let values = state.join(DIR).join(VALUES);
    assert_eq!(mode(values.to_str().unwrap()), 0o600);
    assert_eq!(load(&state), v1);
    assert_eq!(
        load(&state).get("opamp.other.a.header.x-token"),
        Some("tok-secret-1")
    );

    // A rotated key gets a new path; the previous set keeps its file.
    let v2 = write(&state, &[checked("a", b"KEY TWO")]).unwrap();
    let key2 = v2.get("opamp.other.a.tls.key_file").unwrap().to_string();
    assert_ne!(key1, key2);
    tidy(&state, &[&v2, &v1]);
    assert!(Path::new(&key1).exists() && Path::new(&key2).exists());
    tidy(&state, &[&v2]);
    assert!(!Path::new(&key1).exists() && Path::new(&key2).exists());
    tidy(&state, &[]);
    assert!(!state.join(DIR).join("a").exists());
    let _ = std::fs::remove_dir_all(&state);
}
