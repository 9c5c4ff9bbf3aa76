//! Search across the workspace's shared text files, as an editor's "find in
//! files" asks: a literal or a regular expression, case and whole-word
//! switches, include and exclude globs. Only what this peer shares is
//! searched, in the texts as they are now (edits not yet on disk included).

use globset::{Glob, GlobSet, GlobSetBuilder};
use regex::{Regex, RegexBuilder};

use super::{Workspace, WorkspaceError};
use crate::doc::Kind;
use crate::path::RelPath;

/// Matches reported at most; a search finding more says it was cut short.
pub const MAX_HITS: usize = 5_000;
/// Characters of a matching line shown around the match.
const PREVIEW: usize = 160;

#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub pattern: String,
    pub regex: bool,
    pub case_sensitive: bool,
    pub whole_word: bool,
    /// Globs a path must match (any of them); empty: every path.
    pub include: Vec<String>,
    /// Globs a path must not match.
    pub exclude: Vec<String>,
}

/// One match: where it is, as an editor counts (1-based lines, UTF-16
/// columns), and its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub path: RelPath,
    pub line: u32,
    /// 1-based, in UTF-16 code units.
    pub column: u32,
    /// In UTF-16 code units.
    pub length: u32,
    /// The line (cut around the match when long).
    pub preview: String,
    /// Where the match starts in `preview`, in UTF-16 code units.
    pub preview_start: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
    /// More matched than [`MAX_HITS`].
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("not a valid regular expression: {0}")]
    Regex(String),
    #[error("not a valid glob {0:?}: {1}")]
    Glob(String, String),
}

impl SearchQuery {
    fn matcher(&self) -> Result<Regex, SearchError> {
        let body = if self.regex { self.pattern.clone() } else { regex::escape(&self.pattern) };
        let body = if self.whole_word { format!(r"\b(?:{body})\b") } else { body };
        RegexBuilder::new(&body)
            .case_insensitive(!self.case_sensitive)
            .multi_line(true)
            .crlf(true)
            .build()
            .map_err(|e| SearchError::Regex(e.to_string()))
    }
}

fn globs(patterns: &[String]) -> Result<Option<GlobSet>, SearchError> {
    let patterns: Vec<&str> = patterns.iter().map(|p| p.trim()).filter(|p| !p.is_empty()).collect();
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut set = GlobSetBuilder::new();
    for p in patterns {
        // `src` or `*.rs` mean anywhere below, as editors take them.
        for form in [p.to_owned(), format!("**/{p}"), format!("{p}/**"), format!("**/{p}/**")] {
            set.add(Glob::new(&form).map_err(|e| SearchError::Glob(p.to_owned(), e.to_string()))?);
        }
    }
    set.build().map(Some).map_err(|e| SearchError::Glob(String::new(), e.to_string()))
}

impl Workspace {
    pub fn search(&self, query: &SearchQuery) -> Result<SearchResults, WorkspaceError> {
        let mut out = SearchResults::default();
        if query.pattern.is_empty() {
            return Ok(out);
        }
        let re = query.matcher()?;
        let (include, exclude) = (globs(&query.include)?, globs(&query.exclude)?);
        let mut files: Vec<_> = self.tree.entries.iter().filter(|(_, e)| e.kind == Kind::Text).collect();
        files.sort_by(|a, b| a.1.path.cmp(&b.1.path));
        for (id, entry) in files {
            let path = entry.path.as_str();
            if include.as_ref().is_some_and(|g| !g.is_match(path)) || exclude.as_ref().is_some_and(|g| g.is_match(path)) {
                continue;
            }
            let text = if self.doc.has_content(id) { self.doc.text(id).ok() } else { self.disk.get(id).and_then(|d| d.text.clone()) };
            let Some(text) = text else { continue };
            // Lines are counted as the matches go, not from the start each time.
            let mut lines = Lines::default();
            for m in re.find_iter(&text) {
                if m.as_str().is_empty() {
                    continue;
                }
                if out.hits.len() == MAX_HITS {
                    out.truncated = true;
                    return Ok(out);
                }
                out.hits.push(hit(&entry.path, &text, lines.at(&text, m.start()), m.start(), m.end()));
            }
        }
        Ok(out)
    }
}

/// The line number at a byte offset, for offsets that only grow.
#[derive(Default)]
struct Lines {
    offset: usize,
    line: u32,
}

impl Lines {
    fn at(&mut self, text: &str, offset: usize) -> u32 {
        self.line += text[self.offset..offset].matches('\n').count() as u32;
        self.offset = offset;
        self.line + 1
    }
}

fn hit(path: &RelPath, text: &str, line: u32, start: usize, end: usize) -> SearchHit {
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let utf16 = |s: &str| s.encode_utf16().count() as u32;
    let column = utf16(&text[line_start..start]) + 1;
    let length = utf16(&text[start..end.min(line_end.max(start))]).max(1);
    let whole = text[line_start..line_end].trim_end_matches('\r');
    let (preview, preview_start) = if whole.chars().count() <= PREVIEW {
        (whole.to_owned(), column - 1)
    } else {
        let before: String = text[line_start..start].chars().rev().take(PREVIEW / 3).collect::<Vec<_>>().into_iter().rev().collect();
        let after: String = text[start..line_end].chars().take(PREVIEW - PREVIEW / 3).collect();
        (format!("…{before}{after}…"), utf16(&before) + 1)
    };
    SearchHit { path: path.clone(), line, column, length, preview, preview_start }
}
