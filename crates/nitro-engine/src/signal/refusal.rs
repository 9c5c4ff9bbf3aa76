//! A host's refusal of an offer it cannot open (the joiner's secret is
//! wrong), signed with the host's certificate key over that very offer; the
//! joiner checks it against the fingerprint its invite pins. Nobody else
//! (another joiner, a signaling server) can end a join by saying "refused",
//! and an old refusal does not end a new attempt.
//!
//! `box`: base64url (no padding) of the certificate's length (u16
//! big-endian), the host's certificate (DER), and the signature (ECDSA
//! P-256 with SHA-256, ASN.1) of `nitroide refused v1` ‖ SHA-256(the
//! offer's box, as sent) ‖ the joiner's peer id.

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
}
