//! The roster as its members wrote it. Document changes are not signed and
//! peers relay each other's, so anyone could write any key of the `peers`
//! map: each entry therefore carries its member's certificate and that
//! certificate key's signature, and an entry is believed only when the
//! certificate is the one its peer id is made from and the signature holds.
//! A forged, altered or older entry changes nothing: the highest proven one
//! is kept, even when a later change removes it from the document.

use std::collections::{BTreeMap, HashSet};

use sha2::Digest as _;

use crate::doc::{Enrollment, Member};
use crate::link::LinkError;
use crate::link::identity::{self, Identity};
use crate::protocol::PeerId;
use crate::protocol::limits::MAX_NAME;
use crate::protocol::printable::printable;

#[derive(Debug)]
pub struct Roster {
    session: String,
    proven: BTreeMap<PeerId, Proven>,
    /// Entries checked already and found false (by a hash of all they
    /// hold): each is checked once, however often the roster is read again
    /// and however many forged values a key holds.
    refuted: HashSet<[u8; 32]>,
}

/// Forged entries remembered at most; past that the memory starts over
/// (they are then checked again, once each).
const MAX_REFUTED: usize = 4096;

#[derive(Debug)]
struct Proven {
    seq: u64,
    sig: Vec<u8>,
    member: Member,
}

impl Roster {
    pub fn new(session: &str) -> Self {
        Self { session: session.to_owned(), proven: BTreeMap::new(), refuted: HashSet::new() }
    }

    /// Takes in what the document's roster now holds.
    pub fn refresh(&mut self, written: BTreeMap<String, Vec<Enrollment>>) {
        for (key, entries) in written {
            let Ok(peer) = PeerId::try_from(key.clone()) else {
                continue;
            };
            for entry in entries {
                if self.proven.get(&peer).is_some_and(|p| entry.seq <= p.seq) {
                    continue;
                }
                let id = fingerprint(&key, &entry);
                if self.refuted.contains(&id) {
                    continue;
                }
                if proves(&self.session, &peer, &entry) {
                    self.proven.insert(peer.clone(), Proven { seq: entry.seq, sig: entry.sig, member: entry.member });
                } else {
                    tracing::warn!(%peer, "a roster entry not signed by its member was ignored");
                    if self.refuted.len() >= MAX_REFUTED {
                        self.refuted.clear();
                    }
                    self.refuted.insert(id);
                }
            }
        }
    }

    /// Each proven member, by peer id.
    pub fn members(&self) -> BTreeMap<PeerId, Member> {
        self.proven.iter().map(|(peer, p)| (peer.clone(), p.member.clone())).collect()
    }

    pub fn get(&self, peer: &PeerId) -> Option<&Member> {
        self.proven.get(peer).map(|p| &p.member)
    }

    /// Our own entry, signed, numbered past every entry of ours seen so far.
    /// The name and role are signed as every peer reads them (without
    /// control characters, at most [`MAX_NAME`] bytes), or no peer could
    /// prove them.
    pub fn sign(&self, me: &Identity, mut member: Member) -> Result<Enrollment, LinkError> {
        member.name = printable(&member.name, MAX_NAME);
        member.role = printable(&member.role, MAX_NAME);
        let peer = PeerId::of_certificate(&me.fingerprint);
        let seq = self.proven.get(&peer).map_or(1, |p| p.seq + 1);
        let sig = me.sign(&statement(&self.session, &peer, seq, &member))?;
        Ok(Enrollment { member, seq, cert: me.certificate_der()?, sig })
    }

    /// Whether the document no longer shows our entry as we last wrote it
    /// (someone wrote over it or beside it): then we write it again.
    pub fn overwritten(&self, me: &PeerId, written: &BTreeMap<String, Vec<Enrollment>>) -> bool {
        let Some(ours) = self.proven.get(me) else {
            return false;
        };
        let shown = written.get(me.as_str()).map(Vec::as_slice).unwrap_or_default();
        !matches!(shown, [e] if e.seq == ours.seq && e.sig == ours.sig)
    }
}

/// A hash of everything an entry under `key` holds.
fn fingerprint(key: &str, e: &Enrollment) -> [u8; 32] {
    let mut h = sha2::Sha256::new();
    for part in [key.as_bytes(), &e.seq.to_be_bytes(), e.member.name.as_bytes(), e.member.color.as_bytes(), e.member.role.as_bytes(), &e.cert, &e.sig]
    {
        h.update((part.len() as u32).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// Whether `entry` is `peer`'s own word in session `session`.
fn proves(session: &str, peer: &PeerId, entry: &Enrollment) -> bool {
    let fingerprint: [u8; 32] = sha2::Sha256::digest(&entry.cert).into();
    PeerId::of_certificate(&fingerprint) == *peer
        && identity::verify(&entry.cert, &statement(session, peer, entry.seq, &entry.member), &entry.sig, &fingerprint)
}

/// What a member signs: a label, then the session id, its peer id, the
/// number and the three fields, each as a 4-byte big-endian length and its
/// UTF-8 bytes (the number as 8 bytes, big-endian).
fn statement(session: &str, peer: &PeerId, seq: u64, m: &Member) -> Vec<u8> {
    let mut out = b"nitro member\0".to_vec();
    for field in [session, peer.as_str()] {
        put(&mut out, field);
    }
    out.extend_from_slice(&seq.to_be_bytes());
    for field in [&m.name, &m.color, &m.role] {
        put(&mut out, field);
    }
    out
}

fn put(out: &mut Vec<u8>, field: &str) {
    out.extend_from_slice(&(field.len() as u32).to_be_bytes());
    out.extend_from_slice(field.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: &str = "00112233445566778899aabbccddeeff";

    fn member(name: &str) -> Member {
        Member { name: name.into(), color: "#112233".into(), role: "editor".into() }
    }

    fn written(entries: &[(&PeerId, &Enrollment)]) -> BTreeMap<String, Vec<Enrollment>> {
        let mut map: BTreeMap<String, Vec<Enrollment>> = BTreeMap::new();
        for (peer, e) in entries {
            map.entry(peer.to_string()).or_default().push((*e).clone());
        }
        map
    }

    #[test]
    fn only_a_members_own_signed_entry_is_believed() {
        let (ada, eve) = (Identity::generate().expect("identity"), Identity::generate().expect("identity"));
        let ada_id = PeerId::of_certificate(&ada.fingerprint);
        let mut roster = Roster::new(SESSION);
        let real = roster.sign(&ada, member("ada")).expect("sign");
        roster.refresh(written(&[(&ada_id, &real)]));
        assert_eq!(roster.get(&ada_id).map(|m| m.name.as_str()), Some("ada"));

        // Eve writes ada's key: with her own certificate, with ada's
        // certificate and a changed name, and with ada's signature replayed
        // on another name.
        let by_eve = Roster::new(SESSION).sign(&eve, member("ada (it's me)")).expect("sign");
        let mut altered = real.clone();
        altered.seq += 1;
        altered.member.name = "mallory".into();
        let mut renamed = by_eve.clone();
        renamed.cert = real.cert.clone();
        renamed.seq = 9;
        for forged in [&by_eve, &altered, &renamed] {
            roster.refresh(written(&[(&ada_id, forged)]));
            assert_eq!(roster.get(&ada_id).map(|m| m.name.as_str()), Some("ada"), "forged entry believed: {forged:?}");
        }
        // Removing the entry from the document changes nothing either.
        roster.refresh(BTreeMap::new());
        assert_eq!(roster.members().len(), 1);
        // Nor does an entry signed for another session.
        let elsewhere = Roster::new("ffeeddccbbaa99887766554433221100").sign(&ada, member("elsewhere")).expect("sign");
        let mut later = elsewhere;
        later.seq = 50;
        roster.refresh(written(&[(&ada_id, &later)]));
        assert_eq!(roster.get(&ada_id).map(|m| m.name.as_str()), Some("ada"));
    }

    /// A forged entry carrying the member's real signature, seen first (or
    /// beside the real one), does not keep the real one from being believed.
    #[test]
    fn a_forged_copy_of_a_real_signature_does_not_hide_the_real_entry() {
        let ada = Identity::generate().expect("identity");
        let ada_id = PeerId::of_certificate(&ada.fingerprint);
        let mut roster = Roster::new(SESSION);
        let real = roster.sign(&ada, member("ada")).expect("sign");
        let mut forged = real.clone();
        forged.member.name = "eve".into();
        roster.refresh(written(&[(&ada_id, &forged)]));
        assert!(roster.get(&ada_id).is_none());
        roster.refresh(written(&[(&ada_id, &forged), (&ada_id, &real)]));
        assert_eq!(roster.get(&ada_id).map(|m| m.name.as_str()), Some("ada"));
    }

    /// A name with control characters is signed as peers read it back.
    #[test]
    fn a_name_is_signed_as_peers_read_it() {
        let ada = Identity::generate().expect("identity");
        let ada_id = PeerId::of_certificate(&ada.fingerprint);
        let mut roster = Roster::new(SESSION);
        let entry = roster.sign(&ada, member("ada\u{1b}[2J\u{202e}")).expect("sign");
        let mut read = entry.clone();
        read.member.name = printable(&read.member.name, MAX_NAME);
        assert_eq!(read, entry, "what is written is what is read");
        roster.refresh(written(&[(&ada_id, &read)]));
        assert!(roster.get(&ada_id).is_some());
    }

    #[test]
    fn the_newest_proven_entry_wins_and_an_older_one_put_back_does_not() {
        let ada = Identity::generate().expect("identity");
        let ada_id = PeerId::of_certificate(&ada.fingerprint);
        let mut roster = Roster::new(SESSION);
        let first = roster.sign(&ada, member("ada")).expect("sign");
        roster.refresh(written(&[(&ada_id, &first)]));
        let second = roster.sign(&ada, member("ada lovelace")).expect("sign");
        assert_eq!(second.seq, first.seq + 1);
        roster.refresh(written(&[(&ada_id, &second), (&ada_id, &first)]));
        assert_eq!(roster.get(&ada_id).map(|m| m.name.as_str()), Some("ada lovelace"));
        roster.refresh(written(&[(&ada_id, &first)]));
        assert_eq!(roster.get(&ada_id).map(|m| m.name.as_str()), Some("ada lovelace"));
        assert!(roster.overwritten(&ada_id, &written(&[(&ada_id, &first)])), "ours was put back: write it again");
        assert!(!roster.overwritten(&ada_id, &written(&[(&ada_id, &second)])));
    }
}
