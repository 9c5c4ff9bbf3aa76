//! Who connects to whom, so that every pair of peers in a session ends up
//! with a direct connection.
//!
//! Each peer tells its neighbors which peers it is connected to (`Peers`).
//! A peer that hears of one it is not connected to offers a connection if
//! its own id is the smaller of the two (so exactly one side offers), and the
//! offer and answer travel through the neighbor that told it (`Relay`). After
//! the first handshake with the host no signaling server is needed.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::link::LinkId;
use crate::protocol::PeerId;
use crate::protocol::limits::MAX_DIALING;
use crate::protocol::wire::PeerEntry;

/// An offer not answered and connected within this time is given up and
/// made again.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug)]
pub struct Mesh {
    me: PeerId,
    /// What each connected neighbor last said about its own connections
    /// (forgotten when its link drops).
    heard: HashMap<PeerId, Vec<PeerEntry>>,
    /// Offers made and not yet connected: the link carrying each, and when.
    dialing: HashMap<PeerId, (LinkId, Instant)>,
    /// Offers from others being answered, until their link exists.
    answering: HashMap<LinkId, Instant>,
}

impl Mesh {
    pub fn new(me: PeerId) -> Self {
        Self { me, heard: HashMap::new(), dialing: HashMap::new(), answering: HashMap::new() }
    }

    pub fn heard(&mut self, neighbor: PeerId, peers: Vec<PeerEntry>) {
        self.heard.insert(neighbor, peers);
    }

    /// A neighbor's connection is gone: what it said no longer holds.
    pub fn forget(&mut self, neighbor: &PeerId) {
        self.heard.remove(neighbor);
    }

    /// A connection to `peer` is up: stop dialing it.
    pub fn connected(&mut self, peer: &PeerId) {
        self.dialing.remove(peer);
    }

    /// Peers to offer a connection to now (those in `skip` left out: the
    /// connected ones, mostly), each with the neighbor that can carry the
    /// offer. Dials older than [`DIAL_TIMEOUT`] are returned in
    /// `expired` (their links should be closed) and made again.
    pub fn due(&mut self, skip: &HashSet<PeerId>, now: Instant) -> (Vec<(PeerId, PeerId)>, Vec<LinkId>) {
        let mut expired = Vec::new();
        self.dialing.retain(|_, (link, since)| {
            let alive = now.duration_since(*since) < DIAL_TIMEOUT;
            if !alive {
                expired.push(*link);
            }
            alive
        });
        let mut dial: Vec<(PeerId, PeerId)> = Vec::new();
        for (via, peers) in &self.heard {
            for e in peers {
                let p = &e.peer;
                if *p != self.me && self.me < *p && !skip.contains(p) && !self.dialing.contains_key(p) && !dial.iter().any(|(d, _)| d == p) {
                    dial.push((p.clone(), via.clone()));
                }
            }
        }
        dial.sort();
        // Neighbors may name peers that never answer: only so many offers
        // are out at once.
        dial.truncate(MAX_DIALING.saturating_sub(self.dialing.len()));
        (dial, expired)
    }

    pub fn dialing(&mut self, peer: PeerId, link: LinkId, now: Instant) {
        self.dialing.insert(peer, (link, now));
    }

    /// An offer from another peer is being answered on `link`.
    pub fn answering(&mut self, link: LinkId, now: Instant) {
        self.answering.insert(link, now);
    }

    /// A link now exists (answered offers among them).
    pub fn added(&mut self, link: LinkId) {
        self.answering.remove(&link);
    }

    /// Offers being answered whose link does not exist yet (answers that
    /// failed are forgotten after [`DIAL_TIMEOUT`]).
    pub fn answers_pending(&mut self, now: Instant) -> usize {
        self.answering.retain(|_, since| now.duration_since(*since) < DIAL_TIMEOUT);
        self.answering.len()
    }

    /// The link of our pending offer to `peer`, when its answer arrives.
    pub fn answer_for(&self, peer: &PeerId) -> Option<LinkId> {
        self.dialing.get(peer).map(|(l, _)| *l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> PeerId {
        PeerId::try_from(format!("{:016x}", n)).expect("valid id")
    }

    fn entry(n: u8) -> PeerEntry {
        PeerEntry { peer: id(n), name: format!("p{n}") }
    }

    #[test]
    fn only_the_smaller_id_dials_and_only_through_a_connected_neighbor() {
        let now = Instant::now();
        let mut m = Mesh::new(id(5));
        m.heard(id(1), vec![entry(3), entry(7), entry(9), entry(5)]);
        let connected = HashSet::from([id(1)]);
        let (dial, expired) = m.due(&connected, now);
        // Peer 3 has the smaller id: it dials us, not we it.
        assert_eq!(dial, vec![(id(7), id(1)), (id(9), id(1))]);
        assert!(expired.is_empty());

        m.dialing(id(7), LinkId(1), now);
        let (dial, _) = m.due(&connected, now);
        assert_eq!(dial, vec![(id(9), id(1))]);
        let skip = HashSet::from([id(1), id(9)]);
        assert!(m.due(&skip, now).0.is_empty());
        assert_eq!(m.answer_for(&id(7)), Some(LinkId(1)));

        // A neighbor that left cannot carry offers.
        m.forget(&id(1));
        assert!(m.due(&HashSet::new(), now).0.is_empty());
    }

    #[test]
    fn a_dial_that_never_connects_is_retried() {
        let now = Instant::now();
        let mut m = Mesh::new(id(1));
        m.heard(id(2), vec![entry(3)]);
        let connected = HashSet::from([id(2)]);
        m.dialing(id(3), LinkId(9), now);
        let (dial, expired) = m.due(&connected, now + DIAL_TIMEOUT + Duration::from_secs(1));
        assert_eq!(expired, vec![LinkId(9)]);
        assert_eq!(dial, vec![(id(3), id(2))]);
        m.connected(&id(3));
        assert_eq!(m.answer_for(&id(3)), None);
    }
}

#[cfg(test)]
mod limits {
    use super::*;

    /// A neighbor that names hundreds of made-up peers.
    #[test]
    fn only_so_many_offers_are_out_at_once() {
        let now = Instant::now();
        let me = PeerId::try_from("0000000000000000".to_owned()).expect("id");
        let via = PeerId::try_from("0000000000000001".to_owned()).expect("id");
        let mut m = Mesh::new(me);
        let made_up: Vec<PeerEntry> =
            (2..300u32).map(|n| PeerEntry { peer: PeerId::try_from(format!("{n:016x}")).expect("id"), name: "x".into() }).collect();
        m.heard(via.clone(), made_up);
        let skip = HashSet::from([via]);
        let (dial, _) = m.due(&skip, now);
        assert_eq!(dial.len(), MAX_DIALING);
        for (i, (peer, _)) in dial.into_iter().enumerate() {
            m.dialing(peer, LinkId(i as u64), now);
        }
        assert!(m.due(&skip, now).0.is_empty());
        // Answers in flight count until their link exists, or time runs out.
        m.answering(LinkId(900), now);
        assert_eq!(m.answers_pending(now), 1);
        m.added(LinkId(900));
        m.answering(LinkId(901), now);
        assert_eq!(m.answers_pending(now + DIAL_TIMEOUT), 0);
    }
}
