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
/// Changed lines are compared character by character only up to this many
/// bytes, old and new together: a typed word within a line stays a small
/// splice, and a rewritten block costs no search.
const CHAR_DIFF_BYTES: usize = 2048;

fn utf16_len(chars: &[char]) -> usize {
    chars.iter().map(|c| c.len_utf16()).sum()
}

/// Splices that turn `old` into `new`, to be applied in order (each index is
/// relative to the text left by the splices before it).
///
/// Lines are compared first, and characters only within lines that changed:
/// a line that was added or removed stays one splice of whole lines, so it
/// cannot interleave with a line another peer adds at the same place.
pub fn diff(old: &str, new: &str) -> Vec<Splice> {
    if old == new {
        return Vec::new();
    }
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = similar::capture_diff_slices_deadline(Algorithm::Myers, &old_lines, &new_lines, Some(Instant::now() + DIFF_DEADLINE));
    let units = |lines: &[&str]| -> usize { lines.iter().map(|l| l.encode_utf16().count()).sum() };
    let mut cursor = 0;
    let mut out = Vec::new();
    for op in ops {
        match op {
            DiffOp::Equal { old_index, len, .. } => cursor += units(&old_lines[old_index..old_index + len]),
            DiffOp::Delete { old_index, old_len, .. } => {
                out.push(Splice { index: cursor, delete: units(&old_lines[old_index..old_index + old_len]), insert: String::new() });
            }
            DiffOp::Insert { new_index, new_len, .. } => {
                let insert = new_lines[new_index..new_index + new_len].concat();
                let len = insert.encode_utf16().count();
                out.push(Splice { index: cursor, delete: 0, insert });
                cursor += len;
            }
            DiffOp::Replace { old_index, old_len, new_index, new_len } => {
                let (o, n) = (old_lines[old_index..old_index + old_len].concat(), new_lines[new_index..new_index + new_len].concat());
                let len = n.encode_utf16().count();
                if o.len() + n.len() <= CHAR_DIFF_BYTES {
                    char_diff(&o, &n, cursor, &mut out);
                } else {
                    // A block rewritten (a branch switch, a formatter): its
                    // lines are replaced whole, at the cost of their length
                    // rather than of a search for common characters.
                    out.push(Splice { index: cursor, delete: o.encode_utf16().count(), insert: n });
                }
                cursor += len;
            }
        }
    }
    out
}

/// Character splices turning `old` into `new`, for text that starts at `start`.
fn char_diff(old: &str, new: &str, start: usize, out: &mut Vec<Splice>) {
    let old: Vec<char> = old.chars().collect();
    let new: Vec<char> = new.chars().collect();
    let ops = similar::capture_diff_slices_deadline(Algorithm::Myers, &old, &new, Some(Instant::now() + DIFF_DEADLINE));
    let mut cursor = start;
    for op in ops {
        let (del, ins): (&[char], &[char]) = match op {
            DiffOp::Equal { old_index, len, .. } => {
                cursor += utf16_len(&old[old_index..old_index + len]);
                continue;
            }
            DiffOp::Delete { old_index, old_len, .. } => (&old[old_index..old_index + old_len], &[]),
            DiffOp::Insert { new_index, new_len, .. } => (&[], &new[new_index..new_index + new_len]),
            DiffOp::Replace { old_index, old_len, new_index, new_len } => {
                (&old[old_index..old_index + old_len], &new[new_index..new_index + new_len])
            }
        };
        out.push(Splice { index: cursor, delete: utf16_len(del), insert: ins.iter().collect() });
        cursor += utf16_len(ins);
    }
}

/// The splices as ranges of the text they were made against: `(start,
/// deleted length, inserted text)`. Needs splices in increasing order that
/// do not overlap, as [`diff`] makes them.
fn absolute(splices: &[Splice]) -> Vec<(usize, usize, &str)> {
    let mut shift: isize = 0;
    splices
        .iter()
        .map(|s| {
            let start = (s.index as isize - shift).max(0) as usize;
            shift += s.insert.encode_utf16().count() as isize - s.delete as isize;
            (start, s.delete, s.insert.as_str())
        })
        .collect()
}

/// Carries splices made against `from` over to `to`, a text that shares
/// `from`'s history plus other edits: positions move past what was
/// inserted or deleted before them. Returns splices in decreasing order,
/// each independent of the others.
pub fn rebase(splices: &[Splice], from: &str, to: &str) -> Vec<Splice> {
    let changes = diff(from, to);
    let moved = absolute(&changes);
    // Where a position of `from` is in `to`. Text inserted exactly there
    // comes before it; a position inside deleted text lands where that text was.
    let map = |p: usize| -> usize {
        let mut shift: isize = 0;
        for &(start, deleted, inserted) in &moved {
            if start > p {
                break;
            }
            let len = inserted.encode_utf16().count() as isize;
            if p < start + deleted {
                return (start as isize + shift) as usize;
            }
            shift += len - deleted as isize;
        }
        (p as isize + shift) as usize
    };
    let mut out: Vec<Splice> = absolute(splices)
        .into_iter()
        .map(|(start, deleted, inserted)| {
            let (a, b) = (map(start), map(start + deleted));
            Splice { index: a, delete: b.saturating_sub(a), insert: inserted.to_owned() }
        })
        .collect();
    out.sort_by_key(|x| std::cmp::Reverse(x.index));
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
    fn a_rewritten_block_is_replaced_whole_and_a_word_in_a_line_is_small() {
        let old: String = (0..200).map(|i| format!("let a{i} = {i};\n")).collect();
        let new: String = (0..200).map(|i| format!("let b{i} = {};\n", i * 2)).collect();
        assert_eq!(roundtrip(&old, &new).len(), 1);
        let typed = old.replacen("let a7 = 7;", "let a7 = 7 + x;", 1);
        assert_eq!(roundtrip(&old, &typed), vec![Splice { index: old.find("7;").expect("at") + 1, delete: 0, insert: " + x".into() }]);
    }

    #[test]
    fn an_added_line_is_one_whole_line() {
        // A character diff would insert "2\nhost " after "host 1\nhost ".
        let s = roundtrip("host 1\nhost 3\n", "host 1\nhost 2\nhost 3\n");
        assert_eq!(s, vec![Splice { index: 7, delete: 0, insert: "host 2\n".into() }]);
        let s = roundtrip("a\nb\n", "a\n");
        assert_eq!(s, vec![Splice { index: 2, delete: 2, insert: String::new() }]);
    }

    #[test]
    fn splices_carry_over_to_a_text_edited_meanwhile() {
        let from = "one\ntwo\n";
        let to = "zero\none\ntwo\nthree\n";
        let mine = diff(from, "one\nTWO\ntwo\n");
        assert_eq!(apply(to, &rebase(&mine, from, to)).as_deref(), Some("zero\none\nTWO\ntwo\nthree\n"));
        let append = diff(from, "one\ntwo\nfour\n");
        assert_eq!(apply(to, &rebase(&append, from, to)).as_deref(), Some("zero\none\ntwo\nthree\nfour\n"));
        let both = diff(from, "ONE\ntwo\nend\n");
        assert_eq!(apply(to, &rebase(&both, from, to)).as_deref(), Some("zero\nONE\ntwo\nthree\nend\n"));
    }

    #[test]
    fn out_of_range_splice_is_refused() {
        assert_eq!(apply("abc", &[Splice { index: 2, delete: 5, insert: String::new() }]), None);
    }
}
