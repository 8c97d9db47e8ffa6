//! The piece of a message shown with a search hit: some text before the
//! first match and as much after as fits, split into parts at the matches.

use std::ops::Range;

use natter_common::api::{Snippet, SnippetPart};

/// Characters shown at most (more when the first match is longer).
const LENGTH: usize = 160;
/// Characters shown before the first match at most.
const LEAD: usize = 40;

/// `text` around `matches` (byte ranges in order, not overlapping).
pub fn around(text: &str, matches: &[Range<usize>]) -> Snippet {
    let first = matches.first().map_or(0..0, Clone::clone);
    let mut start = text[..first.start]
        .char_indices()
        .rev()
        .take(LEAD)
        .last()
        .map_or(first.start, |(at, _)| at);
    // Start at a word when the lead cut one in half.
    if start > 0 {
        if let Some(space) = text[start..first.start].find(char::is_whitespace) {
            start += space;
            start += text[start..].chars().next().map_or(0, char::len_utf8);
        }
    }
    let end = text[start..]
        .char_indices()
        .nth(LENGTH)
        .map_or(text.len(), |(at, _)| start + at)
        .max(first.end);
    let mut parts = Vec::new();
    let mut at = start;
    let mut push = |range: Range<usize>, hit: bool| {
        if !range.is_empty() {
            // One line: the snippet is a preview, not the message.
            let piece = text[range].replace(['\n', '\r', '\t'], " ");
            parts.push(SnippetPart { text: piece, hit });
        }
    };
    for m in matches.iter().filter(|m| m.start < end) {
        let m = m.start.max(start)..m.end.min(end);
        push(at..m.start, false);
        push(m.clone(), true);
        at = m.end;
    }
    push(at..end, false);
    Snippet {
        parts,
        cut_start: start > 0,
        cut_end: end < text.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(s: &Snippet) -> String {
        let mut out = String::new();
        if s.cut_start {
            out.push('…');
        }
        for part in &s.parts {
            if part.hit {
                out.push('[');
            }
            out.push_str(&part.text);
            if part.hit {
                out.push(']');
            }
        }
        if s.cut_end {
            out.push('…');
        }
        out
    }

    #[test]
    fn short_text_is_whole_with_matches_marked() {
        let text = "see you at the\nmeeting";
        assert_eq!(render(&around(text, &[4..7, 15..22])), "see [you] at the [meeting]");
    }

    #[test]
    fn long_text_is_cut_around_the_first_match_at_words() {
        let text = format!("{} needle {}", "hay ".repeat(50), "straw ".repeat(50));
        let at = text.find("needle").unwrap();
        let s = around(&text, std::slice::from_ref(&(at..at + 6)));
        let shown = render(&s);
        assert!(shown.starts_with("…hay hay"), "{shown}");
        assert!(shown.contains("[needle]"));
        assert!(shown.ends_with('…'));
        assert!(shown.chars().count() <= LENGTH + 4, "{shown}");
    }

    #[test]
    fn multibyte_text_cuts_at_characters() {
        let text = "会".repeat(300) + "议";
        let at = text.find('议').unwrap();
        let s = around(&text, std::slice::from_ref(&(at..at + 3)));
        assert!(s.cut_start && !s.cut_end);
        assert_eq!(s.parts.last().unwrap().text, "议");
    }
}
