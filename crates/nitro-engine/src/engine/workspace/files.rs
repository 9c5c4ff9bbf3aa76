//! File operations an editor asks for (new, rename, delete): done on disk
//! through the sandbox, then taken in at once, as the watcher would.

use super::{Workspace, WorkspaceError};
use crate::doc::{FileId, Kind};
use crate::fs::Node;
use crate::fs::ignore_rules::is_reserved;
use crate::fs::watcher::FsChange;
use crate::path::RelPath;

/// A file or folder of the shared tree, as an editor lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Stays with the file through renames and moves, on every peer.
    pub id: FileId,
    pub path: RelPath,
    pub kind: Kind,
    /// Bytes, for files that are listed but not shared.
    pub size: Option<u64>,
}

impl Workspace {
    /// Every entry of the shared tree, parents before children.
    pub fn files(&self) -> Vec<FileInfo> {
        let mut all: Vec<FileInfo> =
            self.tree.entries.iter().map(|(id, e)| FileInfo { id: id.clone(), path: e.path.clone(), kind: e.kind, size: e.size }).collect();
        all.sort_by(|a, b| a.path.cmp(&b.path));
        all
    }

    /// Secret files and folders this peer keeps back (not those the
    /// workspace shared before: they stay listed).
    pub fn withheld_secrets(&self) -> Vec<RelPath> {
        let found = self.sandbox.withheld_secrets(&self.rules).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not list the secret files kept back");
            Vec::new()
        });
        found.into_iter().filter(|p| !self.tree.by_path.contains_key(p)).collect()
    }

    pub fn create_file(&mut self, path: &RelPath) -> Result<(), WorkspaceError> {
        self.vacant(path)?;
        self.sandbox.write_text(path, "")?;
        self.ingest(vec![FsChange::Changed(path.clone())])
    }

    pub fn create_dir(&mut self, path: &RelPath) -> Result<(), WorkspaceError> {
        self.vacant(path)?;
        self.sandbox.create_dir(path)?;
        self.ingest(vec![FsChange::Changed(path.clone())])
    }

    pub fn rename_path(&mut self, from: &RelPath, to: &RelPath) -> Result<(), WorkspaceError> {
        if !self.tree.by_path.contains_key(from) {
            return Err(WorkspaceError::NotShared(from.clone()));
        }
        self.vacant(to)?;
        self.sandbox.rename(from, to)?;
        self.ingest(vec![FsChange::Renamed { from: from.clone(), to: to.clone() }])
    }

    /// Deletes a shared file, or a folder with every shared entry below it.
    /// Files in it that are not shared (ignored, binary, over-large) are
    /// kept, and so is the folder that holds them.
    pub fn delete_path(&mut self, path: &RelPath) -> Result<(), WorkspaceError> {
        if !self.tree.by_path.get(path).and_then(|id| self.tree.entries.get(id)).is_some_and(|e| matches!(e.kind, Kind::Dir | Kind::Text)) {
            return Err(WorkspaceError::NotShared(path.clone()));
        }
        let mut below: Vec<(RelPath, bool)> = self
            .tree
            .entries
            .values()
            .filter(|e| (e.path == *path || e.path.starts_with(path)) && matches!(e.kind, Kind::Dir | Kind::Text))
            .map(|e| (e.path.clone(), e.kind == Kind::Dir))
            .collect();
        // Deepest first: a folder is empty by the time its turn comes.
        below.sort_by_key(|b| std::cmp::Reverse(b.0.depth()));
        for (p, dir) in &below {
            if *dir {
                self.sandbox.remove_dir_if_empty(p)?;
            } else {
                self.sandbox.remove_file(p)?;
            }
        }
        self.ingest(below.into_iter().map(|(p, _)| FsChange::Changed(p)).collect())
    }

    /// `path` is free, and would be shared.
    fn vacant(&self, path: &RelPath) -> Result<(), WorkspaceError> {
        if is_reserved(path) {
            return Err(WorkspaceError::NotShared(path.clone()));
        }
        match self.sandbox.read(path)? {
            Node::Missing => Ok(()),
            _ => Err(WorkspaceError::Exists(path.clone())),
        }
    }
}
