//! Messages on the unreliable, unordered `presence` channel: where a peer is
//! and what it has selected, sent when that changes (at most 60 times a
//! second) and every second as a heartbeat. One message per datagram:
//!
//! | size | field |
//! |------|-------|
//! | 1 | type: `0x01` presence |
//! | 4 | sequence number, u32 big-endian, increasing per sender |
//! | 1 | flags: bit 0 typing, bit 1 a file is open, bit 2 a viewport follows |
//! | 1 + n | display name: length, UTF-8 (n ≤ 64) |
//! | 1 + n | only with bit 1: the open file's id: length, ASCII (n ≤ 64) |
//! | 4 | only with bit 2: the first visible line (1-based), u32 big-endian |
//! | 1 | number of selections (≤ 16) |
//! | per selection: 1 + n, 1 + m | anchor and head: length, Automerge cursor bytes (≤ 255 each) |
//!
//! Positions are Automerge cursors on the file's text, so they stay on the
//! same character whatever edits arrive before them. A receiver keeps the
//! message with the highest sequence number per peer: late or reordered
//! datagrams never overwrite newer ones.

use super::WireError;
use super::limits::{MAX_NAME, MAX_SELECTIONS};
use super::printable::printable;

const PRESENCE: u8 = 0x01;
const TYPING: u8 = 0x01;
const HAS_FILE: u8 = 0x02;
const HAS_VIEWPORT: u8 = 0x04;
const MAX_FILE_ID: usize = 64;

/// One selection: `anchor` is where it started, `head` where the caret is
/// (equal for a plain caret). Both are encoded Automerge cursors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireSelection {
    pub anchor: Vec<u8>,
    pub head: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PresenceMsg {
    pub seq: u32,
    pub name: String,
    pub typing: bool,
    /// The id of the open file.
    pub file: Option<String>,
    pub selections: Vec<WireSelection>,
    /// The first line the editor shows (1-based), so others can follow.
    pub viewport: Option<u32>,
}

fn put_short(out: &mut Vec<u8>, bytes: &[u8]) {
    let n = bytes.len().min(255);
    out.push(n as u8);
    out.extend_from_slice(&bytes[..n]);
}

fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, WireError> {
        let (&b, rest) = self.0.split_first().ok_or(WireError::Malformed("truncated presence"))?;
        self.0 = rest;
        Ok(b)
    }

    fn short(&mut self, max: usize) -> Result<&'a [u8], WireError> {
        let n = self.byte()? as usize;
        if n > max || n > self.0.len() {
            return Err(WireError::Malformed("presence field too long"));
        }
        let (v, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(v)
    }
}

impl PresenceMsg {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![PRESENCE];
        out.extend_from_slice(&self.seq.to_be_bytes());
        let file = self.file.as_deref().filter(|f| f.len() <= MAX_FILE_ID);
        out.push(
            if self.typing { TYPING } else { 0 } | if file.is_some() { HAS_FILE } else { 0 } | if self.viewport.is_some() { HAS_VIEWPORT } else { 0 },
        );
        put_short(&mut out, cut(&self.name, MAX_NAME).as_bytes());
        if let Some(f) = file {
            put_short(&mut out, f.as_bytes());
        }
        if let Some(v) = self.viewport {
            out.extend_from_slice(&v.to_be_bytes());
        }
        let sels = &self.selections[..self.selections.len().min(MAX_SELECTIONS)];
        out.push(sels.len() as u8);
        for s in sels {
            put_short(&mut out, &s.anchor);
            put_short(&mut out, &s.head);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader(bytes);
        match r.byte()? {
            PRESENCE => {}
            other => return Err(WireError::UnknownType(other)),
        }
        let seq = u32::from_be_bytes([r.byte()?, r.byte()?, r.byte()?, r.byte()?]);
        let flags = r.byte()?;
        let name = printable(std::str::from_utf8(r.short(MAX_NAME)?).map_err(|_| WireError::Malformed("name is not UTF-8"))?, MAX_NAME);
        let file = if flags & HAS_FILE != 0 {
            let id = r.short(MAX_FILE_ID)?;
            if !id.iter().all(u8::is_ascii_alphanumeric) {
                return Err(WireError::Malformed("bad file id"));
            }
            Some(String::from_utf8_lossy(id).into_owned())
        } else {
            None
        };
        let viewport = if flags & HAS_VIEWPORT != 0 { Some(u32::from_be_bytes([r.byte()?, r.byte()?, r.byte()?, r.byte()?])) } else { None };
        let n = r.byte()? as usize;
        if n > MAX_SELECTIONS {
            return Err(WireError::Malformed("too many selections"));
        }
        let mut selections = Vec::with_capacity(n);
        for _ in 0..n {
            let anchor = r.short(255)?.to_vec();
            let head = r.short(255)?.to_vec();
            selections.push(WireSelection { anchor, head });
        }
        if !r.0.is_empty() {
            return Err(WireError::Malformed("trailing bytes in presence"));
        }
        Ok(Self { seq, name, typing: flags & TYPING != 0, file, selections, viewport })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_round_trips_and_is_compact() {
        let p = PresenceMsg {
            seq: 42,
            name: "zoë".into(),
            typing: true,
            file: Some("00ff00ff00ff00ff".into()),
            selections: vec![WireSelection { anchor: vec![1; 20], head: vec![2; 20] }],
            viewport: Some(120),
        };
        let bytes = p.encode();
        assert!(bytes.len() < 80, "{}", bytes.len());
        assert_eq!(PresenceMsg::decode(&bytes), Ok(p));
        let idle = PresenceMsg { seq: 1, name: "a".into(), ..Default::default() };
        assert_eq!(PresenceMsg::decode(&idle.encode()), Ok(idle));
    }

    #[test]
    fn long_names_are_cut_on_a_char_boundary() {
        let p = PresenceMsg { seq: 1, name: "é".repeat(40), ..Default::default() };
        assert_eq!(PresenceMsg::decode(&p.encode()).expect("decodes").name, "é".repeat(32));
    }

    #[test]
    fn malformed_presence_is_an_error() {
        let good = PresenceMsg { seq: 1, name: "a".into(), file: Some("ab".into()), viewport: Some(3), ..Default::default() }.encode();
        for cut in 0..good.len() {
            assert!(PresenceMsg::decode(&good[..cut]).is_err(), "truncated at {cut}");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(PresenceMsg::decode(&trailing).is_err());
        assert!(PresenceMsg::decode(&[9]).is_err());
        let mut bad_id = good.clone();
        let at = bad_id.len() - 7;
        bad_id[at] = b'/';
        assert!(PresenceMsg::decode(&bad_id).is_err());
    }
}
