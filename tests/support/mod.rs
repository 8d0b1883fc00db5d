//! An OpAMP test server written from the spec, for integration tests.
//!
//! One [`TestServer`] listens on two loopback ports: a WebSocket endpoint
//! (tungstenite server side) and a plain-HTTP POST endpoint (a small
//! hand-rolled HTTP/1.1 server, gzip aware). It records everything it
//! receives and follows a script: each new WebSocket connection takes the
//! next [`WsBehaviour`], each HTTP request the next [`HttpReply`]; when the
//! script runs out it acknowledges every message like a well-behaved server.
//!
//! Every loop is bounded by time and by the stop flag, and dropping the
//! server stops and joins all of its threads.
//!
//! Use from a test crate with `mod support;`.

// Each test crate uses a different part of this module.
#![allow(dead_code, unused_imports)]

pub mod agent;
pub mod c_host;
pub mod certs;
pub mod chaos;
pub mod commands;
pub mod file_server;
pub mod fluent_bit;
pub mod http_server;
pub mod messages;
pub mod msgpack;
pub mod otlp;
pub mod proxy;
pub mod remote;
mod server_stream;
pub mod ws_server;

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use fluent_bit_opamp::proto::AgentToServer;
use prost::Message as _;

pub use http_server::HttpReply;
pub use ws_server::{WsBehaviour, WsStep};

/// How often blocked loops look at the stop flag.
pub(crate) const POLL: Duration = Duration::from_millis(20);
/// No connection handler lives longer than this, whatever the script says.
pub(crate) const MAX_CONNECTION_LIFE: Duration = Duration::from_secs(300);

/// What the server answers to an agent message when the script is silent.
#[derive(Clone, Debug)]
pub enum AutoReply {
    /// A ServerToAgent echoing the instance_uid, as the spec requires for
    /// an acknowledgement (the default).
    Ack,
    /// Always these protobuf bytes.
    Fixed(Vec<u8>),
    /// Nothing (WebSocket); an empty 200 (HTTP).
    Silent,
    /// An acknowledgement, except that every `n`th reply also asks for the
    /// full state: a server that lost what it knew about the agent.
    ForgetEvery(u64),
}

/// One WebSocket connection, as the server saw it.
#[derive(Clone, Debug, Default)]
pub struct WsConnection {
    /// Request target of the upgrade, e.g. `/v1/opamp`.
    pub path: String,
    /// Upgrade request headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Binary message payloads exactly as received (OpAMP header included).
    pub payloads: Vec<Vec<u8>>,
    pub texts: Vec<String>,
    pub pongs: Vec<Vec<u8>>,
    /// `Some(code)` once a Close frame arrived (`code` None if it had none).
    pub close: Option<Option<u16>>,
    /// Whether the TLS client presented a certificate.
    pub client_cert: bool,
    /// The handler has finished with this connection.
    pub ended: bool,
}

impl WsConnection {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The AgentToServer messages received, unframed here independently of
    /// the transport's framing code (header must be the single byte 0).
    pub fn messages(&self) -> Vec<AgentToServer> {
        self.payloads
            .iter()
            .map(|p| {
                assert_eq!(p.first(), Some(&0u8), "OpAMP header must be 0x00: {p:02x?}");
                AgentToServer::decode(&p[1..]).expect("AgentToServer")
            })
            .collect()
    }
}

/// One HTTP request, as the server saw it.
#[derive(Clone, Debug, Default)]
pub struct HttpRequest {
    pub method: String,
    /// The request target as sent (absolute-form when it came via a proxy).
    pub target: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body as received on the wire.
    pub raw_body: Vec<u8>,
    /// Body after undoing `Content-Encoding: gzip`.
    pub body: Vec<u8>,
    /// Which TCP connection carried it (counts from 0 per server).
    pub connection: usize,
    pub client_cert: bool,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    pub fn message(&self) -> AgentToServer {
        AgentToServer::decode(self.body.as_slice()).expect("AgentToServer")
    }
}

/// Everything received so far.
#[derive(Clone, Debug, Default)]
pub struct Recorded {
    pub ws: Vec<WsConnection>,
    pub http: Vec<HttpRequest>,
    pub http_connections: usize,
    /// Replies that asked for the full state (`AutoReply::ForgetEvery`).
    pub forgets: usize,
}

pub(crate) struct State {
    pub ws_script: VecDeque<WsBehaviour>,
    /// ServerToAgent messages to send on the live WebSocket connection as
    /// soon as it is idle (a server pushing a new config).
    pub ws_push: VecDeque<Vec<u8>>,
    pub http_script: VecDeque<HttpReply>,
    pub auto_reply: AutoReply,
    pub rec: Recorded,
    /// A header every request must carry (lower-case name, value):
    /// anything else gets 401, as a server that checks credentials does.
    pub require: Option<(String, Vec<String>)>,
    /// Auto-replies sent so far.
    pub replies: u64,
}

impl State {
    /// Whether these request headers (lower-case names) get through.
    pub fn admits(&self, headers: &[(String, String)]) -> bool {
        self.require.as_ref().is_none_or(|(name, values)| {
            headers.iter().any(|(n, v)| n == name && values.contains(v))
        })
    }
}

pub(crate) struct Shared {
    pub stop: AtomicBool,
    pub state: Mutex<State>,
    pub workers: Mutex<Vec<JoinHandle<()>>>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Shared {
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        // A panicking handler must not hide what was recorded.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn spawn(self: &Arc<Self>, work: impl FnOnce(Arc<Shared>) + Send + 'static) {
        let shared = self.clone();
        let handle = thread::spawn(move || work(shared));
        let mut workers = self.workers.lock().unwrap_or_else(|e| e.into_inner());
        // A finished thread keeps its stack mapped until it is joined: join
        // those as new ones start, or a long run (the chaos test's 1,000
        // connections) grows by a stack per connection.
        let (done, live): (Vec<_>, Vec<_>) = workers.drain(..).partition(|h| h.is_finished());
        *workers = live;
        for h in done {
            let _ = h.join();
        }
        workers.push(handle);
    }

    /// The reply for an agent message under the current auto-reply policy.
    pub fn auto_reply(&self, agent_message: &[u8]) -> Option<Vec<u8>> {
        let uid = || {
            AgentToServer::decode(agent_message)
                .map(|m| m.instance_uid)
                .unwrap_or_default()
        };
        let mut state = self.state();
        state.replies += 1;
        let n = state.replies;
        match &state.auto_reply {
            AutoReply::Silent => None,
            AutoReply::Fixed(bytes) => Some(bytes.clone()),
            AutoReply::Ack => Some(messages::ack(&uid())),
            AutoReply::ForgetEvery(every) if n.is_multiple_of(*every.max(&1)) => {
                state.rec.forgets += 1;
                Some(messages::report_full_state(&uid()))
            }
            AutoReply::ForgetEvery(_) => Some(messages::ack(&uid())),
        }
    }
}

pub struct TestServer {
    shared: Arc<Shared>,
    ws_addr: SocketAddr,
    http_addr: SocketAddr,
    acceptors: Vec<JoinHandle<()>>,
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_with(None, any_port(), any_port())
    }

    /// Listen on these addresses, e.g. to bring a server "back" on the
    /// ports an agent is already retrying.
    pub fn start_on(ws: SocketAddr, http: SocketAddr) -> Self {
        Self::start_with(None, ws, http)
    }

    /// Both endpoints speak TLS with `config` (wss:// and https://).
    pub fn start_tls(config: Arc<rustls::ServerConfig>) -> Self {
        Self::start_with(Some(config), any_port(), any_port())
    }

    fn start_with(
        tls: Option<Arc<rustls::ServerConfig>>,
        ws_addr: SocketAddr,
        http_addr: SocketAddr,
    ) -> Self {
        assert!(
            ws_addr.ip().is_loopback() && http_addr.ip().is_loopback(),
            "the test server listens on loopback only"
        );
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            state: Mutex::new(State {
                ws_script: VecDeque::new(),
                ws_push: VecDeque::new(),
                http_script: VecDeque::new(),
                auto_reply: AutoReply::Ack,
                rec: Recorded::default(),
                require: None,
                replies: 0,
            }),
            workers: Mutex::new(Vec::new()),
            tls,
        });
        let ws = bind(ws_addr);
        let http = bind(http_addr);
        let ws_addr = ws.local_addr().unwrap();
        let http_addr = http.local_addr().unwrap();
        let acceptors = vec![
            accept_loop(shared.clone(), ws, ws_server::handle),
            accept_loop(shared.clone(), http, http_server::handle),
        ];
        Self {
            shared,
            ws_addr,
            http_addr,
            acceptors,
        }
    }

    pub fn ws_addr(&self) -> SocketAddr {
        self.ws_addr
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    pub fn ws_url(&self) -> String {
        let scheme = if self.shared.tls.is_some() {
            "wss"
        } else {
            "ws"
        };
        format!("{scheme}://{}/v1/opamp", self.ws_addr)
    }

    pub fn http_url(&self) -> String {
        let scheme = if self.shared.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}/v1/opamp", self.http_addr)
    }

    /// Queue the behaviour of the next WebSocket connection.
    pub fn script_ws(&self, behaviour: WsBehaviour) {
        self.shared.state().ws_script.push_back(behaviour);
    }

    /// Send this ServerToAgent (protobuf bytes) on the live WebSocket
    /// connection, once its script has finished.
    pub fn push_ws(&self, server_to_agent: Vec<u8>) {
        self.shared.state().ws_push.push_back(server_to_agent);
    }

    /// Queue the reply to the next HTTP request.
    pub fn script_http(&self, reply: HttpReply) {
        self.shared.state().http_script.push_back(reply);
    }

    /// From now on, refuse (401) every request whose `name` header is not
    /// one of `values` (a credential check; several during a rotation).
    pub fn require_header(&self, name: &str, values: &[&str]) {
        let values = values.iter().map(|v| v.to_string()).collect();
        self.shared.state().require = Some((name.to_ascii_lowercase(), values));
    }

    pub fn set_auto_reply(&self, reply: AutoReply) {
        self.shared.state().auto_reply = reply;
    }

    /// Every remote config status the agents reported over WebSocket.
    pub fn remote_config_statuses(&self) -> Vec<fluent_bit_opamp::proto::RemoteConfigStatus> {
        self.recorded()
            .ws
            .iter()
            .flat_map(|c| c.messages())
            .filter_map(|m| m.remote_config_status)
            .collect()
    }

    /// Every custom message the agents sent over WebSocket, in order.
    pub fn custom_messages(&self) -> Vec<fluent_bit_opamp::proto::CustomMessage> {
        self.recorded()
            .ws
            .iter()
            .flat_map(|c| c.messages())
            .filter_map(|m| m.custom_message)
            .collect()
    }

    /// Takes the agent messages received so far out of the record, for a
    /// long run that checks them as they come and must not keep them all:
    /// WebSocket ones by connection index, then HTTP ones, in order.
    pub fn drain_messages(&self) -> (Vec<(usize, Vec<AgentToServer>)>, Vec<AgentToServer>) {
        let mut state = self.shared.state();
        let ws = state
            .rec
            .ws
            .iter_mut()
            .enumerate()
            .map(|(i, c)| {
                let taken = WsConnection {
                    payloads: std::mem::take(&mut c.payloads),
                    ..WsConnection::default()
                };
                (i, taken.messages())
            })
            .filter(|(_, m)| !m.is_empty())
            .collect();
        let http = std::mem::take(&mut state.rec.http)
            .iter()
            .map(|h| h.message())
            .collect();
        (ws, http)
    }

    pub fn recorded(&self) -> Recorded {
        self.shared.state().rec.clone()
    }

    /// Poll until `condition` holds, panicking with `what` after `timeout`.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        condition: impl Fn(&Recorded) -> bool,
    ) -> Recorded {
        let deadline = Instant::now() + timeout;
        loop {
            let rec = self.recorded();
            if condition(&rec) {
                return rec;
            }
            assert!(
                Instant::now() < deadline,
                "test server: timed out waiting for {what}; recorded: {rec:#?}"
            );
            thread::sleep(POLL);
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for acceptor in self.acceptors.drain(..) {
            let _ = acceptor.join();
        }
        let workers: Vec<_> = self
            .shared
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        for worker in workers {
            let _ = worker.join();
        }
    }
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A port just released by a dropped server can take a moment to be free
/// again; retry briefly rather than fail the test on that race.
fn bind(addr: SocketAddr) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(addr) {
            Ok(listener) => return listener,
            Err(_) if Instant::now() < deadline => thread::sleep(POLL),
            Err(e) => panic!("test server cannot listen on {addr}: {e}"),
        }
    }
}

fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    handler: fn(Arc<Shared>, std::net::TcpStream),
) -> JoinHandle<()> {
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    thread::spawn(move || {
        while !shared.stopped() {
            match listener.accept() {
                Ok((stream, peer)) => {
                    assert!(peer.ip().is_loopback(), "test server accepts loopback only");
                    stream.set_nonblocking(false).expect("blocking stream");
                    shared.spawn(move |shared| handler(shared, stream));
                }
                Err(_) => thread::sleep(POLL),
            }
        }
    })
}

pub(crate) fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}
