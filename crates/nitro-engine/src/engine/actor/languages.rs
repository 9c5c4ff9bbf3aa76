//! The actor's side of language intelligence: it opens documents in the
//! language servers and keeps their texts current after every edit, this
//! peer's or another's, and passes requests on in order after them.
//!
//! Servers are shared (PROTOCOL.md §5.9): a peer whose language has no
//! server here opens its documents on, and asks, a peer that offers one
//! (the host first); a peer serves those it allows (everyone with
//! `serve_lsp`), from its own copy of the documents.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::Actor;
use crate::doc::content_hash;
use crate::engine::{EngineError, EngineEvent};
use crate::link::LinkId;
use crate::lsp::uris::Uris;
use crate::lsp::{Languages, LspError, LspEvent, ServerConfig, ServerState, servers};
use crate::path::RelPath;
use crate::protocol::limits::{LSP_ANSWER, MAX_LSP_IN_FLIGHT, MAX_LSP_OPEN};
use crate::protocol::lsp::LspMsg;
use crate::protocol::{PeerId, StateMsg};

type Reply = oneshot::Sender<Result<Value, EngineError>>;

/// The requests a user (the window, or a peer served) may make: questions
/// about documents, never commands the server would run or files it would
/// write. Their answers name only workspace files.
const METHODS: [&str; 7] = [
    "textDocument/hover",
    "textDocument/completion",
    "textDocument/signatureHelp",
    "textDocument/definition",
    "textDocument/references",
    "textDocument/rename",
    "textDocument/formatting",
];

/// What the actor keeps of the language servers, its own and its peers'.
#[derive(Default)]
pub(super) struct LspState {
    pub handle: Option<Languages>,
    pub events: Option<mpsc::UnboundedReceiver<LspEvent>>,
    configs: Vec<ServerConfig>,
    /// Languages whose server can run here (installed, not failing).
    available: HashSet<String>,
    /// Documents open in a server here, with the hash of the text it has.
    opened: HashMap<RelPath, String>,
    /// Texts changed since the servers were last told: any (after file
    /// operations and disk changes), or those of files edited in an editor.
    pub stale: bool,
    pub edited: HashSet<RelPath>,
    // Serving others.
    pub serve_all: bool,
    guests: HashSet<PeerId>,
    clients: HashMap<PeerId, HashSet<RelPath>>,
    last: HashMap<RelPath, Value>,
    serving: HashMap<(LinkId, u64), tokio::task::AbortHandle>,
    // Served by others.
    offers: HashMap<PeerId, Vec<String>>,
    remote: HashMap<RelPath, PeerId>,
    /// Documents an editor opened that no server serves yet.
    wanted: HashSet<RelPath>,
    pending: HashMap<u64, (Reply, PeerId, Instant)>,
    next_id: u64,
}

impl LspState {
    /// Whether a server here follows `path`.
    pub fn opened_here(&self, path: &RelPath) -> bool {
        self.opened.contains_key(path)
    }
}

impl Actor {
    /// Starts the language servers' task: the configured servers, then the
    /// defaults found on PATH.
    pub fn serve_languages(&mut self, configured: &[ServerConfig], serve_all: bool) -> Result<(), EngineError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let configs = servers::merged(configured);
        self.lsp.available = configs.iter().filter(|c| c.program().is_some()).map(|c| c.language.clone()).collect();
        self.lsp.handle = Some(Languages::start(self.ws.sandbox().root(), configs.clone(), tx, self.tasks())?);
        self.lsp.configs = configs;
        self.lsp.events = Some(rx);
        self.lsp.serve_all = serve_all;
        Ok(())
    }

    /// The language of `path` when a server for it runs here.
    fn local_language(&self, path: &RelPath) -> Option<String> {
        servers::for_path(&self.lsp.configs, path).map(|c| c.language.clone()).filter(|l| self.lsp.available.contains(l))
    }

    /// Whether a request may go to a server: an allowed method, naming only
    /// shared text files of the workspace (not ignored, not secret, not binary).
    fn admissible(&self, path: &RelPath, method: &str, params: &Value) -> Result<(), EngineError> {
        if !METHODS.contains(&method) {
            return Err(LspError::Server(format!("{method} is not a request NitroIDE passes on")).into());
        }
        self.ws.text_id(path)?;
        for name in Uris::names_in(params)? {
            let named = Uris::path_of(&name)?;
            self.ws.text_id(&named).map_err(|_| LspError::Outside(name))?;
        }
        Ok(())
    }

    /// A connected peer that offers the server of `path`'s language, the host first.
    fn offerer(&self, path: &RelPath) -> Option<PeerId> {
        let language = servers::for_path(&self.lsp.configs, path)?.language.clone();
        let host = self.members.host();
        let mut offering: Vec<&PeerId> = self.lsp.offers.iter().filter(|(_, l)| l.contains(&language)).map(|(p, _)| p).collect();
        offering.sort_by_key(|p| (*p != host, (*p).clone()));
        offering.first().map(|p| (*p).clone())
    }

    /// An editor opened `path`: a server follows it, here or at a peer.
    /// False when no server serves its language.
    pub(super) fn lsp_open(&mut self, path: RelPath) -> Result<bool, EngineError> {
        if self.local_language(&path).is_some() {
            let Some(lsp) = self.lsp.handle.clone() else { return Ok(false) };
            let (text, _) = self.ws.text(&path)?;
            self.lsp.opened.insert(path.clone(), content_hash(&text));
            lsp.open(path, text);
            return Ok(true);
        }
        if servers::for_path(&self.lsp.configs, &path).is_none() {
            return Ok(false);
        }
        match self.offerer(&path) {
            Some(peer) => {
                // The peer's server follows its copy: ours goes first.
                self.flush();
                self.send_to_peer(&peer, &StateMsg::Lsp(LspMsg::Open { path: path.clone() }));
                self.lsp.remote.insert(path, peer);
                Ok(true)
            }
            None => {
                self.lsp.wanted.insert(path);
                Ok(false)
            }
        }
    }

    /// Tells the servers what changed since the last batch: the files
    /// edited in an editor, or every open one after other changes. Nothing
    /// is read when no document is open.
    pub(super) fn lsp_catch_up(&mut self) {
        let edited: Vec<RelPath> = self.lsp.edited.drain().collect();
        if std::mem::take(&mut self.lsp.stale) {
            self.lsp_sync(None);
        } else if !edited.is_empty() {
            self.lsp_sync(Some(&edited));
        }
    }

    /// Sends the servers here the new text of every open document among
    /// `paths` (all of them when `None`) whose text changed.
    pub(super) fn lsp_sync(&mut self, paths: Option<&[RelPath]>) {
        let Some(lsp) = self.lsp.handle.clone() else { return };
        let open: Vec<RelPath> = match paths {
            Some(p) => p.iter().filter(|p| self.lsp.opened.contains_key(*p)).cloned().collect(),
            None => self.lsp.opened.keys().cloned().collect(),
        };
        for path in open {
            let Ok((text, _)) = self.ws.text(&path) else {
                self.lsp.opened.remove(&path);
                continue;
            };
            let hash = content_hash(&text);
            if self.lsp.opened.get(&path) != Some(&hash) {
                self.lsp.opened.insert(path.clone(), hash);
                lsp.change(path, text);
            }
        }
    }

    /// A request about `path`, to the server here (which has its current
    /// text first) or to the peer that serves it.
    pub(super) fn lsp_request(&mut self, path: RelPath, method: String, params: Value, reply: Reply) {
        if let Err(e) = self.admissible(&path, &method, &params) {
            let _ = reply.send(Err(e));
            return;
        }
        if self.local_language(&path).is_some()
            && let Some(lsp) = self.lsp.handle.clone()
        {
            if !self.lsp.opened.contains_key(&path)
                && let Err(e) = self.lsp_open(path.clone())
            {
                let _ = reply.send(Err(e));
                return;
            }
            self.lsp_sync(Some(std::slice::from_ref(&path)));
            self.tasks().spawn(async move {
                let _ = reply.send(lsp.request(path, method, params).await.map_err(EngineError::from));
            });
            return;
        }
        let Some(peer) = self.offerer(&path) else {
            let _ = reply.send(Err(LspError::NoServer(path.to_string()).into()));
            return;
        };
        self.lsp.next_id += 1;
        let id = self.lsp.next_id;
        self.lsp.pending.insert(id, (reply, peer.clone(), Instant::now()));
        // The edits the answer must know of leave first.
        self.flush();
        self.send_to_peer(&peer, &StateMsg::Lsp(LspMsg::Request { id, path, method, params }));
    }

    /// What the servers here report: to this peer's users, and diagnostics
    /// also to the peers that opened the file on them.
    pub(super) fn on_lsp_event(&mut self, ev: LspEvent) {
        match ev {
            LspEvent::Diagnostics { path, diagnostics } => {
                let clients: Vec<PeerId> = self.lsp.clients.iter().filter(|(_, docs)| docs.contains(&path)).map(|(p, _)| p.clone()).collect();
                for peer in clients {
                    self.send_to_peer(&peer, &StateMsg::Lsp(LspMsg::Diagnostics { path: path.clone(), diagnostics: diagnostics.clone() }));
                }
                self.lsp.last.insert(path.clone(), diagnostics.clone());
                let _ = self.events.send(EngineEvent::Diagnostics { path, diagnostics });
            }
            LspEvent::Status { language, state, message } => {
                let changed = match state {
                    ServerState::Missing => self.lsp.available.remove(&language),
                    ServerState::Running | ServerState::Restarting => self.lsp.available.insert(language.clone()),
                };
                // Peers served hear what is served now.
                if changed {
                    for link in self.links.greeted_ids() {
                        self.offer_languages(link);
                    }
                }
                let _ = self.events.send(EngineEvent::LanguageServer { language, state, message });
            }
        }
    }

    /// Whether this peer serves its language servers to `peer`.
    fn serves(&self, peer: &PeerId) -> bool {
        self.lsp.serve_all || self.lsp.guests.contains(peer)
    }

    /// Tells a peer what this one serves it (after its hello, or when that changes).
    pub(super) fn offer_languages(&mut self, link: LinkId) {
        let Some(peer) = self.links.peer(link).cloned() else { return };
        let mut languages: Vec<String> = if self.serves(&peer) { self.lsp.available.iter().cloned().collect() } else { Vec::new() };
        if languages.is_empty() && !self.lsp.guests.contains(&peer) {
            return;
        }
        languages.sort();
        self.send(link, &StateMsg::Lsp(LspMsg::Offer { languages }));
    }

    /// Lets `peer` use this peer's language servers, or stops it.
    pub(super) fn share_languages(&mut self, peer: PeerId, allow: bool) {
        if allow {
            self.lsp.guests.insert(peer.clone());
        } else {
            self.lsp.guests.remove(&peer);
            self.lsp.clients.remove(&peer);
        }
        if let Some(link) = self.links.to_peer(&peer, None) {
            if allow {
                self.offer_languages(link);
            } else {
                self.send(link, &StateMsg::Lsp(LspMsg::Offer { languages: Vec::new() }));
            }
        }
    }

    /// Peers this one serves its language servers to by name (not `serve_lsp`).
    pub(super) fn language_guests(&self) -> &HashSet<PeerId> {
        &self.lsp.guests
    }

    pub(super) fn on_lsp_msg(&mut self, link: LinkId, from: PeerId, msg: LspMsg) {
        match msg {
            LspMsg::Offer { languages } => {
                // Only a peer that may edit serves: a viewer's server could
                // answer a rename with edits this peer's user would make.
                if !self.members.access(&from).may_edit() && self.members.word().is_some() {
                    return;
                }
                if languages.is_empty() {
                    self.lsp.offers.remove(&from);
                    self.orphan_documents_of(&from);
                } else {
                    self.lsp.offers.insert(from, languages);
                }
                self.open_wanted();
            }
            LspMsg::Open { path } => {
                if !self.serves(&from) || self.local_language(&path).is_none() {
                    return;
                }
                let docs = self.lsp.clients.entry(from.clone()).or_default();
                if docs.len() >= MAX_LSP_OPEN && !docs.contains(&path) {
                    tracing::warn!(peer = %from, "a peer opened too many documents on this peer's language servers");
                    return;
                }
                docs.insert(path.clone());
                if !self.lsp.opened.contains_key(&path)
                    && let Err(e) = self.lsp_open(path.clone())
                {
                    tracing::debug!(%path, error = %e, "could not open a document a peer asked for");
                    return;
                }
                if let Some(diagnostics) = self.lsp.last.get(&path).cloned() {
                    self.send(link, &StateMsg::Lsp(LspMsg::Diagnostics { path, diagnostics }));
                }
            }
            LspMsg::Request { id, path, method, params } => self.serve_request(link, from, id, path, method, params),
            LspMsg::Response { id, result } => {
                // Only the peer asked is believed.
                if self.lsp.pending.get(&id).is_some_and(|(_, peer, _)| *peer == from)
                    && let Some((reply, _, _)) = self.lsp.pending.remove(&id)
                {
                    let _ = reply.send(result.map_err(|e| LspError::Server(e).into()));
                }
            }
            LspMsg::Cancel { id } => {
                if let Some(task) = self.lsp.serving.remove(&(link, id)) {
                    task.abort();
                }
            }
            LspMsg::Diagnostics { path, diagnostics } => {
                if self.lsp.remote.get(&path) == Some(&from) {
                    let _ = self.events.send(EngineEvent::Diagnostics { path, diagnostics });
                }
            }
        }
    }

    fn serve_request(&mut self, link: LinkId, from: PeerId, id: u64, path: RelPath, method: String, params: Value) {
        let answer = |actor: &mut Self, result: Result<Value, String>| actor.send(link, &StateMsg::Lsp(LspMsg::Response { id, result }));
        if !self.serves(&from) {
            return answer(self, Err("this peer does not share its language servers with you".into()));
        }
        if let Err(e) = self.admissible(&path, &method, &params) {
            return answer(self, Err(e.to_string()));
        }
        let Some(lsp) = self.lsp.handle.clone().filter(|_| self.local_language(&path).is_some()) else {
            return answer(self, Err(format!("no language server for {path} here")));
        };
        self.lsp.serving.retain(|_, task| !task.is_finished());
        if self.lsp.serving.contains_key(&(link, id)) {
            return answer(self, Err("a request with that id is still running".into()));
        }
        if self.lsp.serving.keys().filter(|(l, _)| *l == link).count() >= MAX_LSP_IN_FLIGHT {
            return answer(self, Err("too many requests at once".into()));
        }
        if !self.lsp.opened.contains_key(&path)
            && let Err(e) = self.lsp_open(path.clone())
        {
            return answer(self, Err(e.to_string()));
        }
        self.lsp_sync(Some(std::slice::from_ref(&path)));
        let Some(conn) = self.links.get(link).map(|s| s.link.clone()) else { return };
        let task = self.tasks().spawn(async move {
            let result = lsp.request(path, method, params).await.map_err(|e| e.to_string());
            let _ = conn.send_state(&StateMsg::Lsp(LspMsg::Response { id, result }));
        });
        self.lsp.serving.insert((link, id), task.abort_handle());
    }

    /// Requests to peers not answered in time are given up (and cancelled there).
    pub(super) fn lsp_tick(&mut self) {
        let now = Instant::now();
        let late: Vec<u64> = self.lsp.pending.iter().filter(|(_, (_, _, at))| now.duration_since(*at) > LSP_ANSWER).map(|(id, _)| *id).collect();
        for id in late {
            if let Some((reply, peer, _)) = self.lsp.pending.remove(&id) {
                let _ = reply.send(Err(LspError::Server("the peer serving this language did not answer in time".into()).into()));
                self.send_to_peer(&peer, &StateMsg::Lsp(LspMsg::Cancel { id }));
            }
        }
    }

    /// A peer left: its offers, the documents it served and the requests
    /// it had answered go; documents it served look for another server.
    pub(super) fn lsp_peer_left(&mut self, link: LinkId, peer: &PeerId) {
        self.lsp.offers.remove(peer);
        self.lsp.clients.remove(peer);
        self.lsp.serving.retain(|(l, _), task| {
            if *l == link {
                task.abort();
            }
            *l != link
        });
        let gone: Vec<u64> = self.lsp.pending.iter().filter(|(_, (_, p, _))| p == peer).map(|(id, _)| *id).collect();
        for id in gone {
            if let Some((reply, _, _)) = self.lsp.pending.remove(&id) {
                let _ = reply.send(Err(LspError::Gone.into()));
            }
        }
        self.orphan_documents_of(peer);
        self.open_wanted();
    }

    /// Documents served by `peer` look for another server.
    fn orphan_documents_of(&mut self, peer: &PeerId) {
        let orphans: Vec<RelPath> = self.lsp.remote.iter().filter(|(_, p)| *p == peer).map(|(path, _)| path.clone()).collect();
        for path in orphans {
            self.lsp.remote.remove(&path);
            self.lsp.wanted.insert(path);
        }
    }

    /// Documents opened with no server open on one now offered.
    fn open_wanted(&mut self) {
        let wanted: Vec<RelPath> = self.lsp.wanted.drain().collect();
        for path in wanted {
            if let Err(e) = self.lsp_open(path) {
                tracing::debug!(error = %e, "could not open a document on a peer's server");
            }
        }
    }
}
