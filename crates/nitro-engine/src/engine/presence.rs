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

/// A color for a peer that has none in the roster yet, the same on every peer.
pub fn default_color(peer: &PeerId) -> String {
    const PALETTE: [&str; 10] = ["#e06c75", "#61afef", "#98c379", "#c678dd", "#e5c07b", "#56b6c2", "#d19a66", "#be5046", "#7f848e", "#4aa5f0"];
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
}
