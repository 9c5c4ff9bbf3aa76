//! The workspace's own git repository, read with git itself: what it
//! tracks, the branch, and which files are changed. Peers write the
//! workspace's other files, so git is only ever pointed at `<root>/.git`
//! (never shared), never left to find a repository (a planted bare one
//! could run commands from its config), and its file system hooks are off.

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::path::RelPath;

/// A file's state against the last commit, as an editor marks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "GitChange"))]
pub enum Change {
    Modified,
    Added,
    Deleted,
    Untracked,
    Conflicted,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// The current branch; `None` when detached.
    pub branch: Option<String>,
    pub changes: Vec<(RelPath, Change)>,
}

/// git, pointed at the repository of `root`, if it has one.
fn git(root: &Path) -> Option<Command> {
    let git_dir = root.join(".git");
    if !git_dir.exists() {
        return None;
    }
    let mut cmd = Command::new("git");
    cmd.args(["-c", "core.fsmonitor=false", "-c", "safe.bareRepository=explicit", "-c", "core.untrackedCache=false"])
        .arg(format!("--git-dir={}", git_dir.display()))
        .arg(format!("--work-tree={}", root.display()))
        .arg("-C")
        .arg(root)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    Some(cmd)
}

/// The files git tracks under `root`, relative to it (none without a
/// repository or without git).
pub fn tracked(root: &Path) -> HashSet<String> {
    let Some(mut cmd) = git(root) else { return HashSet::new() };
    match cmd.args(["ls-files", "-z"]).output() {
        Ok(out) if out.status.success() => {
            out.stdout.split(|b| *b == 0).filter_map(|p| std::str::from_utf8(p).ok()).filter(|p| !p.is_empty()).map(str::to_owned).collect()
        }
        _ => HashSet::new(),
    }
}

/// The branch and the changed files of `root`'s repository; `None` without
/// a repository or without git.
pub fn status(root: &Path) -> Option<Status> {
    let out = git(root)?.args(["status", "--porcelain=v2", "-z", "--branch", "--untracked-files=all"]).output().ok()?;
    out.status.success().then(|| parse(&out.stdout))
}

/// Reads `git status --porcelain=v2 -z --branch`.
fn parse(out: &[u8]) -> Status {
    let mut status = Status::default();
    let mut fields = out.split(|b| *b == 0).filter_map(|f| std::str::from_utf8(f).ok());
    while let Some(line) = fields.next() {
        let mut parts = line.splitn(2, ' ');
        let (kind, rest) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        let (xy, path) = match kind {
            "#" => {
                if let Some(head) = rest.strip_prefix("branch.head ") {
                    status.branch = (head != "(detached)").then(|| head.to_owned());
                }
                continue;
            }
            "1" => (rest.get(..2).unwrap_or_default(), rest.splitn(8, ' ').nth(7)),
            "2" => {
                // A rename: the original path follows as its own field.
                fields.next();
                (rest.get(..2).unwrap_or_default(), rest.splitn(9, ' ').nth(8))
            }
            "u" => ("UU", rest.splitn(10, ' ').nth(9)),
            "?" => ("??", Some(rest)),
            _ => continue,
        };
        let change = match xy {
            "??" => Change::Untracked,
            "UU" => Change::Conflicted,
            xy if xy.contains('D') => Change::Deleted,
            xy if xy.contains('A') || kind == "2" => Change::Added,
            _ => Change::Modified,
        };
        if let Some(path) = path.and_then(|p| RelPath::new(p).ok()) {
            status.changes.push((path, change));
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real repository: a modified, an added, an untracked and a deleted
    /// file, and the branch.
    #[test]
    fn status_marks_each_kind_of_change_and_names_the_branch() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        let run = |args: &[&str]| {
            let ok =
                Command::new("git").arg("-C").arg(root).args(["-c", "user.name=t", "-c", "user.email=t@t"]).args(args).output().expect("git runs");
            assert!(ok.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&ok.stderr));
        };
        run(&["init", "-q", "-b", "main"]);
        for f in ["a.txt", "gone.txt", "src/b.rs"] {
            std::fs::create_dir_all(root.join(f).parent().expect("parent")).expect("mkdir");
            std::fs::write(root.join(f), "one\n").expect("write");
        }
        run(&["add", "."]);
        run(&["commit", "-q", "-m", "first"]);
        std::fs::write(root.join("a.txt"), "two\n").expect("write");
        std::fs::write(root.join("new.txt"), "new\n").expect("write");
        run(&["add", "new.txt"]);
        std::fs::write(root.join("src/loose.rs"), "x\n").expect("write");
        std::fs::remove_file(root.join("gone.txt")).expect("rm");
        let status = status(root).expect("a repository");
        assert_eq!(status.branch.as_deref(), Some("main"));
        let mut got: Vec<(String, Change)> = status.changes.into_iter().map(|(p, c)| (p.to_string(), c)).collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            got,
            [
                ("a.txt".into(), Change::Modified),
                ("gone.txt".into(), Change::Deleted),
                ("new.txt".into(), Change::Added),
                ("src/loose.rs".into(), Change::Untracked)
            ]
        );
        assert!(tracked(root).contains("src/b.rs"));
        assert_eq!(super::status(tempfile::tempdir().expect("tempdir").path()), None, "no repository");
    }
}
