//! `/login`: username and password in, session cookie out. Says why the
//! user is here when the app knows (their account was deleted).

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use leptos_router::{components::A, hooks::use_navigate};
use natter_common::api::LoginRequest;

use crate::{api, components::field::Field, state::use_auth};

#[component]
pub fn LoginPage() -> impl IntoView {
    let auth = use_auth();
    let navigate = use_navigate();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let form_error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    // Said once: gone when the user moves on from this page.
    on_cleanup(move || auth.farewell.set(None));

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let request = LoginRequest {
            username: username.get_untracked().trim().to_owned(),
            password: password.get_untracked(),
            device_name: None,
        };
        if request.username.is_empty() || request.password.is_empty() {
            form_error.set(Some("Enter your username and password.".into()));
            return;
        }
        busy.set(true);
        form_error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::login(&request).await {
                Ok(session) => {
                    auth.user.set(Some(session.user));
                    navigate("/", Default::default());
                }
                Err(err) => form_error.set(Some(err.message)),
            }
            busy.set(false);
        });
    };

    view! {
        <section class="auth-card" aria-labelledby="login-title">
            <h1 id="login-title">"Sign in to natter"</h1>
            {move || auth.farewell.get().map(|text| view! { <p id="login-notice" class="notice" role="status">{text}</p> })}
            <form on:submit=on_submit novalidate>
                <Field id="username" label="Username" autocomplete="username" value=username
                    error=Signal::derive(|| None) />
                <Field id="password" label="Password" kind="password" autocomplete="current-password"
                    value=password error=Signal::derive(|| None) />
                <p class="form-error" role="alert">{move || form_error.get()}</p>
                <button type="submit" disabled=move || busy.get()>"Sign in"</button>
            </form>
            <p class="switch">"New here? " <A href="/register">"Create an account"</A></p>
        </section>
    }
}
