//! Which paths of the workspace are not shared: `.git/`, this peer's state
//! folder, the engine's temporary files, and whatever `.gitignore` files say.

use std::collections::BTreeMap;

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::FsError;
use super::ignore_memory::IgnoreMemory;
use super::sandbox::{STATE_DIR, Sandbox, TEMP_SUFFIX};
use super::secrets::Secrets;
use crate::path::RelPath;

/// Paths that are never shared whatever `.gitignore` says, and that no peer
/// may create: git's data, this peer's state folder, the engine's temporary files.
pub fn is_reserved(rel: &RelPath) -> bool {
    let mut parts = rel.as_str().split('/');
    rel.as_str().split('/').next() == Some(STATE_DIR) || parts.any(|p| p == ".git" || p.ends_with(TEMP_SUFFIX))
}

/// The `.gitignore` files of a workspace, deepest first, so the nearest one
/// decides as git does.
///
/// `.gitignore` files are shared like any file, so a member could remove the
/// line that keeps `.env` private, or add a file whose `!` lines whitelist
/// it. So this peer shares nothing that the files as they are now ignore,
/// nor what the texts it remembers ([`IgnoreMemory`]) ignore: its own user's
/// as written, peers' as first seen and without their `!` lines. A peer's
/// change to a `.gitignore` can make this peer share less, never more.
#[derive(Debug, Default)]
pub struct IgnoreRules {
    root: std::path::PathBuf,
    now: Vec<(Option<RelPath>, Gitignore)>,
    /// The texts this peer's user wrote.
    owned: Vec<(Option<RelPath>, Gitignore)>,
    /// Those and the peers' texts as first seen, without `!` lines.
    kept: Vec<(Option<RelPath>, Gitignore)>,
    memory: IgnoreMemory,
    /// The texts on disk when the rules were read.
    on_disk: BTreeMap<RelPath, String>,
    secrets: Secrets,
}

impl IgnoreRules {
    /// Reads every `.gitignore` under the shared part of the workspace, and
    /// what this peer remembers of them (a file it had not seen yet is
    /// remembered as it is now, as a peer's).
    pub fn load(sandbox: &Sandbox) -> Result<Self, FsError> {
        Self::load_with(sandbox, false)
    }

    /// Like [`Self::load`]; `users_folder`: the folder's files are its
    /// user's (a host's first look at the folder it shares), so files not
    /// seen before are remembered as the user's word.
    pub fn open(sandbox: &Sandbox, users_folder: bool) -> Result<Self, FsError> {
        Self::load_with(sandbox, users_folder)
    }

    fn load_with(sandbox: &Sandbox, users_folder: bool) -> Result<Self, FsError> {
        let (memory, existed) = IgnoreMemory::load(sandbox)?;
        let secrets = Secrets::load(sandbox.root(), sandbox.shares_secrets());
        let mut rules = Self { root: sandbox.root().to_path_buf(), memory, secrets, ..Self::default() };
        rules.build_kept();
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
            rules.on_disk.iter().filter(|(p, _)| rules.memory.kept_text(p).is_none()).map(|(p, t)| (p.clone(), t.clone())).collect();
        let forgot = rules.memory.forget_gone(&rules.on_disk);
        if !unseen.is_empty() || forgot {
            for (path, text) in unseen {
                rules.memory.first_sight(&path, &text, users_folder && !existed);
            }
            rules.memory.save(sandbox)?;
            rules.build_kept();
        }
        Ok(rules)
    }

    fn build_kept(&mut self) {
        let (mut owned, mut kept) = (Vec::new(), Vec::new());
        for (path, k) in self.memory.kept() {
            if k.owned {
                owned.extend(self.build(path, &k.text));
                kept.extend(self.build(path, &k.text));
            } else {
                let ignores_only: String = k.text.lines().filter(|l| !l.trim_start().starts_with('!')).collect::<Vec<_>>().join("\n");
                kept.extend(self.build(path, &ignores_only));
            }
        }
        sort(&mut owned);
        sort(&mut kept);
        (self.owned, self.kept) = (owned, kept);
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
        self.memory.own(file, text);
    }

    /// This peer wrote or read `text` at the `.gitignore` at `file`: found
    /// there again, it is not its user's word. True when that is new.
    pub fn note_known(&mut self, file: &RelPath, text: &str) -> bool {
        self.memory.note_known(file, text)
    }

    /// Whether this peer wrote or read `text` at `file`.
    pub fn is_known(&self, file: &RelPath, text: &str) -> bool {
        self.memory.is_known(file, text)
    }

    /// Writes what this peer remembers to its state folder.
    pub fn save(&self, sandbox: &Sandbox) -> Result<(), FsError> {
        self.memory.save(sandbox)
    }

    /// The `.gitignore` files whose text on disk, when the rules were read,
    /// is not the one kept.
    pub fn changed_on_disk(&self) -> impl Iterator<Item = (&RelPath, &str)> {
        self.on_disk.iter().filter(|(p, t)| self.memory.kept_text(p) != Some(t.as_str())).map(|(p, t)| (p, t.as_str()))
    }

    /// True when this peer does not share what it has at `rel`: it is
    /// ignored (by the files now, or as remembered), or a secret it keeps back.
    pub fn withholds(&self, rel: &RelPath, is_dir: bool) -> bool {
        self.is_ignored(rel, is_dir) || self.ignores(&self.kept, rel, is_dir) || self.secrets.withholds(rel, is_dir)
    }

    /// True when `rel` is not ignored but is a secret this peer keeps back.
    pub fn keeps_secret(&self, rel: &RelPath, is_dir: bool) -> bool {
        self.secrets.withholds(rel, is_dir) && !self.is_ignored(rel, is_dir)
    }

    /// True when a peer's entry at `rel` is refused here: the files now, or
    /// this peer's user's own texts, ignore it. (Peers' texts as first seen
    /// keep this peer from sharing, not from taking what peers share.)
    pub fn is_ignored(&self, rel: &RelPath, is_dir: bool) -> bool {
        is_reserved(rel) || self.ignores(&self.now, rel, is_dir) || self.ignores(&self.owned, rel, is_dir)
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
