//! Text edits as splices with UTF-16 code unit offsets (Monaco's unit), and
//! the diff that turns an edit made on disk into the smallest splices.
//!
//! Minimal splices matter for merging: replacing a whole text would make
//! every concurrent edit of another peer conflict with it.

use std::time::{Duration, Instant};

use similar::{Algorithm, DiffOp};

/// Delete `delete` code units at `index`, then insert `insert` there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    pub index: usize,
    pub delete: usize,
    pub insert: String,
}

/// Above this many changed characters the diff stops refining and may return
/// coarser (still correct) splices.
const DIFF_DEADLINE: Duration = Duration::from_millis(200);

fn utf16_len(chars: &[char]) -> usize {
    chars.iter().map(|c| c.len_utf16()).sum()
}

/// Splices that turn `old` into `new`, to be applied in order (each index is
/// relative to the text left by the splices before it).
pub fn diff(old: &str, new: &str) -> Vec<Splice> {
    if old == new {
        return Vec::new();
    }
    let old: Vec<char> = old.chars().collect();
    let new: Vec<char> = new.chars().collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let max_suffix = old.len().min(new.len()) - prefix;
    let suffix = old.iter().rev().zip(new.iter().rev()).take(max_suffix).take_while(|(a, b)| a == b).count();
    let old_mid = &old[prefix..old.len() - suffix];
    let new_mid = &new[prefix..new.len() - suffix];

    let ops = similar::capture_diff_slices_deadline(
        Algorithm::Myers,
        old_mid,
        new_mid,
        Some(Instant::now() + DIFF_DEADLINE),
    );
    let mut cursor = utf16_len(&old[..prefix]);
    let mut out: Vec<Splice> = Vec::new();
    for op in ops {
        let (del, ins): (&[char], &[char]) = match op {
            DiffOp::Equal { old_index, len, .. } => {
                cursor += utf16_len(&old_mid[old_index..old_index + len]);
                continue;
            }
            DiffOp::Delete { old_index, old_len, .. } => (&old_mid[old_index..old_index + old_len], &[]),
            DiffOp::Insert { new_index, new_len, .. } => (&[], &new_mid[new_index..new_index + new_len]),
            DiffOp::Replace { old_index, old_len, new_index, new_len } => {
                (&old_mid[old_index..old_index + old_len], &new_mid[new_index..new_index + new_len])
            }
        };
        out.push(Splice { index: cursor, delete: utf16_len(del), insert: ins.iter().collect() });
        cursor += utf16_len(ins);
    }
    out
}

/// Applies splices to a string (for tests and for checking a peer's patches).
pub fn apply(text: &str, splices: &[Splice]) -> Option<String> {
    let mut units: Vec<u16> = text.encode_utf16().collect();
    for s in splices {
        let end = s.index.checked_add(s.delete)?;
        if end > units.len() {
            return None;
        }
        units.splice(s.index..end, s.insert.encode_utf16());
    }
    String::from_utf16(&units).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(old: &str, new: &str) -> Vec<Splice> {
        let splices = diff(old, new);
        assert_eq!(apply(old, &splices).as_deref(), Some(new), "{old:?} -> {new:?}: {splices:?}");
        splices
    }

    #[test]
    fn single_insert_is_one_small_splice() {
        let s = roundtrip("hello world", "hello brave world");
        assert_eq!(s, vec![Splice { index: 6, delete: 0, insert: "brave ".into() }]);
    }

    #[test]
    fn offsets_count_utf16_code_units() {
        // '😀' is two UTF-16 code units; 'é' is one.
        let s = roundtrip("é😀x", "é😀yx");
        assert_eq!(s, vec![Splice { index: 3, delete: 0, insert: "y".into() }]);
        roundtrip("😀😀😀", "😀😁😀");
    }

    #[test]
    fn edits_at_both_ends_stay_separate() {
        let s = roundtrip("line one\nmiddle\nline three\n", "line 1\nmiddle\nline three!\n");
        assert!(s.iter().all(|x| x.insert.len() < 5), "{s:?}");
        roundtrip("", "new file\n");
        roundtrip("gone\n", "");
        roundtrip("abc", "xyz");
    }

    #[test]
    fn out_of_range_splice_is_refused() {
        assert_eq!(apply("abc", &[Splice { index: 2, delete: 5, insert: String::new() }]), None);
    }
}
