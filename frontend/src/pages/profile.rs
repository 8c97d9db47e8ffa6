//! `/profile`: who you are (username, an editable display name, validated
//! inline with the server's own rules) and the devices signed in to your
//! account, each but this one with a way to sign it out.

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use leptos_router::components::A;
use natter_common::{
    api::{SessionInfo, UpdateProfileRequest},
    ids::SessionId,
    validate::DisplayName,
    ErrorCode,
};

use crate::{
    api,
    components::{confirm::ConfirmButton, field::Field},
    state::use_auth,
};

/// The profile page: the profile form above the list of devices.
#[component]
pub fn ProfilePage() -> impl IntoView {
    view! {
        <section class="pane profile" aria-labelledby="profile-title">
            <div class="pane-header">
                <A href="/" attr:class="back button-link" attr:aria-label="Back to conversations">"←"</A>
                <h2 id="profile-title">"Profile"</h2>
            </div>
            <ProfileForm />
            <Devices />
        </section>
    }
}

/// Username (fixed) and display name (editable); a saved name goes into
/// the `Auth` signal, so the top bar shows it at once.
#[component]
fn ProfileForm() -> impl IntoView {
    let auth = use_auth();
    let current_name = auth
        .user
        .with_untracked(|u| u.as_ref().map(|u| u.display_name.clone()))
        .unwrap_or_default();
    let display_name = RwSignal::new(current_name);
    let error = RwSignal::new(None::<String>);
    let form_error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let username = move || auth.user.with(|u| u.as_ref().map(|u| format!("@{}", u.username)));

    let save = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        saved.set(false);
        form_error.set(None);
        let name = match DisplayName::parse(&display_name.get_untracked()) {
            Ok(name) => name,
            Err(invalid) => {
                error.set(Some(invalid.message));
                return;
            }
        };
        error.set(None);
        busy.set(true);
        let request = UpdateProfileRequest {
            display_name: Some(name.as_str().to_owned()),
        };
        spawn_local(async move {
            match api::update_me(&request).await {
                Ok(user) => {
                    display_name.set(user.display_name.clone());
                    auth.user.set(Some(user));
                    saved.set(true);
                }
                Err(err) if matches!(err.code, ErrorCode::InvalidInput { .. }) => error.set(Some(err.message)),
                Err(err) => form_error.set(Some(err.message)),
            }
            busy.set(false);
        });
    };

    view! {
        <form class="profile-form" on:submit=save novalidate>
            <p class="profile-username">"Username " <strong id="profile-username">{username}</strong></p>
            <Field id="display-name" label="Display name" autocomplete="nickname" value=display_name
                error=Signal::derive(move || error.get()) />
            <p class="form-error" role="alert">{move || form_error.get()}</p>
            <p class="notice" role="status">{move || saved.get().then_some("Saved.")}</p>
            <button id="save-profile" type="submit" disabled=move || busy.get()>"Save"</button>
        </form>
    }
}

/// The account's signed-in devices, most recently used first.
#[component]
fn Devices() -> impl IntoView {
    let sessions = LocalResource::new(api::sessions);
    // Signed out from here: dropped from the list without asking again.
    let removed = RwSignal::new(Vec::<SessionId>::new());
    let notice = RwSignal::new(None::<String>);

    let list = move || match sessions.get() {
        None => view! { <p class="empty">"Loading…"</p> }.into_any(),
        Some(Err(err)) => view! { <p class="form-error">{err.message}</p> }.into_any(),
        Some(Ok(list)) => view! {
            <ul class="devices">
                {list
                    .into_iter()
                    .filter(|s| !removed.with(|r| r.contains(&s.id)))
                    .map(|session| view! { <DeviceRow session removed notice /> })
                    .collect_view()}
            </ul>
        }
        .into_any(),
    };

    view! {
        <section class="devices-section" aria-labelledby="devices-title">
            <h3 id="devices-title">"Devices"</h3>
            <p class="notice" role="status">{move || notice.get()}</p>
            {list}
        </section>
    }
}

/// One device: its name, when it was last used, and (unless it is this
/// one, which the top bar signs out) a button that signs it out after asking.
#[component]
fn DeviceRow(
    session: SessionInfo,
    removed: RwSignal<Vec<SessionId>>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let id = session.id;
    let (iso, local) = local_time(session.last_used_at);
    let revoke = (!session.current).then(|| {
        let question = format!("Sign out {}?", session.device_name);
        let on_confirm = move || {
            spawn_local(async move {
                match api::revoke_session(id).await {
                    Ok(()) => removed.update(|r| r.push(id)),
                    Err(err) => notice.set(Some(err.message)),
                }
            });
        };
        view! {
            <ConfirmButton label="Sign out" class="revoke-session secondary" question yes="Sign out" on_confirm />
        }
    });
    view! {
        <li class="device" class:current=session.current data-session=id.0>
            <div class="device-info">
                <span class="device-name">{session.device_name}</span>
                {session.current.then(|| view! { <span class="this-device">"This device"</span> })}
                <span class="last-used">"Last used " <time datetime=iso>{local}</time></span>
            </div>
            {revoke}
        </li>
    }
}

/// Unix milliseconds as an ISO string and as the browser's local date and time.
fn local_time(ms: i64) -> (String, String) {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    (
        String::from(date.to_iso_string()),
        String::from(date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED)),
    )
}
