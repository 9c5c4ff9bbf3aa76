//! What a host says about an offer other than answering it, signed with the
//! host's certificate key over that very offer; the joiner checks it against
//! the fingerprint its invite pins. Nobody else (another joiner, a member
//! holding the link, a signaling server) can end or hold up a join, and an
//! old word does not apply to a new attempt.
//!
//! `refused` (the offer's box does not open: the secret is wrong): `box` is
//! base64url (no padding) of the certificate's length (u16 big-endian), the
//! host's certificate (DER), and the signature (ECDSA P-256 with SHA-256,
//! ASN.1) of `nitroide refused v1` ‖ SHA-256(the offer's box, as sent) ‖ the
//! joiner's peer id.
//!
//! `waiting` (the host's user is asked) and `denied` (not let in): `box` is
//! base64url of the certificate's length (u16), the certificate, the
//! signature's length (u16), the signature of `nitroide <kind> v1` ‖
//! SHA-256(the offer's box) ‖ the joiner's peer id ‖ the reason, then the
//! reason (UTF-8, at most [`MAX_REASON`] bytes; empty for `waiting`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::{Envelope, Kind};
use crate::link::{Identity, LinkError, identity};
use crate::protocol::PeerId;

fn signed(offer: &Envelope) -> Vec<u8> {
    let mut msg = b"nitroide refused v1".to_vec();
    msg.extend(Sha256::digest(offer.sealed.as_deref().unwrap_or_default().as_bytes()));
    msg.extend(offer.from.as_str().as_bytes());
    msg
}

/// Longest reason a `denied` carries.
pub const MAX_REASON: usize = 256;

fn verdict_statement(kind: Kind, offer: &Envelope, reason: &str) -> Vec<u8> {
    let mut msg = match kind {
        Kind::Waiting => b"nitroide waiting v1".to_vec(),
        _ => b"nitroide denied v1".to_vec(),
    };
    msg.extend(Sha256::digest(offer.sealed.as_deref().unwrap_or_default().as_bytes()));
    msg.extend(offer.from.as_str().as_bytes());
    msg.extend(reason.as_bytes());
    msg
}

/// The host's `waiting` (reason empty) or `denied` for `offer`.
pub fn verdict(identity: &Identity, host: &PeerId, offer: &Envelope, kind: Kind, reason: &str) -> Result<Envelope, LinkError> {
    let reason = crate::protocol::printable::printable(reason, MAX_REASON);
    let cert = identity.certificate_der()?;
    let sig = identity.sign(&verdict_statement(kind, offer, &reason))?;
    let mut proof = Vec::new();
    for part in [&cert, &sig] {
        let len = u16::try_from(part.len()).map_err(|_| LinkError::Certificate("certificate too large".into()))?;
        proof.extend(len.to_be_bytes());
        proof.extend(part);
    }
    proof.extend(reason.as_bytes());
    Ok(Envelope { nitro: 1, kind, from: host.clone(), to: Some(offer.from.clone()), sealed: Some(URL_SAFE_NO_PAD.encode(proof)) })
}

/// The reason of a genuine `waiting` or `denied` from the host (the
/// certificate `pinned` names) about this `offer`; `None` for anything else.
pub fn verdict_reason(env: &Envelope, offer: &Envelope, pinned: &[u8; 32]) -> Option<String> {
    if !matches!(env.kind, Kind::Waiting | Kind::Denied) {
        return None;
    }
    let proof = URL_SAFE_NO_PAD.decode(env.sealed.as_deref()?).ok()?;
    let take = |b: &[u8]| -> Option<(Vec<u8>, Vec<u8>)> {
        let (len, rest) = b.split_first_chunk::<2>()?;
        let (part, rest) = rest.split_at_checked(usize::from(u16::from_be_bytes(*len)))?;
        Some((part.to_vec(), rest.to_vec()))
    };
    let (cert, rest) = take(&proof)?;
    let (sig, reason) = take(&rest)?;
    let reason = String::from_utf8(reason).ok().filter(|r| r.len() <= MAX_REASON)?;
    identity::verify(&cert, &verdict_statement(env.kind, offer, &reason), &sig, pinned)
        .then(|| crate::protocol::printable::printable(&reason, MAX_REASON))
}

/// The host's refusal of `offer`.
pub fn refuse(identity: &Identity, host: &PeerId, offer: &Envelope) -> Result<Envelope, LinkError> {
    let cert = identity.certificate_der()?;
    let len = u16::try_from(cert.len()).map_err(|_| LinkError::Certificate("certificate too large".into()))?;
    let mut proof = len.to_be_bytes().to_vec();
    proof.extend(&cert);
    proof.extend(identity.sign(&signed(offer))?);
    Ok(Envelope { nitro: 1, kind: Kind::Refused, from: host.clone(), to: Some(offer.from.clone()), sealed: Some(URL_SAFE_NO_PAD.encode(proof)) })
}

/// True when `refusal` is the host's (the certificate `pinned` names) of
/// this `offer`.
pub fn is_genuine(refusal: &Envelope, offer: &Envelope, pinned: &[u8; 32]) -> bool {
    let Some(proof) = refusal.sealed.as_deref().and_then(|b| URL_SAFE_NO_PAD.decode(b).ok()) else {
        return false;
    };
    let Some((len, rest)) = proof.split_first_chunk::<2>() else {
        return false;
    };
    let Some((cert, sig)) = rest.split_at_checked(usize::from(u16::from_be_bytes(*len))) else {
        return false;
    };
    refusal.kind == Kind::Refused && identity::verify(cert, &signed(offer), sig, pinned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Secret, SessionId};
    use crate::signal::crypto::{Plain, SignalKey};

    #[test]
    fn only_the_hosts_refusal_of_this_offer_counts() {
        let (host, eve) = (Identity::generate().expect("identity"), Identity::generate().expect("identity"));
        let host_id = PeerId::of_certificate(&host.fingerprint);
        let key = SignalKey::derive(&Secret::random(), &SessionId::random());
        let joiner = PeerId::of_certificate(&Identity::generate().expect("identity").fingerprint);
        let plain = Plain { sdp: "v=0".into(), peer: joiner.clone(), name: "bob".into() };
        let (offer, again) = (key.seal(Kind::Offer, &joiner, None, &plain), key.seal(Kind::Offer, &joiner, None, &plain));
        let refusal = refuse(&host, &host_id, &offer).expect("refusal");
        assert!(is_genuine(&refusal, &offer, &host.fingerprint));
        assert!(!is_genuine(&refusal, &again, &host.fingerprint), "a replay against a new offer");
        let forged = refuse(&eve, &host_id, &offer).expect("refusal");
        assert!(!is_genuine(&forged, &offer, &host.fingerprint), "someone else's");
        let bare = Envelope { sealed: None, ..refusal.clone() };
        assert!(!is_genuine(&bare, &offer, &host.fingerprint), "an unsigned one");
        let cut = Envelope { sealed: Some("AAEB".into()), ..refusal };
        assert!(!is_genuine(&cut, &offer, &host.fingerprint));
    }

    #[test]
    fn only_the_hosts_waiting_and_denial_of_this_offer_count() {
        let (host, eve) = (Identity::generate().expect("identity"), Identity::generate().expect("identity"));
        let host_id = PeerId::of_certificate(&host.fingerprint);
        let key = SignalKey::derive(&Secret::random(), &SessionId::random());
        let joiner = PeerId::random();
        let plain = Plain { sdp: "v=0".into(), peer: joiner.clone(), name: "bob".into() };
        let (offer, again) = (key.seal(Kind::Offer, &joiner, None, &plain), key.seal(Kind::Offer, &joiner, None, &plain));
        let denied = verdict(&host, &host_id, &offer, Kind::Denied, "not today\u{1b}[2J").expect("signed");
        assert_eq!(verdict_reason(&denied, &offer, &host.fingerprint).as_deref(), Some("not today[2J"));
        assert_eq!(verdict_reason(&denied, &again, &host.fingerprint), None, "a replay against a new offer");
        let waiting = verdict(&host, &host_id, &offer, Kind::Waiting, "").expect("signed");
        assert_eq!(verdict_reason(&waiting, &offer, &host.fingerprint).as_deref(), Some(""));
        // A waiting turned into a denial, with its signature.
        let relabelled = Envelope { kind: Kind::Denied, ..waiting };
        assert_eq!(verdict_reason(&relabelled, &offer, &host.fingerprint), None);
        let forged = verdict(&eve, &host_id, &offer, Kind::Denied, "go away").expect("signed");
        assert_eq!(verdict_reason(&forged, &offer, &host.fingerprint), None, "someone else's");
    }
}
