//! `/`: the signed-in shell: header with the user and sign-out, a sidebar
//! for conversations, and the chat pane.

use leptos::{prelude::*, task::spawn_local};
use leptos_router::hooks::use_navigate;

use crate::{api, state::use_auth};

#[component]
pub fn Shell() -> impl IntoView {
    let auth = use_auth();
    let navigate = use_navigate();
    let display_name = move || {
        auth.user
            .with(|u| u.as_ref().map(|u| u.display_name.clone()))
    };
    let username = move || {
        auth.user
            .with(|u| u.as_ref().map(|u| format!("@{}", u.username)))
    };

    let logout = move |_| {
        let navigate = navigate.clone();
        spawn_local(async move {
            // Local state goes regardless; the cookie is gone or dead either way.
            let _ = api::logout().await;
            auth.user.set(None);
            navigate("/login", Default::default());
        });
    };

    view! {
        <div class="shell">
            <header class="topbar">
                <span class="brand">"natter"</span>
                <span class="me">
                    <span class="shell-user">{display_name}</span>
                    " "
                    <span class="handle">{username}</span>
                </span>
                <button id="logout" type="button" on:click=logout>"Sign out"</button>
            </header>
            <nav class="sidebar" aria-label="Conversations">
                <p class="empty">"No conversations yet."</p>
            </nav>
            <section class="chat" aria-label="Chat">
                <p class="empty">"Pick a conversation to start chatting."</p>
            </section>
        </div>
    }
}
