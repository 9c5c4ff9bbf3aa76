//! The terminal sessions of one peer: the shells it owns, streamed to every
//! connected peer at that peer's pace, and mirrors of other peers' terminals.
//!
//! Flow control: each peer gets at most [`LINK_WINDOW`] bytes of output
//! queued on its link; the shell may run [`AHEAD`] bytes ahead of the
//! slowest peer and then waits (its PTY fills and the program blocks). A
//! peer that holds the shell back and has taken nothing for [`LAG_GRACE`]
//! (its link is stalled) stops holding it: it misses output and continues
//! from the oldest byte still in the ring, as a late joiner would.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::link::{LinkId, Transport};
use crate::protocol::limits::{MAX_COLS, MAX_ROWS, MAX_TITLE};
use crate::protocol::printable::printable;
use crate::protocol::{PeerId, StateMsg, TermId, TermMsg};
use crate::term::pty::{Pty, PtyEvent, Sink};
use crate::term::{AHEAD, Stream, TermError, TermInfo, TermView};

/// Terminal output queued per link at most; edits queue behind no more.
const LINK_WINDOW: usize = 256 * 1024;
/// Output bytes per message.
const CHUNK: usize = 32 * 1024;
/// How long a peer that takes no output may hold a shell back.
const LAG_GRACE: Duration = Duration::from_secs(3);
/// Other peers' terminals mirrored at most (each holds up to 2 MiB).
const MAX_MIRRORS: usize = 64;
/// Bytes of new output searched for a title sequence.
const TITLE_SCAN: usize = 64 * 1024;

struct Owned {
    info: TermInfo,
    stream: Stream,
    pty: Pty,
    pending: Arc<AtomicBool>,
    /// Per link: the next offset to send, and when it last took output.
    sending: HashMap<LinkId, (u64, Instant)>,
    /// Output up to here was searched for a title.
    scanned: u64,
    /// The shell's exit code, published once every peer has its output.
    exit: Option<u32>,
}

struct Mirror {
    stream: Stream,
    /// The peer whose output this is: nobody else may write into it.
    owner: PeerId,
    /// Seen in the document: it goes when the document stops listing it.
    listed: bool,
}

/// A link to a peer that said hello.
pub type Peer<'a> = (LinkId, &'a PeerId, &'a dyn Transport);

pub struct Terminals {
    me: PeerId,
    root: PathBuf,
    owned: BTreeMap<TermId, Owned>,
    mirrors: HashMap<TermId, Mirror>,
    events: mpsc::UnboundedSender<PtyEvent>,
}

impl Terminals {
    pub fn new(me: PeerId, root: PathBuf) -> (Self, mpsc::UnboundedReceiver<PtyEvent>) {
        let (events, rx) = mpsc::unbounded_channel();
        (Self { me, root, owned: BTreeMap::new(), mirrors: HashMap::new(), events }, rx)
    }

    /// Starts a shell; every peer connected now starts receiving its output.
    pub fn open<'a>(&mut self, cols: u16, rows: u16, peers: impl Iterator<Item = Peer<'a>>) -> Result<TermInfo, TermError> {
        check_size(cols, rows)?;
        let id = TermId::random();
        let stream = Stream::default();
        let pending = Arc::new(AtomicBool::new(false));
        let sink = Sink { stream: stream.clone(), events: self.events.clone(), pending: pending.clone() };
        let pty = Pty::spawn(id, &self.root, cols, rows, AHEAD, sink)?;
        let info = TermInfo { id, owner: self.me.clone(), title: pty.program.clone(), cols, rows, exit: None, writers: Vec::new() };
        let sending = peers.map(|(link, _, _)| (link, (0, Instant::now()))).collect();
        self.owned.insert(id, Owned { info: info.clone(), stream, pty, pending, sending, scanned: 0, exit: None });
        Ok(info)
    }

    pub fn owns(&self, id: TermId) -> bool {
        self.owned.contains_key(&id)
    }

    pub fn view(&self, id: TermId) -> Option<TermView> {
        self.owned.get(&id).map(|o| o.stream.view()).or_else(|| self.mirrors.get(&id).map(|m| m.stream.view()))
    }

    /// A peer connected: it gets each terminal's scrollback, then what follows.
    pub fn link_added(&mut self, link: LinkId) {
        for o in self.owned.values_mut() {
            let start = o.stream.read(0, 0).offset;
            o.sending.insert(link, (start, Instant::now()));
        }
    }

    pub fn link_dropped(&mut self, link: LinkId) {
        for o in self.owned.values_mut() {
            o.sending.remove(&link);
        }
        self.update_windows(Instant::now());
    }

    /// Sends every owned terminal's pending output to the peers that have
    /// room. Returns the terminals whose metadata changed: a new title, or
    /// an exit now that every peer has the last output.
    pub fn pump<'a>(&mut self, only: Option<TermId>, peers: &[Peer<'a>]) -> Vec<TermInfo> {
        let mut changed = Vec::new();
        let now = Instant::now();
        for (id, o) in self.owned.iter_mut().filter(|(id, _)| only.is_none_or(|t| t == **id)) {
            o.pending.store(false, Ordering::Release);
            let end = o.stream.end();
            for (link_id, _, link) in peers {
                let Some((offset, took)) = o.sending.get_mut(link_id) else {
                    continue;
                };
                // A peer that has everything is not holding anything back.
                if *offset >= end {
                    *took = now;
                }
                while link.backlog() < LINK_WINDOW {
                    let chunk = o.stream.read(*offset, CHUNK);
                    if chunk.bytes.is_empty() {
                        break;
                    }
                    let next = chunk.offset + chunk.bytes.len() as u64;
                    let msg = StateMsg::Term(TermMsg::Output { term: *id, offset: chunk.offset, bytes: chunk.bytes });
                    if link.send_state(&msg).is_err() {
                        break;
                    }
                    *offset = next;
                    *took = now;
                }
            }
            if let Some(title) = scan_title(o) {
                o.info.title = title;
                changed.push(o.info.clone());
            }
            let delivered = o.sending.values().all(|(offset, took)| *offset >= end || now.duration_since(*took) >= LAG_GRACE);
            if o.exit.is_some() && o.info.exit.is_none() && delivered {
                o.info.exit = o.exit;
                changed.push(o.info.clone());
            }
        }
        self.update_windows(now);
        changed
    }

    /// Lets each shell run [`AHEAD`] bytes ahead of its slowest peer,
    /// not counting stalled peers.
    pub fn update_windows(&mut self, now: Instant) {
        for o in self.owned.values_mut() {
            let end = o.stream.end();
            let mut slowest = u64::MAX;
            for (offset, took) in o.sending.values() {
                let holds_shell = *offset + AHEAD <= end;
                if holds_shell && now.duration_since(*took) >= LAG_GRACE {
                    continue;
                }
                slowest = slowest.min(*offset);
            }
            o.pty.window.set_limit(slowest.saturating_add(AHEAD));
        }
    }

    /// The shell of `id` exited: its metadata says so once every peer has
    /// its last output (see [`Self::pump`]).
    pub fn exited(&mut self, id: TermId, code: u32) {
        if let Some(o) = self.owned.get_mut(&id) {
            o.exit = Some(code);
        }
    }

    /// Ends the shell of one of our terminals and forgets it.
    pub fn close(&mut self, id: TermId) -> Result<(), TermError> {
        match self.owned.remove(&id) {
            Some(mut o) => {
                o.pty.kill();
                Ok(())
            }
            None if self.mirrors.contains_key(&id) => Err(TermError::NotOwner(id)),
            None => Err(TermError::Unknown(id)),
        }
    }

    pub fn grant(&mut self, id: TermId, peer: PeerId, write: bool) -> Result<TermInfo, TermError> {
        let o = self.owned_mut(id)?;
        o.info.writers.retain(|p| p != &peer);
        if write {
            o.info.writers.push(peer);
            o.info.writers.sort();
        }
        Ok(o.info.clone())
    }

    /// Resizes one of our terminals, for us (`by: None`) or for a peer
    /// with write access.
    pub fn resize(&mut self, id: TermId, by: Option<&PeerId>, cols: u16, rows: u16) -> Result<TermInfo, TermError> {
        check_size(cols, rows)?;
        let o = self.owned_mut(id)?;
        if by.is_some_and(|p| !o.info.writers.contains(p)) {
            return Err(TermError::NoWriteAccess(id));
        }
        o.pty.resize(cols, rows)?;
        o.info.cols = cols;
        o.info.rows = rows;
        Ok(o.info.clone())
    }

    /// Keystrokes typed here into one of our own terminals.
    pub fn input_here(&mut self, id: TermId, bytes: Vec<u8>) -> Result<(), TermError> {
        let o = self.owned.get(&id).ok_or(TermError::Unknown(id))?;
        o.pty.write(bytes)
    }

    /// Keystrokes from a peer: they reach the shell only if its owner (us)
    /// granted that peer write access. The refusal says why.
    pub fn input_from(&mut self, peer: &PeerId, id: TermId, bytes: Vec<u8>) -> Result<(), String> {
        let Some(o) = self.owned.get(&id) else {
            return Err(format!("no terminal {id} here"));
        };
        if !o.info.writers.contains(peer) {
            return Err(format!("no write access to terminal {id}: its owner has not granted it"));
        }
        if o.exit.is_some() {
            return Err(format!("terminal {id} has exited"));
        }
        o.pty.write(bytes).map_err(|e| e.to_string())
    }

    /// Output of another peer's terminal.
    pub fn mirror_output(&mut self, from: &PeerId, id: TermId, offset: u64, bytes: &[u8]) {
        if self.owned.contains_key(&id) {
            return;
        }
        if !self.mirrors.contains_key(&id) && self.mirrors.len() < MAX_MIRRORS {
            self.mirrors.insert(id, Mirror { stream: Stream::default(), owner: from.clone(), listed: false });
        }
        match self.mirrors.get(&id) {
            Some(m) if &m.owner == from => {
                if !m.stream.put(offset, bytes) {
                    tracing::debug!(%from, term = %id, offset, "ignored terminal output at an impossible offset");
                }
            }
            _ => {
                tracing::debug!(%from, term = %id, "ignored output for a terminal that peer does not own")
            }
        }
    }

    /// Follows the document's list of terminals: mirrors of closed
    /// terminals go. Returns what the document must be told: ours as we know
    /// them, where it differs (a peer cannot grant itself access), and ids
    /// of terminals listed as ours that we do not run (from before a restart).
    pub fn reconcile(&mut self, listed: &[TermInfo]) -> (Vec<TermInfo>, Vec<TermId>) {
        for m in self.mirrors.values_mut() {
            m.listed = false;
        }
        let (mut fix, mut stale) = (Vec::new(), Vec::new());
        for info in listed {
            match self.owned.get(&info.id) {
                Some(o) if &o.info != info => fix.push(o.info.clone()),
                Some(_) => {}
                None if info.owner == self.me => stale.push(info.id),
                None => {
                    if !self.mirrors.contains_key(&info.id) && self.mirrors.len() >= MAX_MIRRORS {
                        continue;
                    }
                    let m =
                        self.mirrors.entry(info.id).or_insert_with(|| Mirror { stream: Stream::default(), owner: info.owner.clone(), listed: false });
                    m.listed = m.owner == info.owner;
                }
            }
        }
        self.mirrors.retain(|_, m| m.listed);
        let gone: Vec<TermInfo> = self.owned.values().filter(|o| !listed.iter().any(|l| l.id == o.info.id)).map(|o| o.info.clone()).collect();
        fix.extend(gone);
        (fix, stale)
    }

    /// Ends every shell we own (the engine is stopping); their ids.
    pub fn close_all(&mut self) -> Vec<TermId> {
        let ids: Vec<TermId> = self.owned.keys().copied().collect();
        for mut o in std::mem::take(&mut self.owned).into_values() {
            o.pty.kill();
        }
        ids
    }

    fn owned_mut(&mut self, id: TermId) -> Result<&mut Owned, TermError> {
        if self.mirrors.contains_key(&id) {
            return Err(TermError::NotOwner(id));
        }
        self.owned.get_mut(&id).ok_or(TermError::Unknown(id))
    }
}

/// Every size a terminal takes, whoever asks: PROTOCOL.md §5.7's bounds.
fn check_size(cols: u16, rows: u16) -> Result<(), TermError> {
    if (1..=MAX_COLS).contains(&cols) && (1..=MAX_ROWS).contains(&rows) { Ok(()) } else { Err(TermError::BadSize) }
}

/// The newest window title (`ESC ] 0 ;` or `ESC ] 2 ;` … `BEL` or `ESC \`)
/// in output not searched yet, if it differs from the current one.
fn scan_title(o: &mut Owned) -> Option<String> {
    let chunk = o.stream.read(o.scanned, TITLE_SCAN);
    o.scanned = chunk.offset + chunk.bytes.len() as u64;
    let bytes = &chunk.bytes;
    let mut found = None;
    let mut i = 0;
    while let Some(p) = bytes[i..].windows(4).position(|w| w[0] == 0x1b && w[1] == b']' && (w[2] == b'0' || w[2] == b'2') && w[3] == b';') {
        let start = i + p + 4;
        let Some(len) = bytes[start..].iter().position(|&b| b == 0x07 || b == 0x1b) else {
            break;
        };
        found = Some(printable(&String::from_utf8_lossy(&bytes[start..start + len]), MAX_TITLE));
        i = start + len;
    }
    found.filter(|t| !t.is_empty() && *t != o.info.title)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real shell: a peer types into it only while its owner grants it,
    /// and resizes it only then too.
    #[tokio::test]
    async fn a_peers_keystrokes_reach_our_shell_only_with_a_grant() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut terms, _events) = Terminals::new(PeerId::random(), dir.path().to_path_buf());
        let info = terms.open(80, 24, std::iter::empty()).expect("a shell starts");
        let bob = PeerId::random();
        assert!(terms.input_from(&bob, info.id, b"echo pwn$((1+1))ed\n".to_vec()).is_err());
        assert!(matches!(terms.resize(info.id, Some(&bob), 100, 30), Err(TermError::NoWriteAccess(_))));

        terms.grant(info.id, bob.clone(), true).expect("grant");
        terms.input_from(&bob, info.id, b"echo gran$((1+1))ted\n".to_vec()).expect("a granted peer types");
        assert_eq!(terms.resize(info.id, Some(&bob), 100, 30).expect("resize").cols, 100);
        let mut view = terms.view(info.id).expect("view");
        let shown = view.shown_until("gran2ted").await;
        assert!(!shown.contains("pwn2ed"), "ungranted keystrokes ran: {shown}");

        terms.grant(info.id, bob.clone(), false).expect("revoke");
        assert!(terms.input_from(&bob, info.id, b"echo again\n".to_vec()).is_err());
        assert_eq!(terms.close_all(), vec![info.id]);
    }

    /// Output for another peer's terminal is taken only from that peer, and
    /// a terminal of ours cannot be mirrored over.
    #[test]
    fn a_mirror_takes_output_only_from_its_owner() {
        let dir = tempfile::tempdir().expect("tempdir");
        let me = PeerId::random();
        let (mut terms, _events) = Terminals::new(me.clone(), dir.path().to_path_buf());
        let (ada, mallory) = (PeerId::random(), PeerId::random());
        let id = TermId::random();
        let listed = TermInfo { id, owner: ada.clone(), title: "sh".into(), cols: 80, rows: 24, exit: None, writers: Vec::new() };
        let (fix, stale) = terms.reconcile(std::slice::from_ref(&listed));
        assert!(fix.is_empty() && stale.is_empty());
        terms.mirror_output(&mallory, id, 0, b"forged");
        terms.mirror_output(&ada, id, 0, b"hello");
        let mut view = terms.view(id).expect("a mirror of ada's terminal");
        assert_eq!(view.read(0, 64).bytes, b"hello");
        // Closed in the document: the mirror goes.
        terms.reconcile(&[]);
        assert!(terms.view(id).is_none());
        // A terminal listed as ours that we do not run is reported stale, not mirrored.
        let ours = TermInfo { owner: me, ..listed };
        assert_eq!(terms.reconcile(&[ours]).1, vec![id]);
        assert!(terms.view(id).is_none());
    }
}
