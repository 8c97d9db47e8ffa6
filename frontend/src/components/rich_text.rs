//! Message text rendered strictly as text, with web addresses made into
//! safe links. Nothing in a message is ever parsed as HTML.

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

#[component]
pub fn RichText(text: String) -> impl IntoView {
    segments(&text)
        .into_iter()
        .map(|(link, part)| {
            if link {
                let href = part.clone();
                view! { <a href=href target="_blank" rel="noopener noreferrer">{part}</a> }.into_any()
            } else {
                part.into_any()
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
            segments("javascript:alert(1)"),
            vec![(false, "javascript:alert(1)".to_owned())]
        );
    }
}
