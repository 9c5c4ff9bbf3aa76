//! The engine: starts a peer (host or joiner) and runs it until shutdown.
//!
//! [`Engine::host`] and [`Engine::join`] return an [`EngineHandle`]; the
//! command-line peer and the desktop app both drive the engine through it.
//! One actor task owns the workspace and every link (see [`actor`]); links
//! and the watcher feed it through channels, so no lock guards the document.

mod actor;
pub mod admission;
mod handshake;
#[cfg(test)]
mod hostile;
pub mod membership;
mod mesh;
pub mod presence;
mod roster;
mod state;
mod terminals;
pub mod workspace;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use url::Url;

use crate::doc::{DocError, Splice, Version, WorkspaceDoc};
use crate::fs::watcher::{FsChange, WatchError, Watcher};
use crate::fs::{FsError, Sandbox};
use crate::link::memory::MemNet;
use crate::link::{IceConfig, Identity, LinkConfig, LinkError, Traffic};
use crate::path::RelPath;
use crate::protocol::membership::Role as MemberRole;
use crate::protocol::{Invite, PeerId, Secret, SessionId, TermId};
use crate::signal::crypto;
use crate::signal::hub::{Hub, Vouch};
use crate::signal::{SignalError, client};
use crate::tasks::Tasks;
use crate::term::{TermError, TermInfo, TermView};
use actor::{Actor, Command, Door, Rejoin, TermCommand};
use admission::{Admission, JoinRequest};
use handshake::{LinkIds, Local};
use membership::{Access, Membership};
use presence::{LocalPresence, PeerPresence};
use state::{Role, SavedSession};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use workspace::{FileInfo, ScanProgress, SearchQuery, SearchResults, Workspace, WorkspaceError};

/// Files larger than this are listed but not shared, unless configured otherwise.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 2 * 1024 * 1024;
/// How long a joiner waits for the whole workspace to arrive.
const INITIAL_SYNC_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{0} of the engine's tasks did not end within the shutdown deadline")]
    Lingering(usize),
    #[error(transparent)]
    Doc(#[from] DocError),
    #[error(transparent)]
    Workspace(#[from] WorkspaceError),
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error(transparent)]
    Signal(#[from] SignalError),
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error(transparent)]
    Term(#[from] TermError),
    #[error(transparent)]
    Lsp(#[from] crate::lsp::LspError),
    #[error("state folder: {0}")]
    State(String),
    #[error("the host refused this peer: the invite link's secret is wrong")]
    WrongSecret,
    #[error("no answer from the host: it is not running, or not reachable from here")]
    HostUnreachable,
    #[error("the host closed the connection before the workspace arrived")]
    HostLeft,
    #[error("the host stopped answering before letting this peer in")]
    HostGone,
    #[error("not let in: {0}")]
    Denied(String),
    #[error("this peer joined with a read-only link: it cannot change files or terminals")]
    ReadOnly,
    #[error("only the host can do that")]
    NotHost,
    #[error("{0} is not a member of this session, or not waiting to join")]
    NotAMember(PeerId),
    #[error("{0} may only watch: the host gave it a read-only role")]
    Viewer(PeerId),
    #[error("the session lists {0} members, as many as it can hold")]
    SessionFull(usize),
    #[error("the host refused this peer: {0}")]
    Refused(String),
    #[error("this peer cannot join that host: {0}")]
    CannotJoin(String),
    #[error("the workspace did not arrive within {0:?}")]
    SyncTimeout(std::time::Duration),
    #[error("{0} is not empty and does not hold this workspace; join into a new or empty folder")]
    NotEmpty(PathBuf),
    #[error("{0} mirrors a session hosted elsewhere: join that session again, or remove its .nitro folder to host it as a new session")]
    GuestFolder(PathBuf),
    #[error("the engine has stopped")]
    Stopped,
    #[error("hosting was cancelled while the folder was read")]
    Cancelled,
}

/// How a peer runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The workspace folder.
    pub root: PathBuf,
    /// The name other peers see.
    pub name: String,
    pub max_file_size: u64,
    /// The address to use for signaling and WebRTC (`None`: every interface).
    pub bind: Option<IpAddr>,
    /// The host's signaling port (0: any free port).
    pub port: u16,
    /// A y-webrtc signaling server to use instead of the host's own.
    pub signal: Option<Url>,
    /// STUN/TURN servers, and whether to relay only.
    pub ice: IceConfig,
    /// Share files whose names say they hold secrets (keys, `.env`) even
    /// when git does not track them.
    pub share_secrets: bool,
    /// A host's first look at its folder counts here, and stops when it is
    /// cancelled ([`EngineError::Cancelled`]).
    pub scan: Arc<ScanProgress>,
    /// For a host: newcomers wait until its user lets them in
    /// ([`EngineEvent::JoinRequest`], [`EngineHandle::answer_join`]).
    pub approve: bool,
    /// For a joiner: true while the host's user decides whether to let it in.
    pub waiting: Arc<watch::Sender<bool>>,
    /// Language servers to use besides (or instead of) the defaults found on PATH.
    pub language_servers: Vec<crate::lsp::ServerConfig>,
    /// Let every peer use this peer's language servers (otherwise only
    /// those it allows, [`EngineHandle::share_languages`]).
    pub serve_lsp: bool,
    /// Connect to peers on this network in memory instead of over WebRTC
    /// (signaling stays real): whole sessions in one process, for tests.
    pub net: Option<MemNet>,
}

impl EngineConfig {
    pub fn new(root: impl Into<PathBuf>, name: impl Into<String>) -> Self {
        Self {
            root: root.into(),
            name: name.into(),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            bind: None,
            port: 0,
            signal: None,
            ice: IceConfig::default(),
            share_secrets: false,
            scan: Arc::default(),
            approve: false,
            waiting: Arc::new(watch::channel(false).0),
            language_servers: Vec::new(),
            serve_lsp: false,
            net: None,
        }
    }

    fn link_config(&self, identity: Identity, tasks: Tasks) -> LinkConfig {
        LinkConfig {
            udp_addrs: self.udp_addrs(),
            identity,
            ice: self.ice.clone(),
            traffic: Arc::default(),
            drained: Arc::default(),
            tasks,
            net: self.net.clone(),
        }
    }

    fn udp_addrs(&self) -> Vec<String> {
        match self.bind {
            Some(ip) if !ip.is_unspecified() => vec![SocketAddr::new(ip, 0).to_string()],
            // A wildcard address gathers every interface but loopback: add it
            // so peers on one machine connect without a network.
            _ => vec!["0.0.0.0:0".into(), "127.0.0.1:0".into()],
        }
    }
}

/// Why a peer's connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leaving {
    /// It said goodbye, with its reason (`shutting down`, say).
    Goodbye(String),
    /// The connection closed or failed without a word.
    Closed,
    /// Nothing came from it for 10 s.
    Silent,
    /// It connected again: the old connection is let go.
    Replaced,
    /// This peer let it go (removed by the host, refused, or for what it
    /// sent); says what it did.
    Dropped(String),
}

impl std::fmt::Display for Leaving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Goodbye(_) => f.write_str("left"),
            Self::Closed => f.write_str("lost the connection"),
            Self::Silent => f.write_str("went silent"),
            Self::Replaced => f.write_str("reconnected"),
            Self::Dropped(what) => f.write_str(what),
        }
    }
}

/// What the engine tells its user.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    PeerJoined {
        peer: PeerId,
        name: String,
    },
    PeerLeft {
        peer: PeerId,
        name: String,
        why: Leaving,
    },
    /// These text files changed (`tree`: entries were added, removed or
    /// moved), by another peer or on this peer's own disk. The files on
    /// disk and the engine's texts already hold the change.
    FilesChanged {
        paths: Vec<RelPath>,
        tree: bool,
    },
    /// A mass change on disk (a branch switch, a formatter) is being taken
    /// in: `left` changes to go, 0 once done.
    Intake {
        left: usize,
    },
    /// An [`EngineHandle::edit`] could not be applied; the editor should
    /// reload the file's text.
    EditRejected {
        path: RelPath,
        reason: String,
    },
    /// Another peer's presence changed (at most 60 times a second each).
    Presence(PeerPresence),
    /// A peer's presence went stale or the peer left.
    PresenceGone {
        peer: PeerId,
    },
    /// A terminal was opened, closed, resized, renamed, granted or exited:
    /// [`EngineHandle::terminals`] has the new list.
    Terminals,
    /// A terminal's owner did not apply our input or resize.
    TerminalRefused {
        term: TermId,
        reason: String,
    },
    /// Whether this peer holds the same workspace as each other peer changed.
    Sync(SyncStatus),
    /// For a host that approves joiners: someone with a valid link waits to
    /// be let in ([`EngineHandle::answer_join`]).
    JoinRequest(JoinRequest),
    /// A joiner that waited gave up before it was answered.
    JoinWithdrawn {
        peer: PeerId,
    },
    /// The host changed who is in or a role: [`EngineHandle::members`] and
    /// [`EngineHandle::access`] have the new word.
    Membership,
    /// The host's invite links were replaced ([`EngineHandle::invites`] has them).
    LinksReplaced,
    /// The problems a language server sees in a file now (LSP `Diagnostic`s),
    /// after every edit of anyone's.
    Diagnostics {
        path: RelPath,
        diagnostics: serde_json::Value,
    },
    /// A language server started, stopped or is missing: worth a quiet note.
    LanguageServer {
        language: String,
        state: crate::lsp::ServerState,
        message: String,
    },
    /// This peer may not change shared files: what its user wrote on disk
    /// was put back, and the user's text kept at `kept`.
    WriteUndone {
        path: RelPath,
        kept: Option<PathBuf>,
    },
}

/// Whether this peer holds the same workspace as the others, from the
/// digests they exchange (PROTOCOL.md §5.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// Names of the connected peers whose last digest equals ours.
    pub in_sync: Vec<String>,
    /// Names of the connected peers whose workspace differs from ours for
    /// now (changes in flight) or until a resync repairs it.
    pub differing: Vec<String>,
    /// Shared entries not yet on this disk (their content has not arrived).
    pub unwritten: usize,
}

impl std::fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.in_sync.len();
        write!(f, "in sync with {n} peer{}", if n == 1 { "" } else { "s" })?;
        if !self.differing.is_empty() {
            write!(f, "; catching up with {}", self.differing.join(", "))?;
        }
        if self.unwritten > 0 {
            write!(f, "; {} files not yet written", self.unwritten)?;
        }
        Ok(())
    }
}

/// A peer this one is connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    pub peer: PeerId,
    pub name: String,
    /// The last measured round trip on the state channel.
    pub rtt: Option<std::time::Duration>,
    /// Whether this peer lets it use its language servers.
    pub shares_languages: bool,
}

/// A member of the session, from the roster (connected now or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    pub peer: PeerId,
    pub name: String,
    /// `#rrggbb`: the color of this peer's cursors everywhere.
    pub color: String,
    /// What the host lets it do.
    pub access: Access,
}

/// A host's two invite links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invites {
    pub edit: Invite,
    pub view: Invite,
}

/// A change to the file tree asked for by an editor.
#[derive(Debug, Clone)]
pub enum FileOp {
    CreateFile(RelPath),
    CreateDir(RelPath),
    Rename(RelPath, RelPath),
    Delete(RelPath),
    /// Returns once the file's text is on this peer's disk.
    Save(RelPath),
}

/// A running peer.
pub struct EngineHandle {
    me: PeerId,
    invites: watch::Receiver<Option<Invites>>,
    traffic: Arc<Traffic>,
    cmd: mpsc::Sender<Command>,
    events: broadcast::Sender<EngineEvent>,
    task: tokio::task::JoinHandle<Result<(), EngineError>>,
}

impl EngineHandle {
    /// This peer's id.
    pub fn me(&self) -> &PeerId {
        &self.me
    }

    /// The edit link, for a host.
    pub fn invite(&self) -> Option<Invite> {
        self.invites().map(|i| i.edit)
    }

    /// Both invite links, for a host (they change with [`Self::new_links`]).
    pub fn invites(&self) -> Option<Invites> {
        self.invites.borrow().clone()
    }

    /// What the host lets this peer do now.
    pub async fn access(&self) -> Result<Access, EngineError> {
        self.ask(|reply| Command::Access { reply }).await
    }

    /// For a host: lets a waiting joiner in, or turns it away.
    pub async fn answer_join(&self, peer: PeerId, allow: bool) -> Result<(), EngineError> {
        self.ask(|reply| Command::AnswerJoin { peer, allow, reply }).await?
    }

    /// For a host: turns away every joiner waiting to be let in, and
    /// returns who they were.
    pub async fn deny_waiting(&self) -> Result<Vec<PeerId>, EngineError> {
        self.ask(|reply| Command::DenyWaiting { reply }).await?
    }

    /// For a host: makes a member an editor or a viewer, or removes it
    /// (every peer closes its connections, and it cannot come back with the
    /// links it knows: those are replaced).
    pub async fn set_role(&self, peer: PeerId, role: MemberRole) -> Result<(), EngineError> {
        self.ask(|reply| Command::SetRole { peer, role, reply }).await?
    }

    /// An editor opened `path`: the language server for it (started if
    /// needed) follows its text from now on. False when no server is
    /// configured for its language.
    pub async fn lsp_open(&self, path: RelPath) -> Result<bool, EngineError> {
        self.ask(|reply| Command::LspOpen { path, reply }).await?
    }

    /// A Language Server Protocol request about `path` (hover, completion,
    /// definition, ...). Documents are named `nitro:/<path>` in `params` and
    /// in the result; places outside the workspace are left out of results.
    pub async fn lsp_request(&self, path: RelPath, method: String, params: serde_json::Value) -> Result<serde_json::Value, EngineError> {
        self.ask(|reply| Command::LspRequest { path, method, params, reply }).await?
    }

    /// Lets `peer` use this peer's language servers (requests and
    /// diagnostics travel over the connection), or stops it.
    pub async fn share_languages(&self, peer: PeerId, allow: bool) -> Result<(), EngineError> {
        self.cmd.send(Command::ShareLanguages { peer, allow }).await.map_err(|_| EngineError::Stopped)
    }

    /// For a host: replaces both invite links. Old links no longer let
    /// anyone new in; members already in keep coming back.
    pub async fn new_links(&self) -> Result<Invites, EngineError> {
        self.ask(|reply| Command::NewLinks { reply }).await?
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    /// Bytes sent and received on the state channels since the start.
    pub fn traffic(&self) -> (u64, u64) {
        (self.traffic.sent.load(Ordering::Relaxed), self.traffic.received.load(Ordering::Relaxed))
    }

    /// Applies an edit typed in an editor to a shared text file; every peer
    /// gets it, and the file is written. `base` is the version of the text
    /// the editor showed (from [`Self::text`], or `None` for the current
    /// text): offsets refer to that text, and the edit merges with whatever
    /// arrived since. Returns once the edit is queued; a failure arrives as
    /// [`EngineEvent::EditRejected`].
    pub async fn edit(&self, path: RelPath, base: Option<Version>, splices: Vec<Splice>) -> Result<(), EngineError> {
        self.cmd.send(Command::Edit { path, base, splices, reply: None }).await.map_err(|_| EngineError::Stopped)
    }

    /// Like [`Self::edit`], but waits for the edit to be applied and returns
    /// the version it made (the text of `base` with this edit), or why it
    /// could not be applied.
    pub async fn edit_versioned(&self, path: RelPath, base: Option<Version>, splices: Vec<Splice>) -> Result<Version, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.cmd.send(Command::Edit { path, base, splices, reply: Some(reply) }).await.map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)?
    }

    /// True when this peer holds every change of `version` (from any peer).
    pub async fn holds(&self, version: Version) -> Result<bool, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.cmd.send(Command::Holds { version, reply }).await.map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)
    }

    /// The current text of a shared file, and its version.
    pub async fn text(&self, path: RelPath) -> Result<(String, Version), EngineError> {
        let (reply, rx) = oneshot::channel();
        self.cmd.send(Command::Text { path, reply }).await.map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)?
    }

    /// The peers this one is connected to now.
    /// Whether this peer holds the same workspace as the others.
    pub async fn sync_status(&self) -> Result<SyncStatus, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.cmd.send(Command::SyncStatus { reply }).await.map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)
    }

    pub async fn peers(&self) -> Result<Vec<PeerInfo>, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.cmd.send(Command::Peers { reply }).await.map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)
    }

    /// Tells the other peers where this one is. Offsets are UTF-16 code units
    /// in the text of `base` (from [`Self::text`]; `None`: the current text).
    pub async fn set_presence(&self, presence: LocalPresence, base: Option<Version>) -> Result<(), EngineError> {
        self.cmd.send(Command::SetPresence { presence, base }).await.map_err(|_| EngineError::Stopped)
    }

    /// Where every other peer is now.
    pub async fn presence(&self) -> Result<Vec<PeerPresence>, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.cmd.send(Command::Presence { reply }).await.map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)
    }

    /// Every file and folder of the shared tree (text, binary and
    /// over-large files alike), parents before children.
    pub async fn files(&self) -> Result<Vec<FileInfo>, EngineError> {
        self.ask(|reply| Command::Files { reply }).await
    }

    /// Finds text in the shared text files, as they are now.
    pub async fn search(&self, query: SearchQuery) -> Result<SearchResults, EngineError> {
        self.ask(|reply| Command::Search { query, reply }).await?
    }

    /// Files and folders in the workspace whose names say they hold secrets
    /// and that this peer keeps back (see [`EngineConfig::share_secrets`]).
    pub async fn withheld_secrets(&self) -> Result<Vec<RelPath>, EngineError> {
        self.ask(|reply| Command::WithheldSecrets { reply }).await
    }

    /// Everyone in the session's roster, this peer included.
    pub async fn members(&self) -> Result<Vec<MemberInfo>, EngineError> {
        self.ask(|reply| Command::Members { reply }).await
    }

    /// Creates, renames, deletes or saves on this peer's disk; every peer
    /// gets the change. Paths outside the workspace cannot be named.
    pub async fn file_op(&self, op: FileOp) -> Result<(), EngineError> {
        self.ask(|reply| Command::FileOp { op, reply }).await?
    }

    /// The splices that bring an editor showing the text of `since` up to
    /// the current text (applied in order), and the current version.
    pub async fn pull(&self, path: RelPath, since: Version) -> Result<(Vec<Splice>, Version), EngineError> {
        self.ask(|reply| Command::Pull { path, since, reply }).await?
    }

    /// Opens a shell on this machine, in the workspace folder, shared with
    /// every peer. Only this peer types into it until it grants others.
    pub async fn open_terminal(&self, cols: u16, rows: u16) -> Result<TermId, EngineError> {
        let id = self.terminal(TermCommand::Open { cols, rows }).await?;
        id.ok_or(EngineError::Stopped)
    }

    /// Types into a terminal. Input for another peer's terminal goes to its
    /// owner, which refuses it ([`EngineEvent::TerminalRefused`]) without a grant.
    pub async fn terminal_input(&self, term: TermId, bytes: Vec<u8>) -> Result<(), EngineError> {
        self.terminal(TermCommand::Input { term, bytes }).await.map(drop)
    }

    /// Resizes a terminal (ours, or another's we may type into).
    pub async fn resize_terminal(&self, term: TermId, cols: u16, rows: u16) -> Result<(), EngineError> {
        self.terminal(TermCommand::Resize { term, cols, rows }).await.map(drop)
    }

    /// Ends one of our terminals' shells and removes it for everyone.
    pub async fn close_terminal(&self, term: TermId) -> Result<(), EngineError> {
        self.terminal(TermCommand::Close { term }).await.map(drop)
    }

    /// Lets `peer` type into one of our terminals, or stops it.
    pub async fn grant_terminal(&self, term: TermId, peer: PeerId, write: bool) -> Result<(), EngineError> {
        self.terminal(TermCommand::Grant { term, peer, write }).await.map(drop)
    }

    /// Every terminal in the session.
    pub async fn terminals(&self) -> Result<Vec<TermInfo>, EngineError> {
        self.ask(|reply| Command::Terminals { reply }).await
    }

    /// A reader of a terminal's output (with its recent scrollback), `None`
    /// for a terminal this peer has no output of.
    pub async fn terminal_view(&self, term: TermId) -> Result<Option<TermView>, EngineError> {
        self.ask(|reply| Command::TermView { term, reply }).await
    }

    async fn terminal(&self, cmd: TermCommand) -> Result<Option<TermId>, EngineError> {
        self.ask(|reply| Command::Term { cmd, reply }).await?
    }

    async fn ask<T>(&self, cmd: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, EngineError> {
        let (reply, rx) = oneshot::channel();
        self.cmd.send(cmd(reply)).await.map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)
    }

    /// Says goodbye to the peers, saves the document and stops.
    pub async fn shutdown(self) -> Result<(), EngineError> {
        let _ = self.cmd.send(Command::Shutdown).await;
        self.task.await.map_err(|_| EngineError::Stopped)?
    }
}

pub struct Engine;

impl Engine {
    /// Shares `cfg.root`. Returns once the workspace is scanned and the
    /// invite links are ready.
    pub async fn host(cfg: EngineConfig) -> Result<EngineHandle, EngineError> {
        let sb = Sandbox::open(&cfg.root, cfg.max_file_size)?.sharing_secrets(cfg.share_secrets);
        let (mut saved, identity, doc, files) = match state::load_session(&sb)? {
            Some(s) if s.role == Role::Host => {
                let identity = state::load_identity(&sb)?.ok_or_else(|| EngineError::State("identity.pem is missing".into()))?;
                let (doc, files) = match state::load_document(&sb, &s.session)? {
                    Some(saved) => saved,
                    None => (WorkspaceDoc::new_workspace(&s.session)?, Default::default()),
                };
                (s, identity, doc, files)
            }
            Some(_) => return Err(EngineError::GuestFolder(sb.root().to_path_buf())),
            None => {
                let identity = Identity::generate()?;
                let session = SessionId::random().to_hex();
                let saved = SavedSession {
                    session: session.clone(),
                    role: Role::Host,
                    peer: PeerId::of_certificate(&identity.fingerprint),
                    secret: Some(Secret::random().to_base64()),
                    port: None,
                    view_secret: None,
                    retired: Vec::new(),
                };
                state::save_identity(&sb, &identity)?;
                (saved, identity, WorkspaceDoc::new_workspace(&session)?, Default::default())
            }
        };
        let session = saved.session_id()?;
        let me = PeerId::of_certificate(&identity.fingerprint);
        let secrets = saved.secrets()?;
        saved.set_secrets(&secrets);
        state::save_session(&sb, &saved)?;
        let mut ws = Workspace::open(sb, doc, &files)?;
        ws.doc().upgrade()?;
        ws.rescan_with(Some(&cfg.scan)).map_err(|e| match e {
            WorkspaceError::Cancelled => EngineError::Cancelled,
            e => e.into(),
        })?;
        let (watcher, fs_rx) = Watcher::spawn(ws.sandbox().root())?;

        let tasks = Tasks::new();
        let admission = Admission::new(session, secrets, cfg.approve);
        let topic = crypto::topic(&session);
        let (signal, url, hub) = match &cfg.signal {
            Some(url) => (client::connect(url, &topic, &tasks).await?, url.clone(), None),
            None => {
                let (hub, addr) = bind_hub(&cfg, saved.port, admission.vouch(), &tasks).await?;
                if saved.port != Some(addr.port()) {
                    saved.port = Some(addr.port());
                    state::save_session(ws.sandbox(), &saved)?;
                }
                let url = Url::parse(&format!("ws://{}", SocketAddr::new(advertised_ip(cfg.bind), addr.port())))
                    .map_err(|e| EngineError::State(e.to_string()))?;
                (hub.local(&topic), url, Some(hub))
            }
        };
        let invite = Invite {
            session,
            secret: admission.secrets().edit.clone(),
            signal: url,
            fingerprint: identity.fingerprint,
            host_name: cfg.name.clone(),
            view: false,
        };
        let members = Membership::load(ws.sandbox(), session, identity.fingerprint);
        let (inbox_tx, inbox_rx) = mpsc::channel(actor::INBOX);
        let local =
            Local { me: me.clone(), name: cfg.name.clone(), links: cfg.link_config(identity, tasks), ids: LinkIds::default(), inbox: inbox_tx };
        let (offers_tx, offers_rx) = mpsc::channel(actor::OFFERS);
        local.links.tasks.spawn(handshake::accept(me, signal.rx, offers_tx));

        let mut actor = Actor::new(ws, local, session, inbox_rx, members);
        actor.enroll(membership::Access::Host)?;
        actor.save()?;
        actor.watch(watcher, fs_rx);
        actor.keep_alive(hub);
        actor.serve_languages(&cfg.language_servers, cfg.serve_lsp)?;
        let door = Door { admission, signal: signal.tx, offers: offers_rx, invite, saved };
        Ok(actor.spawn(Some(door)))
    }

    /// Joins the session of `invite`, mirroring it into `cfg.root`. Returns
    /// once the whole workspace is on disk.
    pub async fn join(cfg: EngineConfig, invite: Invite) -> Result<EngineHandle, EngineError> {
        std::fs::create_dir_all(&cfg.root).map_err(|source| FsError::Io { path: cfg.root.display().to_string(), source })?;
        let sb = Sandbox::open(&cfg.root, cfg.max_file_size)?.sharing_secrets(cfg.share_secrets);
        let (doc, files) = match state::load_session(&sb)? {
            Some(s) if s.session == invite.session.to_hex() => match state::load_document(&sb, &s.session)? {
                Some(saved) => saved,
                None => (WorkspaceDoc::empty().for_session(&s.session)?, Default::default()),
            },
            Some(_) => return Err(EngineError::NotEmpty(sb.root().to_path_buf())),
            None if !sb.is_empty()? => return Err(EngineError::NotEmpty(sb.root().to_path_buf())),
            None => (WorkspaceDoc::empty().for_session(&invite.session.to_hex())?, Default::default()),
        };
        // A joiner keeps its certificate too: its id is made from it.
        let identity = match state::load_identity(&sb)? {
            Some(id) => id,
            None => Identity::generate()?,
        };
        let me = PeerId::of_certificate(&identity.fingerprint);
        let mut ws = Workspace::open(sb, doc, &files)?;
        let members = Membership::load(ws.sandbox(), invite.session, invite.fingerprint);
        let rejoining = ws.doc().is_initialized();
        if rejoining {
            // What changed here while away is taken in, or, for a peer that
            // may not edit, put back.
            if members.word().is_none() || members.access(&me).may_edit() {
                ws.rescan()?;
            } else {
                for (path, _) in ws.undo_writes(vec![FsChange::Rescan]) {
                    tracing::warn!(%path, "put back a shared file changed while away: this peer may not edit");
                }
            }
        }
        let topic = crypto::topic(&invite.session);
        let url = cfg.signal.clone().unwrap_or_else(|| invite.signal.clone());
        let tasks = Tasks::new();
        let signal = client::connect(&url, &topic, &tasks).await?;
        let (inbox_tx, inbox_rx) = mpsc::channel(actor::INBOX);
        let local =
            Local { me: me.clone(), name: cfg.name.clone(), links: cfg.link_config(identity, tasks), ids: LinkIds::default(), inbox: inbox_tx };

        let mut actor = Actor::new(ws, local.clone(), invite.session, inbox_rx, members);
        actor.serve_languages(&cfg.language_servers, cfg.serve_lsp)?;
        let (joined_tx, joined_rx) = oneshot::channel();
        let saved = SavedSession {
            session: invite.session.to_hex(),
            role: Role::Guest,
            peer: me,
            secret: None,
            port: None,
            view_secret: None,
            retired: Vec::new(),
        };
        actor.on_first_sync(joined_tx, saved, Rejoin::new(invite.clone(), url));
        if rejoining {
            actor.enroll(membership::Access::Editor)?;
            actor.save()?;
            let root = actor.root();
            let (watcher, fs_rx) = Watcher::spawn(&root)?;
            actor.watch(watcher, fs_rx);
        }
        let handle = actor.spawn(None);
        let joined = async {
            handshake::join(&local, &invite, signal, &cfg.waiting).await?;
            tokio::time::timeout(INITIAL_SYNC_TIMEOUT, joined_rx)
                .await
                .map_err(|_| EngineError::SyncTimeout(INITIAL_SYNC_TIMEOUT))?
                .map_err(|_| EngineError::Stopped)?
        }
        .await;
        match joined {
            Ok(()) => Ok(handle),
            Err(e) => {
                let _ = handle.shutdown().await;
                Err(e)
            }
        }
    }
}

/// Serves signaling on the configured port, else on the port this host used
/// before (so its invite link keeps working), else on any free port.
async fn bind_hub(cfg: &EngineConfig, saved: Option<u16>, vouch: Vouch, tasks: &Tasks) -> Result<(Hub, SocketAddr), EngineError> {
    let ip = cfg.bind.unwrap_or(Ipv4Addr::UNSPECIFIED.into());
    if cfg.port == 0
        && let Some(port) = saved
    {
        match Hub::bind_vouching(SocketAddr::new(ip, port), vouch.clone(), tasks).await {
            Ok(bound) => return Ok(bound),
            Err(e) => {
                tracing::warn!(error = %e, "the previous signaling port is taken; the invite link changes")
            }
        }
    }
    Ok(Hub::bind_vouching(SocketAddr::new(ip, cfg.port), vouch, tasks).await?)
}

/// The address joiners should use to reach this host's signaling: the bound
/// one, or the address of the interface that routes outwards (found without
/// sending anything), or loopback on a machine without a network.
fn advertised_ip(bind: Option<IpAddr>) -> IpAddr {
    if let Some(ip) = bind.filter(|ip| !ip.is_unspecified()) {
        return ip;
    }
    let routed = || -> Option<IpAddr> {
        let sock = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
        sock.connect("192.0.2.1:9").ok()?;
        Some(sock.local_addr().ok()?.ip()).filter(|ip| !ip.is_unspecified())
    };
    routed().unwrap_or(Ipv4Addr::LOCALHOST.into())
}
