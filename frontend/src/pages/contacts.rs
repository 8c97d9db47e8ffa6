//! `/contacts`: find people, answer requests, manage contacts.

use std::future::Future;

use futures::future::LocalBoxFuture;
use leptos::{prelude::*, task::spawn_local};
use leptos_router::components::A;
use natter_common::api::{RequestOutcome, User};

use crate::{
    api::{self, ApiResult},
    components::{avatar::Avatar, confirm::ConfirmButton, notice::Notice},
    erased::resource,
    state::{use_changes, Changes},
};

/// Runs a mutation; on success refreshes every list and shows `done`, on
/// failure shows the server's message.
fn act<T: 'static>(
    changes: Changes,
    notice: RwSignal<Option<String>>,
    done: impl Fn(&T) -> String + 'static,
    call: impl Future<Output = ApiResult<T>> + 'static,
) {
    // The task that waits and reports is compiled once, not per call type.
    report(
        changes,
        notice,
        Box::pin(async move { call.await.map(|value| done(&value)) }),
    );
}

fn report(changes: Changes, notice: RwSignal<Option<String>>, call: LocalBoxFuture<'static, ApiResult<String>>) {
    spawn_local(async move {
        match call.await {
            Ok(done) => {
                notice.set(Some(done));
                changes.contacts_changed();
            }
            Err(err) => notice.set(Some(err.message)),
        }
    });
}

fn person(user: &User) -> impl IntoView {
    view! {
        <Avatar name=user.display_name.clone() id=user.id.0 picture=user.avatar.clone() />
        <span class="person">
            <span class="name">{user.display_name.clone()}</span>
            " "
            <span class="handle">"@"{user.username.clone()}</span>
        </span>
    }
}

#[component]
pub fn ContactsPage() -> impl IntoView {
    let changes = use_changes();
    let notice = RwSignal::new(None::<String>);
    let query = RwSignal::new(String::new());

    // Each list is read again when contacts or requests change, or when
    // someone's name or picture does (`state::Changes`).
    let results = resource(move || {
        let q = query.get().trim().to_owned();
        changes.track_contacts();
        changes.track_people();
        async move {
            if q.is_empty() {
                Ok(None)
            } else {
                api::search_users(&q).await.map(Some)
            }
        }
    });
    let requests = resource(move || {
        changes.track_contacts();
        changes.track_people();
        api::contact_requests()
    });
    let contacts = resource(move || {
        changes.track_contacts();
        changes.track_people();
        api::contacts()
    });
    let blocked = resource(move || {
        changes.track_contacts();
        changes.track_people();
        api::blocked()
    });

    let search_results = move || {
        match results.get() {
        None | Some(Ok(None)) => ().into_any(),
        Some(Err(err)) => view! { <p class="form-error">{err.message}</p> }.into_any(),
        Some(Ok(Some(page))) if page.items.is_empty() => view! { <p class="empty">"Nobody found."</p> }.into_any(),
        Some(Ok(Some(page))) => view! {
            <ul class="people">
                {page.items.into_iter().map(|user| {
                    let id = user.id;
                    let add = move |_| act(changes, notice, |outcome: &RequestOutcome| match outcome {
                        RequestOutcome::Pending { request } => format!("Request sent to {}.", request.to.display_name),
                        RequestOutcome::Accepted { contact } => format!("You and {} are now contacts.", contact.user.display_name),
                    }, api::send_contact_request(id));
                    view! {
                        <li class="search-result" data-username=user.username.clone()>
                            {person(&user)}
                            <button type="button" class="add-contact" on:click=add>"Add"</button>
                        </li>
                    }
                }).collect_view()}
            </ul>
        }.into_any(),
    }
    };

    let request_lists = move || {
        match requests.get() {
        None => view! { <p class="empty">"Loading…"</p> }.into_any(),
        Some(Err(err)) => view! { <p class="form-error">{err.message}</p> }.into_any(),
        Some(Ok(lists)) => view! {
            <h3>"Requests for you"</h3>
            {if lists.incoming.is_empty() { Some(view! { <p class="empty">"None right now."</p> }) } else { None }}
            <ul class="people">
                {lists.incoming.into_iter().map(|r| {
                    let id = r.id;
                    let accept = move |_| act(changes, notice, |c: &natter_common::api::Contact| format!("You and {} are now contacts.", c.user.display_name), api::accept_request(id));
                    let decline = move |_| act(changes, notice, |_: &()| "Request declined.".to_owned(), api::decline_request(id));
                    view! {
                        <li class="incoming-request" data-username=r.from.username.clone()>
                            {person(&r.from)}
                            <button type="button" class="accept" on:click=accept>"Accept"</button>
                            <button type="button" class="decline secondary" on:click=decline>"Decline"</button>
                        </li>
                    }
                }).collect_view()}
            </ul>
            <h3>"Waiting for an answer"</h3>
            {if lists.outgoing.is_empty() { Some(view! { <p class="empty">"None."</p> }) } else { None }}
            <ul class="people">
                {lists.outgoing.into_iter().map(|r| {
                    let id = r.id;
                    let cancel = move |_| act(changes, notice, |_: &()| "Request cancelled.".to_owned(), api::cancel_request(id));
                    view! {
                        <li class="outgoing-request" data-username=r.to.username.clone()>
                            {person(&r.to)}
                            <button type="button" class="cancel secondary" on:click=cancel>"Cancel"</button>
                        </li>
                    }
                }).collect_view()}
            </ul>
        }.into_any(),
    }
    };

    let contact_list = move || {
        match contacts.get() {
        None => view! { <p class="empty">"Loading…"</p> }.into_any(),
        Some(Err(err)) => view! { <p class="form-error">{err.message}</p> }.into_any(),
        Some(Ok(list)) if list.is_empty() => view! { <p class="empty">"No contacts yet. Search above to add some."</p> }.into_any(),
        Some(Ok(list)) => view! {
            <ul class="people">
                {list.into_iter().map(|c| {
                    let id = c.user.id;
                    let remove = move |_| act(changes, notice, |_: &()| "Contact removed.".to_owned(), api::remove_contact(id));
                    let block = move || act(changes, notice, |_: &()| "User blocked.".to_owned(), api::block(id));
                    view! {
                        <li class="contact" data-username=c.user.username.clone()>
                            {person(&c.user)}
                            <A href=format!("/c/{}", c.conversation_id.0) attr:class="button-link">"Message"</A>
                            <button type="button" class="remove secondary" on:click=remove>"Remove"</button>
                            <ConfirmButton label="Block" class="block danger" yes="Block"
                                question=format!("Block {}? This ends your contact.", c.user.display_name)
                                on_confirm=block />
                        </li>
                    }
                }).collect_view()}
            </ul>
        }.into_any(),
    }
    };

    // Shown only when someone is blocked: the way to undo it.
    let blocked_list = move || match blocked.get() {
        None => ().into_any(),
        Some(Err(err)) => view! { <p class="form-error">{err.message}</p> }.into_any(),
        Some(Ok(list)) if list.is_empty() => ().into_any(),
        Some(Ok(list)) => view! {
            <h3 id="blocked-title">"Blocked"</h3>
            <ul class="people blocked-list" aria-labelledby="blocked-title">
                {list.into_iter().map(|user| {
                    let id = user.id;
                    let name = user.display_name.clone();
                    let unblock = move |_| {
                        let name = name.clone();
                        act(changes, notice, move |_: &()| format!("{name} is unblocked."), api::unblock(id))
                    };
                    view! {
                        <li class="blocked" data-username=user.username.clone()>
                            {person(&user)}
                            <button type="button" class="unblock secondary" on:click=unblock>"Unblock"</button>
                        </li>
                    }
                }).collect_view()}
            </ul>
        }
        .into_any(),
    };

    view! {
        <section class="pane contacts" aria-labelledby="contacts-title">
            <h2 id="contacts-title">"Contacts"</h2>
            <Notice text=notice />
            <div class="field">
                <label for="contact-search">"Find people by username or name"</label>
                <input id="contact-search" type="search" autocomplete="off"
                    prop:value=move || query.get()
                    on:input=move |ev| query.set(event_target_value(&ev)) />
            </div>
            {search_results}
            {request_lists}
            <h3>"Your contacts"</h3>
            {contact_list}
            {blocked_list}
        </section>
    }
}
