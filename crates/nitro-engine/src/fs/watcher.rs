//! Turns notify's debounced events into workspace-relative changes.
//!
//! The watcher only says *where* something may have changed; the engine reads
//! the path through the sandbox and compares it with what it last wrote, so
//! its own writes never come back as edits and a burst of events for one file
//! costs one read.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::mpsc;

use crate::path::RelPath;

/// How long a file must be quiet before its change is reported. Editors and
/// shells write in several steps; this turns them into one change.
pub const DEBOUNCE: Duration = Duration::from_millis(75);

/// A change on disk, relative to the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsChange {
    /// Something at this path was created, modified or removed.
    Changed(RelPath),
    /// A file or folder moved within the workspace.
    Renamed { from: RelPath, to: RelPath },
    /// Events were lost (queue overflow): the whole workspace must be rescanned.
    Rescan,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot watch {path}: {source}")]
pub struct WatchError {
    path: PathBuf,
    #[source]
    source: notify::Error,
}

/// Watches a workspace until dropped.
pub struct Watcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

impl Watcher {
    /// Starts watching `root` (canonical) recursively; batches of changes
    /// arrive on the returned receiver.
    pub fn spawn(root: &Path) -> Result<(Self, mpsc::UnboundedReceiver<Vec<FsChange>>), WatchError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let base = root.to_path_buf();
        let handler = move |res: DebounceEventResult| {
            let batch = match res {
                Ok(events) => events.iter().flat_map(|e| to_changes(&base, &e.event)).collect(),
                Err(errors) => {
                    for e in errors {
                        tracing::warn!(error = %e, "file watcher error; rescanning");
                    }
                    vec![FsChange::Rescan]
                }
            };
            let _ = tx.send(batch);
        };
        let err = |source| WatchError { path: root.to_path_buf(), source };
        let mut debouncer = new_debouncer(DEBOUNCE, None, handler).map_err(err)?;
        debouncer.watch(root, RecursiveMode::Recursive).map_err(err)?;
        Ok((Self { _debouncer: debouncer }, rx))
    }
}

fn to_changes(root: &Path, event: &notify::Event) -> Vec<FsChange> {
    let rel = |p: &PathBuf| RelPath::from_abs(root, p).ok();
    if event.need_rescan() {
        return vec![FsChange::Rescan];
    }
    match (&event.kind, event.paths.as_slice()) {
        (EventKind::Access(_), _) => Vec::new(),
        (EventKind::Modify(ModifyKind::Name(RenameMode::Both)), [from, to]) => match (rel(from), rel(to)) {
            (Some(from), Some(to)) => vec![FsChange::Renamed { from, to }],
            (from, to) => from.into_iter().chain(to).map(FsChange::Changed).collect(),
        },
        (_, paths) => paths.iter().filter_map(rel).map(FsChange::Changed).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_writes_and_renames_relative_to_the_root() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().canonicalize().expect("canon");
        let (_w, mut rx) = Watcher::spawn(&root).expect("watch");
        std::fs::write(root.join("a.txt"), "x").expect("write");
        let mut seen = Vec::new();
        while !seen.contains(&FsChange::Changed(RelPath::new("a.txt").expect("p"))) {
            let batch = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("event in time");
            seen.extend(batch.expect("open"));
        }
        std::fs::rename(root.join("a.txt"), root.join("b.txt")).expect("rename");
        let want = FsChange::Renamed { from: RelPath::new("a.txt").expect("p"), to: RelPath::new("b.txt").expect("p") };
        loop {
            let batch = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("event in time");
            if batch.expect("open").contains(&want) {
                break;
            }
        }
    }
}
