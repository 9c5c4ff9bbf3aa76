//! Messages on the unreliable, unordered `presence` channel.
//!
//! One message per data channel message, never chunked:
//!
//! | offset | size | field |
//! |--------|------|-------|
//! | 0 | 1 | type: 0x01 heartbeat |
//! | 1 | 4 | sequence number, u32 big-endian, increasing per sender |
//! | 5 | .. | the sender's display name, UTF-8, at most 64 bytes |
//!
//! A receiver keeps the entry with the highest sequence number per peer, so
//! late or reordered datagrams never overwrite newer ones.

use super::wire::MAX_NAME;
use super::WireError;

const HEARTBEAT: u8 = 0x01;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    pub seq: u32,
    pub name: String,
}

impl Heartbeat {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![HEARTBEAT];
        out.extend_from_slice(&self.seq.to_be_bytes());
        let mut end = self.name.len().min(MAX_NAME);
        while !self.name.is_char_boundary(end) {
            end -= 1;
        }
        out.extend_from_slice(&self.name.as_bytes()[..end]);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        match bytes {
            [HEARTBEAT, a, b, c, d, name @ ..] if name.len() <= MAX_NAME => Ok(Self {
                seq: u32::from_be_bytes([*a, *b, *c, *d]),
                name: std::str::from_utf8(name).map_err(|_| WireError::Malformed("name is not UTF-8"))?.to_owned(),
            }),
            [HEARTBEAT, ..] => Err(WireError::Malformed("bad heartbeat")),
            [other, ..] => Err(WireError::UnknownType(*other)),
            [] => Err(WireError::Malformed("empty presence message")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_round_trips_and_cuts_long_names_on_a_char_boundary() {
        let h = Heartbeat { seq: 7, name: "zoë".into() };
        assert_eq!(Heartbeat::decode(&h.encode()), Ok(h));
        let long = Heartbeat { seq: 1, name: "é".repeat(40) };
        let back = Heartbeat::decode(&long.encode()).expect("decodes");
        assert_eq!(back.name, "é".repeat(32));
        assert!(Heartbeat::decode(&[1, 0, 0]).is_err());
        assert!(Heartbeat::decode(&[9]).is_err());
    }
}
