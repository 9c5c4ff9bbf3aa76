//! Keeps the workspace folder and the document in step, in both directions.
//!
//! For every file it has written or read, it remembers the text that is on
//! disk and the document version that text belongs to. A change on disk is
//! diffed against that text, and the splices are applied *at that version*,
//! so an edit made on disk while remote changes were arriving merges exactly
//! like a concurrent peer's edit. Before a remote change is written, any
//! unsynced edit on disk is taken in first: nothing typed is overwritten.
//!
//! This module is synchronous and does no networking; the engine feeds it
//! watcher batches and remote changes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::roster::Roster;
use super::state::{self, FileRecord, Records};
use crate::doc::{Content, DocError, FileId, Kind, Member, Touched, Tree, Version, WorkspaceDoc, content_hash, splice};
use crate::fs::sandbox::TEMP_SUFFIX;
use crate::fs::watcher::FsChange;
use crate::fs::{FileContent, FsError, IgnoreRules, Node, Sandbox, Swapped};
use crate::link::{Identity, LinkError};
use crate::path::RelPath;
use crate::protocol::PeerId;

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error(transparent)]
    Doc(#[from] DocError),
    #[error(transparent)]
    Path(#[from] crate::path::PathError),
    #[error("{0} is not a shared text file")]
    NotSharedText(RelPath),
    #[error("{0} is not shared in this workspace")]
    NotShared(RelPath),
    #[error("{0} already exists")]
    Exists(RelPath),
    #[error("{0} holds a file this peer does not share: it is not overwritten")]
    Private(RelPath),
    #[error("could not sign our roster entry: {0}")]
    Sign(#[from] LinkError),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error("cancelled")]
    Cancelled,
}

/// How far a scan of the folder got, and a way to stop it: a host shown
/// "reading 12,000 of 80,000 files" can tell a home folder picked by
/// mistake, and cancel.
#[derive(Debug, Default)]
pub struct ScanProgress {
    /// Paths found to take in (0 while the folder is still being listed).
    pub found: AtomicUsize,
    /// Paths taken in so far.
    pub read: AtomicUsize,
    cancelled: AtomicBool,
}

impl ScanProgress {
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

/// What this peer last wrote to or read from disk for one entry.
#[derive(Debug, Clone)]
struct OnDisk {
    path: RelPath,
    /// The text on disk; `None` for a folder.
    text: Option<String>,
    /// The document version `text` corresponds to.
    version: Version,
}

impl OnDisk {
    fn record(&self) -> FileRecord {
        FileRecord { path: self.path.clone(), hash: self.text.as_deref().map(content_hash).unwrap_or_default(), version: self.version.to_strings() }
    }
}

pub struct Workspace {
    sandbox: Sandbox,
    rules: IgnoreRules,
    doc: WorkspaceDoc,
    tree: Tree,
    disk: HashMap<FileId, OnDisk>,
    /// Files edited through [`Self::edit`] and not yet written.
    unwritten: std::collections::BTreeSet<FileId>,
    /// Whether records go to the state folder's logs (not before a joiner
    /// has the workspace).
    journal: bool,
    /// Bytes appended to the change log since the last snapshot.
    logged: usize,
    /// Files this peer replaced lately, still open, per entry.
    swapped: HashMap<FileId, Vec<SwappedOut>>,
    /// Writes found in swaps as they were retired, for [`Self::check_swapped`].
    late: Vec<LateWrite>,
    /// Some entry could not be written for a reason other than its content
    /// not having arrived: [`Self::retry_unwritten`] tries again.
    pending: bool,
    /// Some entry could not be moved where the tree has it.
    moves_pending: bool,
    /// Texts received by hash and not yet written (see [`Self::add_blob`]).
    blobs: HashMap<String, String>,
    /// The files waiting for each text, as [`Self::wanted`] last found them.
    waiting: HashMap<String, Vec<FileId>>,
    /// Never-edited files a peer replaced, with the text this peer had: it
    /// is overwritten by the new text, not set aside.
    replaced: HashMap<FileId, String>,
    /// Never-edited files changed while this peer was not running, and
    /// where they are. The text they were changed from is fetched again.
    offline: HashMap<FileId, RelPath>,
    /// Entries of the document at paths this peer's own rules keep
    /// unshared: refused here, whoever made them.
    private: BTreeMap<FileId, RelPath>,
    /// The members that proved their roster entries.
    roster: Roster,
    /// When we last wrote our roster entry again.
    roster_rewritten: Option<Instant>,
    /// The host's word lets this peer change nothing: what its user writes
    /// on disk is never taken into the document.
    read_only: bool,
    /// Our own user changed a `.gitignore`: the folder is scanned again
    /// once the change is seen on disk.
    ignores_owned: bool,
    /// Changes seen on disk and not yet taken in (see [`Self::take_in_for`]).
    intake: VecDeque<FsChange>,
    /// Reports of files this peer itself replaced a moment ago, mostly its
    /// own writes coming back: taken in after everything else, so that a
    /// user's save is not queued behind hundreds of them in a mass change.
    echoes: VecDeque<RelPath>,
}

const IGNORE_FILE: &str = ".gitignore";
/// The change log's size beyond which a checkpoint asks for a full snapshot.
const COMPACT_AFTER: usize = 16 * 1024 * 1024;
/// How often our roster entry is written again when peers write over it.
const ROSTER_REWRITE_EVERY: Duration = Duration::from_secs(5);

/// How long a replaced file is watched for late writes, and how many per file.
const SWAP_WATCH: Duration = Duration::from_secs(2);
const MAX_SWAPS: usize = 8;

/// What a program wrote to a file this peer had replaced: `theirs` is
/// the old file's text, `base` what it held at the swap, at `version`.
struct LateWrite {
    id: FileId,
    base: String,
    version: Version,
    theirs: String,
}

/// A file replaced by this peer, and the version of the text it held.
struct SwappedOut {
    old: Swapped,
    version: Version,
    until: Instant,
}

impl Workspace {
    /// `records` says what this peer last wrote to each file before it
    /// stopped (empty for a new workspace). A file that holds neither the
    /// last nor the previous record's text was edited while the peer was not
    /// running; [`Self::rescan`] takes that edit in at the recorded version.
    pub fn open(sandbox: Sandbox, doc: WorkspaceDoc, records: &Records) -> Result<Self, WorkspaceError> {
        // A new workspace's folder is its host's own: its rules are the user's.
        let users_folder = doc.is_initialized() && doc.tree().entries.is_empty();
        let rules = own_offline_ignores(&sandbox, IgnoreRules::open(&sandbox, users_folder)?, records)?;
        let (tree, private) = shared_tree(&doc, &rules);
        let mut disk = HashMap::new();
        let mut offline = HashMap::new();
        for (id, (prev, last)) in records {
            let Some(kind) = tree.entries.get(id).map(|e| e.kind) else {
                continue;
            };
            if kind == Kind::Dir {
                disk.insert(id.clone(), OnDisk { path: last.path.clone(), text: None, version: doc.version_of(id) });
                continue;
            }
            if kind != Kind::Text {
                continue;
            }
            if !doc.has_content(id) {
                // Never edited: it holds the text its entry names; gone, it is
                // taken as deleted by [`Self::rescan`]; changed while this
                // peer was away, the change is taken in once the text it was
                // made from is back (see [`Self::take_in_offline`]).
                let named = tree.entries.get(id).and_then(|e| e.hash.clone());
                let text = match sandbox.read(&last.path)? {
                    Node::File(FileContent::Text(t)) if named.as_deref() != Some(content_hash(&t).as_str()) => {
                        offline.insert(id.clone(), last.path.clone());
                        continue;
                    }
                    Node::File(FileContent::Text(t)) => t,
                    // Gone: the base text stands in for it until the rescan
                    // takes the deletion in.
                    _ => String::new(),
                };
                disk.insert(id.clone(), OnDisk { path: last.path.clone(), text: Some(text), version: doc.version_of(id) });
                continue;
            }
            // A record made before the file had a document holds the text its
            // document started from.
            let text_of = |r: &FileRecord| -> Option<(Version, String)> {
                let v = Version::parse(&r.version)?;
                let v = if doc.holds_version_of(id, &v) { v } else { doc.base_version(id).ok()? };
                let t = doc.text_at(id, &v).ok()?;
                Some((v, t))
            };
            let on_disk = match sandbox.read(&last.path)? {
                Node::File(FileContent::Text(t)) => Some(t),
                _ => None,
            };
            let hash = on_disk.as_deref().map(content_hash);
            // Which record the disk holds: the last one (written), the one
            // before (the last write did not happen), or, edited since, the
            // one it differs from by the fewest deletions: an edit made
            // after a crash builds on what was on disk.
            let records: Vec<&FileRecord> = std::iter::once(last).chain(prev.as_ref()).collect();
            let deleted = |base: &str| on_disk.as_deref().map_or(0, |d| splice::diff(base, d).iter().map(|s| s.delete).sum::<usize>());
            let found = match records.iter().find(|r| hash.as_ref() == Some(&r.hash)) {
                Some(r) => text_of(r),
                None => records.iter().filter_map(|r| text_of(r)).min_by_key(|(_, t)| deleted(t)),
            };
            let (version, text) = match found {
                Some((v, t)) => (v, Some(t)),
                None => (doc.version_of(id), Some(doc.text(id)?)),
            };
            disk.insert(id.clone(), OnDisk { path: last.path.clone(), text, version });
        }
        let roster = Roster::new(doc.session().unwrap_or_default());
        let mut ws = Self {
            sandbox,
            rules,
            doc,
            tree,
            disk,
            unwritten: Default::default(),
            journal: false,
            logged: 0,
            swapped: HashMap::new(),
            late: Vec::new(),
            pending: false,
            moves_pending: false,
            blobs: HashMap::new(),
            waiting: HashMap::new(),
            replaced: HashMap::new(),
            offline,
            private,
            roster,
            roster_rewritten: None,
            read_only: false,
            ignores_owned: false,
            intake: VecDeque::new(),
            echoes: VecDeque::new(),
        };
        ws.roster.refresh(ws.doc.enrollments());
        Ok(ws)
    }

    /// From now on, every record is appended to the state folder's logs
    /// before the file it describes is written (call after a full save).
    pub fn enable_journal(&mut self) {
        self.journal = true;
        self.logged = 0;
    }

    /// Appends what the document gained since the last snapshot or
    /// checkpoint to the change log (file records are journaled as they are
    /// written): the cost is that of the new changes, not of the whole
    /// workspace. True when a full snapshot is due instead (none was taken
    /// yet, or the log has grown past [`COMPACT_AFTER`]).
    pub fn checkpoint(&mut self) -> Result<bool, WorkspaceError> {
        if !self.journal {
            return Ok(true);
        }
        let changes = self.doc.save_incremental();
        if !changes.is_empty() {
            state::append_changes(&self.sandbox, &changes)?;
            self.logged += changes.len();
        }
        Ok(self.logged > COMPACT_AFTER)
    }

    /// Each file's record, for a snapshot.
    pub fn records(&self) -> BTreeMap<FileId, FileRecord> {
        let mut records: BTreeMap<FileId, FileRecord> = self.disk.iter().map(|(id, d)| (id.clone(), d.record())).collect();
        // Files whose change made while away waits for its base: found
        // again at the next start the same way.
        for (id, path) in &self.offline {
            records.insert(id.clone(), FileRecord { path: path.clone(), hash: String::new(), version: self.doc.version_of(id).to_strings() });
        }
        records
    }

    /// Remembers what is (about to be) on disk for `id`, in the journal too.
    fn keep(&mut self, id: FileId, on_disk: OnDisk) {
        if on_disk.path.name() == IGNORE_FILE
            && let Some(text) = &on_disk.text
            && self.rules.note_known(&on_disk.path, text)
            && let Err(e) = self.rules.save(&self.sandbox)
        {
            tracing::warn!(error = %e, "could not remember a .gitignore text");
        }
        if self.journal {
            let changes = self.doc.save_incremental();
            self.logged += changes.len();
            let result =
                state::append_changes(&self.sandbox, &changes).and_then(|()| state::append_record(&self.sandbox, &id, Some(&on_disk.record())));
            if let Err(e) = result {
                tracing::warn!(error = %e, "could not append to the state logs");
            }
        }
        self.disk.insert(id, on_disk);
    }

    /// Forgets a file this peer no longer has on disk.
    fn forget(&mut self, id: &FileId) {
        if self.disk.remove(id).is_some()
            && self.journal
            && let Err(e) = state::append_record(&self.sandbox, id, None)
        {
            tracing::warn!(error = %e, "could not append to the state logs");
        }
    }

    pub fn doc(&mut self) -> &mut WorkspaceDoc {
        &mut self.doc
    }

    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The sandbox and the document at once, for saving.
    pub fn parts(&mut self) -> (&Sandbox, &mut WorkspaceDoc) {
        (&self.sandbox, &mut self.doc)
    }

    fn shared_text(&self, path: &RelPath) -> Result<FileId, WorkspaceError> {
        self.tree
            .by_path
            .get(path)
            .filter(|id| self.tree.entries.get(*id).map(|e| e.kind) == Some(Kind::Text) && self.disk.contains_key(*id))
            .cloned()
            .ok_or_else(|| WorkspaceError::NotSharedText(path.clone()))
    }

    /// The id of a shared text file.
    pub fn text_id(&self, path: &RelPath) -> Result<FileId, WorkspaceError> {
        self.shared_text(path)
    }

    /// The id of a shared text file an editor shows: positions in it need
    /// its content document, made now if nobody edited it yet.
    pub fn open_text(&mut self, path: &RelPath) -> Result<FileId, WorkspaceError> {
        let id = self.shared_text(path)?;
        self.ensure_content(&id)?;
        Ok(id)
    }

    /// The path of an entry named by an id a peer sent.
    pub fn path_of_id(&self, id: &str) -> Option<RelPath> {
        FileId::parse(id).and_then(|id| self.tree.entries.get(&id)).map(|e| e.path.clone())
    }

    /// Where a peer's cursor in a file is now, `None` if it is not valid here.
    pub fn cursor_position(&self, id: &str, cursor: &[u8]) -> Option<usize> {
        self.doc.cursor_position(&FileId::parse(id)?, cursor).ok()
    }

    /// A member's color from the roster.
    pub fn roster_color(&self, peer: &PeerId) -> Option<String> {
        self.roster.get(peer).map(|m| m.color.clone())
    }

    /// The roster's members that proved their entries, by peer id.
    pub fn roster(&self) -> BTreeMap<PeerId, Member> {
        self.roster.members()
    }

    /// Writes our own roster entry, signed with our certificate's key.
    pub fn enroll(&mut self, me: &Identity, member: Member) -> Result<(), WorkspaceError> {
        let peer = PeerId::of_certificate(&me.fingerprint);
        let entry = self.roster.sign(me, member)?;
        self.doc.set_member(peer.as_str(), &entry)?;
        self.roster.refresh(self.doc.enrollments());
        Ok(())
    }

    /// Takes in roster entries that arrived; if someone wrote over ours,
    /// writes it again.
    pub fn refresh_roster(&mut self, me: &Identity) -> Result<(), WorkspaceError> {
        let written = self.doc.enrollments();
        self.roster.refresh(written.clone());
        let peer = PeerId::of_certificate(&me.fingerprint);
        // Peers that saw ours keep believing it: writing it again is for
        // those that did not, and a peer that keeps writing over it gets an
        // answer now and then, not one for each of its changes.
        let due = self.roster_rewritten.is_none_or(|at| at.elapsed() >= ROSTER_REWRITE_EVERY);
        if due && self.roster.overwritten(&peer, &written) {
            let Some(ours) = self.roster.get(&peer).cloned() else { return Ok(()) };
            tracing::warn!("a peer wrote over our roster entry; writing it again");
            self.roster_rewritten = Some(Instant::now());
            self.enroll(me, ours)?;
        }
        Ok(())
    }

    /// The current text of a shared file, and the version it belongs to.
    pub fn text(&mut self, path: &RelPath) -> Result<(String, Version), WorkspaceError> {
        let id = self.shared_text(path)?;
        self.ensure_content(&id)?;
        Ok((self.doc.text(&id)?, self.doc.version_of(&id)))
    }

    /// What an editor showing the text of `since` must apply to show the
    /// current text.
    pub fn splices_since(&mut self, path: &RelPath, since: &Version) -> Result<(Vec<splice::Splice>, Version), WorkspaceError> {
        let id = self.shared_text(path)?;
        Ok(self.doc.splices_since(&id, since)?)
    }

    /// Applies an edit made in an editor whose text was that of `base` (or
    /// the current text when `None`): edits made against an older text merge
    /// with what arrived since, as a concurrent peer's would. The file is
    /// written by the next [`Self::write_edits`], once for any number of edits.
    /// Returns the version this edit made: the text of `base` with the edit.
    pub fn edit(&mut self, path: &RelPath, base: Option<&Version>, splices: &[splice::Splice]) -> Result<Version, WorkspaceError> {
        let id = self.shared_text(path)?;
        self.ensure_content(&id)?;
        let made = match base {
            Some(v) => self.doc.splice_at(v, &id, splices)?,
            None => {
                self.doc.splice(&id, splices)?;
                self.doc.version_of(&id)
            }
        };
        if path.name() == IGNORE_FILE {
            self.rules.own(path, Some(self.doc.text(&id)?));
            self.rules.save(&self.sandbox)?;
            self.ignores_owned = true;
        }
        self.unwritten.insert(id);
        Ok(made)
    }

    /// Writes the files changed by [`Self::edit`].
    pub fn write_edits(&mut self) {
        for id in std::mem::take(&mut self.unwritten) {
            if let Err(e) = self.sync_text(&id, None) {
                tracing::warn!(%id, error = %e, "could not write an edited file");
            }
        }
    }

    /// Paths of the given entries, for reporting what changed.
    pub fn paths_of<'a>(&self, ids: impl IntoIterator<Item = &'a FileId>) -> Vec<RelPath> {
        ids.into_iter().filter_map(|id| self.tree.entries.get(id).map(|e| e.path.clone())).collect()
    }

    /// Compares the whole folder with the document: takes in what changed on
    /// disk (also while this peer was not running) and writes what is
    /// missing on disk.
    pub fn rescan(&mut self) -> Result<(), WorkspaceError> {
        self.rescan_with(None)
    }

    /// [`Self::rescan`], counting in `progress` and stopping when it is
    /// cancelled (a host's first look at a large folder).
    pub fn rescan_with(&mut self, progress: Option<&ScanProgress>) -> Result<(), WorkspaceError> {
        self.rules = IgnoreRules::load(&self.sandbox)?;
        match self.sandbox.sweep_temps(&self.rules) {
            Ok(0) => {}
            Ok(n) => tracing::info!("removed {n} temporary files left by writes cut short"),
            Err(e) => tracing::warn!(error = %e, "could not look for temporary files left by writes cut short"),
        }
        self.refresh_tree();
        // Moves this peer had not finished (or started) when it stopped.
        self.apply_moves();
        let mut paths: Vec<RelPath> = self.sandbox.scan(&self.rules)?.into_iter().map(|(p, _)| p).collect();
        paths.extend(self.disk.values().map(|d| d.path.clone()));
        paths.sort_by(|a, b| a.depth().cmp(&b.depth()).then_with(|| a.cmp(b)));
        paths.dedup();
        if let Some(p) = progress {
            p.found.store(paths.len(), Ordering::Relaxed);
        }
        for path in paths {
            if let Some(p) = progress {
                if p.is_cancelled() {
                    return Err(WorkspaceError::Cancelled);
                }
                p.read.fetch_add(1, Ordering::Relaxed);
            }
            self.ingest_logged(&path);
        }
        self.materialize_new();
        Ok(())
    }

    /// Takes in one batch of changes seen by the watcher, all of it.
    pub fn ingest(&mut self, batch: Vec<FsChange>) -> Result<(), WorkspaceError> {
        self.queue_intake(batch);
        self.take_in_for(Duration::MAX)
    }

    /// Queues changes seen on disk, to be taken in a slice at a time.
    pub fn queue_intake(&mut self, batch: Vec<FsChange>) {
        if batch.contains(&FsChange::Rescan) {
            // A rescan covers whatever else waited.
            self.intake.clear();
            self.echoes.clear();
            self.intake.push_back(FsChange::Rescan);
            return;
        }
        for change in batch {
            match change {
                FsChange::Changed(path) if self.replaced_lately(&path) => self.echoes.push_back(path),
                change => self.intake.push_back(change),
            }
        }
    }

    /// Whether this peer replaced the file at `path` in the last seconds
    /// (see [`SWAP_WATCH`]): a report of it is most likely that write's.
    fn replaced_lately(&self, path: &RelPath) -> bool {
        self.tree.by_path.get(path).is_some_and(|id| self.swapped.contains_key(id))
    }

    /// Changes seen on disk still to take in.
    pub fn intake_left(&self) -> usize {
        self.intake.len() + self.echoes.len()
    }

    /// Takes in queued changes for about `budget` (at least one), so that
    /// a branch switch of hundreds of files never holds up the peer's
    /// links for long: the caller serves them between slices.
    pub fn take_in_for(&mut self, budget: Duration) -> Result<(), WorkspaceError> {
        let start = Instant::now();
        let mut gitignore_changed = false;
        while let Some(change) = self.intake.pop_front().or_else(|| self.echoes.pop_front().map(FsChange::Changed)) {
            match change {
                FsChange::Rescan => {
                    self.intake.clear();
                    self.echoes.clear();
                    return self.rescan();
                }
                FsChange::Changed(path) => {
                    gitignore_changed |= self.note_ignore_file(&path);
                    self.ingest_logged(&path);
                }
                FsChange::Renamed { from, to } => {
                    gitignore_changed |= self.note_ignore_file(&from) | self.note_ignore_file(&to);
                    if let Err(e) = self.ingest_rename(&from, &to) {
                        tracing::warn!(%from, %to, error = %e, "could not take in a rename");
                    }
                }
            }
            if start.elapsed() >= budget {
                break;
            }
        }
        if gitignore_changed && std::mem::take(&mut self.ignores_owned) {
            // Our own user's rules may share files they ignored before.
            self.rules.save(&self.sandbox)?;
            self.intake.clear();
            self.echoes.clear();
            return self.rescan();
        }
        if gitignore_changed {
            self.rules = IgnoreRules::load(&self.sandbox)?;
            self.refresh_tree();
        }
        Ok(())
    }

    /// Whether what this peer's user writes on disk is taken in (see [`Self::undo_writes`]).
    pub fn set_read_only(&mut self, read_only: bool) {
        self.read_only = read_only;
    }

    /// For a peer that may not change shared files: puts every shared file
    /// or folder the batch touched back as the session has it. A text the
    /// user wrote over a shared file is kept in `.nitro/unshared/`; files
    /// the session does not list stay as they are (they are not shared).
    /// Returns the paths put back, with where each user's text went.
    pub fn undo_writes(&mut self, batch: Vec<FsChange>) -> Vec<(RelPath, Option<PathBuf>)> {
        let mut paths: Vec<RelPath> = Vec::new();
        for change in batch {
            match change {
                FsChange::Rescan => paths.extend(self.disk.values().map(|d| d.path.clone())),
                FsChange::Changed(p) => paths.push(p),
                FsChange::Renamed { from, to } => paths.extend([from, to]),
            }
        }
        // A folder removed with what it held: all of it comes back.
        let gone_dirs: Vec<RelPath> = paths.iter().filter(|p| matches!(self.sandbox.read(p), Ok(Node::Missing))).cloned().collect();
        paths.extend(self.disk.values().filter(|d| gone_dirs.iter().any(|g| d.path.starts_with(g) && d.path != *g)).map(|d| d.path.clone()));
        paths.sort_by(|a, b| a.depth().cmp(&b.depth()).then_with(|| a.cmp(b)));
        paths.dedup();
        let mut undone = Vec::new();
        for path in paths {
            match self.undo_write(&path) {
                Ok(Some(kept)) => undone.push((path, kept)),
                Ok(None) => {}
                Err(e) => tracing::warn!(%path, error = %e, "could not put a shared file back"),
            }
        }
        undone
    }

    /// Puts one path back; `Some` when it differed (with the user's kept text).
    fn undo_write(&mut self, path: &RelPath) -> Result<Option<Option<PathBuf>>, WorkspaceError> {
        let Some(id) = self.tree.by_path.get(path).cloned() else { return Ok(None) };
        let Some(rec) = self.disk.get(&id).cloned() else { return Ok(None) };
        let shared = match rec.text {
            None => None,
            Some(written) => Some(if self.doc.has_content(&id) { self.doc.text(&id)? } else { written }),
        };
        let node = self.sandbox.read(path)?;
        Ok(match (shared, node) {
            (None, Node::Dir) => None,
            (None, _) => {
                self.sandbox.create_dir(path)?;
                Some(None)
            }
            (Some(text), Node::File(FileContent::Text(now))) if now == text => None,
            (Some(text), Node::File(FileContent::Text(now))) => {
                let kept = self.sandbox.keep_unshared(path, now.as_bytes())?;
                self.sandbox.write_text(path, &text)?;
                Some(Some(kept))
            }
            (Some(text), Node::Missing) => {
                self.sandbox.write_text(path, &text)?;
                Some(None)
            }
            // Now binary, too large or a folder: left as the user made it.
            (Some(_), _) => {
                tracing::warn!(%path, "a shared file became something this peer cannot put back; left as it is");
                None
            }
        })
    }

    /// Whether `path` is a `.gitignore`; if this peer's own user changed it
    /// (the disk does not hold what this peer last wrote or read there), its
    /// text becomes the one this peer stands behind.
    fn note_ignore_file(&mut self, path: &RelPath) -> bool {
        if path.name() != IGNORE_FILE {
            return false;
        }
        let on_disk = match self.sandbox.read(path) {
            Ok(Node::File(FileContent::Text(t))) => Some(t),
            _ => None,
        };
        let ours = self.tree.by_path.get(path).and_then(|id| self.disk.get(id)).and_then(|d| d.text.clone());
        // A text this peer ever wrote or read there is not its user's, even
        // when its record was dropped since.
        let by_user = match &on_disk {
            Some(text) => !self.rules.is_known(path, text),
            None => ours.is_some(),
        };
        if by_user {
            self.rules.own(path, on_disk);
            self.ignores_owned = true;
        }
        true
    }

    fn ingest_logged(&mut self, path: &RelPath) {
        if let Err(e) = self.ingest_path(path) {
            tracing::warn!(%path, error = %e, "could not take in a change on disk");
        }
    }

    fn ingest_rename(&mut self, from: &RelPath, to: &RelPath) -> Result<(), WorkspaceError> {
        let moved = self.tree.by_path.get(from).filter(|id| self.disk.contains_key(*id)).cloned();
        let to_node = self.sandbox.read(to)?;
        let shared = !matches!(to_node, Node::Missing | Node::Other) && !self.rules.withholds(to, to_node == Node::Dir);
        match moved {
            Some(id) if shared && !self.tree.by_path.contains_key(to) => {
                let parent = self.ensure_parent(to)?;
                self.doc.rename(&id, parent.as_ref(), to.name())?;
                // Folders merged into this one go with it.
                let merged: Vec<FileId> = self.tree.merged.iter().filter(|(_, p)| *p == from).map(|(m, _)| m.clone()).collect();
                for m in merged {
                    self.doc.rename(&m, parent.as_ref(), to.name())?;
                }
                self.move_in_tree(from, to);
                self.ingest_path(to)
            }
            _ => {
                self.ingest_path(from)?;
                self.ingest_path(to)
            }
        }
    }

    /// Takes in whatever is now at `path` (nothing, on a read-only peer).
    fn ingest_path(&mut self, path: &RelPath) -> Result<(), WorkspaceError> {
        if self.read_only {
            return Ok(());
        }
        let node = self.sandbox.read(path)?;
        if self.rules.withholds(path, node == Node::Dir) {
            return Ok(());
        }
        let existing = self.tree.by_path.get(path).cloned();
        match (existing, node) {
            (None, Node::Missing | Node::Other) => {}
            (None, Node::Dir) => self.add_dir_tree(path)?,
            (None, Node::File(content)) => {
                self.create_entry(path, to_content(content))?;
            }
            (Some(id), Node::Missing | Node::Other) => {
                // Listed-only entries of other peers are absent here by design.
                if self.disk.contains_key(&id) {
                    self.remove_entry(&id)?;
                }
            }
            (Some(id), Node::Dir) => {
                if self.tree.entries.get(&id).map(|e| e.kind) != Some(Kind::Dir) {
                    self.remove_entry(&id)?;
                    self.add_dir_tree(path)?;
                } else {
                    if !self.disk.contains_key(&id) {
                        let version = self.doc.version_of(&id);
                        self.keep(id, OnDisk { path: path.clone(), text: None, version });
                    }
                    self.adopt_untracked(path)?;
                }
            }
            (Some(id), Node::File(content)) => {
                let kind = self.tree.entries.get(&id).map_or(Kind::Dir, |e| e.kind);
                match (kind, content) {
                    (Kind::Dir, content) => {
                        self.remove_entry(&id)?;
                        self.create_entry(path, to_content(content))?;
                    }
                    (Kind::Text, FileContent::Text(text)) => self.sync_text(&id, Some(text))?,
                    (_, FileContent::Text(text)) => {
                        let content = Content::Text(text.clone());
                        self.doc.set_kind(&id, &content)?;
                        self.set_tree_kind(&id, &content);
                        let version = self.doc.version_of(&id);
                        self.keep(id, OnDisk { path: path.clone(), text: Some(text), version });
                    }
                    (old, content) => {
                        let content = to_content(content);
                        let (new_kind, size, _) = entry_meta(&content);
                        let entry_size = self.tree.entries.get(&id).and_then(|e| e.size);
                        if old != new_kind || entry_size != size {
                            self.doc.set_kind(&id, &content)?;
                            self.set_tree_kind(&id, &content);
                        }
                        // The other peers keep their last text copy; this one is no longer shared.
                        self.forget(&id);
                    }
                }
            }
        }
        Ok(())
    }

    /// Brings one text file and its entry together. `on_disk` is what the
    /// file holds now (`None`: read it). An edit on disk is merged into the
    /// document at the version it was based on, then the merged text is
    /// written back if it differs from the disk.
    fn sync_text(&mut self, id: &FileId, on_disk: Option<String>) -> Result<(), WorkspaceError> {
        let Some(rec) = self.disk.get(id).cloned() else {
            return Ok(());
        };
        let on_disk = match on_disk {
            Some(t) => t,
            None => match self.sandbox.read(&rec.path)? {
                Node::File(FileContent::Text(t)) => t,
                // Gone or no longer text: the watcher reports that change itself.
                _ => return Ok(()),
            },
        };
        let base = rec.text.clone().unwrap_or_default();
        if !self.doc.has_content(id) {
            if on_disk == base {
                return Ok(());
            }
            // The first edit of this file: its document starts from the text
            // on disk before it (which its entry names).
            self.ensure_content(id)?;
        } else if on_disk == base && self.doc.version_of(id) == rec.version {
            // The disk holds what was last written or read, and the document
            // has not moved since (the watcher reporting this peer's own
            // write, say): nothing to take in, write or journal.
            return Ok(());
        }
        // A text recorded before the file had a document is that
        // document's base.
        let rec_version = if self.doc.holds_version_of(id, &rec.version) { rec.version.clone() } else { self.doc.base_version(id)? };
        // What is on disk, and the document version whose text that is.
        let disk_version = if on_disk == base { rec_version } else { self.take_in(id, &base, &rec_version, &on_disk)? };
        let merged = self.doc.text(id)?;
        let version = self.doc.version_of(id);
        // Recorded first: a crash before the write then reads as a write that
        // did not happen, not as an edit of the user's.
        self.keep(id.clone(), OnDisk { path: rec.path.clone(), text: Some(merged.clone()), version });
        if merged == on_disk {
            return Ok(());
        }
        match self.sandbox.replace_text(&rec.path, &on_disk, &merged)? {
            Some(old) => {
                let watch = Instant::now() + SWAP_WATCH;
                let pending = self.swapped.entry(id.clone()).or_default();
                // The oldest goes first, after a last look: a write it got
                // is taken in at the next check, never dropped.
                if pending.len() >= MAX_SWAPS {
                    let mut oldest = pending.remove(0);
                    if let Some(theirs) = oldest.old.edited() {
                        self.late.push(LateWrite { id: id.clone(), base: oldest.old.expected().to_owned(), version: oldest.version, theirs });
                    }
                }
                pending.push(SwappedOut { old, version: disk_version, until: watch });
            }
            None => {
                // Changed on disk meanwhile: the watcher brings that edit,
                // which then merges from what the disk held before it.
                self.keep(id.clone(), OnDisk { path: rec.path, text: Some(on_disk), version: disk_version });
            }
        }
        Ok(())
    }

    /// Takes in a change made while this peer was not running to a file
    /// nobody had edited, now that `base`, the text it was made from, is
    /// here again: the change merges with everyone else's.
    fn take_in_offline(&mut self, id: &FileId, base: &str) {
        let Some(path) = self.offline.remove(id) else { return };
        let result = self.doc.ensure_content(id, base).map_err(WorkspaceError::from).and_then(|()| {
            let version = self.doc.base_version(id)?;
            self.keep(id.clone(), OnDisk { path: path.clone(), text: Some(base.to_owned()), version });
            // What the file holds now: it may have changed again, or gone.
            self.ingest_path(&path)
        });
        if let Err(e) = result {
            tracing::warn!(%id, error = %e, "could not take in a change made while away");
        }
    }

    /// Makes a text file's content document, from the text this peer last
    /// wrote or read for it: the one its entry names.
    fn ensure_content(&mut self, id: &FileId) -> Result<(), WorkspaceError> {
        if self.doc.has_content(id) {
            return Ok(());
        }
        let named = self.tree.entries.get(id).and_then(|e| e.hash.clone());
        let base = self.disk.get(id).and_then(|d| d.text.clone()).filter(|t| named.as_deref() == Some(content_hash(t).as_str()));
        let base = base.ok_or_else(|| DocError::NotText(id.clone()))?;
        self.doc.ensure_content(id, &base)?;
        let version = self.doc.version_of(id);
        if let Some(d) = self.disk.get_mut(id) {
            d.version = version;
        }
        Ok(())
    }

    /// The hashes of the texts this peer still needs (files never edited,
    /// whose bytes it does not have), each with its size.
    pub fn wanted(&mut self) -> Vec<(String, u64)> {
        let mut waiting: HashMap<String, Vec<FileId>> = HashMap::new();
        let mut out = Vec::new();
        for (id, e) in &self.tree.entries {
            if e.kind != Kind::Text || self.disk.contains_key(id) || self.doc.has_content(id) {
                continue;
            }
            let Some(h) = e.hash.clone() else { continue };
            let ids = waiting.entry(h.clone()).or_default();
            if ids.is_empty() && !self.blobs.contains_key(&h) {
                out.push((h, e.size.unwrap_or(0)));
            }
            ids.push(id.clone());
        }
        self.waiting = waiting;
        out
    }

    /// The texts of `hashes` this peer can give: files never edited, as
    /// they are on its disk.
    pub fn blobs(&self, hashes: &[String]) -> Vec<(String, String)> {
        let wanted: std::collections::HashSet<&str> = hashes.iter().map(String::as_str).collect();
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (id, e) in &self.tree.entries {
            let Some(h) = e.hash.as_deref().filter(|h| wanted.contains(h) && !seen.contains(*h)) else { continue };
            let named = |t: &String| content_hash(t) == h;
            let text = self
                .blobs
                .get(h)
                .cloned()
                .or_else(|| self.disk.get(id).and_then(|d| d.text.clone()).filter(named))
                .or_else(|| self.doc.base_version(id).and_then(|v| self.doc.text_at(id, &v)).ok().filter(named));
            if let Some(text) = text {
                seen.insert(h.to_owned());
                out.push((h.to_owned(), text));
            }
        }
        out
    }

    /// A text named by its hash arrived: writes the files that wait for it
    /// (as [`Self::wanted`] last found them).
    pub fn add_blob(&mut self, hash: String, text: String) {
        let Some(ids) = self.waiting.remove(&hash) else { return };
        if content_hash(&text) != hash {
            tracing::warn!(%hash, "ignored a text that does not match its hash");
            self.waiting.insert(hash, ids);
            return;
        }
        self.blobs.insert(hash.clone(), text.clone());
        let mut left = false;
        for id in ids {
            if self.offline.contains_key(&id) {
                self.take_in_offline(&id, &text);
                continue;
            }
            let Some(entry) = self.tree.entries.get(&id).cloned() else { continue };
            if self.disk.contains_key(&id) {
                continue;
            }
            let result = if self.parent_written(&entry.path) {
                self.materialize(&id, &entry).map_err(|e| e.to_string())
            } else {
                Err("its folder is not written yet".into())
            };
            if let Err(e) = result {
                tracing::debug!(path = %entry.path, error = %e, "written later");
                left = true;
                self.pending = true;
            }
        }
        if !left {
            self.blobs.remove(&hash);
        }
    }

    /// Takes in what was written to files after this peer swapped them out
    /// (see [`Sandbox::replace_text`]), and forgets swaps that are old enough.
    pub fn check_swapped(&mut self) {
        let now = Instant::now();
        let mut edited = std::mem::take(&mut self.late);
        for (id, pending) in &mut self.swapped {
            for s in pending.iter_mut() {
                if let Some(theirs) = s.old.edited() {
                    edited.push(LateWrite { id: id.clone(), base: s.old.expected().to_owned(), version: s.version.clone(), theirs });
                    s.until = now;
                }
            }
            pending.retain(|s| s.until > now);
        }
        self.swapped.retain(|_, p| !p.is_empty());
        for LateWrite { id, base, version, theirs } in edited {
            tracing::debug!(%id, "taking in a write to a file as it was replaced");
            let result = self.take_in(&id, &base, &version, &theirs).and_then(|_| self.sync_text(&id, None));
            if let Err(e) = result {
                tracing::warn!(%id, error = %e, "could not take in a write that raced with ours");
            }
        }
    }

    /// Applies the edit that turned `base` (the text of `version`) into
    /// `edited`; returns the version whose text is `edited`. A read-only
    /// peer takes nothing in: the user's text is kept aside, and the file
    /// is written over as the session has it.
    fn take_in(&mut self, id: &FileId, base: &str, version: &Version, edited: &str) -> Result<Version, WorkspaceError> {
        if self.read_only {
            if let Some(path) = self.disk.get(id).map(|d| d.path.clone()) {
                let kept = self.sandbox.keep_unshared(&path, edited.as_bytes())?;
                tracing::warn!(%path, kept = %kept.display(), "this peer may not change shared files: kept the user's text aside");
            }
            return Ok(version.clone());
        }
        let splices = splice::diff(base, edited);
        if self.doc.text(id)? == base {
            self.doc.splice(id, &splices)?;
            Ok(self.doc.version_of(id))
        } else {
            Ok(self.doc.splice_at(version, id, &splices)?)
        }
    }

    /// Resolves the tree again (after a remote change, or new ignore
    /// rules). An entry this peer keeps unshared is refused, and said so
    /// once; a file that was shared and is now ignored here stays on disk,
    /// no longer followed.
    fn refresh_tree(&mut self) {
        let (tree, private) = shared_tree(&self.doc, &self.rules);
        let new: Vec<(&FileId, &RelPath)> = private.iter().filter(|(id, _)| !self.private.contains_key(*id)).collect();
        for (id, path) in new {
            if self.disk.contains_key(id) {
                tracing::info!(%path, "no longer shared here: this peer's rules ignore it");
                self.forget(id);
            } else {
                tracing::warn!(%path, "refused a peer's entry at a path this peer keeps unshared");
            }
        }
        self.tree = tree;
        self.private = private;
    }

    /// Makes the disk follow changes that came from other peers.
    /// Returns the text files whose text changed (a document made from the
    /// text a file already had changes nothing).
    pub fn apply_remote(&mut self, touched: &Touched) -> Result<std::collections::BTreeSet<FileId>, WorkspaceError> {
        let mut changed = std::collections::BTreeSet::new();
        if touched.tree {
            self.refresh_tree();
            self.reconcile_tree()?;
        }
        let mut waiting = false;
        for id in &touched.texts {
            if self.tree.entries.get(id).map(|e| e.kind) != Some(Kind::Text) {
                continue;
            }
            if self.offline.contains_key(id) {
                // Edited elsewhere meanwhile: its document starts from the
                // text this peer's change was made from.
                if let Ok(base) = self.doc.base_version(id).and_then(|v| self.doc.text_at(id, &v)) {
                    self.take_in_offline(id, &base);
                    changed.insert(id.clone());
                }
                continue;
            }
            if !self.disk.contains_key(id) {
                // Its entry came first; its content has just arrived.
                waiting = true;
            } else if !self.doc.has_content(id) {
                let named = self.tree.entries.get(id).and_then(|e| e.hash.clone());
                let had = self.disk.get(id).and_then(|d| d.text.clone()).unwrap_or_default();
                if named.as_deref() != Some(content_hash(&had).as_str()) {
                    // Replaced by a peer before anyone edited it: the new
                    // text is fetched and written over this one.
                    self.forget(id);
                    self.replaced.insert(id.clone(), had);
                    waiting = true;
                }
            } else {
                let before = self.disk.get(id).and_then(|d| d.text.clone());
                if let Err(e) = self.sync_text(id, None) {
                    tracing::warn!(%id, error = %e, "could not write a remote change");
                }
                if self.disk.get(id).and_then(|d| d.text.clone()) != before {
                    changed.insert(id.clone());
                }
            }
        }
        if waiting && !touched.tree {
            self.materialize_new();
        }
        Ok(changed)
    }

    /// How many shared folders and text files are not yet on this disk:
    /// their content has not arrived, or they could not be written.
    pub fn unwritten(&self) -> usize {
        self.tree.entries.iter().filter(|(id, e)| matches!(e.kind, Kind::Dir | Kind::Text) && !self.disk.contains_key(*id)).count()
    }

    /// After the tree changed remotely: delete, move and create on disk.
    /// Each step is done entry by entry: one that fails is logged and
    /// retried with the next change, and never stops the others.
    fn reconcile_tree(&mut self) -> Result<(), WorkspaceError> {
        let kept_local = self.remove_gone();
        self.apply_moves();
        // Local edits to files deleted remotely come back as new files.
        for path in kept_local {
            self.ingest_logged(&path);
        }
        Ok(())
    }

    /// Removes from disk the entries gone from the tree, or no longer shared
    /// as text, deepest first; returns the files kept because they were
    /// edited here since.
    fn remove_gone(&mut self) -> Vec<RelPath> {
        // A folder merged into another of the same path stays on disk, as
        // that one's.
        let merged: Vec<(FileId, FileId)> = self
            .tree
            .merged
            .iter()
            .filter_map(|(id, path)| Some((id.clone(), self.tree.by_path.get(path)?.clone())))
            .filter(|(id, _)| self.disk.contains_key(id))
            .collect();
        for (loser, winner) in merged {
            if let Some(rec) = self.disk.get(&loser).cloned() {
                self.forget(&loser);
                if !self.disk.contains_key(&winner) && self.tree.entries.get(&winner).is_some_and(|e| e.path == rec.path) {
                    let version = self.doc.version_of(&winner);
                    self.keep(winner, OnDisk { version, ..rec });
                }
            }
        }
        let mut gone: Vec<(FileId, OnDisk)> = self
            .disk
            .iter()
            .filter(|(id, d)| match self.tree.entries.get(*id) {
                None => true,
                Some(e) => match e.kind {
                    Kind::Dir => d.text.is_some(),
                    Kind::Text => d.text.is_none(),
                    Kind::Binary | Kind::TooLarge => true,
                },
            })
            .map(|(id, d)| (id.clone(), d.clone()))
            .collect();
        gone.sort_by_key(|g| std::cmp::Reverse(g.1.path.depth()));
        let mut kept_local = Vec::new();
        for (id, rec) in gone {
            self.forget(&id);
            if self.tree.entries.get(&id).is_some_and(|e| matches!(e.kind, Kind::Binary | Kind::TooLarge)) {
                continue; // became listed-only elsewhere: this copy stays as it is
            }
            let result = match rec.text {
                Some(base) => match self.sandbox.read(&rec.path) {
                    Ok(Node::File(FileContent::Text(t))) if t != base => {
                        kept_local.push(rec.path.clone());
                        Ok(())
                    }
                    Ok(Node::File(_)) => self.sandbox.remove_file(&rec.path),
                    Ok(_) => Ok(()),
                    Err(e) => Err(e),
                },
                None => match self.sandbox.remove_dir_if_empty(&rec.path) {
                    Ok(false) => {
                        tracing::info!(path = %rec.path, "kept a deleted folder that still holds unshared files");
                        Ok(())
                    }
                    other => other.map(drop),
                },
            };
            if let Err(e) = result {
                tracing::warn!(path = %rec.path, error = %e, "could not remove an entry deleted by a peer");
            }
        }
        kept_local
    }

    /// Moves entries to where the tree now has them, and writes the new
    /// ones. An entry whose place is taken (by one about to leave, when
    /// renames swap or chain paths: `a`→`b` while `b`→`c`) or whose new
    /// folder does not exist yet goes in two steps: first to a temporary
    /// name beside where it was, then, once the others moved and new
    /// folders exist, to its place.
    fn apply_moves(&mut self) {
        let mut moving: Vec<(usize, FileId)> = self
            .disk
            .iter()
            .filter_map(|(id, d)| {
                let e = self.tree.entries.get(id)?;
                (e.path != d.path).then(|| (d.path.depth(), id.clone()))
            })
            .collect();
        moving.sort();
        let mut parked = Vec::new();
        for (_, id) in moving {
            let Some(from) = self.disk.get(&id).map(|d| d.path.clone()) else {
                continue;
            };
            let Some(to) = self.tree.entries.get(&id).map(|e| e.path.clone()) else {
                continue;
            };
            // Same name in a folder whose own move takes it along.
            let parent_on_disk = to.parent().map(|p| self.tree.by_path.get(&p).and_then(|pid| self.disk.get(pid)).map(|d| d.path.clone()));
            let travels = from.name() == to.name()
                && match parent_on_disk {
                    None => from.parent().is_none(),
                    Some(on_disk) => on_disk.is_some() && on_disk == from.parent(),
                };
            if to == from || travels {
                continue;
            }
            if matches!(self.sandbox.read(&from), Ok(Node::Missing)) {
                // Deleted here meanwhile: written again where it now is.
                self.forget(&id);
                continue;
            }
            // Straight there when the place is free: one rename, which the
            // file watcher follows best.
            let free =
                matches!(self.sandbox.read(&to), Ok(Node::Missing)) && to.parent().is_none_or(|p| matches!(self.sandbox.read(&p), Ok(Node::Dir)));
            if free {
                if let Err(e) = self.move_on_disk(&from, &to) {
                    self.moves_pending = true;
                    tracing::warn!(path = %from, error = %e, "could not move an entry a peer moved");
                }
                continue;
            }
            let park = format!("{id}{TEMP_SUFFIX}");
            let result = match from.parent() {
                Some(p) => p.join(&park),
                None => RelPath::single(&park),
            }
            .map_err(WorkspaceError::from)
            .and_then(|tmp| self.move_on_disk(&from, &tmp).map(|()| tmp));
            match result {
                Ok(_) => parked.push(id),
                Err(e) => {
                    self.moves_pending = true;
                    tracing::warn!(path = %from, error = %e, "could not move an entry a peer moved")
                }
            }
        }
        self.materialize_new();
        parked.sort_by_key(|id| self.tree.entries.get(id).map_or(0, |e| e.path.depth()));
        for id in parked {
            let (Some(from), Some(to)) = (self.disk.get(&id).map(|d| d.path.clone()), self.tree.entries.get(&id).map(|e| e.path.clone())) else {
                continue;
            };
            let result = (|| {
                if self.sandbox.read(&to)? != Node::Missing {
                    self.set_aside(&to)?;
                }
                self.move_on_disk(&from, &to)
            })();
            if let Err(e) = result {
                self.moves_pending = true;
                tracing::warn!(path = %to, error = %e, "could not move an entry into place");
            }
        }
        // New entries inside the folders just moved.
        if self.pending {
            self.materialize_new();
        }
    }

    /// Renames `from` to `to` on disk, and every record at or below it
    /// (recorded first, as every write is).
    fn move_on_disk(&mut self, from: &RelPath, to: &RelPath) -> Result<(), WorkspaceError> {
        let rebase = |this: &Self, from: &RelPath, to: &RelPath| -> Vec<(FileId, OnDisk)> {
            this.disk.iter().filter_map(|(id, d)| d.path.rebase(from, to).map(|p| (id.clone(), OnDisk { path: p, ..d.clone() }))).collect()
        };
        for (id, d) in rebase(self, from, to) {
            self.keep(id, d);
        }
        if let Err(e) = self.sandbox.rename(from, to) {
            for (id, d) in rebase(self, to, from) {
                self.keep(id, d);
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Writes the folders and text files that are in the document but not
    /// yet on this disk, parents first. One that cannot be written now is
    /// left for the next call (a text whose content has not arrived, say);
    /// it never stops the others.
    fn materialize_new(&mut self) {
        let mut ids: Vec<(usize, FileId)> = self
            .tree
            .entries
            .iter()
            .filter(|(id, e)| !self.disk.contains_key(*id) && !self.offline.contains_key(*id) && matches!(e.kind, Kind::Dir | Kind::Text))
            .map(|(id, e)| (e.path.depth(), id.clone()))
            .collect();
        ids.sort();
        self.pending = false;
        for (_, id) in ids {
            let Some(entry) = self.tree.entries.get(&id).cloned() else {
                continue;
            };
            if !self.parent_written(&entry.path) {
                self.pending = true;
                tracing::debug!(path = %entry.path, "waiting for its folder to be written");
                continue;
            }
            match self.materialize(&id, &entry) {
                Ok(()) => {}
                Err(WorkspaceError::Doc(DocError::NotText(_))) => {
                    tracing::debug!(path = %entry.path, "waiting for the file's content")
                }
                Err(e @ WorkspaceError::Private(_)) => tracing::warn!(error = %e, "refused a peer's entry"),
                Err(e) => {
                    self.pending = true;
                    tracing::warn!(path = %entry.path, error = %e, "could not write a shared entry; trying again");
                }
            }
        }
    }

    /// True when the folder `path` goes in is on this disk where the tree
    /// has it (or `path` is at the top).
    fn parent_written(&self, path: &RelPath) -> bool {
        path.parent().is_none_or(|p| self.tree.by_path.get(&p).and_then(|id| self.disk.get(id)).is_some_and(|d| d.path == p))
    }

    /// Tries again to write the entries that could not be written (a full
    /// disk, a folder in the way); content that has not arrived yet is
    /// written when it does.
    pub fn retry_unwritten(&mut self) {
        if std::mem::take(&mut self.moves_pending) {
            self.apply_moves();
        } else if self.pending {
            self.materialize_new();
        }
    }

    /// Writes one entry that is in the document but not on this disk.
    fn materialize(&mut self, id: &FileId, entry: &crate::doc::Entry) -> Result<(), WorkspaceError> {
        let version = self.doc.version_of(id);
        match entry.kind {
            Kind::Dir => {
                let node = self.sandbox.read(&entry.path)?;
                if !matches!(node, Node::Dir | Node::Missing) {
                    self.set_aside(&entry.path)?;
                }
                self.sandbox.create_dir(&entry.path)?;
                self.keep(id.clone(), OnDisk { path: entry.path.clone(), text: None, version });
                if node == Node::Dir {
                    self.adopt_untracked(&entry.path)?;
                }
            }
            Kind::Text => {
                let text = match entry.hash.as_deref() {
                    Some(h) if !self.doc.has_content(id) => self.blobs.get(h).cloned().ok_or_else(|| DocError::NotText(id.clone()))?,
                    _ => self.doc.text(id)?,
                };
                let node = self.sandbox.read(&entry.path)?;
                let in_place = node == Node::File(FileContent::Text(text.clone()));
                let replaced = self.replaced.remove(id);
                let ours = matches!((&node, &replaced), (Node::File(FileContent::Text(t)), Some(r)) if t == r);
                if !in_place && node != Node::Missing && !ours {
                    self.set_aside(&entry.path)?;
                }
                self.keep(id.clone(), OnDisk { path: entry.path.clone(), text: Some(text.clone()), version });
                if !in_place && let Err(e) = self.sandbox.write_text(&entry.path, &text) {
                    self.forget(id);
                    return Err(e.into());
                }
            }
            Kind::Binary | Kind::TooLarge => {}
        }
        Ok(())
    }

    /// Moves a local file that is in the way of a remote one to a free
    /// `<name>.conflict-N` beside it, and shares it under that name.
    /// A file this peer does not share (binary, too large, a secret) is
    /// never moved: under a new name it could be shared.
    fn set_aside(&mut self, path: &RelPath) -> Result<(), WorkspaceError> {
        let node = self.sandbox.read(path)?;
        if matches!(node, Node::File(FileContent::Binary(_) | FileContent::TooLarge(_))) || self.rules.withholds(path, node == Node::Dir) {
            return Err(WorkspaceError::Private(path.clone()));
        }
        let parent = path.parent();
        let mut n = 1;
        let aside = loop {
            let name = format!("{}.conflict-{n}", path.name());
            let candidate = match &parent {
                Some(p) => p.join(&name)?,
                None => RelPath::single(&name)?,
            };
            if self.sandbox.read(&candidate)? == Node::Missing {
                break candidate;
            }
            n += 1;
        };
        tracing::warn!(%path, %aside, "a local file was in the way of a shared one; kept it under a new name");
        self.sandbox.rename(path, &aside)?;
        self.ingest_path(&aside)
    }

    /// Takes in what a known folder holds that the tree does not know of.
    /// A folder made here and, a moment later, by a peer is known before the
    /// watcher reports what was put in it here; and files made in a new
    /// folder before the watcher watched it are never reported at all.
    fn adopt_untracked(&mut self, dir: &RelPath) -> Result<(), WorkspaceError> {
        for (child, _) in self.sandbox.list(Some(dir), &self.rules)? {
            if !self.tree.by_path.contains_key(&child) {
                self.ingest_logged(&child);
            }
        }
        Ok(())
    }

    /// Adds a folder found on disk and everything in it.
    fn add_dir_tree(&mut self, path: &RelPath) -> Result<(), WorkspaceError> {
        self.create_entry(path, Content::Dir)?;
        for (child, _) in self.sandbox.scan_under(Some(path), &self.rules)? {
            self.ingest_logged(&child);
        }
        Ok(())
    }

    /// The parent folder entry of `path`, created (with its own parents) when missing.
    fn ensure_parent(&mut self, path: &RelPath) -> Result<Option<FileId>, WorkspaceError> {
        let Some(parent) = path.parent() else {
            return Ok(None);
        };
        if let Some(id) = self.tree.by_path.get(&parent) {
            if self.tree.entries.get(id).map(|e| e.kind) == Some(Kind::Dir) {
                return Ok(Some(id.clone()));
            }
            let id = id.clone();
            self.remove_entry(&id)?;
        }
        self.create_entry(&parent, Content::Dir).map(Some)
    }

    fn create_entry(&mut self, path: &RelPath, content: Content) -> Result<FileId, WorkspaceError> {
        let parent = self.ensure_parent(path)?;
        let id = self.doc.create(parent.as_ref(), path.name(), &content)?;
        let (kind, size, hash) = entry_meta(&content);
        self.tree.by_path.insert(path.clone(), id.clone());
        self.tree.entries.insert(id.clone(), crate::doc::Entry { path: path.clone(), kind, size, hash });
        let text = match content {
            Content::Text(t) => Some(t),
            Content::Dir => None,
            Content::Binary(_) | Content::TooLarge(_) => return Ok(id),
        };
        let version = self.doc.version_of(&id);
        self.keep(id.clone(), OnDisk { path: path.clone(), text, version });
        Ok(id)
    }

    fn remove_entry(&mut self, id: &FileId) -> Result<(), WorkspaceError> {
        let ids = self.tree.with_descendants(id);
        self.doc.delete(&ids)?;
        for id in ids {
            self.forget(&id);
            if let Some(e) = self.tree.entries.remove(&id) {
                self.tree.by_path.remove(&e.path);
            }
        }
        Ok(())
    }

    /// Updates the cached tree and the records after this peer moved `from` to `to`.
    fn move_in_tree(&mut self, from: &RelPath, to: &RelPath) {
        let moved: Vec<(RelPath, RelPath)> = self.tree.by_path.keys().filter_map(|p| p.rebase(from, to).map(|n| (p.clone(), n))).collect();
        for (old, new) in moved {
            if let Some(id) = self.tree.by_path.remove(&old) {
                if let Some(e) = self.tree.entries.get_mut(&id) {
                    e.path = new.clone();
                }
                if let Some(d) = self.disk.get(&id).cloned() {
                    self.keep(id.clone(), OnDisk { path: new.clone(), ..d });
                }
                self.tree.by_path.insert(new, id);
            }
        }
        for p in self.tree.merged.values_mut() {
            if let Some(n) = p.rebase(from, to) {
                *p = n;
            }
        }
    }

    fn set_tree_kind(&mut self, id: &FileId, content: &Content) {
        if let Some(e) = self.tree.entries.get_mut(id) {
            (e.kind, e.size, e.hash) = entry_meta(content);
        }
    }
}

/// The rules, with every `.gitignore` this peer's own user changed while
/// it was not running (its text is not one this peer wrote or read, as its
/// records say) owned as that user's word.
fn own_offline_ignores(sandbox: &Sandbox, mut rules: IgnoreRules, records: &Records) -> Result<IgnoreRules, WorkspaceError> {
    let ours = |path: &RelPath, text: &str| {
        let hash = content_hash(text);
        rules.is_known(path, text) || records.values().flat_map(|(prev, last)| prev.iter().chain([last])).any(|r| r.path == *path && r.hash == hash)
    };
    let changed: Vec<(RelPath, String)> = rules.changed_on_disk().filter(|(p, t)| !ours(p, t)).map(|(p, t)| (p.clone(), t.to_owned())).collect();
    if changed.is_empty() {
        return Ok(rules);
    }
    for (path, text) in changed {
        rules.own(&path, Some(text));
    }
    rules.save(sandbox)?;
    Ok(IgnoreRules::load(sandbox)?)
}

/// The document's tree as this peer shares it, and the entries left out:
/// those at paths its own rules keep unshared (`.git/`, its state folder,
/// what its `.gitignore` files ignore). No peer can make it write, set aside
/// or share a file there.
fn shared_tree(doc: &WorkspaceDoc, rules: &IgnoreRules) -> (Tree, BTreeMap<FileId, RelPath>) {
    let mut tree = doc.tree();
    let private: BTreeMap<FileId, RelPath> = tree
        .entries
        .iter()
        .map(|(id, e)| (id, &e.path, e.kind == Kind::Dir))
        .chain(tree.merged.iter().map(|(id, p)| (id, p, true)))
        .filter(|(_, path, dir)| rules.is_ignored(path, *dir))
        .map(|(id, path, _)| (id.clone(), path.clone()))
        .collect();
    tree.retain(|id, _| !private.contains_key(id));
    (tree, private)
}

fn to_content(c: FileContent) -> Content {
    match c {
        FileContent::Text(t) => Content::Text(t),
        FileContent::Binary(n) => Content::Binary(n),
        FileContent::TooLarge(n) => Content::TooLarge(n),
    }
}

/// What the tree records of a content: kind, size, and a text's hash.
fn entry_meta(c: &Content) -> (Kind, Option<u64>, Option<String>) {
    match c {
        Content::Dir => (Kind::Dir, None, None),
        Content::Text(t) => (Kind::Text, Some(t.len() as u64), Some(content_hash(t))),
        Content::Binary(n) => (Kind::Binary, Some(*n), None),
        Content::TooLarge(n) => (Kind::TooLarge, Some(*n), None),
    }
}

mod files;
mod search;
pub use files::FileInfo;
pub use search::{SearchError, SearchHit, SearchQuery, SearchResults};

#[cfg(test)]
mod tests;
