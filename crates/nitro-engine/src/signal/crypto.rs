//! Keys and topics derived from the invite, and the sealed payload of
//! signaling envelopes.
//!
//! - topic: `nitroide-` followed by the first 32 hex digits of
//!   SHA-256("nitroide topic v1" ‖ session id bytes). Public by design: the
//!   host must hear a joiner with a wrong secret to refuse it clearly.
//! - key: HKDF-SHA256(ikm = secret, salt = session id bytes,
//!   info = "nitroide signaling key v1"), 32 bytes.
//! - box: base64url (no padding) of a 24-byte random nonce followed by the
//!   XChaCha20-Poly1305 ciphertext of the JSON [`Plain`], with the associated
//!   data `nitroide|<kind>|<from>|<to or empty>`, so an envelope's routing
//!   fields cannot be altered.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Envelope, Kind, SignalError};
use crate::protocol::invite::hex;
use crate::protocol::{PeerId, Secret, SessionId};

/// What a joiner or host says about itself in an offer or answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plain {
    /// The complete SDP (non-trickle: all candidates included).
    pub sdp: String,
    pub peer: PeerId,
    pub name: String,
}

pub fn topic(session: &SessionId) -> String {
    let mut h = Sha256::new();
    h.update(b"nitroide topic v1");
    h.update(session.0);
    format!("nitroide-{}", &hex(&h.finalize())[..32])
}

/// The session's signaling key.
#[derive(Clone)]
pub struct SignalKey(XChaCha20Poly1305);

impl SignalKey {
    pub fn derive(secret: &Secret, session: &SessionId) -> Self {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(&session.0), &secret.0);
        let mut key = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's output limit.
        let _ = hk.expand(b"nitroide signaling key v1", &mut key);
        Self(XChaCha20Poly1305::new(&key.into()))
    }

    pub fn seal(&self, kind: Kind, from: &PeerId, to: Option<&PeerId>, plain: &Plain) -> Envelope {
        let nonce: [u8; 24] = rand::random();
        let msg = serde_json::to_vec(plain).unwrap_or_default();
        let aad = aad(kind, from, to);
        let ct = self.0.encrypt(XNonce::from_slice(&nonce), Payload { msg: &msg, aad: &aad }).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(ct);
        Envelope { nitro: 1, kind, from: from.clone(), to: to.cloned(), sealed: Some(URL_SAFE_NO_PAD.encode(out)) }
    }

    /// Opens an envelope's payload; fails for a wrong key or any tampering.
    pub fn open(&self, env: &Envelope) -> Result<Plain, SignalError> {
        let raw = env.sealed.as_deref().and_then(|s| URL_SAFE_NO_PAD.decode(s).ok()).ok_or(SignalError::Decrypt)?;
        if raw.len() < 24 {
            return Err(SignalError::Decrypt);
        }
        let (nonce, ct) = raw.split_at(24);
        let aad = aad(env.kind, &env.from, env.to.as_ref());
        let plain = self.0.decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad }).map_err(|_| SignalError::Decrypt)?;
        serde_json::from_slice(&plain).map_err(|_| SignalError::Decrypt)
    }
}

fn aad(kind: Kind, from: &PeerId, to: Option<&PeerId>) -> Vec<u8> {
    let kind = match kind {
        Kind::Offer => "offer",
        Kind::Answer => "answer",
        Kind::Refused => "refused",
        Kind::Waiting => "waiting",
        Kind::Denied => "denied",
    };
    format!("nitroide|{kind}|{from}|{}", to.map_or("", PeerId::as_str)).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_right_secret_opens_a_box() {
        let session = SessionId::random();
        let secret = Secret::random();
        let key = SignalKey::derive(&secret, &session);
        let (a, b) = (PeerId::random(), PeerId::random());
        let plain = Plain { sdp: "v=0...".into(), peer: a.clone(), name: "ada".into() };
        let env = key.seal(Kind::Offer, &a, None, &plain);
        assert!(!serde_json::to_string(&env).expect("json").contains("v=0"));
        assert_eq!(key.open(&env).expect("opens"), plain);

        let wrong = SignalKey::derive(&Secret::random(), &session);
        assert!(wrong.open(&env).is_err());
        let other_session = SignalKey::derive(&secret, &SessionId::random());
        assert!(other_session.open(&env).is_err());

        let mut redirected = env.clone();
        redirected.to = Some(b);
        assert!(key.open(&redirected).is_err(), "routing fields are authenticated");
    }

    #[test]
    fn topic_depends_on_the_session_only() {
        let s = SessionId::random();
        assert_eq!(topic(&s), topic(&s));
        assert_ne!(topic(&s), topic(&SessionId::random()));
        assert!(!topic(&s).contains(&s.to_hex()));
    }
}
