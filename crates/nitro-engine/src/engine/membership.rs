//! The host's word on who is in the session, as this peer holds it: the
//! newest signed membership it has seen (kept in `.nitro/membership`, so a
//! peer that restarts while the host is away still knows who is in), and
//! for the host, the word it gives.
//!
//! Every peer decides from this word alone: whom it connects to, whose
//! changes and keystrokes it takes, and whether it may change anything
//! itself. Nobody but the host can sign it, so no member can give itself
//! or anyone else more.

use std::collections::BTreeMap;

use super::EngineError;
use crate::fs::Sandbox;
use crate::link::Identity;
use crate::protocol::limits::MAX_MEMBERS;
use crate::protocol::membership::{MembershipError, Role, Roles, SignedRoles};
use crate::protocol::{PeerId, SessionId};

const FILE: &str = "membership";

/// What a peer may do, by the host's word: the one vocabulary of roles
/// the engine and the window speak (the host's signed word uses its
/// `editor`, `viewer` and `removed`, [`Role`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Access {
    Host,
    Editor,
    Viewer,
    Removed,
    /// Not (yet) let in by the host.
    #[serde(rename = "not let in")]
    Stranger,
}

impl Access {
    /// Whether its changes to files, the tree and terminals count.
    pub fn may_edit(self) -> bool {
        matches!(self, Access::Host | Access::Editor)
    }

    /// How users read it.
    pub fn label(self) -> &'static str {
        match self {
            Access::Host => "host",
            Access::Editor => "editor",
            Access::Viewer => "viewer",
            Access::Removed => "removed",
            Access::Stranger => "not let in",
        }
    }
}

pub struct Membership {
    session: SessionId,
    /// The host's certificate fingerprint, as the invite pins it.
    host_fp: [u8; 32],
    host: PeerId,
    word: Option<SignedRoles>,
}

impl Membership {
    /// The word saved in the state folder, if it holds one the host signed.
    pub fn load(sb: &Sandbox, session: SessionId, host_fp: [u8; 32]) -> Self {
        let mut m = Self { session, host_fp, host: PeerId::of_certificate(&host_fp), word: None };
        match sb.read_state(FILE) {
            Ok(Some(bytes)) => match SignedRoles::verify(&bytes, &session, &host_fp) {
                Ok(word) => m.word = Some(word),
                Err(e) => tracing::warn!(error = %e, "ignoring the saved membership"),
            },
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not read the saved membership"),
        }
        m
    }

    pub fn host(&self) -> &PeerId {
        &self.host
    }

    pub fn access(&self, peer: &PeerId) -> Access {
        if *peer == self.host {
            return Access::Host;
        }
        match self.word.as_ref().and_then(|w| w.roles.members.get(peer)) {
            Some(Role::Editor) => Access::Editor,
            Some(Role::Viewer) => Access::Viewer,
            Some(Role::Removed) => Access::Removed,
            None => Access::Stranger,
        }
    }

    /// The word as it travels, for a peer that may not have it.
    pub fn word(&self) -> Option<&[u8]> {
        self.word.as_ref().map(SignedRoles::as_bytes)
    }

    /// How many peers the word lists (removed ones too).
    pub fn listed(&self) -> usize {
        self.word.as_ref().map_or(0, |w| w.roles.members.len())
    }

    /// Members the host let in (removed ones too), with their roles.
    pub fn members(&self) -> BTreeMap<PeerId, Role> {
        self.word.as_ref().map(|w| w.roles.members.clone()).unwrap_or_default()
    }

    /// Takes a word from the network: true when it is newer than the one
    /// held (then it is saved). One not signed by the host is an error.
    pub fn take(&mut self, sb: &Sandbox, bytes: &[u8]) -> Result<bool, MembershipError> {
        let word = SignedRoles::verify(bytes, &self.session, &self.host_fp)?;
        if self.word.as_ref().is_some_and(|w| w.roles.seq >= word.roles.seq) {
            return Ok(false);
        }
        if let Err(e) = sb.write_state(FILE, word.as_bytes()) {
            tracing::warn!(error = %e, "could not save the membership");
        }
        self.word = Some(word);
        Ok(true)
    }

    /// The host gives `peer` a role (or puts it out): a new word, signed and
    /// saved, to send to every peer.
    pub fn set(&mut self, sb: &Sandbox, host: &Identity, peer: PeerId, role: Role) -> Result<(), EngineError> {
        let mut roles =
            self.word.as_ref().map_or_else(|| Roles { session: self.session.to_hex(), seq: 0, members: BTreeMap::new() }, |w| w.roles.clone());
        if !roles.members.contains_key(&peer) && roles.members.len() >= MAX_MEMBERS {
            return Err(EngineError::SessionFull(MAX_MEMBERS));
        }
        roles.seq += 1;
        roles.members.insert(peer, role);
        let word = SignedRoles::sign(host, roles)?;
        sb.write_state(FILE, word.as_bytes())?;
        self.word = Some(word);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_keeps_the_newest_word_of_the_host_across_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sb = Sandbox::open(dir.path(), 1 << 20).expect("sandbox");
        let (host, eve) = (Identity::generate().expect("identity"), Identity::generate().expect("identity"));
        let session = SessionId::random();
        let (bob, carol) = (PeerId::random(), PeerId::random());

        let mut at_host = Membership::load(&sb, session, host.fingerprint);
        assert_eq!(at_host.access(&bob), Access::Stranger);
        assert_eq!(at_host.access(&PeerId::of_certificate(&host.fingerprint)), Access::Host);
        at_host.set(&sb, &host, bob.clone(), Role::Viewer).expect("set");
        let first = at_host.word().expect("word").to_vec();
        at_host.set(&sb, &host, bob.clone(), Role::Editor).expect("set");
        let second = at_host.word().expect("word").to_vec();

        let dir2 = tempfile::tempdir().expect("tempdir");
        let sb2 = Sandbox::open(dir2.path(), 1 << 20).expect("sandbox");
        let mut at_peer = Membership::load(&sb2, session, host.fingerprint);
        assert_eq!(at_peer.take(&sb2, &second), Ok(true));
        assert_eq!(at_peer.take(&sb2, &first), Ok(false), "an older word changes nothing");
        assert_eq!(at_peer.access(&bob), Access::Editor);

        // A member's own "word", signed with its own key, is refused.
        let dir3 = tempfile::tempdir().expect("tempdir");
        let sb3 = Sandbox::open(dir3.path(), 1 << 20).expect("sandbox");
        let mut forged = Membership::load(&sb3, session, eve.fingerprint);
        forged.set(&sb3, &eve, carol.clone(), Role::Editor).expect("set");
        let forged = forged.word().expect("word").to_vec();
        let mut at_peer = Membership::load(&sb2, session, host.fingerprint);
        assert!(at_peer.take(&sb2, &forged).is_err());
        // The forged one was not saved: the host's word is what a restart finds.
        assert_eq!(Membership::load(&sb2, session, host.fingerprint).access(&bob), Access::Editor);
        assert_eq!(at_peer.access(&carol), Access::Stranger);
    }
}
