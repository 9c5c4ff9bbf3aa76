//! Which paths of the workspace are not shared: `.git/`, this peer's state
//! folder, the engine's temporary files, and whatever `.gitignore` files say.

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::FsError;
use super::sandbox::{STATE_DIR, Sandbox, TEMP_SUFFIX};
use crate::path::RelPath;

/// Paths that are never shared whatever `.gitignore` says, and that no peer
/// may create: git's data, this peer's state folder, the engine's temporary files.
pub fn is_reserved(rel: &RelPath) -> bool {
    let mut parts = rel.as_str().split('/');
    rel.as_str().split('/').next() == Some(STATE_DIR) || parts.any(|p| p == ".git" || p.ends_with(TEMP_SUFFIX))
}

/// The `.gitignore` files of a workspace, deepest first, so the nearest one
/// decides as git does.
#[derive(Debug, Default)]
pub struct IgnoreRules {
    root: std::path::PathBuf,
    files: Vec<(Option<RelPath>, Gitignore)>,
}

impl IgnoreRules {
    /// Reads every `.gitignore` under the shared part of the workspace.
    pub fn load(sandbox: &Sandbox) -> Result<Self, FsError> {
        let mut rules = Self { root: sandbox.root().to_path_buf(), files: Vec::new() };
        let mut stack: Vec<Option<RelPath>> = vec![None];
        while let Some(dir) = stack.pop() {
            rules.add_dir(sandbox, dir.as_ref())?;
            for (rel, is_dir) in sandbox.list(dir.as_ref(), &rules)? {
                if is_dir {
                    stack.push(Some(rel));
                }
            }
        }
        rules.files.sort_by_key(|(d, _)| std::cmp::Reverse(d.as_ref().map_or(0, RelPath::depth)));
        Ok(rules)
    }

    fn add_dir(&mut self, sandbox: &Sandbox, dir: Option<&RelPath>) -> Result<(), FsError> {
        let file = match dir {
            Some(d) => d.join(".gitignore")?,
            None => RelPath::single(".gitignore")?,
        };
        let super::Node::File(super::FileContent::Text(text)) = sandbox.read(&file)? else {
            return Ok(());
        };
        let base = dir.map_or_else(|| sandbox.root().to_path_buf(), |d| sandbox.root().join(d.to_path()));
        let mut builder = GitignoreBuilder::new(&base);
        for line in text.lines() {
            if let Err(e) = builder.add_line(None, line) {
                tracing::debug!(file = %file, error = %e, "skipping a .gitignore line");
            }
        }
        match builder.build() {
            Ok(gi) => self.files.push((dir.cloned(), gi)),
            Err(e) => tracing::warn!(file = %file, error = %e, "ignoring an unreadable .gitignore"),
        }
        Ok(())
    }

    /// True when `rel` is not shared.
    pub fn is_ignored(&self, rel: &RelPath, is_dir: bool) -> bool {
        if is_reserved(rel) {
            return true;
        }
        for (dir, gi) in &self.files {
            if dir.as_ref().is_some_and(|d| !rel.starts_with(d) || rel == d) {
                continue;
            }
            match gi.matched_path_or_any_parents(self.root.join(rel.to_path()), is_dir) {
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
                Match::None => {}
            }
        }
        false
    }
}
