//! End-to-end tests of the WebSocket transport against the scripted OpAMP
//! test server.

mod support;

use std::time::{Duration, Instant, SystemTime};

use fluent_bit_opamp::core::{self, framing, DisconnectKind, HttpOutcome, WireError};
use fluent_bit_opamp::proto::server_error_response::Details;
use fluent_bit_opamp::proto::{ServerErrorResponseType, ServerToAgentFlags};
use fluent_bit_opamp::transport::ws::{WsConfig, WsTransport, CLOSE_WAIT};
use fluent_bit_opamp::transport::{
    tls, Endpoint, Headers, Proxy, ProxyMode, TlsOptions, TransportError,
};
use support::certs::TestPki;
use support::messages::{self, UID};
use support::proxy::TestProxy;
use support::{AutoReply, TestServer, WsBehaviour, WsStep};

const TOKEN: &str = "Bearer s3cret-token";
const WAIT: Duration = Duration::from_secs(5);

fn config(server: &TestServer) -> WsConfig {
    let mut cfg = WsConfig::new(Endpoint::parse(&server.ws_url()).unwrap());
    cfg.headers = Headers::from_pairs([("Authorization", TOKEN), ("X-Tenant", "blue")]).unwrap();
    // The host's proxy variables must not reroute loopback test traffic.
    cfg.proxy = ProxyMode::Disabled;
    cfg.connect_timeout = Duration::from_secs(5);
    cfg.write_timeout = Duration::from_secs(5);
    cfg
}

fn connect(server: &TestServer) -> WsTransport {
    WsTransport::connect(&config(server)).expect("connect")
}

/// One received message's protobuf: the transport hands up the payload as
/// it came, and the core's framing takes the header off.
fn recv_some(ws: &mut WsTransport) -> Vec<u8> {
    let payload = ws
        .recv(WAIT)
        .expect("recv")
        .expect("a message within the wait");
    framing::decode(&payload).expect("OpAMP header").to_vec()
}

/// What the agent sends: the core frames, the transport only moves it.
fn framed(protobuf: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    framing::write_header(&mut out);
    out.extend_from_slice(protobuf);
    out
}

fn connect_err(cfg: &WsConfig) -> TransportError {
    WsTransport::connect(cfg).expect_err("connect should fail")
}

fn assert_no_secret(err: &TransportError) {
    let text = format!("{err} {err:?}");
    assert!(!text.contains("s3cret"), "secret leaked: {text}");
}

#[test]
fn exchange_sends_framed_messages_and_upgrade_carries_headers() {
    let server = TestServer::start();
    let mut ws = connect(&server);
    ws.send(&framed(&messages::status_report(&UID, 1))).unwrap();
    let reply = messages::decode_server(&recv_some(&mut ws));
    assert_eq!(
        reply.instance_uid,
        UID.to_vec(),
        "the server's ack echoes the uid"
    );

    let rec = server.wait_until("one message", WAIT, |r| {
        r.ws.first().is_some_and(|c| !c.payloads.is_empty())
    });
    let conn = &rec.ws[0];
    assert_eq!(conn.path, "/v1/opamp");
    assert_eq!(conn.header("authorization"), Some(TOKEN));
    assert_eq!(conn.header("x-tenant"), Some("blue"));
    assert!(conn
        .header("user-agent")
        .unwrap()
        .starts_with("fluent-bit-opamp/"));
    let expected = messages::status_report(&UID, 1);
    assert_eq!(conn.payloads[0][0], 0x00, "one-byte OpAMP header");
    assert_eq!(&conn.payloads[0][1..], expected.as_slice());
    assert_eq!(conn.messages()[0].sequence_num, 1);
}

#[test]
fn server_pushes_reach_the_agent_byte_for_byte() {
    let server = TestServer::start();
    let pushes = vec![
        messages::remote_config(&UID, "pipeline:\n  inputs: []\n"),
        messages::connection_settings(&UID, 15),
        messages::restart_command(&UID),
        messages::report_full_state(&UID),
        // An all-defaults ServerToAgent encodes to zero bytes: still valid.
        Vec::new(),
    ];
    server.script_ws(WsBehaviour::Accept(
        pushes.iter().cloned().map(WsStep::Send).collect(),
    ));
    let mut ws = connect(&server);
    for expected in &pushes {
        assert_eq!(&recv_some(&mut ws), expected);
    }
    let full_state = messages::decode_server(&pushes[3]);
    assert_eq!(full_state.flags, ServerToAgentFlags::ReportFullState as u64);
    let settings = messages::decode_server(&pushes[1]);
    assert_eq!(
        settings
            .connection_settings
            .unwrap()
            .opamp
            .unwrap()
            .heartbeat_interval_seconds,
        15
    );
}

#[test]
fn unavailable_error_response_is_delivered_for_the_core_to_act_on() {
    let server = TestServer::start();
    server.script_ws(WsBehaviour::Accept(vec![
        WsStep::Expect,
        WsStep::Send(messages::unavailable(&UID, Some(Duration::from_secs(42)))),
    ]));
    let mut ws = connect(&server);
    ws.send(&framed(&messages::status_report(&UID, 1))).unwrap();
    let reply = messages::decode_server(&recv_some(&mut ws));
    let error = reply.error_response.expect("error_response");
    assert_eq!(error.r#type, ServerErrorResponseType::Unavailable as i32);
    match error.details {
        Some(Details::RetryInfo(info)) => {
            assert_eq!(info.retry_after_nanoseconds, 42_000_000_000)
        }
        other => panic!("retry_info missing: {other:?}"),
    }
}

#[test]
fn recv_times_out_with_none() {
    let server = TestServer::start();
    server.set_auto_reply(AutoReply::Silent);
    let mut ws = connect(&server);
    let started = Instant::now();
    assert_eq!(ws.recv(Duration::from_millis(200)).unwrap(), None);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(190),
        "returned early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(2), "returned late: {waited:?}");
    // A zero wait is a poll, not "block forever".
    let started = Instant::now();
    assert_eq!(ws.recv(Duration::ZERO).unwrap(), None);
    assert!(started.elapsed() < Duration::from_secs(1));
    // And the connection still works afterwards; an unbounded wait is fine.
    server.set_auto_reply(AutoReply::Ack);
    ws.send(&framed(&messages::status_report(&UID, 2))).unwrap();
    assert!(ws.recv(Duration::MAX).unwrap().is_some());
}

#[test]
fn pings_are_answered_while_waiting() {
    let server = TestServer::start();
    server.script_ws(WsBehaviour::Accept(vec![
        WsStep::Ping(b"are you there".to_vec()),
        WsStep::ExpectPong,
        WsStep::Send(messages::ack(&UID)),
    ]));
    let mut ws = connect(&server);
    // The ping is handled inside recv, which then delivers the message after it.
    assert_eq!(recv_some(&mut ws), messages::ack(&UID));
    let rec = server.recorded();
    assert_eq!(rec.ws[0].pongs, vec![b"are you there".to_vec()]);
}

#[test]
fn goodbye_is_sent_before_a_normal_close() {
    let server = TestServer::start();
    let mut ws = connect(&server);
    ws.send(&framed(&messages::status_report(&UID, 1))).unwrap();
    recv_some(&mut ws);
    let started = Instant::now();
    ws.close(Some(&framed(&messages::goodbye(&UID, 2))))
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    let rec = server.wait_until("the close frame", WAIT, |r| r.ws[0].close.is_some());
    let conn = &rec.ws[0];
    let msgs = conn.messages();
    assert_eq!(msgs.len(), 2);
    assert!(
        msgs[1].agent_disconnect.is_some(),
        "last message is the goodbye"
    );
    assert_eq!(conn.close, Some(Some(1000)));
    // Closing twice, or using a closed transport, does no harm.
    ws.close(None).unwrap();
    assert!(ws.send(b"x").is_err());
}

#[test]
fn close_does_not_hang_on_a_silent_server() {
    let server = TestServer::start();
    server.script_ws(WsBehaviour::Accept(vec![WsStep::Sleep(
        Duration::from_secs(3),
    )]));
    let mut ws = connect(&server);
    let started = Instant::now();
    ws.close(None).unwrap();
    let took = started.elapsed();
    assert!(took >= CLOSE_WAIT - Duration::from_millis(50), "{took:?}");
    assert!(took < CLOSE_WAIT + Duration::from_millis(1500), "{took:?}");
}

#[test]
fn server_close_is_reported_with_its_code() {
    let server = TestServer::start();
    server.script_ws(WsBehaviour::Accept(vec![WsStep::Close(
        1001,
        "going away".into(),
    )]));
    let mut ws = connect(&server);
    let err = ws.recv(WAIT).unwrap_err();
    assert_eq!(
        err,
        TransportError::Closed {
            code: Some(1001),
            reason: "going away".into()
        }
    );
    // Our reply completes the server's close handshake.
    server.wait_until("the close reply", WAIT, |r| r.ws[0].close.is_some());
}

#[test]
fn oversized_message_closes_with_1009() {
    let server = TestServer::start();
    server.script_ws(WsBehaviour::Accept(vec![
        WsStep::SendOversized(1025),
        WsStep::ExpectClose,
    ]));
    let mut cfg = config(&server);
    cfg.max_message_size = 1024;
    let mut ws = WsTransport::connect(&cfg).unwrap();
    let err = ws.recv(WAIT).unwrap_err();
    assert_eq!(err, TransportError::TooLarge { limit: 1024 });
    let rec = server.wait_until("the 1009 close", WAIT, |r| r.ws[0].close.is_some());
    assert_eq!(rec.ws[0].close, Some(Some(1009)));
}

#[test]
fn message_exactly_at_the_limit_is_accepted() {
    let server = TestServer::start();
    server.script_ws(WsBehaviour::Accept(vec![WsStep::SendOversized(1024)]));
    let mut cfg = config(&server);
    cfg.max_message_size = 1024;
    let mut ws = WsTransport::connect(&cfg).unwrap();
    assert_eq!(recv_some(&mut ws), vec![0u8; 1023]);
}

#[test]
fn oversized_outbound_message_is_refused_unsent() {
    let server = TestServer::start();
    let mut cfg = config(&server);
    cfg.max_send_size = 100;
    let mut ws = WsTransport::connect(&cfg).unwrap();
    let err = ws.send(&[0u8; 101]).unwrap_err();
    assert_eq!(
        err,
        TransportError::RequestTooLarge {
            size: 101,
            limit: 100
        }
    );
    // The connection is still usable.
    ws.send(&framed(&messages::status_report(&UID, 1))).unwrap();
    recv_some(&mut ws);
    assert_eq!(server.recorded().ws[0].payloads.len(), 1);
}

/// The transport hands a bad header up untouched; the core finds it
/// malformed, and the agent closes with 1002.
#[test]
fn unknown_header_byte_is_left_to_the_core() {
    let server = TestServer::start();
    let mut payload = vec![0x01];
    payload.extend(messages::ack(&UID));
    server.script_ws(WsBehaviour::Accept(vec![
        WsStep::SendRaw(payload.clone()),
        WsStep::ExpectClose,
    ]));
    let mut ws = connect(&server);
    let got = ws.recv(WAIT).unwrap().unwrap();
    assert_eq!(got, payload);
    let err = core::decode_ws_message(&got, 1024).unwrap_err();
    assert_eq!(err, WireError::UnknownHeader(1));
    assert!(err.to_string().contains("header 1"), "{err}");
    ws.close_now(true);
    let rec = server.wait_until("the close", WAIT, |r| r.ws[0].close.is_some());
    assert_eq!(rec.ws[0].close, Some(Some(1002)));
}

#[test]
fn empty_binary_message_is_left_to_the_core() {
    let server = TestServer::start();
    server.script_ws(WsBehaviour::Accept(vec![WsStep::SendRaw(Vec::new())]));
    let mut ws = connect(&server);
    let got = ws.recv(WAIT).unwrap().unwrap();
    assert!(got.is_empty());
    assert_eq!(
        core::decode_ws_message(&got, 1024),
        Err(WireError::MissingHeader)
    );
}

/// A connection that broke, as opposed to a refusal by status.
fn is_broken_connection(e: &TransportError) -> bool {
    matches!(
        e,
        TransportError::Io(_)
            | TransportError::Closed { .. }
            | TransportError::Connect { .. }
            | TransportError::Timeout(_)
            | TransportError::Protocol(_)
    )
}

#[test]
fn dropped_connections_are_retryable_errors() {
    let server = TestServer::start();
    server.script_ws(WsBehaviour::Accept(vec![WsStep::Drop]));
    server.script_ws(WsBehaviour::Accept(vec![WsStep::DropMidMessage]));
    server.script_ws(WsBehaviour::DropOnAccept);

    let mut ws = connect(&server);
    let err = ws.recv(WAIT).unwrap_err();
    assert!(is_broken_connection(&err), "{err:?}");
    assert!(ws.recv(WAIT).is_err(), "a failed transport stays failed");

    let mut ws = connect(&server);
    let err = ws.recv(WAIT).unwrap_err();
    assert!(is_broken_connection(&err), "{err:?}");

    let err = connect_err(&config(&server));
    assert!(is_broken_connection(&err), "{err:?}");
}

#[test]
fn upgrade_refused_with_503_carries_retry_after() {
    let server = TestServer::start();
    server.script_ws(WsBehaviour::Refuse {
        status: 503,
        headers: vec![("Retry-After".into(), "30".into())],
    });
    let err = connect_err(&config(&server));
    assert_eq!(
        err,
        TransportError::Status {
            status: 503,
            retry_after: Some("30".into())
        }
    );
    // What it means is the core's to say.
    assert_eq!(
        HttpOutcome::from_status(503),
        HttpOutcome::Disconnected(DisconnectKind::Throttled)
    );
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(
        core::parse_retry_after("30", now),
        Some(Duration::from_secs(30))
    );
}

#[test]
fn upgrade_refused_with_401_is_an_auth_error_without_the_token() {
    let server = TestServer::start();
    server.script_ws(WsBehaviour::Refuse {
        status: 401,
        headers: Vec::new(),
    });
    server.script_ws(WsBehaviour::Refuse {
        status: 404,
        headers: Vec::new(),
    });
    let err = connect_err(&config(&server));
    assert_eq!(
        err,
        TransportError::Status {
            status: 401,
            retry_after: None
        }
    );
    assert_no_secret(&err);
    // The token did reach the server: the refusal is about its value.
    assert_eq!(server.recorded().ws[0].header("authorization"), Some(TOKEN));

    let err = connect_err(&config(&server));
    assert_eq!(
        err,
        TransportError::Status {
            status: 404,
            retry_after: None
        }
    );
    assert!(err.to_string().contains("check the endpoint path"), "{err}");
}

#[test]
fn connection_refused_names_the_target() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut cfg =
        WsConfig::new(Endpoint::parse(&format!("ws://127.0.0.1:{port}/v1/opamp")).unwrap());
    cfg.proxy = ProxyMode::Disabled;
    cfg.headers = Headers::from_pairs([("Authorization", TOKEN)]).unwrap();
    let err = connect_err(&cfg);
    assert!(matches!(err, TransportError::Connect { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert_no_secret(&err);
}

#[test]
fn http_endpoint_is_refused_by_the_websocket_transport() {
    let cfg = WsConfig::new(Endpoint::parse("http://127.0.0.1:1/v1/opamp").unwrap());
    assert!(connect_err(&cfg).is_config());
}

#[test]
fn proxy_connect_tunnel_with_credentials() {
    let server = TestServer::start();
    // "agent:pa ss" in Basic form.
    let proxy = TestProxy::start(Some("Basic YWdlbnQ6cGEgc3M="));
    let mut cfg = config(&server);
    cfg.proxy = ProxyMode::Explicit(
        Proxy::parse(&format!("http://agent:pa%20ss@{}", proxy.addr())).unwrap(),
    );
    let mut ws = WsTransport::connect(&cfg).unwrap();
    ws.send(&framed(&messages::status_report(&UID, 1))).unwrap();
    recv_some(&mut ws);
    let requests = proxy.requests();
    assert_eq!(
        requests[0].request_line,
        format!("CONNECT {} HTTP/1.1", server.ws_addr())
    );
}

#[test]
fn proxy_refusing_credentials_is_reported() {
    let server = TestServer::start();
    let proxy = TestProxy::start(Some("Basic nope"));
    let mut cfg = config(&server);
    cfg.proxy = ProxyMode::Explicit(
        Proxy::parse(&format!("http://agent:s3cret@{}", proxy.addr())).unwrap(),
    );
    let err = connect_err(&cfg);
    assert!(err.is_proxy_auth(), "{err:?}");
    assert_no_secret(&err);
}

fn tls_config(options: TlsOptions) -> std::sync::Arc<rustls::ClientConfig> {
    tls::build(&options).unwrap().config
}

#[test]
fn wss_with_a_private_ca_and_client_certificate() {
    let pki = TestPki::generate("ws-mtls");
    let server = TestServer::start_tls(pki.server_config(true));
    let mut cfg = config(&server);
    cfg.tls = Some(tls_config(TlsOptions {
        ca_file: Some(pki.ca_file.clone()),
        cert_file: Some(pki.client_cert_file.clone()),
        key_file: Some(pki.client_key_file.clone()),
        verify: true,
    }));
    let mut ws = WsTransport::connect(&cfg).unwrap();
    ws.send(&framed(&messages::status_report(&UID, 1))).unwrap();
    recv_some(&mut ws);
    ws.close(Some(&framed(&messages::goodbye(&UID, 2))))
        .unwrap();
    let rec = server.wait_until("the close", WAIT, |r| r.ws[0].close.is_some());
    assert!(rec.ws[0].client_cert);
    assert_eq!(rec.ws[0].messages().len(), 2);
}

#[test]
fn wss_rejects_an_untrusted_server_unless_verify_is_off() {
    let pki = TestPki::generate("ws-verify");
    let server = TestServer::start_tls(pki.server_config(false));
    let mut cfg = config(&server);
    cfg.tls = Some(tls_config(TlsOptions::default()));
    let err = connect_err(&cfg);
    assert!(matches!(err, TransportError::Tls(_)), "{err:?}");
    assert!(err.to_string().contains("certificate"), "{err}");

    let setup = tls::build(&TlsOptions {
        verify: false,
        ..TlsOptions::default()
    })
    .unwrap();
    assert!(setup.insecure);
    cfg.tls = Some(setup.config);
    let mut ws = WsTransport::connect(&cfg).unwrap();
    ws.send(&framed(&messages::status_report(&UID, 1))).unwrap();
    recv_some(&mut ws);
}

#[test]
fn wss_through_a_proxy() {
    let pki = TestPki::generate("ws-proxy");
    let server = TestServer::start_tls(pki.server_config(false));
    let proxy = TestProxy::start(None);
    let mut cfg = config(&server);
    cfg.tls = Some(tls_config(TlsOptions {
        ca_file: Some(pki.ca_file.clone()),
        ..TlsOptions::default()
    }));
    cfg.proxy = ProxyMode::Explicit(Proxy::parse(&proxy.addr().to_string()).unwrap());
    let mut ws = WsTransport::connect(&cfg).unwrap();
    ws.send(&framed(&messages::status_report(&UID, 1))).unwrap();
    recv_some(&mut ws);
    assert!(proxy.requests()[0].request_line.starts_with("CONNECT "));
}

/// `ProxyMode::FromEnv` end to end: the standard variables route the
/// connection through the proxy unless NO_PROXY exempts the host. The
/// variables are set only in a child process, so no other test sees them.
#[test]
fn proxy_environment_variables_are_honoured() {
    const CHILD: &str = "FBO_TRANSPORT_WS_PROXY_ENV_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let server = TestServer::start();
        let mut cfg = config(&server);
        cfg.proxy = ProxyMode::FromEnv;
        let mut ws = WsTransport::connect(&cfg).unwrap();
        ws.send(&framed(&messages::status_report(&UID, 1))).unwrap();
        recv_some(&mut ws);
        return;
    }
    let run_child = |proxy: &TestProxy, no_proxy: Option<&str>| {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child
            .args([
                "--exact",
                "proxy_environment_variables_are_honoured",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .env("http_proxy", format!("http://{}", proxy.addr()))
            .env_remove("HTTP_PROXY")
            .env_remove("no_proxy");
        match no_proxy {
            Some(value) => child.env("NO_PROXY", value),
            None => child.env_remove("NO_PROXY"),
        };
        let output = child.output().unwrap();
        assert!(
            output.status.success(),
            "child test failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let proxy = TestProxy::start(None);
    run_child(&proxy, None);
    assert_eq!(proxy.requests().len(), 1);
    assert!(proxy.requests()[0]
        .request_line
        .starts_with("CONNECT 127.0.0.1:"));

    let proxy = TestProxy::start(None);
    run_child(&proxy, Some("127.0.0.0/8"));
    assert!(proxy.requests().is_empty());
}

#[test]
fn server_gone_then_back_on_the_same_port() {
    let server = TestServer::start();
    let (ws_addr, http_addr) = (server.ws_addr(), server.http_addr());
    let cfg = config(&server);
    let mut ws = WsTransport::connect(&cfg).unwrap();
    drop(server);
    // The dropped server closed our connection...
    assert!(ws.recv(WAIT).is_err());
    // ...and nobody listens any more.
    let err = connect_err(&cfg);
    assert!(matches!(err, TransportError::Connect { .. }), "{err:?}");

    let server = TestServer::start_on(ws_addr, http_addr);
    let mut ws = WsTransport::connect(&cfg).unwrap();
    ws.send(&framed(&messages::status_report(&UID, 1))).unwrap();
    recv_some(&mut ws);
    assert_eq!(server.recorded().ws.len(), 1);
}
