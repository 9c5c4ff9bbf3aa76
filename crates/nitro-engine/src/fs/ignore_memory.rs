//! What this peer remembers of the workspace's `.gitignore` files, in its
//! state folder (`ignores.json`): the text it stands behind for each, and
//! the texts it wrote or read there. `.gitignore` files are shared like any
//! file, so a peer could weaken them; this memory is how a peer tells its
//! own user's word from a peer's (see [`super::IgnoreRules`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{FsError, Sandbox};
use crate::path::RelPath;

const FILE: &str = "ignores.json";
/// Texts remembered per `.gitignore` as written or read by this peer.
const MAX_KNOWN: usize = 64;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct IgnoreMemory {
    /// The text this peer stands behind for each `.gitignore`.
    kept: BTreeMap<RelPath, Kept>,
    /// Hashes of the texts this peer wrote to or read from each
    /// `.gitignore`, newest last: a text on disk that is none of them was
    /// written by this peer's user.
    known: BTreeMap<RelPath, Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Kept {
    pub text: String,
    /// Written by this peer's user (or there when a host first shared its
    /// folder); otherwise the first text of a peer's file seen here.
    pub owned: bool,
}

impl IgnoreMemory {
    /// The memory, and whether there was one.
    pub fn load(sandbox: &Sandbox) -> Result<(Self, bool), FsError> {
        match sandbox.read_state(FILE)? {
            None => Ok((Self::default(), false)),
            Some(bytes) => Ok((
                serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "{FILE} is unreadable: the .gitignore files on disk are taken as they are");
                    Self::default()
                }),
                true,
            )),
        }
    }

    pub fn save(&self, sandbox: &Sandbox) -> Result<(), FsError> {
        sandbox.write_state(FILE, &serde_json::to_vec(self).unwrap_or_default())
    }

    pub fn kept(&self) -> impl Iterator<Item = (&RelPath, &Kept)> {
        self.kept.iter()
    }

    pub fn kept_text(&self, file: &RelPath) -> Option<&str> {
        self.kept.get(file).map(|k| k.text.as_str())
    }

    /// This peer's user wrote (or removed, `None`) the file.
    pub fn own(&mut self, file: &RelPath, text: Option<String>) {
        match text {
            Some(text) => {
                self.note_known(file, &text);
                self.kept.insert(file.clone(), Kept { text, owned: true });
            }
            None => {
                self.kept.remove(file);
            }
        }
    }

    /// A file seen for the first time: kept as it is.
    pub fn first_sight(&mut self, file: &RelPath, text: &str, owned: bool) {
        self.note_known(file, text);
        self.kept.entry(file.clone()).or_insert_with(|| Kept { text: text.to_owned(), owned });
    }

    /// Forgets what it remembers of `.gitignore` files that are gone, but
    /// its own user's texts: peers cannot grow it without bound by making
    /// and removing files. (A peer's file made again is written by this
    /// peer first, so its text is known again before the watcher sees it.)
    /// True when anything was forgotten.
    pub fn forget_gone(&mut self, present: &BTreeMap<RelPath, String>) -> bool {
        let before = (self.kept.len(), self.known.len());
        self.kept.retain(|path, k| k.owned || present.contains_key(path));
        self.known.retain(|path, _| present.contains_key(path) || self.kept.contains_key(path));
        before != (self.kept.len(), self.known.len())
    }

    /// This peer wrote or read `text` at `file`. True when that is new.
    pub fn note_known(&mut self, file: &RelPath, text: &str) -> bool {
        let hash = crate::doc::content_hash(text);
        let known = self.known.entry(file.clone()).or_default();
        if known.last() == Some(&hash) {
            return false;
        }
        known.retain(|h| *h != hash);
        known.push(hash);
        if known.len() > MAX_KNOWN {
            known.remove(0);
        }
        true
    }

    /// Whether this peer wrote or read `text` at `file`.
    pub fn is_known(&self, file: &RelPath, text: &str) -> bool {
        let hash = crate::doc::content_hash(text);
        self.known.get(file).is_some_and(|k| k.contains(&hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str) -> RelPath {
        RelPath::new(s).expect("path")
    }

    /// A peer making and removing `.gitignore` files in ever new folders
    /// leaves nothing behind; the user's own texts stay.
    #[test]
    fn what_peers_made_and_removed_is_forgotten_and_the_users_word_is_kept() {
        let mut memory = IgnoreMemory::default();
        memory.own(&rel(".gitignore"), Some(".env\n".into()));
        for i in 0..100 {
            let file = rel(&format!("d{i}/.gitignore"));
            memory.first_sight(&file, "*.log\n", false);
            memory.note_known(&file, "*.tmp\n");
        }
        let present = BTreeMap::from([(rel("d7/.gitignore"), "*.log\n".to_owned())]);
        assert!(memory.forget_gone(&present));
        let kept: Vec<String> = memory.kept().map(|(p, _)| p.to_string()).collect();
        assert_eq!(kept, [".gitignore", "d7/.gitignore"]);
        assert!(memory.is_known(&rel("d7/.gitignore"), "*.tmp\n"));
        assert!(!memory.is_known(&rel("d8/.gitignore"), "*.tmp\n"));
        assert!(memory.is_known(&rel(".gitignore"), ".env\n"), "the user's own file, though gone, is remembered");
        assert!(!memory.forget_gone(&present), "nothing more to forget");
    }
}
