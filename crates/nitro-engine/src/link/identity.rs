//! A peer's DTLS certificate: the identity its connections prove.
//!
//! The host keeps its certificate in its state folder, so its invite link
//! (which pins the certificate's fingerprint) stays valid across restarts.

use rtc::peer_connection::certificate::CertificateParams;
use webrtc::peer_connection::RTCCertificate;
use webrtc::peer_connection::crypto::{self, default_provider};

use super::LinkError;

#[derive(Clone)]
pub struct Identity {
    pub(crate) cert: RTCCertificate,
    pub fingerprint: [u8; 32],
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("fingerprint", &crate::protocol::invite::hex(&self.fingerprint)).finish()
    }
}

impl Identity {
    pub fn generate() -> Result<Self, LinkError> {
        let provider = default_provider().map_err(|e| LinkError::Certificate(e.to_string()))?;
        let params = CertificateParams::new(vec!["nitroide".to_owned()]).map_err(|e| LinkError::Certificate(e.to_string()))?;
        let cert = RTCCertificate::generate(provider.crypto(), crypto::SignatureScheme::EcdsaP256Sha256, params)
            .map_err(|e| LinkError::Certificate(e.to_string()))?;
        Self::from_cert(cert)
    }

    /// Restores an identity saved with [`Self::to_pem`].
    pub fn from_pem(pem: &str) -> Result<Self, LinkError> {
        let provider = default_provider().map_err(|e| LinkError::Certificate(e.to_string()))?;
        let cert = RTCCertificate::from_pem(pem, provider.crypto()).map_err(|e| LinkError::Certificate(e.to_string()))?;
        Self::from_cert(cert)
    }

    /// The certificate and its private key, PEM encoded.
    pub fn to_pem(&self) -> Result<String, LinkError> {
        self.cert.serialize_pem().map_err(|e| LinkError::Certificate(e.to_string()))
    }

    fn from_cert(cert: RTCCertificate) -> Result<Self, LinkError> {
        let provider = default_provider().map_err(|e| LinkError::Certificate(e.to_string()))?;
        let fps = cert.get_fingerprints(provider.crypto()).map_err(|e| LinkError::Certificate(e.to_string()))?;
        let fingerprint = fps
            .iter()
            .find(|f| f.algorithm.eq_ignore_ascii_case("sha-256"))
            .and_then(|f| parse_fingerprint(&f.value))
            .ok_or_else(|| LinkError::Certificate("no SHA-256 fingerprint".into()))?;
        Ok(Self { cert, fingerprint })
    }
}

impl Identity {
    /// The certificate, DER encoded: its SHA-256 is [`Self::fingerprint`].
    pub fn certificate_der(&self) -> Result<Vec<u8>, LinkError> {
        self.pem_block("CERTIFICATE")
    }

    /// Signs `msg` with the certificate's key (ECDSA P-256, SHA-256, ASN.1
    /// signature), so that whoever pinned the fingerprint can check that
    /// this peer said it.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, LinkError> {
        use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
        let rng = ring::rand::SystemRandom::new();
        let key = self.pem_block("PRIVATE_KEY")?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key, &rng).map_err(|e| LinkError::Certificate(e.to_string()))?;
        Ok(pair.sign(&rng, msg).map_err(|e| LinkError::Certificate(e.to_string()))?.as_ref().to_vec())
    }

    fn pem_block(&self, label: &str) -> Result<Vec<u8>, LinkError> {
        let pem = self.to_pem()?;
        x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
            .filter_map(Result::ok)
            .find(|p| p.label == label)
            .map(|p| p.contents)
            .ok_or_else(|| LinkError::Certificate(format!("no {label} in the saved identity")))
    }
}

/// True when `sig` is `cert_der`'s key's signature of `msg`, and that
/// certificate is the one `pinned` names.
pub fn verify(cert_der: &[u8], msg: &[u8], sig: &[u8], pinned: &[u8; 32]) -> bool {
    use sha2::Digest as _;
    if sha2::Sha256::digest(cert_der).as_slice() != pinned {
        return false;
    }
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(cert_der) else {
        return false;
    };
    let key = &cert.public_key().subject_public_key.data;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, key).verify(msg, sig).is_ok()
}

/// Parses `AB:CD:..` (either case) into 32 bytes.
pub fn parse_fingerprint(s: &str) -> Option<[u8; 32]> {
    crate::protocol::invite::unhex::<32>(&s.replace(':', "").to_ascii_lowercase())
}

/// The SDP line announcing `fingerprint`, as [`sdp_fingerprint`] reads it.
pub fn sdp_fingerprint_line(fingerprint: &[u8; 32]) -> String {
    let hex: Vec<String> = fingerprint.iter().map(|b| format!("{b:02X}")).collect();
    format!("a=fingerprint:sha-256 {}", hex.join(":"))
}

/// The SHA-256 fingerprint an SDP announces (`a=fingerprint:sha-256 ..`).
pub fn sdp_fingerprint(sdp: &str) -> Option<[u8; 32]> {
    sdp.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("a=fingerprint:")?;
        let (alg, value) = rest.split_once(' ')?;
        alg.eq_ignore_ascii_case("sha-256").then(|| parse_fingerprint(value.trim()))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_survives_a_pem_round_trip() {
        let id = Identity::generate().expect("generate");
        let back = Identity::from_pem(&id.to_pem().expect("pem")).expect("load");
        assert_eq!(id.fingerprint, back.fingerprint);
        assert_ne!(id.fingerprint, Identity::generate().expect("generate").fingerprint);
    }

    #[test]
    fn a_signature_checks_against_the_pinned_fingerprint_only() {
        let (ada, eve) = (Identity::generate().expect("identity"), Identity::generate().expect("identity"));
        let sig = ada.sign(b"refused").expect("sign");
        let cert = ada.certificate_der().expect("der");
        assert!(verify(&cert, b"refused", &sig, &ada.fingerprint));
        assert!(!verify(&cert, b"refused!", &sig, &ada.fingerprint), "another message");
        assert!(!verify(&cert, b"refused", &sig, &eve.fingerprint), "another pinned certificate");
        let eves = eve.certificate_der().expect("der");
        assert!(!verify(&eves, b"refused", &eve.sign(b"refused").expect("sign"), &ada.fingerprint), "eve's own signature");
    }

    #[test]
    fn finds_the_fingerprint_in_an_sdp() {
        let sdp = "v=0\r\na=group:BUNDLE 0\r\na=fingerprint:sha-256 0A:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD\r\n";
        let fp = sdp_fingerprint(sdp).expect("found");
        assert_eq!(fp[0..2], [0x0a, 0xff]);
        assert_eq!(sdp_fingerprint("v=0\r\n"), None);
        assert_eq!(sdp_fingerprint_line(&fp), sdp.lines().nth(2).expect("line"), "written as it is read");
    }
}
