//! Files whose names say they hold secrets (private keys, credentials,
//! environment files): a folder shared by mistake must not hand them to
//! whoever holds the link. They are not shared unless git tracks them here
//! (the project shares them anyway) or the user says so
//! (`--share-secrets`). This is about what this peer shares; entries other
//! peers share are taken as they come.

use std::collections::HashSet;
use std::path::Path;

use crate::path::RelPath;

/// Folders of credentials, wherever they are.
const FOLDERS: [&str; 3] = [".ssh", ".gnupg", ".aws"];
/// Files of credentials, by name.
const FILES: [&str; 8] = [".env", ".netrc", ".pgpass", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", ".npmrc"];
/// Key stores, by extension.
const EXTENSIONS: [&str; 6] = ["key", "pem", "p12", "pfx", "jks", "keystore"];
/// `.env.<this>` files are templates, committed on purpose.
const TEMPLATES: [&str; 4] = ["example", "sample", "template", "dist"];

/// Whether the name of `rel` says it holds secrets (also once set aside
/// as `<name>.conflict-N`).
pub fn is_secret(rel: &RelPath, is_dir: bool) -> bool {
    let name = without_conflict_suffix(rel.name());
    if is_dir {
        return FOLDERS.contains(&name);
    }
    if FILES.contains(&name) || rel.as_str().split('/').any(|p| FOLDERS.contains(&p)) {
        return true;
    }
    if let Some(rest) = name.strip_prefix(".env.") {
        return !TEMPLATES.contains(&rest);
    }
    name.rsplit_once('.').is_some_and(|(stem, ext)| !stem.is_empty() && EXTENSIONS.contains(&ext))
}

/// `a.key.conflict-2` → `a.key`: the name a file had before it was set aside.
fn without_conflict_suffix(name: &str) -> &str {
    match name.rsplit_once(".conflict-") {
        Some((stem, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => stem,
        _ => name,
    }
}

/// Which secret files this peer keeps to itself.
#[derive(Debug, Default)]
pub struct Secrets {
    share_all: bool,
    /// Paths git tracks in the workspace.
    tracked: HashSet<String>,
}

impl Secrets {
    /// `share_all`: the user shares them all. Otherwise the ones git tracks
    /// under `root` are shared (when git is installed and `root` is in a
    /// repository; else none).
    pub fn load(root: &Path, share_all: bool) -> Self {
        let tracked = if share_all { HashSet::new() } else { super::git::tracked(root) };
        Self { share_all, tracked }
    }

    /// Whether `rel` is a secret this peer does not share.
    pub fn withholds(&self, rel: &RelPath, is_dir: bool) -> bool {
        if self.share_all || !is_secret(rel, is_dir) {
            return false;
        }
        if is_dir {
            let prefix = format!("{}/", rel.as_str());
            return !self.tracked.iter().any(|t| t.starts_with(&prefix));
        }
        !self.tracked.contains(rel.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str) -> RelPath {
        RelPath::new(s).expect("path")
    }

    #[test]
    fn secrets_are_known_by_name_and_templates_and_public_keys_are_not() {
        for (p, dir) in [(".env", false), (".env.local", false), ("app/.env.production", false), (".ssh", true), ("home/.ssh/config", false)] {
            assert!(is_secret(&rel(p), dir), "{p}");
        }
        for p in ["id_ed25519", "certs/server.key", "tls/chain.pem", ".netrc", "store.p12", "server.key.conflict-1", ".env.conflict-12"] {
            assert!(is_secret(&rel(p), false), "{p}");
        }
        for p in [".env.example", "id_ed25519.pub", "src/keys.rs", "environment.ts", "docs/ssh.md", ".pem"] {
            assert!(!is_secret(&rel(p), false), "{p}");
        }
        assert!(!is_secret(&rel("src"), true));
    }

    /// A real repository: a tracked `.env` is shared, an untracked key is not.
    #[test]
    fn files_git_tracks_are_shared_and_the_user_can_share_all() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        let git = |args: &[&str]| std::process::Command::new("git").arg("-C").arg(root).args(args).output().expect("git runs");
        assert!(git(&["init", "-q"]).status.success());
        std::fs::write(root.join(".env"), "DEBUG=1\n").expect("write");
        std::fs::write(root.join("server.key"), "-----BEGIN PRIVATE KEY-----\n").expect("write");
        assert!(git(&["add", ".env"]).status.success());
        let secrets = Secrets::load(root, false);
        assert!(!secrets.withholds(&rel(".env"), false), "tracked by git");
        assert!(secrets.withholds(&rel("server.key"), false));
        assert!(!Secrets::load(root, true).withholds(&rel("server.key"), false));
        // Outside any repository nothing is tracked.
        let plain = tempfile::tempdir().expect("tempdir");
        assert!(Secrets::load(plain.path(), false).withholds(&rel(".env"), false));
    }

    /// Peers write the workspace's files: a bare repository planted in it,
    /// whose config would run a command when git looks at it, is never used.
    #[test]
    fn a_repository_planted_by_a_peer_is_not_run() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        let bare = std::process::Command::new("git").args(["init", "-q", "--bare"]).arg(root).output().expect("git runs");
        assert!(bare.status.success());
        let marker = root.join("ran");
        let config = format!("[core]\n\tbare = true\n\tfsmonitor = \"touch {}\"\n", marker.display());
        std::fs::write(root.join("config"), config).expect("write");
        std::fs::write(root.join(".env"), "X=1").expect("write");
        assert!(Secrets::load(root, false).withholds(&rel(".env"), false));
        assert!(!marker.exists(), "git ran the planted repository's fsmonitor command");
    }
}
