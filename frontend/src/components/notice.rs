//! A status line that takes room only while it has something to say.

use leptos::prelude::*;

/// A polite live region, always in the page so that screen readers hear
/// what comes into it, holding a `.notice` paragraph only while `text` has
/// something to say: an empty one left a blank band where it stood.
#[component]
pub fn Notice(#[prop(into)] text: Signal<Option<String>>, #[prop(optional)] id: Option<&'static str>) -> impl IntoView {
    view! {
        <div role="status" id=id>
            {move || text.get().map(|text| view! { <p class="notice">{text}</p> })}
        </div>
    }
}
