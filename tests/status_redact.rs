//! Every redaction rule, on the config shapes operators actually write.

use fluent_bit_opamp::status::redact::{redact_pem, Redactor, MARKER};

fn classic(text: &str) -> String {
    Redactor::new(&[]).redact(text, false)
}

fn yaml(text: &str) -> String {
    Redactor::new(&[]).redact(text, true)
}

fn assert_hidden(out: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!out.contains(s), "secret {s:?} leaked:\n{out}");
    }
}

#[test]
fn classic_key_value_lines() {
    let text = "[OUTPUT]\n    Name         es\n    HTTP_User    elastic\n    HTTP_Passwd  hunter2\n    Cloud_Auth   elastic:s3cr3t\n    AWS_Secret_Access_Key  AKIAsecret\n    tls.key_passwd  pw123\n    Match        *\n";
    let out = classic(text);
    assert_hidden(&out, &["hunter2", "s3cr3t", "AKIAsecret", "pw123"]);
    assert!(out.contains("    HTTP_Passwd  <redacted>\n"), "{out}");
    assert!(
        out.contains("    HTTP_User    elastic\n"),
        "non-secrets stay: {out}"
    );
    assert!(out.contains("    Match        *\n"));
    assert_eq!(out.lines().count(), text.lines().count());
}

#[test]
fn classic_secret_on_an_indented_group_line() {
    // Deeper indentation is a [GROUP]'s content in the classic format.
    let text = "[OUTPUT]\n    Name  opentelemetry\n    [GROUP]\n        client_secret  abc-def\n        api_key        k-123\n";
    let out = classic(text);
    assert_hidden(&out, &["abc-def", "k-123"]);
    assert!(out.contains("        client_secret  <redacted>"), "{out}");
}

#[test]
fn classic_tab_separated_and_set_lines() {
    let out = classic(
        "@SET SPLUNK_TOKEN=tok-1\n@SET HOST=h\n[OUTPUT]\n\tName\tsplunk\n\tSplunk_Token\ttok-2\n",
    );
    assert_hidden(&out, &["tok-1", "tok-2"]);
    assert!(out.contains("@SET HOST=h"), "{out}");
    assert!(out.contains("\tSplunk_Token\t<redacted>"), "{out}");
}

#[test]
fn classic_header_keeps_name_hides_credential() {
    let out = classic("[OUTPUT]\n    Name http\n    Header Authorization Bearer abc.def\n    header X-API-Key k1\n    Header X-Tenant team-a\n");
    assert_hidden(&out, &["abc.def", "k1"]);
    assert!(out.contains("Header Authorization <redacted>"), "{out}");
    assert!(out.contains("header X-API-Key <redacted>"), "{out}");
    assert!(out.contains("Header X-Tenant team-a"), "{out}");
}

#[test]
fn commented_out_secrets_are_hidden_too() {
    let out = classic("[OUTPUT]\n    # HTTP_Passwd old-pass\n    # plain comment\n");
    assert_hidden(&out, &["old-pass"]);
    assert!(out.contains("# plain comment"));
    let out = yaml("outputs:\n  - name: es\n    # http_passwd: old-pass\n");
    assert_hidden(&out, &["old-pass"]);
}

#[test]
fn variable_references_are_not_secrets() {
    let out = classic("[OUTPUT]\n    HTTP_Passwd ${ES_PASSWORD}\n");
    assert!(out.contains("HTTP_Passwd ${ES_PASSWORD}"), "{out}");
    let out = yaml("outputs:\n  - http_passwd: ${ES_PASSWORD}\n");
    assert!(out.contains("http_passwd: ${ES_PASSWORD}"), "{out}");
}

#[test]
fn yaml_nested_and_list_items() {
    let text = r#"service:
  http_server: on
env:
  API_TOKEN: env-secret
pipeline:
  inputs:
    - name: dummy
  outputs:
    - name: http
      host: example.com
      http_passwd: "y-secret"
      tls.key_passwd: 'z-secret'
    - password: first-key-secret
      name: kafka
      rdkafka.sasl.password: kafka-secret
"#;
    let out = yaml(text);
    assert_hidden(
        &out,
        &[
            "env-secret",
            "y-secret",
            "z-secret",
            "first-key-secret",
            "kafka-secret",
        ],
    );
    assert!(out.contains("      http_passwd: <redacted>\n"), "{out}");
    assert!(out.contains("    - password: <redacted>\n"), "{out}");
    assert!(
        out.contains("      name: kafka\n"),
        "sibling after a list item survives: {out}"
    );
    assert!(out.contains("      host: example.com\n"));
}

#[test]
fn yaml_block_scalar_and_folded_continuation() {
    let text = "outputs:\n  - name: x\n    client_secret: |\n      line-one-secret\n      line-two-secret\n    token: starts here\n      and-continues-secret\n    match: '*'\n";
    let out = yaml(text);
    assert_hidden(
        &out,
        &[
            "line-one-secret",
            "line-two-secret",
            "starts here",
            "and-continues-secret",
        ],
    );
    assert!(out.contains("    client_secret: <redacted>\n"), "{out}");
    assert!(out.contains("    match: '*'\n"), "{out}");
}

#[test]
fn yaml_secret_key_with_nested_values() {
    let text = "outputs:\n  - name: x\n    aws_secret:\n      - first-nested\n      - second-nested\n    credentials_password:\n      primary: p-nested\n    host: h\n";
    let out = yaml(text);
    assert_hidden(&out, &["first-nested", "second-nested", "p-nested"]);
    assert!(out.contains("      - <redacted>\n"), "{out}");
    assert!(out.contains("      primary: <redacted>\n"), "{out}");
    assert!(out.contains("    host: h\n"));
}

#[test]
fn yaml_headers_every_form() {
    let text = r#"outputs:
  - name: http
    header: Authorization Bearer inline-secret
  - name: http
    header:
      - Authorization Basic list-secret
      - X-Tenant team-a
  - name: http
    header: [Authorization Bearer flow-secret, X-B visible]
  - name: otel
    headers:
      Authorization: Bearer map-secret
      X-Scope-OrgID: tenant-1
"#;
    let out = yaml(text);
    assert_hidden(
        &out,
        &["inline-secret", "list-secret", "flow-secret", "map-secret"],
    );
    assert!(out.contains("header: Authorization <redacted>"), "{out}");
    assert!(out.contains("- Authorization <redacted>"), "{out}");
    assert!(out.contains("- X-Tenant team-a"), "{out}");
    assert!(out.contains("X-B visible"), "{out}");
    assert!(out.contains("X-Scope-OrgID: tenant-1"), "{out}");
}

#[test]
fn yaml_flow_map_values() {
    let out = yaml("env: {TOKEN: flow-map-secret, REGION: eu}\n");
    assert_hidden(&out, &["flow-map-secret"]);
    assert!(out.contains("REGION: eu"), "{out}");
}

#[test]
fn pem_private_keys_inline_and_multiline() {
    let text = "tls:\n  key: |\n    -----BEGIN RSA PRIVATE KEY-----\n    MIIEpAIBAAKCAQEAsecretbody\n    morebody==\n    -----END RSA PRIVATE KEY-----\n  crt: |\n    -----BEGIN CERTIFICATE-----\n    MIIpublic\n    -----END CERTIFICATE-----\n  one: \"-----BEGIN PRIVATE KEY-----\\nMIIinline\\n-----END PRIVATE KEY-----\"\n";
    let out = yaml(text);
    assert_hidden(
        &out,
        &["MIIEpAIBAAKCAQEAsecretbody", "morebody", "MIIinline"],
    );
    assert!(out.contains("MIIpublic"), "certificates are public: {out}");
    assert!(out.contains("  one: \"<redacted>\"\n"), "{out}");
    assert!(out.contains(&format!("    {MARKER}\n")), "{out}");
    // Classic files can carry them too.
    let out = redact_pem("x -----BEGIN EC PRIVATE KEY-----\nabc\n-----END EC PRIVATE KEY----- y\n");
    assert_eq!(out, format!("x {MARKER} y\n"));
    // An unterminated block hides everything after it.
    assert_eq!(
        redact_pem("-----BEGIN PRIVATE KEY-----\nabc\ndef\n"),
        MARKER
    );
}

#[test]
fn url_embedded_passwords() {
    let out = classic("[OUTPUT]\n    Proxy http://user:proxy-secret@proxy:3128\n");
    assert_hidden(&out, &["proxy-secret"]);
    assert!(out.contains("http://user:<redacted>@proxy:3128"), "{out}");
    let out = yaml("outputs:\n  - proxy: http://u:yaml-proxy-secret@p:1\n");
    assert_hidden(&out, &["yaml-proxy-secret"]);
}

#[test]
fn operator_added_keys_with_wildcards() {
    let r = Redactor::new(&["customer_id".to_string(), "x-tenant-*".to_string()]);
    let out = r.redact(
        "[OUTPUT]\n    Customer_ID c-42\n    Header X-Tenant-Sig s-1\n    Host h\n",
        false,
    );
    assert_hidden(&out, &["c-42", "s-1"]);
    assert!(out.contains("Host h"));
    let out = r.redact("outputs:\n  - customer_id: c-43\n", true);
    assert_hidden(&out, &["c-43"]);
}

#[test]
fn command_line_properties() {
    let r = Redactor::new(&[]);
    let args: Vec<String> = [
        "fluent-bit",
        "-o",
        "es",
        "-p",
        "http_passwd=cli-secret",
        "-p",
        "host=h",
        "--prop=cloud_auth=u:cli2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = r.redact_args(&args).join(" ");
    assert_hidden(&out, &["cli-secret", "cli2"]);
    assert!(
        out.contains("http_passwd=<redacted>") && out.contains("host=h"),
        "{out}"
    );
}

#[test]
fn line_endings_and_untouched_text_survive() {
    let text = "[SERVICE]\r\n    Flush 1\r\n[OUTPUT]\r\n    Passwd x\r\n";
    let out = classic(text);
    assert_eq!(
        out,
        "[SERVICE]\r\n    Flush 1\r\n[OUTPUT]\r\n    Passwd <redacted>\r\n"
    );
    let plain = "service:\n  flush: 1\npipeline:\n  inputs:\n    - name: dummy\n      tag: a\n";
    assert_eq!(yaml(plain), plain);
}

/// The plugin's own-telemetry fragment: every header value is the server's
/// credential whatever the header's name, and the key file's path is ours.
#[test]
fn own_fragment_hides_every_header_and_the_key_path() {
    let r = Redactor::new(&[]);
    let classic_text = "[OUTPUT]\n    name opentelemetry\n    host otel.example\n    tls.key_file /var/lib/opamp/own_telemetry/own_metrics-key-1.pem\n    tls.ca_file /var/lib/opamp/ca.pem\n    header X-Scope-OrgID tenant-s3cr3t\n    header Authorization Bearer t0k3n\n";
    let out = r
        .for_file("/etc/fb/managed.d/_opamp.own_telemetry.conf")
        .redact(classic_text, false);
    assert_hidden(&out, &["tenant-s3cr3t", "t0k3n", "own_metrics-key-1.pem"]);
    assert!(out.contains("host otel.example"), "{out}");
    assert!(out.contains("tls.ca_file /var/lib/opamp/ca.pem"), "{out}");
    // Elsewhere the usual rules: a harmless header name stays readable.
    let usual = r
        .for_file("/etc/fb/managed.d/out.conf")
        .redact(classic_text, false);
    assert!(
        usual.contains("tenant-s3cr3t") && !usual.contains("t0k3n"),
        "{usual}"
    );

    let yaml_text = "pipeline:\n  outputs:\n    - name: \"opentelemetry\"\n      tls.key_file: \"/s/own_logs-key-2.pem\"\n      header:\n        - \"X-Tenant tenant-s3cr3t\"\n";
    let out = r
        .for_file("managed.d/_opamp.own_telemetry.yaml")
        .redact(yaml_text, true);
    assert_hidden(&out, &["tenant-s3cr3t", "own_logs-key-2.pem"]);
    assert!(out.contains("opentelemetry"), "{out}");
}
