use super::*;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fbo-paths-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn path_keys_are_the_file_properties() {
    for k in [
        "path",
        "Path",
        "db",
        "parsers_file",
        "storage.path",
        "tls.key_file",
        "unix_path",
        "exclude_path",
        "file",
    ] {
        assert!(is_path_key(k), "{k}");
    }
    for k in ["path_key", "name", "match", "uri", "host", "tag"] {
        assert!(!is_path_key(k), "{k}");
    }
}

#[test]
fn inside_outside_globs_and_relative_paths() {
    let root = tmp("basic");
    std::fs::create_dir_all(root.join("logs/app")).unwrap();
    let allow = AllowPaths::Under(vec![root.join("logs")]);
    assert!(allow
        .check(&format!("{}/logs/app/*.log", root.display()), &root)
        .is_ok());
    assert!(
        allow.check("logs/app/x.log", &root).is_ok(),
        "relative to the working folder"
    );
    assert!(
        allow
            .check(&format!("{}/logs/new/file.db", root.display()), &root)
            .is_ok(),
        "not there yet"
    );
    let e = allow.check("/etc/shadow", &root).unwrap_err();
    assert!(
        e.contains("/etc/shadow") && e.contains("allow_paths"),
        "{e}"
    );
    assert!(
        allow
            .check(
                &format!("{0}/logs/a.log, /etc/passwd", root.display()),
                &root
            )
            .is_err(),
        "every item of a list"
    );
    assert!(
        allow.check("/*/shadow", &root).is_err(),
        "a glob by its fixed prefix"
    );
    assert!(allow
        .check(&format!("{}/logs/../secret", root.display()), &root)
        .is_err());
    assert!(allow
        .check(&format!("{}/logs/nope/../../x", root.display()), &root)
        .is_err());
    assert!(allow.check("${HOME}/x", &root).is_err());
    assert!(AllowPaths::Any.check("/etc/shadow", &root).is_ok());
}

#[test]
fn symlinks_are_resolved() {
    let root = tmp("links");
    std::fs::create_dir_all(root.join("logs")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("logs/etc")).unwrap();
    let allow = AllowPaths::Under(vec![root.join("logs")]);
    let e = allow
        .check(&format!("{}/logs/etc/shadow", root.display()), &root)
        .unwrap_err();
    assert!(e.contains("outside"), "{e}");
}

/// The `file` output as real Fluent Bit opens it: `Path/File` joined,
/// record accessors and the tag (issue 12, checked on 3.2.10 and 5.1.1 by
/// tests/real_allow_paths.rs).
#[test]
fn the_file_output_is_checked_as_fluent_bit_joins_it() {
    use crate::fbconf::{view::view, Format};
    let root = tmp("file_output");
    std::fs::create_dir_all(root.join("out")).unwrap();
    let allow = AllowPaths::Under(vec![root.join("out")]);
    let out = root.join("out");
    let check = |props: &str| {
        let text = format!("[OUTPUT]\n    Name file\n    Match *\n{props}");
        let sec = view(Format::Classic, &text).sections.remove(0);
        allow.check_section(&sec, &root)
    };
    let ok = |props: String| assert_eq!(check(&props), Ok(()), "{props}");
    let refused = |props: String, key: &str, why: &str| {
        let e = check(&props).expect_err(&props);
        assert_eq!(e.key, key, "{props}");
        assert!(e.why.contains(why), "{props}: {}", e.why);
    };
    let o = out.display();
    ok(format!("    Path {o}\n    File x.log\n"));
    ok(format!("    Path {o}\n    File $kubernetes['pod_name']\n"));
    ok(format!("    Path {o}/%Y/%m\n    File x.log\n"));
    refused(format!("    Path {o}\n"), "File", "tag");
    refused(
        format!("    Path {o}\n    File ../x.log\n"),
        "File",
        "outside",
    );
    refused(
        "    Path $dir\n    File x.log\n".to_string(),
        "Path",
        "record accessor",
    );
    refused(
        "    Path /etc/%Y\n    File x\n".to_string(),
        "Path",
        "outside",
    );
    refused(
        format!("    Path {o}\n    File x\n    Fallback_Path /etc\n    Fallback_File y\n"),
        "Fallback_Path",
        "outside",
    );
    refused(
        format!("    Path {o}\n    File x\n    Fallback_Path {o}\n    Fallback_File ../../y\n"),
        "Fallback_File",
        "outside",
    );
    assert_eq!(
        AllowPaths::Any.check_section(
            &view(Format::Classic, "[OUTPUT]\n    Name file\n").sections[0],
            &root
        ),
        Ok(()),
        "any"
    );
}
