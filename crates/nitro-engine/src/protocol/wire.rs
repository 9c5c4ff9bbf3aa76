//! Messages on the reliable, ordered `state` channel.
//!
//! Each message is one type byte followed by its body:
//!
//! | type | message | body |
//! |------|---------|------|
//! | 0x01 | Hello   | UTF-8 JSON [`Hello`] |
//! | 0x02 | Sync    | repeated: document key, u32 length, one Automerge sync protocol message |
//! | 0x03 | Changes | repeated: document key, u32 length, one encoded Automerge change |
//! | 0x04 | Bye     | UTF-8 reason |
//! | 0x05 | Peers   | UTF-8 JSON [`PeersMsg`]: the sender's connected peers |
//! | 0x06 | Relay   | UTF-8 JSON [`Relay`]: an offer or answer for a third peer |
//! | 0x07 | TermOutput  | terminal id u64, stream offset u64, output bytes |
//! | 0x08 | TermInput   | terminal id u64, input bytes |
//! | 0x09 | TermResize  | terminal id u64, columns u16, rows u16 |
//! | 0x0a | TermRefused | terminal id u64, UTF-8 reason |
//! | 0x0b | Ping    | u64 nonce |
//! | 0x0c | Pong    | the ping's u64 nonce |
//! | 0x0d | Digest  | 8 bytes over the tree's heads, 8 over the text files' heads |
//! | 0x0e | Want    | repeated: 32-byte SHA-256 of a text the sender needs |
//! | 0x0f | Blobs   | repeated: 32-byte SHA-256, u32 length, the UTF-8 text it names |
//! | 0x10 | Lacks   | repeated: 32-byte SHA-256 of a wanted text the sender does not have |
//! | 0x11 | Membership | the host's signed word on members and roles ([`super::membership`]) |
//! | 0x12–0x17 | shared language servers | UTF-8 JSON ([`super::lsp`]) |
//!
//! Integers are big-endian. A document key is a length byte and ASCII: empty
//! for the workspace's tree, else the file id (letters and digits, at most
//! 64) whose content document it is.

use serde::{Deserialize, Serialize};

use super::limits::{MAX_MEMBERSHIP, MAX_NAME, MAX_PEERS, MAX_WANT};
use super::printable::printable;
use super::{PeerId, TermId};

/// Peers with a different protocol version refuse each other with a clear
/// message instead of misreading bytes.
pub const PROTOCOL_VERSION: u32 = 8;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    #[error("unknown message type 0x{0:02x}")]
    UnknownType(u8),
    #[error("message larger than {0} bytes")]
    TooLarge(usize),
    #[error("malformed hello: {0}")]
    Hello(String),
}

/// The first message each side sends on `state`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    pub peer: PeerId,
    pub name: String,
    /// The session id of the workspace this peer holds.
    pub workspace: String,
}

/// One peer, as another peer knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerEntry {
    pub peer: PeerId,
    pub name: String,
}

/// The peers the sender is connected to right now (itself and the receiver
/// excluded), sent whenever that set changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeersMsg {
    pub peers: Vec<PeerEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayKind {
    Offer,
    Answer,
}

/// An offer or answer between two peers that are not connected yet,
/// carried by a peer connected to both (one hop, never further).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relay {
    pub from: PeerId,
    pub to: PeerId,
    pub kind: RelayKind,
    /// The complete SDP (non-trickle).
    pub sdp: String,
}

/// Terminal traffic between a terminal's owner and the other peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermMsg {
    /// Owner to peers: output bytes at this offset of the terminal's stream.
    Output { term: TermId, offset: u64, bytes: Vec<u8> },
    /// A peer to the owner: keystrokes.
    Input { term: TermId, bytes: Vec<u8> },
    /// A peer to the owner: a new size.
    Resize { term: TermId, cols: u16, rows: u16 },
    /// Owner to a peer: its input or resize was not applied.
    Refused { term: TermId, reason: String },
}

/// Payloads each tagged with the key of the document they belong to.
pub type Keyed = Vec<(String, Vec<u8>)>;

#[derive(Debug, Clone, PartialEq)]
pub enum StateMsg {
    Hello(Hello),
    Sync(Keyed),
    Changes(Keyed),
    Bye(String),
    Peers(PeersMsg),
    Relay(Relay),
    Term(TermMsg),
    /// Measures the round trip; answered with a `Pong` of the same nonce.
    Ping(u64),
    Pong(u64),
    /// What the sender holds, in short: equal digests mean equal workspaces.
    Digest(Digest),
    /// Texts the sender needs, by [`crate::doc::content_hash`] (hex here).
    Want(Vec<String>),
    /// Texts, each with the hash that names it.
    Blobs(Vec<(String, String)>),
    /// Texts asked for that the sender does not have.
    Lacks(Vec<String>),
    /// The host's signed word on who is in and with which role, as sent
    /// (checked by the receiver, which knows the host's certificate).
    Membership(Vec<u8>),
    /// Shared language servers.
    Lsp(super::lsp::LspMsg),
}

/// A compact summary of a workspace's shared state: a hash of the tree
/// document's heads, and one of every shared text file's id and heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Digest {
    pub tree: [u8; 8],
    pub files: [u8; 8],
}

const HELLO: u8 = 0x01;
const SYNC: u8 = 0x02;
const CHANGES: u8 = 0x03;
const BYE: u8 = 0x04;
const PEERS: u8 = 0x05;
const RELAY: u8 = 0x06;
const TERM_OUTPUT: u8 = 0x07;
const TERM_INPUT: u8 = 0x08;
const TERM_RESIZE: u8 = 0x09;
const TERM_REFUSED: u8 = 0x0a;
const PING: u8 = 0x0b;
const PONG: u8 = 0x0c;
const DIGEST: u8 = 0x0d;
const WANT: u8 = 0x0e;
const BLOBS: u8 = 0x0f;
const LACKS: u8 = 0x10;
const MEMBERSHIP: u8 = 0x11;
/// Document keys are file ids: at most this long.
const MAX_DOC_KEY: usize = 64;

impl StateMsg {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            StateMsg::Hello(h) => {
                out.push(HELLO);
                // Serializing a struct of strings and integers cannot fail.
                out.extend(serde_json::to_vec(h).unwrap_or_default());
            }
            StateMsg::Sync(items) | StateMsg::Changes(items) => {
                out.push(if matches!(self, StateMsg::Sync(_)) { SYNC } else { CHANGES });
                put_keyed(&mut out, items);
            }
            StateMsg::Bye(reason) => {
                out.push(BYE);
                out.extend_from_slice(reason.as_bytes());
            }
            StateMsg::Peers(p) => {
                out.push(PEERS);
                out.extend(serde_json::to_vec(p).unwrap_or_default());
            }
            StateMsg::Relay(r) => {
                out.push(RELAY);
                out.extend(serde_json::to_vec(r).unwrap_or_default());
            }
            StateMsg::Term(t) => encode_term(t, &mut out),
            StateMsg::Ping(n) | StateMsg::Pong(n) => {
                out.push(if matches!(self, StateMsg::Ping(_)) { PING } else { PONG });
                out.extend_from_slice(&n.to_be_bytes());
            }
            StateMsg::Digest(d) => {
                out.push(DIGEST);
                out.extend_from_slice(&d.tree);
                out.extend_from_slice(&d.files);
            }
            StateMsg::Want(hashes) | StateMsg::Lacks(hashes) => {
                out.push(if matches!(self, StateMsg::Want(_)) { WANT } else { LACKS });
                for h in hashes {
                    out.extend(super::invite::unhex::<32>(h).unwrap_or([0; 32]));
                }
            }
            StateMsg::Membership(body) => {
                out.push(MEMBERSHIP);
                out.extend_from_slice(body);
            }
            StateMsg::Lsp(msg) => msg.encode(&mut out),
            StateMsg::Blobs(blobs) => {
                out.push(BLOBS);
                for (hash, text) in blobs {
                    out.extend(super::invite::unhex::<32>(hash).unwrap_or([0; 32]));
                    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
                    out.extend_from_slice(text.as_bytes());
                }
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let (&kind, body) = bytes.split_first().ok_or(WireError::Malformed("empty message"))?;
        match kind {
            HELLO => {
                let mut h: Hello = serde_json::from_slice(body).map_err(|e| WireError::Hello(e.to_string()))?;
                if h.name.len() > MAX_NAME {
                    return Err(WireError::Hello(format!("name longer than {MAX_NAME} bytes")));
                }
                h.name = printable(&h.name, MAX_NAME);
                Ok(StateMsg::Hello(h))
            }
            SYNC => Ok(StateMsg::Sync(take_keyed(body)?)),
            CHANGES => Ok(StateMsg::Changes(take_keyed(body)?)),
            BYE => Ok(StateMsg::Bye(String::from_utf8_lossy(body).into_owned())),
            PEERS => {
                let mut p: PeersMsg = serde_json::from_slice(body).map_err(|_| WireError::Malformed("peers list"))?;
                if p.peers.len() > MAX_PEERS || p.peers.iter().any(|e| e.name.len() > MAX_NAME) {
                    return Err(WireError::Malformed("peers list too long"));
                }
                for e in &mut p.peers {
                    e.name = printable(&e.name, MAX_NAME);
                }
                Ok(StateMsg::Peers(p))
            }
            RELAY => serde_json::from_slice(body).map(StateMsg::Relay).map_err(|_| WireError::Malformed("relay")),
            TERM_OUTPUT => {
                let (term, rest) = take_u64(body)?;
                let (offset, bytes) = take_u64(rest)?;
                Ok(StateMsg::Term(TermMsg::Output { term: TermId(term), offset, bytes: bytes.to_vec() }))
            }
            TERM_INPUT => {
                let (term, bytes) = take_u64(body)?;
                Ok(StateMsg::Term(TermMsg::Input { term: TermId(term), bytes: bytes.to_vec() }))
            }
            TERM_RESIZE => {
                let (term, rest) = take_u64(body)?;
                match rest {
                    [c0, c1, r0, r1] => Ok(StateMsg::Term(TermMsg::Resize {
                        term: TermId(term),
                        cols: u16::from_be_bytes([*c0, *c1]),
                        rows: u16::from_be_bytes([*r0, *r1]),
                    })),
                    _ => Err(WireError::Malformed("terminal size")),
                }
            }
            TERM_REFUSED => {
                let (term, reason) = take_u64(body)?;
                let reason = printable(&String::from_utf8_lossy(reason), super::limits::MAX_TITLE);
                Ok(StateMsg::Term(TermMsg::Refused { term: TermId(term), reason }))
            }
            PING | PONG => {
                let (n, rest) = take_u64(body)?;
                if !rest.is_empty() {
                    return Err(WireError::Malformed("ping"));
                }
                Ok(if kind == PING { StateMsg::Ping(n) } else { StateMsg::Pong(n) })
            }
            DIGEST => {
                let (tree, files) = body.split_first_chunk::<8>().ok_or(WireError::Malformed("digest"))?;
                let files: [u8; 8] = files.try_into().map_err(|_| WireError::Malformed("digest"))?;
                Ok(StateMsg::Digest(Digest { tree: *tree, files }))
            }
            WANT | LACKS => {
                if body.is_empty() || body.len() % 32 != 0 || body.len() / 32 > MAX_WANT {
                    return Err(WireError::Malformed("want"));
                }
                let hashes = body.chunks(32).map(super::invite::hex).collect();
                Ok(if kind == WANT { StateMsg::Want(hashes) } else { StateMsg::Lacks(hashes) })
            }
            BLOBS => {
                let mut blobs = Vec::new();
                let mut rest = body;
                while !rest.is_empty() {
                    let (hash, tail) = rest.split_first_chunk::<32>().ok_or(WireError::Malformed("blob"))?;
                    let (len, tail) = tail.split_first_chunk::<4>().ok_or(WireError::Malformed("blob"))?;
                    let text = tail.get(..u32::from_be_bytes(*len) as usize).ok_or(WireError::Malformed("blob"))?;
                    let text = std::str::from_utf8(text).map_err(|_| WireError::Malformed("blob text is not UTF-8"))?;
                    blobs.push((super::invite::hex(hash), text.to_owned()));
                    rest = &tail[text.len()..];
                }
                Ok(StateMsg::Blobs(blobs))
            }
            MEMBERSHIP if body.is_empty() || body.len() > MAX_MEMBERSHIP => Err(WireError::Malformed("membership")),
            MEMBERSHIP => Ok(StateMsg::Membership(body.to_vec())),
            super::lsp::OFFER..=super::lsp::DIAGNOSTICS => Ok(StateMsg::Lsp(super::lsp::LspMsg::decode(kind, body)?)),
            other => Err(WireError::UnknownType(other)),
        }
    }
}

fn encode_term(t: &TermMsg, out: &mut Vec<u8>) {
    match t {
        TermMsg::Output { term, offset, bytes } => {
            out.push(TERM_OUTPUT);
            out.extend_from_slice(&term.0.to_be_bytes());
            out.extend_from_slice(&offset.to_be_bytes());
            out.extend_from_slice(bytes);
        }
        TermMsg::Input { term, bytes } => {
            out.push(TERM_INPUT);
            out.extend_from_slice(&term.0.to_be_bytes());
            out.extend_from_slice(bytes);
        }
        TermMsg::Resize { term, cols, rows } => {
            out.push(TERM_RESIZE);
            out.extend_from_slice(&term.0.to_be_bytes());
            out.extend_from_slice(&cols.to_be_bytes());
            out.extend_from_slice(&rows.to_be_bytes());
        }
        TermMsg::Refused { term, reason } => {
            out.push(TERM_REFUSED);
            out.extend_from_slice(&term.0.to_be_bytes());
            out.extend_from_slice(reason.as_bytes());
        }
    }
}

fn put_keyed(out: &mut Vec<u8>, items: &Keyed) {
    for (key, bytes) in items {
        out.push(key.len() as u8);
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
}

fn take_keyed(body: &[u8]) -> Result<Keyed, WireError> {
    let mut items = Vec::new();
    let mut rest = body;
    while let Some((&n, tail)) = rest.split_first() {
        let key = tail.get(..n as usize).ok_or(WireError::Malformed("truncated document key"))?;
        if key.len() > MAX_DOC_KEY || !key.iter().all(u8::is_ascii_alphanumeric) {
            return Err(WireError::Malformed("bad document key"));
        }
        let (len, tail) = tail[n as usize..].split_first_chunk::<4>().ok_or(WireError::Malformed("truncated length"))?;
        let len = u32::from_be_bytes(*len) as usize;
        let bytes = tail.get(..len).ok_or(WireError::Malformed("truncated payload"))?;
        items.push((String::from_utf8_lossy(key).into_owned(), bytes.to_vec()));
        rest = &tail[len..];
    }
    Ok(items)
}

fn take_u64(body: &[u8]) -> Result<(u64, &[u8]), WireError> {
    let (n, rest) = body.split_first_chunk::<8>().ok_or(WireError::Malformed("truncated integer"))?;
    Ok((u64::from_be_bytes(*n), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips() {
        let msgs = [
            StateMsg::Hello(Hello { protocol: PROTOCOL_VERSION, peer: PeerId::random(), name: "ada".into(), workspace: "abc".into() }),
            StateMsg::Sync(vec![(String::new(), vec![1, 2, 3]), ("0a1b".into(), vec![4])]),
            StateMsg::Changes(vec![(String::new(), vec![9; 10]), ("ff00".into(), vec![]), ("ff00".into(), vec![7; 3])]),
            StateMsg::Bye("bye".into()),
            StateMsg::Peers(PeersMsg { peers: vec![PeerEntry { peer: PeerId::random(), name: "bob".into() }] }),
            StateMsg::Relay(Relay { from: PeerId::random(), to: PeerId::random(), kind: RelayKind::Offer, sdp: "v=0".into() }),
            StateMsg::Term(TermMsg::Output { term: TermId(7), offset: 1 << 40, bytes: b"\x1b[1mhi\r\n".to_vec() }),
            StateMsg::Term(TermMsg::Input { term: TermId(u64::MAX), bytes: vec![3] }),
            StateMsg::Term(TermMsg::Resize { term: TermId(1), cols: 120, rows: 40 }),
            StateMsg::Term(TermMsg::Refused { term: TermId(1), reason: "no write access".into() }),
            StateMsg::Ping(42),
            StateMsg::Pong(42),
            StateMsg::Digest(Digest { tree: [1; 8], files: [2; 8] }),
            StateMsg::Want(vec!["ab".repeat(32), "0f".repeat(32)]),
            StateMsg::Lacks(vec!["12".repeat(32)]),
            StateMsg::Blobs(vec![("cd".repeat(32), "fn main() {}\n".into()), ("ef".repeat(32), String::new())]),
        ];
        for m in msgs {
            assert_eq!(StateMsg::decode(&m.encode()), Ok(m));
        }
    }

    #[test]
    fn malformed_messages_are_errors() {
        assert!(StateMsg::decode(&[]).is_err());
        assert_eq!(StateMsg::decode(&[0x7f]), Err(WireError::UnknownType(0x7f)));
        assert!(StateMsg::decode(&[HELLO, b'{']).is_err());
        let hello = |peer: &str| [&[HELLO][..], format!(r#"{{"protocol":1,"peer":"{peer}","name":"x","workspace":"w"}}"#).as_bytes()].concat();
        assert!(StateMsg::decode(&hello("0123456789abcdef")).is_ok());
        assert!(StateMsg::decode(&hello("../../etc")).is_err(), "a peer id that is not 16 hex digits");
        assert!(StateMsg::decode(&[CHANGES, 0, 0, 0, 0, 9, 1]).is_err());
        assert!(StateMsg::decode(&[CHANGES, 0, 0, 0]).is_err());
        assert_eq!(StateMsg::decode(&[SYNC, 2, b'.', b'.', 0, 0, 0, 0]), Err(WireError::Malformed("bad document key")));
        assert_eq!(StateMsg::decode(&[TERM_OUTPUT, 0, 0, 0, 0, 0, 0, 0, 1, 0]), Err(WireError::Malformed("truncated integer")));
        assert_eq!(StateMsg::decode(&[TERM_RESIZE, 0, 0, 0, 0, 0, 0, 0, 1, 0, 80]), Err(WireError::Malformed("terminal size")));
        assert!(StateMsg::decode(&[PING, 1, 2]).is_err());
        assert_eq!(StateMsg::decode(&[DIGEST, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Err(WireError::Malformed("digest")));
        assert_eq!(StateMsg::decode(&[WANT, 1, 2, 3]), Err(WireError::Malformed("want")));
        assert_eq!(
            StateMsg::decode(&[[BLOBS].as_slice(), &[7; 32], &[0, 0, 0, 2, 0xff, 0xfe]].concat()),
            Err(WireError::Malformed("blob text is not UTF-8"))
        );
        assert_eq!(StateMsg::decode(&[[BLOBS].as_slice(), &[7; 32], &[0, 0, 0, 9, b'a']].concat()), Err(WireError::Malformed("blob")));
        let bad_peer_ids = [&[RELAY][..], br#"{"from":"x","to":"y","kind":"offer","sdp":""}"#].concat();
        assert_eq!(StateMsg::decode(&bad_peer_ids), Err(WireError::Malformed("relay")));
        let mut long = vec![HELLO];
        long.extend(format!(r#"{{"protocol":1,"peer":"0123456789abcdef","name":"{}","workspace":"w"}}"#, "n".repeat(100)).bytes());
        assert!(StateMsg::decode(&long).is_err());
    }
}
