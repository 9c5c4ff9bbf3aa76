//! Splitting state messages into data channel messages and joining them again.
//!
//! A data channel message is at most 64 KiB by default, while a sync message
//! at join can be many megabytes. Each data channel message on `state` is one
//! flag byte (`0x01`: more chunks of this message follow, `0x00`: last chunk)
//! followed by up to [`CHUNK_PAYLOAD`] bytes.

use super::WireError;
use super::limits::MAX_MESSAGE;

/// Payload bytes per chunk; with the flag byte this stays under the 64 KiB
/// default maximum message size of WebRTC data channels.
pub const CHUNK_PAYLOAD: usize = 64 * 1024 - 1024;

const MORE: u8 = 0x01;
const LAST: u8 = 0x00;

/// Splits an encoded message into chunks ready to send.
pub fn split(msg: &[u8]) -> Vec<Vec<u8>> {
    let mut parts: Vec<Vec<u8>> = msg
        .chunks(CHUNK_PAYLOAD)
        .map(|c| {
            let mut v = Vec::with_capacity(c.len() + 1);
            v.push(MORE);
            v.extend_from_slice(c);
            v
        })
        .collect();
    match parts.last_mut() {
        Some(last) => last[0] = LAST,
        None => parts.push(vec![LAST]),
    }
    parts
}

/// Joins chunks back into messages.
#[derive(Debug, Default)]
pub struct Reassembler {
    buf: Vec<u8>,
}

impl Reassembler {
    /// Takes one chunk; returns a whole message when this chunk completes one.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Option<Vec<u8>>, WireError> {
        let (&flag, payload) = chunk.split_first().ok_or(WireError::Malformed("empty chunk"))?;
        if self.buf.len() + payload.len() > MAX_MESSAGE {
            self.buf = Vec::new();
            return Err(WireError::TooLarge(MAX_MESSAGE));
        }
        self.buf.extend_from_slice(payload);
        match flag {
            LAST => Ok(Some(std::mem::take(&mut self.buf))),
            MORE => Ok(None),
            _ => Err(WireError::Malformed("unknown chunk flag")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_join_round_trip() {
        for len in [0, 1, CHUNK_PAYLOAD - 1, CHUNK_PAYLOAD, CHUNK_PAYLOAD + 1, 3 * CHUNK_PAYLOAD + 17] {
            let msg: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let chunks = split(&msg);
            assert!(chunks.iter().all(|c| c.len() <= 65536));
            let mut r = Reassembler::default();
            let mut out = None;
            for (i, c) in chunks.iter().enumerate() {
                let got = r.push(c).expect("valid chunk");
                assert_eq!(got.is_some(), i == chunks.len() - 1);
                out = got.or(out);
            }
            assert_eq!(out, Some(msg));
        }
    }

    #[test]
    fn malformed_chunks_are_errors() {
        let mut r = Reassembler::default();
        assert!(r.push(&[]).is_err());
        assert!(r.push(&[7, 1, 2]).is_err());
    }
}
