//! A checklist of contacts, for choosing group members.

use std::collections::BTreeSet;

use leptos::prelude::*;
use natter_common::{api::Contact, ids::UserId};

use super::avatar::Avatar;

/// One checkbox per contact, with their picture; ticking adds the
/// contact's id to `picked`, and a box shows what `picked` holds (a list
/// read again keeps the ticks). `prefix` keeps element ids unique when two
/// pickers share a page.
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
                        prop:checked=move || picked.with(|set| set.contains(&id))
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            picked.update(|set| { if on { set.insert(id); } else { set.remove(&id); } });
                        } />
                    <label for=input_id>
                        <Avatar name=c.user.display_name.clone() id=id.0 picture=c.user.avatar.clone() size="small" />
                        {c.user.display_name.clone()} " " <span class="handle">"@"{c.user.username.clone()}</span>
                    </label>
                </li>
            }
        })
        .collect_view()
}
