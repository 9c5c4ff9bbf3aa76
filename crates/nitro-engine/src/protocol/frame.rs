//! Splitting state messages into data channel messages and joining them again.
//!
//! A data channel message is at most 64 KiB by default, while a sync message
//! at join can be many megabytes. Each data channel message on `state` is one
//! flag byte (`0x01`: more chunks of this message follow, `0x00`: last chunk;
//! `0x02` added on every chunk of a message sent deflated) followed by up to
//! [`CHUNK_PAYLOAD`] bytes. Texts and terminal output shrink several times
//! when deflated, and the data channel, not the CPU, bounds how fast a
//! workspace arrives.

use std::io::Read;

use flate2::read::DeflateDecoder;
use miniz_oxide::deflate::core::{CompressorOxide, TDEFLFlush, TDEFLStatus, compress, create_comp_flags_from_zip_params};

use super::WireError;
use super::limits::MAX_MESSAGE;

/// Payload bytes per chunk; with the flag byte this stays under the 64 KiB
/// default maximum message size of WebRTC data channels.
pub const CHUNK_PAYLOAD: usize = 64 * 1024 - 1024;

/// Messages this long or longer are sent deflated when that saves at least
/// an eighth of their size.
pub const DEFLATE_FROM: usize = 16 * 1024;

const MORE: u8 = 0x01;
const LAST: u8 = 0x00;
const DEFLATED: u8 = 0x02;

/// Splits an encoded message into chunks ready to send, deflated when that
/// pays (see [`DEFLATE_FROM`]).
pub fn split(msg: &[u8]) -> Vec<Vec<u8>> {
    Deflater::default().split(msg)
}

/// Deflates the messages of one connection, one after another, with one
/// compressor kept between them (its state is a few hundred kilobytes:
/// made anew for every message, it churns memory while a terminal floods).
pub struct Deflater(Box<CompressorOxide>);

impl Default for Deflater {
    fn default() -> Self {
        // Level 1, no zlib header (a window size of 0 asks for raw DEFLATE).
        Self(Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(1, 0, 0))))
    }
}

impl Deflater {
    /// [`split`], with this compressor.
    pub fn split(&mut self, msg: &[u8]) -> Vec<Vec<u8>> {
        let packed = if msg.len() >= DEFLATE_FROM {
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.deflate(msg))) {
                Ok(packed) => packed.filter(|d| d.len() <= msg.len() - msg.len() / 8),
                Err(_) => {
                    // A compressor that failed is not trusted again; the
                    // message goes as it is.
                    tracing::warn!("deflating a message failed; it is sent as it is");
                    *self = Self::default();
                    None
                }
            }
        } else {
            None
        };
        chunks(msg, packed.as_deref())
    }

    /// Raw DEFLATE (RFC 1951) at the fastest level, always to the end of
    /// the stream (room for the worst case: stored blocks cost 5 bytes per
    /// 64 KiB).
    fn deflate(&mut self, msg: &[u8]) -> Option<Vec<u8>> {
        self.0.reset();
        let mut out = vec![0; msg.len() + msg.len() / 1024 + 64];
        let (status, read, written) = compress(&mut self.0, msg, &mut out, TDEFLFlush::Finish);
        (status == TDEFLStatus::Done && read == msg.len()).then(|| {
            out.truncate(written);
            out
        })
    }
}

/// The chunks of `msg`, carrying `packed` (its deflated form) instead when given.
fn chunks(msg: &[u8], packed: Option<&[u8]>) -> Vec<Vec<u8>> {
    let (body, deflated) = match packed {
        Some(d) => (d, DEFLATED),
        None => (msg, 0),
    };
    let mut parts: Vec<Vec<u8>> = body
        .chunks(CHUNK_PAYLOAD)
        .map(|c| {
            let mut v = Vec::with_capacity(c.len() + 1);
            v.push(MORE | deflated);
            v.extend_from_slice(c);
            v
        })
        .collect();
    match parts.last_mut() {
        Some(last) => last[0] = LAST | deflated,
        None => parts.push(vec![LAST]),
    }
    parts
}

/// Inflates a deflated message, refusing one that would grow past
/// [`MAX_MESSAGE`] (a small stream can claim gigabytes).
fn inflate(body: &[u8]) -> Result<Vec<u8>, WireError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(MAX_MESSAGE));
    let read = DeflateDecoder::new(body).take(MAX_MESSAGE as u64 + 1).read_to_end(&mut out);
    match read {
        Ok(n) if n > MAX_MESSAGE => Err(WireError::TooLarge(MAX_MESSAGE)),
        Ok(_) => Ok(out),
        Err(_) => Err(WireError::Malformed("a deflated message that does not inflate")),
    }
}

/// Joins chunks back into messages.
#[derive(Debug, Default)]
pub struct Reassembler {
    buf: Vec<u8>,
    /// Whether the message being joined was sent deflated (known from its
    /// first chunk).
    deflated: Option<bool>,
}

impl Reassembler {
    /// Takes one chunk; returns a whole message when this chunk completes one.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Option<Vec<u8>>, WireError> {
        let (&flag, payload) = chunk.split_first().ok_or(WireError::Malformed("empty chunk"))?;
        if flag & !(MORE | DEFLATED) != 0 {
            return Err(WireError::Malformed("unknown chunk flag"));
        }
        let deflated = flag & DEFLATED != 0;
        if *self.deflated.get_or_insert(deflated) != deflated {
            self.reset();
            return Err(WireError::Malformed("a message whose chunks disagree on being deflated"));
        }
        if self.buf.len() + payload.len() > MAX_MESSAGE {
            self.reset();
            return Err(WireError::TooLarge(MAX_MESSAGE));
        }
        self.buf.extend_from_slice(payload);
        if flag & MORE != 0 {
            return Ok(None);
        }
        let whole = std::mem::take(&mut self.buf);
        self.deflated = None;
        if deflated { inflate(&whole).map(Some) } else { Ok(Some(whole)) }
    }

    fn reset(&mut self) {
        self.buf = Vec::new();
        self.deflated = None;
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
        assert!(r.push(&[0x04, 1, 2]).is_err());
    }

    fn join(chunks: &[Vec<u8>]) -> Result<Option<Vec<u8>>, WireError> {
        let mut r = Reassembler::default();
        let mut out = None;
        for c in chunks {
            out = r.push(c)?.or(out);
        }
        Ok(out)
    }

    #[test]
    fn text_travels_deflated_in_fewer_chunks_and_comes_back_whole() {
        let line = "    let (body, deflated) = match &packed { Some(d) => (d.as_slice(), DEFLATED), None => (msg, 0) };\n";
        let msg = line.repeat(20_000).into_bytes();
        let chunks = split(&msg);
        assert!(chunks.iter().all(|c| c[0] & DEFLATED != 0), "every chunk says the message is deflated");
        assert!(chunks.len() * 4 < msg.len().div_ceil(CHUNK_PAYLOAD), "{} chunks", chunks.len());
        assert_eq!(join(&chunks).expect("valid"), Some(msg));
    }

    /// One compressor serves a connection's messages one after another,
    /// whatever came before: shrinking, not shrinking, short.
    #[test]
    fn one_deflater_carries_any_run_of_messages() {
        use rand::{RngCore, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let mut d = Deflater::default();
        let text = "fn main() { println!(\"hello\"); }\n".repeat(3_000).into_bytes();
        for round in 0..40 {
            let mut noise = vec![0u8; 16 * 1024 + round * 997];
            rng.fill_bytes(&mut noise);
            let mut half = text.clone();
            half.extend_from_slice(&noise[..noise.len() / 2]);
            for msg in [&text, &noise, &half, &b"short".to_vec()] {
                let chunks = d.split(msg);
                assert_eq!(join(&chunks).expect("valid"), Some(msg.clone()), "round {round}");
                if msg == &text {
                    assert!(chunks[0][0] & DEFLATED != 0, "round {round}: text is deflated");
                }
            }
        }
    }

    #[test]
    fn what_does_not_shrink_or_is_short_travels_as_it_is() {
        use rand::{RngCore, SeedableRng};
        let mut noise = vec![0u8; 200_000];
        rand::rngs::StdRng::seed_from_u64(1).fill_bytes(&mut noise);
        let short = b"short message, short message, short message".to_vec();
        for msg in [noise, short] {
            let chunks = split(&msg);
            assert!(chunks.iter().all(|c| c[0] & DEFLATED == 0));
            assert_eq!(join(&chunks).expect("valid"), Some(msg));
        }
    }

    /// A peer that sends a small deflated stream claiming more than a
    /// message may hold is refused before it is inflated past the limit.
    #[test]
    fn a_deflated_message_that_would_grow_past_the_limit_is_refused() {
        let bomb = Deflater::default().deflate(&vec![0u8; MAX_MESSAGE + 1024]).expect("deflate");
        assert!(bomb.len() * 100 < MAX_MESSAGE, "{} bytes", bomb.len());
        let chunks: Vec<Vec<u8>> = bomb
            .chunks(CHUNK_PAYLOAD)
            .enumerate()
            .map(|(i, c)| [&[if (i + 1) * CHUNK_PAYLOAD >= bomb.len() { LAST } else { MORE } | DEFLATED][..], c].concat())
            .collect();
        assert_eq!(join(&chunks), Err(WireError::TooLarge(MAX_MESSAGE)));
        assert_eq!(join(&[vec![LAST | DEFLATED, 1, 2, 3]]), Err(WireError::Malformed("a deflated message that does not inflate")));
        let mixed = [vec![MORE | DEFLATED, 1], vec![LAST, 2]];
        assert!(join(&mixed).is_err(), "chunks of one message must agree");
    }
}
