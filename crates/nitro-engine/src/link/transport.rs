//! What the engine needs of a connection to one peer: a WebRTC peer
//! connection ([`super::Link`]), or one end of a connection in memory
//! ([`super::memory`]), for engines that run in one process.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{LinkError, LinkId};
use crate::protocol::StateMsg;

pub trait Transport: Send + Sync + std::fmt::Debug {
    fn id(&self) -> LinkId;

    /// Queues a state message. Fails at once when the outbox is full (the
    /// peer is not keeping up) or the connection is gone; nothing waits.
    fn send_state(&self, msg: &StateMsg) -> Result<(), StateMsg>;

    /// Sends a presence datagram (lossy; only the newest one matters).
    fn send_presence(&self, bytes: Vec<u8>);

    /// Bytes of state messages queued and not yet sent.
    fn backlog(&self) -> usize;

    /// Room left in the outbox, in messages.
    fn outbox_room(&self) -> usize;

    /// The SHA-256 fingerprint of the certificate the peer connects with
    /// (proven by the connection), once known.
    fn remote_fingerprint(&self) -> Option<[u8; 32]>;

    /// Takes the peer's answer to an offer this side made.
    fn accept_answer(&self, sdp: String) -> BoxFuture<'_, Result<(), LinkError>>;

    /// Resolves once both channels are open.
    fn wait_open(&self, timeout: Duration) -> BoxFuture<'_, Result<(), LinkError>>;

    /// Resolves once the peer has acknowledged every state message handed
    /// to the connection (those still in the backlog are not counted).
    fn delivered(&self) -> BoxFuture<'_, ()>;

    fn close(&self) -> BoxFuture<'_, ()>;
}

/// A connection as the engine holds it.
pub type Conn = Arc<dyn Transport>;

impl Transport for super::Link {
    fn id(&self) -> LinkId {
        self.id
    }

    fn send_state(&self, msg: &StateMsg) -> Result<(), StateMsg> {
        super::Link::send_state(self, msg)
    }

    fn send_presence(&self, bytes: Vec<u8>) {
        super::Link::send_presence(self, bytes);
    }

    fn backlog(&self) -> usize {
        super::Link::backlog(self)
    }

    fn outbox_room(&self) -> usize {
        super::Link::outbox_room(self)
    }

    fn remote_fingerprint(&self) -> Option<[u8; 32]> {
        super::Link::remote_fingerprint(self)
    }

    fn accept_answer(&self, sdp: String) -> BoxFuture<'_, Result<(), LinkError>> {
        Box::pin(self.accept_remote(sdp))
    }

    fn wait_open(&self, timeout: Duration) -> BoxFuture<'_, Result<(), LinkError>> {
        Box::pin(super::Link::wait_open(self, timeout))
    }

    fn delivered(&self) -> BoxFuture<'_, ()> {
        Box::pin(super::Link::delivered(self))
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(super::Link::close(self))
    }
}
