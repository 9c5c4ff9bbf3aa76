//! The workspace document: the one place that knows the Automerge schema.
//!
//! ```text
//! ROOT
//! ├─ schema: 1
//! ├─ workspace: "<session id>"
//! ├─ entries: { <FileId>: { name, parent: <FileId or "">, kind, size?, text? } }
//! ├─ peers: { <PeerId>: { name, color, role } }   the roster: who belongs to the session
//! └─ terminals: {}   terminal metadata (filled by the terminal sessions)
//! ```
//!
//! Files and folders are keyed by stable ids, so a rename or move is one field
//! change and concurrent edits follow a file wherever it goes. Text uses UTF-16
//! code unit offsets, as Monaco does. Binary and over-large files are listed
//! (`kind`, `size`) but their bytes never enter the document. Only the host
//! creates the root objects: two peers creating `entries` independently would
//! hide each other's files.
//!
//! Nothing outside this module sees an Automerge type.

pub mod splice;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash, ObjId, ObjType, Prop, ReadDoc, ScalarValue, TextEncoding, Value, ROOT};

use crate::path::RelPath;
pub use splice::Splice;

const SCHEMA: u64 = 1;
const MAX_ID_LEN: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("document error: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("malformed sync message from peer: {0}")]
    SyncMessage(String),
    #[error("malformed cursor from peer: {0}")]
    Cursor(String),
    #[error("malformed change from peer: {0}")]
    Change(String),
    #[error("the document has no workspace yet")]
    NotInitialized,
    #[error("unknown file id {0}")]
    UnknownFile(FileId),
    #[error("file {0} is not a text file")]
    NotText(FileId),
    #[error("splice out of range in {0}")]
    OutOfRange(FileId),
    #[error("document schema {0} is newer than this version of NitroIDE understands ({SCHEMA})")]
    Schema(u64),
}

/// The stable id of a file or folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(String);

impl FileId {
    fn random() -> Self {
        Self(format!("{:016x}", rand::random::<u64>()))
    }

    /// Accepts ids found in the document: short and alphanumeric, so they are
    /// safe in logs and maps whoever wrote them.
    pub fn parse(s: &str) -> Option<Self> {
        (!s.is_empty() && s.len() <= MAX_ID_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for FileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    Text,
    /// Listed only: contains NUL bytes or is not UTF-8.
    Binary,
    /// Listed only: larger than the size limit.
    TooLarge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Dir => "dir",
            Kind::Text => "text",
            Kind::Binary => "binary",
            Kind::TooLarge => "too_large",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "dir" => Kind::Dir,
            "text" => Kind::Text,
            "binary" => Kind::Binary,
            "too_large" => Kind::TooLarge,
            _ => return None,
        })
    }
}

/// The content a new or changed entry gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Dir,
    Text(String),
    Binary(u64),
    TooLarge(u64),
}

impl Content {
    fn kind(&self) -> Kind {
        match self {
            Content::Dir => Kind::Dir,
            Content::Text(_) => Kind::Text,
            Content::Binary(_) => Kind::Binary,
            Content::TooLarge(_) => Kind::TooLarge,
        }
    }
}

/// One entry of the resolved tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: RelPath,
    pub kind: Kind,
    /// Size in bytes for listed-only files.
    pub size: Option<u64>,
}

/// The file tree with every entry's path resolved. Entries whose parent is
/// missing, whose name is not a valid path component, that sit in a cycle of
/// moves, or that lose a path to an entry with a smaller id are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    pub entries: BTreeMap<FileId, Entry>,
    pub by_path: HashMap<RelPath, FileId>,
}

impl Tree {
    /// Leaves out the entries whose path fails `keep`.
    pub fn retain(&mut self, keep: impl Fn(&RelPath) -> bool) {
        self.entries.retain(|_, e| keep(&e.path));
        self.by_path.retain(|p, _| keep(p));
    }

    /// `id` and every entry below it, deepest first.
    pub fn with_descendants(&self, id: &FileId) -> Vec<FileId> {
        let Some(top) = self.entries.get(id) else { return vec![id.clone()] };
        let mut out: Vec<(usize, FileId)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.path.starts_with(&top.path))
            .map(|(i, e)| (e.path.depth(), i.clone()))
            .collect();
        out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        out.into_iter().map(|(_, i)| i).collect()
    }
}

/// What a batch of remote changes touched.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Touched {
    /// An entry was added, removed, renamed, moved or changed kind.
    pub tree: bool,
    /// Text content changed.
    pub texts: BTreeSet<FileId>,
}

impl Touched {
    pub fn is_empty(&self) -> bool {
        !self.tree && self.texts.is_empty()
    }
}

/// A member of the session, as the roster in the document has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
    /// `host` or `editor`.
    pub role: String,
}

/// A version of the document (its heads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version(Vec<ChangeHash>);

impl Version {
    /// The heads as hex strings, for saving.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    /// The version that holds everything any of `versions` holds.
    pub fn union<'a>(versions: impl IntoIterator<Item = &'a Version>) -> Version {
        let mut heads: Vec<ChangeHash> = versions.into_iter().flat_map(|v| v.0.iter().copied()).collect();
        heads.sort();
        heads.dedup();
        Version(heads)
    }

    /// Reads what [`Self::to_strings`] wrote; `None` if any head is malformed.
    pub fn parse(heads: &[String]) -> Option<Self> {
        heads.iter().map(|h| h.parse().ok()).collect::<Option<Vec<ChangeHash>>>().map(Self)
    }
}

/// Per-peer state of the Automerge sync protocol.
#[derive(Debug, Default)]
pub struct SyncState(sync::State);


/// The Automerge document of one workspace.
pub struct WorkspaceDoc {
    doc: AutoCommit,
    /// Local changes not yet handed to the network, each encoded.
    outbox: Vec<Vec<u8>>,
}

impl std::fmt::Debug for WorkspaceDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkspaceDoc").finish_non_exhaustive()
    }
}

impl WorkspaceDoc {
    /// A new workspace, as the host creates it.
    pub fn new_workspace(workspace: &str) -> Result<Self, DocError> {
        let mut doc = AutoCommit::new_with_encoding(TextEncoding::Utf16CodeUnit);
        doc.put(ROOT, "schema", SCHEMA)?;
        doc.put(ROOT, "workspace", workspace)?;
        doc.put_object(ROOT, "entries", ObjType::Map)?;
        doc.put_object(ROOT, "peers", ObjType::Map)?;
        doc.put_object(ROOT, "terminals", ObjType::Map)?;
        doc.commit();
        Ok(Self { doc, outbox: Vec::new() })
    }

    /// An empty document that a joiner fills from the host.
    pub fn empty() -> Self {
        Self { doc: AutoCommit::new_with_encoding(TextEncoding::Utf16CodeUnit), outbox: Vec::new() }
    }

    pub fn load(bytes: &[u8]) -> Result<Self, DocError> {
        let opts = automerge::LoadOptions::new().text_encoding(TextEncoding::Utf16CodeUnit);
        let doc = AutoCommit::load_with_options(bytes, opts)?;
        let this = Self { doc, outbox: Vec::new() };
        if let Some(v) = this.schema().filter(|v| *v > SCHEMA) {
            return Err(DocError::Schema(v));
        }
        Ok(this)
    }

    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    fn schema(&self) -> Option<u64> {
        match self.doc.get(ROOT, "schema").ok()?? {
            (Value::Scalar(s), _) => match s.as_ref() {
                ScalarValue::Uint(v) => Some(*v),
                ScalarValue::Int(v) => u64::try_from(*v).ok(),
                _ => None,
            },
            _ => None,
        }
    }

    /// The session id stored by the host, once the document has it.
    pub fn workspace(&self) -> Option<String> {
        self.get_str(&ROOT, "workspace")
    }

    /// The current version, to apply edits against later with [`Self::splice_at`].
    pub fn version(&mut self) -> Version {
        Version(self.doc.get_heads())
    }

    /// True when this document holds every change of `version`.
    pub fn holds(&mut self, version: &Version) -> bool {
        let doc = self.doc.document();
        version.0.iter().all(|h| doc.get_change_by_hash(h).is_some())
    }

    /// True once the document holds a workspace (always for the host; for a
    /// joiner, after the first sync with the host).
    pub fn is_initialized(&self) -> bool {
        self.entries_obj().is_ok()
    }

    fn get_str(&self, obj: &ObjId, key: &str) -> Option<String> {
        match self.doc.get(obj, key).ok()?? {
            (Value::Scalar(s), _) => match s.as_ref() {
                ScalarValue::Str(v) => Some(v.to_string()),
                _ => None,
            },
            _ => None,
        }
    }

    fn get_obj(&self, obj: &ObjId, key: &str) -> Option<ObjId> {
        match self.doc.get(obj, key).ok()?? {
            (Value::Object(_), id) => Some(id),
            _ => None,
        }
    }

    fn entries_obj(&self) -> Result<ObjId, DocError> {
        self.get_obj(&ROOT, "entries").ok_or(DocError::NotInitialized)
    }

    fn entry_obj(&self, id: &FileId) -> Result<ObjId, DocError> {
        self.get_obj(&self.entries_obj()?, id.as_str()).ok_or_else(|| DocError::UnknownFile(id.clone()))
    }

    fn text_obj(&self, id: &FileId) -> Result<ObjId, DocError> {
        self.get_obj(&self.entry_obj(id)?, "text").ok_or_else(|| DocError::NotText(id.clone()))
    }

    /// Resolves every entry's path.
    pub fn tree(&self) -> Tree {
        let Ok(entries) = self.entries_obj() else {
            return Tree::default();
        };
        struct Raw {
            name: String,
            parent: Option<FileId>,
            kind: Kind,
            size: Option<u64>,
        }
        let mut raw: HashMap<FileId, Raw> = HashMap::new();
        for key in self.doc.keys(&entries) {
            let Some(id) = FileId::parse(&key) else { continue };
            let Some(obj) = self.get_obj(&entries, &key) else { continue };
            let (Some(name), Some(kind)) = (self.get_str(&obj, "name"), self.get_str(&obj, "kind").and_then(|k| Kind::parse(&k))) else {
                continue;
            };
            let parent = self.get_str(&obj, "parent").and_then(|p| FileId::parse(&p));
            let size = match self.doc.get(&obj, "size") {
                Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
                    ScalarValue::Uint(v) => Some(*v),
                    _ => None,
                },
                _ => None,
            };
            raw.insert(id, Raw { name, parent, kind, size });
        }
        // Depth of each entry by walking up; cycles and dangling parents get none.
        let depth_of = |start: &FileId| -> Option<usize> {
            let mut depth = 1;
            let mut cur = raw.get(start)?;
            while let Some(p) = &cur.parent {
                depth += 1;
                if depth > raw.len() {
                    return None;
                }
                cur = raw.get(p)?;
            }
            Some(depth)
        };
        let mut order: Vec<(usize, &FileId)> = raw.keys().filter_map(|id| depth_of(id).map(|d| (d, id))).collect();
        order.sort();
        let mut tree = Tree::default();
        for (_, id) in order {
            let r = &raw[id];
            let path = match &r.parent {
                None => RelPath::single(&r.name),
                Some(p) => match tree.entries.get(p) {
                    Some(parent) if parent.kind == Kind::Dir => parent.path.join(&r.name),
                    _ => continue,
                },
            };
            let Ok(path) = path else {
                tracing::warn!(id = %id, "skipping an entry whose name is not a valid file name");
                continue;
            };
            if tree.by_path.contains_key(&path) {
                tracing::warn!(id = %id, path = %path, "two entries share a path; the older id wins");
                continue;
            }
            tree.by_path.insert(path.clone(), id.clone());
            tree.entries.insert(id.clone(), Entry { path, kind: r.kind, size: r.size });
        }
        tree
    }

    /// The text of a text file.
    pub fn text(&self, id: &FileId) -> Result<String, DocError> {
        Ok(self.doc.text(self.text_obj(id)?)?)
    }

    /// The text of a text file as it was at `version`.
    pub fn text_at(&self, id: &FileId, version: &Version) -> Result<String, DocError> {
        Ok(self.doc.text_at(self.text_obj(id)?, &version.0)?)
    }

    /// Encoded changes made or received since the last call (or the last
    /// full save), for an append-only log on disk.
    pub fn save_incremental(&mut self) -> Vec<u8> {
        self.doc.save_incremental()
    }

    /// Adds what [`Self::save_incremental`] wrote. A torn last change (a
    /// crash in the middle of an append) is skipped.
    pub fn load_incremental(&mut self, bytes: &[u8]) -> Result<(), DocError> {
        self.doc.load_incremental(bytes)?;
        Ok(())
    }

    /// Adds an entry under `parent` (`None`: the workspace root).
    pub fn create(&mut self, parent: Option<&FileId>, name: &str, content: &Content) -> Result<FileId, DocError> {
        let id = FileId::random();
        let obj = self.doc.put_object(self.entries_obj()?, id.as_str(), ObjType::Map)?;
        self.doc.put(&obj, "name", name)?;
        self.doc.put(&obj, "parent", parent.map_or("", FileId::as_str))?;
        self.set_content(&obj, content)?;
        self.finish();
        Ok(id)
    }

    fn set_content(&mut self, obj: &ObjId, content: &Content) -> Result<(), DocError> {
        self.doc.put(obj, "kind", content.kind().as_str())?;
        match content {
            Content::Text(text) => {
                self.doc.delete(obj, "size")?;
                let t = self.doc.put_object(obj, "text", ObjType::Text)?;
                self.doc.splice_text(&t, 0, 0, text)?;
            }
            Content::Binary(size) | Content::TooLarge(size) => {
                self.doc.delete(obj, "text")?;
                self.doc.put(obj, "size", *size)?;
            }
            Content::Dir => {}
        }
        Ok(())
    }

    /// Adds or updates a member of the roster (each peer writes its own).
    pub fn set_member(&mut self, peer: &str, member: &Member) -> Result<(), DocError> {
        let peers = self.get_obj(&ROOT, "peers").ok_or(DocError::NotInitialized)?;
        let obj = match self.get_obj(&peers, peer) {
            Some(o) => o,
            None => self.doc.put_object(&peers, peer, ObjType::Map)?,
        };
        for (key, value) in [("name", &member.name), ("color", &member.color), ("role", &member.role)] {
            if self.get_str(&obj, key).as_deref() != Some(value.as_str()) {
                self.doc.put(&obj, key, value.as_str())?;
            }
        }
        self.finish();
        Ok(())
    }

    /// The roster, by peer id.
    pub fn roster(&self) -> BTreeMap<String, Member> {
        let Some(peers) = self.get_obj(&ROOT, "peers") else { return BTreeMap::new() };
        self.doc
            .keys(&peers)
            .filter_map(|key| {
                let obj = self.get_obj(&peers, &key)?;
                let member = Member { name: self.get_str(&obj, "name")?, color: self.get_str(&obj, "color")?, role: self.get_str(&obj, "role")? };
                Some((key, member))
            })
            .collect()
    }

    /// A stable position in a text file: it stays on the character at
    /// `index` (UTF-16 units, in the text of version `at`, or the current
    /// text) whatever is inserted or deleted around it.
    pub fn cursor(&self, id: &FileId, index: usize, at: Option<&Version>) -> Result<Vec<u8>, DocError> {
        let text = self.text_obj(id)?;
        let len = match at {
            Some(v) => self.doc.length_at(&text, &v.0),
            None => self.doc.length(&text),
        };
        let pos = if index >= len { automerge::CursorPosition::End } else { automerge::CursorPosition::Index(index) };
        Ok(self.doc.get_cursor(&text, pos, at.map(|v| v.0.as_slice()))?.to_bytes())
    }

    /// Where a cursor made by [`Self::cursor`] (on any peer) is now.
    pub fn cursor_position(&self, id: &FileId, cursor: &[u8]) -> Result<usize, DocError> {
        let text = self.text_obj(id)?;
        let cursor = automerge::Cursor::try_from(cursor).map_err(|e| DocError::Cursor(e.to_string()))?;
        Ok(self.doc.get_cursor_position(&text, &cursor, None)?)
    }

    /// Changes what an entry holds (a text file became binary, or back).
    pub fn set_kind(&mut self, id: &FileId, content: &Content) -> Result<(), DocError> {
        let obj = self.entry_obj(id)?;
        self.set_content(&obj, content)?;
        self.finish();
        Ok(())
    }

    /// Renames and/or moves an entry: one field change each, whatever its size.
    pub fn rename(&mut self, id: &FileId, parent: Option<&FileId>, name: &str) -> Result<(), DocError> {
        let obj = self.entry_obj(id)?;
        if self.get_str(&obj, "name").as_deref() != Some(name) {
            self.doc.put(&obj, "name", name)?;
        }
        let parent = parent.map_or("", FileId::as_str);
        if self.get_str(&obj, "parent").as_deref() != Some(parent) {
            self.doc.put(&obj, "parent", parent)?;
        }
        self.finish();
        Ok(())
    }

    /// Removes entries in one change. Pass an entry together with everything
    /// below it ([`Tree::with_descendants`]), or the children become orphans.
    pub fn delete(&mut self, ids: &[FileId]) -> Result<(), DocError> {
        let entries = self.entries_obj()?;
        for id in ids {
            self.doc.delete(&entries, id.as_str())?;
        }
        self.finish();
        Ok(())
    }

    /// Applies splices to a file's current text.
    pub fn splice(&mut self, id: &FileId, splices: &[Splice]) -> Result<(), DocError> {
        let result = self.splice_uncommitted(id, splices);
        self.finish();
        result
    }

    fn splice_uncommitted(&mut self, id: &FileId, splices: &[Splice]) -> Result<(), DocError> {
        let text = self.text_obj(id)?;
        for s in splices {
            let len = self.doc.length(&text);
            if s.index.checked_add(s.delete).is_none_or(|end| end > len) {
                return Err(DocError::OutOfRange(id.clone()));
            }
            let del = isize::try_from(s.delete).map_err(|_| DocError::OutOfRange(id.clone()))?;
            self.doc.splice_text(&text, s.index, del, &s.insert)?;
        }
        Ok(())
    }

    /// Applies splices made against an older version (`base`) of the
    /// document, so they merge with everything that happened since exactly
    /// as a concurrent peer's edit would.
    /// Returns the version that holds `base` plus these splices and nothing
    /// else (its text is the edited text).
    pub fn splice_at(&mut self, base: &Version, id: &FileId, splices: &[Splice]) -> Result<Version, DocError> {
        if base.0 == self.doc.get_heads() {
            self.splice(id, splices)?;
            return Ok(self.version());
        }
        // Automerge numbers an actor's changes in sequence: a change that
        // did not follow this peer's own latest one would reuse its number
        // and be dropped by the other peers as a duplicate. This peer's later
        // changes never touch this text without moving `base` (callers keep
        // it current), so including them leaves the text of `base` as it is.
        let mut heads = base.0.clone();
        if let Some(own) = self.doc.get_last_local_change().map(|c| c.hash()) {
            if !heads.contains(&own) {
                heads.push(own);
            }
        }
        self.doc.isolate(&heads);
        let result = self.splice_uncommitted(id, splices);
        self.finish();
        let edited = Version(self.doc.get_heads());
        self.doc.integrate();
        result.map(|()| edited)
    }

    /// Commits the current local transaction and queues its change for the peers.
    fn finish(&mut self) {
        if self.doc.commit().is_some() {
            if let Some(change) = self.doc.get_last_local_change() {
                self.outbox.push(change.raw_bytes().to_vec());
            }
        }
    }

    /// Local changes made since the last call, encoded for the wire.
    pub fn take_changes(&mut self) -> Option<Vec<Vec<u8>>> {
        (!self.outbox.is_empty()).then(|| std::mem::take(&mut self.outbox))
    }

    /// Applies encoded changes received from a peer, all in one call (the
    /// cost of applying grows with the history, not the batch). Changes whose
    /// dependencies are missing wait inside Automerge until those arrive.
    pub fn apply_changes(&mut self, changes: Vec<Vec<u8>>) -> Result<Touched, DocError> {
        let changes = changes
            .into_iter()
            .map(automerge::Change::from_bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DocError::Change(e.to_string()))?;
        self.logged(|doc| doc.apply_changes(changes))
    }

    /// Handles one sync protocol message from a peer.
    pub fn receive_sync(&mut self, state: &mut SyncState, msg: &[u8]) -> Result<Touched, DocError> {
        let msg = sync::Message::decode(msg).map_err(|e| DocError::SyncMessage(e.to_string()))?;
        self.logged(|doc| doc.sync().receive_sync_message(&mut state.0, msg))
    }

    /// True once the peer has told us its heads and we hold all of them.
    pub fn caught_up(&mut self, state: &SyncState) -> bool {
        let doc = self.doc.document();
        state.0.their_heads.as_ref().is_some_and(|heads| heads.iter().all(|h| doc.get_change_by_hash(h).is_some()))
    }

    /// The next sync protocol message for a peer, if any is due.
    pub fn generate_sync(&mut self, state: &mut SyncState) -> Option<Vec<u8>> {
        self.doc.sync().generate_sync_message(&mut state.0).map(sync::Message::encode)
    }

    /// Runs `apply` with Automerge's patch log on, and reports what it
    /// touched. Logging during the apply costs little; diffing heads
    /// afterwards would scan the whole history (tens of ms on a long one).
    fn logged(&mut self, apply: impl FnOnce(&mut AutoCommit) -> Result<(), automerge::AutomergeError>) -> Result<Touched, DocError> {
        self.doc.update_diff_cursor();
        let result = apply(&mut self.doc);
        let patches = self.doc.diff_incremental();
        self.doc.reset_diff_cursor();
        result?;
        let mut touched = Touched::default();
        for patch in patches {
            match patch.path.as_slice() {
                [(_, Prop::Map(top)), rest @ ..] if top == "entries" => match rest {
                    [] => touched.tree = true,
                    [(_, Prop::Map(id)), more @ ..] => {
                        let Some(id) = FileId::parse(id) else { continue };
                        if more.is_empty() {
                            touched.tree = true;
                        }
                        touched.texts.insert(id);
                    }
                    _ => {}
                },
                [] => touched.tree = true,
                _ => {}
            }
        }
        Ok(touched)
    }
}

#[cfg(test)]
mod tests;
