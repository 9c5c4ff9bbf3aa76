//! The workspace's documents: the one place that knows the Automerge schema.
//!
//! A tree document, and one content document per text file:
//!
//! ```text
//! tree                                  content of file <FileId>
//! ROOT                                  ROOT
//! ├─ schema: 3                          └─ text: Text
//! ├─ workspace: "<session id>"
//! ├─ entries: { <FileId>: { name, parent: <FileId or "">, kind, size?, hash? } }
//! ├─ peers: { <PeerId>: { name, color, role, seq, cert, sig } }   the roster, each entry signed by its member
//! └─ terminals: { <TermId>: { owner, title, cols, rows, exit?, writers } }
//!                      written by each terminal's owner only; `writers` is a
//!                      comma-separated list of peer ids
//! ```
//!
//! Files and folders are keyed by stable ids, so a rename or move is one field
//! change and concurrent edits follow a file wherever it goes. A text file's
//! entry names its text by hash; the text travels as plain bytes until the
//! file is first edited, and only then gets its own document, made from
//! those bytes by a first change every peer makes identically (building a
//! document costs milliseconds per 10 KB: a workspace is shared in a
//! fraction of that). Applying a change costs with that file's history
//! only. Text uses UTF-16 code unit offsets, as Monaco does. Binary and
//! over-large files are listed (`kind`, `size`) but their bytes never enter a
//! document. Only the host creates the tree's root objects: two peers
//! creating `entries` independently would hide each other's files.
//!
//! Nothing outside this module sees an Automerge type.

mod roots;
pub mod splice;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::sync::{self, SyncDoc};
use automerge::transaction::{Transactable, Transaction};
use automerge::{Automerge, ChangeHash, ObjId, ObjType, PatchLog, Prop, ROOT, ReadDoc, ScalarValue, TextEncoding, Value};

use crate::path::RelPath;
use crate::protocol::limits::{MAX_COLS, MAX_ENTRIES, MAX_LOOSE_DOCS, MAX_NAME, MAX_ROWS, MAX_TITLE};
use crate::protocol::printable::printable;
use crate::protocol::wire::Digest;
use crate::protocol::{PeerId, TermId};
use crate::term::TermInfo;
use roots::Roots;
pub use splice::Splice;

/// 3: text entries name their text by hash; content documents are made at
/// the first edit.
const SCHEMA: u64 = 3;
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
    #[error("more than {} documents for files the tree does not list", MAX_LOOSE_DOCS)]
    TooManyDocs,
    #[error("the document library failed on this input; it was not applied")]
    Rejected,
    #[error("the change would make the tree list more than {0} entries")]
    TooManyEntries(usize),
    #[error("unknown file id {0}")]
    UnknownFile(FileId),
    #[error("file {0} is not a text file")]
    NotText(FileId),
    #[error("splice out of range in {0}")]
    OutOfRange(FileId),
    #[error("that version of the document is not known here")]
    UnknownVersion,
    #[error("saved documents: {0}")]
    Saved(String),
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
        (!s.is_empty() && s.len() <= MAX_ID_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| Self(s.to_owned()))
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
    /// Size in bytes of a file.
    pub size: Option<u64>,
    /// For a text file: [`content_hash`] of the text it was shared with. Its
    /// content is that text until its content document exists, then the
    /// document's text.
    pub hash: Option<String>,
}

/// The file tree with every entry's path resolved. Entries whose parent is
/// missing, whose name is not a valid path component, or that sit in a cycle
/// of moves are left out. When two entries resolve to one path, the smaller
/// id keeps it: two folders merge (the other's entries resolve inside the
/// first), and any other loser takes the path `<name>.conflict-<first 8 of
/// its id>` beside it, so what two peers created at once is all kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    pub entries: BTreeMap<FileId, Entry>,
    pub by_path: HashMap<RelPath, FileId>,
    /// Folders merged into another folder of the same path, with that path.
    pub merged: BTreeMap<FileId, RelPath>,
}

impl Tree {
    /// Leaves out the entries (and merged folders) that fail `keep`.
    pub fn retain(&mut self, keep: impl Fn(&FileId, &RelPath) -> bool) {
        self.entries.retain(|id, e| keep(id, &e.path));
        self.by_path.retain(|p, id| keep(id, p));
        self.merged.retain(|id, p| keep(id, p));
    }

    /// `id` and every entry below it (folders merged into it too), deepest
    /// first.
    pub fn with_descendants(&self, id: &FileId) -> Vec<FileId> {
        let Some(top) = self.entries.get(id) else {
            return vec![id.clone()];
        };
        let mut out: Vec<(usize, FileId)> = self
            .entries
            .iter()
            .map(|(i, e)| (i, &e.path))
            .chain(self.merged.iter())
            .filter(|(_, p)| p.starts_with(&top.path))
            .map(|(i, p)| (p.depth(), i.clone()))
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
    /// A terminal was opened, closed or changed.
    pub terminals: bool,
    /// A roster entry was written.
    pub roster: bool,
    /// Documents some of whose changes build on changes this peer does not
    /// hold: those were left out (never queued without end); a sync round
    /// of these documents with their sender brings both.
    pub incomplete: BTreeSet<DocKey>,
}

impl Touched {
    pub fn is_empty(&self) -> bool {
        !self.tree && self.texts.is_empty() && !self.terminals && !self.roster
    }

    pub fn merge(&mut self, other: Touched) {
        self.tree |= other.tree;
        self.terminals |= other.terminals;
        self.roster |= other.roster;
        self.incomplete.extend(other.incomplete);
        self.texts.extend(other.texts);
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

/// A roster entry as written: the member, and the member's own proof that
/// it wrote it (checked by `engine::roster`, which the schema leaves alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    pub member: Member,
    /// Grows with each entry its member writes: the highest proven one is
    /// the member's word, so an older one put back changes nothing.
    pub seq: u64,
    /// The member's DTLS certificate (DER): its fingerprint gives the peer id.
    pub cert: Vec<u8>,
    /// The certificate key's signature of the entry.
    pub sig: Vec<u8>,
}

/// One of a workspace's Automerge documents: the tree (entries, roster,
/// terminals), or the content of one text file. Each file has its own
/// document, so its history, and the cost of applying a change to it, is
/// its own: a long-edited file never slows edits to the others.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocKey {
    Tree,
    File(FileId),
}

impl DocKey {
    /// On the wire: `""` for the tree, else the file id.
    pub fn to_wire(&self) -> &str {
        match self {
            DocKey::Tree => "",
            DocKey::File(id) => id.as_str(),
        }
    }

    pub fn from_wire(s: &str) -> Option<Self> {
        if s.is_empty() { Some(DocKey::Tree) } else { FileId::parse(s).map(DocKey::File) }
    }
}

/// A version of one of the documents (its heads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    doc: DocKey,
    heads: Vec<ChangeHash>,
}

impl Version {
    /// The document's key, then the heads as hex strings, for saving.
    pub fn to_strings(&self) -> Vec<String> {
        std::iter::once(self.doc.to_wire().to_owned()).chain(self.heads.iter().map(ToString::to_string)).collect()
    }

    /// The version that holds everything any of `versions` (of one
    /// document) holds.
    pub fn union<'a>(versions: impl IntoIterator<Item = &'a Version>) -> Version {
        let mut doc = DocKey::Tree;
        let mut heads = Vec::new();
        for v in versions {
            doc = v.doc.clone();
            heads.extend(v.heads.iter().copied());
        }
        heads.sort();
        heads.dedup();
        Version { doc, heads }
    }

    /// Reads what [`Self::to_strings`] wrote; `None` if it is malformed.
    pub fn parse(strings: &[String]) -> Option<Self> {
        let (doc, heads) = strings.split_first()?;
        let heads = heads.iter().map(|h| h.parse().ok()).collect::<Option<Vec<ChangeHash>>>()?;
        Some(Self { doc: DocKey::from_wire(doc)?, heads })
    }
}

/// One peer's changes, decoded ([`WorkspaceDoc::decode_changes`]).
#[derive(Debug, Clone)]
pub struct Decoded(Vec<(DocKey, automerge::Change)>);

impl Decoded {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Whether `change` is the base change of file `id` whose entry names the
/// text `hash`: it puts that very text there, and made again from it, it is
/// the same change, byte for byte.
fn is_base_change(id: &FileId, hash: &str, change: &automerge::Change) -> bool {
    if change.seq() != 1 || !change.deps().is_empty() {
        return false;
    }
    let mut doc = Automerge::new_with_encoding(TextEncoding::Utf16CodeUnit);
    if unpanicked(|| doc.apply_changes([change.clone()])).is_err() {
        return false;
    }
    let text = match doc.get(ROOT, "text") {
        Ok(Some((automerge::Value::Object(ObjType::Text), obj))) => doc.text(&obj).ok(),
        _ => None,
    };
    text.filter(|t| content_hash(t) == hash).and_then(|t| base_change(id, &t).ok()).is_some_and(|base| base.hash() == change.hash())
}

/// Per-peer state of the Automerge sync protocol, one per document.
#[derive(Debug, Default)]
pub struct SyncState(HashMap<DocKey, sync::State>);

impl SyncState {
    /// Starts the sync of these documents over: the next round tells the
    /// peer what this one holds, and it sends what is missing.
    pub fn restart<'a>(&mut self, keys: impl IntoIterator<Item = &'a DocKey>) {
        for key in keys {
            self.0.remove(key);
        }
    }
}

/// One Automerge document and what of it was saved.
struct Part {
    doc: Automerge,
    /// Heads at the last save, for [`WorkspaceDoc::save_incremental`].
    saved: Vec<ChangeHash>,
}

impl Part {
    fn new(doc: Automerge) -> Self {
        let saved = doc.get_heads();
        Self { doc, saved }
    }

    fn empty() -> Self {
        Self::new(Automerge::new_with_encoding(TextEncoding::Utf16CodeUnit))
    }

    /// See [`WorkspaceDoc::drop_queued`].
    fn drop_queued(&mut self) -> Result<bool, DocError> {
        if self.doc.get_missing_deps(&[]).is_empty() {
            return Ok(false);
        }
        let actor = self.doc.get_actor().clone();
        let bytes = self.doc.save_with_options(automerge::SaveOptions { deflate: false, retain_orphans: false });
        let opts = automerge::LoadOptions::new().text_encoding(TextEncoding::Utf16CodeUnit);
        self.doc = unpanicked(|| Automerge::load_with_options(&bytes, opts))?.with_actor(actor);
        tracing::debug!("dropped changes whose dependencies never came");
        Ok(true)
    }
}

/// The Automerge documents of one workspace: its tree, and one per text file.
pub struct WorkspaceDoc {
    tree: Part,
    files: BTreeMap<FileId, Part>,
    /// Local changes not yet handed to the network, each encoded.
    outbox: Vec<(DocKey, Vec<u8>)>,
    /// Documents changed since the last save in ways only Automerge can
    /// encode again (a sync message, a load): [`Self::save_incremental`]
    /// asks it for their changes since.
    changed: BTreeSet<DocKey>,
    /// The encoded changes every other document gained since the last save,
    /// as made or received: journaled as they are, without encoding them
    /// again (the journal runs before every file write).
    unsaved: BTreeMap<DocKey, Vec<u8>>,
    /// Documents taken from the network for files the tree did not list as
    /// text (see [`MAX_LOOSE_DOCS`]).
    loose: BTreeSet<FileId>,
    /// The session's first change (its hash and author), once known.
    first: Option<(ChangeHash, automerge::ActorId)>,
    /// The session id this document was opened for.
    session: Option<String>,
    roots: Roots,
    /// [`MAX_ENTRIES`], lower in tests.
    max_entries: usize,
}

impl std::fmt::Debug for WorkspaceDoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkspaceDoc").finish_non_exhaustive()
    }
}

/// `#rrggbb`, as a window may put it in a style.
fn is_color(c: &str) -> bool {
    c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// What a read of one key returned.
type Got<'a> = Result<Option<(Value<'a>, ObjId)>, automerge::AutomergeError>;

fn str_of(got: Got<'_>) -> Option<String> {
    match got.ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Str(v) => Some(v.to_string()),
            _ => None,
        },
        _ => None,
    }
}

fn uint_of(got: Got<'_>) -> Option<u64> {
    match got.ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Uint(v) => Some(*v),
            ScalarValue::Int(v) => u64::try_from(*v).ok(),
            _ => None,
        },
        _ => None,
    }
}

fn get_str(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Option<String> {
    str_of(doc.get(obj, key))
}

fn get_uint(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Option<u64> {
    uint_of(doc.get(obj, key))
}

fn get_bytes(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Option<Vec<u8>> {
    match doc.get(obj, key).ok()?? {
        (Value::Scalar(s), _) => match s.as_ref() {
            ScalarValue::Bytes(b) => Some(b.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn get_obj(doc: &impl ReadDoc, obj: &ObjId, key: &str) -> Option<ObjId> {
    match doc.get(obj, key).ok()?? {
        (Value::Object(_), id) => Some(id),
        _ => None,
    }
}

/// The text object of a file's content document.
fn text_obj(doc: &impl ReadDoc, id: &FileId) -> Result<ObjId, DocError> {
    get_obj(doc, &ROOT, "text").ok_or_else(|| DocError::NotText(id.clone()))
}

/// Writes an entry's kind and size into the tree, and for a text file the
/// hash that names its bytes (the text travels apart from the tree).
fn set_content(tx: &mut Transaction<'_>, obj: &ObjId, content: &Content) -> Result<(), DocError> {
    tx.put(obj, "kind", content.kind().as_str())?;
    match content {
        Content::Text(text) => {
            tx.put(obj, "size", text.len() as u64)?;
            tx.put(obj, "hash", content_hash(text))?;
        }
        Content::Binary(size) | Content::TooLarge(size) => {
            tx.put(obj, "size", *size)?;
            tx.delete(obj, "hash")?;
        }
        Content::Dir => {}
    }
    Ok(())
}

/// SHA-256 of a text's UTF-8 bytes, hex: the name of a file's content
/// until it is first edited.
pub fn content_hash(text: &str) -> String {
    use sha2::Digest as _;
    crate::protocol::invite::hex(&sha2::Sha256::digest(text.as_bytes()))
}

/// The first change of a file's content document, made from the bytes its
/// entry names: every peer that makes it gets the same change (actor from
/// the file id and the hash, time 0), so two peers that start editing an
/// untouched file at once share one base text instead of doubling it.
fn base_change(id: &FileId, text: &str) -> Result<automerge::Change, DocError> {
    Ok(base_doc(id, text)?.1)
}

/// [`base_change`], with the document that holds only it.
fn base_doc(id: &FileId, text: &str) -> Result<(Automerge, automerge::Change), DocError> {
    use sha2::Digest as _;
    let seed = sha2::Sha256::new()
        .chain_update(b"nitro base\0")
        .chain_update(id.0.as_bytes())
        .chain_update(b"\0")
        .chain_update(content_hash(text))
        .finalize();
    let actor = automerge::ActorId::from(&seed[..16]);
    let mut doc = Automerge::new_with_encoding(TextEncoding::Utf16CodeUnit).with_actor(actor);
    let mut tx = doc.transaction();
    let t = tx.put_object(ROOT, "text", ObjType::Text)?;
    tx.splice_text(&t, 0, 0, text)?;
    tx.commit_with(automerge::transaction::CommitOptions::default().with_time(0));
    let change = doc.get_last_local_change().ok_or_else(|| DocError::Change("no base change".into()))?;
    Ok((doc, change))
}

/// Runs `f` on `doc` with input from a peer or from disk. Automerge panics
/// on some malformed changes (one naming an actor the document does not
/// know, say): a panic, an error, or a tree grown past `limit` leaves the
/// document as it was before, never a crash. The copy costs little for a
/// short history and up to about half of applying for a long one
/// (docs/BENCHMARKS.md, trace_sync).
fn guarded<T>(
    doc: &mut Automerge,
    f: impl FnOnce(&mut Automerge) -> Result<T, automerge::AutomergeError>,
    limit: Option<EntryLimit>,
) -> Result<T, DocError> {
    let before = doc.clone();
    let result = unpanicked(|| f(doc)).and_then(|v| limit.map_or(Ok(()), |l| l.check(doc)).map(|()| v));
    if result.is_err() {
        *doc = before;
    }
    result
}

/// A tree document may not grow past `max` entries, members and terminals
/// together by a peer's changes (every peer would write its entries to its
/// disk, and show its members and terminals).
struct EntryLimit {
    first: Option<(ChangeHash, automerge::ActorId)>,
    max: usize,
    before: usize,
}

impl EntryLimit {
    fn check(&self, doc: &Automerge) -> Result<(), DocError> {
        let now = count(doc, self.first.as_ref());
        if now > self.max && now > self.before { Err(DocError::TooManyEntries(self.max)) } else { Ok(()) }
    }
}

/// The tree's entries, members and terminals.
fn count(doc: &Automerge, first: Option<&(ChangeHash, automerge::ActorId)>) -> usize {
    count_in(doc, &Roots::resolve(doc, first))
}

/// The entries, members and terminals of `roots` in `doc`.
fn count_in(doc: &Automerge, roots: &Roots) -> usize {
    [&roots.entries, &roots.peers, &roots.terminals].into_iter().flatten().map(|o| doc.length(o)).sum()
}

/// Whether `doc` holds the change `hash`, looked up in its change graph
/// (`get_change_by_hash` would rebuild the change from its operations).
fn has_change(doc: &Automerge, hash: &ChangeHash) -> bool {
    !doc.get_missing_deps(std::slice::from_ref(hash)).contains(hash)
}

/// `f`, with a panic inside Automerge turned into [`DocError::Rejected`].
fn unpanicked<T>(f: impl FnOnce() -> Result<T, automerge::AutomergeError>) -> Result<T, DocError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => Ok(result?),
        Err(_) => {
            tracing::warn!("the document library failed on input from a peer or from disk; it was not applied");
            Err(DocError::Rejected)
        }
    }
}

/// The changes of `batch` that `doc` does not hold yet and whose
/// dependencies it holds or the batch brings (in one pass, whatever their
/// order; returned each after the ones it depends on), and whether any
/// were left out. Automerge would keep the others
/// queued, without bound, until their dependencies came. Changes already
/// held (every peer relays what it receives, so most arrive more than
/// once) cost nothing further: no apply, no journal entry.
fn complete(doc: Option<&Automerge>, mut batch: Vec<automerge::Change>) -> (Vec<automerge::Change>, bool) {
    let held = |h: &ChangeHash| doc.is_some_and(|d| has_change(d, h));
    batch.retain(|c| !held(&c.hash()));
    let index: HashMap<ChangeHash, usize> = batch.iter().enumerate().map(|(i, c)| (c.hash(), i)).collect();
    let mut waiting_on = vec![0usize; batch.len()];
    let mut dependents: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut ready = Vec::new();
    for (i, change) in batch.iter().enumerate() {
        let mut missing = false;
        for dep in change.deps() {
            if held(dep) {
                continue;
            }
            match index.get(dep) {
                Some(&j) => {
                    waiting_on[i] += 1;
                    dependents.entry(j).or_default().push(i);
                }
                None => missing = true,
            }
        }
        if missing {
            waiting_on[i] = usize::MAX;
        } else if waiting_on[i] == 0 {
            ready.push(i);
        }
    }
    let mut keep = vec![false; batch.len()];
    // The order they became ready in: each after what it depends on, as
    // the journal must hold them to load them back.
    let mut order = Vec::new();
    while let Some(i) = ready.pop() {
        keep[i] = true;
        order.push(i);
        for &d in dependents.get(&i).map_or(&[][..], Vec::as_slice) {
            if waiting_on[d] != usize::MAX {
                waiting_on[d] -= 1;
                if waiting_on[d] == 0 {
                    ready.push(d);
                }
            }
        }
    }
    let left_out = keep.iter().any(|k| !k);
    let mut slots: Vec<Option<automerge::Change>> = batch.into_iter().map(Some).collect();
    (order.into_iter().filter_map(|i| slots[i].take()).collect(), left_out)
}

/// The patches worth asking Automerge for: the tree's say which entries
/// changed; a text's are never read (its heads say whether it changed), and
/// making them costs as much as applying.
fn patch_log(key: &DocKey) -> PatchLog {
    match key {
        DocKey::Tree => PatchLog::active(),
        DocKey::File(_) => PatchLog::inactive(),
    }
}

/// Documents saved together: repeated key length (u8), key (see
/// [`DocKey::to_wire`]), length (u64 big-endian), Automerge bytes.
const SAVED_MAGIC: &[u8] = b"NITRODOCS1";

fn put_part(out: &mut Vec<u8>, key: &DocKey, bytes: &[u8]) {
    let key = key.to_wire().as_bytes();
    out.push(key.len() as u8);
    out.extend_from_slice(key);
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn parts(bytes: &[u8]) -> Result<Vec<(DocKey, &[u8])>, DocError> {
    let bad = || DocError::Saved("malformed saved documents".into());
    let mut rest = bytes.strip_prefix(SAVED_MAGIC).ok_or_else(|| {
        DocError::Saved(
            "saved by an older NitroIDE (one document for the whole workspace); move the .nitro folder away to start this folder's session over"
                .into(),
        )
    })?;
    let mut out = Vec::new();
    while let Some((&n, tail)) = rest.split_first() {
        // Logs are saves appended one after another. A key is at most 64
        // bytes, so a length byte never looks like the header's first byte.
        if let Some(after) = rest.strip_prefix(SAVED_MAGIC) {
            rest = after;
            continue;
        }
        let n = n as usize;
        let key = tail.get(..n).and_then(|k| std::str::from_utf8(k).ok()).and_then(DocKey::from_wire).ok_or_else(bad)?;
        let (len, tail) = tail[n..].split_first_chunk::<8>().ok_or_else(bad)?;
        let len = usize::try_from(u64::from_be_bytes(*len)).map_err(|_| bad())?;
        let body = tail.get(..len).ok_or_else(bad)?;
        out.push((key, body));
        rest = &tail[len..];
    }
    Ok(out)
}

/// Applies splices in order; refuses (changing nothing more) one that
/// reaches past the end of the text.
fn splice_in(tx: &mut Transaction<'_>, id: &FileId, splices: &[Splice]) -> Result<(), DocError> {
    let text = text_obj(tx, id)?;
    // Automerge refuses an insert past the end but cuts a delete short: check
    // deletes against the length, measured once (a walk of the text) and
    // then kept up to date.
    let mut len = splices.iter().any(|s| s.delete > 0).then(|| tx.length(&text));
    for s in splices {
        if let Some(l) = len.as_mut() {
            if s.index.checked_add(s.delete).is_none_or(|end| end > *l) {
                return Err(DocError::OutOfRange(id.clone()));
            }
            *l = *l - s.delete + s.insert.encode_utf16().count();
        }
        let del = isize::try_from(s.delete).map_err(|_| DocError::OutOfRange(id.clone()))?;
        tx.splice_text(&text, s.index, del, &s.insert).map_err(|_| DocError::OutOfRange(id.clone()))?;
    }
    Ok(())
}

impl WorkspaceDoc {
    fn with(tree: Automerge) -> Self {
        let mut this = Self {
            tree: Part::new(tree),
            files: BTreeMap::new(),
            outbox: Vec::new(),
            changed: BTreeSet::new(),
            unsaved: BTreeMap::new(),
            loose: BTreeSet::new(),
            first: None,
            session: None,
            roots: Roots::default(),
            max_entries: MAX_ENTRIES,
        };
        this.resolve_roots();
        this
    }

    /// Reads the root objects again: after the tree document took changes.
    fn resolve_roots(&mut self) {
        let was = self.roots.diverted;
        self.roots = Roots::resolve(&self.tree.doc, self.first.as_ref());
        if self.roots.diverted && !was {
            tracing::warn!("a peer put other objects at the workspace's root; they are ignored");
        }
    }

    /// This document belongs to `session`: its root is read as the
    /// session's first change made it (see [`roots`]).
    pub fn for_session(mut self, session: &str) -> Result<Self, DocError> {
        // Checked here so that loading a saved document is checked too.
        let first = roots::genesis(session)?;
        self.first = Some((first.hash(), first.actor_id().clone()));
        self.session = Some(session.to_owned());
        self.resolve_roots();
        if let Some(v) = self.roots.schema.filter(|v| *v > SCHEMA) {
            return Err(DocError::Schema(v));
        }
        Ok(self)
    }

    fn entries(&self) -> Result<ObjId, DocError> {
        self.roots.entries.clone().ok_or(DocError::NotInitialized)
    }

    fn entry(&self, id: &FileId) -> Result<ObjId, DocError> {
        get_obj(&self.tree.doc, &self.entries()?, id.as_str()).ok_or_else(|| DocError::UnknownFile(id.clone()))
    }

    fn part(&self, key: &DocKey) -> Option<&Part> {
        match key {
            DocKey::Tree => Some(&self.tree),
            DocKey::File(id) => self.files.get(id),
        }
    }

    /// The document of `key`, created empty if it is new here (a file's
    /// document arriving from a peer).
    fn part_mut(&mut self, key: &DocKey) -> &mut Part {
        match key {
            DocKey::Tree => &mut self.tree,
            DocKey::File(id) => self.files.entry(id.clone()).or_insert_with(Part::empty),
        }
    }

    /// A text file's document.
    fn content(&self, id: &FileId) -> Result<&Automerge, DocError> {
        self.files.get(id).map(|p| &p.doc).ok_or_else(|| DocError::NotText(id.clone()))
    }

    fn content_mut(&mut self, id: &FileId) -> Result<&mut Automerge, DocError> {
        self.files.get_mut(id).map(|p| &mut p.doc).ok_or_else(|| DocError::NotText(id.clone()))
    }

    /// True when the tree lists `id` as a text file.
    fn names_text(&self, id: &FileId) -> bool {
        self.entry(id).is_ok_and(|e| get_str(&self.tree.doc, &e, "kind").as_deref() == Some(Kind::Text.as_str()))
    }

    /// The text files' documents, the ones peers exchange: a document of a
    /// deleted file (or a loose one) is kept, but not handed on.
    fn live_files(&self) -> impl Iterator<Item = (&FileId, &Part)> {
        self.files.iter().filter(|(id, _)| self.names_text(id))
    }

    /// Checks, before any is applied, that the documents a peer's message
    /// would create stay within [`MAX_LOOSE_DOCS`], and counts them.
    fn admit<'a>(&mut self, keys: impl IntoIterator<Item = &'a DocKey>) -> Result<(), DocError> {
        let new = self.check_room(keys)?;
        if new.is_empty() {
            return Ok(());
        }
        let loose: BTreeSet<FileId> = std::mem::take(&mut self.loose).into_iter().filter(|id| !self.names_text(id)).collect();
        self.loose = loose;
        self.loose.extend(new);
        Ok(())
    }

    /// The documents for files the tree does not list as text that `keys`
    /// would add, if they stay within [`MAX_LOOSE_DOCS`]: a whole message is
    /// judged before any of its parts costs work.
    pub fn check_room<'a>(&self, keys: impl IntoIterator<Item = &'a DocKey>) -> Result<BTreeSet<FileId>, DocError> {
        let new: BTreeSet<FileId> = keys
            .into_iter()
            .filter_map(|k| match k {
                DocKey::File(id) if !self.files.contains_key(id) && !self.names_text(id) && !self.loose.contains(id) => Some(id.clone()),
                _ => None,
            })
            .collect();
        // Counting only the loose documents still loose costs a lookup each:
        // needed only when all of them together would be too many.
        if new.is_empty() || self.loose.len() + new.len() <= MAX_LOOSE_DOCS {
            return Ok(new);
        }
        let loose = self.loose.iter().filter(|id| !self.names_text(id)).count();
        if loose + new.len() > MAX_LOOSE_DOCS {
            return Err(DocError::TooManyDocs);
        }
        Ok(new)
    }

    /// True once a text file's content document exists here (someone
    /// edited or opened it); before, its content is the bytes its entry's
    /// hash names.
    pub fn has_content(&self, id: &FileId) -> bool {
        self.files.get(id).is_some_and(|p| text_obj(&p.doc, id).is_ok())
    }

    /// Makes a text file's content document from `base`, the text its entry
    /// names (see [`base_change`]), unless it exists. The base change goes to
    /// the peers with the next changes, so an edit on top of it applies
    /// everywhere.
    pub fn ensure_content(&mut self, id: &FileId, base: &str) -> Result<(), DocError> {
        if self.has_content(id) {
            return Ok(());
        }
        let (mut doc, change) = base_doc(id, base)?;
        let bytes = change.raw_bytes().to_vec();
        let key = DocKey::File(id.clone());
        match self.files.get_mut(id) {
            Some(part) if !part.doc.is_empty() => {
                part.doc.apply_changes([change])?;
            }
            _ => {
                // The document the change was made in is the file's: no
                // second pass over its text.
                doc.set_actor(automerge::ActorId::random());
                self.files.insert(id.clone(), Part { doc, saved: Vec::new() });
            }
        }
        self.unsaved.entry(key.clone()).or_default().extend_from_slice(&bytes);
        self.outbox.push((key, bytes));
        Ok(())
    }

    /// Gives a file's document a new text (a new file, or one that became
    /// text again).
    fn write_text(&mut self, id: &FileId, text: &str) -> Result<(), DocError> {
        let doc = &mut self.part_mut(&DocKey::File(id.clone())).doc;
        let mut tx = doc.transaction();
        let t = tx.put_object(ROOT, "text", ObjType::Text)?;
        tx.splice_text(&t, 0, 0, text)?;
        let hash = tx.commit().0;
        self.queue(&DocKey::File(id.clone()), hash);
        Ok(())
    }

    /// A new workspace, as the host creates it.
    pub fn new_workspace(workspace: &str) -> Result<Self, DocError> {
        let mut doc = Automerge::new_with_encoding(TextEncoding::Utf16CodeUnit);
        doc.apply_changes([roots::genesis(workspace)?])?;
        Self::with(doc).for_session(workspace)
    }

    /// An empty document that a joiner fills from the host.
    pub fn empty() -> Self {
        Self::with(Automerge::new_with_encoding(TextEncoding::Utf16CodeUnit))
    }

    /// Reads what [`Self::save`] wrote, of `session` when known.
    pub fn load(bytes: &[u8], session: Option<&str>) -> Result<Self, DocError> {
        let opts = || automerge::LoadOptions::new().text_encoding(TextEncoding::Utf16CodeUnit);
        let mut this = Self::empty();
        if let Some(s) = session {
            this = this.for_session(s)?;
        }
        for (key, body) in parts(bytes)? {
            let doc = unpanicked(|| Automerge::load_with_options(body, opts()))?;
            match key {
                DocKey::Tree => this.tree = Part::new(doc),
                DocKey::File(id) => {
                    this.files.insert(id, Part::new(doc));
                }
            }
        }
        this.resolve_roots();
        if let Some(v) = this.roots.schema.filter(|v| *v > SCHEMA) {
            return Err(DocError::Schema(v));
        }
        Ok(this)
    }

    /// Every document, whole.
    pub fn save(&mut self) -> Vec<u8> {
        let mut out = SAVED_MAGIC.to_vec();
        let keys: Vec<DocKey> = std::iter::once(DocKey::Tree).chain(self.files.keys().cloned().map(DocKey::File)).collect();
        for key in keys {
            let part = self.part_mut(&key);
            part.saved = part.doc.get_heads();
            // Without changes waiting for dependencies: a peer's junk is
            // never written to disk.
            let bytes = part.doc.save_with_options(automerge::SaveOptions { deflate: true, retain_orphans: false });
            put_part(&mut out, &key, &bytes);
        }
        self.changed.clear();
        self.unsaved.clear();
        out
    }

    /// Encoded changes made or received since the last save (or the last
    /// call), for an append-only log on disk; empty when there are none.
    pub fn save_incremental(&mut self) -> Vec<u8> {
        let mut out = SAVED_MAGIC.to_vec();
        let changed = std::mem::take(&mut self.changed);
        let mut unsaved = std::mem::take(&mut self.unsaved);
        let keys: BTreeSet<DocKey> = changed.iter().chain(unsaved.keys()).cloned().collect();
        for key in keys {
            let part = self.part_mut(&key);
            let heads = part.doc.get_heads();
            let bytes = match unsaved.remove(&key) {
                Some(bytes) if !changed.contains(&key) => bytes,
                _ if heads != part.saved => part.doc.save_after(&part.saved),
                _ => continue,
            };
            part.saved = heads;
            put_part(&mut out, &key, &bytes);
        }
        if out.len() == SAVED_MAGIC.len() {
            out.clear();
        }
        out
    }

    /// Adds what [`Self::save_incremental`] wrote (one or several of its
    /// results, appended).
    pub fn load_incremental(&mut self, bytes: &[u8]) -> Result<(), DocError> {
        if bytes.is_empty() {
            return Ok(());
        }
        for (key, body) in parts(bytes)? {
            guarded(&mut self.part_mut(&key).doc, |doc| doc.load_incremental(body), None)?;
            self.changed.insert(key);
        }
        self.resolve_roots();
        Ok(())
    }

    /// The session id this document was opened for, if it was.
    pub fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }

    /// The session id stored by the host, once the document has it.
    pub fn workspace(&self) -> Option<String> {
        self.roots.workspace.clone()
    }

    /// The current version of a text file (of the tree, for other entries),
    /// to apply edits against later with [`Self::splice_at`].
    pub fn version_of(&self, id: &FileId) -> Version {
        match self.files.get(id) {
            Some(p) => Version { doc: DocKey::File(id.clone()), heads: p.doc.get_heads() },
            None => Version { doc: DocKey::Tree, heads: self.tree.doc.get_heads() },
        }
    }

    /// A short summary of every document's heads: two peers with equal
    /// digests hold the same changes. Documents with no changes yet (one
    /// a sync has only just named) are left out.
    pub fn digest(&self) -> Digest {
        use sha2::Digest as _;
        let hash_heads = |h: &mut sha2::Sha256, mut heads: Vec<ChangeHash>| {
            heads.sort();
            h.update((heads.len() as u32).to_be_bytes());
            for head in heads {
                h.update(head.0);
            }
        };
        let mut tree = sha2::Sha256::new();
        hash_heads(&mut tree, self.tree.doc.get_heads());
        let mut files = sha2::Sha256::new();
        for (id, part) in self.live_files() {
            let heads = part.doc.get_heads();
            if heads.is_empty() {
                continue;
            }
            files.update([id.0.len() as u8]);
            files.update(id.0.as_bytes());
            hash_heads(&mut files, heads);
        }
        let first8 = |h: sha2::Sha256| -> [u8; 8] {
            let mut out = [0; 8];
            out.copy_from_slice(&h.finalize()[..8]);
            out
        };
        Digest { tree: first8(tree), files: first8(files) }
    }

    /// True when `version` is a version of `id`'s content document held here.
    pub fn holds_version_of(&self, id: &FileId, version: &Version) -> bool {
        version.doc == DocKey::File(id.clone()) && self.holds(version)
    }

    /// The version of a text file's content document that holds only its
    /// first change: the text its entry named when it was first edited.
    pub fn base_version(&self, id: &FileId) -> Result<Version, DocError> {
        let doc = self.content(id)?;
        let first = doc.get_changes_meta(&[]).first().map(|c| c.hash).ok_or_else(|| DocError::NotText(id.clone()))?;
        Ok(Version { doc: DocKey::File(id.clone()), heads: vec![first] })
    }

    /// True when this peer holds every change of `version`.
    pub fn holds(&self, version: &Version) -> bool {
        match self.part(&version.doc) {
            Some(p) => version.heads.iter().all(|h| has_change(&p.doc, h)),
            None => version.heads.is_empty(),
        }
    }

    /// True once the document holds a workspace (always for the host; for a
    /// joiner, after the first sync with the host).
    pub fn is_initialized(&self) -> bool {
        self.entries().is_ok()
    }

    /// Resolves every entry's path.
    pub fn tree(&self) -> Tree {
        let doc = &self.tree.doc;
        let Ok(entries) = self.entries() else {
            return Tree::default();
        };
        struct Raw {
            name: String,
            parent: Option<FileId>,
            kind: Kind,
            size: Option<u64>,
            hash: Option<String>,
        }
        let mut raw: HashMap<FileId, Raw> = HashMap::new();
        for key in doc.keys(&entries) {
            let Some(id) = FileId::parse(&key) else {
                continue;
            };
            let Some(obj) = get_obj(doc, &entries, &key) else {
                continue;
            };
            let (Some(name), Some(kind)) = (get_str(doc, &obj, "name"), get_str(doc, &obj, "kind").and_then(|k| Kind::parse(&k))) else {
                continue;
            };
            let parent = get_str(doc, &obj, "parent").and_then(|p| FileId::parse(&p));
            let size = match doc.get(&obj, "size") {
                Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
                    ScalarValue::Uint(v) => Some(*v),
                    _ => None,
                },
                _ => None,
            };
            let hash = get_str(doc, &obj, "hash").filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
            raw.insert(id, Raw { name, parent, kind, size, hash });
        }
        // Depth of each entry, each found once (a chain of n entries costs
        // n steps, not n²); cycles and dangling parents get none.
        let mut depths: HashMap<&FileId, Option<usize>> = HashMap::with_capacity(raw.len());
        let mut walk: Vec<&FileId> = Vec::new();
        let mut on_walk: std::collections::HashSet<&FileId> = std::collections::HashSet::new();
        for start in raw.keys() {
            on_walk.clear();
            let mut cur = start;
            let base = loop {
                if let Some(d) = depths.get(cur) {
                    break *d;
                }
                if !on_walk.insert(cur) {
                    break None; // a cycle
                }
                walk.push(cur);
                match raw.get(cur).map(|r| &r.parent) {
                    Some(Some(parent)) => cur = parent,
                    Some(None) => break Some(0),
                    None => break None, // dangling
                }
            };
            // A walk that ended at a missing parent started from an entry
            // whose parent is missing: nothing on it resolves.
            let mut depth = base;
            for id in walk.drain(..).rev() {
                if !raw.contains_key(id) {
                    depths.insert(id, None);
                    continue;
                }
                depth = depth.map(|d| d + 1);
                depths.insert(id, depth);
            }
        }
        let mut order: Vec<(usize, &FileId)> = raw.keys().filter_map(|id| depths.get(id).copied().flatten().map(|d| (d, id))).collect();
        order.sort();
        let mut tree = Tree::default();
        for (_, id) in order {
            let r = &raw[id];
            let join = |name: &str| match &r.parent {
                None => Some(RelPath::single(name)),
                Some(p) => match (tree.entries.get(p), tree.merged.get(p)) {
                    (Some(parent), _) if parent.kind == Kind::Dir => Some(parent.path.join(name)),
                    (_, Some(path)) => Some(path.join(name)),
                    _ => None,
                },
            };
            let Some(path) = join(&r.name) else { continue };
            let Ok(mut path) = path else {
                tracing::debug!(id = %id, "skipping an entry whose name is not a valid file name");
                continue;
            };
            if let Some(winner) = tree.by_path.get(&path) {
                if r.kind == Kind::Dir && tree.entries.get(winner).is_some_and(|w| w.kind == Kind::Dir) {
                    tree.merged.insert(id.clone(), path);
                    continue;
                }
                let short = &id.as_str()[..id.as_str().len().min(8)];
                match join(&format!("{}.conflict-{short}", r.name)) {
                    Some(Ok(aside)) if !tree.by_path.contains_key(&aside) => path = aside,
                    _ => continue,
                }
            }
            tree.by_path.insert(path.clone(), id.clone());
            tree.entries.insert(id.clone(), Entry { path, kind: r.kind, size: r.size, hash: r.hash.clone() });
        }
        tree
    }

    /// The text of a text file.
    pub fn text(&self, id: &FileId) -> Result<String, DocError> {
        let doc = self.content(id)?;
        Ok(doc.text(text_obj(doc, id)?)?)
    }

    /// The text of a text file as it was at `version`.
    pub fn text_at(&self, id: &FileId, version: &Version) -> Result<String, DocError> {
        let doc = self.content(id)?;
        if version.doc != DocKey::File(id.clone()) {
            return Err(DocError::UnknownVersion);
        }
        Ok(doc.text_at(text_obj(doc, id)?, &version.heads)?)
    }

    /// Adds an entry under `parent` (`None`: the workspace root).
    pub fn create(&mut self, parent: Option<&FileId>, name: &str, content: &Content) -> Result<FileId, DocError> {
        let id = FileId::random();
        let entries = self.entries()?;
        let mut tx = self.tree.doc.transaction();
        let obj = tx.put_object(&entries, id.as_str(), ObjType::Map)?;
        tx.put(&obj, "name", name)?;
        tx.put(&obj, "parent", parent.map_or("", FileId::as_str))?;
        set_content(&mut tx, &obj, content)?;
        let hash = tx.commit().0;
        self.queue(&DocKey::Tree, hash);
        Ok(id)
    }

    /// Writes a member's roster entry (each peer writes its own), as one new
    /// object: its fields are always read together.
    pub fn set_member(&mut self, peer: &str, entry: &Enrollment) -> Result<(), DocError> {
        let peers = self.roots.peers.clone().ok_or(DocError::NotInitialized)?;
        let mut tx = self.tree.doc.transaction();
        let obj = tx.put_object(&peers, peer, ObjType::Map)?;
        let m = &entry.member;
        for (key, value) in [("name", &m.name), ("color", &m.color), ("role", &m.role)] {
            tx.put(&obj, key, value.as_str())?;
        }
        tx.put(&obj, "seq", entry.seq)?;
        tx.put(&obj, "cert", ScalarValue::Bytes(entry.cert.clone()))?;
        tx.put(&obj, "sig", ScalarValue::Bytes(entry.sig.clone()))?;
        let hash = tx.commit().0;
        self.queue(&DocKey::Tree, hash);
        Ok(())
    }

    /// The roster as written, by peer id: every entry a key holds (peers
    /// writing one key at once leave several), unchecked.
    pub fn enrollments(&self) -> BTreeMap<String, Vec<Enrollment>> {
        let doc = &self.tree.doc;
        let Some(peers) = self.roots.peers.clone() else {
            return BTreeMap::new();
        };
        let read = |obj: &ObjId| {
            Some(Enrollment {
                member: Member {
                    name: printable(&get_str(doc, obj, "name")?, MAX_NAME),
                    color: get_str(doc, obj, "color").filter(|c| is_color(c))?,
                    role: printable(&get_str(doc, obj, "role")?, MAX_NAME),
                },
                seq: get_uint(doc, obj, "seq")?,
                cert: get_bytes(doc, obj, "cert")?,
                sig: get_bytes(doc, obj, "sig")?,
            })
        };
        doc.keys(&peers)
            .map(|key| {
                let all = doc.get_all(&peers, key.as_str()).unwrap_or_default();
                let entries = all.into_iter().filter_map(|(v, id)| matches!(v, Value::Object(ObjType::Map)).then(|| read(&id))?).collect();
                (key, entries)
            })
            .collect()
    }

    /// The splices that turn the text of `since` into the current text,
    /// applied in order, and the current version. An editor that showed
    /// `since` catches up with them without reloading.
    pub fn splices_since(&self, id: &FileId, since: &Version) -> Result<(Vec<Splice>, Version), DocError> {
        if since.doc != DocKey::File(id.clone()) || !self.holds(since) {
            return Err(DocError::UnknownVersion);
        }
        let doc = self.content(id)?;
        let text = text_obj(doc, id)?;
        let now = doc.get_heads();
        let splices = doc
            .diff_obj(&text, &since.heads, &now, false)?
            .into_iter()
            .filter_map(|p| match p.action {
                automerge::PatchAction::SpliceText { index, value, .. } => Some(Splice { index, delete: 0, insert: value.make_string() }),
                automerge::PatchAction::DeleteSeq { index, length } => Some(Splice { index, delete: length, insert: String::new() }),
                _ => None,
            })
            .collect();
        Ok((splices, Version { doc: since.doc.clone(), heads: now }))
    }

    /// Adds the root maps that documents made by older versions lack (only
    /// the host calls this: two peers adding one would hide each other's).
    pub fn upgrade(&mut self) -> Result<(), DocError> {
        if self.roots.terminals.is_none() && self.is_initialized() {
            let mut tx = self.tree.doc.transaction();
            tx.put_object(ROOT, "terminals", ObjType::Map)?;
            let hash = tx.commit().0;
            self.queue(&DocKey::Tree, hash);
        }
        // Older versions would find files without a content document.
        if self.roots.schema.is_some_and(|v| v < SCHEMA) {
            let mut tx = self.tree.doc.transaction();
            tx.put(ROOT, "schema", SCHEMA)?;
            let hash = tx.commit().0;
            self.queue(&DocKey::Tree, hash);
        }
        self.resolve_roots();
        Ok(())
    }

    /// Adds or updates a terminal's metadata (its owner writes it).
    pub fn set_terminal(&mut self, info: &TermInfo) -> Result<(), DocError> {
        let terminals = self.roots.terminals.clone().ok_or(DocError::NotInitialized)?;
        let key = info.id.to_string();
        let mut tx = self.tree.doc.transaction();
        let obj = match get_obj(&tx, &terminals, &key) {
            Some(o) => o,
            None => tx.put_object(&terminals, &key, ObjType::Map)?,
        };
        let writers = info.writers.iter().map(PeerId::as_str).collect::<Vec<_>>().join(",");
        for (k, v) in [("owner", info.owner.as_str()), ("title", info.title.as_str()), ("writers", writers.as_str())] {
            if get_str(&tx, &obj, k).as_deref() != Some(v) {
                tx.put(&obj, k, v)?;
            }
        }
        for (k, v) in [("cols", info.cols), ("rows", info.rows)] {
            if get_uint(&tx, &obj, k) != Some(u64::from(v)) {
                tx.put(&obj, k, u64::from(v))?;
            }
        }
        match info.exit {
            Some(code) if get_uint(&tx, &obj, "exit") != Some(u64::from(code)) => tx.put(&obj, "exit", u64::from(code))?,
            None if tx.get(&obj, "exit")?.is_some() => tx.delete(&obj, "exit")?,
            _ => {}
        }
        let hash = tx.commit().0;
        self.queue(&DocKey::Tree, hash);
        Ok(())
    }

    pub fn remove_terminal(&mut self, id: TermId) -> Result<(), DocError> {
        let terminals = self.roots.terminals.clone().ok_or(DocError::NotInitialized)?;
        let mut tx = self.tree.doc.transaction();
        tx.delete(&terminals, id.to_string())?;
        let hash = tx.commit().0;
        self.queue(&DocKey::Tree, hash);
        Ok(())
    }

    /// Every terminal's metadata; malformed entries are left out.
    pub fn terminals(&self) -> Vec<TermInfo> {
        let doc = &self.tree.doc;
        let Some(terminals) = self.roots.terminals.clone() else {
            return Vec::new();
        };
        doc.keys(&terminals)
            .filter_map(|key| {
                let obj = get_obj(doc, &terminals, &key)?;
                // Clamped before any window sizes itself by them.
                let size = |k, max: u16| get_uint(doc, &obj, k).map(|n| n.clamp(1, u64::from(max)) as u16);
                Some(TermInfo {
                    id: TermId::parse(&key)?,
                    owner: PeerId::try_from(get_str(doc, &obj, "owner")?).ok()?,
                    title: printable(&get_str(doc, &obj, "title")?, MAX_TITLE),
                    cols: size("cols", MAX_COLS)?,
                    rows: size("rows", MAX_ROWS)?,
                    exit: get_uint(doc, &obj, "exit").and_then(|n| u32::try_from(n).ok()),
                    writers: get_str(doc, &obj, "writers")?.split(',').filter_map(|p| PeerId::try_from(p.to_owned()).ok()).collect(),
                })
            })
            .collect()
    }

    /// A stable position in a text file: it stays on the character at
    /// `index` (UTF-16 units, in the text of version `at`, or the current
    /// text) whatever is inserted or deleted around it.
    pub fn cursor(&self, id: &FileId, index: usize, at: Option<&Version>) -> Result<Vec<u8>, DocError> {
        let doc = self.content(id)?;
        let text = text_obj(doc, id)?;
        let at = at.filter(|v| v.doc == DocKey::File(id.clone()));
        let len = match at {
            Some(v) => doc.length_at(&text, &v.heads),
            None => doc.length(&text),
        };
        let pos = if index >= len { automerge::CursorPosition::End } else { automerge::CursorPosition::Index(index) };
        Ok(doc.get_cursor(&text, pos, at.map(|v| v.heads.as_slice()))?.to_bytes())
    }

    /// Where a cursor made by [`Self::cursor`] (on any peer) is now.
    pub fn cursor_position(&self, id: &FileId, cursor: &[u8]) -> Result<usize, DocError> {
        let doc = self.content(id)?;
        let text = text_obj(doc, id)?;
        let cursor = automerge::Cursor::try_from(cursor).map_err(|e| DocError::Cursor(e.to_string()))?;
        Ok(doc.get_cursor_position(&text, &cursor, None)?)
    }

    /// Changes what an entry holds (a text file became binary, or back).
    pub fn set_kind(&mut self, id: &FileId, content: &Content) -> Result<(), DocError> {
        let obj = self.entry(id)?;
        let mut tx = self.tree.doc.transaction();
        set_content(&mut tx, &obj, content)?;
        let hash = tx.commit().0;
        // A document's text wins over the hash: one that exists gets the new
        // text too.
        if let Content::Text(text) = content
            && self.has_content(id)
        {
            self.write_text(id, text)?;
        }
        self.queue(&DocKey::Tree, hash);
        Ok(())
    }

    /// Renames and/or moves an entry: one field change each, whatever its size.
    pub fn rename(&mut self, id: &FileId, parent: Option<&FileId>, name: &str) -> Result<(), DocError> {
        let obj = self.entry(id)?;
        let parent = parent.map_or("", FileId::as_str);
        let mut tx = self.tree.doc.transaction();
        if get_str(&tx, &obj, "name").as_deref() != Some(name) {
            tx.put(&obj, "name", name)?;
        }
        if get_str(&tx, &obj, "parent").as_deref() != Some(parent) {
            tx.put(&obj, "parent", parent)?;
        }
        let hash = tx.commit().0;
        self.queue(&DocKey::Tree, hash);
        Ok(())
    }

    /// Removes entries in one change. Pass an entry together with everything
    /// below it ([`Tree::with_descendants`]), or the children become orphans.
    pub fn delete(&mut self, ids: &[FileId]) -> Result<(), DocError> {
        let entries = self.entries()?;
        let mut tx = self.tree.doc.transaction();
        for id in ids {
            tx.delete(&entries, id.as_str())?;
        }
        let hash = tx.commit().0;
        self.queue(&DocKey::Tree, hash);
        Ok(())
    }

    /// Applies splices to a file's current text, all or none.
    pub fn splice(&mut self, id: &FileId, splices: &[Splice]) -> Result<(), DocError> {
        let doc = self.content_mut(id)?;
        let mut tx = doc.transaction();
        match splice_in(&mut tx, id, splices) {
            Ok(()) => {
                let hash = tx.commit().0;
                self.queue(&DocKey::File(id.clone()), hash);
                Ok(())
            }
            Err(e) => {
                tx.rollback();
                Err(e)
            }
        }
    }

    /// Applies splices made against an older version (`base`) of the
    /// file's document, so they merge with everything that happened since
    /// exactly as a concurrent peer's edit would. Returns the version that
    /// holds `base` plus these splices and nothing else (its text is the
    /// edited text).
    pub fn splice_at(&mut self, base: &Version, id: &FileId, splices: &[Splice]) -> Result<Version, DocError> {
        let key = DocKey::File(id.clone());
        if base.doc != key {
            return Err(DocError::UnknownVersion);
        }
        let doc = self.content_mut(id)?;
        if base.heads == doc.get_heads() {
            self.splice(id, splices)?;
            return Ok(self.version_of(id));
        }
        // Automerge numbers an actor's changes in sequence: a change that
        // did not follow this peer's own latest one would reuse its number
        // and be dropped by the other peers as a duplicate. So the edit goes
        // on top of `base` plus this peer's own changes, and when those
        // touched this text the splices are carried over to it.
        let mut heads = base.heads.clone();
        let mut rebased = None;
        if let Some(own) = doc.get_last_local_change().map(|c| c.hash())
            && !heads.contains(&own)
        {
            heads.push(own);
            let obj = text_obj(doc, id)?;
            let (from, to) = (doc.text_at(&obj, &base.heads)?, doc.text_at(&obj, &heads)?);
            if from != to {
                rebased = Some(splice::rebase(splices, &from, &to));
            }
        }
        let splices = rebased.as_deref().unwrap_or(splices);
        let mut tx = doc.transaction_at(PatchLog::inactive(), &heads).map_err(|e| DocError::Change(e.to_string()))?;
        if let Err(e) = splice_in(&mut tx, id, splices) {
            tx.rollback();
            return Err(e);
        }
        let hash = tx.commit().0;
        match self.queue(&key, hash) {
            Some(hash) => Ok(Version { doc: key, heads: vec![hash] }),
            None => Ok(Version { doc: key, heads }),
        }
    }

    /// Queues a just-committed local change for the peers.
    fn queue(&mut self, key: &DocKey, hash: Option<ChangeHash>) -> Option<ChangeHash> {
        let hash = hash?;
        let bytes = self.part(key).and_then(|p| p.doc.get_change_by_hash(&hash)).map(|c| c.raw_bytes().to_vec());
        match bytes {
            Some(bytes) => {
                self.unsaved.entry(key.clone()).or_default().extend_from_slice(&bytes);
                self.outbox.push((key.clone(), bytes));
            }
            None => {
                self.changed.insert(key.clone());
            }
        }
        Some(hash)
    }

    /// Local changes made since the last call, encoded for the wire, each
    /// with its document.
    /// The text files and whether the tree that changes waiting to go out touch.
    pub fn outgoing(&self) -> (BTreeSet<FileId>, bool) {
        let mut files = BTreeSet::new();
        let mut tree = false;
        for (key, _) in &self.outbox {
            match key {
                DocKey::Tree => tree = true,
                DocKey::File(id) => drop(files.insert(id.clone())),
            }
        }
        (files, tree)
    }

    pub fn take_changes(&mut self) -> Option<Vec<(DocKey, Vec<u8>)>> {
        (!self.outbox.is_empty()).then(|| std::mem::take(&mut self.outbox))
    }

    /// Applies encoded changes received from peers (see [`Self::apply_decoded`]).
    pub fn apply_changes(&mut self, changes: Vec<(DocKey, Vec<u8>)>) -> Result<Touched, DocError> {
        let decoded = Self::decode_changes(changes)?;
        self.apply_decoded(vec![decoded])
    }

    /// Decodes one peer's encoded changes, all or none: a peer whose bytes
    /// do not decode is found before any change of its batch is applied.
    pub fn decode_changes(changes: Vec<(DocKey, Vec<u8>)>) -> Result<Decoded, DocError> {
        changes
            .into_iter()
            .map(|(key, bytes)| Ok((key, automerge::Change::from_bytes(bytes).map_err(|e| DocError::Change(e.to_string()))?)))
            .collect::<Result<_, DocError>>()
            .map(Decoded)
    }

    /// Applies decoded changes from one or several peers, each document's in
    /// one call (the cost of applying grows with that document's history,
    /// not the batch). Changes whose dependencies are neither held nor in
    /// the batch are left out ([`Touched::incomplete`]).
    pub fn apply_decoded(&mut self, batches: Vec<Decoded>) -> Result<Touched, DocError> {
        let mut by_doc: BTreeMap<DocKey, Vec<automerge::Change>> = BTreeMap::new();
        for (key, change) in batches.into_iter().flat_map(|d| d.0) {
            by_doc.entry(key).or_default().push(change);
        }
        self.admit(by_doc.keys())?;
        let mut touched = Touched::default();
        for (key, changes) in by_doc {
            let (changes, left_out) = complete(self.part(&key).map(|p| &p.doc), changes);
            if left_out {
                touched.incomplete.insert(key.clone());
            }
            if changes.is_empty() {
                continue;
            }
            let mut log = patch_log(&key);
            let keep = self.entries_kept(&key);
            let before = self.hashes_if_diverted(&key);
            let heads = self.heads(&key);
            let raw: Vec<u8> = changes.iter().flat_map(|c| c.raw_bytes().iter().copied()).collect();
            guarded(&mut self.part_mut(&key).doc, |doc| doc.apply_changes_log_patches(changes, &mut log), keep)?;
            self.unsaved.entry(key.clone()).or_default().extend_from_slice(&raw);
            if key == DocKey::Tree {
                self.resolve_roots();
            }
            touched.merge(self.touched(&key, &heads, &mut log, before.as_ref()));
        }
        Ok(touched)
    }

    /// A document's heads (none for one not held).
    fn heads(&self, key: &DocKey) -> Vec<ChangeHash> {
        self.part(key).map(|p| p.doc.get_heads()).unwrap_or_default()
    }

    /// Each entry's text hash, for the tree while a member's change has
    /// replaced the root: patches then say nothing of the entries read here,
    /// and comparing hashes finds the texts that changed without reading
    /// any file.
    fn hashes_if_diverted(&self, key: &DocKey) -> Option<HashMap<String, Option<String>>> {
        (*key == DocKey::Tree && self.roots.diverted).then(|| self.entry_hashes())
    }

    fn entry_hashes(&self) -> HashMap<String, Option<String>> {
        let doc = &self.tree.doc;
        let Ok(entries) = self.entries() else { return HashMap::new() };
        doc.keys(&entries).map(|k| (k.clone(), get_obj(doc, &entries, &k).and_then(|e| get_str(doc, &e, "hash")))).collect()
    }

    /// What [`guarded`] checks after a peer's input to `key`: the tree may
    /// not grow past [`MAX_ENTRIES`] entries, members and terminals.
    fn entries_kept(&self, key: &DocKey) -> Option<EntryLimit> {
        (*key == DocKey::Tree).then(|| EntryLimit { first: self.first.clone(), max: self.max_entries, before: count_in(&self.tree.doc, &self.roots) })
    }

    /// Keeps only base changes (PROTOCOL.md §5.5, 4) of files the tree
    /// lists as text, which a peer that may not edit makes when it opens a
    /// file nobody edited, exactly as any other peer would: they put there
    /// the text its entry names, and change nothing. Returns how many
    /// changes were left out.
    pub fn keep_base_only(&self, decoded: &mut Decoded) -> usize {
        let before = decoded.0.len();
        decoded.0.retain(|(key, change)| self.is_base_change(key, change));
        before - decoded.0.len()
    }

    fn is_base_change(&self, key: &DocKey, change: &automerge::Change) -> bool {
        let DocKey::File(id) = key else { return false };
        let doc = &self.tree.doc;
        let Some(entry) = self.entries().ok().and_then(|entries| get_obj(doc, &entries, id.as_str())) else { return false };
        let text_hash = (get_str(doc, &entry, "kind").as_deref() == Some("text")).then(|| get_str(doc, &entry, "hash")).flatten();
        text_hash.is_some_and(|hash| is_base_change(id, &hash, change))
    }

    /// Handles one sync protocol message of one document from a peer.
    pub fn receive_sync(&mut self, state: &mut SyncState, key: &DocKey, msg: &[u8]) -> Result<Touched, DocError> {
        self.receive_sync_from(state, key, msg, false)
    }

    /// [`Self::receive_sync`], from a peer that may not edit when
    /// `only_base`: of the changes its message brings, only base changes
    /// ([`Decoded::keep_base_only`]) are kept.
    pub fn receive_sync_from(&mut self, state: &mut SyncState, key: &DocKey, msg: &[u8], only_base: bool) -> Result<Touched, DocError> {
        let mut msg = sync::Message::decode(msg).map_err(|e| DocError::SyncMessage(e.to_string()))?;
        if only_base && !msg.changes.is_empty() {
            let kept: Vec<Vec<u8>> = msg
                .changes
                .iter()
                .filter(|bytes| automerge::Change::from_bytes(bytes.to_vec()).is_ok_and(|c| self.is_base_change(key, &c)))
                .map(<[u8]>::to_vec)
                .collect();
            msg.changes = kept.into();
        }
        self.admit([key])?;
        let mut log = patch_log(key);
        let heads = self.heads(key);
        let sync = state.0.entry(key.clone()).or_default();
        let before = sync.clone();
        let keep = self.entries_kept(key);
        let hashes = self.hashes_if_diverted(key);
        if let Err(e) = guarded(&mut self.part_mut(key).doc, |doc| doc.receive_sync_message_log_patches(sync, msg, &mut log), keep) {
            *sync = before;
            return Err(e);
        }
        self.changed.insert(key.clone());
        if *key == DocKey::Tree {
            self.resolve_roots();
        }
        let mut touched = self.touched(key, &heads, &mut log, hashes.as_ref());
        if self.drop_queued(key)? {
            touched.incomplete.insert(key.clone());
        }
        Ok(touched)
    }

    /// Changes a sync message brought whose dependencies this peer does not
    /// hold wait inside Automerge, without bound; an honest peer's sync
    /// leaves none for long (the next round brings what they need). So none
    /// are kept: the document is saved and loaded again without them, and
    /// its sync starts over. True when there were some.
    fn drop_queued(&mut self, key: &DocKey) -> Result<bool, DocError> {
        let part = match key {
            DocKey::Tree => Some(&mut self.tree),
            DocKey::File(id) => self.files.get_mut(id),
        };
        part.map_or(Ok(false), Part::drop_queued)
    }

    /// True once the peer has told us the heads of the tree, and we hold
    /// them and those of every content document it told us of.
    pub fn caught_up(&self, state: &SyncState) -> bool {
        let held = |key: &DocKey| match (state.0.get(key).and_then(|s| s.their_heads.as_ref()), self.part(key)) {
            (Some(heads), Some(part)) => heads.iter().all(|h| has_change(&part.doc, h)),
            _ => false,
        };
        held(&DocKey::Tree) && state.0.iter().filter(|(_, s)| s.their_heads.is_some()).all(|(key, _)| held(key))
    }

    /// The sync protocol messages due for a peer, one per document at most.
    pub fn generate_sync(&mut self, state: &mut SyncState) -> Vec<(DocKey, Vec<u8>)> {
        let keys: Vec<DocKey> = std::iter::once(DocKey::Tree).chain(self.live_files().map(|(id, _)| DocKey::File(id.clone()))).collect();
        let mut out = Vec::new();
        for key in keys {
            let sync = state.0.entry(key.clone()).or_default();
            if let Some(m) = self.part_mut(&key).doc.generate_sync_message(sync) {
                out.push((key, m.encode()));
            }
        }
        out
    }

    /// What the changes recorded in `log` touched. The patch log is filled
    /// while changes are applied; diffing heads afterwards would scan the
    /// whole history (tens of ms on a long one).
    ///
    /// `before` holds each entry's text hash before the changes, when the
    /// root was already replaced (see [`Self::hashes_if_diverted`]).
    fn touched(&self, key: &DocKey, heads: &[ChangeHash], log: &mut PatchLog, before: Option<&HashMap<String, Option<String>>>) -> Touched {
        let mut touched = Touched::default();
        let id = match key {
            DocKey::Tree => None,
            DocKey::File(id) => Some(id),
        };
        let Some(part) = self.part(key) else {
            return touched;
        };
        if let Some(id) = id {
            if part.doc.get_heads() != heads {
                touched.texts.insert(id.clone());
            }
            return touched;
        }
        let patches = part.doc.make_patches(log);
        if self.roots.diverted {
            // Patches describe the objects now at the root, not the ones
            // read here: the tree is taken as changed, and the texts whose
            // entries name another text than before (all of them, the first
            // time).
            let now = self.entry_hashes();
            let texts = now
                .into_iter()
                .filter(|(id, hash)| before.is_none_or(|b| b.get(id) != Some(hash)))
                .filter_map(|(id, _)| FileId::parse(&id))
                .collect();
            return Touched { tree: true, texts, terminals: true, roster: true, ..Touched::default() };
        }
        for patch in patches {
            match patch.path.as_slice() {
                [(_, Prop::Map(top)), rest @ ..] if top == "entries" => match rest {
                    [] => touched.tree = true,
                    [(_, Prop::Map(id)), more @ ..] => {
                        let Some(id) = FileId::parse(id) else {
                            continue;
                        };
                        if more.is_empty() {
                            touched.tree = true;
                        }
                        touched.texts.insert(id);
                    }
                    _ => {}
                },
                [(_, Prop::Map(top)), ..] if top == "terminals" => touched.terminals = true,
                [(_, Prop::Map(top)), ..] if top == "peers" => touched.roster = true,
                [] => match &patch.action {
                    automerge::PatchAction::PutMap { key, .. } if key == "terminals" => touched.terminals = true,
                    _ => touched.tree = true,
                },
                _ => {}
            }
        }
        touched
    }
}

#[cfg(test)]
impl WorkspaceDoc {
    /// A change that puts new objects and values at the tree's root, as a
    /// hostile member's would.
    pub(crate) fn replace_root_for_test(&mut self) -> Vec<u8> {
        let mut tx = self.tree.doc.transaction();
        for key in ["entries", "peers", "terminals"] {
            tx.put_object(ROOT, key, ObjType::Map).expect("put");
        }
        tx.put(ROOT, "schema", 99u64).expect("put");
        tx.put(ROOT, "workspace", "elsewhere").expect("put");
        tx.commit();
        self.tree.doc.get_last_local_change().expect("change").raw_bytes().to_vec()
    }
}

/// Runs the sync protocol between two documents until it settles, as two
/// peers do when they connect.
#[cfg(test)]
pub(crate) fn sync_pair(a: &mut WorkspaceDoc, b: &mut WorkspaceDoc) {
    let (mut sa, mut sb) = (SyncState::default(), SyncState::default());
    for _ in 0..20 {
        let m1 = a.generate_sync(&mut sa);
        for (key, m) in &m1 {
            b.receive_sync(&mut sb, key, m).expect("sync");
        }
        let m2 = b.generate_sync(&mut sb);
        for (key, m) in &m2 {
            a.receive_sync(&mut sa, key, m).expect("sync");
        }
        if m1.is_empty() && m2.is_empty() {
            return;
        }
    }
    panic!("sync did not settle");
}

#[cfg(test)]
mod tests;
