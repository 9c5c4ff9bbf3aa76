//! The actor's side of membership: for the host, its door (offers,
//! approval, links) and its word (roles); for every peer, taking the
//! host's word in, passing it on, and closing the links it puts out.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{Actor, Door};
use crate::engine::admission;
use crate::engine::membership::Access;
use crate::engine::{EngineError, EngineEvent, Invites, Leaving, handshake, state};
use crate::link::LinkId;
use crate::protocol::limits::MAX_PENDING_LINKS;
use crate::protocol::membership::{MembershipError, Role};
use crate::protocol::{Invite, PeerId, StateMsg};
use crate::signal::Envelope;

impl Actor {
    /// What the host lets this peer do.
    pub(super) fn access(&self) -> Access {
        self.members.access(&self.me)
    }

    /// What the host lets the peer behind `id` do.
    pub(super) fn link_access(&self, id: LinkId) -> Access {
        self.links.peer(id).map_or(Access::Stranger, |p| self.members.access(p))
    }

    /// Whether this peer's own changes count: by the host's word, or, before
    /// any word reached it (a session from before roles), as they always did.
    pub(super) fn may_edit_here(&self) -> bool {
        self.members.word().is_none() || self.access().may_edit()
    }

    /// Changes this peer makes reach nobody when it may not edit.
    pub(super) fn read_only(&self) -> Result<(), EngineError> {
        if self.may_edit_here() { Ok(()) } else { Err(EngineError::ReadOnly) }
    }

    /// An offer published on the host's topic. While too many connections
    /// are being set up it is left for its next copy, undecided.
    pub(super) fn on_offer(&mut self, env: Envelope) {
        if self.answering.load(Ordering::Relaxed) >= MAX_PENDING_LINKS {
            tracing::warn!(peer = %env.from, "ignored an offer for now: too many connections are still being set up");
            return;
        }
        let Some(door) = self.door.as_mut() else { return };
        let decided = door.admission.offer(env, &self.members, &self.local.links.identity, &self.me, Instant::now());
        self.open_door(decided);
    }

    fn open_door(&mut self, decided: admission::Door) {
        match decided {
            admission::Door::Ignore => {}
            admission::Door::Say(env) => self.publish(env),
            admission::Door::Ask(request) => {
                tracing::info!(peer = %request.peer, name = %request.name, "a joiner waits to be let in");
                let _ = self.events.send(EngineEvent::JoinRequest(request));
                // It hears at once that it waits, not after the next tick.
                self.door_tick();
            }
            admission::Door::Answer { plain, key, role } => {
                if let Some(role) = role
                    && let Err(e) = self.give_role(plain.peer.clone(), role)
                {
                    tracing::warn!(peer = %plain.peer, error = %e, "could not let a joiner in");
                    return;
                }
                let Some(tx) = self.door.as_ref().map(|d| d.signal.clone()) else { return };
                self.answering.fetch_add(1, Ordering::Relaxed);
                let (local, answering) = (self.local.clone(), self.answering.clone());
                self.tasks().spawn(async move {
                    let peer = plain.peer.clone();
                    if let Err(e) = handshake::answer(&local, &key, &tx, plain).await {
                        tracing::warn!(%peer, error = %e, "could not connect to a joiner");
                    }
                    answering.fetch_sub(1, Ordering::Relaxed);
                });
            }
        }
    }

    fn publish(&mut self, env: Envelope) {
        if let Some(door) = &self.door {
            let _ = door.signal.send(env);
        }
    }

    /// Joiners waiting for the host's user hear that it is still there;
    /// those that gave up are withdrawn.
    pub(super) fn door_tick(&mut self) {
        let Some(door) = self.door.as_mut() else { return };
        let (say, gone) = door.admission.tick(&self.local.links.identity, &self.me, Instant::now());
        for env in say {
            self.publish(env);
        }
        for peer in gone {
            let _ = self.events.send(EngineEvent::JoinWithdrawn { peer });
        }
    }

    pub(super) fn answer_join(&mut self, peer: &PeerId, allow: bool) -> Result<(), EngineError> {
        let door = self.door.as_mut().ok_or(EngineError::NotHost)?;
        let decided = door
            .admission
            .decide(peer, allow, &self.local.links.identity, &self.me, Instant::now())
            .ok_or_else(|| EngineError::NotAMember(peer.clone()))?;
        self.open_door(decided);
        Ok(())
    }

    pub(super) fn deny_waiting(&mut self) -> Result<Vec<PeerId>, EngineError> {
        let door = self.door.as_mut().ok_or(EngineError::NotHost)?;
        let (peers, denials) = door.admission.deny_all(&self.local.links.identity, &self.me, Instant::now());
        for decided in denials {
            self.open_door(decided);
        }
        Ok(peers)
    }

    /// The host gives a member another role, or removes it; a peer not yet
    /// in is let in ahead of its first offer (or kept out). A member put
    /// out, or made read-only, could come back under a new identity with
    /// the links it knows: those it could use are replaced.
    pub(super) fn set_role(&mut self, peer: PeerId, role: Role) -> Result<(), EngineError> {
        if *self.members.host() != self.me {
            return Err(EngineError::NotHost);
        }
        if peer == self.me {
            return Err(EngineError::NotAMember(peer));
        }
        let was = self.members.access(&peer);
        self.give_role(peer, role)?;
        if self.door.is_some() {
            match role {
                Role::Removed => drop(self.replace_links(true, true)?),
                Role::Viewer if was == Access::Editor => drop(self.replace_links(true, false)?),
                _ => {}
            }
        }
        Ok(())
    }

    /// The host's word changes: signed, saved, sent to every peer, obeyed here.
    fn give_role(&mut self, peer: PeerId, role: Role) -> Result<(), EngineError> {
        self.members.set(self.ws.sandbox(), &self.local.links.identity, peer, role)?;
        self.spread_membership(None);
        self.membership_changed();
        Ok(())
    }

    /// Replaces both invite links; old ones still let members back in.
    pub(super) fn new_links(&mut self) -> Result<Invites, EngineError> {
        self.replace_links(true, true)
    }

    fn replace_links(&mut self, edit: bool, view: bool) -> Result<Invites, EngineError> {
        let door = self.door.as_mut().ok_or(EngineError::NotHost)?;
        let withdrawn = door.admission.replace_links(edit, view);
        door.saved.set_secrets(door.admission.secrets());
        state::save_session(self.ws.sandbox(), &door.saved)?;
        let invites = door.invites();
        self.invites.send_replace(Some(invites.clone()));
        let _ = self.events.send(EngineEvent::LinksReplaced);
        // Joiners waiting with a replaced link are asked no more.
        for peer in withdrawn {
            let _ = self.events.send(EngineEvent::JoinWithdrawn { peer });
        }
        Ok(invites)
    }

    /// Sends the host's word to every peer (but `except`, which sent it).
    fn spread_membership(&mut self, except: Option<LinkId>) {
        let Some(word) = self.members.word().map(<[u8]>::to_vec) else { return };
        for id in self.links.greeted_ids().into_iter().filter(|id| Some(*id) != except) {
            self.send(id, &StateMsg::Membership(word.clone()));
        }
    }

    /// A peer that said hello gets the host's word before anything else.
    pub(super) fn send_membership(&mut self, id: LinkId) {
        if let Some(word) = self.members.word().map(<[u8]>::to_vec) {
            self.send(id, &StateMsg::Membership(word));
        }
    }

    pub(super) fn on_membership(&mut self, id: LinkId, bytes: &[u8]) {
        match self.members.take(self.ws.sandbox(), bytes) {
            Ok(true) => {
                self.spread_membership(Some(id));
                self.membership_changed();
            }
            Ok(false) => {}
            // The host's own word, too long to take: not the sender's fault.
            Err(e @ MembershipError::TooMany) => tracing::warn!(error = %e, "ignored the host's word"),
            Err(e) => self.drop_link(id, Leaving::Dropped(format!("passed on a membership the host did not sign ({e})"))),
        }
    }

    /// Obeys the host's new word: links of removed peers close, and this
    /// peer's own role takes effect.
    fn membership_changed(&mut self) {
        let removed: Vec<LinkId> = self.links.greeted().filter(|(_, p, _)| self.members.access(p) == Access::Removed).map(|(id, _, _)| id).collect();
        for id in removed {
            self.send(id, &StateMsg::Bye("removed from this session by the host".into()));
            self.drop_link_after(id, Leaving::Dropped("was removed by the host".into()), super::BYE_GRACE);
        }
        let now = self.access();
        self.ws.set_read_only(!self.may_edit_here());
        if now != self.access_was {
            tracing::info!(role = now.label(), "the host changed this peer's role");
            if now.may_edit() && self.fs.is_some() {
                // Now it may write its roster entry (a viewer has none).
                if let Err(e) = self.enroll(Access::Editor) {
                    tracing::warn!(error = %e, "could not write our roster entry");
                }
            }
            if !now.may_edit() {
                // Its shells are nobody's to type into any more.
                self.terms.close_all();
            }
            if now == Access::Removed {
                self.rejoin = None;
            }
            self.access_was = now;
        }
        let _ = self.events.send(EngineEvent::Membership);
    }
}

impl Door {
    /// Both links as they are now.
    pub(super) fn invites(&self) -> Invites {
        let secrets = self.admission.secrets();
        Invites {
            edit: Invite { secret: secrets.edit.clone(), view: false, ..self.invite.clone() },
            view: Invite { secret: secrets.view.clone(), view: true, ..self.invite.clone() },
        }
    }
}
