//! `/`: what the chat pane shows before a conversation is picked.

use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn Welcome() -> impl IntoView {
    view! {
        <section class="pane welcome">
            <h2>"Welcome to natter"</h2>
            <p class="empty">"Pick a conversation, or " <A href="/contacts">"find people to talk to"</A> "."</p>
        </section>
    }
}
