//! `/profile`: who you are (your picture, which you can change or remove,
//! username, an editable display name, validated inline with the server's
//! own rules), the devices signed in to your account, each but this one
//! with a way to sign it out, and deleting the account (the password asked
//! for in a dialog).

use leptos::{
    ev::{self, SubmitEvent},
    html,
    prelude::*,
    task::spawn_local,
};
use leptos_router::components::A;
use natter_common::{
    api::{SessionInfo, UpdateProfileRequest, User},
    ids::SessionId,
    validate::DisplayName,
    ErrorBody, ErrorCode,
};

use crate::{
    api::{self, ApiResult},
    chat::use_chat,
    components::{
        avatar::Avatar, confirm::ConfirmButton, field::Field, image_viewer::trap_focus, notice::Notice, when::When,
    },
    erased::{effect, resource},
    state::use_auth,
    storage,
    upload::Upload,
};

/// The profile page: the profile form, the list of devices, and, set
/// apart, deleting the account.
#[component]
pub fn ProfilePage() -> impl IntoView {
    view! {
        <section class="pane profile" aria-labelledby="profile-title">
            <div class="pane-header">
                <A href="/" attr:class="back button-link" attr:aria-label="Back to conversations">"←"</A>
                <h2 id="profile-title">"Profile"</h2>
            </div>
            <Picture />
            <ProfileForm />
            <Notifications />
            <Devices />
            <DeleteAccount />
        </section>
    }
}

/// My picture, large, and the ways to change it (an image from this device,
/// uploaded and then made my picture) or take it away. What the server
/// refuses (not an image, too large) is said beside the buttons. A change
/// goes into `Auth` and `Chat::pictures`, so the app shows it at once.
#[component]
fn Picture() -> impl IntoView {
    let auth = use_auth();
    let chat = use_chat();
    let input = NodeRef::<html::Input>::new();
    let change = NodeRef::<html::Button>::new();
    // What is under way ("Uploading…", "Removing…"), if anything.
    let busy = RwSignal::new(None::<&'static str>);
    let error = RwSignal::new(None::<String>);
    let has_picture = move || auth.user.with(|u| u.as_ref().is_some_and(|u| u.avatar.is_some()));

    // The page may have been left while the request was out.
    let saved = move |outcome: ApiResult<User>| {
        busy.try_set(None);
        match outcome {
            Ok(user) => {
                chat.note_users(std::slice::from_ref(&user));
                auth.user.set(Some(user));
            }
            // Whichever part of the server refused it, the same words.
            Err(ErrorBody {
                code: ErrorCode::PayloadTooLarge { max_bytes },
                ..
            }) => {
                error.try_set(Some(too_large(max_bytes)));
            }
            Err(err) => {
                error.try_set(Some(err.message));
            }
        }
    };
    let chosen = move |_| {
        let Some(field) = input.get_untracked() else { return };
        let file = field.files().and_then(|files| files.get(0));
        // Cleared, so the same file can be chosen again after a refusal.
        field.set_value("");
        let Some(file) = file else { return };
        if !file.type_().starts_with("image/") {
            error.set(Some("Choose an image: JPEG, PNG, GIF or WebP.".into()));
            return;
        }
        error.set(None);
        busy.set(Some("Uploading…"));
        let started = Upload::start(
            &file,
            |_| {},
            move |uploaded| match uploaded {
                Ok(media) => spawn_local(async move { saved(api::set_avatar(media.id).await) }),
                Err(err) => saved(Err(err)),
            },
        );
        if let Err(err) = started {
            saved(Err(err));
        }
    };
    let remove = move |_| {
        if busy.with_untracked(Option::is_some) {
            return;
        }
        error.set(None);
        busy.set(Some("Removing…"));
        spawn_local(async move {
            let outcome = api::remove_avatar().await;
            let removed = outcome.is_ok();
            saved(outcome);
            // Its button is gone with the picture: the focus goes next door.
            if let Some(button) = change.try_get_untracked().flatten().filter(|_| removed) {
                let _ = button.focus();
            }
        });
    };
    let picture = move || {
        auth.user.with(|u| {
            u.as_ref().map(|u| {
                view! { <Avatar name=u.display_name.clone() id=u.id.0 picture=u.avatar.clone() size="large" /> }
            })
        })
    };

    view! {
        <div class="profile-picture" id="profile-picture">
            {picture}
            <div class="picture-controls">
                <div class="picture-actions">
                    // Not `disabled` while busy: a focused button that
                    // turns disabled drops the focus to the page.
                    <button type="button" id="change-picture" node_ref=change
                        aria-disabled=move || busy.with(Option::is_some).to_string()
                        on:click=move |_| {
                            if let Some(field) = input.get_untracked().filter(|_| busy.with_untracked(Option::is_none)) {
                                field.click();
                            }
                        }>
                        "Change picture"
                    </button>
                    <input type="file" id="picture-input" class="visually-hidden" tabindex="-1" aria-hidden="true"
                        accept="image/png,image/jpeg,image/gif,image/webp" node_ref=input on:change=chosen />
                    <When when=has_picture>
                        <button type="button" id="remove-picture" class="secondary"
                            aria-disabled=move || busy.with(Option::is_some).to_string() on:click=remove>
                            "Remove picture"
                        </button>
                    </When>
                </div>
                <Notice id="picture-status" text=Signal::derive(move || busy.get().map(str::to_owned)) />
                <p class="form-error" id="picture-error" role="alert">{move || error.get()}</p>
            </div>
        </div>
    }
}

/// Says that a picture is over the server's upload limit of `max_bytes`.
fn too_large(max_bytes: u64) -> String {
    let limit = match max_bytes / (1024 * 1024) {
        0 => format!("{} KiB", max_bytes / 1024),
        mib => format!("{mib} MiB"),
    };
    format!("That image is too large: pictures may be at most {limit}.")
}

/// Username (fixed) and display name (editable); a saved name goes into
/// `Auth` and `Chat::people`, so the app shows it at once.
#[component]
fn ProfileForm() -> impl IntoView {
    let auth = use_auth();
    let chat = use_chat();
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
                    chat.note_users(std::slice::from_ref(&user));
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
            // Beside the button, not under the field: no blank lines
            // kept for messages that are not there.
            <div class="form-actions">
                <button id="save-profile" type="submit" disabled=move || busy.get()>"Save"</button>
                <Notice text=Signal::derive(move || saved.get().then(|| "Saved.".to_owned())) />
                <p class="form-error" role="alert">{move || form_error.get()}</p>
            </div>
        </form>
    }
}

/// Desktop notifications: their state in this browser said as it is, the
/// one button that asks for permission, whether they show the message's
/// text (kept by the server, for Web Push too), and an optional tone.
#[component]
fn Notifications() -> impl IntoView {
    let alerts = crate::chat::use_chat().alerts;
    let busy = RwSignal::new(false);
    let state = move || match alerts.permission.get() {
        "granted" => "Desktop notifications are on in this browser.",
        "denied" => "Desktop notifications are blocked for natter in this browser's site settings.",
        "unsupported" => "This browser does not support desktop notifications.",
        _ => "Desktop notifications are off in this browser.",
    };
    let push = move || {
        (alerts.permission.get() == "granted").then(|| match alerts.push.get() {
            Ok(true) => "They arrive even when natter is closed.".to_owned(),
            Ok(false) => "They arrive while natter is open.".to_owned(),
            Err(why) => format!("They arrive while natter is open. {why}"),
        })
    };
    let enable = move |_| {
        busy.set(true);
        spawn_local(async move {
            alerts.enable().await;
            busy.try_set(false);
        });
    };
    view! {
        <section class="notifications-section" aria-labelledby="notifications-title">
            <h3 id="notifications-title">"Notifications"</h3>
            <p id="notification-state" role="status" data-permission=move || alerts.permission.get()>
                {state} " " {push}
            </p>
            <When when=move || alerts.permission.get() == "default">
                <button type="button" id="enable-notifications" disabled=move || busy.get() on:click=enable>
                    "Enable desktop notifications"
                </button>
            </When>
            <label class="check">
                <input type="checkbox" id="notify-previews" prop:checked=move || alerts.previews.get()
                    on:change=move |ev| alerts.set_previews(event_target_checked(&ev)) />
                "Show message text in notifications"
            </label>
            <label class="check">
                <input type="checkbox" id="notify-sound" prop:checked=move || alerts.sound.get()
                    on:change=move |ev| alerts.set_sound(event_target_checked(&ev)) />
                "Play a sound with each notification"
            </label>
        </section>
    }
}

/// The account's signed-in devices, most recently used first.
#[component]
fn Devices() -> impl IntoView {
    let sessions = resource(api::sessions);
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
            <Notice text=notice />
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

/// What deleting the account means, and the button that asks for the
/// password first.
#[component]
fn DeleteAccount() -> impl IntoView {
    let open = RwSignal::new(false);
    let opener = NodeRef::<html::Button>::new();
    view! {
        <section class="danger-zone" aria-labelledby="delete-title">
            <h3 id="delete-title">"Delete account"</h3>
            <p class="danger-zone-text">
                "Deleting your account signs you out everywhere, for good. Messages you sent stay in others' \
                 conversations, from “Deleted user” (delete them first to take their text away), and your \
                 username is free for others after 30 days."
            </p>
            <button id="delete-account" type="button" class="danger" aria-haspopup="dialog" node_ref=opener
                on:click=move |_| open.set(true)>"Delete account…"</button>
            <When when=move || open.get()>
                <DeleteDialog open opener />
            </When>
        </section>
    }
}

/// The password, asked for in a modal dialog: Enter deletes, Escape or
/// Cancel closes it (the focus going back to `opener`), Tab stays inside. A
/// wrong password is said under the field and nothing else happens; once the
/// account is gone this app signs out as when a session ends elsewhere, and
/// the sign-in page says why.
#[component]
fn DeleteDialog(open: RwSignal<bool>, opener: NodeRef<html::Button>) -> impl IntoView {
    let auth = use_auth();
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let dialog = NodeRef::<html::Div>::new();
    let input = NodeRef::<html::Input>::new();

    let close = move || {
        open.set(false);
        if let Some(button) = opener.get_untracked() {
            let _ = button.focus();
        }
    };
    // The focus moves in as it opens.
    effect(move || {
        if let Some(input) = input.get() {
            let _ = input.focus();
        }
    });
    // Keys work wherever the focus is while it is open.
    let keys = window_event_listener(ev::keydown, move |ev| match ev.key().as_str() {
        "Escape" => {
            ev.prevent_default();
            close();
        }
        "Tab" => {
            if let Some(dialog) = dialog.get_untracked() {
                trap_focus(&ev, &dialog);
            }
        }
        _ => {}
    });
    on_cleanup(move || keys.remove());

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let typed = password.get_untracked();
        if typed.is_empty() {
            error.set(Some("Enter your password.".into()));
            return;
        }
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match api::delete_account(typed).await {
                // Every session is over: signed out here as when one ends
                // elsewhere (the route guard goes to /login). Whichever comes
                // first, this or the socket's close, this page is gone after.
                Ok(()) => {
                    if let Some(me) = auth.user.get_untracked() {
                        storage::forget_user(me.id.0);
                    }
                    auth.farewell.set(Some("Your account was deleted."));
                    auth.user.set(None);
                }
                // The dialog may have been closed (or the page left) meanwhile.
                Err(err) => {
                    error.try_set(Some(err.message));
                    busy.try_set(false);
                    if let Some(input) = input.try_get_untracked().flatten() {
                        let _ = input.focus();
                        input.select();
                    }
                }
            }
        });
    };

    view! {
        <div class="dialog-backdrop">
            <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="delete-dialog-title"
                aria-describedby="delete-dialog-text" node_ref=dialog>
                <h3 id="delete-dialog-title">"Delete your account?"</h3>
                <p id="delete-dialog-text">"This cannot be undone. Enter your password to confirm."</p>
                <form on:submit=submit novalidate>
                    <div class="field">
                        <label for="delete-password">"Password"</label>
                        <input id="delete-password" name="password" type="password" autocomplete="current-password"
                            node_ref=input aria-describedby="delete-password-error"
                            aria-invalid=move || error.with(Option::is_some).to_string()
                            prop:value=move || password.get()
                            on:input=move |ev| password.set(event_target_value(&ev)) />
                        <p class="field-error" id="delete-password-error" role="alert">{move || error.get()}</p>
                    </div>
                    <div class="dialog-actions">
                        <button type="button" id="cancel-delete-account" class="cancel secondary"
                            on:click=move |_| close()>"Cancel"</button>
                        // Not `disabled` while busy: a focused button that
                        // turns disabled drops the focus to the page.
                        <button type="submit" id="confirm-delete-account" class="confirm danger"
                            aria-disabled=move || busy.get().to_string()>
                            {move || if busy.get() { "Deleting…" } else { "Delete account" }}
                        </button>
                    </div>
                </form>
            </div>
        </div>
    }
}
