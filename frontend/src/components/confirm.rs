//! A button that asks before it acts: the first click turns it, in place,
//! into a short question with a confirming and a cancelling button; Escape
//! or Cancel puts the button back. No `window.confirm`, which blocks the
//! page and cannot be styled or tested like the rest of the app.

use leptos::{ev, html, prelude::*};

/// `label`, `id` and `class` are the first button's; the question is marked
/// with its id, else its first class, as `data-action`, so it can be found.
/// `question` is asked with `yes` as the confirming button's text.
#[component]
pub fn ConfirmButton(
    label: &'static str,
    #[prop(optional)] id: Option<&'static str>,
    #[prop(into)] class: String,
    #[prop(into)] question: String,
    yes: &'static str,
    on_confirm: impl Fn() + 'static,
) -> impl IntoView {
    let asking = RwSignal::new(false);
    // Kept in the arena: the action may hold things that never leave this thread.
    let on_confirm = StoredValue::new_local(Box::new(on_confirm) as Box<dyn Fn()>);
    let first = NodeRef::<html::Button>::new();
    let no = NodeRef::<html::Button>::new();
    // The question takes the focus, on its harmless choice, so keyboard
    // users land on it; the button gets it back when the question goes.
    // Both once the swap has been drawn.
    let ask = move || {
        asking.set(true);
        request_animation_frame(move || {
            if let Some(no) = no.get_untracked() {
                let _ = no.focus();
            }
        });
    };
    let put_back = move || {
        asking.set(false);
        request_animation_frame(move || {
            if let Some(first) = first.get_untracked() {
                let _ = first.focus();
            }
        });
    };
    // Escape works wherever focus is (a click may have left it nowhere).
    let keys = window_event_listener(ev::keydown, move |ev| {
        if ev.key() == "Escape" && asking.get_untracked() {
            ev.prevent_default();
            put_back();
        }
    });
    on_cleanup(move || keys.remove());
    let action = id
        .map(str::to_owned)
        .unwrap_or_else(|| class.split(' ').next().unwrap_or_default().to_owned());

    move || {
        if asking.get() {
            view! {
                <span class="confirming" role="group" aria-label=question.clone() data-action=action.clone()>
                    <span class="question">{question.clone()}</span>
                    <button type="button" class="confirm danger" on:click=move |_| {
                        asking.set(false);
                        on_confirm.with_value(|act| act());
                    }>{yes}</button>
                    <button type="button" class="cancel secondary" node_ref=no
                        on:click=move |_| put_back()>"Cancel"</button>
                </span>
            }
            .into_any()
        } else {
            view! {
                <button type="button" id=id class=class.clone() node_ref=first
                    on:click=move |_| ask()>{label}</button>
            }
            .into_any()
        }
    }
}
