//! The engine's one task: it owns the workspace, the links and the
//! terminals, and handles, one at a time, what the watcher, the links and
//! the handle send it. Each concern's handling has its own file:
//! `changes` (how documents travel), `first_sync` (a fresh joiner's wait),
//! `blobs` (texts nobody edited), `digest` (noticing a peer that fell
//! behind), `peers` (the mesh and rejoining), `presence`, `terminals`; the
//! connection table is `links`.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};

use super::admission::Admission;
use super::handshake::Local;
use super::membership::{Access, Membership};
use super::mesh::Mesh;
use super::presence::{LocalPresence, Outgoing, PeerPresence, PresenceTable, default_color};
use super::state;
use super::terminals::Terminals;
use super::workspace::{FileInfo, SearchQuery, SearchResults, Workspace};
use super::{EngineError, EngineEvent, EngineHandle, FileOp, Invites, Leaving, MemberInfo, PeerInfo, SyncStatus};
use crate::doc::{Member, Splice, Touched, Version};
use crate::fs::watcher::{FsChange, Watcher};
use crate::link::{Conn, LinkEvent, LinkEventKind, LinkId};
use crate::path::RelPath;
use crate::protocol::limits::{MAX_LINKS, PRESENCE_RATE, WANT_RATE};
use crate::protocol::membership::Role;
use crate::protocol::wire::Relay;
use crate::protocol::{Hello, Invite, PROTOCOL_VERSION, PeerId, SessionId, StateMsg, TermId};
use crate::rate::Verdict;
use crate::signal::Envelope;
use crate::signal::hub::Hub;
use crate::tasks::Tasks;
use crate::term::pty::PtyEvent;
use crate::term::{TermInfo, TermView};
use first_sync::FirstSync;
use links::Links;
use saving::Saving;

mod blobs;
mod changes;
mod digest;
mod first_sync;
mod languages;
mod links;
mod peers;
mod presence;
mod roles;
mod saving;
mod terminals;
pub use peers::Rejoin;
pub use terminals::TermCommand;

/// Link events queued for the actor.
pub const INBOX: usize = 4096;
/// Offers from signaling queued for the host's admission.
pub const OFFERS: usize = 256;
const TICK: Duration = Duration::from_millis(250);
/// A turn of the loop this long is logged (at debug level) with what it did.
const SLOW_TURN: Duration = Duration::from_millis(50);
/// How long a refused peer's connection stays open for the refusal to arrive.
const BYE_GRACE: Duration = Duration::from_millis(500);
/// Events taken from the inbox at once, so changes that arrived together are
/// applied together.
const BATCH: usize = 256;
/// How long a stopping engine waits for goodbyes to arrive.
const STOP_WITHIN: Duration = Duration::from_secs(3);
/// How long its tasks then have to end once told to (they end at their
/// next await; the goodbyes' wait may have used all of [`STOP_WITHIN`]).
const TASKS_END_WITHIN: Duration = Duration::from_secs(2);
/// How long one turn of the loop takes in changes from disk, or handles
/// messages from peers.
const INTAKE_SLICE: Duration = Duration::from_millis(20);
const EVENTS_SLICE: Duration = INTAKE_SLICE;
/// A change of this many files on disk is worth a line in the log.
const INTAKE_NOTICE: usize = 64;
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
    WithheldSecrets { reply: oneshot::Sender<Vec<RelPath>> },
    Search { query: SearchQuery, reply: oneshot::Sender<Result<SearchResults, EngineError>> },
    FileOp { op: FileOp, reply: oneshot::Sender<Result<(), EngineError>> },
    TermView { term: TermId, reply: oneshot::Sender<Option<TermView>> },
    Access { reply: oneshot::Sender<Access> },
    AnswerJoin { peer: PeerId, allow: bool, reply: oneshot::Sender<Result<(), EngineError>> },
    DenyWaiting { reply: oneshot::Sender<Result<Vec<PeerId>, EngineError>> },
    SetRole { peer: PeerId, role: Role, reply: oneshot::Sender<Result<(), EngineError>> },
    NewLinks { reply: oneshot::Sender<Result<Invites, EngineError>> },
    LspOpen { path: RelPath, reply: oneshot::Sender<Result<bool, EngineError>> },
    LspRequest { path: RelPath, method: String, params: serde_json::Value, reply: oneshot::Sender<Result<serde_json::Value, EngineError>> },
    ShareLanguages { peer: PeerId, allow: bool },
    Shutdown,
}

/// The host's side of signaling: who gets in, and the links.
pub struct Door {
    pub admission: Admission,
    /// Publishes on the session's topic.
    pub signal: mpsc::UnboundedSender<Envelope>,
    pub offers: mpsc::Receiver<Envelope>,
    /// The edit link as made at start: both links are made from it.
    pub invite: Invite,
    /// What `session.json` holds, to save the links' secrets in.
    pub saved: state::SavedSession,
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
    /// The signaling server a host runs, as long as the actor lives.
    _hub: Option<Hub>,
    saving: Saving,
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
    /// The host's word on who is in, and this peer's role as last obeyed.
    members: Membership,
    access_was: Access,
    /// For the host: its door, its links as handed out, and answers being set up.
    door: Option<Door>,
    invites: watch::Sender<Option<Invites>>,
    answering: Arc<AtomicUsize>,
    /// The language servers, here and at peers.
    lsp: languages::LspState,
}

impl Actor {
    pub fn new(mut ws: Workspace, local: Local, session: SessionId, inbox: mpsc::Receiver<LinkEvent>, members: Membership) -> Self {
        let (events, _) = broadcast::channel(256);
        let (relay_tx, relay_rx) = mpsc::unbounded_channel();
        let (terms, term_rx) = Terminals::new(local.me.clone(), ws.sandbox().root().to_path_buf());
        let drained = local.links.drained.clone();
        let access_was = members.access(&local.me);
        ws.set_read_only(members.word().is_some() && !access_was.may_edit());
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
            _hub: None,
            saving: Saving::new(Instant::now()),
            presence: PresenceTable::default(),
            outgoing: Outgoing::new(Instant::now()),
            terms,
            term_rx,
            drained,
            status: SyncStatus::default(),
            last_digest: Instant::now(),
            fetch: blobs::Fetch::default(),
            access_was,
            members,
            door: None,
            invites: watch::channel(None).0,
            answering: Arc::default(),
            lsp: Default::default(),
        }
    }

    pub fn root(&self) -> PathBuf {
        self.ws.sandbox().root().to_path_buf()
    }

    pub fn watch(&mut self, watcher: Watcher, rx: mpsc::UnboundedReceiver<Vec<FsChange>>) {
        self.fs = Some((watcher, rx));
    }

    pub fn keep_alive(&mut self, hub: Option<Hub>) {
        self._hub = hub;
    }

    /// Writes this peer into the roster, keeping a color and role it already
    /// has. A peer that may not edit writes nothing (peers show it by the
    /// name it says hello with).
    pub fn enroll(&mut self, role: Access) -> Result<(), EngineError> {
        if !self.may_edit_here() {
            return Ok(());
        }
        let existing = self.ws.roster().remove(&self.me);
        let member = Member {
            name: self.name.clone(),
            color: existing.as_ref().map_or_else(|| default_color(&self.me), |m| m.color.clone()),
            role: existing.map_or_else(|| role.label().to_owned(), |m| m.role),
        };
        self.ws.enroll(&self.local.links.identity, member)?;
        Ok(())
    }

    /// Runs the actor; a host hands it its door.
    pub fn spawn(mut self, door: Option<Door>) -> EngineHandle {
        // Shells listed as ours did not survive the last run.
        self.reconcile_terminals();
        if let Some(door) = &door {
            self.invites.send_replace(Some(door.invites()));
        }
        self.door = door;
        let (cmd, cmd_rx) = mpsc::channel(1024);
        let events = self.events.clone();
        let traffic = self.local.links.traffic.clone();
        let me = self.me.clone();
        let invites = self.invites.subscribe();
        let task = tokio::spawn(self.run(cmd_rx));
        EngineHandle { me, invites, traffic, cmd, events, task }
    }

    async fn run(mut self, mut cmd: mpsc::Receiver<Command>) -> Result<(), EngineError> {
        let mut tick = tokio::time::interval(TICK);
        let mut queue: VecDeque<LinkEvent> = VecDeque::new();
        loop {
            let presence_due = self.outgoing.wake_at();
            let turn = Instant::now();
            let what;
            tokio::select! {
                c = cmd.recv() => {
                    what = "commands";
                    let Some(first) = c else { break };
                    if self.handle_commands(first, &mut cmd) {
                        break;
                    }
                    self.ws.write_edits();
                }
                ev = self.inbox.recv(), if queue.len() < BATCH => {
                    what = "peers' messages";
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
                // What the last slice left, when nothing new came.
                () = std::future::ready(()), if !queue.is_empty() => {
                    what = "peers' messages";
                    self.handle_events(&mut queue);
                }
                relay = self.relay_rx.recv() => {
                    what = "relay";
                    if let Some((via, relay)) = relay {
                        self.send_to_peer(&via, &StateMsg::Relay(relay));
                    }
                }
                mut batch = next_fs_batch(&mut self.fs) => {
                    what = "disk changes";
                    // Every batch the watcher has sent joins the intake at
                    // once: one per turn would leave a user's save behind
                    // the reports of hundreds of this peer's own writes.
                    while let Some(more) = self.fs.as_mut().and_then(|(_, rx)| rx.try_recv().ok()) {
                        batch.extend(more);
                    }
                    self.on_disk(batch);
                    self.lsp.stale = true;
                }
                // The rest of a mass change, a slice per turn: links and
                // commands are served between slices.
                () = std::future::ready(()), if self.ws.intake_left() > 0 => {
                    what = "disk changes";
                    self.take_in_slice(false);
                }
                Some(ev) = next_lsp_event(&mut self.lsp.events) => {
                    what = "language servers";
                    self.on_lsp_event(ev);
                }
                offer = next_offer(&mut self.door) => {
                    what = "joiners";
                    self.on_offer(offer);
                }
                _ = tokio::time::sleep_until(presence_due.unwrap_or_else(Instant::now).into()), if presence_due.is_some() => {
                    what = "presence";
                    self.send_presence_if_due(Instant::now());
                }
                Some(ev) = self.term_rx.recv() => {
                    what = "terminals";
                    self.on_pty(ev);
                }
                () = self.drained.notified() => {
                    what = "terminals";
                    self.pump_terminals(None);
                }
                _ = tick.tick() => {
                    what = "tick";
                    self.on_tick();
                }
            }
            self.flush();
            self.lsp_catch_up();
            // What held the loop, for whoever looks into a stall.
            let took = turn.elapsed();
            if took >= SLOW_TURN {
                tracing::debug!(took_ms = took.as_millis() as u64, what, "a slow turn of the engine's loop");
            }
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
                // Only this file's text is read again for its server (if it has one open).
                if self.lsp.opened_here(&path) {
                    self.lsp.edited.insert(path.clone());
                }
                let result = self.read_only().and_then(|()| Ok(self.ws.edit(&path, base.as_ref(), &splices)?));
                match reply {
                    Some(reply) => {
                        let _ = reply.send(result);
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
                let guests = self.language_guests();
                let mut peers: Vec<PeerInfo> = self
                    .links
                    .slots()
                    .filter_map(|s| {
                        s.peer.clone().map(|(peer, name)| PeerInfo {
                            name: names.get(&peer).cloned().unwrap_or(name),
                            shares_languages: guests.contains(&peer),
                            peer,
                            rtt: s.rtt,
                        })
                    })
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
                let result = match cmd {
                    TermCommand::Open { .. } | TermCommand::Grant { .. } => self.read_only().and_then(|()| self.terminal_command(cmd)),
                    cmd => self.terminal_command(cmd),
                };
                let _ = reply.send(result);
            }
            Command::Terminals { reply } => {
                // A terminal of a peer the host no longer lets edit is over:
                // it ended its shells, and cannot say so in the document.
                let listed =
                    self.ws.doc().terminals().into_iter().filter(|t| self.members.word().is_none() || self.members.access(&t.owner).may_edit());
                let _ = reply.send(listed.collect());
            }
            Command::Files { reply } => {
                let _ = reply.send(self.ws.files());
            }
            Command::Members { reply } => {
                let _ = reply.send(self.members());
            }
            Command::Access { reply } => {
                let _ = reply.send(self.access());
            }
            Command::AnswerJoin { peer, allow, reply } => {
                let _ = reply.send(self.answer_join(&peer, allow));
            }
            Command::DenyWaiting { reply } => {
                let _ = reply.send(self.deny_waiting());
            }
            Command::SetRole { peer, role, reply } => {
                let _ = reply.send(self.set_role(peer, role));
            }
            Command::NewLinks { reply } => {
                let _ = reply.send(self.new_links());
            }
            Command::LspOpen { path, reply } => {
                let _ = reply.send(self.lsp_open(path));
            }
            Command::LspRequest { path, method, params, reply } => self.lsp_request(path, method, params, reply),
            Command::ShareLanguages { peer, allow } => self.share_languages(peer, allow),
            Command::Search { query, reply } => {
                let _ = reply.send(self.ws.search(&query).map_err(EngineError::from));
            }
            Command::WithheldSecrets { reply } => {
                let _ = reply.send(self.ws.withheld_secrets());
            }
            Command::FileOp { op, reply } => {
                self.lsp.stale = true;
                let result = match op {
                    // Edits are written after every batch of commands: a save
                    // is answered once those before it are on disk.
                    FileOp::Save(p) => self.ws.text_id(&p).map(drop),
                    _ if !self.may_edit_here() => {
                        let _ = reply.send(Err(EngineError::ReadOnly));
                        return;
                    }
                    FileOp::CreateFile(p) => self.ws.create_file(&p),
                    FileOp::CreateDir(p) => self.ws.create_dir(&p),
                    FileOp::Rename(from, to) => self.ws.rename_path(&from, &to),
                    FileOp::Delete(p) => self.ws.delete_path(&p),
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
                    Some(Verdict::Flood) => {
                        self.drop_link(id, Leaving::Dropped(format!("sent presence far faster than {} a second", PRESENCE_RATE.per_second)))
                    }
                }
            }
            LinkEventKind::Malformed(e) => self.drop_link(id, Leaving::Dropped(format!("sent a malformed message ({e})"))),
            LinkEventKind::Closed => self.drop_link(id, Leaving::Closed),
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
                self.end_first_sync_if(|f| f.awaits(id), EngineError::Refused(reason.clone()));
                self.drop_link(id, Leaving::Goodbye(reason));
            }
            (StateMsg::Sync(items), true) => self.on_sync(id, items),
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
                    self.drop_link(id, Leaving::Dropped(format!("asked for texts more than {} times a second", WANT_RATE.per_second)))
                }
                _ => self.on_want(id, hashes),
            },
            (StateMsg::Blobs(blobs), true) => self.on_blobs(id, blobs),
            (StateMsg::Lacks(hashes), true) => self.on_lacks(id, hashes),
            (StateMsg::Membership(word), true) => self.on_membership(id, &word),
            (StateMsg::Lsp(msg), true) => {
                if let Some((from, _)) = slot.peer.clone() {
                    self.on_lsp_msg(id, from, msg);
                }
            }
            (StateMsg::Pong(n), true) => {
                if let Some(slot) = self.links.get_mut(id)
                    && let Some((sent, at)) = slot.ping
                    && sent == n
                {
                    slot.rtt = Some(at.elapsed());
                    slot.ping = None;
                }
            }
            (_, false) => self.drop_link(id, Leaving::Dropped("spoke before saying hello".into())),
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
            self.check_certificate(id, &h.peer).or_else(|| match self.members.access(&h.peer) {
                Access::Removed => Some("removed from this session by the host".to_owned()),
                Access::Stranger => Some("not a member of this session: the host has not let that peer in".to_owned()),
                Access::Host | Access::Editor | Access::Viewer => None,
            })
        };
        if let Some(reason) = refusal {
            tracing::warn!(peer = %h.peer, %reason, "refusing a peer");
            // A joiner that cannot take its host (another protocol version,
            // say) says why at once instead of waiting for the workspace.
            self.end_first_sync_if(|f| f.host.is_none(), EngineError::CannotJoin(reason.clone()));
            self.send(id, &StateMsg::Bye(reason.clone()));
            self.drop_link_after(id, Leaving::Dropped(reason), BYE_GRACE);
            return;
        }
        // A peer that reconnects replaces its old, dead connection.
        let stale: Vec<LinkId> = self.links.greeted().filter(|(l, p, _)| *l != id && **p == h.peer).map(|(l, _, _)| l).collect();
        for l in stale {
            self.drop_link(l, Leaving::Replaced);
        }
        if let Some(slot) = self.links.get_mut(id) {
            slot.peer = Some((h.peer.clone(), h.name.clone()));
        }
        self.first_sync_greeted(id, &h.peer);
        self.mesh.connected(&h.peer);
        // webrtc-rs drops what arrives on a channel before that side has
        // opened it, which can swallow our first hello. The peer's hello proves
        // its side is open: say hello once more (a repeat is ignored).
        self.send_hello(id);
        let name = self.shown_names().remove(&h.peer).unwrap_or(h.name);
        let _ = self.events.send(EngineEvent::PeerJoined { peer: h.peer, name });
        // Who is in comes first: the peer checks the others by it.
        self.send_membership(id);
        self.offer_languages(id);
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

    /// Everyone the host let in (and the host), with what the roster and
    /// their hellos say of them; a viewer has no roster entry.
    fn members(&self) -> Vec<MemberInfo> {
        let mut names = self.shown_names();
        let roster = self.ws.roster();
        let mut peers: std::collections::BTreeSet<PeerId> = roster.keys().cloned().collect();
        peers.extend(self.members.members().into_iter().filter(|(_, r)| *r != Role::Removed).map(|(p, _)| p));
        peers.insert(self.members.host().clone());
        peers.insert(self.me.clone());
        peers
            .into_iter()
            .filter(|p| self.members.access(p) != Access::Removed)
            .map(|peer| MemberInfo {
                name: names.remove(&peer).or_else(|| roster.get(&peer).map(|m| m.name.clone())).unwrap_or_else(|| peer.as_str()[..8].to_owned()),
                color: roster.get(&peer).map_or_else(|| default_color(&peer), |m| m.color.clone()),
                access: self.members.access(&peer),
                peer,
            })
            .collect()
    }

    /// What the watcher saw on disk: taken in, or, on a peer that may not
    /// edit, put back as the session has it.
    fn on_disk(&mut self, batch: Vec<FsChange>) {
        if self.may_edit_here() {
            self.ws.queue_intake(batch);
            let left = self.ws.intake_left();
            if left >= INTAKE_NOTICE {
                tracing::info!("taking in {left} changed files");
            }
            self.take_in_slice(true);
            return;
        }
        for (path, kept) in self.ws.undo_writes(batch) {
            tracing::warn!(%path, "this peer may not change shared files: put the file back as the session has it");
            let _ = self.events.send(EngineEvent::WriteUndone { path, kept });
        }
    }

    /// Takes in what changed on disk for one slice of time; the window
    /// hears which files and whether the tree changed, and, for a mass
    /// change, how much is left.
    fn take_in_slice(&mut self, first: bool) {
        if let Err(e) = self.ws.take_in_for(INTAKE_SLICE) {
            tracing::warn!(error = %e, "could not take in changes on disk");
        }
        let (ids, tree) = self.ws.doc().outgoing();
        let paths = self.ws.paths_of(&ids);
        if tree || !paths.is_empty() {
            let _ = self.events.send(EngineEvent::FilesChanged { paths, tree });
        }
        let left = self.ws.intake_left();
        if left > 0 || !first {
            let _ = self.events.send(EngineEvent::Intake { left });
        }
    }

    fn send_hello(&mut self, id: LinkId) {
        let hello = Hello { protocol: PROTOCOL_VERSION, peer: self.me.clone(), name: self.name.clone(), workspace: self.session.to_hex() };
        self.send(id, &StateMsg::Hello(hello));
    }

    fn apply_remote(&mut self, touched: &Touched) {
        if touched.is_empty() {
            return;
        }
        self.saving.changed();
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
        self.lsp_sync(Some(&paths));
        if touched.tree || !paths.is_empty() {
            let _ = self.events.send(EngineEvent::FilesChanged { paths, tree: touched.tree });
        }
    }

    fn send(&mut self, id: LinkId, msg: &StateMsg) {
        self.links.send(id, msg);
    }

    fn drop_link(&mut self, id: LinkId, why: Leaving) {
        self.drop_link_after(id, why, Duration::ZERO);
    }

    /// Drops a link now, and closes its connection after `grace` (time for
    /// a last message, such as a refusal, to leave).
    fn drop_link_after(&mut self, id: LinkId, why: Leaving, grace: Duration) {
        let Some(slot) = self.links.remove(id) else {
            return;
        };
        tracing::debug!(link = id.0, %why, "dropping link");
        let link = slot.link.clone();
        self.tasks().spawn(async move {
            tokio::time::sleep(grace).await;
            link.close().await;
        });
        self.terms.link_dropped(id);
        if let Some((peer, name)) = slot.peer {
            self.lsp_peer_left(id, &peer);
            tracing::info!(%peer, %name, "peer {why}");
            self.mesh.forget(&peer);
            self.forget_presence(&peer);
            let _ = self.events.send(EngineEvent::PeerLeft { peer, name, why });
            self.gossip();
            self.report_status();
        }
        self.end_first_sync_if(|f| f.host == Some(id), EngineError::HostLeft);
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        self.door_tick();
        self.lsp_tick();
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
            self.drop_link(l, Leaving::Silent);
        }
        for l in self.links.recovered() {
            self.send_sync(l);
        }
        if self.saving.due(now)
            && let Err(e) = self.checkpoint()
        {
            tracing::error!(error = %e, "could not save the document");
        }
    }

    /// Appends what changed to the state logs; a full snapshot only when
    /// the logs have grown large (or none was taken yet).
    fn checkpoint(&mut self) -> Result<(), EngineError> {
        if self.saving.persists() && self.ws.checkpoint()? {
            return self.save();
        }
        self.saving.saved(Instant::now());
        Ok(())
    }

    /// A full snapshot of the document and the file records; the logs start
    /// over from it, and every later write is journaled.
    pub fn save(&mut self) -> Result<(), EngineError> {
        self.saving.saved(Instant::now());
        if !self.saving.persists() {
            return Ok(());
        }
        let records = self.ws.records();
        let (sb, doc) = self.ws.parts();
        state::save_document(sb, doc, &records)?;
        self.ws.enable_journal();
        Ok(())
    }

    fn tasks(&self) -> &Tasks {
        &self.local.links.tasks
    }

    /// Says goodbye on every link, waits (within [`STOP_WITHIN`]) until the
    /// peers have what was queued for them, closes the links, ends every
    /// task the engine started, and saves.
    async fn stop(mut self) -> Result<(), EngineError> {
        let deadline = tokio::time::Instant::now() + STOP_WITHIN;
        self.close_terminals();
        if let Some(lsp) = self.lsp.handle.clone() {
            lsp.shutdown().await;
        }
        self.flush();
        let bye = StateMsg::Bye("shutting down".into());
        let links: Vec<Conn> = self.links.slots().map(|s| s.link.clone()).collect();
        for link in &links {
            let _ = link.send_state(&bye);
        }
        // One waiter on `drained` for all links: it wakes one waiter per
        // message handed on, whichever link it was for.
        let drained = self.drained.clone();
        let delivered = async {
            while links.iter().any(|l| l.backlog() > 0) {
                drained.notified().await;
            }
            futures_util::future::join_all(links.iter().map(|l| l.delivered())).await;
        };
        let _ = tokio::time::timeout_at(deadline, delivered).await;
        let _ = tokio::time::timeout_at(deadline, futures_util::future::join_all(links.iter().map(|l| l.close()))).await;
        let left = self.tasks().stop(TASKS_END_WITHIN).await;
        self.save()?;
        if left > 0 {
            return Err(EngineError::Lingering(left));
        }
        Ok(())
    }
}

async fn next_lsp_event(events: &mut Option<mpsc::UnboundedReceiver<crate::lsp::LspEvent>>) -> Option<crate::lsp::LspEvent> {
    match events {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_offer(door: &mut Option<Door>) -> Envelope {
    match door {
        Some(d) => match d.offers.recv().await {
            Some(env) => env,
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
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
