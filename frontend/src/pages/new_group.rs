//! `/groups/new`: name a group and pick members from contacts.

use std::collections::BTreeSet;

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use leptos_router::hooks::use_navigate;
use natter_common::{api::NewGroup, ids::UserId, validate::GroupName};

use crate::{
    api,
    chat::use_chat,
    components::{contact_picker::ContactPicker, field::Field},
    erased::resource,
};

#[component]
pub fn NewGroupPage() -> impl IntoView {
    let chat = use_chat();
    let navigate = use_navigate();
    let name = RwSignal::new(String::new());
    let name_error = RwSignal::new(None::<String>);
    let form_error = RwSignal::new(None::<String>);
    let picked = RwSignal::new(BTreeSet::<UserId>::new());
    let contacts = resource(api::contacts);

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let raw = name.get_untracked();
        if let Err(err) = GroupName::parse(&raw) {
            name_error.set(Some(err.message));
            return;
        }
        name_error.set(None);
        let body = NewGroup {
            name: raw,
            member_ids: picked.get_untracked().into_iter().collect(),
        };
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::create_group(&body).await {
                Ok(group) => {
                    // Its `group_created` event does this too, if the
                    // connection is up.
                    chat.refresh_list();
                    navigate(&format!("/groups/{}", group.id.0), Default::default());
                }
                Err(err) => form_error.set(Some(err.message)),
            }
        });
    };

    let choices = move || match contacts.get() {
        None => view! { <p class="empty">"Loading contacts…"</p> }.into_any(),
        Some(Err(err)) => view! { <p class="form-error">{err.message}</p> }.into_any(),
        Some(Ok(list)) if list.is_empty() => {
            view! { <p class="empty">"Add contacts first; groups are made from them."</p> }.into_any()
        }
        Some(Ok(list)) => view! { <ContactPicker contacts=list picked prefix="pick" /> }.into_any(),
    };

    view! {
        <section class="pane" aria-labelledby="new-group-title">
            <h2 id="new-group-title">"New group"</h2>
            <form on:submit=on_submit novalidate>
                <Field id="group-name" label="Group name" value=name error=name_error.into() />
                <fieldset class="pick-members">
                    <legend>"Members"</legend>
                    <ul class="choices">{choices}</ul>
                </fieldset>
                <p class="form-error" role="alert">{move || form_error.get()}</p>
                <button type="submit" id="create-group">"Create group"</button>
            </form>
        </section>
    }
}
