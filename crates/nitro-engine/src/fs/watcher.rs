//! Turns notify's events into workspace-relative changes.
//!
//! The watcher only says *where* something may have changed; the engine reads
//! the path through the sandbox and compares it with what it last wrote, so
//! its own writes never come back as edits and a burst of events for one file
//! costs one read.
//!
//! What is known to be finished is reported at once: a write to an existing
//! file that was closed (Linux's close-after-write), and a rename whose two
//! ends are known. Everything else (new files and folders and what is in
//! them, removals, writes not yet closed, half a rename) waits until its
//! path has been quiet for [`DEBOUNCE`]: editors and shells create, write,
//! delete and rename in several steps, and one change should come of them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::path::RelPath;

/// How long a path must be quiet before a change that is not known to be
/// finished is reported.
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
    _watcher: notify::RecommendedWatcher,
    settle: tokio::task::JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.settle.abort();
    }
}

impl Watcher {
    /// Starts watching `root` (canonical) recursively; batches of changes
    /// arrive on the returned receiver.
    pub fn spawn(root: &Path) -> Result<(Self, mpsc::UnboundedReceiver<Vec<FsChange>>), WatchError> {
        let (raw_tx, raw_rx) = mpsc::unbounded_channel();
        let err = |source| WatchError { path: root.to_path_buf(), source };
        let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let _ = raw_tx.send(res);
        })
        .map_err(err)?;
        watcher.watch(root, RecursiveMode::Recursive).map_err(err)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let settle = tokio::spawn(settle(root.to_path_buf(), raw_rx, tx));
        Ok((Self { _watcher: watcher, settle }, rx))
    }
}

/// A path waiting to be quiet, and whether it was created meanwhile (a new
/// file's first close is not the end of its story: it may be a temporary
/// one, about to be renamed or deleted).
struct Waiting {
    until: Instant,
    created: bool,
}

/// Sorts raw events into changes reported now and changes reported once
/// quiet; sends each batch as soon as it holds something.
async fn settle(root: PathBuf, mut raw: mpsc::UnboundedReceiver<notify::Result<notify::Event>>, out: mpsc::UnboundedSender<Vec<FsChange>>) {
    let mut quiet: HashMap<RelPath, Waiting> = HashMap::new();
    let mut ready = Vec::new();
    loop {
        let next = quiet.values().map(|w| w.until).min();
        tokio::select! {
            ev = raw.recv() => {
                let Some(ev) = ev else { return };
                sort(&root, ev, &mut quiet, &mut ready);
                while let Ok(ev) = raw.try_recv() {
                    sort(&root, ev, &mut quiet, &mut ready);
                }
            }
            () = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {
                let now = Instant::now();
                let mut due: Vec<RelPath> = quiet.iter().filter(|(_, w)| w.until <= now).map(|(p, _)| p.clone()).collect();
                // Folders before what is in them, as a scan finds them.
                due.sort_by(|a, b| a.depth().cmp(&b.depth()).then_with(|| a.cmp(b)));
                for path in due {
                    quiet.remove(&path);
                    ready.push(FsChange::Changed(path));
                }
            }
        }
        if !ready.is_empty() && out.send(std::mem::take(&mut ready)).is_err() {
            return;
        }
    }
}

fn sort(root: &Path, ev: notify::Result<notify::Event>, quiet: &mut HashMap<RelPath, Waiting>, ready: &mut Vec<FsChange>) {
    let event = match ev {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!(error = %e, "file watcher error; rescanning");
            ready.push(FsChange::Rescan);
            return;
        }
    };
    if event.need_rescan() {
        ready.push(FsChange::Rescan);
        return;
    }
    let rel = |p: &PathBuf| RelPath::from_abs(root, p).ok();
    let until = Instant::now() + DEBOUNCE;
    match (&event.kind, event.paths.as_slice()) {
        (EventKind::Access(AccessKind::Close(AccessMode::Write)), [path]) => {
            let Some(path) = rel(path) else { return };
            // A file in a folder that is itself new waits with it: the
            // folder is taken in whole, and its own events may have come
            // before the watch on it.
            let in_new_folder = std::iter::successors(path.parent(), RelPath::parent).any(|p| quiet.contains_key(&p));
            if !in_new_folder && !quiet.get(&path).is_some_and(|w| w.created) {
                quiet.remove(&path);
                ready.push(FsChange::Changed(path));
            } else {
                quiet.entry(path).or_insert(Waiting { until, created: true }).until = until;
            }
        }
        (EventKind::Access(_), _) => {}
        (EventKind::Modify(ModifyKind::Name(RenameMode::Both)), [from, to]) => match (rel(from), rel(to)) {
            (Some(from), Some(to)) => {
                quiet.remove(&from);
                quiet.remove(&to);
                ready.push(FsChange::Renamed { from, to });
            }
            (from, to) => {
                for path in from.into_iter().chain(to) {
                    quiet.entry(path).or_insert(Waiting { until, created: false }).until = until;
                }
            }
        },
        (kind, paths) => {
            let created = matches!(kind, EventKind::Create(CreateKind::File | CreateKind::Any | CreateKind::Other));
            for path in paths.iter().filter_map(rel) {
                let w = quiet.entry(path).or_insert(Waiting { until, created });
                w.until = until;
                w.created |= created;
            }
        }
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

    /// A finished write to an existing file is reported without waiting for
    /// quiet: it comes while another program keeps writing to the same
    /// file through a handle it never closes (which alone would be reported
    /// only once quiet).
    #[tokio::test]
    async fn a_closed_write_is_reported_at_once_whatever_else_goes_on() {
        use std::io::Write as _;
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().canonicalize().expect("canon");
        std::fs::write(root.join("done.txt"), "1").expect("write");
        let mut held = std::fs::OpenOptions::new().append(true).open(root.join("done.txt")).expect("open");
        let (_w, mut rx) = Watcher::spawn(&root).expect("watch");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    held.write_all(b"+").expect("append");
                    std::thread::sleep(DEBOUNCE / 8);
                }
            })
        };
        std::fs::write(root.join("done.txt"), "2").expect("write");
        let done = FsChange::Changed(RelPath::new("done.txt").expect("p"));
        let reported = async {
            loop {
                if rx.recv().await.expect("open").contains(&done) {
                    return;
                }
            }
        };
        let in_time = tokio::time::timeout(Duration::from_secs(10), reported).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().expect("writer");
        in_time.expect("the closed write is reported while the file is still being written");
    }
}
