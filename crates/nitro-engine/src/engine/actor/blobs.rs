//! Texts of files nobody has edited travel as plain bytes named by their
//! hash (PROTOCOL.md §5.5), not as Automerge documents: a peer asks its
//! neighbors for the texts it lacks, a window of them at a time per
//! neighbor, and writes each file as its text arrives.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::Actor;
use crate::link::LinkId;
use crate::protocol::StateMsg;
use crate::protocol::limits::MAX_WANT;

/// Asked of one neighbor and not yet received, at most.
const WINDOW_BYTES: u64 = 8 * 1024 * 1024;
const WINDOW_COUNT: usize = 512;
/// A text asked for and not received by then is asked of someone else.
const ASK_AGAIN: Duration = Duration::from_secs(10);
/// A Blobs message carries texts up to about this many bytes.
const BLOBS_MESSAGE: usize = 256 * 1024;

/// The texts this peer is fetching.
#[derive(Debug, Default)]
pub struct Fetch {
    /// Needed and not yet asked for: hash and size.
    queue: VecDeque<(String, u64)>,
    /// Asked for: of whom, when, and the size.
    asked: HashMap<String, (LinkId, Instant, u64)>,
    /// Neighbors that said they lack a text, since the last refresh.
    lacking: HashMap<String, HashSet<LinkId>>,
    /// When texts last arrived from each neighbor: a slow one is not asked
    /// again while its answers are still coming.
    progress: HashMap<LinkId, Instant>,
}

impl Fetch {
    /// Nothing needed, nothing on its way.
    pub fn idle(&self) -> bool {
        self.queue.is_empty() && self.asked.is_empty()
    }
}

impl Actor {
    /// Looks again at which texts this peer needs (after the tree changed,
    /// and now and then to ask again what did not come), and asks for them.
    pub(super) fn refresh_wanted(&mut self) {
        if self.fs.is_none() {
            return;
        }
        let now = Instant::now();
        let (links, progress) = (&self.links, &self.fetch.progress);
        self.fetch.asked.retain(|_, (link, at, _)| {
            let last = progress.get(link).map_or(*at, |p| (*p).max(*at));
            links.contains(*link) && now.duration_since(last) < ASK_AGAIN
        });
        self.fetch.progress.retain(|link, _| links.contains(*link));
        let asked = &self.fetch.asked;
        self.fetch.queue = self.ws.wanted().into_iter().filter(|(h, _)| !asked.contains_key(h)).collect();
        self.fetch.lacking.clear();
        self.ask_blobs();
        self.fetch_settled();
    }

    /// Once nothing is on its way (what is left, no neighbor has), a
    /// joiner's first sync is over; files still unwritten are counted in
    /// the sync status and written when some peer that has them connects.
    fn fetch_settled(&mut self) {
        if !self.fetch.asked.is_empty() {
            return;
        }
        if !self.fetch.queue.is_empty() {
            tracing::debug!(texts = self.fetch.queue.len(), "no connected peer has the text of some files; they are written when one does");
        }
        self.finish_first_sync();
    }

    /// Fills each neighbor's window from the queue, once at most half of
    /// it is still on its way: one `Want` per half window, not one per
    /// `Blobs` that arrives (peers limit how often they may be asked).
    fn ask_blobs(&mut self) {
        let mut links: Vec<LinkId> = self.links.greeted_ids();
        if links.is_empty() || self.fetch.queue.is_empty() {
            return;
        }
        links.sort_by_key(|l| l.0);
        let mut load: HashMap<LinkId, (usize, u64)> = links.iter().map(|l| (*l, (0, 0))).collect();
        for (link, _, size) in self.fetch.asked.values() {
            if let Some(l) = load.get_mut(link) {
                l.0 += 1;
                l.1 += size;
            }
        }
        load.retain(|_, (count, bytes)| *count <= WINDOW_COUNT / 2 && *bytes <= WINDOW_BYTES / 2);
        let now = Instant::now();
        let mut asks: HashMap<LinkId, Vec<String>> = HashMap::new();
        let mut later = VecDeque::new();
        while let Some((hash, size)) = self.fetch.queue.front().cloned() {
            let lacking = self.fetch.lacking.get(&hash);
            let untried: Vec<LinkId> = links.iter().filter(|l| lacking.is_none_or(|t| !t.contains(l))).copied().collect();
            if untried.is_empty() {
                // Nobody connected has it now: asked again at the next refresh.
                later.extend(self.fetch.queue.pop_front());
                continue;
            }
            // The least loaded neighbor with room.
            let room = |l: &&LinkId| load.get(*l).is_some_and(|(count, bytes)| *count < WINDOW_COUNT && *bytes < WINDOW_BYTES);
            let Some(link) = untried.iter().filter(room).min_by_key(|l| load[l].1).copied() else {
                break;
            };
            self.fetch.queue.pop_front();
            if let Some(l) = load.get_mut(&link) {
                l.0 += 1;
                l.1 += size.max(1);
            }
            self.fetch.asked.insert(hash.clone(), (link, now, size));
            asks.entry(link).or_default().push(hash);
        }
        for (link, hashes) in asks {
            for chunk in hashes.chunks(MAX_WANT) {
                self.send(link, &StateMsg::Want(chunk.to_vec()));
            }
        }
        self.fetch.queue.extend(later);
    }

    /// A neighbor lacks texts we asked it for: someone else is asked.
    pub(super) fn on_lacks(&mut self, id: LinkId, hashes: Vec<String>) {
        for hash in hashes {
            if let Some((link, _, size)) = self.fetch.asked.get(&hash).copied()
                && link == id
            {
                self.fetch.asked.remove(&hash);
                self.fetch.lacking.entry(hash.clone()).or_default().insert(id);
                self.fetch.queue.push_front((hash, size));
            }
        }
        self.ask_blobs();
        self.fetch_settled();
    }

    /// A neighbor asked for texts: those this peer has go back in Blobs
    /// messages of about [`BLOBS_MESSAGE`] bytes.
    pub(super) fn on_want(&mut self, id: LinkId, hashes: Vec<String>) {
        let have = self.ws.blobs(&hashes);
        let found: HashSet<&str> = have.iter().map(|(h, _)| h.as_str()).collect();
        let lacks: Vec<String> = hashes.iter().filter(|h| !found.contains(h.as_str())).cloned().collect();
        let mut batch = Vec::new();
        let mut bytes = 0;
        for (hash, text) in have {
            bytes += text.len();
            batch.push((hash, text));
            if bytes >= BLOBS_MESSAGE {
                self.send(id, &StateMsg::Blobs(std::mem::take(&mut batch)));
                bytes = 0;
            }
        }
        if !batch.is_empty() {
            self.send(id, &StateMsg::Blobs(batch));
        }
        if !lacks.is_empty() {
            self.send(id, &StateMsg::Lacks(lacks));
        }
    }

    pub(super) fn on_blobs(&mut self, id: LinkId, blobs: Vec<(String, String)>) {
        self.fetch.progress.insert(id, Instant::now());
        for (hash, text) in blobs {
            self.fetch.asked.remove(&hash);
            self.ws.add_blob(hash, text);
        }
        self.ask_blobs();
        self.fetch_settled();
    }
}
