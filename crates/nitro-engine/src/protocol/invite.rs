//! The invite link: everything a joiner needs, on one line.
//!
//! ```text
//! nitroide://join?v=1&s=<session>&k=<secret>&ws=<signaling URL>&fp=<fingerprint>&n=<host name>[&r=view]
//! ```
//!
//! - `s`: session id, 32 lowercase hex digits (16 random bytes).
//! - `k`: the secret, 32 random bytes, base64url without padding. It never
//!   leaves the link: signaling is encrypted with a key derived from it.
//! - `ws`: the WebSocket URL of the signaling endpoint (`ws://` or `wss://`).
//! - `fp`: SHA-256 fingerprint of the host's DTLS certificate, 64 hex digits;
//!   the joiner refuses an answer whose certificate differs.
//! - `n`: the host's display name, shown before joining.
//! - `r`: `view` on a read-only link, shown before joining. The host tells
//!   the links apart by their secrets, never by this.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use url::Url;

pub const SCHEME: &str = "nitroide";
/// Longest invite accepted, so a link fits wherever links are pasted.
pub const MAX_LEN: usize = 2048;
const VERSION: &str = "1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InviteError {
    #[error("not a NitroIDE invite link (it must start with nitroide://join?)")]
    NotAnInvite,
    #[error("the invite link is longer than {MAX_LEN} characters")]
    TooLong,
    #[error("the invite link has no {0}; copy the whole link")]
    Missing(&'static str),
    #[error("the invite link's {0} is malformed; copy the whole link")]
    Malformed(&'static str),
    #[error("this invite link is for a newer version of NitroIDE (format {0})")]
    Version(String),
}

/// A session's id: public, names the workspace and its signaling topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub [u8; 16]);

impl SessionId {
    pub fn random() -> Self {
        Self(rand::random())
    }

    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        unhex::<16>(s).map(Self)
    }
}

/// The invite secret. Its `Debug` output is redacted so it never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub [u8; 32]);

impl Secret {
    pub fn random() -> Self {
        Self(rand::random())
    }

    pub fn to_base64(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    pub fn from_base64(s: &str) -> Option<Self> {
        URL_SAFE_NO_PAD.decode(s).ok()?.try_into().ok().map(Self)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub session: SessionId,
    pub secret: Secret,
    pub signal: Url,
    /// SHA-256 of the host's DTLS certificate, 32 bytes.
    pub fingerprint: [u8; 32],
    pub host_name: String,
    /// A read-only link (the host decides by the secret; this only says so).
    pub view: bool,
}

impl Invite {
    pub fn to_link(&self) -> String {
        let mut url = Url::parse("nitroide://join").unwrap_or_else(|_| unreachable!("constant URL parses"));
        url.query_pairs_mut()
            .append_pair("v", VERSION)
            .append_pair("s", &self.session.to_hex())
            .append_pair("k", &self.secret.to_base64())
            .append_pair("ws", self.signal.as_str())
            .append_pair("fp", &hex(&self.fingerprint))
            .append_pair("n", &self.host_name);
        if self.view {
            url.query_pairs_mut().append_pair("r", "view");
        }
        url.into()
    }

    pub fn parse(link: &str) -> Result<Self, InviteError> {
        let link = link.trim();
        if link.len() > MAX_LEN {
            return Err(InviteError::TooLong);
        }
        let url = Url::parse(link).map_err(|_| InviteError::NotAnInvite)?;
        if url.scheme() != SCHEME || url.host_str() != Some("join") {
            return Err(InviteError::NotAnInvite);
        }
        let get = |key: &'static str| url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned()).ok_or(InviteError::Missing(key));
        let version = get("v")?;
        if version != VERSION {
            return Err(InviteError::Version(version));
        }
        let session = SessionId::from_hex(&get("s")?).ok_or(InviteError::Malformed("session id"))?;
        let secret = Secret::from_base64(&get("k").map_err(|_| InviteError::Missing("secret"))?).ok_or(InviteError::Malformed("secret"))?;
        let signal = Url::parse(&get("ws")?).map_err(|_| InviteError::Malformed("signaling URL"))?;
        if !matches!(signal.scheme(), "ws" | "wss") {
            return Err(InviteError::Malformed("signaling URL"));
        }
        let fingerprint = unhex::<32>(&get("fp")?).ok_or(InviteError::Malformed("certificate fingerprint"))?;
        let host_name = super::printable::printable(&get("n").unwrap_or_default(), super::limits::MAX_NAME);
        let view = match get("r").ok().as_deref() {
            None | Some("edit") => false,
            Some("view") => true,
            Some(_) => return Err(InviteError::Malformed("role")),
        };
        Ok(Self { session, secret, signal, fingerprint, host_name, view })
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Invite {
        Invite {
            session: SessionId::random(),
            secret: Secret::random(),
            signal: Url::parse("ws://192.168.1.20:41234").expect("url"),
            fingerprint: rand::random(),
            host_name: "Ada Lovelace & co".into(),
            view: false,
        }
    }

    #[test]
    fn link_round_trips_and_is_short() {
        let inv = sample();
        let link = inv.to_link();
        assert!(link.starts_with("nitroide://join?"));
        assert!(link.len() < 400, "{link}");
        assert_eq!(Invite::parse(&link), Ok(inv.clone()));
        let view = Invite { view: true, ..inv };
        assert!(view.to_link().ends_with("&r=view"));
        assert_eq!(Invite::parse(&view.to_link()), Ok(view));
    }

    #[test]
    fn broken_links_say_what_is_wrong() {
        let link = sample().to_link();
        assert_eq!(Invite::parse("https://example.com"), Err(InviteError::NotAnInvite));
        let no_secret: String = link.split('&').filter(|p| !p.starts_with("k=")).collect::<Vec<_>>().join("&");
        assert_eq!(Invite::parse(&no_secret), Err(InviteError::Missing("secret")));
        let bad_secret = link.replace("&k=", "&k=AAAA");
        assert_eq!(Invite::parse(&bad_secret), Err(InviteError::Malformed("secret")));
        assert_eq!(Invite::parse(&format!("{link}{}", "x".repeat(MAX_LEN))), Err(InviteError::TooLong));
        let http = link.replace("ws%3A%2F%2F", "http%3A%2F%2F");
        assert_eq!(Invite::parse(&http), Err(InviteError::Malformed("signaling URL")));
    }

    /// A link from a stranger names its host: printed as text, never as
    /// escape sequences for the terminal that shows it.
    #[test]
    fn the_host_name_in_a_link_is_printable() {
        let link = Invite { host_name: "ada\x1b]0;evil\x07\u{202e}".into(), ..sample() }.to_link();
        assert_eq!(Invite::parse(&link).map(|i| i.host_name), Ok("ada]0;evil".to_owned()));
    }

    #[test]
    fn secret_is_not_debug_printed() {
        let inv = sample();
        assert!(!format!("{inv:?}").contains(&inv.secret.to_base64()));
    }
}
