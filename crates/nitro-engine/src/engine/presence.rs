//! Where the other peers are: the newest presence message of each, until it
//! goes stale. Positions stay encoded as Automerge cursors here and are
//! turned into offsets only when asked, so they are right after any edit.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::path::RelPath;
use crate::protocol::PeerId;
use crate::protocol::presence::PresenceMsg;

/// A peer that sent nothing for this long has left the presence table.
pub const STALE_AFTER: Duration = Duration::from_secs(5);
/// At most 60 updates a second leave a peer.
pub const MIN_INTERVAL: Duration = Duration::from_millis(16);
/// An unchanged presence is repeated this often, as a heartbeat.
pub const REPEAT_EVERY: Duration = Duration::from_secs(1);

/// One selection in UTF-16 code units; `anchor == head` for a caret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    pub anchor: usize,
    pub head: usize,
}

/// What this peer shows of itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalPresence {
    /// The file open in the editor.
    pub file: Option<RelPath>,
    pub selections: Vec<Selection>,
    pub typing: bool,
    /// The first line the editor shows (1-based).
    pub viewport_top: Option<u32>,
}

/// Where another peer is, resolved against this peer's document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerPresence {
    pub peer: PeerId,
    pub name: String,
    /// `#rrggbb`, from the roster.
    pub color: String,
    pub file: Option<RelPath>,
    pub selections: Vec<Selection>,
    pub typing: bool,
    pub viewport_top: Option<u32>,
}

/// This peer's own presence, paced: a change leaves at once when the last
/// message left at least [`MIN_INTERVAL`] ago, else when that much time has
/// passed; an unchanged one is repeated every [`REPEAT_EVERY`].
#[derive(Debug)]
pub struct Outgoing {
    msg: PresenceMsg,
    pending: bool,
    last: Instant,
}

impl Outgoing {
    pub fn new(now: Instant) -> Self {
        Self { msg: PresenceMsg::default(), pending: false, last: now }
    }

    /// Takes a new presence; it leaves when [`Self::due`] says so.
    pub fn set(&mut self, msg: PresenceMsg) {
        self.msg = PresenceMsg { seq: self.msg.seq, ..msg };
        self.pending = true;
    }

    /// When a change that waits may leave.
    pub fn wake_at(&self) -> Option<Instant> {
        self.pending.then_some(self.last + MIN_INTERVAL)
    }

    /// The message to send now, if one is due, under the next sequence
    /// number and `name`.
    pub fn due(&mut self, now: Instant, name: &str) -> Option<Vec<u8>> {
        let since = now.duration_since(self.last);
        if !(self.pending && since >= MIN_INTERVAL || since >= REPEAT_EVERY) {
            return None;
        }
        self.pending = false;
        self.last = now;
        self.msg.seq = self.msg.seq.wrapping_add(1);
        name.clone_into(&mut self.msg.name);
        Some(self.msg.encode())
    }
}

#[derive(Debug, Default)]
pub struct PresenceTable {
    entries: HashMap<PeerId, (PresenceMsg, Instant)>,
}

impl PresenceTable {
    /// Keeps `msg` if it is newer than what `peer` sent before; true then.
    pub fn update(&mut self, peer: PeerId, msg: PresenceMsg, now: Instant) -> bool {
        match self.entries.get_mut(&peer) {
            Some((old, _)) if old.seq >= msg.seq => false,
            Some(entry) => {
                *entry = (msg, now);
                true
            }
            None => {
                self.entries.insert(peer, (msg, now));
                true
            }
        }
    }

    pub fn remove(&mut self, peer: &PeerId) -> bool {
        self.entries.remove(peer).is_some()
    }

    /// Drops the entries not refreshed within [`STALE_AFTER`].
    pub fn expire(&mut self, now: Instant) -> Vec<PeerId> {
        let stale: Vec<PeerId> = self.entries.iter().filter(|(_, (_, at))| now.duration_since(*at) > STALE_AFTER).map(|(p, _)| p.clone()).collect();
        for p in &stale {
            self.entries.remove(p);
        }
        stale
    }

    pub fn iter(&self) -> impl Iterator<Item = (&PeerId, &PresenceMsg)> {
        self.entries.iter().map(|(p, (m, _))| (p, m))
    }

    pub fn get(&self, peer: &PeerId) -> Option<&PresenceMsg> {
        self.entries.get(peer).map(|(m, _)| m)
    }
}

/// A color for a peer that has none in the roster yet, the same on every
/// peer; no two of them are alike at a glance.
pub fn default_color(peer: &PeerId) -> String {
    const PALETTE: [&str; 10] = ["#e06c75", "#61afef", "#98c379", "#c678dd", "#e5c07b", "#56b6c2", "#d19a66", "#f472b6", "#7f848e", "#8b80f9"];
    let sum: usize = peer.as_str().bytes().map(usize::from).sum();
    PALETTE[sum % PALETTE.len()].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_wins_and_stale_entries_expire() {
        let now = Instant::now();
        let peer = PeerId::random();
        let msg = |seq| PresenceMsg { seq, name: "a".into(), ..Default::default() };
        let mut t = PresenceTable::default();
        assert!(t.update(peer.clone(), msg(5), now));
        assert!(!t.update(peer.clone(), msg(3), now), "a late datagram does not win");
        assert!(!t.update(peer.clone(), msg(5), now));
        assert!(t.update(peer.clone(), msg(6), now));
        assert_eq!(t.get(&peer).map(|m| m.seq), Some(6));
        assert!(t.expire(now + STALE_AFTER / 2).is_empty());
        assert_eq!(t.expire(now + STALE_AFTER * 2), vec![peer.clone()]);
        assert!(t.get(&peer).is_none());
    }

    #[test]
    fn a_burst_of_changes_leaves_at_sixty_a_second_and_silence_as_a_heartbeat() {
        let t0 = Instant::now();
        let mut out = Outgoing::new(t0);
        let typing = |t: bool| PresenceMsg { typing: t, ..Default::default() };
        out.set(typing(true));
        let first = out.due(t0 + MIN_INTERVAL, "ada").expect("the first change leaves");
        assert_eq!(PresenceMsg::decode(&first).map(|m| (m.seq, m.name, m.typing)), Ok((1, "ada".into(), true)));
        // Changes within the interval wait, the newest wins.
        out.set(typing(false));
        out.set(typing(true));
        let soon = t0 + MIN_INTERVAL + Duration::from_millis(5);
        assert_eq!(out.due(soon, "ada"), None);
        assert_eq!(out.wake_at(), Some(t0 + MIN_INTERVAL * 2));
        let second = out.due(t0 + MIN_INTERVAL * 2, "ada").expect("then it leaves");
        assert_eq!(PresenceMsg::decode(&second).map(|m| (m.seq, m.typing)), Ok((2, true)));
        assert_eq!(out.wake_at(), None);
        // Nothing new: a heartbeat a second later, not before.
        assert_eq!(out.due(t0 + MIN_INTERVAL * 3, "ada"), None);
        let beat = out.due(t0 + MIN_INTERVAL * 2 + REPEAT_EVERY, "ada").expect("heartbeat");
        assert_eq!(PresenceMsg::decode(&beat).map(|m| m.seq), Ok(3));
    }
}
