//! Everything that crosses the network, byte for byte: the invite link, the
//! signaling envelope, and the messages on the two data channels. The format
//! is specified in `docs/PROTOCOL.md`; this module is its implementation.

pub mod frame;
pub mod invite;
pub mod limits;
pub mod lsp;
pub mod membership;
pub mod presence;
pub mod printable;
pub mod wire;

pub use invite::{Invite, InviteError, Secret, SessionId};
pub use wire::{Hello, PROTOCOL_VERSION, StateMsg, TermMsg, WireError};

/// A peer's stable id: 16 lowercase hex digits, derived from the
/// certificate it connects with ([`PeerId::of_certificate`]), so that the
/// fingerprint DTLS checks on every connection proves it: nobody can claim
/// another peer's id, or take one before its owner is seen.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PeerId(String);

impl PeerId {
    /// The first 8 bytes of SHA-256("nitro peer\0" ‖ the certificate's
    /// SHA-256 fingerprint), in hex.
    pub fn of_certificate(fingerprint: &[u8; 32]) -> Self {
        use sha2::Digest as _;
        let hash = sha2::Sha256::new().chain_update(b"nitro peer\0").chain_update(fingerprint).finalize();
        Self(invite::hex(&hash[..8]))
    }

    #[cfg(test)]
    pub fn random() -> Self {
        Self(format!("{:016x}", rand::random::<u64>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PeerId {
    type Error = WireError;

    fn try_from(s: String) -> Result<Self, WireError> {
        if s.len() == 16 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(s))
        } else {
            Err(WireError::Malformed("peer id must be 16 lowercase hex digits"))
        }
    }
}

impl From<PeerId> for String {
    fn from(p: PeerId) -> String {
        p.0
    }
}

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A terminal's id: random, chosen by the peer that opens it. On the wire it
/// is 8 bytes big-endian; in the document and to users, 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TermId(pub u64);

impl TermId {
    pub fn random() -> Self {
        Self(rand::random())
    }

    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 16).then(|| u64::from_str_radix(s, 16).ok()).flatten().map(Self)
    }
}

impl std::fmt::Display for TermId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}
