//! Shared terminals: a shell on one peer's PTY, watched by every peer.
//!
//! The owner's shell writes into a [`ring::Ring`] of recent output; the
//! engine streams it to each peer at that peer's pace, and each peer keeps a
//! mirror ring of the same bytes at the same offsets. Editors and the
//! command line read either through a [`TermView`]. Output never enters the
//! Automerge document; only the terminal's metadata does.

pub mod pty;
pub mod ring;

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

pub use ring::{Chunk, Ring};

use crate::protocol::{PeerId, TermId};

/// Recent output kept per terminal, on the owner and on every mirror: what a
/// late joiner sees, and how far the slowest peer may fall behind before the
/// shell has to wait.
pub const SCROLLBACK: usize = 2 * 1024 * 1024;
/// How far the shell may run ahead of the slowest peer: what the ring
/// holds at least (it drops up to a line more than it must).
pub const AHEAD: u64 = (SCROLLBACK - ring::LINE_SLACK) as u64;

#[derive(Debug, thiserror::Error)]
pub enum TermError {
    #[error("could not start a shell: {0}")]
    Pty(String),
    #[error("no terminal {0}")]
    Unknown(TermId),
    #[error("terminal {0} belongs to another peer; only its owner can do that")]
    NotOwner(TermId),
    #[error("no write access to terminal {0}: its owner has not granted it")]
    NoWriteAccess(TermId),
    #[error("the owner of terminal {0} is not connected")]
    OwnerAway(TermId),
    #[error("the connection to the owner of terminal {0} is congested; the keystrokes were dropped")]
    OwnerBusy(TermId),
    #[error("a terminal has 1 to {} columns and 1 to {} rows", crate::protocol::limits::MAX_COLS, crate::protocol::limits::MAX_ROWS)]
    BadSize,
    #[error("the shell is not reading its input; the keystrokes were dropped")]
    NotReading,
}

impl TermError {
    fn pty(e: impl std::fmt::Display) -> Self {
        Self::Pty(e.to_string())
    }
}

/// A terminal as every peer sees it (from the workspace document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermInfo {
    pub id: TermId,
    pub owner: PeerId,
    pub title: String,
    pub cols: u16,
    pub rows: u16,
    /// `Some(code)` once the shell has exited.
    pub exit: Option<u32>,
    /// Peers the owner lets type (the owner always can).
    pub writers: Vec<PeerId>,
}

/// A terminal's output stream, shared by the engine and local readers.
#[derive(Debug, Clone)]
pub struct Stream {
    pub ring: Arc<Mutex<Ring>>,
    pub end: Arc<watch::Sender<u64>>,
}

impl Default for Stream {
    fn default() -> Self {
        Self { ring: Arc::new(Mutex::new(Ring::new(SCROLLBACK))), end: Arc::new(watch::channel(0).0) }
    }
}

impl Stream {
    pub fn read(&self, from: u64, max: usize) -> Chunk {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner).read(from, max)
    }

    /// Appends the shell's output.
    pub fn push(&self, bytes: &[u8]) {
        let end = {
            let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
            ring.push(bytes);
            ring.end()
        };
        self.end.send_replace(end);
    }

    /// Takes bytes another peer's ring holds at `offset`; false for an
    /// offset no stream can have.
    pub fn put(&self, offset: u64, bytes: &[u8]) -> bool {
        let (ok, end) = {
            let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
            (ring.put(offset, bytes), ring.end())
        };
        self.end.send_replace(end);
        ok
    }

    pub fn end(&self) -> u64 {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner).end()
    }

    pub fn view(&self) -> TermView {
        TermView { ring: self.ring.clone(), changed: self.end.subscribe() }
    }
}

/// A local reader of one terminal's output (an editor's terminal panel, or
/// `nitro --term`). Readers never slow the shell: one that reads too late
/// finds a gap and continues from the oldest byte still held.
#[derive(Debug)]
pub struct TermView {
    ring: Arc<Mutex<Ring>>,
    /// Closed once the terminal is gone (the stream's last holder dropped).
    changed: watch::Receiver<u64>,
}

impl TermView {
    /// Up to `max` bytes from `from` on. The chunk's offset is past `from`
    /// when bytes in between are gone: clear the screen, then write it.
    pub fn read(&mut self, from: u64, max: usize) -> Chunk {
        self.changed.mark_unchanged();
        self.ring.lock().unwrap_or_else(PoisonError::into_inner).read(from, max)
    }

    /// Waits for output newer than the last read; false once the terminal
    /// is closed.
    pub async fn changed(&mut self) -> bool {
        self.changed.changed().await.is_ok()
    }

    /// Everything shown so far, once it shows `needle` (tests of real shells).
    #[cfg(test)]
    pub async fn shown_until(&mut self, needle: &str) -> String {
        let wait = async {
            loop {
                let text = String::from_utf8_lossy(&self.read(0, usize::MAX).bytes).into_owned();
                if text.contains(needle) {
                    return text;
                }
                assert!(self.changed().await, "the terminal closed before showing {needle:?}");
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(60), wait).await.expect("the shell's output")
    }
}
