//! Which paths of the workspace are not shared: `.git/`, this peer's state
//! folder, the engine's temporary files, and whatever `.gitignore` files say.

use std::collections::BTreeMap;

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::FsError;
use super::sandbox::{STATE_DIR, Sandbox, TEMP_SUFFIX};
use super::secrets::Secrets;
use crate::path::RelPath;

/// Paths that are never shared whatever `.gitignore` says, and that no peer
/// may create: git's data, this peer's state folder, the engine's temporary files.
pub fn is_reserved(rel: &RelPath) -> bool {
    let mut parts = rel.as_str().split('/');
    rel.as_str().split('/').next() == Some(STATE_DIR) || parts.any(|p| p == ".git" || p.ends_with(TEMP_SUFFIX))
}

/// Where the `.gitignore` texts this peer stands behind are kept, in its
/// state folder.
const KEPT: &str = "ignores.json";

/// The `.gitignore` files of a workspace, deepest first, so the nearest one
/// decides as git does.
///
/// `.gitignore` files are shared like any file, so a member could remove the
/// line that keeps `.env` private. A path is therefore unshared when either
/// the files as they are now ignore it, or the texts this peer's own user
/// last gave them (or this peer first saw) do: a peer's change to a
/// `.gitignore` can make this peer share less, never more.
#[derive(Debug, Default)]
pub struct IgnoreRules {
    root: std::path::PathBuf,
    now: Vec<(Option<RelPath>, Gitignore)>,
    kept: Vec<(Option<RelPath>, Gitignore)>,
    /// The texts `kept` is made of, by the `.gitignore` file's path.
    kept_texts: BTreeMap<RelPath, String>,
    /// The texts on disk when the rules were read.
    on_disk: BTreeMap<RelPath, String>,
    secrets: Secrets,
}

impl IgnoreRules {
    /// Reads every `.gitignore` under the shared part of the workspace, and
    /// the texts this peer keeps for them (a file it had not seen yet is
    /// kept as it is now).
    pub fn load(sandbox: &Sandbox) -> Result<Self, FsError> {
        let kept_texts = match sandbox.read_state(KEPT)? {
            Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "{KEPT} is unreadable: the .gitignore files on disk are taken as they are");
                BTreeMap::new()
            }),
            None => BTreeMap::new(),
        };
        let secrets = Secrets::load(sandbox.root(), sandbox.shares_secrets());
        let mut rules = Self { root: sandbox.root().to_path_buf(), kept_texts, secrets, ..Self::default() };
        rules.kept = rules.kept_texts.iter().filter_map(|(path, text)| rules.build(path, text)).collect();
        sort(&mut rules.kept);
        let mut stack: Vec<Option<RelPath>> = vec![None];
        while let Some(dir) = stack.pop() {
            rules.add_dir(sandbox, dir.as_ref())?;
            for (rel, is_dir) in sandbox.list(dir.as_ref(), &rules)? {
                if is_dir {
                    stack.push(Some(rel));
                }
            }
        }
        sort(&mut rules.now);
        let unseen: Vec<(RelPath, String)> =
            rules.on_disk.iter().filter(|(p, _)| !rules.kept_texts.contains_key(*p)).map(|(p, t)| (p.clone(), t.clone())).collect();
        if !unseen.is_empty() {
            for (path, text) in unseen {
                rules.keep(path, Some(text));
            }
            rules.save(sandbox)?;
        }
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
        if let Some(gi) = self.build(&file, &text) {
            self.now.push(gi);
        }
        self.on_disk.insert(file, text);
        Ok(())
    }

    /// The rules of the `.gitignore` at `file`, holding `text`.
    fn build(&self, file: &RelPath, text: &str) -> Option<(Option<RelPath>, Gitignore)> {
        let dir = file.parent();
        let base = dir.as_ref().map_or_else(|| self.root.clone(), |d| self.root.join(d.to_path()));
        let mut builder = GitignoreBuilder::new(&base);
        for line in text.lines() {
            if let Err(e) = builder.add_line(None, line) {
                tracing::debug!(%file, error = %e, "skipping a .gitignore line");
            }
        }
        match builder.build() {
            Ok(gi) => Some((dir, gi)),
            Err(e) => {
                tracing::warn!(%file, error = %e, "ignoring an unreadable .gitignore");
                None
            }
        }
    }

    /// This peer's own user wrote (or removed, `None`) the `.gitignore` at
    /// `file`: its text is the one this peer stands behind from now on.
    /// Takes effect at the next [`Self::load`], after [`Self::save`].
    pub fn own(&mut self, file: &RelPath, text: Option<String>) {
        self.keep(file.clone(), text);
    }

    fn keep(&mut self, file: RelPath, text: Option<String>) {
        match text {
            Some(t) => self.kept_texts.insert(file, t),
            None => self.kept_texts.remove(&file),
        };
    }

    /// Writes the kept texts to the state folder.
    pub fn save(&self, sandbox: &Sandbox) -> Result<(), FsError> {
        let json = serde_json::to_vec(&self.kept_texts).unwrap_or_default();
        sandbox.write_state(KEPT, &json)
    }

    /// The `.gitignore` files whose text on disk, when the rules were read,
    /// is not the one kept.
    pub fn changed_on_disk(&self) -> impl Iterator<Item = (&RelPath, &str)> {
        self.on_disk.iter().filter(|(p, t)| self.kept_texts.get(*p) != Some(*t)).map(|(p, t)| (p, t.as_str()))
    }

    /// True when this peer does not share what it has at `rel`: it is
    /// ignored, or a secret it keeps back.
    pub fn withholds(&self, rel: &RelPath, is_dir: bool) -> bool {
        self.is_ignored(rel, is_dir) || self.secrets.withholds(rel, is_dir)
    }

    /// True when `rel` is not ignored but is a secret this peer keeps back.
    pub fn keeps_secret(&self, rel: &RelPath, is_dir: bool) -> bool {
        self.secrets.withholds(rel, is_dir) && !self.is_ignored(rel, is_dir)
    }

    /// True when `rel` is not shared by anyone here: what a peer's entry at
    /// `rel` is refused for.
    pub fn is_ignored(&self, rel: &RelPath, is_dir: bool) -> bool {
        is_reserved(rel) || self.ignores(&self.now, rel, is_dir) || self.ignores(&self.kept, rel, is_dir)
    }

    fn ignores(&self, files: &[(Option<RelPath>, Gitignore)], rel: &RelPath, is_dir: bool) -> bool {
        for (dir, gi) in files {
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

/// Deepest first.
fn sort(files: &mut [(Option<RelPath>, Gitignore)]) {
    files.sort_by_key(|(d, _)| std::cmp::Reverse(d.as_ref().map_or(0, RelPath::depth)));
}
