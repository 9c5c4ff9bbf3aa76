//! What the window sees: the engine's data as JSON, field names in
//! camelCase. The front end's types are generated from these
//! (`ui/src/generated/window.ts`, see `window_types`).

use nitro_engine::doc::Splice;
use nitro_engine::engine::admission::LinkKind;
use nitro_engine::engine::membership::Access;
use nitro_engine::fs::git::Change;
use nitro_engine::lsp::ServerState;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Whether this window's peer hosts the session or joined it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Host,
    Guest,
}

#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub role: Side,
    /// The session id, 32 hex digits.
    pub session: String,
    pub root: String,
    pub me: String,
    pub name: String,
    pub color: String,
    /// For a host: the edit link and the read-only link.
    pub invite: Option<String>,
    pub view_invite: Option<String>,
    /// What the host lets this peer do.
    pub access: Access,
    pub host_name: String,
    /// Secret files and folders this peer keeps back (their names say so).
    pub withheld: Vec<String>,
}

#[derive(Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct InviteInfo {
    pub host_name: String,
    pub session: String,
    pub signal: String,
    /// A read-only link.
    pub view: bool,
}

/// What a tree entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
}

#[derive(Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct FileEntry {
    /// Stays with the file through renames and moves: open tabs follow it.
    pub id: String,
    pub path: String,
    pub kind: EntryKind,
    /// False for binary and over-large files: listed, never shared.
    pub shared: bool,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct OpenedFile {
    pub path: String,
    pub text: String,
    pub version: Vec<String>,
}

/// A splice in UTF-16 code units, as Monaco counts; a list of splices
/// applies in order.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(rename = "Splice")]
pub struct SpliceView {
    pub index: usize,
    pub delete: usize,
    pub insert: String,
}

impl From<SpliceView> for Splice {
    fn from(s: SpliceView) -> Self {
        Splice { index: s.index, delete: s.delete, insert: s.insert }
    }
}

impl From<Splice> for SpliceView {
    fn from(s: Splice) -> Self {
        SpliceView { index: s.index, delete: s.delete, insert: s.insert }
    }
}

#[derive(Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct Pulled {
    pub splices: Vec<SpliceView>,
    pub version: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(rename = "Selection")]
pub struct SelectionView {
    pub anchor: usize,
    pub head: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct PeerView {
    pub peer: String,
    pub name: String,
    pub color: String,
    pub role: Access,
    pub connected: bool,
    pub rtt_ms: Option<u64>,
    pub file: Option<String>,
    pub selections: Vec<SelectionView>,
    pub typing: bool,
    pub viewport_top: Option<u32>,
    /// This peer lets it use its language servers.
    pub shares_languages: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "TermInfo")]
pub struct TermView {
    pub id: String,
    pub owner: String,
    pub owner_name: String,
    pub title: String,
    pub cols: u16,
    pub rows: u16,
    pub running: bool,
    pub exit_code: Option<u32>,
    pub writers: Vec<String>,
    pub mine: bool,
    pub can_write: bool,
}

/// Whether this peer holds the same workspace as the others; `text` is the
/// engine's own wording ("in sync with 2 peers").
#[derive(Debug, Clone, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SyncView {
    pub text: String,
    pub in_sync: Vec<String>,
    pub differing: Vec<String>,
    pub unwritten: usize,
}

impl From<nitro_engine::engine::SyncStatus> for SyncView {
    fn from(s: nitro_engine::engine::SyncStatus) -> Self {
        Self { text: s.to_string(), in_sync: s.in_sync, differing: s.differing, unwritten: s.unwritten }
    }
}

/// The window's connection to the others: `alone` is a host nobody joined
/// yet, `reconnecting` a guest whose host is not reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionState {
    Connected,
    Alone,
    Reconnecting,
    Stopped,
}

/// Everything the engine tells the window, in order, on one channel.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum UiEvent {
    Peers {
        peers: Vec<PeerView>,
    },
    PeerJoined {
        peer: String,
        name: String,
    },
    PeerLeft {
        peer: String,
        name: String,
        /// `left` after a goodbye, else what happened (`went silent`).
        why: String,
    },
    FilesChanged {
        paths: Vec<String>,
        tree: bool,
    },
    /// Changes on this disk still to take in (0: done).
    Intake {
        left: usize,
    },
    EditRejected {
        path: String,
        reason: String,
    },
    Terminals {
        terminals: Vec<TermView>,
    },
    TerminalRefused {
        id: String,
        reason: String,
    },
    Status {
        state: ConnectionState,
        message: Option<String>,
    },
    Sync(SyncView),
    DeepLink {
        link: String,
    },
    /// A host reading its folder: paths found (0 while listing), and read.
    Scanning {
        found: usize,
        read: usize,
    },
    /// A joiner: the host's user is asked whether to let it in (or no longer).
    Waiting {
        waiting: bool,
    },
    /// A host that approves joiners: someone waits to be let in.
    JoinRequest {
        peer: String,
        name: String,
        link: LinkKind,
    },
    JoinWithdrawn {
        peer: String,
    },
    /// The host changed this peer's role (or someone else's: peers follow).
    Access {
        access: Access,
    },
    /// The problems a language server sees in a file now (LSP diagnostics).
    Diagnostics {
        path: String,
        #[ts(type = "LspDiagnostic[]")]
        diagnostics: serde_json::Value,
    },
    /// A language server started, stopped, or is missing (a quiet note).
    LanguageServer {
        language: String,
        state: ServerState,
        message: String,
    },
    /// The host's invite links were replaced.
    Invites {
        edit: String,
        view: String,
    },
    /// A read-only peer's write to a shared file was put back.
    WriteUndone {
        path: String,
        kept: Option<String>,
    },
}

/// A host's two invite links.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(rename = "Invites")]
pub struct InvitesView {
    pub edit: String,
    pub view: String,
}

/// A find-in-files request, as the window sends it.
#[derive(Debug, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    pub pattern: String,
    pub regex: bool,
    pub case_sensitive: bool,
    pub whole_word: bool,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl From<SearchRequest> for nitro_engine::engine::workspace::SearchQuery {
    fn from(r: SearchRequest) -> Self {
        Self {
            pattern: r.pattern,
            regex: r.regex,
            case_sensitive: r.case_sensitive,
            whole_word: r.whole_word,
            include: r.include,
            exclude: r.exclude,
        }
    }
}

/// A match: 1-based line, 1-based UTF-16 column and length, as Monaco counts.
#[derive(Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "SearchHit")]
pub struct SearchHitView {
    pub path: String,
    pub line: u32,
    pub column: u32,
    pub length: u32,
    pub preview: String,
    /// Where the match starts in `preview` (UTF-16).
    pub preview_start: u32,
}

#[derive(Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "SearchResults")]
pub struct SearchView {
    pub hits: Vec<SearchHitView>,
    /// More matched than were sent.
    pub truncated: bool,
}

impl From<nitro_engine::engine::workspace::SearchResults> for SearchView {
    fn from(r: nitro_engine::engine::workspace::SearchResults) -> Self {
        let hits = r
            .hits
            .into_iter()
            .map(|h| SearchHitView {
                path: h.path.to_string(),
                line: h.line,
                column: h.column,
                length: h.length,
                preview: h.preview,
                preview_start: h.preview_start,
            })
            .collect();
        Self { hits, truncated: r.truncated }
    }
}

/// A changed file, as the file tree marks it.
#[derive(Debug, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct GitChangeView {
    pub path: String,
    pub change: Change,
}

#[derive(Debug, Default, Serialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct GitView {
    /// `None` without a repository, or when detached.
    pub branch: Option<String>,
    pub changes: Vec<GitChangeView>,
}

impl From<nitro_engine::fs::git::Status> for GitView {
    fn from(s: nitro_engine::fs::git::Status) -> Self {
        Self { branch: s.branch, changes: s.changes.into_iter().map(|(p, change)| GitChangeView { path: p.to_string(), change }).collect() }
    }
}
