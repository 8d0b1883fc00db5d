//! "Custom Messages": the agent's CustomCapabilities (a status part,
//! compressed like the others) and a bounded queue of outgoing
//! CustomMessages, one per AgentToServer. A message lost with its
//! connection goes back to the head of the queue; one written (WebSocket)
//! or answered (HTTP) is done. Incoming ones reach the driver as
//! [`Action::CustomMessage`](crate::core::Action::CustomMessage).

use super::Client;
use crate::proto::{CustomCapabilities, CustomMessage};

/// Outgoing custom messages held at most; a sender that outruns the link
/// is told so instead of growing memory.
pub const MAX_PENDING_CUSTOM: usize = 16;

impl Client {
    /// The custom capabilities this agent supports; an empty list sends
    /// none.
    pub fn set_custom_capabilities(&mut self, caps: Vec<String>) {
        self.status.current.custom_capabilities =
            (!caps.is_empty()).then_some(CustomCapabilities { capabilities: caps });
    }

    /// Queues a message for the server. Gives it back when
    /// [`MAX_PENDING_CUSTOM`] are already waiting.
    pub fn send_custom_message(&mut self, m: CustomMessage) -> Result<(), CustomMessage> {
        if self.custom_out.len() >= MAX_PENDING_CUSTOM {
            return Err(m);
        }
        self.custom_out.push_back(m);
        Ok(())
    }

    /// The server's custom capabilities, if it ever sent them.
    pub fn server_custom_capabilities(&self) -> Option<&[String]> {
        self.server_custom_caps.as_deref()
    }
}
