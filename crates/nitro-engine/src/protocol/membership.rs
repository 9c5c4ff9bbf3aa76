//! The host's word on who is in the session and what each member may do,
//! signed with the host's certificate key, so every peer can check it on its
//! own against the fingerprint its invite pins (PROTOCOL.md §5.8).
//!
//! Body of a `Membership` message: the certificate's length (u16), the
//! host's DTLS certificate (DER), the signature's length (u16), the
//! signature (ECDSA P-256 with SHA-256, ASN.1) of `nitro membership` ‖ 0x00
//! ‖ the JSON that follows, then that JSON ([`Roles`]), exactly as signed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::limits::MAX_MEMBERS;
use super::{PeerId, SessionId};
use crate::link::{Identity, LinkError, identity};

const STATEMENT: &[u8] = b"nitro membership\0";

/// What the host lets a member do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "MemberRole"))]
pub enum Role {
    /// Changes files, the tree and (with a grant) terminals.
    Editor,
    /// Sees everything, changes nothing.
    Viewer,
    /// Put out by the host: no peer connects to it again.
    Removed,
}

/// The members the host let in, newest word by `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roles {
    /// The session id, 32 hex digits: a word for one session is no word for another.
    pub session: String,
    /// One more each time the host changes its word.
    pub seq: u64,
    pub members: BTreeMap<PeerId, Role>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MembershipError {
    #[error("malformed membership message: {0}")]
    Malformed(&'static str),
    #[error("membership not signed by this session's host")]
    NotTheHost,
    #[error("membership of another session")]
    OtherSession,
    #[error("membership lists more than {MAX_MEMBERS} members")]
    TooMany,
}

/// The host's word as it travels: the roles and the bytes that prove them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRoles {
    pub roles: Roles,
    bytes: Vec<u8>,
}

impl SignedRoles {
    /// The host signs `roles` with its certificate's key.
    pub fn sign(host: &Identity, roles: Roles) -> Result<Self, LinkError> {
        let json = serde_json::to_vec(&roles).map_err(|e| LinkError::Certificate(e.to_string()))?;
        let cert = host.certificate_der()?;
        let sig = host.sign(&[STATEMENT, &json].concat())?;
        let mut bytes = Vec::with_capacity(4 + cert.len() + sig.len() + json.len());
        for part in [&cert, &sig] {
            let len = u16::try_from(part.len()).map_err(|_| LinkError::Certificate("certificate or signature too large".into()))?;
            bytes.extend(len.to_be_bytes());
            bytes.extend(part);
        }
        bytes.extend(json);
        Ok(Self { roles, bytes })
    }

    /// Checks bytes from the network (or the state folder): signed by the
    /// certificate `host` names, for `session`, with at most [`MAX_MEMBERS`] members.
    pub fn verify(bytes: &[u8], session: &SessionId, host: &[u8; 32]) -> Result<Self, MembershipError> {
        let (cert, rest) = take(bytes)?;
        let (sig, json) = take(rest)?;
        if !identity::verify(cert, &[STATEMENT, json].concat(), sig, host) {
            return Err(MembershipError::NotTheHost);
        }
        let roles: Roles = serde_json::from_slice(json).map_err(|_| MembershipError::Malformed("roles"))?;
        if roles.session != session.to_hex() {
            return Err(MembershipError::OtherSession);
        }
        if roles.members.len() > MAX_MEMBERS {
            return Err(MembershipError::TooMany);
        }
        Ok(Self { roles, bytes: bytes.to_vec() })
    }

    /// The message body, as signed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A u16 length and that many bytes.
fn take(bytes: &[u8]) -> Result<(&[u8], &[u8]), MembershipError> {
    let (len, rest) = bytes.split_first_chunk::<2>().ok_or(MembershipError::Malformed("length"))?;
    rest.split_at_checked(usize::from(u16::from_be_bytes(*len))).ok_or(MembershipError::Malformed("cut short"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(session: &SessionId, seq: u64) -> Roles {
        let members = BTreeMap::from([(PeerId::random(), Role::Editor), (PeerId::random(), Role::Viewer)]);
        Roles { session: session.to_hex(), seq, members }
    }

    #[test]
    fn only_the_hosts_word_for_this_session_counts() {
        let (host, eve) = (Identity::generate().expect("identity"), Identity::generate().expect("identity"));
        let session = SessionId::random();
        let signed = SignedRoles::sign(&host, roles(&session, 3)).expect("signed");
        let read = SignedRoles::verify(signed.as_bytes(), &session, &host.fingerprint).expect("verifies");
        assert_eq!(read, signed);

        // A member signing its own word, with its own certificate.
        let forged = SignedRoles::sign(&eve, roles(&session, 4)).expect("signed");
        assert_eq!(SignedRoles::verify(forged.as_bytes(), &session, &host.fingerprint), Err(MembershipError::NotTheHost));
        // The host's word for another session.
        let other = SignedRoles::sign(&host, roles(&SessionId::random(), 9)).expect("signed");
        assert_eq!(SignedRoles::verify(other.as_bytes(), &session, &host.fingerprint), Err(MembershipError::OtherSession));
        // The host's signature with the roles changed after it.
        let mut tampered = signed.as_bytes().to_vec();
        let at = tampered.len() - 3;
        tampered[at] ^= 1;
        assert!(SignedRoles::verify(&tampered, &session, &host.fingerprint).is_err());
        for cut in [0, 1, 2, 40, signed.as_bytes().len() - 1] {
            assert!(SignedRoles::verify(&signed.as_bytes()[..cut], &session, &host.fingerprint).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn a_word_naming_too_many_members_is_refused() {
        let host = Identity::generate().expect("identity");
        let session = SessionId::random();
        let members = (0..=MAX_MEMBERS as u64).map(|n| (PeerId::try_from(format!("{n:016x}")).expect("id"), Role::Viewer)).collect();
        let signed = SignedRoles::sign(&host, Roles { session: session.to_hex(), seq: 1, members }).expect("signed");
        assert_eq!(SignedRoles::verify(signed.as_bytes(), &session, &host.fingerprint), Err(MembershipError::TooMany));
    }
}
