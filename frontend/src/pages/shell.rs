//! The signed-in shell: top bar with message search, the user (a link to
//! their profile) and sign-out, the sidebar of conversations, and the
//! routed pane.

use leptos::{prelude::*, task::spawn_local};
use leptos_router::{
    components::{Outlet, A},
    hooks::{use_location, use_navigate},
};

use crate::{
    api,
    chat::{use_chat, Link},
    components::{
        avatar::Avatar,
        conversation_list::ConversationList,
        search::{MessageSearch, Search, SearchButton},
        when::When,
    },
    erased::{effect, resource},
    notify,
    state::{use_auth, use_changes},
};

#[component]
pub fn Shell() -> impl IntoView {
    let auth = use_auth();
    let chat = use_chat();
    let navigate = use_navigate();
    let link_label = move || match chat.link.get() {
        Link::Online => "Online".to_owned(),
        Link::Connecting => "Connecting…".to_owned(),
        Link::Retrying(secs) => format!("Offline — retrying in {secs} s"),
    };
    let link_class = move || match chat.link.get() {
        Link::Online => "link online",
        _ => "link offline",
    };
    // On a phone the list and the pane are two screens: anything but the
    // home route shows the pane alone.
    let location = use_location();
    let shell_class = move || {
        if location.pathname.with(|p| p == "/") {
            "shell"
        } else {
            "shell has-pane"
        }
    };
    let search = Search::new();
    let display_name = move || auth.user.with(|u| u.as_ref().map(|u| u.display_name.clone()));
    let username = move || auth.user.with(|u| u.as_ref().map(|u| format!("@{}", u.username)));
    // Changes with the profile (a new picture shows here at once).
    let my_avatar = move || {
        auth.user.with(|u| {
            u.as_ref().map(|u| {
                view! { <Avatar name=u.display_name.clone() id=u.id.0 picture=u.avatar.clone() size="small" /> }
            })
        })
    };

    // A notification clicked (here or through the service worker) opens
    // its conversation.
    let go = navigate.clone();
    effect(move || {
        if let Some(id) = chat.goto.get() {
            chat.goto.set(None);
            go(&format!("/c/{}", id.0), Default::default());
        }
    });
    // Contact requests waiting for my answer, on the Contacts link.
    let changes = use_changes();
    let requests = resource(move || {
        changes.track_contacts();
        api::contact_requests()
    });
    let waiting = move || requests.get().and_then(|r| r.ok()).map_or(0, |r| r.incoming.len());

    let logout = move |_| {
        let navigate = navigate.clone();
        spawn_local(async move {
            // This browser stops receiving pushes while the session still
            // can say so.
            notify::unsubscribe().await;
            // Local state goes regardless; the cookie is gone or dead either way.
            let _ = api::logout().await;
            auth.user.set(None);
            navigate("/login", Default::default());
        });
    };

    view! {
        <div class=shell_class>
            <a class="skip-link" href="#composer">"Skip to the message box"</a>
            <header class="topbar">
                <A href="/" attr:class="brand">"natter"</A>
                <SearchButton search />
                <span id="connection-state" class=link_class role="status">{link_label}</span>
                <A href="/profile" attr:class="me" attr:id="nav-profile">
                    {my_avatar}
                    <span class="shell-user">{display_name}</span>
                    " "
                    <span class="handle">{username}</span>
                </A>
                <button id="logout" type="button" on:click=logout>"Sign out"</button>
            </header>
            <nav class="sidebar" aria-label="Conversations">
                <div class="sidebar-actions">
                    <A href="/contacts" attr:class="button-link" attr:id="nav-contacts">
                        "Contacts"
                        <When when=move || { waiting() > 0 }>
                            <span class="nav-badge" id="contacts-badge">
                                {waiting}<span class="visually-hidden">" waiting"</span>
                            </span>
                        </When>
                    </A>
                    <A href="/groups/new" attr:class="button-link" attr:id="nav-new-group">"New group"</A>
                </div>
                <ConversationList />
            </nav>
            <section class="chat" aria-label="Chat">
                <Outlet />
            </section>
            <MessageSearch search />
        </div>
    }
}
