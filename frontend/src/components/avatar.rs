//! A round avatar with a person's (or group's) initials, coloured by id so
//! the same person looks the same everywhere. Colours are classes, not
//! inline styles: the page's CSP allows no inline style.

use leptos::prelude::*;

/// Hues the stylesheet defines as `.avatar.hue-0` … `.hue-11`.
const HUES: i64 = 12;

/// Up to two initials: of the first two words, or the first two letters.
pub fn initials(name: &str) -> String {
    let mut words = name.split_whitespace().filter_map(|w| w.chars().next());
    let letters: String = match (words.next(), words.next()) {
        (Some(a), Some(b)) => [a, b].into_iter().collect(),
        _ => name.trim().chars().take(2).collect(),
    };
    letters.to_uppercase()
}

#[component]
pub fn Avatar(name: String, id: i64, #[prop(optional)] small: bool) -> impl IntoView {
    let size = if small { " small" } else { "" };
    let class = format!("avatar{size} hue-{}", id.rem_euclid(HUES));
    view! { <span class=class aria-hidden="true">{initials(&name)}</span> }
}

#[cfg(test)]
mod tests {
    use super::initials;

    #[test]
    fn initials_of_names() {
        assert_eq!(initials("Ann Lee"), "AL");
        assert_eq!(initials("bob"), "BO");
        assert_eq!(initials("  émile zola  the third"), "ÉZ");
        assert_eq!(initials("😀 party"), "😀P");
        assert_eq!(initials(""), "");
    }
}
