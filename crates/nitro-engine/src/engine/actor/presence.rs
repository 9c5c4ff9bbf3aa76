//! The actor's side of presence: sending ours at most 60 times a second
//! (and as a heartbeat), and keeping and resolving everyone else's.

use std::time::Instant;

use super::Actor;
use crate::doc::Version;
use crate::engine::presence::{LocalPresence, PeerPresence, Selection, default_color};
use crate::engine::{EngineError, EngineEvent};
use crate::link::LinkId;
use crate::protocol::PeerId;
use crate::protocol::presence::{PresenceMsg, WireSelection};

impl Actor {
    /// Takes this peer's new presence; offsets refer to the text of `base`
    /// (or the current text).
    pub(super) fn set_presence(&mut self, local: LocalPresence, base: Option<Version>) -> Result<(), EngineError> {
        let (file, selections) = match &local.file {
            None => (None, Vec::new()),
            Some(path) => {
                let id = self.ws.open_text(path)?;
                let mut sels = Vec::new();
                for s in local.selections.iter().take(crate::protocol::limits::MAX_SELECTIONS) {
                    let anchor = self.ws.doc().cursor(&id, s.anchor, base.as_ref())?;
                    let head = if s.head == s.anchor { anchor.clone() } else { self.ws.doc().cursor(&id, s.head, base.as_ref())? };
                    sels.push(WireSelection { anchor, head });
                }
                (Some(id.as_str().to_owned()), sels)
            }
        };
        self.outgoing.set(PresenceMsg { seq: 0, name: String::new(), typing: local.typing, file, selections, viewport: local.viewport_top });
        self.send_presence_if_due(Instant::now());
        Ok(())
    }

    /// Sends our presence to every peer when it is due
    /// ([`crate::engine::presence::Outgoing`]).
    pub(super) fn send_presence_if_due(&mut self, now: Instant) {
        let Some(bytes) = self.outgoing.due(now, &self.name) else {
            return;
        };
        for slot in self.links.slots().filter(|s| s.peer.is_some()) {
            slot.link.send_presence(bytes.clone());
        }
    }

    pub(super) fn on_presence(&mut self, link: LinkId, bytes: &[u8]) {
        let Some(peer) = self.links.peer(link).cloned() else {
            return;
        };
        match PresenceMsg::decode(bytes) {
            Ok(msg) => {
                if self.presence.update(peer.clone(), msg, Instant::now())
                    && let Some(p) = self.resolve_presence(&peer)
                {
                    let _ = self.events.send(EngineEvent::Presence(p));
                }
            }
            Err(e) => tracing::debug!(%peer, error = %e, "ignored a malformed presence message"),
        }
    }

    /// Another peer's presence with offsets into this peer's current texts.
    pub(super) fn resolve_presence(&self, peer: &PeerId) -> Option<PeerPresence> {
        let msg = self.presence.get(peer)?;
        let color = self.ws.roster_color(peer).unwrap_or_else(|| default_color(peer));
        let file = msg.file.as_deref().and_then(|f| self.ws.path_of_id(f));
        let mut selections = Vec::new();
        if let (Some(f), Some(_)) = (msg.file.as_deref(), &file) {
            for s in &msg.selections {
                if let (Some(anchor), Some(head)) = (self.ws.cursor_position(f, &s.anchor), self.ws.cursor_position(f, &s.head)) {
                    selections.push(Selection { anchor, head });
                }
            }
        }
        let name = self.shown_names().remove(peer).unwrap_or_else(|| msg.name.clone());
        Some(PeerPresence { peer: peer.clone(), name, color, file, selections, typing: msg.typing, viewport_top: msg.viewport })
    }

    pub(super) fn presences(&self) -> Vec<PeerPresence> {
        let mut all: Vec<PeerPresence> = self.presence.iter().filter_map(|(p, _)| self.resolve_presence(p)).collect();
        all.sort_by(|a, b| a.peer.cmp(&b.peer));
        all
    }

    pub(super) fn forget_presence(&mut self, peer: &PeerId) {
        if self.presence.remove(peer) {
            let _ = self.events.send(EngineEvent::PresenceGone { peer: peer.clone() });
        }
    }

    pub(super) fn expire_presence(&mut self, now: Instant) {
        for peer in self.presence.expire(now) {
            let _ = self.events.send(EngineEvent::PresenceGone { peer });
        }
    }
}
