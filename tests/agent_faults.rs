//! Fault tests of the whole client (runtime + core + transports) against the
//! test server in tests/support. Each shows the client reconnects, sends its
//! full state again, and never loses a status change made while it was cut
//! off.

mod support;

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use fluent_bit_opamp::proto::AgentToServer;
use support::agent::Agent;
use support::{messages, HttpReply, TestServer, WsBehaviour, WsStep};

fn is_full(m: &AgentToServer) -> bool {
    m.agent_description.is_some() && m.health.is_some()
}

fn ws_messages(server: &TestServer) -> Vec<Vec<AgentToServer>> {
    server.recorded().ws.iter().map(|c| c.messages()).collect()
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn server_down_at_start_then_up() {
    let ws = free_addr();
    let mut agent = Agent::start("down", &format!("ws://{ws}/v1/opamp"), &[]);
    std::thread::sleep(Duration::from_millis(1500));
    let server = TestServer::start_on(ws, free_addr());
    let rec = server.wait_until("first message", WAIT, |r| {
        r.ws.iter().any(|c| !c.payloads.is_empty())
    });
    let first = &rec
        .ws
        .iter()
        .find(|c| !c.payloads.is_empty())
        .unwrap()
        .messages()[0];
    assert!(
        is_full(first),
        "first message after connect is the full state"
    );
    assert!(agent.stop() < Duration::from_secs(1));
}

#[test]
fn server_restart_resends_full_state_and_the_change_made_while_down() {
    let ws = free_addr();
    let server = TestServer::start_on(ws, free_addr());
    let agent = Agent::start("restart", &format!("ws://{ws}/v1/opamp"), &[]);
    server.wait_until("first message", WAIT, |r| {
        r.ws.iter().any(|c| !c.payloads.is_empty())
    });
    let http = server.http_addr();
    drop(server);

    agent.break_health("while the server was away");
    std::thread::sleep(Duration::from_millis(300));
    let server = TestServer::start_on(ws, http);
    let rec = server.wait_until("reconnect with the new health", WAIT, |r| {
        r.ws.iter().any(|c| {
            c.messages().iter().any(|m| {
                m.health
                    .as_ref()
                    .is_some_and(|h| h.last_error.contains("while the server was away"))
            })
        })
    });
    let first = &rec.ws[0].messages()[0];
    assert!(is_full(first), "full state after the restart: {first:?}");
}

#[test]
fn dropped_connection_mid_message() {
    let server = TestServer::start();
    server.script_ws(WsBehaviour::Accept(vec![
        WsStep::Expect,
        WsStep::DropMidMessage,
    ]));
    let _agent = Agent::start("midmsg", &server.ws_url(), &[]);
    server.wait_until("second connection", WAIT, |r| {
        r.ws.len() >= 2 && !r.ws[1].payloads.is_empty()
    });
    let conns = ws_messages(&server);
    assert!(
        is_full(&conns[1][0]),
        "full state again on the new connection"
    );
    assert!(
        conns[1][0].sequence_num > conns[0][0].sequence_num,
        "sequence numbers keep growing"
    );
}

#[test]
fn malformed_frame_closes_and_reconnects() {
    let server = TestServer::start();
    // Header byte 1 is reserved: the message is malformed.
    server.script_ws(WsBehaviour::Accept(vec![
        WsStep::Expect,
        WsStep::SendRaw(vec![1, 0x0a, 0x00]),
    ]));
    let _agent = Agent::start("malformed", &server.ws_url(), &[]);
    server.wait_until("reconnect", WAIT, |r| {
        r.ws.len() >= 2 && !r.ws[1].payloads.is_empty()
    });
    assert!(is_full(&ws_messages(&server)[1][0]));
}

#[test]
fn oversized_message_closes_with_1009_and_reconnects() {
    let server = TestServer::start();
    server.script_ws(WsBehaviour::Accept(vec![
        WsStep::Expect,
        WsStep::SendOversized(80 * 1024),
        WsStep::ExpectClose,
    ]));
    let _agent = Agent::start(
        "oversized",
        &server.ws_url(),
        &[("max_message_size", "64K")],
    );
    let rec = server.wait_until("reconnect", WAIT, |r| {
        r.ws.len() >= 2 && !r.ws[1].payloads.is_empty()
    });
    assert_eq!(
        rec.ws[0].close,
        Some(Some(1009)),
        "close code for a too-big message"
    );
    assert!(is_full(&ws_messages(&server)[1][0]));
}

#[test]
fn unavailable_with_retry_info_waits_then_reconnects_with_full_state() {
    let server = TestServer::start();
    server.script_ws(WsBehaviour::Accept(vec![
        WsStep::Expect,
        WsStep::Send(messages::unavailable(&[], Some(Duration::from_secs(2)))),
    ]));
    let _agent = Agent::start("unavailable", &server.ws_url(), &[]);
    let t0 = Instant::now();
    server.wait_until("first message", WAIT, |r| {
        !r.ws.is_empty() && !r.ws[0].payloads.is_empty()
    });
    let rec = server.wait_until("reconnect", WAIT, |r| {
        r.ws.len() >= 2 && !r.ws[1].payloads.is_empty()
    });
    assert!(
        t0.elapsed() >= Duration::from_secs(2),
        "retry_info honoured: {:?}",
        t0.elapsed()
    );
    assert!(is_full(&rec.ws[1].messages()[0]));
}

#[test]
fn report_full_state_flag_gets_full_state() {
    let server = TestServer::start();
    server.script_ws(WsBehaviour::Accept(vec![
        WsStep::Expect,
        WsStep::Sleep(Duration::from_millis(200)),
        WsStep::Send(messages::report_full_state(&[])),
        WsStep::Expect,
    ]));
    let _agent = Agent::start("fullstate", &server.ws_url(), &[]);
    let rec = server.wait_until("second message", WAIT, |r| {
        r.ws.first().is_some_and(|c| c.payloads.len() >= 2)
    });
    let msgs = rec.ws[0].messages();
    assert!(
        is_full(&msgs[1]),
        "asked for, so sent again though unchanged"
    );
}

#[test]
fn http_503_with_retry_after_backs_off_and_sends_no_heartbeats() {
    let server = TestServer::start();
    server.script_http(HttpReply::status_with(503, "Retry-After", "2"));
    let _agent = Agent::start("http503", &server.http_url(), &[]);
    server.wait_until("first request", WAIT, |r| !r.http.is_empty());
    // poll_interval is 1 s, but the throttle floor is 30 s: nothing may come
    // in the next 3 s.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        server.recorded().http.len(),
        1,
        "no polling while throttled"
    );
}

#[test]
fn goodbye_over_websocket_then_close_frame() {
    let server = TestServer::start();
    let mut agent = Agent::start("goodbye", &server.ws_url(), &[]);
    server.wait_until("first message", WAIT, |r| {
        r.ws.first().is_some_and(|c| !c.payloads.is_empty())
    });
    let took = agent.stop();
    let rec = server.wait_until("close", WAIT, |r| r.ws[0].close.is_some());
    let last = rec.ws[0].messages().pop().unwrap();
    assert!(
        last.agent_disconnect.is_some(),
        "agent_disconnect before Close"
    );
    println!("goodbye took {} ms", took.as_millis());
}

#[test]
fn goodbye_over_http_is_the_last_post() {
    let server = TestServer::start();
    let mut agent = Agent::start("goodbye-http", &server.http_url(), &[]);
    server.wait_until("first request", WAIT, |r| !r.http.is_empty());
    agent.stop();
    let last = server.recorded().http.last().unwrap().message();
    assert!(last.agent_disconnect.is_some());
}

#[test]
fn auth_header_on_every_upgrade_and_post() {
    let server = TestServer::start();
    let _a = Agent::start(
        "auth-ws",
        &server.ws_url(),
        &[("header", "Authorization Bearer t0k")],
    );
    let _b = Agent::start(
        "auth-http",
        &server.http_url(),
        &[("header", "Authorization Bearer t0k")],
    );
    let rec = server.wait_until("both", WAIT, |r| !r.ws.is_empty() && r.http.len() >= 2);
    assert_eq!(rec.ws[0].header("authorization"), Some("Bearer t0k"));
    assert!(rec
        .http
        .iter()
        .all(|q| q.header("authorization") == Some("Bearer t0k")));
}
