//! Peers compare what they hold. Every few seconds each peer sends each
//! neighbor a digest of its documents' heads; a neighbor whose digest still
//! differs from ours once changes have had time to arrive gets a fresh sync
//! round, which brings each side whatever it lacks (a change that reached
//! only some peers, say, because two of them could not connect directly).

use std::time::{Duration, Instant};

use super::Actor;
use crate::doc::Touched;
use crate::link::LinkId;
use crate::protocol::StateMsg;
use crate::protocol::wire::Digest;

/// How often each peer sends its digest.
pub const DIGEST_EVERY: Duration = Duration::from_secs(2);
/// How long digests may differ (changes in flight) before a resync.
const SETTLE: Duration = Duration::from_secs(5);

/// What one neighbor's digests said of our workspace.
#[derive(Debug, Default)]
pub struct Check {
    /// Whether its last digest equals ours; `None` before the first.
    agrees: Option<bool>,
    /// Since when its digests have differed from ours.
    differs_since: Option<Instant>,
    /// A resync is under way because of a lasting difference.
    repairing: bool,
}

impl Actor {
    pub(super) fn send_digests(&mut self) {
        let digest = self.ws.doc().digest();
        let ids: Vec<LinkId> = self.links.greeted_ids();
        for id in ids {
            self.send(id, &StateMsg::Digest(digest));
        }
    }

    pub(super) fn on_digest(&mut self, id: LinkId, theirs: Digest) {
        let mine = self.ws.doc().digest();
        let now = Instant::now();
        let Some(slot) = self.links.get_mut(id) else { return };
        let name = slot.peer.as_ref().map(|(_, n)| n.clone()).unwrap_or_default();
        let check = &mut slot.check;
        if mine == theirs {
            check.agrees = Some(true);
            check.differs_since = None;
            check.repairing = false;
        } else {
            let since = *check.differs_since.get_or_insert(now);
            // One differing digest is usually a change in flight: shown
            // only when the next one differs too.
            if now.duration_since(since) >= DIGEST_EVERY {
                check.agrees = Some(false);
            }
            // Not while changes to it are still queued here.
            if now.duration_since(since) >= SETTLE && slot.link.backlog() == 0 && !slot.behind {
                let what = match (mine.tree == theirs.tree, mine.files == theirs.files) {
                    (false, false) => "the file tree and file contents",
                    (false, true) => "the file tree",
                    _ => "file contents",
                };
                tracing::error!(peer = %name, differs = what, "workspace still differs from a peer's after changes settled; syncing again");
                check.differs_since = Some(now);
                check.repairing = true;
                slot.sync = Default::default();
                self.send_sync(id);
            }
        }
        self.report_status();
    }

    /// A sync round on `id` brought changes: when it was a repair, what was
    /// missing here is an error worth reporting (it should never happen).
    pub(super) fn repaired(&mut self, id: LinkId, touched: &Touched) {
        let Some(slot) = self.links.get(id) else { return };
        if !slot.check.repairing || touched.is_empty() {
            return;
        }
        let name = slot.peer.as_ref().map(|(_, n)| n.as_str()).unwrap_or_default();
        let files: Vec<String> = self.ws.paths_of(&touched.texts).iter().map(ToString::to_string).collect();
        tracing::error!(
            peer = %name,
            tree = touched.tree,
            ?files,
            "this peer lacked changes another peer held; a resync brought them"
        );
    }

    /// Tells the user when whether we agree with each peer changed.
    pub(super) fn report_status(&mut self) {
        let mut status = super::SyncStatus { unwritten: self.ws.unwritten(), ..Default::default() };
        for slot in self.links.slots() {
            let Some((_, name)) = &slot.peer else { continue };
            match slot.check.agrees {
                Some(true) => status.in_sync.push(name.clone()),
                Some(false) => status.differing.push(name.clone()),
                None => {}
            }
        }
        status.in_sync.sort();
        status.differing.sort();
        if status != self.status {
            tracing::info!("{status}");
            self.status = status.clone();
            let _ = self.events.send(super::EngineEvent::Sync(status));
        }
    }
}
