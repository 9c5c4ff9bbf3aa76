//! Workspace-relative paths: the only kind of path that enters the document or
//! crosses the network.
//!
//! A [`RelPath`] is validated when it is built, so code that holds one never
//! has to ask whether it could climb out of the workspace: it has no `..`, no
//! `.`, no root, no empty component and no NUL byte.

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// Longest path accepted from a peer, in bytes (Linux's `PATH_MAX`).
const MAX_LEN: usize = 4096;

/// Why a string or path is not an acceptable workspace-relative path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("empty path")]
    Empty,
    #[error("path is longer than {MAX_LEN} bytes")]
    TooLong,
    #[error("absolute path {0:?} is not allowed; paths are relative to the workspace")]
    Absolute(String),
    #[error("path {0:?} climbs out of the workspace with '..'")]
    ParentDir(String),
    #[error("path {0:?} has an empty or '.' component, or a control character")]
    BadComponent(String),
    #[error("path {0:?} is not valid UTF-8")]
    NotUtf8(String),
    #[error("path {0:?} is outside the workspace")]
    OutsideRoot(String),
}

/// A normalized, `/`-separated path relative to the workspace root.
/// Deserializing validates, like [`RelPath::new`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RelPath(String);

impl TryFrom<String> for RelPath {
    type Error = PathError;

    fn try_from(s: String) -> Result<Self, PathError> {
        Self::new(&s)
    }
}

impl From<RelPath> for String {
    fn from(p: RelPath) -> String {
        p.0
    }
}

impl RelPath {
    /// Validates a `/`-separated path as found in the document or on the wire.
    pub fn new(s: &str) -> Result<Self, PathError> {
        if s.is_empty() {
            return Err(PathError::Empty);
        }
        if s.len() > MAX_LEN {
            return Err(PathError::TooLong);
        }
        if s.starts_with('/') {
            return Err(PathError::Absolute(s.to_owned()));
        }
        for part in s.split('/') {
            check_component(part, s)?;
        }
        Ok(Self(s.to_owned()))
    }

    /// Builds the relative path of `abs`, which must lie under `root`.
    pub fn from_abs(root: &Path, abs: &Path) -> Result<Self, PathError> {
        let shown = || abs.display().to_string();
        let rel = abs.strip_prefix(root).map_err(|_| PathError::OutsideRoot(shown()))?;
        let mut parts = Vec::new();
        for c in rel.components() {
            match c {
                Component::Normal(p) => parts.push(p.to_str().ok_or_else(|| PathError::NotUtf8(shown()))?),
                Component::ParentDir => return Err(PathError::ParentDir(shown())),
                _ => return Err(PathError::BadComponent(shown())),
            }
        }
        Self::new(&parts.join("/"))
    }

    /// One validated component, such as a file name taken from the document.
    pub fn join(&self, name: &str) -> Result<Self, PathError> {
        check_component(name, name)?;
        if name.contains('/') {
            return Err(PathError::BadComponent(name.to_owned()));
        }
        Self::new(&format!("{}/{}", self.0, name))
    }

    /// A single-component path.
    pub fn single(name: &str) -> Result<Self, PathError> {
        if name.contains('/') {
            return Err(PathError::BadComponent(name.to_owned()));
        }
        Self::new(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last component.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The containing directory, `None` for a top-level entry.
    pub fn parent(&self) -> Option<RelPath> {
        self.0.rsplit_once('/').map(|(p, _)| RelPath(p.to_owned()))
    }

    /// True when `self` is `other` or lies inside it.
    pub fn starts_with(&self, other: &RelPath) -> bool {
        self.0 == other.0 || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }

    /// Replaces the prefix `from` (a directory that moved) by `to`.
    pub fn rebase(&self, from: &RelPath, to: &RelPath) -> Option<RelPath> {
        if self == from {
            return Some(to.clone());
        }
        self.starts_with(from).then(|| RelPath(format!("{}{}", to.0, &self.0[from.0.len()..])))
    }

    /// The path as a relative `PathBuf`, for the sandbox.
    pub fn to_path(&self) -> PathBuf {
        PathBuf::from(&self.0)
    }

    /// Number of components; parents sort before their children by depth.
    pub fn depth(&self) -> usize {
        self.0.split('/').count()
    }
}

fn check_component(part: &str, whole: &str) -> Result<(), PathError> {
    match part {
        ".." => Err(PathError::ParentDir(whole.to_owned())),
        "" | "." => Err(PathError::BadComponent(whole.to_owned())),
        // Control characters in a name would be escape sequences wherever
        // a path is printed: such files are not shared.
        p if p.chars().any(char::is_control) => Err(PathError::BadComponent(whole.to_owned())),
        _ => Ok(()),
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_paths_are_refused() {
        for bad in ["", "/etc/passwd", "..", "../x", "a/../../x", "a/..", "./a", "a/./b", "a//b", "a/", "a\0b", "\x1b[2Jx.txt", "a/b\nc"] {
            assert!(RelPath::new(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(RelPath::new(&"a/".repeat(3000)).is_err());
    }

    #[test]
    fn ordinary_paths_are_accepted() {
        for good in ["a", "src/main.rs", ".gitignore", "dir with space/ü.txt", "a..b", "...x"] {
            assert_eq!(RelPath::new(good).map(|p| p.0), Ok(good.to_owned()));
        }
    }

    #[test]
    fn join_refuses_separators_and_dots() {
        let base = RelPath::new("src").expect("valid");
        assert!(base.join("../x").is_err());
        assert!(base.join("..").is_err());
        assert!(base.join("a/b").is_err());
        assert_eq!(base.join("lib.rs").expect("valid").as_str(), "src/lib.rs");
    }

    #[test]
    fn from_abs_stays_under_root() {
        let root = Path::new("/work/ws");
        assert_eq!(RelPath::from_abs(root, Path::new("/work/ws/a/b.txt")).expect("inside").as_str(), "a/b.txt");
        assert!(RelPath::from_abs(root, Path::new("/work/ws2/a")).is_err());
        assert!(RelPath::from_abs(root, Path::new("/work/ws/../x")).is_err());
        assert!(RelPath::from_abs(root, Path::new("/work/ws")).is_err());
    }

    #[test]
    fn rebase_moves_children_only() {
        let p = |s| RelPath::new(s).expect("valid");
        assert_eq!(p("a/b/c").rebase(&p("a/b"), &p("z")), Some(p("z/c")));
        assert_eq!(p("a/bc").rebase(&p("a/b"), &p("z")), None);
        assert_eq!(p("a/b").rebase(&p("a/b"), &p("z")), Some(p("z")));
    }
}
