//! A round avatar: the person's picture (its thumbnail) when they have one,
//! else their (or a group's) initials, coloured by id so the same person
//! looks the same everywhere. A picture that fails to load gives way to
//! the initials. Colours and sizes are classes, not inline styles: the
//! page's CSP allows no inline style.

use leptos::prelude::*;

use crate::text::uppercase;

/// Hues the stylesheet defines as `.avatar.hue-0` … `.hue-11`.
const HUES: i64 = 12;

/// Up to two initials: of the first two words, or the first two letters.
pub fn initials(name: &str) -> String {
    let mut words = name.split_whitespace().filter_map(|w| w.chars().next());
    let letters: String = match (words.next(), words.next()) {
        (Some(a), Some(b)) => [a, b].into_iter().collect(),
        _ => name.trim().chars().take(2).collect(),
    };
    uppercase(&letters)
}

/// The thumbnail of picture `media` (a `User::avatar`).
pub fn thumb_url(media: &str) -> String {
    format!("/media/{media}/thumb")
}

/// `picture` is the media id of the person's picture (`User::avatar`);
/// `size` is `"small"`, `"large"` or empty (the default size). The picture
/// has an empty `alt`, as the initials are hidden: the name is always
/// written beside it.
#[component]
pub fn Avatar(
    name: String,
    id: i64,
    #[prop(optional_no_strip)] picture: Option<String>,
    #[prop(optional)] size: &'static str,
) -> impl IntoView {
    let gap = if size.is_empty() { "" } else { " " };
    let class = format!("avatar{gap}{size} hue-{}", id.rem_euclid(HUES));
    let letters = initials(&name);
    let Some(media) = picture else {
        return view! { <span class=class aria-hidden="true">{letters}</span> }.into_any();
    };
    // Gone (removed since this page learned of it) or unreadable: initials.
    let failed = RwSignal::new(false);
    let src = thumb_url(&media);
    (move || {
        if failed.get() {
            view! { <span class=class.clone() aria-hidden="true">{letters.clone()}</span> }.into_any()
        } else {
            view! {
                <img class=format!("{class} picture") src=src.clone() alt="" loading="lazy" decoding="async"
                    on:error=move |_| failed.set(true) />
            }
            .into_any()
        }
    })
    .into_any()
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
