//! Connection settings on the core's side: the status and request the
//! driver reports, and the bytes of the one exchange that verifies offered
//! settings on a second connection before the driver commits to them
//! ("Verify, then commit"). The driver owns the sockets and the decision;
//! every OpAMP byte is still built and read here.

use std::time::Duration;

use super::{Client, Link};
use crate::core::config::Transport;
use crate::core::wire::{self, WireError};
use crate::proto::{
    AgentToServer, ConnectionSettingsRequest, ConnectionSettingsStatus, ServerErrorResponseType,
};

/// Why a verification exchange did not count as a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeError {
    /// The reply is not an OpAMP message.
    Malformed(String),
    /// The server answered with a ServerErrorResponse.
    Refused(String),
    /// The reply is for another agent.
    WrongInstance,
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeError::Malformed(e) => write!(f, "the server's reply is not OpAMP: {e}"),
            ProbeError::Refused(e) => write!(f, "the server refused the agent: {e}"),
            ProbeError::WrongInstance => f.write_str("the server answered another instance_uid"),
        }
    }
}

impl Client {
    /// `ConnectionSettingsStatus`, compressed like every other status part
    /// and sent only with `reports_connection_settings_status`.
    pub fn set_connection_settings_status(&mut self, s: ConnectionSettingsStatus) {
        self.status.current.connection_settings_status = Some(s);
    }

    /// A request (the CSR flow) for the server; it goes out with the next
    /// message and again after every reconnect until withdrawn with `None`.
    pub fn set_connection_settings_request(&mut self, r: Option<ConnectionSettingsRequest>) {
        self.status.current.connection_settings_request = r;
    }

    /// Puts back a heartbeat interval committed earlier (persisted settings
    /// at start), as if the server had just offered it.
    pub fn set_server_heartbeat(&mut self, d: Option<Duration>) {
        self.server_heartbeat = d;
    }

    /// A committed endpoint may use the other transport. Only while down:
    /// the driver closes the old connection first.
    pub fn set_transport(&mut self, t: Transport, heartbeat: Duration) {
        if matches!(self.link, Link::Up { .. }) {
            return;
        }
        self.cfg.transport = t;
        self.cfg.heartbeat_interval = heartbeat;
    }

    /// The message for a verification connection: the full state, as a new
    /// connection's first message must be, with the next sequence number so
    /// the server sees one gap-free sequence across both connections. It
    /// does not touch what the main connection has reported.
    pub fn probe(&mut self) -> AgentToServer {
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut msg = AgentToServer {
            instance_uid: self.uid.to_vec(),
            sequence_num: seq,
            capabilities: self.caps.bits(),
            ..Default::default()
        };
        self.status
            .outgoing(&self.caps, true, false)
            .write_into(&mut msg);
        self.fit_size_limit(&mut msg);
        msg
    }

    /// Frames a message for a given transport (a probe may use the other
    /// one).
    pub fn encode_for(t: Transport, msg: &AgentToServer) -> Vec<u8> {
        match t {
            Transport::WebSocket => wire::encode_ws_message(msg),
            Transport::Http => wire::encode_http_body(msg),
        }
    }

    /// Reads the reply to [`probe`](Self::probe). A decodable ServerToAgent
    /// for this agent without an error is a completed exchange; its content
    /// is not acted on, because the committed connection starts with a full
    /// exchange of its own.
    pub fn check_probe_reply(&self, t: Transport, bytes: &[u8]) -> Result<(), ProbeError> {
        let max = self.cfg.max_inbound_bytes;
        let msg = match t {
            Transport::WebSocket => wire::decode_ws_message(bytes, max),
            Transport::Http => wire::decode_http_body(bytes, max),
        }
        .map_err(|e: WireError| ProbeError::Malformed(e.to_string()))?;
        if !msg.instance_uid.is_empty() && msg.instance_uid != self.uid {
            return Err(ProbeError::WrongInstance);
        }
        if let Some(err) = msg.error_response {
            let kind = ServerErrorResponseType::try_from(err.r#type)
                .map_or("UNKNOWN", |t| t.as_str_name());
            return Err(ProbeError::Refused(format!(
                "{kind}: {}",
                err.error_message
            )));
        }
        Ok(())
    }
}
