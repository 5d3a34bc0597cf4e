//! Text for a terminal: what tools and their authors wrote is shown escaped, so a docstring or a
//! tool's output cannot move the cursor, retitle the window, clear the screen or write the
//! clipboard (OSC 52). `--json` output is exact JSON and needs none of this.

use std::borrow::Cow;

/// `s` with every control character except newline and tab shown as an escape (`\x1b`,
/// `\u{9b}`), so nothing reaches the terminal as a control sequence.
pub fn terminal_safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            let n = c as u32;
            if n < 0x100 {
                out.push_str(&format!("\\x{n:02x}"));
            } else {
                out.push_str(&format!("\\u{{{n:x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// C0 and C1 controls (ESC, CSI, OSC's BEL and ST, carriage return, backspace, DEL) and the
/// bidirectional overrides that reorder what a reader sees.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_sequences_are_escaped_and_plain_text_is_not_copied() {
        assert!(matches!(terminal_safe("plain — text\n\tok"), Cow::Borrowed(_)));
        assert_eq!(terminal_safe("\x1b]52;c;aGk=\x07title"), "\\x1b]52;c;aGk=\\x07title");
        assert_eq!(terminal_safe("a\rb\u{9b}2J\u{202e}"), "a\\x0db\\x9b2J\\u{202e}");
    }
}
