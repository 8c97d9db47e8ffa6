//! How text becomes search terms: one definition for the messages that are
//! indexed, the queries that look for them and the highlighting of what
//! matched, so the three never disagree.
//!
//! Text is NFKC-normalised (full-width "Ｆｏｏ" is "foo"), lower-cased
//! (with "ß" as "ss" and a final "ς" as "σ"), and Latin, Greek and Cyrillic
//! letters lose their accents. Letters and digits in a run make a word.
//! Scripts written without spaces between words — Chinese, Japanese, Korean,
//! Thai, Lao, Khmer, Myanmar — give one term per character, so any run of
//! characters is found as a phrase of them: "会" and "会议" both find
//! "明天的会议", which a trigram index can't do for one or two characters.

use std::ops::Range;

use unicode_normalization::{char::decompose_canonical, UnicodeNormalization};

/// A query this long in words is cut: each word is an index look-up.
const MAX_QUERY_GROUPS: usize = 16;

/// One term of a text and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub term: String,
    /// Byte range in the original text.
    pub span: Range<usize>,
    /// One character of a script without spaces.
    pub is_char: bool,
}

/// The terms of `text`, in order.
pub fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut word: Option<Token> = None;
    let mut folded = String::new();
    for span in clusters(text) {
        folded.clear();
        fold(&text[span.clone()], &mut folded);
        for c in folded.chars() {
            if is_unspaced(c) {
                out.extend(word.take());
                out.push(Token {
                    term: c.to_string(),
                    span: span.clone(),
                    is_char: true,
                });
            } else if c.is_alphanumeric() || unicode_normalization::char::is_combining_mark(c) {
                let token = word.get_or_insert_with(|| Token {
                    term: String::new(),
                    span: span.clone(),
                    is_char: false,
                });
                token.term.push(c);
                token.span.end = span.end;
            } else {
                out.extend(word.take());
            }
        }
    }
    out.extend(word);
    // A stray combining mark alone is no word.
    out.retain(|t| {
        t.term
            .chars()
            .any(|c| !unicode_normalization::char::is_combining_mark(c))
    });
    out
}

/// The index's text for a message: its terms separated by spaces (the
/// index's `ascii` tokenizer splits there and nowhere else that matters).
pub fn index_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for token in tokens(text) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&token.term);
    }
    out
}

/// Byte ranges of `text`'s characters, each with the marks that combine
/// with it ("e" + U+0301, half-width "ｶ" + "ﾞ"), which NFKC joins.
fn clusters(text: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let combines = |c: char| unicode_normalization::char::is_combining_mark(c) || matches!(c, '\u{FF9E}' | '\u{FF9F}');
    let mut chars = text.char_indices().peekable();
    std::iter::from_fn(move || {
        let (start, first) = chars.next()?;
        let mut end = start + first.len_utf8();
        while let Some((at, c)) = chars.next_if(|&(_, c)| combines(c)) {
            end = at + c.len_utf8();
        }
        Some(start..end)
    })
}

/// A character and its marks as the terms compare them.
fn fold(cluster: &str, out: &mut String) {
    for n in cluster.nfkc() {
        for lower in n.to_lowercase() {
            match lower {
                'ß' => out.push_str("ss"),
                'ς' => out.push('σ'),
                l if is_accent(l) => {}
                l if has_accents_to_drop(l) => decompose_canonical(l, |d| {
                    if !is_accent(d) {
                        out.push(d);
                    }
                }),
                l => out.push(l),
            }
        }
    }
}

/// Latin, Greek and Cyrillic, whose accents searches ignore ("zoe" finds
/// "Zoë"). Other scripts' marks are part of their letters (and Japanese
/// kana or Korean syllables must not come apart).
fn has_accents_to_drop(c: char) -> bool {
    matches!(c, '\u{C0}'..='\u{52F}' | '\u{1E00}'..='\u{1FFF}')
}

/// Combining accents.
fn is_accent(c: char) -> bool {
    matches!(c,
        '\u{300}'..='\u{36F}' | '\u{1AB0}'..='\u{1AFF}' | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}' | '\u{FE20}'..='\u{FE2F}')
}

/// True when `text` has characters of a script written without spaces.
pub fn has_unspaced(text: &str) -> bool {
    text.chars().any(is_unspaced)
}

/// Scripts written without spaces between words: every character is a term.
fn is_unspaced(c: char) -> bool {
    matches!(c,
        '\u{0E00}'..='\u{0EFF}'   // Thai, Lao
        | '\u{1000}'..='\u{109F}' // Myanmar
        | '\u{1100}'..='\u{11FF}' // Hangul Jamo
        | '\u{1780}'..='\u{17FF}' // Khmer
        | '\u{2E80}'..='\u{2FDF}' // CJK radicals
        | '\u{3005}'..='\u{3007}' | '\u{3021}'..='\u{3029}' | '\u{3038}'..='\u{303B}'
        | '\u{3040}'..='\u{30FF}' // Hiragana, Katakana
        | '\u{3100}'..='\u{31BF}' // Bopomofo, Hangul compatibility Jamo
        | '\u{31F0}'..='\u{31FF}'
        | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' // CJK ideographs
        | '\u{A960}'..='\u{A97F}' | '\u{AC00}'..='\u{D7FF}' // Hangul
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{3FFFF}')
}

/// What a query asks for: every group must occur in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    groups: Vec<Group>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Group {
    /// A whole word, or a word's start (the query's last word).
    Word { term: String, prefix: bool },
    /// Characters of a script without spaces, one after another.
    Chars(Vec<String>),
}

impl Query {
    /// `None` when `q` has no letter or digit to look for.
    pub fn parse(q: &str) -> Option<Self> {
        let mut groups: Vec<Group> = Vec::new();
        let mut last_end = None;
        for token in tokens(q) {
            let joined = last_end == Some(token.span.start);
            last_end = Some(token.span.end);
            match (token.is_char, groups.last_mut()) {
                (true, Some(Group::Chars(chars))) if joined => chars.push(token.term),
                (true, _) => groups.push(Group::Chars(vec![token.term])),
                (false, _) => groups.push(Group::Word {
                    term: token.term,
                    prefix: false,
                }),
            }
        }
        if let Some(Group::Word { prefix, .. }) = groups.last_mut() {
            *prefix = true;
        }
        let mut unique = Vec::with_capacity(groups.len());
        for group in groups {
            if !unique.contains(&group) {
                unique.push(group);
            }
        }
        unique.truncate(MAX_QUERY_GROUPS);
        (!unique.is_empty()).then_some(Self { groups: unique })
    }

    /// The FTS5 expression on column `column`. Terms hold only letters,
    /// digits and marks, so quoting them is enough: nothing in a query is
    /// FTS syntax.
    pub fn fts(&self, column: &str) -> String {
        let parts: Vec<String> = self
            .groups
            .iter()
            .map(|group| match group {
                Group::Word { term, prefix } => {
                    format!("{column} : \"{term}\"{}", if *prefix { "*" } else { "" })
                }
                Group::Chars(chars) => format!("{column} : \"{}\"", chars.join(" ")),
            })
            .collect();
        parts.join(" AND ")
    }

    /// Where this query matches `text`, in order and not overlapping; `None`
    /// unless every group occurs (the text changed since it was indexed).
    pub fn matches(&self, text: &str) -> Option<Vec<Range<usize>>> {
        let tokens = tokens(text);
        let mut found: Vec<Range<usize>> = Vec::new();
        for group in &self.groups {
            let before = found.len();
            match group {
                Group::Word { term, prefix } => found.extend(
                    tokens
                        .iter()
                        .filter(|t| !t.is_char && (t.term == *term || (*prefix && t.term.starts_with(term.as_str()))))
                        .map(|t| t.span.clone()),
                ),
                Group::Chars(chars) => {
                    for run in tokens.windows(chars.len()) {
                        if run.iter().zip(chars).all(|(t, c)| t.is_char && t.term == *c) {
                            found.push(run[0].span.start..run[run.len() - 1].span.end);
                        }
                    }
                }
            }
            if found.len() == before {
                return None;
            }
        }
        found.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(found.len());
        for range in found {
            match merged.last_mut() {
                Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
                _ => merged.push(range),
            }
        }
        Some(merged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        tokens(text).into_iter().map(|t| t.term).collect()
    }

    #[test]
    fn words_fold_case_accents_and_width() {
        assert_eq!(terms("Zoë O'Brien-Smith"), ["zoe", "o", "brien", "smith"]);
        assert_eq!(
            terms("ＦＵＬＬ width Straße ΣΟΦΟΣ"),
            ["full", "width", "strasse", "σοφοσ"]
        );
        assert_eq!(terms("Crème brûlée, e\u{301}te\u{301}"), ["creme", "brulee", "ete"]);
        assert_eq!(terms("Ёлка й"), ["елка", "и"]);
        assert_eq!(terms("naïve🙂résumé"), ["naive", "resume"]);
        assert_eq!(terms("हिन्दी भाषा"), ["हिन्दी", "भाषा"]);
    }

    #[test]
    fn scripts_without_spaces_give_a_term_per_character() {
        assert_eq!(terms("明天的会议notes"), ["明", "天", "的", "会", "议", "notes"]);
        assert_eq!(terms("議事録です"), ["議", "事", "録", "で", "す"]);
        assert_eq!(terms("회의록 정리"), ["회", "의", "록", "정", "리"]);
        // Half-width katakana is the full-width one.
        assert_eq!(terms("ｶﾞ"), terms("ガ"));
    }

    #[test]
    fn spans_point_into_the_original_text() {
        let text = "Ｈｉ 会议!";
        let spans: Vec<&str> = tokens(text).iter().map(|t| &text[t.span.clone()]).collect();
        assert_eq!(spans, ["Ｈｉ", "会", "议"]);
    }

    #[test]
    fn queries_are_words_and_runs_of_characters() {
        let q = Query::parse("Meeting 会议 NOTES").unwrap();
        assert_eq!(
            q.fts("body"),
            r#"body : "meeting" AND body : "会 议" AND body : "notes"*"#
        );
        let q = Query::parse("会 议").unwrap();
        assert_eq!(q.fts("body"), r#"body : "会" AND body : "议""#);
        assert_eq!(Query::parse("  ?!  "), None);
        assert_eq!(Query::parse("\"NEAR(a* OR b)\" -x:"), Query::parse("near a or b x"));
        assert_eq!(Query::parse("a a A").unwrap().fts("b"), r#"b : "a" AND b : "a"*"#);
    }

    #[test]
    fn matches_mark_what_the_index_matched() {
        let text = "Tomorrow's MEETING moved: 明天的会议改到三点 (meet at 3)";
        let ranges = Query::parse("会议 meet").unwrap().matches(text).unwrap();
        let marked: Vec<&str> = ranges.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(marked, ["MEETING", "会议", "meet"]);
        assert_eq!(Query::parse("meeting 会面").unwrap().matches(text), None);
        assert_eq!(Query::parse("oving").unwrap().matches(text), None, "not inside a word");
    }
}
