//! A shell on a real pseudo-terminal, started in the workspace folder.
//!
//! Reading and writing the PTY block, so each runs on its own thread. The
//! reader only reads while the engine's [`Window`] has room: when peers fall
//! behind, the shell blocks on a full PTY instead of our memory growing.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use portable_pty::{ChildKiller, CommandBuilder, MasterPty, PtySize, native_pty_system};
use tokio::sync::mpsc;

use super::{Stream, TermError};
use crate::protocol::TermId;

/// Bytes read from the PTY at once.
const READ_CHUNK: usize = 64 * 1024;
/// Keystroke messages queued for a shell that is not reading them.
const INPUT_QUEUE: usize = 1024;

/// What a terminal's threads tell the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PtyEvent {
    /// New output is in the ring.
    Output(TermId),
    /// The shell is gone, with this exit code.
    Exited(TermId, u32),
}

/// How far the reader may fill the stream: it waits while the ring's end is
/// at `limit`.
#[derive(Debug, Default)]
pub struct Window {
    state: Mutex<(u64, bool)>,
    cv: Condvar,
}

impl Window {
    fn new(limit: u64) -> Self {
        Self { state: Mutex::new((limit, false)), cv: Condvar::new() }
    }

    pub fn set_limit(&self, limit: u64) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.0 != limit {
            s.0 = limit;
            self.cv.notify_all();
        }
    }

    fn close(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1 = true;
        self.cv.notify_all();
    }

    /// Waits until the stream may grow past `end`; `None` once closed.
    fn room(&self, end: u64) -> Option<usize> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if s.1 {
                return None;
            }
            if s.0 > end {
                return Some(usize::try_from(s.0 - end).unwrap_or(usize::MAX).min(READ_CHUNK));
            }
            s = self.cv.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// The engine's handle on a running shell.
pub struct Pty {
    master: Box<dyn MasterPty + Send>,
    killer: Box<dyn ChildKiller + Send + Sync>,
    input: std::sync::mpsc::SyncSender<Vec<u8>>,
    pub window: Arc<Window>,
    /// Set once the shell is reaped: its pid may belong to another process then.
    reaped: Arc<AtomicBool>,
    /// Used by the shell's program name, as a title until it sets one.
    pub program: String,
}

impl std::fmt::Debug for Pty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pty").field("program", &self.program).finish_non_exhaustive()
    }
}

/// Where a shell's output goes: its stream, and the engine's events.
pub struct Sink {
    pub stream: Stream,
    pub events: mpsc::UnboundedSender<PtyEvent>,
    /// Set while an `Output` event is queued, so at most one is. The engine
    /// clears it before it reads the ring: output pushed after that read
    /// always raises a new event.
    pub pending: Arc<AtomicBool>,
}

impl Pty {
    /// Starts the user's login shell in `cwd`. `window` starts at `limit`.
    pub fn spawn(id: TermId, cwd: &Path, cols: u16, rows: u16, limit: u64, sink: Sink) -> Result<Self, TermError> {
        let pair = native_pty_system().openpty(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 }).map_err(TermError::pty)?;
        let mut cmd = CommandBuilder::new_default_prog();
        cmd.cwd(cwd);
        cmd.env("TERM", "xterm-256color");
        cmd.env("COLORTERM", "truecolor");
        let program = cmd.get_shell().rsplit('/').next().unwrap_or("shell").to_owned();
        let mut child = pair.slave.spawn_command(cmd).map_err(TermError::pty)?;
        // Our copy of the slave side would keep the reader from ever seeing
        // the end of the stream.
        drop(pair.slave);
        let killer = child.clone_killer();
        let mut reader = pair.master.try_clone_reader().map_err(TermError::pty)?;
        let mut writer = pair.master.take_writer().map_err(TermError::pty)?;
        let window = Arc::new(Window::new(limit));

        let win = window.clone();
        let reaped = Arc::new(AtomicBool::new(false));
        let reaped_by_reader = reaped.clone();
        std::thread::Builder::new()
            .name(format!("pty-read-{id}"))
            .spawn(move || {
                let mut buf = vec![0u8; READ_CHUNK];
                loop {
                    let end = sink.stream.end();
                    let Some(room) = win.room(end) else { break };
                    // Linux reports the end of a PTY whose shell is gone as EIO.
                    let n = match reader.read(&mut buf[..room]) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    sink.stream.push(&buf[..n]);
                    if !sink.pending.swap(true, Ordering::AcqRel) && sink.events.send(PtyEvent::Output(id)).is_err() {
                        break;
                    }
                }
                let code = child.wait().map(|s| s.exit_code()).unwrap_or(1);
                reaped_by_reader.store(true, Ordering::Release);
                let _ = sink.events.send(PtyEvent::Exited(id, code));
            })
            .map_err(|e| TermError::Pty(e.to_string()))?;

        let (input, input_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(INPUT_QUEUE);
        std::thread::Builder::new()
            .name(format!("pty-write-{id}"))
            .spawn(move || {
                while let Ok(bytes) = input_rx.recv() {
                    if writer.write_all(&bytes).and_then(|()| writer.flush()).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| TermError::Pty(e.to_string()))?;
        Ok(Self { master: pair.master, killer, input, window, reaped, program })
    }

    /// Queues keystrokes for the shell; never blocks the caller. Refused
    /// when the shell has stopped reading and the queue is full.
    pub fn write(&self, bytes: Vec<u8>) -> Result<(), TermError> {
        self.input.try_send(bytes).map_err(|_| TermError::NotReading)
    }

    pub fn resize(&self, cols: u16, rows: u16) -> Result<(), TermError> {
        self.master.resize(PtySize { rows, cols, pixel_width: 0, pixel_height: 0 }).map_err(TermError::pty)
    }

    /// Ends the shell (SIGHUP, as a closed terminal window does).
    pub fn kill(&mut self) {
        if !self.reaped.load(Ordering::Acquire)
            && let Err(e) = self.killer.kill()
        {
            tracing::debug!(error = %e, "the shell was already gone");
        }
        self.window.close();
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        self.kill();
    }
}
