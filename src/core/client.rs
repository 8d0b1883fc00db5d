//! The OpAMP client state machine. See the module docs of [`super`] for the
//! driver contract.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use prost::Message;

use super::action::{Action, DropReason, LogLevel};
use super::backoff::{Backoff, THROTTLE_FLOOR};
use super::config::{
    Capabilities, ClientConfig, Transport, DEFAULT_HEARTBEAT, MIN_MAX_OUTBOUND_BYTES,
};
use super::disconnect::{Disconnect, DisconnectKind, Rejection};
use super::status::{StatusParts, StatusStore};
use super::uid::format_uuid;
use super::wire::{self, WireError};
use crate::proto::server_error_response::Details;
use crate::proto::{
    AgentDescription, AgentDisconnect, AgentRemoteConfig, AgentToServer, AvailableComponents,
    CommandType, ComponentHealth, EffectiveConfig, RemoteConfigStatus, ServerErrorResponseType,
    ServerToAgent, ServerToAgentFlags,
};

mod custom;
mod packages;
mod settings;

pub use custom::MAX_PENDING_CUSTOM;
pub use settings::ProbeError;

/// Sans-IO OpAMP client: feed it events and the current time, drain what it
/// wants sent and done.
/// Shortest gap between two re-answers to a repeated remote config offer.
pub const REANSWER_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct Client {
    cfg: ClientConfig,
    uid: [u8; 16],
    caps: Capabilities,
    /// Capabilities bits last delivered; a change is a status change.
    reported_caps: Option<u64>,
    status: StatusStore,
    link: Link,
    next_seq: u64,
    /// Set on connect and by ReportFullState; cleared once a message
    /// carrying the full state is built.
    full_state_pending: bool,
    /// ReportAvailableComponents. Unlike full state it is not renewed by a
    /// reconnect, so a lost answer reopens it.
    components_requested: bool,
    /// Heartbeats count from here ("the last AgentToServer message sent").
    last_sent: Option<Instant>,
    /// `heartbeat_interval_seconds` from the server's latest offer.
    server_heartbeat: Option<Duration>,
    server_capabilities: Option<u64>,
    /// The last offer handed to the driver, as its hash and a digest of its
    /// content: enough to recognise a re-offer without keeping a copy of a
    /// config that may be megabytes.
    last_config_offer: Option<OfferId>,
    /// When a repeated offer last made us report our status again.
    last_reanswer: Option<Instant>,
    last_settings_hash: Option<Vec<u8>>,
    /// `all_packages_hash` of the last package offer handed out.
    last_packages_hash: Option<Vec<u8>>,
    backoff: Backoff,
    actions: VecDeque<Action>,
    /// Custom messages waiting to go out, one per AgentToServer.
    custom_out: VecDeque<crate::proto::CustomMessage>,
    /// The server's CustomCapabilities, once it sent them.
    server_custom_caps: Option<Vec<String>>,
}

#[derive(Debug)]
enum Link {
    /// Not connected; the next attempt may start at `retry_at`.
    Down { retry_at: Instant },
    Up {
        since: Instant,
        /// A non-error ServerToAgent arrived on this connection.
        exchanged: bool,
        in_flight: Option<Box<InFlight>>,
    },
    /// After `goodbye`: nothing more is sent and no reconnect happens.
    Closed,
}

/// The one message handed out and not yet settled. HTTP allows a single
/// outstanding request; keeping WebSocket to the same rule means every
/// status is settled before the next one is built from the same baseline.
#[derive(Debug)]
struct InFlight {
    seq: u64,
    sent: bool,
    /// Parts to record as reported once the message is settled; includes
    /// parts dropped for size, so they are not retried on every message.
    commit: StatusParts,
    caps_bits: u64,
    /// This message answered ReportAvailableComponents; if it is lost, the
    /// request is still open. (A lost full-state report needs no such flag:
    /// every loss leads to a reconnect, which asks for full state anyway.)
    components_map: bool,
    /// The custom message it carries; a lost one goes back in the queue.
    custom: Option<crate::proto::CustomMessage>,
}

/// Why the link went down, with what the server asked for.
#[derive(Clone, Copy, Debug)]
enum Cause {
    Reported(DisconnectKind, Option<Duration>),
    /// ServerErrorResponse UNAVAILABLE, with retry_info if any.
    Unavailable(Option<Duration>),
    /// Undecodable or oversized input from the server.
    Malformed,
}

impl Client {
    /// A client that is disconnected and may connect at once.
    pub fn new(cfg: ClientConfig, now: Instant) -> Self {
        Self {
            uid: cfg.instance_uid,
            caps: cfg.capabilities,
            reported_caps: None,
            status: StatusStore::default(),
            link: Link::Down { retry_at: now },
            next_seq: 0,
            full_state_pending: true,
            components_requested: false,
            last_sent: None,
            server_heartbeat: None,
            server_capabilities: None,
            last_config_offer: None,
            last_reanswer: None,
            last_settings_hash: None,
            last_packages_hash: None,
            backoff: Backoff::new(cfg.backoff, cfg.jitter_seed),
            actions: VecDeque::new(),
            custom_out: VecDeque::new(),
            server_custom_caps: None,
            cfg,
        }
    }

    // ----- status the driver reports -------------------------------------

    pub fn set_agent_description(&mut self, d: AgentDescription) {
        self.status.current.agent_description = Some(d);
    }

    pub fn set_health(&mut self, h: ComponentHealth) {
        self.status.current.health = Some(h);
    }

    pub fn set_effective_config(&mut self, c: EffectiveConfig) {
        self.status.current.effective_config = Some(c);
    }

    pub fn set_remote_config_status(&mut self, s: RemoteConfigStatus) {
        self.status.current.remote_config_status = Some(s);
    }

    /// Give the full map and its hash; the core sends the map only when the
    /// server asks for it.
    pub fn set_available_components(&mut self, c: AvailableComponents) {
        self.status.current.available_components = Some(c);
    }

    /// The spec lets an agent change capabilities after the first message;
    /// the change is reported like any status change.
    pub fn set_capabilities(&mut self, caps: Capabilities) {
        self.caps = caps;
    }

    // ----- connection events ---------------------------------------------

    /// Whether a connection attempt may start now.
    pub fn should_connect(&self, now: Instant) -> bool {
        matches!(self.link, Link::Down { retry_at } if now >= retry_at)
    }

    /// When the next connection attempt may start; `None` while connected
    /// or after `goodbye`.
    pub fn connect_allowed_at(&self) -> Option<Instant> {
        match self.link {
            Link::Down { retry_at } => Some(retry_at),
            _ => None,
        }
    }

    /// The transport is ready (WebSocket open, or HTTP session starting).
    /// The first message on it carries the full state.
    pub fn on_connected(&mut self, now: Instant) {
        if matches!(self.link, Link::Closed) {
            return;
        }
        self.link = Link::Up {
            since: now,
            exchanged: false,
            in_flight: None,
        };
        self.full_state_pending = true;
        self.last_sent = None;
    }

    /// A connection ended, or an attempt to make one failed. Not to be
    /// called for closes the core itself asked for with
    /// [`Action::Disconnect`].
    pub fn on_disconnected(&mut self, now: Instant, d: Disconnect) {
        match self.link {
            Link::Closed => {}
            // Before retry_at no attempt can have been running, so this is
            // a late report of a close already accounted for: only let it
            // extend the wait.
            Link::Down { retry_at } if now < retry_at => {
                if let Some(at) = d.retry_after.and_then(|r| now.checked_add(r)) {
                    self.link = Link::Down {
                        retry_at: retry_at.max(at),
                    };
                }
            }
            _ => self.go_down(now, Cause::Reported(d.kind, d.retry_after)),
        }
    }

    /// The message from the last `poll_transmit` was written out in full.
    pub fn on_sent(&mut self, now: Instant) {
        let Link::Up {
            in_flight: Some(f), ..
        } = &mut self.link
        else {
            return;
        };
        if f.sent {
            return;
        }
        f.sent = true;
        self.last_sent = Some(now);
        // WebSocket has no acknowledgements: a completed write is as close
        // to "delivered" as it gets. HTTP waits for its response.
        if self.cfg.transport == Transport::WebSocket {
            self.settle_in_flight();
        }
    }

    /// HTTP only: the server refused the outstanding request with 400 or
    /// 413. The spec forbids retrying it, so its content counts as reported
    /// and the session carries on.
    pub fn on_rejected(&mut self, now: Instant, why: Rejection) {
        let Link::Up {
            in_flight: Some(f), ..
        } = &self.link
        else {
            return;
        };
        let seq = f.seq;
        if !f.sent {
            self.last_sent = Some(now);
        }
        self.settle_in_flight();
        let what = match why {
            Rejection::BadRequest => "as malformed (HTTP 400)",
            Rejection::TooLarge => "as too large (HTTP 413)",
        };
        self.log(
            LogLevel::Warn,
            format!("server refused AgentToServer #{seq} {what}; it will not be retried"),
        );
    }

    /// Decodes received bytes with the core's framing and the
    /// configured size limit, then handles them like `on_received`. Bad
    /// input drops the connection (with [`Action::Disconnect`]), as the
    /// spec's size-limit sections require; the error says why.
    pub fn receive_bytes(&mut self, now: Instant, bytes: &[u8]) -> Result<(), WireError> {
        let max = self.cfg.max_inbound_bytes;
        let decoded = match self.cfg.transport {
            Transport::WebSocket => wire::decode_ws_message(bytes, max),
            Transport::Http => wire::decode_http_body(bytes, max),
        };
        match decoded {
            Ok(msg) => {
                self.on_received(now, msg);
                Ok(())
            }
            Err(e) => {
                self.log(LogLevel::Error, e.to_string());
                if matches!(self.link, Link::Up { .. }) {
                    self.go_down(now, Cause::Malformed);
                    self.actions
                        .push_back(Action::Disconnect(DropReason::Malformed));
                }
                Err(e)
            }
        }
    }

    /// Handles one ServerToAgent. Never causes a send by itself: only a
    /// resulting status change or an explicit server request does.
    pub fn on_received(&mut self, now: Instant, msg: ServerToAgent) {
        if !matches!(self.link, Link::Up { .. }) {
            self.log(
                LogLevel::Debug,
                "ignoring ServerToAgent received while not connected".into(),
            );
            return;
        }
        let unavailable = msg
            .error_response
            .as_ref()
            .is_some_and(|e| e.r#type == ServerErrorResponseType::Unavailable as i32);
        if self.cfg.transport == Transport::Http {
            self.settle_http_response(now, unavailable);
        }
        if !msg.instance_uid.is_empty() && msg.instance_uid != self.uid {
            self.log(
                LogLevel::Warn,
                "ignoring ServerToAgent addressed to another instance_uid".into(),
            );
            return;
        }
        if let Some(err) = msg.error_response {
            self.on_error_response(now, err);
            return;
        }
        if let Link::Up { exchanged, .. } = &mut self.link {
            *exchanged = true;
        }
        if msg.capabilities != 0 {
            self.server_capabilities = Some(msg.capabilities);
        }
        if let Some(cmd) = msg.command {
            // "ServerToAgent.command": everything but instance_uid and
            // capabilities is ignored when a command is present.
            self.on_command(cmd.r#type);
            return;
        }
        if let Some(id) = msg.agent_identification {
            self.on_new_instance_uid(&id.new_instance_uid);
        }
        if msg.flags & ServerToAgentFlags::ReportFullState as u64 != 0 {
            self.full_state_pending = true;
        }
        if msg.flags & ServerToAgentFlags::ReportAvailableComponents as u64 != 0
            && self.caps.reports_available_components
        {
            self.components_requested = true;
        }
        if let Some(cs) = msg.connection_settings {
            self.on_connection_settings(cs);
        }
        if let Some(cc) = msg.custom_capabilities {
            self.server_custom_caps = Some(cc.capabilities);
        }
        if let Some(cm) = msg.custom_message {
            self.actions.push_back(Action::CustomMessage(cm));
        }
        // Packages before the config: a config that uses a package
        // arriving in the same message finds the offer already handed out.
        if let Some(pa) = msg.packages_available {
            self.on_packages_available(pa);
        }
        if let Some(rc) = msg.remote_config {
            self.on_remote_config(now, rc);
        }
    }

    // ----- output ----------------------------------------------------------

    /// The next message to send, if any is due: a status change, a server
    /// request, the first report on a connection, or a heartbeat. At most
    /// one message is outstanding; settle it (`on_sent`, and for HTTP the
    /// response) before the next appears.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<AgentToServer> {
        let Link::Up {
            in_flight: None, ..
        } = self.link
        else {
            return None;
        };
        let caps_bits = self.caps.bits();
        let parts = self.status.outgoing(
            &self.caps,
            self.full_state_pending,
            self.components_requested,
        );
        let due = !parts.is_empty()
            || !self.custom_out.is_empty()
            || self.full_state_pending
            || self.components_requested
            || self.reported_caps != Some(caps_bits)
            || self.heartbeat_at().is_some_and(|at| now >= at);
        if !due {
            return None;
        }

        let seq = self.next_seq;
        self.next_seq += 1;
        let mut msg = AgentToServer {
            instance_uid: self.uid.to_vec(),
            sequence_num: seq,
            capabilities: caps_bits,
            ..Default::default()
        };
        parts.clone().write_into(&mut msg);
        msg.custom_message = self.custom_out.pop_front();
        self.fit_size_limit(&mut msg);

        if let Link::Up { in_flight, .. } = &mut self.link {
            *in_flight = Some(Box::new(InFlight {
                seq,
                sent: false,
                commit: parts,
                caps_bits,
                components_map: self.components_requested,
                custom: msg.custom_message.clone(),
            }));
        }
        self.full_state_pending = false;
        self.components_requested = false;
        Some(msg)
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When to wake up if nothing else happens: the reconnect time while
    /// down, the next heartbeat while idle. `None` while a message is
    /// outstanding (the transport's own timeout applies) or after goodbye.
    pub fn next_timeout(&self) -> Option<Instant> {
        match &self.link {
            Link::Down { retry_at } => Some(*retry_at),
            Link::Up {
                in_flight: None, ..
            } => self.heartbeat_at(),
            Link::Up { .. } | Link::Closed => None,
        }
    }

    /// The final message ("AgentToServer.agent_disconnect"). Over WebSocket
    /// send it and then Close; over HTTP make it the last POST. Afterwards
    /// the client sends nothing and never asks to reconnect.
    pub fn goodbye(&mut self) -> AgentToServer {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.link = Link::Closed;
        AgentToServer {
            instance_uid: self.uid.to_vec(),
            sequence_num: seq,
            capabilities: self.caps.bits(),
            agent_disconnect: Some(AgentDisconnect {}),
            ..Default::default()
        }
    }

    /// Frames a message for this client's transport.
    pub fn encode(&self, msg: &AgentToServer) -> Vec<u8> {
        match self.cfg.transport {
            Transport::WebSocket => wire::encode_ws_message(msg),
            Transport::Http => wire::encode_http_body(msg),
        }
    }

    // ----- queries ---------------------------------------------------------

    pub fn instance_uid(&self) -> [u8; 16] {
        self.uid
    }

    /// The sequence number the next message will carry.
    pub fn next_sequence_num(&self) -> u64 {
        self.next_seq
    }

    pub fn capabilities(&self) -> Capabilities {
        self.caps
    }

    /// ServerCapabilities bits from the server's latest message that had
    /// them.
    pub fn server_capabilities(&self) -> Option<u64> {
        self.server_capabilities
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.link, Link::Up { .. })
    }

    /// Period between heartbeats (HTTP: polls), or `None` when off.
    pub fn heartbeat_interval(&self) -> Option<Duration> {
        match self.cfg.transport {
            Transport::WebSocket => {
                if !self.caps.reports_heartbeat {
                    return None;
                }
                let d = self.server_heartbeat.unwrap_or(self.cfg.heartbeat_interval);
                (!d.is_zero()).then_some(d)
            }
            // An HTTP client has no other way to hear from the server, so
            // a zero interval (from either side) falls back to polling at
            // the default instead of never polling again.
            Transport::Http => {
                let d = self
                    .server_heartbeat
                    .filter(|d| !d.is_zero())
                    .unwrap_or(self.cfg.heartbeat_interval);
                Some(if d.is_zero() { DEFAULT_HEARTBEAT } else { d })
            }
        }
    }

    /// Consecutive failures the backoff has counted, for tests of its reset
    /// rule.
    #[cfg(test)]
    pub(crate) fn backoff_failures(&self) -> u32 {
        self.backoff.failures()
    }

    // ----- internals -------------------------------------------------------

    fn heartbeat_at(&self) -> Option<Instant> {
        self.last_sent?.checked_add(self.heartbeat_interval()?)
    }

    fn log(&mut self, level: LogLevel, msg: String) {
        self.actions.push_back(Action::Log(level, msg));
    }

    /// Records the outstanding message as known to the server.
    fn settle_in_flight(&mut self) {
        if let Link::Up { in_flight, .. } = &mut self.link {
            if let Some(f) = in_flight.take() {
                self.status.commit(f.commit);
                self.reported_caps = Some(f.caps_bits);
            }
        }
    }

    /// Forgets the outstanding message without recording it, reopening the
    /// components request it was answering.
    fn abandon_in_flight(&mut self) {
        if let Link::Up { in_flight, .. } = &mut self.link {
            if let Some(f) = in_flight.take() {
                self.components_requested |= f.components_map;
                if let Some(m) = f.custom {
                    self.custom_out.push_front(m);
                }
            }
        }
    }

    /// An HTTP response settles the request it answers, unless the server
    /// says it could not process it (UNAVAILABLE: it must be sent again).
    fn settle_http_response(&mut self, now: Instant, unavailable: bool) {
        if let Link::Up {
            in_flight: Some(f), ..
        } = &self.link
        {
            if !f.sent {
                self.last_sent = Some(now);
            }
        }
        if unavailable {
            self.abandon_in_flight();
        } else {
            self.settle_in_flight();
        }
    }

    fn on_error_response(&mut self, now: Instant, err: crate::proto::ServerErrorResponse) {
        if err.r#type == ServerErrorResponseType::Unavailable as i32 {
            let hint = err
                .details
                .map(|Details::RetryInfo(r)| Duration::from_nanos(r.retry_after_nanoseconds));
            self.go_down(now, Cause::Unavailable(hint));
            self.actions
                .push_back(Action::Disconnect(DropReason::Unavailable));
            return;
        }
        // BAD_REQUEST and UNKNOWN both mean "do not retry": the message is
        // already settled, so it simply is not sent again.
        let kind = ServerErrorResponseType::try_from(err.r#type)
            .map_or("unrecognised", |t| t.as_str_name());
        self.log(
            LogLevel::Warn,
            format!(
                "server rejected an AgentToServer ({kind}): {}; not retrying it",
                err.error_message
            ),
        );
    }

    fn on_command(&mut self, ty: i32) {
        match CommandType::try_from(ty) {
            Ok(CommandType::Restart) if self.caps.accepts_restart_command => {
                self.actions.push_back(Action::Restart);
            }
            Ok(CommandType::Restart) => self.log(
                LogLevel::Info,
                "ignoring restart command: AcceptsRestartCommand is not claimed".into(),
            ),
            Err(_) => self.log(LogLevel::Warn, format!("ignoring unknown command {ty}")),
        }
    }

    fn on_new_instance_uid(&mut self, new: &[u8]) {
        if new.is_empty() {
            return;
        }
        let Ok(new) = <[u8; 16]>::try_from(new) else {
            self.log(
                LogLevel::Warn,
                format!(
                    "ignoring new_instance_uid of {} bytes; it must be 16",
                    new.len()
                ),
            );
            return;
        };
        if new == self.uid {
            return;
        }
        self.uid = new;
        self.log(
            LogLevel::Info,
            format!("server assigned instance_uid {}", format_uuid(&new)),
        );
        self.actions.push_back(Action::PersistInstanceUid(new));
    }

    fn on_connection_settings(&mut self, cs: crate::proto::ConnectionSettingsOffers) {
        if let Some(op) = &cs.opamp {
            self.server_heartbeat = Some(Duration::from_secs(op.heartbeat_interval_seconds));
        }
        let c = &self.caps;
        let wanted = c.accepts_opamp_connection_settings
            || c.reports_own_metrics
            || c.reports_own_logs
            || c.accepts_other_connection_settings;
        if !wanted {
            return;
        }
        // Servers may repeat an offer in every response; hand each one out
        // once.
        if !cs.hash.is_empty() && self.last_settings_hash.as_deref() == Some(&cs.hash[..]) {
            return;
        }
        self.last_settings_hash = (!cs.hash.is_empty()).then(|| cs.hash.clone());
        self.actions
            .push_back(Action::ConnectionSettings(Box::new(cs)));
    }

    fn on_remote_config(&mut self, now: Instant, rc: AgentRemoteConfig) {
        if !self.caps.accepts_remote_config {
            self.log(
                LogLevel::Debug,
                "ignoring remote config: AcceptsRemoteConfig is not claimed".into(),
            );
            return;
        }
        if self.already_offered(&rc) {
            self.reanswer(now, &rc);
            return;
        }
        self.last_config_offer = Some(OfferId::of(&rc));
        self.actions.push_back(Action::ApplyRemoteConfig(rc));
    }

    /// A server that offers the config we already reported evidently did
    /// not get that report: answer with our status again instead of staying
    /// silent, but at most once per [`REANSWER_INTERVAL`] so a server that
    /// echoes the offer in every message cannot start a ping-pong.
    fn reanswer(&mut self, now: Instant, rc: &AgentRemoteConfig) {
        let reported = self
            .status
            .current
            .remote_config_status
            .as_ref()
            .is_some_and(|s| {
                !rc.config_hash.is_empty() && s.last_remote_config_hash == rc.config_hash
            });
        let recent = self
            .last_reanswer
            .is_some_and(|t| now.saturating_duration_since(t) < REANSWER_INTERVAL);
        if reported && !recent {
            self.last_reanswer = Some(now);
            self.status.forget_remote_config_status();
        }
    }

    /// Re-offers of a config already handed to the driver (or already
    /// reported as last received) must not trigger another apply: applying
    /// can mean restarting the pipeline.
    fn already_offered(&self, rc: &AgentRemoteConfig) -> bool {
        if self.last_config_offer == Some(OfferId::of(rc)) {
            return true;
        }
        if rc.config_hash.is_empty() {
            return false;
        }
        let same_as_last = self
            .last_config_offer
            .as_ref()
            .is_some_and(|o| o.hash == rc.config_hash);
        let same_as_reported = self
            .status
            .current
            .remote_config_status
            .as_ref()
            .is_some_and(|s| s.last_remote_config_hash == rc.config_hash);
        same_as_last || same_as_reported
    }

    /// Applies the outbound size limit ("... Message Size Limits": the
    /// client MUST NOT send an oversized message). Rather than wedge on a
    /// message that can never go out, optional parts are dropped, largest
    /// and least essential first, and the operator is told.
    fn fit_size_limit(&mut self, msg: &mut AgentToServer) {
        type Dropper = fn(&mut AgentToServer) -> bool;
        const STEPS: [(&str, Dropper); 8] = [
            ("effective_config", |m| m.effective_config.take().is_some()),
            // Resent whole on its next change; a big set must not wedge
            // the health and config statuses behind it.
            ("package_statuses", |m| m.package_statuses.take().is_some()),
            ("the available_components map", |m| {
                m.available_components
                    .as_mut()
                    .is_some_and(|a| !std::mem::take(&mut a.components).is_empty())
            }),
            // The sender sizes its messages; one that cannot fit is lost
            // rather than wedging the status behind it.
            ("custom_message", |m| m.custom_message.take().is_some()),
            ("agent_description", |m| {
                m.agent_description.take().is_some()
            }),
            ("health", |m| m.health.take().is_some()),
            ("available_components", |m| {
                m.available_components.take().is_some()
            }),
            ("remote_config_status", |m| {
                m.remote_config_status.take().is_some()
            }),
        ];
        let max = self.cfg.max_outbound_bytes.max(MIN_MAX_OUTBOUND_BYTES);
        let original = msg.encoded_len();
        if original <= max {
            return;
        }
        let mut dropped = Vec::new();
        for (name, drop) in STEPS {
            if msg.encoded_len() <= max {
                break;
            }
            if drop(msg) {
                dropped.push(name);
            }
        }
        self.log(
            LogLevel::Error,
            format!(
                "AgentToServer #{} would be {original} bytes, over the {max}-byte limit; \
                 sending it without {}",
                msg.sequence_num,
                dropped.join(", ")
            ),
        );
    }

    /// Leaves the connected state (or records a failed attempt) and picks
    /// when to try again.
    fn go_down(&mut self, now: Instant, cause: Cause) {
        let stable = match &self.link {
            Link::Up {
                since, exchanged, ..
            } => {
                *exchanged
                    && now.saturating_duration_since(*since) >= self.backoff.config().stable_after
            }
            _ => false,
        };
        self.abandon_in_flight();
        if stable {
            self.backoff.reset();
        }

        let cap = self.backoff.config().max;
        let (delay, level, what) = match cause {
            Cause::Reported(DisconnectKind::Local, hint) => {
                (hint.unwrap_or_default(), LogLevel::Debug, "closed locally")
            }
            // "Restoring WebSocket Connection": a connection that was
            // working is re-established at once; only failures back off.
            Cause::Reported(DisconnectKind::Network, hint) if stable => {
                (hint.unwrap_or_default(), LogLevel::Info, "connection lost")
            }
            // Debug: the driver already says why at warn, and not on every
            // attempt of a long outage.
            Cause::Reported(DisconnectKind::Network, hint) => (
                self.backoff.next_delay().max(hint.unwrap_or_default()),
                LogLevel::Debug,
                "connection failed",
            ),
            Cause::Reported(DisconnectKind::Throttled, hint) => (
                self.backoff
                    .next_delay()
                    .max(hint.unwrap_or_default())
                    .max(THROTTLE_FLOOR),
                LogLevel::Warn,
                "server is throttling (HTTP 429/503)",
            ),
            Cause::Reported(DisconnectKind::AuthFailed, hint) => (
                self.backoff
                    .next_delay()
                    .max(cap)
                    .max(hint.unwrap_or_default()),
                LogLevel::Warn,
                "authentication failed (HTTP 401/403); check the credentials",
            ),
            Cause::Unavailable(hint) => (
                self.backoff.next_delay().max(hint.unwrap_or_default()),
                LogLevel::Warn,
                "server is unavailable (ServerErrorResponse UNAVAILABLE)",
            ),
            Cause::Malformed => (
                self.backoff.next_delay(),
                LogLevel::Warn,
                "dropping connection after malformed input",
            ),
        };
        let retry_at = now
            .checked_add(delay)
            .or_else(|| now.checked_add(cap))
            .unwrap_or(now);
        self.link = Link::Down { retry_at };
        self.log(level, format!("{what}; reconnecting in {delay:.1?}"));
    }
}

/// What identifies an offer: the server's hash, and a digest of every file
/// (name, content type, body) for offers without one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OfferId {
    hash: Vec<u8>,
    digest: u64,
}

impl OfferId {
    fn of(rc: &AgentRemoteConfig) -> OfferId {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: stable within the process, which is all
        // a comparison with the previous offer needs.
        let mut h = std::hash::DefaultHasher::new();
        rc.config.is_some().hash(&mut h);
        for (name, file) in rc.config.iter().flat_map(|c| &c.config_map) {
            (name, &file.content_type, &file.body).hash(&mut h);
        }
        OfferId {
            hash: rc.config_hash.clone(),
            digest: h.finish(),
        }
    }
}
