//! Every rejection rule, and every default-denied plugin in every place a
//! config can name a plugin: classic sections, YAML pipeline sections,
//! YAML processors, customs, and files other than the main one.

use std::path::PathBuf;

use fluent_bit_opamp::config::properties::PluginPolicy;
use fluent_bit_opamp::proto::{AgentConfigFile, AgentConfigMap};
use fluent_bit_opamp::remote::policy::{Format, Policy, Rejection, Rule, DEFAULT_DENY_PLUGINS};

fn policy(format: Format) -> Policy {
    Policy {
        enabled: true,
        format,
        main_name: if format == Format::Yaml {
            "managed.yaml"
        } else {
            "managed.conf"
        }
        .into(),
        folder: PathBuf::from("/etc/fluent-bit/managed.d"),
        plugins: PluginPolicy::Deny(DEFAULT_DENY_PLUGINS.split(',').map(String::from).collect()),
        max_size: 4 << 20,
        paths: fluent_bit_opamp::remote::paths::AllowPaths::Any,
    }
}

fn map(format: Format, files: &[(&str, &str)]) -> AgentConfigMap {
    let ct = if format == Format::Yaml {
        "application/yaml"
    } else {
        "text/x-fluent-bit"
    };
    AgentConfigMap {
        config_map: files
            .iter()
            .map(|(k, b)| {
                (
                    k.to_string(),
                    AgentConfigFile {
                        body: b.as_bytes().to_vec(),
                        content_type: ct.into(),
                    },
                )
            })
            .collect(),
    }
}

fn check(format: Format, files: &[(&str, &str)]) -> Result<(), Rejection> {
    policy(format).check(Some(&map(format, files))).map(|_| ())
}

fn denied() -> Vec<&'static str> {
    DEFAULT_DENY_PLUGINS.split(',').collect()
}

fn assert_denied(r: Result<(), Rejection>, plugin: &str, place: &str) {
    let e = r.expect_err(&format!("{plugin} in {place} must be refused"));
    assert_eq!(e.rule, Rule::DenyPlugins, "{plugin} in {place}: {e}");
    assert!(
        e.detail.contains(&format!("'{plugin}'")),
        "{plugin} in {place}: {e}"
    );
    assert!(
        e.to_string().contains("deny_plugins"),
        "the message names the rule: {e}"
    );
}

#[test]
fn the_default_list_covers_every_plugin_that_runs_code_or_commands() {
    let list = denied();
    for p in [
        "exec",
        "exec_wasi",
        "lua",
        "wasm",
        "tensorflow",
        "calyptia",
        "calyptia_fleet",
        "exit",
        "file",
    ] {
        assert!(list.contains(&p), "{p} missing from the default deny list");
    }
}

#[test]
fn every_denied_plugin_in_every_classic_section() {
    for p in denied() {
        for section in ["INPUT", "FILTER", "OUTPUT", "CUSTOM", "input"] {
            let body = format!("[{section}]\n    Name {p}\n    Match *\n");
            assert_denied(
                check(Format::Classic, &[("", &body)]),
                p,
                &format!("classic [{section}]"),
            );
        }
        // Case, padding and the `name://` form select the same plugin.
        let body = format!("[OUTPUT]\n  NAME   {}://x\n", p.to_uppercase());
        assert_denied(
            check(Format::Classic, &[("", &body)]),
            p,
            "classic NAME p://x",
        );
        // A file the main one includes is checked too.
        let body = format!("[FILTER]\n    Name {p}\n");
        assert_denied(
            check(
                Format::Classic,
                &[("", "@INCLUDE managed.d/more.conf\n"), ("more.conf", &body)],
            ),
            p,
            "an included classic file",
        );
    }
}

#[test]
fn every_denied_plugin_in_every_yaml_place() {
    for p in denied() {
        let places = [
            ("inputs", format!("pipeline:\n  inputs:\n    - name: {p}\n")),
            ("filters", format!("pipeline:\n  filters:\n    - name: {p}\n      match: '*'\n")),
            ("outputs", format!("pipeline:\n  outputs:\n    - name: \"{p}\"\n      match: '*'\n")),
            ("customs", format!("customs:\n  - name: {p}\n")),
            (
                "input processors",
                format!("pipeline:\n  inputs:\n    - name: dummy\n      processors:\n        logs:\n          - name: {p}\n"),
            ),
            (
                "output processors",
                format!(
                    "pipeline:\n  outputs:\n    - name: stdout\n      match: '*'\n      processors:\n        metrics:\n          - name: {p}\n        traces:\n          - name: {p}\n"
                ),
            ),
            ("flow style", format!("pipeline:\n  filters: [{{name: {p}, match: '*'}}]\n")),
            ("upper-case key", format!("pipeline:\n  inputs:\n    - Name: {}\n", p.to_uppercase())),
        ];
        for (place, body) in places {
            assert_denied(
                check(Format::Yaml, &[("", &body)]),
                p,
                &format!("YAML {place}"),
            );
        }
        let body = format!("pipeline:\n  inputs:\n    - name: {p}\n");
        assert_denied(
            check(
                Format::Yaml,
                &[
                    ("", "includes:\n  - managed.d/more.yaml\n"),
                    ("more.yaml", &body),
                ],
            ),
            p,
            "an included YAML file",
        );
    }
}

#[test]
fn lua_with_inline_code_or_a_script_file_is_denied() {
    let inline = "[FILTER]\n    Name lua\n    Match *\n    call f\n    code function f(t, ts, r) os.execute('id') return 0, ts, r end\n";
    assert_denied(
        check(Format::Classic, &[("", inline)]),
        "lua",
        "inline code",
    );
    let script = "[FILTER]\n    Name lua\n    Match *\n    script managed.d/f.lua\n    call f\n";
    assert_denied(
        check(
            Format::Classic,
            &[("", script), ("f.lua", "function f() end")],
        ),
        "lua",
        "script file",
    );
    let yaml = "pipeline:\n  inputs:\n    - name: dummy\n      processors:\n        logs:\n          - name: lua\n            call: f\n            code: |\n              function f(t, ts, r) return 0, ts, r end\n";
    assert_denied(
        check(Format::Yaml, &[("", yaml)]),
        "lua",
        "YAML processor with a code block",
    );
}

#[test]
fn parsers_named_like_denied_plugins_are_not_plugins() {
    let classic = "[PARSER]\n    Name exec\n    Format json\n[MULTILINE_PARSER]\n    name lua\n";
    assert!(check(
        Format::Classic,
        &[("", "[INPUT]\n    Name dummy\n"), ("parsers.conf", classic)]
    )
    .is_ok());
    let yaml = "parsers:\n  - name: exec\n    format: json\nmultiline_parsers:\n  - name: lua\npipeline:\n  inputs:\n    - name: dummy\n";
    assert!(check(Format::Yaml, &[("", yaml)]).is_ok());
}

#[test]
fn plugin_libraries_are_refused_in_every_form() {
    for (format, body) in [
        (Format::Classic, "[PLUGINS]\n    Path /tmp/evil.so\n"),
        (
            Format::Classic,
            "[SERVICE]\n    Plugins_File plugins.conf\n",
        ),
        (Format::Yaml, "plugins:\n  - /tmp/evil.so\n"),
        (Format::Yaml, "service:\n  plugins_file: plugins.yaml\n"),
    ] {
        let e = check(format, &[("", body)]).unwrap_err();
        assert_eq!(e.rule, Rule::PluginLibraries, "{body}");
    }
}

#[test]
fn an_allow_list_replaces_the_deny_list() {
    let mut p = policy(Format::Yaml);
    p.plugins = PluginPolicy::Allow(vec![
        "dummy".into(),
        "stdout".into(),
        "elasticsearch".into(),
    ]);
    let ok =
        "pipeline:\n  inputs:\n    - name: dummy\n  outputs:\n    - name: es\n      match: '*'\n";
    assert!(
        p.check(Some(&map(Format::Yaml, &[("", ok)]))).is_ok(),
        "aliases match their plugin"
    );
    let bad = "pipeline:\n  inputs:\n    - name: dummy\n      processors:\n        logs:\n          - name: grep\n";
    let e = p.check(Some(&map(Format::Yaml, &[("", bad)]))).unwrap_err();
    assert_eq!(e.rule, Rule::AllowPlugins);
    assert!(
        e.to_string().contains("allow_plugins") && e.detail.contains("'grep'"),
        "{e}"
    );
}

#[test]
fn each_rule_names_itself() {
    let p = policy(Format::Classic);
    let cases: Vec<(Result<(), Rejection>, &str)> = vec![
        (
            Policy {
                enabled: false,
                ..p.clone()
            }
            .check(None)
            .map(|_| ()),
            "remote_config",
        ),
        (
            Policy {
                max_size: 10,
                paths: fluent_bit_opamp::remote::paths::AllowPaths::Any,
                ..p.clone()
            }
            .check(Some(&map(
                Format::Classic,
                &[("", "[INPUT]\n  Name dummy\n")],
            )))
            .map(|_| ()),
            "max_config_size",
        ),
        (check(Format::Classic, &[("x.conf", "")]), "main file"),
        (
            check(Format::Classic, &[("", ""), ("../x", "")]),
            "config key",
        ),
        (
            policy(Format::Yaml)
                .check(Some(&map(
                    Format::Classic,
                    &[("", "[INPUT]\n  Name dummy\n")],
                )))
                .map(|_| ()),
            "format",
        ),
        (
            check(Format::Classic, &[("", "[INPUT]\n  Name opamp\n")]),
            "opamp section",
        ),
        (
            check(Format::Classic, &[("", "[SERVICE]\n  Hot_Reload Off\n")]),
            "hot_reload",
        ),
        (
            check(Format::Classic, &[("", "[INPUT]\n  Name ${P}\n")]),
            "unreadable config",
        ),
    ];
    for (r, name) in cases {
        let e = r.unwrap_err();
        assert!(e.to_string().contains(&format!("({name})")), "{name}: {e}");
    }
}

#[test]
fn the_yaml_main_file_must_be_yaml_and_the_classic_one_classic() {
    let mut m = map(Format::Classic, &[("", "[INPUT]\n  Name dummy\n")]);
    let e = policy(Format::Yaml).check(Some(&m)).unwrap_err();
    assert_eq!(e.rule, Rule::Format);
    assert!(
        e.detail.contains("classic") && e.detail.contains("YAML"),
        "{e}"
    );
    m.config_map.get_mut("").unwrap().content_type = "text/yaml".into();
    let e = policy(Format::Classic).check(Some(&m)).unwrap_err();
    assert_eq!(e.rule, Rule::Format);
}

/// `allow_paths`: file properties of a remote config stay in the allowed
/// folders, in every section and file, classic and YAML (issue 12).
#[test]
fn file_properties_are_confined_to_allow_paths() {
    use fluent_bit_opamp::remote::paths::AllowPaths;
    let confined = |format: Format| Policy {
        paths: AllowPaths::Under(vec![
            PathBuf::from("/var/log"),
            PathBuf::from("/etc/fluent-bit/managed.d"),
        ]),
        ..policy(format)
    };
    let run =
        |format: Format, files: &[(&str, &str)]| confined(format).allows(Some(&map(format, files)));
    let c = Format::Classic;
    assert!(run(
        c,
        &[(
            "",
            "[INPUT]\n    Name tail\n    Path /var/log/app/*.log\n    DB /var/log/flb_app.db\n"
        )]
    )
    .is_ok());
    let e = run(
        c,
        &[(
            "",
            "[INPUT]\n    Name tail\n    Path /etc/shadow\n[OUTPUT]\n    Name http\n    Match *\n",
        )],
    )
    .unwrap_err();
    assert_eq!(e.rule, Rule::AllowPaths);
    assert!(
        e.detail.contains("'Path' of input 'tail'") && e.detail.contains("/etc/shadow"),
        "{}",
        e.detail
    );
    let e = run(c, &[("", "[SERVICE]\n    Parsers_File /root/p.conf\n")]).unwrap_err();
    assert!(e.detail.contains("Parsers_File"), "{}", e.detail);
    let e = run(
        c,
        &[
            ("", "@INCLUDE managed.d/x.conf\n"),
            (
                "x.conf",
                "[INPUT]\n    Name tail\n    Path /var/log/../../etc/passwd\n",
            ),
        ],
    )
    .unwrap_err();
    assert!(e.detail.contains("'x.conf' line 3"), "{}", e.detail);
    let e = run(
        c,
        &[("", "[INPUT]\n    Name tail\n    storage.path /tmp/chunks\n")],
    )
    .unwrap_err();
    assert!(e.detail.contains("storage.path"), "{}", e.detail);
    assert!(
        run(
            c,
            &[(
                "",
                "[INPUT]\n    Name tail\n    Path_Key filename\n    Path /var/log/a.log\n"
            )]
        )
        .is_ok(),
        "path_key is a record key"
    );
    let y = Format::Yaml;
    let e = run(
        y,
        &[(
            "",
            "pipeline:\n  inputs:\n    - name: tail\n      path: /proc/self/environ\n",
        )],
    )
    .unwrap_err();
    assert_eq!(e.rule, Rule::AllowPaths, "{e}");
    assert!(
        policy(c)
            .allows(Some(&map(
                c,
                &[("", "[INPUT]\n    Name tail\n    Path /etc/shadow\n")]
            )))
            .is_ok(),
        "any"
    );
}
