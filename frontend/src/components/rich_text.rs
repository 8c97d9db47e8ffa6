//! Message text rendered strictly as text, with web addresses made into
//! safe links and `@mentions` of members marked. Nothing in a message is
//! ever parsed as HTML.

use leptos::prelude::*;

/// Splits text into plain runs and `http(s)://` links.
fn segments(text: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut plain = String::new();
    for word in text.split_inclusive(char::is_whitespace) {
        let trimmed = word.trim_end();
        let is_link = (trimmed.starts_with("https://") || trimmed.starts_with("http://")) && trimmed.len() > 8;
        if is_link {
            // Trailing punctuation usually ends the sentence, not the address.
            let url = trimmed.trim_end_matches(['.', ',', ')', '!', '?', ';', ':']);
            if !plain.is_empty() {
                out.push((false, std::mem::take(&mut plain)));
            }
            out.push((true, url.to_owned()));
            plain.push_str(&word[url.len()..]);
        } else {
            plain.push_str(word);
        }
    }
    if !plain.is_empty() {
        out.push((false, plain));
    }
    out
}

/// Splits plain text at the `@name` tokens that name one of `mentioned`
/// (usernames, compared ignoring ASCII case): (is a mention, text).
fn mention_parts<'a>(text: &'a str, mentioned: &[String]) -> Vec<(bool, &'a str)> {
    let mut out = Vec::new();
    let mut at = 0;
    for (range, name) in natter_common::mentions::find(text) {
        if mentioned.iter().any(|m| m.eq_ignore_ascii_case(name)) {
            out.push((false, &text[at..range.start]));
            out.push((true, &text[range.clone()]));
            at = range.end;
        }
    }
    out.push((false, &text[at..]));
    out.retain(|(_, part)| !part.is_empty());
    out
}

/// `text`, its links clickable and its mentions of `mentioned` (usernames)
/// marked.
#[component]
pub fn RichText(text: String, #[prop(optional)] mentioned: Vec<String>) -> impl IntoView {
    segments(&text)
        .into_iter()
        .map(|(link, part)| {
            if link {
                let href = part.clone();
                view! { <a href=href target="_blank" rel="noopener noreferrer">{part}</a> }.into_any()
            } else if mentioned.is_empty() {
                part.into_any()
            } else {
                mention_parts(&part, &mentioned)
                    .into_iter()
                    .map(|(mention, piece)| {
                        let piece = piece.to_owned();
                        if mention {
                            view! { <span class="mention">{piece}</span> }.into_any()
                        } else {
                            piece.into_any()
                        }
                    })
                    .collect_view()
                    .into_any()
            }
        })
        .collect_view()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_links_and_keeps_the_rest() {
        let parts = segments("see https://example.com/a?b=1. and <img src=x>");
        assert_eq!(
            parts,
            vec![
                (false, "see ".to_owned()),
                (true, "https://example.com/a?b=1".to_owned()),
                (false, ". and <img src=x>".to_owned()),
            ]
        );
        assert_eq!(
            mention_parts("hi @Carol, not @dan or a@carol", &["carol".to_owned()]),
            vec![(false, "hi "), (true, "@Carol"), (false, ", not @dan or a@carol")]
        );
        assert_eq!(
            segments("javascript:alert(1)"),
            vec![(false, "javascript:alert(1)".to_owned())]
        );
    }
}
