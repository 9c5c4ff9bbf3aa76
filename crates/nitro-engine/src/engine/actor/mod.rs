//! The engine's one task: it owns the workspace and the links, and handles,
//! one at a time, what the watcher, the links and the handle send it.
//!
//! Live edits travel as Automerge changes, sent to every peer as soon as they
//! are made; the sync protocol runs only when a peer connects (and when a
//! peer fell behind), which costs far less per keystroke. Changes that
//! arrive together are applied in one call.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::handshake::Local;
use super::mesh::Mesh;
use super::presence::{LocalPresence, Outgoing, PeerPresence, PresenceTable, default_color};
use super::state::{self, SavedSession};
use super::terminals::Terminals;
use super::workspace::{FileInfo, Workspace};
use super::{EngineError, EngineEvent, EngineHandle, FileOp, MemberInfo, PeerInfo, SyncStatus};
use crate::doc::{Decoded, DocKey, Member, Splice, Touched, Version, WorkspaceDoc};
use crate::fs::watcher::{FsChange, Watcher};
use crate::link::{Conn, LinkEvent, LinkEventKind, LinkId};
use crate::path::RelPath;
use crate::protocol::limits::{MAX_LINKS, PRESENCE_RATE, SYNC_MESSAGE, WANT_RATE};
use crate::protocol::wire::{Keyed, Relay};
use crate::protocol::{Hello, Invite, PROTOCOL_VERSION, PeerId, SessionId, StateMsg, TermId};
use crate::rate::Verdict;
use crate::signal::hub::Hub;
use crate::term::pty::PtyEvent;
use crate::term::{TermInfo, TermView};
use links::Links;

mod blobs;
mod digest;
mod links;
mod peers;
mod presence;
mod terminals;
pub use peers::Rejoin;
pub use terminals::TermCommand;

/// Roles in the roster.
pub const ROLE_HOST: &str = "host";
pub const ROLE_EDITOR: &str = "editor";

/// Link events queued for the actor.
pub const INBOX: usize = 4096;
const TICK: Duration = Duration::from_millis(250);
const SAVE_EVERY: Duration = Duration::from_secs(2);
/// How long a refused peer's connection stays open for the refusal to arrive.
const BYE_GRACE: Duration = Duration::from_millis(500);
/// Events taken from the inbox at once, so changes that arrived together are
/// applied together.
const BATCH: usize = 256;
/// How often changes that build on missing ones may start a sync round.
const CATCH_UP_EVERY: Duration = Duration::from_secs(1);

pub enum Command {
    Edit { path: RelPath, base: Option<Version>, splices: Vec<Splice>, reply: Option<oneshot::Sender<Result<Version, EngineError>>> },
    Holds { version: Version, reply: oneshot::Sender<bool> },
    Text { path: RelPath, reply: oneshot::Sender<Result<(String, Version), EngineError>> },
    Peers { reply: oneshot::Sender<Vec<PeerInfo>> },
    SyncStatus { reply: oneshot::Sender<SyncStatus> },
    SetPresence { presence: LocalPresence, base: Option<Version> },
    Presence { reply: oneshot::Sender<Vec<PeerPresence>> },
    Pull { path: RelPath, since: Version, reply: oneshot::Sender<Result<(Vec<Splice>, Version), EngineError>> },
    Term { cmd: TermCommand, reply: oneshot::Sender<Result<Option<TermId>, EngineError>> },
    Terminals { reply: oneshot::Sender<Vec<TermInfo>> },
    Files { reply: oneshot::Sender<Vec<FileInfo>> },
    Members { reply: oneshot::Sender<Vec<MemberInfo>> },
    FileOp { op: FileOp, reply: oneshot::Sender<Result<(), EngineError>> },
    TermView { term: TermId, reply: oneshot::Sender<Option<TermView>> },
    Shutdown,
}

/// A fresh joiner's wait for the workspace.
struct FirstSync {
    done: oneshot::Sender<Result<(), EngineError>>,
    session: SavedSession,
    host: Option<LinkId>,
    /// It holds the tree and the documents: files are being written.
    ready: bool,
}

pub struct Actor {
    ws: Workspace,
    me: PeerId,
    name: String,
    session: SessionId,
    /// What new links are made with.
    local: Local,
    mesh: Mesh,
    /// Offers and answers made by link tasks, to send through a neighbor.
    relay_tx: mpsc::UnboundedSender<(PeerId, Relay)>,
    relay_rx: mpsc::UnboundedReceiver<(PeerId, Relay)>,
    last_gossip: Instant,
    /// For a joiner: how to reach the host again when its link is lost.
    rejoin: Option<Rejoin>,
    inbox: mpsc::Receiver<LinkEvent>,
    links: Links,
    events: broadcast::Sender<EngineEvent>,
    fs: Option<(Watcher, mpsc::UnboundedReceiver<Vec<FsChange>>)>,
    first_sync: Option<FirstSync>,
    /// Tasks and servers that live as long as the actor.
    acceptor: Option<JoinHandle<()>>,
    _hub: Option<Hub>,
    /// False until a fresh joiner has the workspace: nothing is saved before.
    persist: bool,
    dirty: bool,
    last_save: Instant,
    /// Everyone else's presence.
    presence: PresenceTable,
    /// Ours, sent when due.
    outgoing: Outgoing,
    terms: Terminals,
    term_rx: mpsc::UnboundedReceiver<PtyEvent>,
    /// A link has room again: terminal output may flow.
    drained: Arc<Notify>,
    /// The sync status last reported.
    status: SyncStatus,
    last_digest: Instant,
    /// Texts of never-edited files on their way here.
    fetch: blobs::Fetch,
}

impl Actor {
    pub fn new(ws: Workspace, local: Local, session: SessionId, inbox: mpsc::Receiver<LinkEvent>) -> Self {
        let (events, _) = broadcast::channel(256);
        let (relay_tx, relay_rx) = mpsc::unbounded_channel();
        let (terms, term_rx) = Terminals::new(local.me.clone(), ws.sandbox().root().to_path_buf());
        let drained = local.links.drained.clone();
        Self {
            ws,
            me: local.me.clone(),
            name: local.name.clone(),
            session,
            mesh: Mesh::new(local.me.clone()),
            local,
            relay_tx,
            relay_rx,
            last_gossip: Instant::now(),
            rejoin: None,
            inbox,
            links: Links::default(),
            events,
            fs: None,
            first_sync: None,
            acceptor: None,
            _hub: None,
            persist: true,
            dirty: false,
            last_save: Instant::now(),
            presence: PresenceTable::default(),
            outgoing: Outgoing::new(Instant::now()),
            terms,
            term_rx,
            drained,
            status: SyncStatus::default(),
            last_digest: Instant::now(),
            fetch: blobs::Fetch::default(),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.ws.sandbox().root().to_path_buf()
    }

    pub fn watch(&mut self, watcher: Watcher, rx: mpsc::UnboundedReceiver<Vec<FsChange>>) {
        self.fs = Some((watcher, rx));
    }

    pub fn keep_alive(&mut self, acceptor: JoinHandle<()>, hub: Option<Hub>) {
        self.acceptor = Some(acceptor);
        self._hub = hub;
    }

    /// For a joiner: `done` is told when the workspace has arrived (or why
    /// not); `session` is saved then. `rejoin` is how to reach the host
    /// again whenever its link is lost.
    pub fn on_first_sync(&mut self, done: oneshot::Sender<Result<(), EngineError>>, session: SavedSession, rejoin: Rejoin) {
        self.persist = self.ws.doc().is_initialized();
        self.first_sync = Some(FirstSync { done, session, host: None, ready: false });
        self.rejoin = Some(rejoin);
    }

    /// Writes this peer into the roster, keeping a color and role it already has.
    pub fn enroll(&mut self, role: &str) -> Result<(), EngineError> {
        let existing = self.ws.roster().remove(&self.me);
        let member = Member {
            name: self.name.clone(),
            color: existing.as_ref().map_or_else(|| default_color(&self.me), |m| m.color.clone()),
            role: existing.map_or_else(|| role.to_owned(), |m| m.role),
        };
        self.ws.enroll(&self.local.links.identity, member)?;
        Ok(())
    }

    pub fn spawn(mut self, invite: Option<Invite>) -> EngineHandle {
        // Shells listed as ours did not survive the last run.
        self.reconcile_terminals();
        let (cmd, cmd_rx) = mpsc::channel(1024);
        let events = self.events.clone();
        let traffic = self.local.links.traffic.clone();
        let me = self.me.clone();
        let task = tokio::spawn(self.run(cmd_rx));
        EngineHandle { me, invite, traffic, cmd, events, task }
    }

    async fn run(mut self, mut cmd: mpsc::Receiver<Command>) -> Result<(), EngineError> {
        let mut tick = tokio::time::interval(TICK);
        let mut queue: VecDeque<LinkEvent> = VecDeque::new();
        loop {
            let presence_due = self.outgoing.wake_at();
            tokio::select! {
                c = cmd.recv() => {
                    let Some(first) = c else { break };
                    if self.handle_commands(first, &mut cmd) {
                        break;
                    }
                    self.ws.write_edits();
                }
                ev = self.inbox.recv() => {
                    let Some(ev) = ev else { break };
                    queue.push_back(ev);
                    while queue.len() < BATCH {
                        match self.inbox.try_recv() {
                            Ok(ev) => queue.push_back(ev),
                            Err(_) => break,
                        }
                    }
                    self.handle_events(&mut queue);
                }
                relay = self.relay_rx.recv() => {
                    if let Some((via, relay)) = relay {
                        self.send_to_peer(&via, &StateMsg::Relay(relay));
                    }
                }
                batch = next_fs_batch(&mut self.fs) => {
                    if let Err(e) = self.ws.ingest(batch) {
                        tracing::warn!(error = %e, "could not take in changes on disk");
                    }
                }
                _ = tokio::time::sleep_until(presence_due.unwrap_or_else(Instant::now).into()), if presence_due.is_some() => {
                    self.send_presence_if_due(Instant::now());
                }
                Some(ev) = self.term_rx.recv() => self.on_pty(ev),
                () = self.drained.notified() => self.pump_terminals(None),
                _ = tick.tick() => self.on_tick(),
            }
            self.flush();
        }
        self.stop().await
    }

    /// Handles `first` and every command queued behind it, so a burst of
    /// edits becomes one write and one message. True when asked to stop.
    fn handle_commands(&mut self, first: Command, rx: &mut mpsc::Receiver<Command>) -> bool {
        let mut next = Some(first);
        let mut handled = 0;
        while let Some(c) = next {
            if let Command::Shutdown = c {
                return true;
            }
            self.handle_command(c);
            handled += 1;
            next = if handled < BATCH { rx.try_recv().ok() } else { None };
        }
        false
    }

    fn handle_command(&mut self, cmd: Command) {
        match cmd {
            Command::Edit { path, base, splices, reply } => {
                let result = self.ws.edit(&path, base.as_ref(), &splices);
                match reply {
                    Some(reply) => {
                        let _ = reply.send(result.map_err(EngineError::from));
                    }
                    None => {
                        if let Err(e) = result {
                            let _ = self.events.send(EngineEvent::EditRejected { path, reason: e.to_string() });
                        }
                    }
                }
            }
            Command::SyncStatus { reply } => {
                let _ = reply.send(self.status.clone());
            }
            Command::Holds { version, reply } => {
                let _ = reply.send(self.ws.doc().holds(&version));
            }
            Command::Text { path, reply } => {
                let _ = reply.send(self.ws.text(&path).map_err(EngineError::from));
            }
            Command::Peers { reply } => {
                let names = self.shown_names();
                let mut peers: Vec<PeerInfo> = self
                    .links
                    .slots()
                    .filter_map(|s| s.peer.clone().map(|(peer, name)| PeerInfo { name: names.get(&peer).cloned().unwrap_or(name), peer, rtt: s.rtt }))
                    .collect();
                peers.sort_by(|a, b| a.peer.cmp(&b.peer));
                let _ = reply.send(peers);
            }
            Command::SetPresence { presence, base } => {
                if let Err(e) = self.set_presence(presence, base) {
                    tracing::debug!(error = %e, "ignored a presence for a file that is not shared");
                }
            }
            Command::Presence { reply } => {
                let _ = reply.send(self.presences());
            }
            Command::Pull { path, since, reply } => {
                let _ = reply.send(self.ws.splices_since(&path, &since).map_err(EngineError::from));
            }
            Command::Term { cmd, reply } => {
                let _ = reply.send(self.terminal_command(cmd));
            }
            Command::Terminals { reply } => {
                let _ = reply.send(self.ws.doc().terminals());
            }
            Command::Files { reply } => {
                let _ = reply.send(self.ws.files());
            }
            Command::Members { reply } => {
                let mut names = self.shown_names();
                let members = self.ws.roster().into_iter().map(|(peer, m)| MemberInfo {
                    name: names.remove(&peer).unwrap_or(m.name),
                    peer,
                    color: m.color,
                    role: m.role,
                });
                let _ = reply.send(members.collect());
            }
            Command::FileOp { op, reply } => {
                let result = match op {
                    FileOp::CreateFile(p) => self.ws.create_file(&p),
                    FileOp::CreateDir(p) => self.ws.create_dir(&p),
                    FileOp::Rename(from, to) => self.ws.rename_path(&from, &to),
                    FileOp::Delete(p) => self.ws.delete_path(&p),
                    // Edits are written after every batch of commands: this
                    // one is answered once those before it are on disk.
                    FileOp::Save(p) => self.ws.text_id(&p).map(drop),
                };
                self.ws.write_edits();
                let _ = reply.send(result.map_err(EngineError::from));
            }
            Command::TermView { term, reply } => {
                let _ = reply.send(self.terms.view(term));
            }
            Command::Shutdown => {}
        }
    }

    fn handle_events(&mut self, queue: &mut VecDeque<LinkEvent>) {
        while let Some(ev) = queue.pop_front() {
            if let LinkEventKind::State(StateMsg::Changes(_)) = ev.kind {
                // Gather every change message queued behind this one.
                let mut batches: Vec<(LinkId, Decoded)> = Vec::new();
                let mut rest = VecDeque::new();
                let mut early = Vec::new();
                for e in std::iter::once(ev).chain(queue.drain(..)) {
                    match e.kind {
                        LinkEventKind::State(StateMsg::Changes(c)) if self.links.said_hello(e.link) => {
                            self.links.heard(e.link);
                            match WorkspaceDoc::decode_changes(from_wire(c)) {
                                Ok(d) => batches.push((e.link, d)),
                                Err(err) => self.drop_link(e.link, &format!("sent a change that does not decode ({err})")),
                            }
                        }
                        // From a link that has not said hello, or is gone:
                        // handled on its own (never queued again).
                        LinkEventKind::State(StateMsg::Changes(_)) => early.push(e),
                        _ => rest.push_back(e),
                    }
                }
                *queue = rest;
                self.apply_batches(batches);
                for e in early {
                    self.handle_event(e);
                }
                continue;
            }
            self.handle_event(ev);
        }
    }

    /// Applies the changes of several peers in one call; if that fails,
    /// each peer's on its own, and a peer whose changes cannot be applied is
    /// dropped: one bad change never costs the others' edits.
    fn apply_batches(&mut self, mut batches: Vec<(LinkId, Decoded)>) {
        batches.retain(|(link, _)| self.links.contains(*link));
        if batches.len() == 1 {
            // The common case, one sender: nothing to keep for a retry.
            let Some((link, d)) = batches.pop() else { return };
            match self.ws.doc().apply_decoded(vec![d]) {
                Ok(touched) => {
                    self.catch_up(&[link], &touched);
                    self.apply_remote(&touched);
                }
                Err(e) => self.drop_link(link, &format!("sent a change that cannot be applied ({e})")),
            }
            return;
        }
        if batches.is_empty() {
            return;
        }
        let all = batches.iter().map(|(_, d)| d.clone()).collect();
        let links: Vec<LinkId> = batches.iter().map(|(l, _)| *l).collect();
        match self.ws.doc().apply_decoded(all) {
            Ok(touched) => {
                self.catch_up(&links, &touched);
                self.apply_remote(&touched);
            }
            Err(_) => {
                let mut touched = Touched::default();
                for (link, d) in batches {
                    match self.ws.doc().apply_decoded(vec![d]) {
                        Ok(t) => {
                            self.catch_up(&[link], &t);
                            touched.merge(t);
                        }
                        Err(e) => self.drop_link(link, &format!("sent a change that cannot be applied ({e})")),
                    }
                }
                self.apply_remote(&touched);
            }
        }
    }

    /// Changes from `links` that build on changes this peer lacks were left
    /// out: a sync round of those documents brings them (at most one a
    /// second per peer while more such changes keep coming; the tick starts
    /// the one that had to wait).
    fn catch_up(&mut self, links: &[LinkId], touched: &Touched) {
        for link in links {
            if let Some(slot) = self.links.get_mut(*link) {
                slot.lacking.extend(touched.incomplete.iter().cloned());
            }
        }
        self.catch_up_due(links);
    }

    /// Counts a sync message of `id` that brought changes whose
    /// dependencies never came; false once it did so too often (an honest
    /// peer does only by chance: its summary of what this peer holds is a
    /// Bloom filter).
    fn strike(&mut self, id: LinkId) -> bool {
        self.links.get_mut(id).is_some_and(|s| s.strikes.check(Instant::now()) == Verdict::Take)
    }

    fn catch_up_due(&mut self, links: &[LinkId]) {
        let now = Instant::now();
        for link in links {
            let Some(slot) = self.links.get_mut(*link) else { continue };
            if slot.lacking.is_empty() || slot.caught_up.is_some_and(|at| now.duration_since(at) < CATCH_UP_EVERY) {
                continue;
            }
            slot.caught_up = Some(now);
            let docs = std::mem::take(&mut slot.lacking);
            slot.sync.restart(&docs);
            self.send_sync(*link);
        }
    }

    fn handle_event(&mut self, ev: LinkEvent) {
        let id = ev.link;
        match ev.kind {
            LinkEventKind::Added(link) => {
                self.mesh.added(id);
                self.links.add(link);
                // Queued now, sent first once the link opens.
                self.send_hello(id);
            }
            LinkEventKind::Open(_) => {}
            LinkEventKind::State(msg) => {
                self.links.heard(id);
                self.handle_state(id, msg);
            }
            LinkEventKind::Presence(bytes) => {
                self.links.heard(id);
                match self.links.get_mut(id).map(|s| s.presence_rate.check(Instant::now())) {
                    Some(Verdict::Take) => self.on_presence(id, &bytes),
                    Some(Verdict::Skip) | None => {}
                    Some(Verdict::Flood) => self.drop_link(id, &format!("sent presence far faster than {} a second", PRESENCE_RATE.per_second)),
                }
            }
            LinkEventKind::Malformed(e) => self.drop_link(id, &format!("sent a malformed message ({e})")),
            LinkEventKind::Closed => self.drop_link(id, "left"),
        }
    }

    fn handle_state(&mut self, id: LinkId, msg: StateMsg) {
        let Some(slot) = self.links.get(id) else {
            return;
        };
        match (msg, slot.peer.is_some()) {
            (StateMsg::Hello(h), false) => self.on_hello(id, h),
            (StateMsg::Hello(_), true) => {}
            (StateMsg::Bye(reason), _) => {
                tracing::debug!(link = id.0, %reason, "peer said goodbye");
                // A joiner refused before the workspace arrived learns why.
                if self.first_sync.as_ref().is_some_and(|f| f.host == Some(id) || f.host.is_none())
                    && let Some(first) = self.first_sync.take()
                {
                    let _ = first.done.send(Err(EngineError::Refused(reason)));
                }
                self.drop_link(id, "left");
            }
            (StateMsg::Sync(items), true) => {
                let result = {
                    let Some(sync) = self.links.get_mut(id).map(|s| &mut s.sync) else {
                        return;
                    };
                    let mut touched = Touched::default();
                    let mut result = Ok(());
                    for (key, m) in from_wire(items) {
                        match self.ws.doc().receive_sync(sync, &key, &m) {
                            Ok(t) => touched.merge(t),
                            Err(e) => {
                                result = Err(e);
                                break;
                            }
                        }
                    }
                    (touched, result)
                };
                match result {
                    (touched, Ok(())) => {
                        self.repaired(id, &touched);
                        if !touched.incomplete.is_empty() && !self.strike(id) {
                            self.apply_remote(&touched);
                            self.drop_link(id, "sent changes whose dependencies never came, again and again");
                            return;
                        }
                        self.catch_up(&[id], &touched);
                        self.apply_remote(&touched);
                        self.send_sync(id);
                        self.check_first_sync(id);
                    }
                    (touched, Err(e)) => {
                        // What its message brought before the bad part stays.
                        self.apply_remote(&touched);
                        self.drop_link(id, &format!("sent a sync message that was refused ({e})"));
                    }
                }
            }
            // Changes from peers that said hello are applied in batches
            // (`handle_events`); none reach here.
            (StateMsg::Changes(_), true) => {}
            (StateMsg::Peers(p), true) => {
                if let Some((from, _)) = slot.peer.clone() {
                    self.on_peers(from, p);
                }
            }
            (StateMsg::Relay(r), true) => {
                if let Some((from, _)) = slot.peer.clone() {
                    self.on_relay(from, r);
                }
            }
            (StateMsg::Term(t), true) => {
                if let Some((from, _)) = slot.peer.clone() {
                    self.on_term_msg(id, from, t);
                }
            }
            (StateMsg::Ping(n), true) => self.send(id, &StateMsg::Pong(n)),
            (StateMsg::Digest(d), true) => self.on_digest(id, d),
            (StateMsg::Want(hashes), true) => match self.links.get_mut(id).map(|s| s.want_rate.check(Instant::now())) {
                Some(Verdict::Flood | Verdict::Skip) => {
                    self.drop_link(id, &format!("asked for texts more than {} times a second", WANT_RATE.per_second))
                }
                _ => self.on_want(id, hashes),
            },
            (StateMsg::Blobs(blobs), true) => self.on_blobs(id, blobs),
            (StateMsg::Lacks(hashes), true) => self.on_lacks(id, hashes),
            (StateMsg::Pong(n), true) => {
                if let Some(slot) = self.links.get_mut(id)
                    && let Some((sent, at)) = slot.ping
                    && sent == n
                {
                    slot.rtt = Some(at.elapsed());
                    slot.ping = None;
                }
            }
            (_, false) => self.drop_link(id, "spoke before saying hello"),
        }
    }

    fn on_hello(&mut self, id: LinkId, h: Hello) {
        let refusal = if h.protocol != PROTOCOL_VERSION {
            Some(format!("protocol version {} is not {PROTOCOL_VERSION}; both peers need the same NitroIDE version", h.protocol))
        } else if h.workspace != self.session.to_hex() {
            Some("that peer holds a different workspace".to_owned())
        } else if h.peer == self.me {
            Some("that peer has this peer's own id".to_owned())
        } else if self.links.greeted().filter(|(_, p, _)| **p != h.peer).count() >= MAX_LINKS {
            Some(format!("the session is full here ({MAX_LINKS} peers)"))
        } else {
            self.check_certificate(id, &h.peer)
        };
        if let Some(reason) = refusal {
            tracing::warn!(peer = %h.peer, %reason, "refusing a peer");
            // A joiner that cannot take its host (another protocol version,
            // say) says why at once instead of waiting for the workspace.
            if self.first_sync.as_ref().is_some_and(|f| f.host.is_none())
                && let Some(first) = self.first_sync.take()
            {
                let _ = first.done.send(Err(EngineError::CannotJoin(reason.clone())));
            }
            self.send(id, &StateMsg::Bye(reason.clone()));
            self.drop_link_after(id, &reason, BYE_GRACE);
            return;
        }
        // A peer that reconnects replaces its old, dead connection.
        let stale: Vec<LinkId> = self.links.greeted().filter(|(l, p, _)| *l != id && **p == h.peer).map(|(l, _, _)| l).collect();
        for l in stale {
            self.drop_link(l, "reconnected");
        }
        if let Some(slot) = self.links.get_mut(id) {
            slot.peer = Some((h.peer.clone(), h.name.clone()));
        }
        if let Some(first) = &mut self.first_sync {
            first.host.get_or_insert(id);
            if let Some(r) = &mut self.rejoin {
                r.host.get_or_insert(h.peer.clone());
            }
        }
        self.mesh.connected(&h.peer);
        // webrtc-rs drops what arrives on a channel before that side has
        // opened it, which can swallow our first hello. The peer's hello proves
        // its side is open: say hello once more (a repeat is ignored).
        self.send_hello(id);
        let name = self.shown_names().remove(&h.peer).unwrap_or(h.name);
        let _ = self.events.send(EngineEvent::PeerJoined { peer: h.peer, name });
        self.send_sync(id);
        self.gossip();
        // It may have texts this peer still needs.
        self.refresh_wanted();
        self.terms.link_added(id);
        self.pump_terminals(None);
    }

    /// A peer id is made from the certificate its connection proved
    /// ([`PeerId::of_certificate`]): a peer claiming another id (to take
    /// over its grants, or to lock it out) is refused.
    fn check_certificate(&self, id: LinkId, peer: &PeerId) -> Option<String> {
        match self.links.get(id).and_then(|s| s.link.remote_fingerprint()) {
            None => Some("that peer's connection has no certificate fingerprint".into()),
            Some(fp) if PeerId::of_certificate(&fp) == *peer => None,
            Some(_) => Some(format!("peer id {peer} is not the id of that peer's certificate: refusing an impersonation")),
        }
    }

    fn send_hello(&mut self, id: LinkId) {
        let hello = Hello { protocol: PROTOCOL_VERSION, peer: self.me.clone(), name: self.name.clone(), workspace: self.session.to_hex() };
        self.send(id, &StateMsg::Hello(hello));
    }

    fn send_sync(&mut self, id: LinkId) {
        let msg = {
            let Some(slot) = self.links.get_mut(id) else {
                return;
            };
            let sync = &mut slot.sync;
            self.ws.doc().generate_sync(sync)
        };
        for part in split_sync(to_wire(msg)) {
            self.send(id, &StateMsg::Sync(part));
        }
    }

    /// A fresh joiner writes the workspace to disk once it holds everything
    /// the host had when they connected.
    fn check_first_sync(&mut self, id: LinkId) {
        let ready = match (&self.first_sync, self.links.get(id)) {
            (Some(f), Some(slot)) if f.host == Some(id) => {
                let sync = &slot.sync;
                let doc = self.ws.doc();
                doc.is_initialized() && doc.workspace().as_deref() == Some(self.session.to_hex().as_str()) && doc.caught_up(sync)
            }
            _ => false,
        };
        if !ready {
            return;
        }
        if self.first_sync.as_ref().is_none_or(|f| f.ready) {
            return;
        }
        let result = (|| {
            if self.fs.is_none() {
                self.ws.rescan()?;
                self.enroll(ROLE_EDITOR)?;
                let (w, rx) = Watcher::spawn(self.ws.sandbox().root())?;
                self.fs = Some((w, rx));
            }
            Ok(())
        })();
        match result {
            Ok(()) => {
                if let Some(f) = self.first_sync.as_mut() {
                    f.ready = true;
                }
                self.refresh_wanted();
            }
            Err(e) => {
                tracing::error!(error = %e, "could not write the workspace");
                if let Some(first) = self.first_sync.take() {
                    let _ = first.done.send(Err(e));
                }
            }
        }
    }

    /// A fresh joiner is done once every file is on its disk: it saves the
    /// session and says so.
    fn finish_first_sync(&mut self) {
        if !self.first_sync.as_ref().is_some_and(|f| f.ready) {
            return;
        }
        let Some(first) = self.first_sync.take() else {
            return;
        };
        let result = (|| {
            state::save_session(self.ws.sandbox(), &first.session)?;
            state::save_identity(self.ws.sandbox(), &self.local.links.identity)?;
            self.persist = true;
            self.save()
        })();
        if let Err(e) = &result {
            tracing::error!(error = %e, "could not write the workspace");
        }
        let _ = first.done.send(result);
    }

    fn apply_remote(&mut self, touched: &Touched) {
        if touched.is_empty() {
            return;
        }
        self.dirty = true;
        if touched.terminals {
            self.reconcile_terminals();
        }
        if touched.roster
            && let Err(e) = self.ws.refresh_roster(&self.local.links.identity)
        {
            tracing::warn!(error = %e, "could not write our roster entry again");
        }
        // A fresh joiner writes nothing until the whole workspace is here.
        if self.fs.is_none() {
            return;
        }
        let changed = self.ws.apply_remote(touched).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not write remote changes to disk");
            Default::default()
        });
        if touched.tree {
            self.refresh_wanted();
        }
        let paths = self.ws.paths_of(&changed);
        if touched.tree || !paths.is_empty() {
            let _ = self.events.send(EngineEvent::RemoteChange { paths, tree: touched.tree });
        }
    }

    /// Sends local changes to every peer that said hello.
    fn flush(&mut self) {
        let Some(changes) = self.ws.doc().take_changes() else {
            return;
        };
        self.dirty = true;
        self.links.broadcast(&StateMsg::Changes(to_wire(changes)));
    }

    fn send(&mut self, id: LinkId, msg: &StateMsg) {
        self.links.send(id, msg);
    }

    fn drop_link(&mut self, id: LinkId, why: &str) {
        self.drop_link_after(id, why, Duration::ZERO);
    }

    /// Drops a link now, and closes its connection after `grace` (time for
    /// a last message, such as a refusal, to leave).
    fn drop_link_after(&mut self, id: LinkId, why: &str, grace: Duration) {
        let Some(slot) = self.links.remove(id) else {
            return;
        };
        tracing::debug!(link = id.0, why, "dropping link");
        let link = slot.link.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            link.close().await;
        });
        self.terms.link_dropped(id);
        if let Some((peer, name)) = slot.peer {
            tracing::info!(%peer, %name, "peer {why}");
            self.mesh.forget(&peer);
            self.forget_presence(&peer);
            let _ = self.events.send(EngineEvent::PeerLeft { peer, name });
            self.gossip();
            self.report_status();
        }
        if self.first_sync.as_ref().is_some_and(|f| f.host == Some(id))
            && let Some(first) = self.first_sync.take()
        {
            let _ = first.done.send(Err(EngineError::HostLeft));
        }
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        self.ws.check_swapped();
        self.send_presence_if_due(now);
        self.expire_presence(now);
        self.on_term_tick();
        if now.duration_since(self.last_digest) >= digest::DIGEST_EVERY {
            self.last_digest = now;
            self.send_digests();
            if self.fs.is_some() {
                self.ws.retry_unwritten();
            }
            if !self.fetch.idle() {
                self.refresh_wanted();
            }
        }
        if now.duration_since(self.last_gossip) >= peers::GOSSIP_EVERY {
            self.gossip();
            self.dial_missing();
        }
        self.maybe_rejoin();
        let lacking = self.links.lacking();
        self.catch_up_due(&lacking);
        for l in self.links.silent(now) {
            self.drop_link(l, "went silent");
        }
        for l in self.links.recovered() {
            self.send_sync(l);
        }
        if self.dirty
            && now.duration_since(self.last_save) >= SAVE_EVERY
            && let Err(e) = self.save()
        {
            tracing::error!(error = %e, "could not save the document");
        }
    }

    /// A full snapshot of the document and the file records; the logs start
    /// over from it, and every later write is journaled.
    pub fn save(&mut self) -> Result<(), EngineError> {
        self.last_save = Instant::now();
        if !self.persist {
            return Ok(());
        }
        self.dirty = false;
        let records = self.ws.records();
        let (sb, doc) = self.ws.parts();
        state::save_document(sb, doc, &records)?;
        self.ws.enable_journal();
        Ok(())
    }

    async fn stop(mut self) -> Result<(), EngineError> {
        if let Some(a) = self.acceptor.take() {
            a.abort();
        }
        if let Some(a) = self.rejoin.as_mut().and_then(|r| r.attempt.take()) {
            a.abort();
        }
        self.close_terminals();
        self.flush();
        let bye = StateMsg::Bye("shutting down".into());
        let links: Vec<Conn> = self.links.slots().map(|s| s.link.clone()).collect();
        for link in &links {
            let _ = link.send_state(&bye);
        }
        // Give the goodbyes a moment to leave before the connections close.
        tokio::time::sleep(Duration::from_millis(100)).await;
        for link in links {
            link.close().await;
        }
        self.save()
    }
}

/// Document keys as the wire spells them.
fn to_wire(items: Vec<(DocKey, Vec<u8>)>) -> Keyed {
    items.into_iter().map(|(k, b)| (k.to_wire().to_owned(), b)).collect()
}

/// A sync round as messages of at most [`SYNC_MESSAGE`] bytes each (one
/// document's part alone may be larger), so no message nears the
/// receiver's [`crate::protocol::limits::MAX_MESSAGE`].
fn split_sync(items: Keyed) -> Vec<Keyed> {
    let mut out: Vec<Keyed> = Vec::new();
    let mut size = 0;
    for item in items {
        let len = item.0.len() + item.1.len() + 5;
        match out.last_mut() {
            Some(last) if size + len <= SYNC_MESSAGE => last.push(item),
            _ => {
                out.push(vec![item]);
                size = 0;
            }
        }
        size += len;
    }
    out
}

/// Keys the wire already checked; one that names no document is dropped.
fn from_wire(items: Keyed) -> Vec<(DocKey, Vec<u8>)> {
    items.into_iter().filter_map(|(k, b)| Some((DocKey::from_wire(&k)?, b))).collect()
}

async fn next_fs_batch(fs: &mut Option<(Watcher, mpsc::UnboundedReceiver<Vec<FsChange>>)>) -> Vec<FsChange> {
    match fs {
        Some((_, rx)) => match rx.recv().await {
            Some(batch) => batch,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_sync_round_is_split_under_the_message_limit() {
        let items: Keyed = (0..40).map(|i| (format!("f{i}"), vec![0; 512 * 1024])).collect();
        let parts = split_sync(items.clone());
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|p| StateMsg::Sync(p.clone()).encode().len() <= SYNC_MESSAGE + 16));
        assert_eq!(parts.concat(), items);
        assert!(split_sync(Vec::new()).is_empty());
    }
}
