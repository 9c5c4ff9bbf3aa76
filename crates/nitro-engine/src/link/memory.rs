//! Two ends of a connection in one process: what one sends, the other's
//! engine receives as link events, through the same encoding, chunking and
//! reassembly as on a data channel. For tests that play a peer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

use super::transport::Transport;
use super::{LinkError, LinkEvent, LinkEventKind, LinkId, OUTBOX};
use crate::protocol::StateMsg;
use crate::protocol::frame::{self, Reassembler};

/// One end: what it sends goes to `to`, where this connection is `their_id`.
#[derive(Debug)]
pub struct MemLink {
    id: LinkId,
    their_id: LinkId,
    to: mpsc::Sender<LinkEvent>,
    /// The certificate the other end connects with.
    their_fingerprint: [u8; 32],
    closed: Arc<AtomicBool>,
}

/// One side of a pair: its id for the connection, its certificate's
/// fingerprint, and where its engine takes link events.
pub struct Side {
    pub id: LinkId,
    pub fingerprint: [u8; 32],
    pub inbox: mpsc::Sender<LinkEvent>,
}

/// A connection between `a` and `b`: the end `a` holds, and the end `b` holds.
pub fn pair(a: Side, b: Side) -> (MemLink, MemLink) {
    let closed = Arc::new(AtomicBool::new(false));
    let at_a = MemLink { id: a.id, their_id: b.id, to: b.inbox.clone(), their_fingerprint: b.fingerprint, closed: closed.clone() };
    let at_b = MemLink { id: b.id, their_id: a.id, to: a.inbox, their_fingerprint: a.fingerprint, closed };
    (at_a, at_b)
}

impl MemLink {
    fn deliver(&self, kind: LinkEventKind) -> bool {
        !self.closed.load(Ordering::Acquire) && self.to.try_send(LinkEvent { link: self.their_id, kind }).is_ok()
    }
}

impl Transport for MemLink {
    fn id(&self) -> LinkId {
        self.id
    }

    fn send_state(&self, msg: &StateMsg) -> Result<(), StateMsg> {
        let mut joined = Reassembler::default();
        let mut whole = None;
        for chunk in frame::split(&msg.encode()) {
            whole = joined.push(&chunk).ok().flatten().or(whole);
        }
        let kind = match whole.as_deref().map(StateMsg::decode) {
            Some(Ok(decoded)) => LinkEventKind::State(decoded),
            Some(Err(e)) => LinkEventKind::Malformed(e),
            None => return Err(msg.clone()),
        };
        if self.deliver(kind) { Ok(()) } else { Err(msg.clone()) }
    }

    fn send_presence(&self, bytes: Vec<u8>) {
        self.deliver(LinkEventKind::Presence(bytes));
    }

    fn backlog(&self) -> usize {
        0
    }

    fn outbox_room(&self) -> usize {
        OUTBOX
    }

    fn remote_fingerprint(&self) -> Option<[u8; 32]> {
        Some(self.their_fingerprint)
    }

    fn accept_answer(&self, _sdp: String) -> BoxFuture<'_, Result<(), LinkError>> {
        Box::pin(async { Ok(()) })
    }

    /// Messages are delivered as they are sent.
    fn delivered(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        if !self.closed.swap(true, Ordering::AcqRel) {
            let _ = self.to.try_send(LinkEvent { link: self.their_id, kind: LinkEventKind::Closed });
        }
        Box::pin(async {})
    }
}
