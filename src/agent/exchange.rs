//! Moving the core's bytes: connect, send what `Client::encode` gives,
//! feed what arrives to `Client::receive_bytes`, and carry out the core's
//! actions. Both transports take the same path; only the core reads bytes.

use std::time::{Duration, Instant};

use super::connection::{classify, disconnect_for, Conn, Failure};
use super::runtime::Runtime;
use crate::core::{self, Action, Disconnect, DisconnectKind, DropReason, LogLevel};
use crate::remote::RestartOutcome;
use crate::transport::TransportError;
use crate::{debug, info, logging, warn};

impl Runtime {
    pub(super) fn connect(&mut self, now: Instant) {
        let Some(dialer) = self.dialer.as_ref() else {
            return;
        };
        match dialer.connect() {
            Ok(conn) => {
                self.conn = Some(conn);
                self.client.on_connected(Instant::now());
                self.event_connected();
                let n = std::mem::take(&mut self.failures_in_a_row);
                let endpoint = self.steer.profile().endpoint.to_string();
                self.link_event(format!("connected to {endpoint}"));
                if n > 0 {
                    info!("connected to OpAMP server {endpoint} after {n} failed attempts");
                } else {
                    info!("connected to OpAMP server {endpoint}");
                }
            }
            Err(e) => {
                let d = disconnect_for(&e);
                if self.failures_in_a_row == 0 {
                    self.link_event(format!("cannot connect: {e}"));
                }
                self.note_failure(&e, d.kind);
                self.client.on_disconnected(now, d);
                self.steer_link_failed(now);
            }
        }
    }

    /// Logs a failure at warn the first time and every tenth time in a row,
    /// so a long outage stays visible without flooding the log.
    fn note_failure(&mut self, e: &TransportError, kind: DisconnectKind) {
        self.failures_in_a_row += 1;
        let n = self.failures_in_a_row;
        let what = if kind == DisconnectKind::AuthFailed {
            format!("authentication failed ({e}); check the 'header' credentials. Retrying slowly")
        } else {
            format!(
                "OpAMP server {} unavailable: {e}",
                self.steer.profile().endpoint
            )
        };
        if n == 1 || n.is_multiple_of(10) {
            warn!("{what} (attempt {n})");
        } else {
            debug!("{what} (attempt {n})");
        }
    }

    /// A transport call failed: the core decides what it means.
    fn failed(&mut self, e: TransportError) {
        match classify(&e) {
            Failure::Rejected(why) => {
                warn!("OpAMP server refused a message: {e}; it will not be retried");
                self.client.on_rejected(Instant::now(), why);
            }
            Failure::Lost(d) => {
                self.conn = None;
                self.link_event(format!("connection lost: {e}"));
                self.event_disconnected(Err(&e));
                self.note_failure(&e, d.kind);
                self.client.on_disconnected(Instant::now(), d);
                self.steer_link_failed(Instant::now());
            }
        }
    }

    /// Everything the WebSocket has ready, including what TLS or the
    /// WebSocket layer buffered, without blocking.
    pub(super) fn read_available(&mut self) {
        loop {
            let Some(Conn::Ws(ws)) = self.conn.as_mut() else {
                return;
            };
            match ws.recv(Duration::ZERO) {
                Ok(Some(bytes)) => self.received(&bytes),
                Ok(None) => return,
                Err(e) => return self.failed(e),
            }
        }
    }

    /// Sends whatever the core has due, then carries out its actions.
    pub(super) fn pump(&mut self) {
        while let Some(msg) = self.client.poll_transmit(Instant::now()) {
            let bytes = self.client.encode(&msg);
            drop(msg);
            let sent = match self.conn.as_mut() {
                Some(Conn::Ws(ws)) => ws.send(&bytes).map(|()| None),
                Some(Conn::Http(http)) => http.exchange(&self.uid_text, &bytes).map(Some),
                None => break,
            };
            match sent {
                Ok(reply) => {
                    self.client.on_sent(Instant::now());
                    if let Some(body) = reply {
                        self.received(&body);
                    }
                }
                Err(e) => {
                    self.failed(e);
                    break;
                }
            }
            self.actions();
        }
        self.actions();
    }

    /// Whatever arrived, on either transport: the core decodes it, and a
    /// malformed message takes the core's path (error, drop, backoff).
    pub(super) fn received(&mut self, bytes: &[u8]) {
        match self.client.receive_bytes(Instant::now(), bytes) {
            Ok(()) => self.steer_link_ok(),
            Err(e) => debug!("dropped a bad ServerToAgent: {e}"),
        }
        self.actions();
    }

    pub(super) fn actions(&mut self) {
        while let Some(a) = self.client.poll_action() {
            match a {
                Action::ApplyRemoteConfig(rc) => {
                    crate::fault::inject("offer");
                    self.event_config_offered(&rc.config_hash);
                    let Some(rc) = self.hold_for_packages(rc) else {
                        continue;
                    };
                    if let Some(st) = self.remote.on_offer(Instant::now(), rc) {
                        self.client.set_remote_config_status(st);
                    }
                    self.remote_status();
                }
                Action::Restart => self.restart_command(),
                Action::ConnectionSettings(cs) => self.connection_offers(*cs),
                Action::CustomMessage(m) => self.custom_message(m),
                Action::Packages(pa) => self.packages_offer(*pa),
                Action::PersistInstanceUid(uid) => self.new_uid(uid),
                Action::Disconnect(why) => self.drop_connection(why),
                Action::Log(level, msg) => logging::log(log_level(level), &msg),
            }
        }
    }

    fn restart_command(&mut self) {
        match self.remote.on_restart_command(Instant::now()) {
            RestartOutcome::Started => info!("restart command: hot-reloading the current config"),
            RestartOutcome::Deferred => {
                info!("restart command: will reload after the reload in progress")
            }
            RestartOutcome::Refused(why) => warn!("restart command refused: {why}"),
        }
    }

    fn new_uid(&mut self, uid: [u8; 16]) {
        self.uid_text = core::format_uuid(&uid);
        info!("the server assigned a new instance UID {}", self.uid_text);
        self.events_context();
        if let Err(e) = self.state.store_instance_uid(&uid) {
            crate::error!("cannot store the new instance UID: {e}");
        }
    }

    /// The core already counts the link as down; say why on the wire.
    fn drop_connection(&mut self, why: DropReason) {
        match self.conn.take() {
            Some(Conn::Ws(mut ws)) => ws.close_now(why == DropReason::Malformed),
            Some(Conn::Http(_)) => {}
            None => return,
        }
        self.event_dropped_connection(why);
    }

    /// The connection goes because we chose so (new settings, recovery):
    /// no backoff penalty.
    pub(super) fn close_locally(&mut self) {
        if self.conn.take().is_some() {
            self.client
                .on_disconnected(Instant::now(), Disconnect::new(DisconnectKind::Local));
            self.event_disconnected(Ok("closed by the agent to reconnect (new connection settings, or recovery from an internal error)"));
        }
    }

    /// Final shutdown: `agent_disconnect`, then close, all bounded.
    pub(super) fn say_goodbye(&mut self) {
        self.remote.on_shutdown();
        let connected = self.client.is_connected();
        let msg = self.client.goodbye();
        let bytes = self.client.encode(&msg);
        match self.conn.take() {
            Some(Conn::Ws(mut ws)) => {
                let _ = ws.close(connected.then_some(bytes.as_slice()));
            }
            Some(Conn::Http(mut http)) if connected => {
                let _ = http.exchange(&self.uid_text, &bytes);
            }
            _ => {}
        }
    }
}

fn log_level(level: LogLevel) -> logging::Level {
    match level {
        LogLevel::Error => logging::Level::Error,
        LogLevel::Warn => logging::Level::Warn,
        LogLevel::Info => logging::Level::Info,
        LogLevel::Debug => logging::Level::Debug,
    }
}
