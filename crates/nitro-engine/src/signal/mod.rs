//! Signaling: how an offer and an answer cross before any peer connection
//! exists.
//!
//! The transport is the y-webrtc signaling protocol (JSON over WebSocket:
//! `subscribe`, `unsubscribe`, `publish`, `ping`/`pong`). The host serves it
//! itself ([`hub`]), so on one machine or a LAN no server is needed; an
//! unmodified y-webrtc server works too ([`client`]). What is published is an
//! [`Envelope`] whose payload is sealed with a key derived from the invite
//! secret ([`crypto`]), so a server learns nothing but a random topic.

pub mod client;
pub mod crypto;
pub mod hub;
pub mod refusal;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::protocol::PeerId;

#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("cannot reach the signaling server at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    #[error("cannot listen for signaling on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("signaling payload could not be decrypted")]
    Decrypt,
}

/// What an envelope carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Offer,
    Answer,
    /// The host could not open an offer: the joiner's secret is wrong
    /// (signed by the host: see [`refusal`]).
    Refused,
    /// The host asks its user whether to let the joiner in (signed by the
    /// host, again every few seconds while it waits).
    Waiting,
    /// The host will not let the joiner in, and says why (signed).
    Denied,
}

/// The `data` of a y-webrtc `publish` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Format version, always 1.
    pub nitro: u32,
    pub kind: Kind,
    pub from: PeerId,
    /// The addressee; `None` for an offer to whoever hosts the session.
    pub to: Option<PeerId>,
    /// The sealed [`crypto::Plain`], base64url; in `refused`, the host's
    /// signed proof ([`refusal`]).
    #[serde(default, rename = "box", skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
}

/// One subscription to a session's topic: envelopes to publish go into `tx`,
/// envelopes published by anyone (this peer included) come out of `rx`.
pub struct SignalConn {
    pub tx: mpsc::UnboundedSender<Envelope>,
    pub rx: mpsc::UnboundedReceiver<Envelope>,
}

/// The y-webrtc messages this crate sends and understands.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum YMessage {
    Subscribe {
        topics: Vec<String>,
    },
    Unsubscribe {
        topics: Vec<String>,
    },
    Publish {
        topic: String,
        data: serde_json::Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clients: Option<usize>,
    },
    Ping,
    Pong,
}
