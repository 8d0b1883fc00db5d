//! The WebSocket half of the test server.

use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tungstenite::{Message, WebSocket};

use super::server_stream::{would_block, ServerStream};
use super::{Shared, WsConnection, MAX_CONNECTION_LIFE, POLL};

/// How long a scripted wait (for a message, a pong, a close) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// What the server does with one WebSocket connection.
#[derive(Clone, Debug)]
pub enum WsBehaviour {
    /// Upgrade, run the steps, then serve: auto-reply to each message until
    /// the agent closes.
    Accept(Vec<WsStep>),
    /// Answer the upgrade request with this HTTP status and headers.
    Refuse {
        status: u16,
        headers: Vec<(String, String)>,
    },
    /// Close the TCP connection as soon as it is accepted.
    DropOnAccept,
}

#[derive(Clone, Debug)]
pub enum WsStep {
    /// Wait for one message from the agent.
    Expect,
    /// Send this ServerToAgent (protobuf bytes) with the 0x00 OpAMP header.
    Send(Vec<u8>),
    /// Send a binary message exactly as given (no OpAMP header added).
    SendRaw(Vec<u8>),
    SendText(String),
    /// Send a well-framed binary message of exactly this many bytes.
    SendOversized(usize),
    Ping(Vec<u8>),
    /// Wait until the agent answers a ping.
    ExpectPong,
    /// Start the close handshake with this code and reason.
    Close(u16, String),
    /// Wait until the agent sends a Close frame.
    ExpectClose,
    /// Drop the TCP connection without a Close frame.
    Drop,
    /// Announce a 1000-byte binary frame, send 10 bytes of it, drop.
    DropMidMessage,
    /// Do nothing (and read nothing) for this long.
    Sleep(Duration),
}

enum Event {
    Binary(Vec<u8>),
    Idle,
    Gone,
}

pub(crate) fn handle(shared: Arc<Shared>, tcp: TcpStream) {
    let behaviour = shared
        .state()
        .ws_script
        .pop_front()
        .unwrap_or(WsBehaviour::Accept(Vec::new()));
    let (steps, refusal) = match behaviour {
        WsBehaviour::DropOnAccept => return,
        WsBehaviour::Accept(steps) => (steps, None),
        WsBehaviour::Refuse { status, headers } => (Vec::new(), Some((status, headers))),
    };
    let Ok(stream) = ServerStream::accept(tcp, shared.tls.as_ref()) else {
        return;
    };
    stream.set_read_timeout(Duration::from_secs(5));
    let index = {
        let mut state = shared.state();
        state.rec.ws.push(WsConnection {
            client_cert: stream.client_cert(),
            ..WsConnection::default()
        });
        state.rec.ws.len() - 1
    };
    if let Some(mut ws) = accept(&shared, index, stream, refusal) {
        ws.get_ref().set_read_timeout(POLL);
        let finished = run_steps(&shared, index, &mut ws, steps);
        if !finished {
            serve(&shared, index, &mut ws);
        }
        ws.get_ref().shutdown();
    }
    record(&shared, index, |c| c.ended = true);
}

// The callback's Result type is tungstenite's, not ours to shrink.
#[allow(clippy::result_large_err)]
fn accept(
    shared: &Arc<Shared>,
    index: usize,
    stream: ServerStream,
    refusal: Option<(u16, Vec<(String, String)>)>,
) -> Option<WebSocket<ServerStream>> {
    let callback = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let path = request.uri().to_string();
        let admitted = shared.state().admits(&headers);
        record(shared, index, |c| {
            c.headers = headers;
            c.path = path;
        });
        let refusal = if admitted {
            refusal.clone()
        } else {
            Some((401, Vec::new()))
        };
        match refusal {
            None => Ok(response),
            Some((status, extra)) => {
                let mut builder = tungstenite::http::Response::builder().status(status);
                for (name, value) in extra {
                    builder = builder.header(name, value);
                }
                Err(builder.body(Some("refused by test script".into())).unwrap())
            }
        }
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    tungstenite::accept_hdr_with_config(stream, callback, Some(config)).ok()
}

/// Returns true when the script ended the connection.
fn run_steps(
    shared: &Arc<Shared>,
    index: usize,
    ws: &mut WebSocket<ServerStream>,
    steps: Vec<WsStep>,
) -> bool {
    for step in steps {
        if shared.stopped() {
            return true;
        }
        match step {
            WsStep::Expect => {
                let deadline = Instant::now() + STEP_TIMEOUT;
                loop {
                    match pump(shared, index, ws) {
                        Event::Binary(_) => break,
                        Event::Gone => return true,
                        Event::Idle if Instant::now() > deadline || shared.stopped() => {
                            return true
                        }
                        Event::Idle => {}
                    }
                }
            }
            WsStep::Send(protobuf) => {
                let mut payload = vec![0u8];
                payload.extend_from_slice(&protobuf);
                if ws.send(Message::Binary(payload.into())).is_err() {
                    return true;
                }
            }
            WsStep::SendRaw(payload) => {
                if ws.send(Message::Binary(payload.into())).is_err() {
                    return true;
                }
            }
            WsStep::SendText(text) => {
                if ws.send(Message::Text(text.into())).is_err() {
                    return true;
                }
            }
            WsStep::SendOversized(len) => {
                if ws.send(Message::Binary(vec![0u8; len].into())).is_err() {
                    return true;
                }
            }
            WsStep::Ping(data) => {
                if ws.send(Message::Ping(data.into())).is_err() {
                    return true;
                }
            }
            WsStep::ExpectPong => {
                if !pump_until(shared, index, ws, |c| !c.pongs.is_empty()) {
                    return true;
                }
            }
            WsStep::Close(code, reason) => {
                let _ = ws.close(Some(CloseFrame {
                    code: code.into(),
                    reason: reason.into(),
                }));
                pump_until(shared, index, ws, |c| c.close.is_some());
                return true;
            }
            WsStep::ExpectClose => {
                pump_until(shared, index, ws, |c| c.close.is_some());
                return true;
            }
            WsStep::Drop => return true,
            WsStep::DropMidMessage => {
                let stream = ws.get_mut();
                let mut partial = vec![0x82, 126, 0x03, 0xe8];
                partial.extend_from_slice(&[0u8; 10]);
                let _ = stream.write_all(&partial);
                let _ = stream.flush();
                return true;
            }
            WsStep::Sleep(duration) => {
                let until = Instant::now() + duration;
                while Instant::now() < until && !shared.stopped() {
                    thread::sleep(POLL);
                }
            }
        }
    }
    false
}

/// Auto-reply to agent messages until the agent leaves.
fn serve(shared: &Arc<Shared>, index: usize, ws: &mut WebSocket<ServerStream>) {
    let deadline = Instant::now() + MAX_CONNECTION_LIFE;
    while !shared.stopped() && Instant::now() < deadline {
        let pushed: Vec<Vec<u8>> = shared.state().ws_push.drain(..).collect();
        for msg in pushed {
            let mut framed = vec![0u8];
            framed.extend_from_slice(&msg);
            if ws.send(Message::Binary(framed.into())).is_err() {
                return;
            }
        }
        match pump(shared, index, ws) {
            Event::Binary(payload) => {
                if payload.first() != Some(&0) {
                    continue;
                }
                if let Some(reply) = shared.auto_reply(&payload[1..]) {
                    let mut framed = vec![0u8];
                    framed.extend_from_slice(&reply);
                    if ws.send(Message::Binary(framed.into())).is_err() {
                        return;
                    }
                }
            }
            Event::Idle => {}
            Event::Gone => return,
        }
    }
}

/// Read until `done` holds for the connection record; false on timeout or
/// when the connection went away first.
fn pump_until(
    shared: &Arc<Shared>,
    index: usize,
    ws: &mut WebSocket<ServerStream>,
    done: impl Fn(&WsConnection) -> bool,
) -> bool {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        if done(&shared.state().rec.ws[index]) {
            return true;
        }
        if Instant::now() > deadline || shared.stopped() {
            return false;
        }
        if let Event::Gone = pump(shared, index, ws) {
            return done(&shared.state().rec.ws[index]);
        }
    }
}

/// One read, recorded.
fn pump(shared: &Arc<Shared>, index: usize, ws: &mut WebSocket<ServerStream>) -> Event {
    match ws.read() {
        Ok(Message::Binary(payload)) => {
            let payload = payload.to_vec();
            record(shared, index, |c| c.payloads.push(payload.clone()));
            Event::Binary(payload)
        }
        Ok(Message::Text(text)) => {
            record(shared, index, |c| c.texts.push(text.to_string()));
            Event::Idle
        }
        Ok(Message::Pong(data)) => {
            record(shared, index, |c| c.pongs.push(data.to_vec()));
            Event::Idle
        }
        Ok(Message::Close(frame)) => {
            let code = frame.map(|f| u16::from(f.code));
            record(shared, index, |c| c.close = Some(code));
            Event::Idle
        }
        Ok(Message::Ping(_)) | Ok(Message::Frame(_)) => Event::Idle,
        Err(tungstenite::Error::Io(e)) if would_block(&e) => Event::Idle,
        Err(_) => Event::Gone,
    }
}

fn record(shared: &Shared, index: usize, update: impl FnOnce(&mut WsConnection)) {
    update(&mut shared.state().rec.ws[index]);
}
