//! The root component: session check, routes, and route guards.

use leptos::{prelude::*, task::spawn_local};
use leptos_router::{
    components::{ParentRoute, Redirect, Route, Router, Routes},
    path,
};
use natter_common::api::NotifyLevel;

use crate::{
    api,
    chat::Chat,
    components::when::When,
    erased::effect,
    notify,
    pages::{
        contacts::ContactsPage, conversation::ConversationPage, group::GroupPage, login::LoginPage,
        new_group::NewGroupPage, profile::ProfilePage, register::RegisterPage, shell::Shell, welcome::Welcome,
    },
    socket,
    state::{use_auth, Auth, Changes, Reveal},
};

#[component]
pub fn App() -> impl IntoView {
    let auth = Auth::new();
    let changes = Changes::new();
    let chat = Chat::new(auth, changes);
    provide_context(auth);
    provide_context(changes);
    provide_context(chat);
    provide_context(Reveal::new());
    spawn_local(async move {
        // A failed check leaves us signed out; the login page will say more.
        auth.user.set(api::me().await.ok().flatten());
        auth.checked.set(true);
    });
    // Unread messages in the tab's title and icon; muted conversations are
    // still counted in their own badge, not here.
    effect(move || {
        let total = chat.unread.with(|unread| {
            chat.notify.with(|levels| {
                unread
                    .iter()
                    .filter(|(id, _)| levels.get(id) != Some(&NotifyLevel::Muted))
                    .map(|(_, n)| *n)
                    .sum::<u32>()
            })
        });
        notify::show_count(total);
    });
    notify::listen_to_worker(chat);

    // One live connection per signed-in session: a new sign-in starts a new
    // generation, and the old loop (if any) notices and stops.
    let generation = StoredValue::new(0u64);
    let signed_in = Memo::new(move |_| auth.user.with(Option::is_some));
    effect(move || {
        let signed_in = signed_in.get();
        generation.update_value(|g| *g += 1);
        if signed_in {
            let mine = generation.get_value();
            // Notification settings, and this session's push subscription.
            spawn_local(chat.alerts.start());
            // A session ended elsewhere (revoked from another device) signs
            // this one out, and the guards send it to /login.
            spawn_local(socket::run(
                chat,
                move || generation.get_value() == mine,
                move || auth.user.set(None),
            ));
        } else {
            chat.clear();
        }
    });

    view! {
        <Router>
            <main class="app">
                <When when=move || auth.checked.get() fallback=|| view! { <p class="loading">"Loading…"</p> }>
                    <Routes fallback=|| view! { <Redirect path="/" /> }>
                        <Route path=path!("/login") view=|| view! { <SignedOut><LoginPage /></SignedOut> } />
                        <Route path=path!("/register") view=|| view! { <SignedOut><RegisterPage /></SignedOut> } />
                        <ParentRoute path=path!("/") view=|| view! { <SignedIn><Shell /></SignedIn> }>
                            <Route path=path!("") view=Welcome />
                            <Route path=path!("contacts") view=ContactsPage />
                            <Route path=path!("profile") view=ProfilePage />
                            <Route path=path!("groups/new") view=NewGroupPage />
                            <Route path=path!("groups/:id") view=GroupPage />
                            <Route path=path!("c/:id") view=ConversationPage />
                        </ParentRoute>
                    </Routes>
                </When>
            </main>
        </Router>
    }
}

/// Renders its children only for a signed-in user; sends others to /login.
#[component]
fn SignedIn(children: ChildrenFn) -> impl IntoView {
    let auth = use_auth();
    view! {
        <When when=move || auth.user.with(Option::is_some) fallback=|| view! { <Redirect path="/login" /> }>
            {children()}
        </When>
    }
}

/// Renders its children only when nobody is signed in; sends users home.
#[component]
fn SignedOut(children: ChildrenFn) -> impl IntoView {
    let auth = use_auth();
    view! {
        <When when=move || auth.user.with(Option::is_none) fallback=|| view! { <Redirect path="/" /> }>
            {children()}
        </When>
    }
}
