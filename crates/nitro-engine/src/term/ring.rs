//! A terminal's recent output: a bounded window over the byte stream, with
//! absolute offsets so readers on any peer can say where they are.
//!
//! The oldest bytes fall out when the window is full, and the window then
//! starts on a line boundary when one is near: a late reader replays whole
//! lines, not the tail of an escape sequence.

use std::collections::VecDeque;

/// How far past the evicted point the window looks for a line start.
pub const LINE_SLACK: usize = 4096;

#[derive(Debug)]
pub struct Ring {
    /// Offset of the first byte held.
    start: u64,
    buf: VecDeque<u8>,
    cap: usize,
}

/// Bytes read from a ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Offset of `bytes[0]` in the stream. Larger than the offset asked
    /// for when older bytes are gone: the reader missed something.
    pub offset: u64,
    pub bytes: Vec<u8>,
}

impl Ring {
    pub fn new(cap: usize) -> Self {
        Self { start: 0, buf: VecDeque::new(), cap }
    }

    pub fn start(&self) -> u64 {
        self.start
    }

    /// Offset one past the last byte held.
    pub fn end(&self) -> u64 {
        self.start + self.buf.len() as u64
    }

    pub fn push(&mut self, bytes: &[u8]) {
        // Only the newest `cap` bytes of a large write can stay.
        let dropped = bytes.len().saturating_sub(self.cap);
        if dropped > 0 {
            self.start = self.end() + dropped as u64;
            self.buf.clear();
        }
        self.buf.extend(&bytes[dropped..]);
        let mut cut = self.buf.len().saturating_sub(self.cap);
        if cut > 0 || dropped > 0 {
            if let Some(nl) = self.buf.range(cut..).take(LINE_SLACK).position(|&b| b == b'\n') {
                cut += nl + 1;
            }
            self.buf.drain(..cut);
            self.start += cut as u64;
        }
        if self.buf.capacity() > 2 * self.cap {
            self.buf.shrink_to(self.cap);
        }
    }

    /// Takes bytes that belong at `offset` (a mirror of another peer's
    /// ring): a repeat of what is held is skipped, and a gap (we missed
    /// bytes that are gone) starts the window over at `offset`. Bytes that
    /// would run the stream past `u64::MAX` are refused.
    pub fn put(&mut self, offset: u64, bytes: &[u8]) -> bool {
        if offset.checked_add(bytes.len() as u64).is_none() {
            return false;
        }
        let end = self.end();
        if offset > end {
            self.buf.clear();
            self.start = offset;
            self.push(bytes);
        } else {
            let skip = usize::try_from(end - offset).unwrap_or(usize::MAX);
            if skip < bytes.len() {
                self.push(&bytes[skip..]);
            }
        }
        true
    }

    /// Up to `max` bytes from `from` on (or from the window's start, if
    /// `from` fell out of it).
    pub fn read(&self, from: u64, max: usize) -> Chunk {
        let offset = from.clamp(self.start, self.end());
        let skip = (offset - self.start) as usize;
        let bytes = self.buf.range(skip..).take(max).copied().collect();
        Chunk { offset, bytes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_bytes_from_a_line_start() {
        let mut r = Ring::new(16);
        r.push(b"line one\nline two\nthree");
        // 23 bytes into 16: the oldest 7 go, then the rest of "line one\n".
        assert_eq!(r.start(), 9);
        assert_eq!(r.read(0, 100), Chunk { offset: 9, bytes: b"line two\nthree".to_vec() });
        assert_eq!(r.end(), 23);
        assert_eq!(r.read(18, 3).bytes, b"thr");
    }

    #[test]
    fn a_mirror_skips_repeats_and_restarts_after_a_gap() {
        let mut r = Ring::new(1024);
        r.put(0, b"hello ");
        r.put(3, b"lo world");
        assert_eq!(r.read(0, 100).bytes, b"hello world");
        r.put(5, b" w");
        assert_eq!(r.end(), 11);
        r.put(50, b"later");
        assert_eq!(r.read(0, 100), Chunk { offset: 50, bytes: b"later".to_vec() });
        // A peer's offset that would overflow the stream is refused.
        assert!(!r.put(u64::MAX - 2, b"boom"));
        assert_eq!(r.end(), 55);
    }

    #[test]
    fn a_write_larger_than_the_ring_keeps_its_tail_at_the_right_offsets() {
        let mut r = Ring::new(8);
        r.put(0, b"0123456789abcdef");
        assert_eq!(r.read(0, 100), Chunk { offset: 8, bytes: b"89abcdef".to_vec() });
        r.push(b"ghijklmnopqrstuvwxyz");
        assert_eq!(r.read(0, 100), Chunk { offset: 28, bytes: b"stuvwxyz".to_vec() });
    }
}
