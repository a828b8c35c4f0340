//! The console's screen as text: what the terminal sent, cleaned of its escapes, and what
//! can be read from it (a prompt at the end, a command's output between its markers).

/// Text kept from the console for the error messages.
const SEEN_TAIL: usize = 400;

/// The output between the start marker's line and the end marker, and the exit code after
/// it. The echoed command line holds `echo S…` and `E…-$?`, neither of which matches.
pub(super) fn marked(text: &str, start: &str, end: &str) -> Option<(String, i32)> {
    let begin = text.find(&format!("\n{start}\n"))? + start.len() + 2;
    let rest = &text[begin..];
    let at = rest.find(end)?;
    let digits: String = rest[at + end.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let after = &rest[at + end.len() + digits.len()..];
    if digits.is_empty() || !after.starts_with('\n') {
        return None;
    }
    Some((rest[..at].to_string(), digits.parse().ok()?))
}

/// A bash prompt (`[user@host ~]$ ` or `# ` for root) at the end of what arrived.
pub(super) fn at_shell(text: &str) -> bool {
    let last = text.rsplit('\n').next().unwrap_or("");
    (last.ends_with("]$ ") || last.ends_with("]# ")) && last.starts_with('[')
}

pub(super) fn at_login_or_shell(text: &str) -> bool {
    at_shell(text) || text.ends_with("login: ")
}

/// Terminal text as plain lines: CSI escapes (bracketed paste `ESC[?2004h`, colours) go,
/// CRLF becomes LF and a lone CR (a line redrawn) is dropped.
pub(super) fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    // Parameters and intermediates, then one final byte in @..~.
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

pub(super) fn tail(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars[chars.len().saturating_sub(SEEN_TAIL)..]
        .iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_echoed_line_does_not_pass_for_the_output() {
        let (s, e) = ("Sab", "Eab-");
        let echoed = "echo Sab; false; echo Eab-$?\n";
        assert_eq!(marked(echoed, s, e), None);
        let answered = format!("{echoed}Sab\nsome\noutput\nEab-1\n[u@h ~]$ ");
        assert_eq!(marked(&answered, s, e), Some(("some\noutput\n".into(), 1)));
        let unterminated = format!("{echoed}Sab\nno newline Eab-0\n");
        assert_eq!(marked(&unterminated, s, e), Some(("no newline ".into(), 0)));
    }

    #[test]
    fn terminal_escapes_and_carriage_returns_go() {
        let raw = "\x1b[?2004h[u@h ~]$ ls\r\n\x1b[?2004l\ra\r\n";
        assert_eq!(clean(raw), "[u@h ~]$ ls\na\n");
        assert!(at_shell(&clean("x\r\n\x1b[?2004h[u@h ~]$ ")));
        assert!(!at_shell("h login: "));
    }
}
