//! `/register`: create an account, validated inline with the server's own rules.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use leptos_router::{components::A, hooks::use_navigate};
use natter_common::{
    api::RegisterRequest,
    validate::{check_new_password, DisplayName, Username},
    ErrorCode,
};

use crate::{api, components::field::Field, state::use_auth};

#[derive(Clone, Default, PartialEq)]
struct Errors {
    username: Option<String>,
    display_name: Option<String>,
    password: Option<String>,
    form: Option<String>,
}

impl Errors {
    fn any(&self) -> bool {
        self.username.is_some() || self.display_name.is_some() || self.password.is_some()
    }
}

#[component]
pub fn RegisterPage() -> impl IntoView {
    let auth = use_auth();
    let navigate = use_navigate();
    let username = RwSignal::new(String::new());
    let display_name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let errors = RwSignal::new(Errors::default());
    let busy = RwSignal::new(false);

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let request = RegisterRequest {
            username: username.get_untracked().trim().to_owned(),
            display_name: display_name.get_untracked(),
            password: password.get_untracked(),
            device_name: None,
        };
        let found = Errors {
            username: Username::parse(&request.username).err().map(|e| e.message),
            display_name: DisplayName::parse(&request.display_name).err().map(|e| e.message),
            password: check_new_password(&request.password).err().map(|e| e.message),
            form: None,
        };
        let invalid = found.any();
        errors.set(found);
        if invalid {
            return;
        }
        busy.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::register(&request).await {
                Ok(session) => {
                    auth.user.set(Some(session.user));
                    navigate("/", Default::default());
                }
                Err(err) => errors.set(match err.code {
                    ErrorCode::UsernameTaken => Errors {
                        username: Some(err.message),
                        ..Default::default()
                    },
                    ErrorCode::InvalidInput { field } => match field.as_str() {
                        "username" => Errors {
                            username: Some(err.message),
                            ..Default::default()
                        },
                        "display_name" => Errors {
                            display_name: Some(err.message),
                            ..Default::default()
                        },
                        "password" => Errors {
                            password: Some(err.message),
                            ..Default::default()
                        },
                        _ => Errors {
                            form: Some(err.message),
                            ..Default::default()
                        },
                    },
                    _ => Errors {
                        form: Some(err.message),
                        ..Default::default()
                    },
                }),
            }
            busy.set(false);
        });
    };

    let error_of = move |pick: fn(&Errors) -> Option<String>| Signal::derive(move || errors.with(pick));

    view! {
        <section class="auth-card" aria-labelledby="register-title">
            <h1 id="register-title">"Create your natter account"</h1>
            <form on:submit=on_submit novalidate>
                <Field id="username" label="Username" autocomplete="username" value=username
                    error=error_of(|e| e.username.clone()) />
                <Field id="display_name" label="Display name" autocomplete="nickname" value=display_name
                    error=error_of(|e| e.display_name.clone()) />
                <Field id="password" label="Password" kind="password" autocomplete="new-password"
                    value=password error=error_of(|e| e.password.clone()) />
                <p class="form-error" role="alert">{move || errors.with(|e| e.form.clone())}</p>
                <button type="submit" disabled=move || busy.get()>"Create account"</button>
            </form>
            <p class="switch">"Already have an account? " <A href="/login">"Sign in"</A></p>
        </section>
    }
}
