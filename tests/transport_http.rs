//! End-to-end tests of the plain-HTTP transport against the scripted OpAMP
//! test server.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fluent_bit_opamp::core::{self, DisconnectKind, HttpOutcome, Rejection};
use fluent_bit_opamp::proto::ServerErrorResponseType;
use fluent_bit_opamp::transport::http::{HttpConfig, HttpTransport};
use fluent_bit_opamp::transport::{
    tls, Endpoint, Headers, Proxy, ProxyMode, TlsOptions, TransportError,
};
use support::certs::TestPki;
use support::messages::{self, UID, UID_STRING};
use support::proxy::TestProxy;
use support::{HttpReply, TestServer};

const TOKEN: &str = "Bearer s3cret-token";

/// The instance UID as the agent formats it for the header.
fn uid_text() -> String {
    fluent_bit_opamp::core::format_uuid(&UID)
}

fn config(server: &TestServer) -> HttpConfig {
    let mut cfg = HttpConfig::new(Endpoint::parse(&server.http_url()).unwrap());
    cfg.headers = Headers::from_pairs([("Authorization", TOKEN), ("X-Tenant", "blue")]).unwrap();
    // The host's proxy variables must not reroute loopback test traffic.
    cfg.proxy = ProxyMode::Disabled;
    cfg.connect_timeout = Duration::from_secs(5);
    cfg.request_timeout = Duration::from_secs(10);
    cfg
}

fn transport(cfg: &HttpConfig) -> HttpTransport {
    HttpTransport::new(cfg).expect("http transport")
}

fn exchange_err(server: &TestServer, reply: HttpReply) -> TransportError {
    server.script_http(reply);
    transport(&config(server))
        .exchange(&uid_text(), &messages::status_report(&UID, 1))
        .expect_err("exchange should fail")
}

/// What the protocol core (the one status mapper) makes of a refusal.
fn outcome(err: &TransportError) -> HttpOutcome {
    match err {
        TransportError::Status { status, .. } => HttpOutcome::from_status(*status),
        other => panic!("expected a status, got {other:?}"),
    }
}

/// The wait the server asked for, as the core interprets it at `now`.
fn retry_after(err: &TransportError, now: SystemTime) -> Option<Duration> {
    let TransportError::Status {
        retry_after: Some(raw),
        ..
    } = err
    else {
        return None;
    };
    let secs = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    core::parse_retry_after(raw, secs)
}

fn assert_no_secret(err: &TransportError) {
    let text = format!("{err} {err:?}");
    assert!(!text.contains("s3cret"), "secret leaked: {text}");
}

#[test]
fn every_post_carries_the_required_headers_and_a_gzip_body() {
    let server = TestServer::start();
    let mut http = transport(&config(&server));
    let bodies: Vec<Vec<u8>> = (1..=3).map(big_status).collect();
    for body in &bodies {
        let reply = http.exchange(&uid_text(), body).unwrap();
        assert_eq!(messages::decode_server(&reply).instance_uid, UID.to_vec());
    }
    let rec = server.recorded();
    assert_eq!(rec.http.len(), 3);
    for (i, request) in rec.http.iter().enumerate() {
        assert_eq!(request.method, "POST");
        assert_eq!(request.target, "/v1/opamp");
        assert_eq!(
            request.header("content-type"),
            Some("application/x-protobuf")
        );
        assert_eq!(request.header("opamp-instance-uid"), Some(UID_STRING));
        assert_eq!(request.header("authorization"), Some(TOKEN));
        assert_eq!(request.header("x-tenant"), Some("blue"));
        assert_eq!(request.header("content-encoding"), Some("gzip"));
        assert_eq!(request.header("accept-encoding"), Some("gzip"));
        assert_eq!(
            &request.raw_body[..2],
            &[0x1f, 0x8b],
            "gzip magic on the wire"
        );
        assert_eq!(request.body, bodies[i]);
        assert_eq!(request.message().sequence_num, i as u64 + 1);
    }
    // Polls reuse one kept-alive connection.
    assert_eq!(rec.http_connections, 1);
}

/// A status report well over the compression threshold.
fn big_status(seq: u64) -> Vec<u8> {
    use fluent_bit_opamp::proto::{any_value, AgentDescription, AgentToServer, AnyValue, KeyValue};
    use prost::Message as _;
    AgentToServer {
        instance_uid: UID.to_vec(),
        sequence_num: seq,
        agent_description: Some(AgentDescription {
            identifying_attributes: vec![KeyValue {
                key: "service.name".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue("x".repeat(600))),
                }),
            }],
            non_identifying_attributes: vec![],
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn heartbeat_sized_bodies_go_uncompressed() {
    let server = TestServer::start();
    let mut http = transport(&config(&server));
    let body = messages::status_report(&UID, 1);
    assert!(body.len() < fluent_bit_opamp::transport::http::GZIP_MIN_BODY);
    http.exchange(&uid_text(), &body).unwrap();
    let rec = server.recorded();
    assert_eq!(rec.http[0].header("content-encoding"), None);
    assert_eq!(rec.http[0].raw_body, body);
}

#[test]
fn compression_can_be_turned_off() {
    let server = TestServer::start();
    let mut cfg = config(&server);
    cfg.compress = false;
    let body = messages::status_report(&UID, 1);
    transport(&cfg).exchange(&uid_text(), &body).unwrap();
    let request = &server.recorded().http[0];
    assert_eq!(request.header("content-encoding"), None);
    assert_eq!(request.raw_body, body);
}

#[test]
fn gzip_responses_are_decompressed() {
    let server = TestServer::start();
    let pushed = messages::remote_config(&UID, &"key: value\n".repeat(200));
    server.script_http(HttpReply::Ok {
        body: pushed.clone(),
        gzip: true,
    });
    let reply = transport(&config(&server))
        .exchange(&uid_text(), &messages::status_report(&UID, 1))
        .unwrap();
    assert_eq!(reply, pushed);
    let remote = messages::decode_server(&reply).remote_config.unwrap();
    assert_eq!(remote.config_hash, vec![0xab; 32]);
}

#[test]
fn gzip_bomb_is_stopped_at_the_decompressed_limit() {
    let server = TestServer::start();
    server.script_http(HttpReply::GzipBomb {
        inflated: 8 * 1024 * 1024,
    });
    let mut cfg = config(&server);
    cfg.max_message_size = 1024 * 1024;
    let err = transport(&cfg)
        .exchange(&uid_text(), &messages::status_report(&UID, 1))
        .unwrap_err();
    assert_eq!(err, TransportError::TooLarge { limit: 1024 * 1024 });
}

#[test]
fn plain_oversized_body_is_refused_and_the_limit_itself_is_fine() {
    let server = TestServer::start();
    server.script_http(HttpReply::Ok {
        body: vec![7u8; 1025],
        gzip: false,
    });
    server.script_http(HttpReply::Ok {
        body: vec![7u8; 1024],
        gzip: true,
    });
    let mut cfg = config(&server);
    cfg.max_message_size = 1024;
    let mut http = transport(&cfg);
    let body = messages::status_report(&UID, 1);
    assert_eq!(
        http.exchange(&uid_text(), &body).unwrap_err(),
        TransportError::TooLarge { limit: 1024 }
    );
    assert_eq!(http.exchange(&uid_text(), &body).unwrap(), vec![7u8; 1024]);
}

/// Bodies far larger than the connection buffers stream through them.
#[test]
fn large_bodies_both_ways() {
    let server = TestServer::start();
    let pushed = messages::remote_config(&UID, &"k: v\n".repeat(100_000));
    server.script_http(HttpReply::Ok {
        body: pushed.clone(),
        gzip: false,
    });
    let mut cfg = config(&server);
    cfg.compress = false;
    let sent: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
    let reply = transport(&cfg).exchange(&uid_text(), &sent).unwrap();
    assert_eq!(reply, pushed);
    assert_eq!(server.recorded().http[0].raw_body, sent);
}

#[test]
fn oversized_request_is_not_sent() {
    let server = TestServer::start();
    let mut cfg = config(&server);
    cfg.max_send_size = 10;
    let err = transport(&cfg)
        .exchange(&uid_text(), &[0u8; 11])
        .unwrap_err();
    assert_eq!(
        err,
        TransportError::RequestTooLarge {
            size: 11,
            limit: 10
        }
    );
    assert!(server.recorded().http.is_empty());
}

#[test]
fn unavailable_error_response_body_is_delivered() {
    let server = TestServer::start();
    server.script_http(HttpReply::Ok {
        body: messages::unavailable(&UID, None),
        gzip: false,
    });
    let reply = transport(&config(&server))
        .exchange(&uid_text(), &messages::status_report(&UID, 1))
        .unwrap();
    let error = messages::decode_server(&reply).error_response.unwrap();
    assert_eq!(error.r#type, ServerErrorResponseType::Unavailable as i32);
    assert!(error.details.is_none());
}

#[test]
fn status_503_with_retry_after_seconds() {
    let server = TestServer::start();
    let err = exchange_err(&server, HttpReply::status_with(503, "Retry-After", "120"));
    assert_eq!(
        err,
        TransportError::Status {
            status: 503,
            retry_after: Some("120".into())
        }
    );
    assert_eq!(
        outcome(&err),
        HttpOutcome::Disconnected(DisconnectKind::Throttled)
    );
    assert_eq!(
        retry_after(&err, SystemTime::now()),
        Some(Duration::from_secs(120))
    );
}

#[test]
fn status_429_with_retry_after_date() {
    let server = TestServer::start();
    let err = exchange_err(
        &server,
        HttpReply::status_with(429, "Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"),
    );
    assert_eq!(
        outcome(&err),
        HttpOutcome::Disconnected(DisconnectKind::Throttled)
    );
    // 2015-10-21T07:28:00Z is 1445412480; ask one minute before it.
    let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480 - 60);
    assert_eq!(retry_after(&err, now), Some(Duration::from_secs(60)));
}

#[test]
fn server_errors_without_retry_after_are_retryable() {
    let server = TestServer::start();
    let err = exchange_err(&server, HttpReply::status(500));
    assert_eq!(
        err,
        TransportError::Status {
            status: 500,
            retry_after: None
        }
    );
    assert_eq!(
        outcome(&err),
        HttpOutcome::Disconnected(DisconnectKind::Network)
    );
    assert_eq!(retry_after(&err, SystemTime::now()), None);
}

#[test]
fn auth_failures_are_classified_and_never_show_the_token() {
    let server = TestServer::start();
    for status in [401, 403] {
        let err = exchange_err(&server, HttpReply::status(status));
        assert_eq!(
            err,
            TransportError::Status {
                status,
                retry_after: None
            }
        );
        assert_eq!(
            outcome(&err),
            HttpOutcome::Disconnected(DisconnectKind::AuthFailed)
        );
        assert_no_secret(&err);
    }
}

#[test]
fn other_client_errors_are_not_retryable() {
    let server = TestServer::start();
    for (status, why) in [(413, Rejection::TooLarge), (400, Rejection::BadRequest)] {
        let err = exchange_err(&server, HttpReply::status(status));
        assert_eq!(
            err,
            TransportError::Status {
                status,
                retry_after: None
            }
        );
        assert_eq!(outcome(&err), HttpOutcome::Rejected(why));
    }
}

#[test]
fn redirects_are_not_followed() {
    let server = TestServer::start();
    let err = exchange_err(
        &server,
        HttpReply::status_with(302, "Location", "http://127.0.0.1:1/elsewhere"),
    );
    assert_eq!(
        err,
        TransportError::Status {
            status: 302,
            retry_after: None
        }
    );
    assert!(err.to_string().contains("new location"), "{err}");
    assert_eq!(server.recorded().http.len(), 1);
}

/// After a refusal the kept-alive connection serves the next exchange.
#[test]
fn a_refusal_keeps_the_connection() {
    let server = TestServer::start();
    server.script_http(HttpReply::status_with(503, "Retry-After", "1"));
    let mut http = transport(&config(&server));
    let body = messages::status_report(&UID, 1);
    assert!(matches!(
        http.exchange(&uid_text(), &body),
        Err(TransportError::Status { status: 503, .. })
    ));
    http.exchange(&uid_text(), &body).unwrap();
    let rec = server.recorded();
    assert_eq!((rec.http.len(), rec.http_connections), (2, 1));
}

#[test]
fn broken_responses_are_connection_failures() {
    let server = TestServer::start();
    for reply in [
        HttpReply::Drop,
        HttpReply::DropMidBody {
            body: messages::ack(&UID),
        },
        HttpReply::Raw(b"this is not HTTP\r\n\r\n".to_vec()),
    ] {
        let err = exchange_err(&server, reply.clone());
        assert!(
            matches!(
                err,
                TransportError::Io(_) | TransportError::Protocol(_) | TransportError::Timeout(_)
            ),
            "{reply:?} gave {err:?}"
        );
        assert_no_secret(&err);
    }
}

#[test]
fn connection_refused() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut cfg = HttpConfig::new(
        Endpoint::parse(&format!("http://127.0.0.1:{port}/v1/opamp?token=s3cret")).unwrap(),
    );
    cfg.proxy = ProxyMode::Disabled;
    let err = transport(&cfg).exchange(&uid_text(), b"").unwrap_err();
    assert!(matches!(err, TransportError::Connect { .. }), "{err:?}");
    // The query string (which may hold a token) is not in the message.
    assert_no_secret(&err);
}

#[test]
fn plain_http_through_a_proxy() {
    let server = TestServer::start();
    let proxy = TestProxy::start(None);
    let mut cfg = config(&server);
    cfg.proxy = ProxyMode::Explicit(Proxy::parse(&proxy.addr().to_string()).unwrap());
    let reply = transport(&cfg)
        .exchange(&uid_text(), &messages::status_report(&UID, 1))
        .unwrap();
    assert_eq!(messages::decode_server(&reply).instance_uid, UID.to_vec());
    let line = &proxy.requests()[0].request_line;
    assert!(
        line == &format!("POST http://{}/v1/opamp HTTP/1.1", server.http_addr())
            || line == &format!("CONNECT {} HTTP/1.1", server.http_addr()),
        "{line}"
    );
    assert_eq!(
        server.recorded().http[0].header("opamp-instance-uid"),
        Some(UID_STRING)
    );
}

/// `user:s3cret` in base64.
const PROXY_AUTH: &str = "Basic dXNlcjpzM2NyZXQ=";

/// A plain-HTTP endpoint is reached by handing the request to the proxy
/// (absolute-form, no CONNECT), with the proxy URL's credentials on it.
#[test]
fn plain_http_through_a_proxy_with_credentials() {
    let server = TestServer::start();
    let proxy = TestProxy::start(Some(PROXY_AUTH));
    let mut cfg = config(&server);
    let url = format!("http://user:s3cret@{}", proxy.addr());
    cfg.proxy = ProxyMode::Explicit(Proxy::parse(&url).unwrap());
    let mut http = transport(&cfg);
    assert!(!format!("{http:?} {cfg:?}").contains("s3cret"));
    for seq in 1..=2 {
        http.exchange(&uid_text(), &messages::status_report(&UID, seq))
            .unwrap();
    }
    let requests = proxy.requests();
    assert_eq!(
        requests[0].request_line,
        format!("POST http://{}/v1/opamp HTTP/1.1", server.http_addr())
    );
    assert_eq!(requests[0].proxy_authorization.as_deref(), Some(PROXY_AUTH));
    let rec = server.recorded();
    assert_eq!(rec.http.len(), 2);
    // The second POST went over the same connection, head rewritten again.
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(
        rec.http[1].target.starts_with("http://"),
        "{}",
        rec.http[1].target
    );
    assert_eq!(rec.http[1].header("proxy-authorization"), Some(PROXY_AUTH));
}

#[test]
fn wrong_proxy_credentials_are_a_proxy_auth_error() {
    let server = TestServer::start();
    let proxy = TestProxy::start(Some(PROXY_AUTH));
    let mut cfg = config(&server);
    let url = format!("http://user:wr0ng@{}", proxy.addr());
    cfg.proxy = ProxyMode::Explicit(Proxy::parse(&url).unwrap());
    let err = transport(&cfg)
        .exchange(&uid_text(), &messages::status_report(&UID, 1))
        .unwrap_err();
    assert!(matches!(err, TransportError::ProxyAuth { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("wr0ng"), "{err}");
    assert!(server.recorded().http.is_empty());
}

fn tls_config(options: TlsOptions) -> std::sync::Arc<rustls::ClientConfig> {
    tls::build(&options).unwrap().config
}

#[test]
fn https_with_a_private_ca_and_client_certificate() {
    let pki = TestPki::generate("http-mtls");
    let server = TestServer::start_tls(pki.server_config(true));
    let mut cfg = config(&server);
    cfg.tls = Some(tls_config(TlsOptions {
        ca_file: Some(pki.ca_file.clone()),
        cert_file: Some(pki.client_cert_file.clone()),
        key_file: Some(pki.client_key_file.clone()),
        verify: true,
    }));
    let mut http = transport(&cfg);
    for seq in 1..=2 {
        let reply = http
            .exchange(&uid_text(), &messages::status_report(&UID, seq))
            .unwrap();
        assert_eq!(messages::decode_server(&reply).instance_uid, UID.to_vec());
    }
    let rec = server.recorded();
    assert!(rec.http[0].client_cert);
    // The TLS connection is kept alive too.
    assert_eq!(rec.http_connections, 1);
}

#[test]
fn https_rejects_an_untrusted_server_unless_verify_is_off() {
    let pki = TestPki::generate("http-verify");
    let server = TestServer::start_tls(pki.server_config(false));
    let mut cfg = config(&server);
    cfg.tls = Some(tls_config(TlsOptions::default()));
    let err = transport(&cfg)
        .exchange(&uid_text(), &messages::status_report(&UID, 1))
        .unwrap_err();
    assert!(matches!(err, TransportError::Tls(_)), "{err:?}");

    cfg.tls = Some(tls_config(TlsOptions {
        verify: false,
        ..TlsOptions::default()
    }));
    transport(&cfg)
        .exchange(&uid_text(), &messages::status_report(&UID, 1))
        .unwrap();
}

#[test]
fn https_through_a_proxy_uses_connect() {
    let pki = TestPki::generate("http-proxy");
    let server = TestServer::start_tls(pki.server_config(false));
    let proxy = TestProxy::start(Some(PROXY_AUTH));
    let mut cfg = config(&server);
    cfg.tls = Some(tls_config(TlsOptions {
        ca_file: Some(pki.ca_file.clone()),
        ..TlsOptions::default()
    }));
    let url = format!("http://user:s3cret@{}", proxy.addr());
    cfg.proxy = ProxyMode::Explicit(Proxy::parse(&url).unwrap());
    transport(&cfg)
        .exchange(&uid_text(), &messages::status_report(&UID, 1))
        .unwrap();
    let request = &proxy.requests()[0];
    assert_eq!(
        request.request_line,
        format!("CONNECT {} HTTP/1.1", server.http_addr())
    );
    assert_eq!(request.proxy_authorization.as_deref(), Some(PROXY_AUTH));
    // Inside the tunnel the server sees an ordinary request, no credentials.
    let rec = server.recorded();
    assert_eq!(rec.http[0].target, "/v1/opamp");
    assert_eq!(rec.http[0].header("proxy-authorization"), None);
}

/// The proxy decision is ours alone: with the standard variables pointing
/// at a proxy, `ProxyMode::Disabled` and a NO_PROXY match must go direct,
/// and `FromEnv` must use it. The variables are set only in a child
/// process, so no other test sees them.
#[test]
fn proxy_environment_is_applied_by_our_rules_only() {
    const CHILD: &str = "FBO_TRANSPORT_PROXY_ENV_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let server = TestServer::start();
        let mut direct = config(&server);
        direct.proxy = ProxyMode::Disabled;
        transport(&direct).exchange(&uid_text(), b"").unwrap();
        let mut from_env = config(&server);
        from_env.proxy = ProxyMode::FromEnv;
        transport(&from_env).exchange(&uid_text(), b"").unwrap();
        return;
    }
    let proxy = TestProxy::start(None);
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "proxy_environment_is_applied_by_our_rules_only",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("HTTP_PROXY", format!("http://{}", proxy.addr()))
        .env("http_proxy", format!("http://{}", proxy.addr()))
        .env("ALL_PROXY", format!("http://{}", proxy.addr()))
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    assert_child_passed(&child);
    let requests = proxy.requests();
    assert_eq!(
        requests.len(),
        1,
        "only the FromEnv exchange is proxied: {requests:?}"
    );

    // NO_PROXY exempts the loopback server.
    let proxy = TestProxy::start(None);
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "proxy_environment_is_applied_by_our_rules_only",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("HTTP_PROXY", format!("http://{}", proxy.addr()))
        .env("NO_PROXY", "localhost,127.0.0.1")
        .output()
        .unwrap();
    assert_child_passed(&child);
    assert!(proxy.requests().is_empty(), "{:?}", proxy.requests());
}

/// The child's own test summary stays out of this run's output unless it failed.
fn assert_child_passed(child: &std::process::Output) {
    assert!(
        child.status.success(),
        "child test failed:\n{}\n{}",
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
}
