//! `/groups/:id`: the group info panel: name, members, and the actions the
//! caller's role allows.

use std::collections::BTreeSet;

use leptos::{prelude::*, task::spawn_local};
use leptos_router::{components::A, hooks::use_navigate};
use natter_common::{
    api::{Group, Member, Role},
    ids::{ConversationId, UserId},
};

use super::conversation_param;
use crate::{
    api::{self, ApiResult},
    chat::use_chat,
    components::{avatar::Avatar, confirm::ConfirmButton, contact_picker::ContactPicker, each::Each, notice::Notice},
    erased::resource,
    state::{use_auth, use_changes, Changes},
};

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::Admin => "admin",
        Role::Member => "member",
    }
}

/// Runs a change to group `gid`, then shows it anew; failures show in
/// `notice`.
fn change(
    changes: Changes,
    gid: ConversationId,
    notice: RwSignal<Option<String>>,
    call: impl std::future::Future<Output = ApiResult<()>> + 'static,
) {
    spawn_local(async move {
        match call.await {
            Ok(()) => {
                notice.set(None);
                changes.group_changed(gid);
            }
            Err(err) => notice.set(Some(err.message)),
        }
    });
}

#[component]
pub fn GroupPage() -> impl IntoView {
    let id = conversation_param();
    let changes = use_changes();
    let notice = RwSignal::new(None::<String>);
    // How many pages of members are shown; kept across refreshes, so a change
    // made further down the list does not fold it back to the first page.
    let pages = StoredValue::new(1usize);
    // Read again when this group's membership, name or roles change (its
    // events, or a change made here), when contacts change (who can be
    // added) and when someone's name or picture does; never for messages.
    let version = Memo::new(move |_| id().map(|id| changes.group_version(id)));
    let data = resource(move || {
        version.track();
        changes.track_contacts();
        changes.track_people();
        let id = id();
        async move {
            let id = id.ok_or_else(|| natter_common::ErrorBody {
                code: natter_common::ErrorCode::NotFound,
                message: "No such group.".into(),
            })?;
            let group = api::group(id).await?;
            let mut page = api::group_members(id, None).await?;
            let mut members = std::mem::take(&mut page.items);
            for _ in 1..pages.get_value() {
                let Some(cursor) = page.next_cursor.take() else { break };
                page = api::group_members(id, Some(&cursor)).await?;
                members.append(&mut page.items);
            }
            let contacts = api::contacts().await?;
            Ok::<_, natter_common::ErrorBody>((group, members, page.next_cursor, contacts))
        }
    });

    view! {
        <section class="pane group-panel">
            <Notice text=notice />
            {move || match data.get() {
                None => view! { <p class="empty">"Loading…"</p> }.into_any(),
                Some(Err(err)) => view! { <p class="form-error">{err.message}</p> }.into_any(),
                Some(Ok((group, members, next, contacts))) => {
                    // Inserted one by one: `collect` would sort, which links a
                    // sort for user ids just for this (issue 13, size).
                    let mut member_ids = BTreeSet::new();
                    for m in &members {
                        member_ids.insert(m.user.id);
                    }
                    let addable: Vec<_> = contacts.into_iter().filter(|c| !member_ids.contains(&c.user.id)).collect();
                    view! { <GroupDetails group members next pages addable notice /> }.into_any()
                }
            }}
        </section>
    }
}

#[component]
fn GroupDetails(
    group: Group,
    members: Vec<Member>,
    /// The cursor of the next page of members, if there is one.
    next: Option<String>,
    pages: StoredValue<usize>,
    addable: Vec<natter_common::api::Contact>,
    notice: RwSignal<Option<String>>,
) -> impl IntoView {
    let changes = use_changes();
    let chat = use_chat();
    let me = use_auth().user.get_untracked().map(|u| u.id);
    let navigate = use_navigate();
    let gid: ConversationId = group.id;
    let my_role = group.my_role;
    let new_name = RwSignal::new(group.name.clone());
    let to_add = RwSignal::new(BTreeSet::<UserId>::new());

    let rename = move |_| {
        spawn_local(async move {
            match api::rename_group(gid, new_name.get_untracked()).await {
                Ok(_) => changes.group_changed(gid),
                Err(err) => notice.set(Some(err.message)),
            }
        })
    };
    let add = move |_| {
        let ids: Vec<UserId> = to_add.get_untracked().into_iter().collect();
        spawn_local(async move {
            match api::add_members(gid, ids).await {
                Ok(_) => changes.group_changed(gid),
                Err(err) => notice.set(Some(err.message)),
            }
        })
    };
    let leave = move || {
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::leave_group(gid).await {
                Ok(()) => {
                    chat.refresh_list();
                    navigate("/", Default::default());
                }
                Err(err) => notice.set(Some(err.message)),
            }
        })
    };

    let members = RwSignal::new(members);
    let next = RwSignal::new(next);
    let loading = RwSignal::new(false);
    let more = move |_| {
        let Some(cursor) = next.get_untracked() else { return };
        if loading.get_untracked() {
            return;
        }
        loading.set(true);
        spawn_local(async move {
            match api::group_members(gid, Some(&cursor)).await {
                Ok(page) => {
                    // Appended once each, even if the list shifted between pages.
                    members.update(|list| {
                        let mut shown = BTreeSet::new();
                        for m in list.iter() {
                            shown.insert(m.user.id);
                        }
                        list.extend(page.items.into_iter().filter(|m| !shown.contains(&m.user.id)));
                    });
                    next.set(page.next_cursor);
                    pages.update_value(|n| *n += 1);
                    notice.set(None);
                }
                Err(err) => notice.set(Some(err.message)),
            }
            loading.set(false);
        });
    };

    let member_row = move |m: Member| {
        let uid = m.user.id;
        let is_me = Some(uid) == me;
        let can_remove = !is_me && my_role.can_manage() && m.role < my_role;
        let owner_tools = !is_me && my_role == Role::Owner;
        let toggle_to = if m.role == Role::Admin {
            Role::Member
        } else {
            Role::Admin
        };
        let name = m.user.display_name.clone();
        view! {
            <li class="member" data-username=m.user.username.clone()>
                <Avatar name=name.clone() id=uid.0 picture=m.user.avatar.clone() />
                <span class="name">{m.user.display_name.clone()}</span>
                " "
                <span class="role">{role_label(m.role)}</span>
                {can_remove.then(|| view! {
                    <ConfirmButton label="Remove" class="remove-member secondary" yes="Remove"
                        question=format!("Remove {name} from the group?")
                        on_confirm=move || change(changes, gid, notice, api::remove_member(gid, uid)) />
                })}
                {owner_tools.then(|| view! {
                    <button type="button" class="toggle-admin secondary"
                        on:click=move |_| change(changes, gid, notice, api::set_role(gid, uid, toggle_to))>
                        {if toggle_to == Role::Admin { "Make admin" } else { "Make member" }}
                    </button>
                    <ConfirmButton label="Make owner" class="make-owner secondary" yes="Make owner"
                        question=format!("Make {name} the owner? You become an admin.")
                        on_confirm=move || change(changes, gid, notice, api::set_role(gid, uid, Role::Owner)) />
                })}
            </li>
        }
    };

    view! {
        <header class="pane-header">
            <A href=format!("/c/{}", gid.0) attr:class="back button-link" attr:aria-label="Back to the chat">"←"</A>
            <h2 id="group-title">{group.name.clone()}</h2>
            <span class="meta">{format!("{} members · you are {}", group.member_count, role_label(my_role))}</span>
            <A href=format!("/c/{}", gid.0) attr:class="button-link">"Open chat"</A>
        </header>
        {my_role.can_manage().then(|| view! {
            <div class="inline-form">
                <label for="rename-group">"Group name"</label>
                <input id="rename-group" prop:value=move || new_name.get() on:input=move |ev| new_name.set(event_target_value(&ev)) />
                <button type="button" id="rename-button" on:click=rename>"Rename"</button>
            </div>
        })}
        <h3>"Members"</h3>
        <ul class="people members">
            <Each each=move || members.get() key=|m| m.user.id children=member_row />
        </ul>
        {move || next.with(Option::is_some).then(|| view! {
            <button type="button" id="more-members" class="secondary"
                prop:disabled=move || loading.get() aria-busy=move || loading.get().to_string()
                on:click=more>
                {move || if loading.get() { "Loading members…" } else { "Show more members" }}
            </button>
        })}
        {(my_role.can_manage() && !addable.is_empty()).then(|| view! {
            <fieldset class="pick-members">
                <legend>"Add contacts"</legend>
                <ul class="choices"><ContactPicker contacts=addable picked=to_add prefix="add" /></ul>
                <button type="button" id="add-members" on:click=add>"Add to group"</button>
            </fieldset>
        })}
        <ConfirmButton label="Leave group" id="leave-group" class="danger" yes="Leave"
            question=format!("Leave {}?", group.name) on_confirm=leave />
    }
}
