//! Text that a peer chose (names, terminal titles) is shown in windows and
//! printed on terminals: control characters (escape sequences that move
//! the cursor, retitle or clear a terminal) and bidirectional overrides
//! (which make one name look like another) are taken out, and it is cut to
//! a length.

/// `s` without control or bidirectional formatting characters, at most
/// `max` bytes, cut on a character boundary.
pub fn printable(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    for c in s.chars().filter(|c| !c.is_control() && !is_bidi_control(*c)) {
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_overrides_are_taken_out() {
        assert_eq!(printable("bob\x1b]0;pwned\x07\x1b[2J", 64), "bob]0;pwned[2J");
        assert_eq!(printable("eve\u{202e}txt.exe", 64), "evetxt.exe");
        assert_eq!(printable("line\r\nbreak\x7f", 64), "linebreak");
        assert_eq!(printable("zoë", 3), "zo");
        assert_eq!(printable("héllo wörld", 64), "héllo wörld");
    }
}
