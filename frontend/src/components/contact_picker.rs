//! A checklist of contacts, for choosing group members.

use std::collections::BTreeSet;

use leptos::prelude::*;
use natter_common::{api::Contact, ids::UserId};

/// One checkbox per contact; ticking adds the contact's id to `picked`.
/// `prefix` keeps element ids unique when two pickers share a page.
#[component]
pub fn ContactPicker(
    contacts: Vec<Contact>,
    picked: RwSignal<BTreeSet<UserId>>,
    prefix: &'static str,
) -> impl IntoView {
    contacts
        .into_iter()
        .map(|c| {
            let id = c.user.id;
            let input_id = format!("{prefix}-{}", id.0);
            view! {
                <li>
                    <input type="checkbox" id=input_id.clone() data-username=c.user.username.clone()
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            picked.update(|set| { if on { set.insert(id); } else { set.remove(&id); } });
                        } />
                    <label for=input_id>{c.user.display_name.clone()} " " <span class="handle">"@"{c.user.username.clone()}</span></label>
                </li>
            }
        })
        .collect_view()
}
