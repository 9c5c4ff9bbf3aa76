//! The actor's connections: one slot per link, with the peer behind it once
//! it said hello, and what the actor tracks of it. This table is their one
//! owner; the rest of the actor asks it.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::digest;
use crate::doc::{DocKey, SyncState};
use crate::engine::terminals::Peer;
use crate::link::{Conn, LinkId, OUTBOX};
use crate::protocol::limits::{DANGLING_SYNC, PRESENCE_RATE, WANT_RATE};
use crate::protocol::{PeerId, StateMsg};
use crate::rate::Rate;

/// A peer not heard from on either channel for this long is dropped.
const SILENT_FOR: Duration = Duration::from_secs(10);
/// A link whose peer has not said hello by then is given up.
const NO_HELLO_FOR: Duration = Duration::from_secs(30);

/// One connection, and the peer behind it once it said hello.
pub(super) struct Slot {
    pub link: Conn,
    pub peer: Option<(PeerId, String)>,
    pub sync: SyncState,
    /// Its outbox overflowed: it gets a sync round when the outbox drains.
    pub behind: bool,
    heard: Instant,
    /// The last round trip measured, and the ping in flight.
    pub rtt: Option<Duration>,
    pub ping: Option<(u64, Instant)>,
    /// What its digests said of our workspace.
    pub check: digest::Check,
    /// How fast it sends presence and asks for texts.
    pub presence_rate: Rate,
    pub want_rate: Rate,
    /// Documents in which its changes built on changes this peer lacks, and
    /// when that last started a sync round (`Actor::catch_up`).
    pub lacking: BTreeSet<DocKey>,
    pub caught_up: Option<Instant>,
    /// Its sync messages that left changes waiting for ones never sent.
    pub strikes: Rate,
}

#[derive(Default)]
pub(super) struct Links {
    slots: HashMap<LinkId, Slot>,
}

impl Links {
    pub fn add(&mut self, link: Conn) {
        let now = Instant::now();
        let slot = Slot {
            link,
            peer: None,
            sync: SyncState::default(),
            behind: false,
            heard: now,
            rtt: None,
            ping: None,
            check: Default::default(),
            presence_rate: Rate::new(PRESENCE_RATE, now),
            want_rate: Rate::new(WANT_RATE, now),
            lacking: BTreeSet::new(),
            caught_up: None,
            strikes: Rate::new(DANGLING_SYNC, now),
        };
        self.slots.insert(slot.link.id(), slot);
    }

    pub fn remove(&mut self, id: LinkId) -> Option<Slot> {
        self.slots.remove(&id)
    }

    pub fn get(&self, id: LinkId) -> Option<&Slot> {
        self.slots.get(&id)
    }

    pub fn get_mut(&mut self, id: LinkId) -> Option<&mut Slot> {
        self.slots.get_mut(&id)
    }

    pub fn contains(&self, id: LinkId) -> bool {
        self.slots.contains_key(&id)
    }

    pub fn said_hello(&self, id: LinkId) -> bool {
        self.peer(id).is_some()
    }

    /// The peer behind `id`, once it said hello.
    pub fn peer(&self, id: LinkId) -> Option<&PeerId> {
        self.slots.get(&id).and_then(|s| s.peer.as_ref()).map(|(p, _)| p)
    }

    pub fn heard(&mut self, id: LinkId) {
        if let Some(s) = self.slots.get_mut(&id) {
            s.heard = Instant::now();
        }
    }

    /// The links whose peer said hello, with the peer's id and name.
    pub fn greeted(&self) -> impl Iterator<Item = (LinkId, &PeerId, &str)> {
        self.slots.iter().filter_map(|(id, s)| s.peer.as_ref().map(|(p, n)| (*id, p, n.as_str())))
    }

    pub fn greeted_ids(&self) -> Vec<LinkId> {
        self.greeted().map(|(id, _, _)| id).collect()
    }

    /// The link to `peer`, other than `except`.
    pub fn to_peer(&self, peer: &PeerId, except: Option<LinkId>) -> Option<LinkId> {
        self.greeted().find(|(id, p, _)| *p == peer && Some(*id) != except).map(|(id, _, _)| id)
    }

    /// Links whose peer has not said hello yet.
    pub fn pending(&self) -> usize {
        self.slots.values().filter(|s| s.peer.is_none()).count()
    }

    /// Queues `msg` for `id`; a full outbox marks it behind.
    pub fn send(&mut self, id: LinkId, msg: &StateMsg) {
        if let Some(slot) = self.slots.get_mut(&id)
            && slot.link.send_state(msg).is_err()
        {
            slot.behind = true;
        }
    }

    /// Queues `msg` for every peer that said hello and keeps up; one whose
    /// outbox is full is marked behind and catches up by sync later.
    pub fn broadcast(&mut self, msg: &StateMsg) {
        for slot in self.slots.values_mut().filter(|s| s.peer.is_some() && !s.behind) {
            if slot.link.send_state(msg).is_err() {
                tracing::info!(link = slot.link.id().0, "a peer is not keeping up; it will catch up by sync");
                slot.behind = true;
            }
        }
    }

    /// Links heard from too long ago: 10 s for a peer, 30 s before hello.
    pub fn silent(&self, now: Instant) -> Vec<LinkId> {
        let quiet = |s: &Slot| now.duration_since(s.heard) > if s.peer.is_some() { SILENT_FOR } else { NO_HELLO_FOR };
        self.slots.iter().filter(|(_, s)| quiet(s)).map(|(id, _)| *id).collect()
    }

    /// Links that were behind and whose outbox has room again: they start
    /// a fresh sync round.
    pub fn recovered(&mut self) -> Vec<LinkId> {
        let mut ids = Vec::new();
        for (id, slot) in self.slots.iter_mut().filter(|(_, s)| s.behind && s.link.outbox_room() > OUTBOX / 2) {
            slot.behind = false;
            slot.sync = SyncState::default();
            ids.push(*id);
        }
        ids
    }

    /// Links whose changes wait for a sync round.
    pub fn lacking(&self) -> Vec<LinkId> {
        self.slots.iter().filter(|(_, s)| !s.lacking.is_empty()).map(|(id, _)| *id).collect()
    }

    pub fn slots(&self) -> impl Iterator<Item = &Slot> {
        self.slots.values()
    }

    /// The links of peers that said hello, as the terminals use them.
    pub fn terminal_peers(&self) -> Vec<Peer<'_>> {
        self.slots.iter().filter_map(|(id, s)| s.peer.as_ref().map(|(p, _)| (*id, p, s.link.as_ref()))).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::mpsc;

    use super::*;
    use crate::link::memory::{self, MemLink, Side};
    use crate::link::{LinkEvent, LinkEventKind};

    /// A link to a peer whose engine takes at most `room` events.
    fn link(n: u64, room: usize) -> (Conn, MemLink, mpsc::Receiver<LinkEvent>) {
        let (mine, _) = mpsc::channel(1);
        let (theirs, events) = mpsc::channel(room);
        let (ours, far) = memory::pair(
            Side { id: LinkId(n), fingerprint: [1; 32], inbox: mine },
            Side { id: LinkId(100 + n), fingerprint: [2; 32], inbox: theirs },
        );
        (Arc::new(ours), far, events)
    }

    fn hello(links: &mut Links, id: u64, peer: &str) {
        links.get_mut(LinkId(id)).expect("slot").peer = Some((PeerId::try_from(peer.to_owned()).expect("id"), peer[..3].to_owned()));
    }

    #[test]
    fn only_peers_that_said_hello_get_broadcasts_and_a_full_one_falls_behind() {
        let mut links = Links::default();
        let (a, _fa, mut ea) = link(1, 16);
        let (b, _fb, _eb) = link(2, 1);
        let (c, _fc, mut ec) = link(3, 16);
        links.add(a);
        links.add(b);
        links.add(c);
        hello(&mut links, 1, "000000000000000a");
        hello(&mut links, 2, "000000000000000b");
        assert_eq!(links.pending(), 1);
        links.broadcast(&StateMsg::Ping(1));
        links.broadcast(&StateMsg::Ping(2));
        assert!(matches!(ea.try_recv().map(|e| e.kind), Ok(LinkEventKind::State(StateMsg::Ping(1)))));
        assert!(matches!(ea.try_recv().map(|e| e.kind), Ok(LinkEventKind::State(StateMsg::Ping(2)))));
        assert!(ec.try_recv().is_err(), "no hello, no broadcast");
        assert!(links.get(LinkId(2)).is_some_and(|s| s.behind), "its engine took one of two");
        assert!(!links.get(LinkId(1)).is_some_and(|s| s.behind));
    }

    #[test]
    fn peers_are_found_by_id_and_silent_links_are_named() {
        let mut links = Links::default();
        let (a, _fa, _ea) = link(1, 4);
        let (b, _fb, _eb) = link(2, 4);
        links.add(a);
        links.add(b);
        hello(&mut links, 1, "000000000000000a");
        let a_id = PeerId::try_from("000000000000000a".to_owned()).expect("id");
        assert_eq!(links.to_peer(&a_id, None), Some(LinkId(1)));
        assert_eq!(links.to_peer(&a_id, Some(LinkId(1))), None);
        assert_eq!(links.greeted_ids(), [LinkId(1)]);
        let now = Instant::now();
        assert!(links.silent(now).is_empty());
        let mut silent = links.silent(now + SILENT_FOR + Duration::from_millis(1));
        silent.sort();
        assert_eq!(silent, [LinkId(1)], "a peer that said hello is dropped sooner than one that has not yet");
        assert_eq!(links.silent(now + NO_HELLO_FOR + Duration::from_millis(1)).len(), 2);
    }
}
