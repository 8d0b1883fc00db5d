//! Sans-IO OpAMP protocol core, in the style of rustls / quinn-proto: a pure
//! state machine with no sockets, clocks, threads or global state. Time
//! comes in as [`Instant`](std::time::Instant) arguments and jitter from a
//! seed, so every decision is reproducible in tests.
//!
//! Everything that is protocol lives here: identity and sequence numbers,
//! capabilities, status compression, heartbeats, reconnect backoff and
//! throttling, handling of server messages, size limits, framing. Transports
//! move bytes; the agent layer applies configuration.
//!
//! # Driver contract
//!
//! ```text
//! let mut client = Client::new(cfg, now);
//! client.set_agent_description(..); client.set_health(..); ...
//! loop {
//!     if client.should_connect(now) {
//!         match transport.connect() {
//!             Ok(()) => client.on_connected(now),
//!             Err(e) => client.on_disconnected(now, Disconnect { kind, retry_after }),
//!         }
//!     }
//!     while let Some(msg) = client.poll_transmit(now) {
//!         send client.encode(&msg); then client.on_sent(now)
//!           (or on_disconnected on failure).
//!         HTTP: map the status with HttpOutcome::from_status:
//!           2xx -> client.receive_bytes(now, body)
//!           400/413 -> client.on_rejected(now, ..)
//!           else -> client.on_disconnected(now, ..) with parse_retry_after
//!     }
//!     WebSocket: each binary message -> client.receive_bytes(now, data)
//!     while let Some(action) = client.poll_action() { handle it }
//!     sleep until client.next_timeout() or the next event (new status,
//!     incoming WebSocket message), whichever is first
//! }
//! on shutdown: send client.goodbye(), then close.
//! ```
//!
//! Drain `poll_transmit` and `poll_action` after every input. There is no
//! `on_timeout`: time only matters through the `now` given to
//! `poll_transmit` and `should_connect`, so waking up at `next_timeout` and
//! draining is all a timer has to do.
//!
//! # Rules implemented (spec section names in quotes)
//!
//! - "Status Reporting": the first message on every connection carries the
//!   full state; later ones only when the status changed or the server
//!   asked. A received message by itself never triggers a send.
//! - "Agent Status Compression": each sub-message is sent only if it
//!   differs from what the server is known to have; `ReportFullState` asks
//!   for everything again. Changes made before a send coalesce into one
//!   message ("Retrying Messages": one up-to-date message per kind).
//! - Delivery: a status counts as known to the server only once its
//!   message was written (WebSocket) or answered (HTTP); a lost message is
//!   covered by the full state sent on reconnect. `sequence_num` starts at
//!   0 and grows by one per message built, across reconnects.
//! - "OpAMPConnectionSettings.heartbeat_interval_seconds": heartbeats (HTTP:
//!   polls) count from the last message sent; a server value replaces the
//!   configured one, 0 turns WebSocket heartbeats off. None while down.
//! - "Establishing Connection" / "Throttling": exponential backoff with full
//!   jitter and a cap, reset only after a connection stayed up and completed
//!   an exchange; Retry-After (floored at 30 s) and `retry_info` are
//!   honoured; 401/403 retry at the cap.
//! - "Bad Request" / size limits: refused messages are not retried;
//!   oversized outbound messages lose optional parts instead of wedging.
//! - "AgentDisconnect": [`Client::goodbye`].

mod action;
mod backoff;
mod client;
mod config;
mod disconnect;
pub mod framing;
mod retry_after;
mod rng;
mod status;
mod uid;
mod wire;

#[cfg(test)]
mod tests;

pub use action::{Action, DropReason, LogLevel};
pub use backoff::{BackoffConfig, THROTTLE_FLOOR};
pub use client::{Client, ProbeError, MAX_PENDING_CUSTOM};
pub use config::{
    Capabilities, ClientConfig, Transport, DEFAULT_HEARTBEAT, MIN_MAX_OUTBOUND_BYTES,
};
pub use disconnect::{Disconnect, DisconnectKind, HttpOutcome, Rejection};
pub use retry_after::parse_retry_after;
pub use uid::{format_uuid, uuid_v7};
pub use wire::{
    decode_http_body, decode_ws_message, encode_http_body, encode_ws_message, WireError,
    DEFAULT_MAX_MESSAGE_BYTES,
};
