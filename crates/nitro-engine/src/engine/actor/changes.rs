//! How documents travel between peers: live changes as they are made, in
//! batches of everything queued at once; sync rounds when a peer connects,
//! falls behind, or sent changes that build on ones this peer lacks.

use std::collections::VecDeque;
use std::time::Instant;

use super::{Actor, CATCH_UP_EVERY, EVENTS_SLICE};
use crate::engine::Leaving;

/// Change messages applied together at most: enough to make one apply of
/// a burst of keystrokes, few enough that one apply stays short.
const GATHER: usize = 32;
/// Bytes of changes applied together at most (past the first message),
/// and sent in one Changes message at most (past the first change):
/// applying costs with the bytes, and a mass change on a peer's disk makes
/// changes of hundreds of files at once, which would otherwise hold the
/// receiver's loop in one apply for a large part of it.
const GATHER_BYTES: usize = 64 * 1024;
use crate::doc::{Decoded, DocKey, Touched, WorkspaceDoc};
use crate::link::{LinkEvent, LinkEventKind, LinkId};
use crate::protocol::StateMsg;
use crate::protocol::limits::SYNC_MESSAGE;
use crate::protocol::wire::Keyed;
use crate::rate::Verdict;

impl Actor {
    /// Handles queued link events for about one slice of time; what is
    /// left waits for the next turn of the loop, so that a flood of
    /// changes from one peer never keeps the others unanswered for long.
    pub(super) fn handle_events(&mut self, queue: &mut VecDeque<LinkEvent>) {
        let start = Instant::now();
        while start.elapsed() < EVENTS_SLICE
            && let Some(ev) = queue.pop_front()
        {
            if let LinkEventKind::State(StateMsg::Changes(_)) = ev.kind {
                // Gather every change message queued behind this one.
                let mut batches: Vec<(LinkId, Decoded)> = Vec::new();
                let mut rest = VecDeque::new();
                let mut early = Vec::new();
                // Changes behind a new word of the host are judged by it: the
                // batch ends there.
                let mut ended = false;
                let mut bytes = 0;
                for e in std::iter::once(ev).chain(queue.drain(..)) {
                    // A batch is bounded too: the rest is the next slice's.
                    ended |= matches!(e.kind, LinkEventKind::State(StateMsg::Membership(_))) || batches.len() >= GATHER || bytes >= GATHER_BYTES;
                    if ended {
                        rest.push_back(e);
                        continue;
                    }
                    match e.kind {
                        LinkEventKind::State(StateMsg::Changes(c)) if self.links.said_hello(e.link) => {
                            self.links.heard(e.link);
                            bytes += c.iter().map(|(_, b)| b.len()).sum::<usize>();
                            match WorkspaceDoc::decode_changes(from_wire(c)) {
                                Ok(mut d) => {
                                    // A peer the host does not let edit changes nothing here.
                                    if !self.link_access(e.link).may_edit() && self.ws.doc().keep_base_only(&mut d) > 0 {
                                        tracing::warn!(link = e.link.0, "refused changes from a peer that may not edit");
                                    }
                                    if !d.is_empty() {
                                        batches.push((e.link, d));
                                    }
                                }
                                Err(err) => self.drop_link(e.link, Leaving::Dropped(format!("sent a change that does not decode ({err})"))),
                            }
                        }
                        // From a link that has not said hello, or is gone:
                        // handled on its own (never queued again).
                        LinkEventKind::State(StateMsg::Changes(_)) => early.push(e),
                        _ => rest.push_back(e),
                    }
                }
                *queue = rest;
                self.apply_batches(batches);
                for e in early {
                    self.handle_event(e);
                }
                continue;
            }
            self.handle_event(ev);
        }
    }

    /// Applies the changes of several peers in one call; if that fails,
    /// each peer's on its own, and a peer whose changes cannot be applied is
    /// dropped: one bad change never costs the others' edits.
    fn apply_batches(&mut self, mut batches: Vec<(LinkId, Decoded)>) {
        batches.retain(|(link, _)| self.links.contains(*link));
        if batches.len() == 1 {
            // The common case, one sender: nothing to keep for a retry.
            let Some((link, d)) = batches.pop() else { return };
            match self.ws.doc().apply_decoded(vec![d]) {
                Ok(touched) => {
                    self.catch_up(&[link], &touched);
                    self.apply_remote(&touched);
                }
                Err(e) => self.drop_link(link, Leaving::Dropped(format!("sent a change that cannot be applied ({e})"))),
            }
            return;
        }
        if batches.is_empty() {
            return;
        }
        let all = batches.iter().map(|(_, d)| d.clone()).collect();
        let links: Vec<LinkId> = batches.iter().map(|(l, _)| *l).collect();
        match self.ws.doc().apply_decoded(all) {
            Ok(touched) => {
                self.catch_up(&links, &touched);
                self.apply_remote(&touched);
            }
            Err(_) => {
                let mut touched = Touched::default();
                for (link, d) in batches {
                    match self.ws.doc().apply_decoded(vec![d]) {
                        Ok(t) => {
                            self.catch_up(&[link], &t);
                            touched.merge(t);
                        }
                        Err(e) => self.drop_link(link, Leaving::Dropped(format!("sent a change that cannot be applied ({e})"))),
                    }
                }
                self.apply_remote(&touched);
            }
        }
    }

    /// Changes from `links` that build on changes this peer lacks were left
    /// out: a sync round of those documents brings them (at most one a
    /// second per peer while more such changes keep coming; the tick starts
    /// the one that had to wait).
    fn catch_up(&mut self, links: &[LinkId], touched: &Touched) {
        for link in links {
            if let Some(slot) = self.links.get_mut(*link) {
                slot.lacking.extend(touched.incomplete.iter().cloned());
            }
        }
        self.catch_up_due(links);
    }

    /// Counts a sync message of `id` that brought changes whose
    /// dependencies never came; false once it did so too often (an honest
    /// peer does only by chance: its summary of what this peer holds is a
    /// Bloom filter).
    fn strike(&mut self, id: LinkId) -> bool {
        self.links.get_mut(id).is_some_and(|s| s.strikes.check(Instant::now()) == Verdict::Take)
    }

    pub(super) fn catch_up_due(&mut self, links: &[LinkId]) {
        let now = Instant::now();
        for link in links {
            let Some(slot) = self.links.get_mut(*link) else { continue };
            if slot.lacking.is_empty() || slot.caught_up.is_some_and(|at| now.duration_since(at) < CATCH_UP_EVERY) {
                continue;
            }
            slot.caught_up = Some(now);
            let docs = std::mem::take(&mut slot.lacking);
            slot.sync.restart(&docs);
            self.send_sync(*link);
        }
    }

    /// One message of a sync round: what it brings is applied, and the
    /// round goes on.
    pub(super) fn on_sync(&mut self, id: LinkId, items: Keyed) {
        let only_base = !self.link_access(id).may_edit();
        let items = from_wire(items);
        if let Err(e) = self.ws.doc().check_room(items.iter().map(|(key, _)| key)) {
            self.drop_link(id, Leaving::Dropped(format!("sent a sync message that was refused ({e})")));
            return;
        }
        let result = {
            let Some(sync) = self.links.get_mut(id).map(|s| &mut s.sync) else {
                return;
            };
            let mut touched = Touched::default();
            let mut result = Ok(());
            for (key, m) in items {
                match self.ws.doc().receive_sync_from(sync, &key, &m, only_base) {
                    Ok(t) => touched.merge(t),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            (touched, result)
        };
        match result {
            (touched, Ok(())) => {
                self.repaired(id, &touched);
                if !touched.incomplete.is_empty() && !self.strike(id) {
                    self.apply_remote(&touched);
                    self.drop_link(id, Leaving::Dropped("sent changes whose dependencies never came, again and again".into()));
                    return;
                }
                self.catch_up(&[id], &touched);
                self.apply_remote(&touched);
                self.send_sync(id);
                self.check_first_sync(id);
            }
            (touched, Err(e)) => {
                // What its message brought before the bad part stays.
                self.apply_remote(&touched);
                self.drop_link(id, Leaving::Dropped(format!("sent a sync message that was refused ({e})")));
            }
        }
    }

    pub(super) fn send_sync(&mut self, id: LinkId) {
        let msg = {
            let Some(slot) = self.links.get_mut(id) else {
                return;
            };
            let sync = &mut slot.sync;
            self.ws.doc().generate_sync(sync)
        };
        for part in split(to_wire(msg), SYNC_MESSAGE) {
            self.send(id, &StateMsg::Sync(part));
        }
    }

    /// Sends local changes to every peer that said hello.
    pub(super) fn flush(&mut self) {
        let Some(changes) = self.ws.doc().take_changes() else {
            return;
        };
        self.saving.changed();
        for part in split(to_wire(changes), GATHER_BYTES) {
            self.links.broadcast(&StateMsg::Changes(part));
        }
    }
}

/// Document keys as the wire spells them.
fn to_wire(items: Vec<(DocKey, Vec<u8>)>) -> Keyed {
    items.into_iter().map(|(k, b)| (k.to_wire().to_owned(), b)).collect()
}

/// Items as messages of at most `limit` bytes each (one item alone may be
/// larger), in order. A sync round is split at [`SYNC_MESSAGE`], so no
/// message nears the receiver's [`crate::protocol::limits::MAX_MESSAGE`].
fn split(items: Keyed, limit: usize) -> Vec<Keyed> {
    let mut out: Vec<Keyed> = Vec::new();
    let mut size = 0;
    for item in items {
        let len = item.0.len() + item.1.len() + 5;
        match out.last_mut() {
            Some(last) if size + len <= limit => last.push(item),
            _ => {
                out.push(vec![item]);
                size = 0;
            }
        }
        size += len;
    }
    out
}

/// Keys the wire already checked; one that names no document is dropped.
fn from_wire(items: Keyed) -> Vec<(DocKey, Vec<u8>)> {
    items.into_iter().filter_map(|(k, b)| Some((DocKey::from_wire(&k)?, b))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_sync_round_is_split_under_the_message_limit() {
        let items: Keyed = (0..40).map(|i| (format!("f{i}"), vec![0; 512 * 1024])).collect();
        let parts = split(items.clone(), SYNC_MESSAGE);
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| StateMsg::Sync(p.clone()).encode().len() <= SYNC_MESSAGE + 16));
        assert_eq!(parts.concat(), items);
        assert!(split(Vec::new(), SYNC_MESSAGE).is_empty());
    }

    /// A mass change's changes leave as several messages, in order, each
    /// small enough that a receiver applies it without holding its loop.
    #[test]
    fn many_changes_leave_in_pieces_a_receiver_applies_one_by_one() {
        let items: Keyed = (0..300).map(|i| (format!("f{i}"), vec![1; 900])).collect();
        let parts = split(items.clone(), GATHER_BYTES);
        assert!(parts.len() >= 4, "{} parts", parts.len());
        assert!(parts.iter().all(|p| p.iter().map(|(k, b)| k.len() + b.len() + 5).sum::<usize>() <= GATHER_BYTES));
        assert_eq!(parts.concat(), items);
    }
}
