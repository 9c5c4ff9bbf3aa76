//! All file I/O of the engine, confined to the workspace folder.
//!
//! The folder is opened once as a capability ([`cap_std::fs::Dir`]); every
//! later operation is relative to that handle, and the kernel refuses to
//! resolve a path (or a symlink) that leads outside of it. No check-then-use
//! window exists for a peer to race. Paths arrive as [`RelPath`], which has
//! already ruled out `..` and absolute paths.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use super::IgnoreRules;
use crate::path::{PathError, RelPath};

/// The folder inside the workspace that holds this peer's own state (identity,
/// saved document). It is never shared.
pub const STATE_DIR: &str = ".nitro";

/// Suffix of the temporary files used for atomic writes; the watcher ignores them.
pub const TEMP_SUFFIX: &str = ".nitro-tmp";

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Path(#[from] PathError),
}

fn io_err(path: impl std::fmt::Display) -> impl FnOnce(io::Error) -> FsError {
    move |source| FsError::Io { path: path.to_string(), source }
}

/// What a file holds, as far as sharing is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileContent {
    /// UTF-8 text without NUL bytes, within the size limit: shared live.
    Text(String),
    /// Listed with its size, never put in the document.
    Binary(u64),
    /// Listed with its size, never put in the document.
    TooLarge(u64),
}

/// A file that [`Sandbox::replace_text`] swapped out, still open.
#[derive(Debug)]
pub struct Swapped {
    file: cap_std::fs::File,
    expected: String,
}

impl Swapped {
    /// The old file's text if someone wrote to it after the swap began.
    pub fn edited(&mut self) -> Option<String> {
        let mut now = String::new();
        io::Seek::seek(&mut self.file, io::SeekFrom::Start(0)).ok()?;
        self.file.read_to_string(&mut now).ok()?;
        (now != self.expected).then_some(now)
    }

    /// The text it held when it was swapped out.
    pub fn expected(&self) -> &str {
        &self.expected
    }
}

/// What is found at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Missing,
    Dir,
    File(FileContent),
    /// Symlinks, sockets, devices: never followed and never shared.
    Other,
}

/// The workspace folder, opened as a capability.
#[derive(Debug)]
pub struct Sandbox {
    dir: Dir,
    root: PathBuf,
    max_file_size: u64,
    /// Files whose names say they hold secrets are shared too.
    share_secrets: bool,
}

impl Sandbox {
    /// Opens `root` (which must exist). Text files larger than `max_file_size`
    /// bytes are treated as [`FileContent::TooLarge`].
    pub fn open(root: &Path, max_file_size: u64) -> Result<Self, FsError> {
        let root = root.canonicalize().map_err(io_err(root.display()))?;
        let dir = Dir::open_ambient_dir(&root, ambient_authority()).map_err(io_err(root.display()))?;
        Ok(Self { dir, root, max_file_size, share_secrets: false })
    }

    /// Shares files whose names say they hold secrets, which are otherwise
    /// kept back unless git tracks them (see [`super::secrets`]).
    pub fn sharing_secrets(mut self, share: bool) -> Self {
        self.share_secrets = share;
        self
    }

    pub fn shares_secrets(&self) -> bool {
        self.share_secrets
    }

    /// The canonical absolute path of the workspace.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Classifies and, for text, reads what is at `rel`. Symlinks are not followed.
    pub fn read(&self, rel: &RelPath) -> Result<Node, FsError> {
        let meta = match self.dir.symlink_metadata(rel.to_path()) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Node::Missing),
            // A path through a file ("a.txt/b") is simply not there.
            Err(e) if e.raw_os_error() == Some(20) => return Ok(Node::Missing),
            Err(e) => return Err(io_err(rel)(e)),
        };
        if meta.is_dir() {
            return Ok(Node::Dir);
        }
        if !meta.is_file() {
            return Ok(Node::Other);
        }
        if meta.len() > self.max_file_size {
            return Ok(Node::File(FileContent::TooLarge(meta.len())));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        match self.dir.open(rel.to_path()) {
            // Read one byte past the limit so a file that grew meanwhile is still caught.
            Ok(f) => f.take(self.max_file_size + 1).read_to_end(&mut bytes).map_err(io_err(rel))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Node::Missing),
            Err(e) => return Err(io_err(rel)(e)),
        };
        Ok(Node::File(classify(bytes, self.max_file_size)))
    }

    /// Replaces the file at `rel` with `text` atomically (temp file + rename),
    /// creating missing parent folders.
    pub fn write_text(&self, rel: &RelPath, text: &str) -> Result<(), FsError> {
        self.write_bytes(rel, text.as_bytes())
    }

    /// Like [`Self::write_text`], but only while the file still holds
    /// `expected`: returns `None`, writing nothing, when someone changed it
    /// first (their change arrives through the watcher and is merged).
    ///
    /// Otherwise the file is replaced, and the returned [`Swapped`] keeps the
    /// old file open: a program that opened it just before the swap (a
    /// shell's `>>`, say) may still write to it, where the watcher cannot see.
    pub fn replace_text(&self, rel: &RelPath, expected: &str, text: &str) -> Result<Option<Swapped>, FsError> {
        let mut old = match self.dir.open(rel.to_path()) {
            Ok(f) => Swapped { file: f, expected: expected.to_owned() },
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(rel)(e)),
        };
        if old.edited().is_some() {
            return Ok(None);
        }
        let tmp = temp_name(rel);
        self.dir.write(&tmp, text.as_bytes()).map_err(io_err(rel))?;
        if self.read(rel)? != Node::File(FileContent::Text(expected.to_owned())) {
            let _ = self.dir.remove_file(&tmp);
            return Ok(None);
        }
        self.rename_temp(&tmp, rel)?;
        Ok(Some(old))
    }

    fn write_bytes(&self, rel: &RelPath, bytes: &[u8]) -> Result<(), FsError> {
        self.write_with(rel, bytes, None)
    }

    /// Writes atomically, with `permissions` when given (before the file
    /// takes its name, so it is never readable by others under it).
    fn write_with(&self, rel: &RelPath, bytes: &[u8], permissions: Option<cap_std::fs::Permissions>) -> Result<(), FsError> {
        if let Some(parent) = rel.parent() {
            self.create_dir(&parent)?;
        }
        let tmp = temp_name(rel);
        self.dir.write(&tmp, bytes).map_err(io_err(rel))?;
        if let Some(p) = permissions {
            self.dir.set_permissions(&tmp, p).map_err(io_err(rel))?;
        }
        self.rename_temp(&tmp, rel)
    }

    fn rename_temp(&self, tmp: &Path, rel: &RelPath) -> Result<(), FsError> {
        self.dir.rename(tmp, &self.dir, rel.to_path()).map_err(|e| {
            let _ = self.dir.remove_file(tmp);
            io_err(rel)(e)
        })
    }

    pub fn create_dir(&self, rel: &RelPath) -> Result<(), FsError> {
        self.dir.create_dir_all(rel.to_path()).map_err(io_err(rel))
    }

    /// Removes a file; a file that is already gone is not an error.
    pub fn remove_file(&self, rel: &RelPath) -> Result<(), FsError> {
        ignore_missing(self.dir.remove_file(rel.to_path())).map_err(io_err(rel))
    }

    /// Removes a folder only when it is empty: files the workspace does not
    /// share (ignored, binary) are never deleted along with it.
    pub fn remove_dir_if_empty(&self, rel: &RelPath) -> Result<bool, FsError> {
        match self.dir.remove_dir(rel.to_path()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => Ok(false),
            Err(e) => Err(io_err(rel)(e)),
        }
    }

    /// Moves `from` to `to`, creating the parent folders of `to`.
    pub fn rename(&self, from: &RelPath, to: &RelPath) -> Result<(), FsError> {
        if let Some(parent) = to.parent() {
            self.create_dir(&parent)?;
        }
        self.dir.rename(from.to_path(), &self.dir, to.to_path()).map_err(io_err(format!("{from} -> {to}")))
    }

    /// Lists the entries of a folder (`None` for the root) that are shared:
    /// not ignored, not symlinks. Returns `(path, is_dir)`.
    pub fn list(&self, dir: Option<&RelPath>, rules: &IgnoreRules) -> Result<Vec<(RelPath, bool)>, FsError> {
        let shown = dir.map_or_else(|| ".".to_owned(), ToString::to_string);
        let entries = match dir {
            Some(d) => self.dir.read_dir(d.to_path()),
            None => self.dir.entries(),
        };
        let entries = match entries {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(shown)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err(&shown))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                tracing::warn!(dir = %shown, "skipping a file name that is not UTF-8");
                continue;
            };
            let rel = match dir {
                Some(d) => d.join(name)?,
                None => RelPath::single(name)?,
            };
            let ft = entry.file_type().map_err(io_err(&rel))?;
            if ft.is_symlink() || !(ft.is_dir() || ft.is_file()) {
                continue;
            }
            if rules.withholds(&rel, ft.is_dir()) {
                continue;
            }
            out.push((rel, ft.is_dir()));
        }
        out.sort();
        Ok(out)
    }

    /// The secret files and folders in the shared folders that this peer
    /// keeps back (see [`super::secrets`]).
    pub fn withheld_secrets(&self, rules: &IgnoreRules) -> Result<Vec<RelPath>, FsError> {
        let mut out = Vec::new();
        self.each_unlisted(rules, |rel, is_dir| {
            if rules.keeps_secret(&rel, is_dir) {
                out.push(rel);
            }
        })?;
        out.sort();
        Ok(out)
    }

    /// Removes what writes cut short left in the shared folders (the process
    /// was killed between writing a file's new text and moving it in
    /// place). Returns how many were removed.
    pub fn sweep_temps(&self, rules: &IgnoreRules) -> Result<usize, FsError> {
        let mut removed = 0;
        self.each_unlisted(rules, |rel, is_dir| {
            if !is_dir && is_write_temp(rel.name()) && self.dir.remove_file(rel.to_path()).is_ok() {
                removed += 1;
            }
        })?;
        Ok(removed)
    }

    /// Calls `f` with every file and folder (not symlinks) directly in a
    /// shared folder, those [`Self::list`] leaves out included.
    fn each_unlisted(&self, rules: &IgnoreRules, mut f: impl FnMut(RelPath, bool)) -> Result<(), FsError> {
        let mut dirs = vec![None];
        dirs.extend(self.scan(rules)?.into_iter().filter(|(_, is_dir)| *is_dir).map(|(p, _)| Some(p)));
        for dir in dirs {
            let entries = match &dir {
                Some(d) => self.dir.read_dir(d.to_path()),
                None => self.dir.entries(),
            };
            let Ok(entries) = entries else { continue };
            for entry in entries.flatten() {
                let (Some(name), Ok(ft)) = (entry.file_name().to_str().map(str::to_owned), entry.file_type()) else { continue };
                let rel = match &dir {
                    Some(d) => d.join(&name),
                    None => RelPath::single(&name),
                };
                if let Ok(rel) = rel
                    && (ft.is_file() || ft.is_dir())
                {
                    f(rel, ft.is_dir());
                }
            }
        }
        Ok(())
    }

    /// Every shared folder and file of the workspace, parents before children.
    pub fn scan(&self, rules: &IgnoreRules) -> Result<Vec<(RelPath, bool)>, FsError> {
        self.scan_under(None, rules)
    }

    /// Like [`Self::scan`], for the tree under one folder (the folder excluded).
    pub fn scan_under(&self, dir: Option<&RelPath>, rules: &IgnoreRules) -> Result<Vec<(RelPath, bool)>, FsError> {
        let mut out = Vec::new();
        let mut stack = vec![dir.cloned()];
        while let Some(d) = stack.pop() {
            for (rel, is_dir) in self.list(d.as_ref(), rules)? {
                if is_dir {
                    stack.push(Some(rel.clone()));
                }
                out.push((rel, is_dir));
            }
        }
        out.sort_by(|a, b| a.0.depth().cmp(&b.0.depth()).then_with(|| a.0.cmp(&b.0)));
        Ok(out)
    }

    /// Reads a file of this peer's state folder, `None` when it does not exist.
    pub fn read_state(&self, name: &str) -> Result<Option<Vec<u8>>, FsError> {
        let rel = state_path(name)?;
        match self.dir.read(rel.to_path()) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(rel)(e)),
        }
    }

    /// Writes a file of this peer's state folder atomically, readable by
    /// its owner only (it holds the invite secret and the private key).
    pub fn write_state(&self, name: &str, bytes: &[u8]) -> Result<(), FsError> {
        self.ensure_state_dir()?;
        self.write_with(&state_path(name)?, bytes, Some(private(0o600)))
    }

    /// Creates the state folder, for its owner only, with a `.gitignore`
    /// that keeps it out of the user's git repository.
    fn ensure_state_dir(&self) -> Result<(), FsError> {
        if self.read_state(".gitignore")?.is_none() {
            self.write_bytes(&state_path(".gitignore")?, b"*\n")?;
        }
        self.dir.set_permissions(STATE_DIR, private(0o700)).map_err(io_err(STATE_DIR))
    }

    /// Keeps a user's text of a shared file at `.nitro/unshared/<rel>`, for a
    /// peer that may not change shared files (the file itself is put back);
    /// returns where it went.
    pub fn keep_unshared(&self, rel: &RelPath, bytes: &[u8]) -> Result<PathBuf, FsError> {
        self.ensure_state_dir()?;
        let kept = RelPath::new(&format!("{STATE_DIR}/unshared/{}", rel.as_str()))?;
        self.write_with(&kept, bytes, Some(private(0o600)))?;
        Ok(self.root.join(kept.to_path()))
    }

    /// Appends to a file of this peer's state folder, creating it. Runs
    /// before every file write: the folder is set up only when missing.
    pub fn append_state(&self, name: &str, bytes: &[u8]) -> Result<(), FsError> {
        let rel = state_path(name)?;
        let mut opts = cap_std::fs::OpenOptions::new();
        opts.append(true).create(true);
        cap_std::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let file = match self.dir.open_with(rel.to_path(), &opts) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.ensure_state_dir()?;
                self.dir.open_with(rel.to_path(), &opts)
            }
            other => other,
        };
        std::io::Write::write_all(&mut file.map_err(io_err(&rel))?, bytes).map_err(io_err(&rel))
    }

    /// True when the folder holds nothing at all.
    pub fn is_empty(&self) -> Result<bool, FsError> {
        let mut entries = self.dir.entries().map_err(io_err(self.root.display()))?;
        Ok(entries.next().is_none())
    }
}

/// Permissions for the state folder and its files: the owner's alone.
fn private(mode: u32) -> cap_std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    cap_std::fs::Permissions::from_std(std::fs::Permissions::from_mode(mode))
}

fn state_path(name: &str) -> Result<RelPath, PathError> {
    RelPath::single(STATE_DIR)?.join(name)
}

/// Whether `name` is one [`temp_name`] makes: `.<name>.<8 hex digits>.nitro-tmp`.
fn is_write_temp(name: &str) -> bool {
    let tag = name.strip_suffix(TEMP_SUFFIX).filter(|_| name.starts_with('.')).and_then(|s| s.rsplit_once('.')).map(|(_, tag)| tag);
    tag.is_some_and(|t| t.len() == 8 && t.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn temp_name(rel: &RelPath) -> PathBuf {
    let tag: u32 = rand::random();
    let name = format!(".{}.{tag:08x}{TEMP_SUFFIX}", rel.name());
    match rel.parent() {
        Some(p) => p.to_path().join(name),
        None => PathBuf::from(name),
    }
}

fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Decides whether bytes are shared as text. NUL bytes or invalid UTF-8 make a
/// file binary, as git decides.
pub fn classify(bytes: Vec<u8>, max_file_size: u64) -> FileContent {
    let len = bytes.len() as u64;
    if len > max_file_size {
        return FileContent::TooLarge(len);
    }
    if bytes.contains(&0) {
        return FileContent::Binary(len);
    }
    match String::from_utf8(bytes) {
        Ok(s) => FileContent::Text(s),
        Err(_) => FileContent::Binary(len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str) -> RelPath {
        RelPath::new(s).expect("valid path")
    }

    #[test]
    fn temp_files_of_cut_short_writes_are_swept_and_nothing_else() {
        let (_tmp, sb) = setup();
        sb.write_text(&rel("src/a.txt"), "a").expect("write");
        let root = sb.root().to_path_buf();
        let left = [".a.txt.0badf00d.nitro-tmp", "src/.a.txt.1234abcd.nitro-tmp"];
        let kept = ["notes.nitro-tmp", "src/0123456789abcdef.nitro-tmp", ".a.txt.xyz.nitro-tmp", "src/a.txt"];
        for f in left.iter().chain(&kept) {
            std::fs::write(root.join(f), "x").expect("write");
        }
        let rules = IgnoreRules::default();
        assert_eq!(sb.sweep_temps(&rules).expect("sweep"), 2);
        for f in left {
            assert!(!root.join(f).exists(), "{f} was left");
        }
        for f in kept {
            assert!(root.join(f).exists(), "{f} was removed");
        }
    }

    fn setup() -> (tempfile::TempDir, Sandbox) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let ws = tmp.path().join("ws");
        std::fs::create_dir(&ws).expect("mkdir");
        let sb = Sandbox::open(&ws, 1024).expect("open");
        (tmp, sb)
    }

    #[test]
    fn the_state_folder_and_its_files_are_for_their_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let (tmp, sb) = setup();
        // The journal may be the first thing written to a new state folder.
        sb.append_state("changes.log", b"x").expect("append");
        sb.write_state("identity.pem", b"PRIVATE KEY").expect("write");
        let mode = |p: &str| std::fs::metadata(tmp.path().join("ws").join(p)).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(".nitro"), 0o700);
        assert_eq!(mode(".nitro/identity.pem"), 0o600);
        assert_eq!(mode(".nitro/changes.log"), 0o600);
    }

    #[test]
    fn classifies_text_binary_and_large() {
        let (tmp, sb) = setup();
        let ws = tmp.path().join("ws");
        std::fs::write(ws.join("a.txt"), "héllo").expect("write");
        std::fs::write(ws.join("b.bin"), [0u8, 1, 2]).expect("write");
        std::fs::write(ws.join("c.txt"), vec![b'x'; 2000]).expect("write");
        std::fs::write(ws.join("d.txt"), [0xff, 0xfe, b'a']).expect("write");
        assert_eq!(sb.read(&rel("a.txt")).expect("read"), Node::File(FileContent::Text("héllo".into())));
        assert_eq!(sb.read(&rel("b.bin")).expect("read"), Node::File(FileContent::Binary(3)));
        assert_eq!(sb.read(&rel("c.txt")).expect("read"), Node::File(FileContent::TooLarge(2000)));
        assert_eq!(sb.read(&rel("d.txt")).expect("read"), Node::File(FileContent::Binary(3)));
        assert_eq!(sb.read(&rel("none")).expect("read"), Node::Missing);
        assert_eq!(sb.read(&rel("a.txt/x")).expect("read"), Node::Missing);
    }

    #[test]
    fn symlinks_out_of_the_workspace_are_never_followed() {
        let (tmp, sb) = setup();
        let ws = tmp.path().join("ws");
        std::fs::write(tmp.path().join("secret"), "top secret").expect("write");
        std::fs::create_dir(tmp.path().join("outside")).expect("mkdir");
        std::os::unix::fs::symlink(tmp.path().join("secret"), ws.join("link")).expect("symlink");
        std::os::unix::fs::symlink(tmp.path().join("outside"), ws.join("dirlink")).expect("symlink");

        assert_eq!(sb.read(&rel("link")).expect("read"), Node::Other);
        // Writing through a symlinked folder is refused by the capability.
        assert!(sb.write_text(&rel("dirlink/planted"), "x").is_err());
        assert!(!tmp.path().join("outside/planted").exists());
        // Reading through it is refused too.
        std::fs::write(tmp.path().join("outside/anything"), "kept outside").expect("write");
        assert!(sb.read(&rel("dirlink/anything")).is_err());
        // A rename onto a symlink replaces the link, never the file it points to.
        sb.write_text(&rel("x.txt"), "mine").expect("write");
        sb.rename(&rel("x.txt"), &rel("link")).expect("rename");
        assert_eq!(std::fs::read_to_string(tmp.path().join("secret")).expect("read"), "top secret");
        // Symlinks are not listed for sharing.
        let listed = sb.scan(&IgnoreRules::default()).expect("scan");
        assert!(listed.iter().all(|(p, _)| p.as_str() != "dirlink"));
    }

    #[test]
    fn writes_are_atomic_and_create_parents() {
        let (tmp, sb) = setup();
        sb.write_text(&rel("deep/er/f.txt"), "one").expect("write");
        sb.write_text(&rel("deep/er/f.txt"), "two").expect("write");
        let dir = tmp.path().join("ws/deep/er");
        assert_eq!(std::fs::read_to_string(dir.join("f.txt")).expect("read"), "two");
        let names: Vec<_> = std::fs::read_dir(&dir).expect("ls").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f.txt")], "no temp file left behind");
    }

    #[test]
    fn replace_text_leaves_a_file_someone_else_changed() {
        let (tmp, sb) = setup();
        sb.write_text(&rel("f.txt"), "base").expect("write");
        let mut swapped = sb.replace_text(&rel("f.txt"), "base", "merged").expect("replace").expect("written");
        assert_eq!(swapped.edited(), None);
        std::fs::write(tmp.path().join("ws/f.txt"), "typed meanwhile").expect("write");
        assert!(sb.replace_text(&rel("f.txt"), "merged", "stale merge").expect("replace").is_none());
        assert_eq!(std::fs::read_to_string(tmp.path().join("ws/f.txt")).expect("read"), "typed meanwhile");
    }

    #[test]
    fn a_write_to_the_swapped_out_file_is_still_seen() {
        let (tmp, sb) = setup();
        sb.write_text(&rel("log.txt"), "one\n").expect("write");
        // A shell has opened the file for appending just before the swap.
        let mut shell = std::fs::OpenOptions::new().append(true).open(tmp.path().join("ws/log.txt")).expect("open");
        let mut swapped = sb.replace_text(&rel("log.txt"), "one\n", "one\nremote\n").expect("replace").expect("written");
        std::io::Write::write_all(&mut shell, b"mine\n").expect("append");
        assert_eq!(std::fs::read_to_string(tmp.path().join("ws/log.txt")).expect("read"), "one\nremote\n");
        assert_eq!(swapped.edited().as_deref(), Some("one\nmine\n"));
    }

    #[test]
    fn non_empty_folders_are_not_removed() {
        let (_tmp, sb) = setup();
        sb.write_text(&rel("d/keep.bin"), "x").expect("write");
        assert!(!sb.remove_dir_if_empty(&rel("d")).expect("rmdir"));
        sb.remove_file(&rel("d/keep.bin")).expect("rm");
        assert!(sb.remove_dir_if_empty(&rel("d")).expect("rmdir"));
    }
}
