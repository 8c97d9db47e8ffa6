//! `/c/:id`: a conversation: its timeline, live, and the composer.

use std::collections::HashMap;

use leptos::{prelude::*, task::spawn_local};
use leptos_router::components::A;
use natter_common::{
    api::{Conversation, ConversationKind, Role},
    events::{Event, EventBody},
    ids::{ConversationId, UserId},
    ErrorBody, ErrorCode,
};

use super::conversation_param;
use crate::{
    api,
    chat::{use_chat, Timeline},
    components::{
        avatar::Avatar,
        composer::{first_file, Attachments, Composer},
        conversation_list::title,
        message_content::{snippet, MessageBody},
    },
    state::use_auth,
};

/// The conversation and the names of the people in it.
#[derive(Clone)]
struct Loaded {
    conversation: Conversation,
    names: HashMap<UserId, String>,
}

async fn load(
    id: ConversationId,
    timeline: Timeline,
    me: Option<natter_common::api::User>,
) -> Result<Loaded, ErrorBody> {
    let not_found = || ErrorBody {
        code: ErrorCode::NotFound,
        message: "No such conversation.".into(),
    };
    let conversation = api::conversations()
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(not_found)?;
    let history = api::history(id, None).await?;
    if timeline.events.with_untracked(Vec::is_empty) {
        timeline.more_before.set(history.more);
    }
    timeline.merge(history.events);
    let receipts = api::receipts(id).await?;
    timeline.note_receipts(receipts.into_iter().map(|r| (r.user_id, r.read_seq)));
    let mut names = HashMap::new();
    if let Some(me) = me {
        names.insert(me.id, me.display_name);
    }
    match &conversation.kind {
        ConversationKind::Direct { peer } => {
            names.insert(peer.id, peer.display_name.clone());
        }
        ConversationKind::Group { .. } => {
            for member in api::group_members(id, None).await?.items {
                names.insert(member.user.id, member.user.display_name);
            }
        }
    }
    Ok(Loaded { conversation, names })
}

/// "Today", or the date, for a Unix time in milliseconds (local time).
fn day_label(ms: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    let today = js_sys::Date::new_0();
    if date.to_date_string() == today.to_date_string() {
        "Today".to_owned()
    } else {
        String::from(date.to_locale_date_string("default", &wasm_bindgen::JsValue::UNDEFINED))
    }
}

/// A system event in words.
fn describe(event: &Event, name: &dyn Fn(UserId) -> String) -> String {
    let by = name(event.sender);
    match &event.body {
        EventBody::GroupCreated { name } => format!("{by} created the group “{name}”"),
        EventBody::GroupRenamed { name } => format!("{by} renamed the group to “{name}”"),
        EventBody::MemberJoined { user } if *user == event.sender => format!("{by} joined"),
        EventBody::MemberJoined { user } => format!("{by} added {}", name(*user)),
        EventBody::MemberLeft { user } => format!("{} left", name(*user)),
        EventBody::MemberRemoved { user } => format!("{by} removed {}", name(*user)),
        EventBody::RoleChanged { user, role } => {
            let role = match role {
                Role::Owner => "the owner",
                Role::Admin => "an admin",
                Role::Member => "a member",
            };
            format!("{by} made {} {role}", name(*user))
        }
        EventBody::MessageEdited { .. } | EventBody::MessageDeleted { .. } => format!("{by} changed a message"),
        EventBody::ReactionAdded { .. } | EventBody::ReactionRemoved { .. } => format!("{by} reacted"),
        _ => "Something happened that this version of natter can't show.".into(),
    }
}

#[component]
pub fn ConversationPage() -> impl IntoView {
    let id = conversation_param();
    let auth = use_auth();
    let chat = use_chat();
    // Loaded once per conversation; from then on the timeline is live.
    let data = LocalResource::new(move || {
        let id = id();
        let me = auth.user.get_untracked();
        async move {
            match id {
                Some(id) => load(id, chat.timeline(id), me).await,
                None => Err(ErrorBody {
                    code: ErrorCode::NotFound,
                    message: "No such conversation.".into(),
                }),
            }
        }
    });

    view! {
        <section class="pane conversation">
            {move || match data.get() {
                None => view! { <p class="empty">"Loading…"</p> }.into_any(),
                Some(Err(err)) => view! { <p class="form-error">{err.message}</p> }.into_any(),
                Some(Ok(loaded)) => view! { <Chat loaded /> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn Chat(loaded: Loaded) -> impl IntoView {
    let chat = use_chat();
    let me = use_auth().user.get_untracked().map(|u| u.id);
    let id = loaded.conversation.id;
    let timeline = chat.timeline(id);
    let is_group = matches!(loaded.conversation.kind, ConversationKind::Group { .. });
    let names = StoredValue::new(loaded.names);
    let name = move |user: UserId| {
        names
            .with_value(|n| n.get(&user).cloned())
            .unwrap_or_else(|| format!("user {user}"))
    };
    let loading_older = RwSignal::new(false);
    let attachments = Attachments::new(id);
    let replying = RwSignal::new(None::<(natter_common::ids::EventId, String)>);
    // A one-line quote of the message with this id, if it is loaded.
    let quote_of = move |target: &natter_common::ids::EventId| {
        timeline.events.with_untracked(|events| {
            events.iter().find(|e| &e.id == target).and_then(|e| match &e.body {
                EventBody::Message { content, .. } => Some(format!("{}: {}", name(e.sender), snippet(content))),
                _ => None,
            })
        })
    };
    // The seqs that start a new day, with the day's label.
    let day_starts = Memo::new(move |_| {
        timeline.events.with(|events| {
            let mut starts = HashMap::new();
            let mut previous = String::new();
            for event in events {
                let day = day_label(event.created_at);
                if day != previous {
                    starts.insert(event.seq, day.clone());
                    previous = day;
                }
            }
            starts
        })
    });

    // Read receipts show under my newest message: "Seen" in a DM, "Seen by
    // n" in a group.
    let my_latest = Memo::new(move |_| {
        timeline.events.with(|events| {
            events
                .iter()
                .rev()
                .find(|e| Some(e.sender) == me && matches!(e.body, EventBody::Message { .. }))
                .map(|e| e.seq)
        })
    });
    let receipt_line = move || {
        let seq = my_latest.get()?;
        let seen_by = timeline
            .receipts
            .with(|r| r.values().filter(|read| **read >= seq).count());
        Some(match (seen_by, is_group) {
            (0, _) => "Sent".to_owned(),
            (_, false) => "Seen".to_owned(),
            (n, true) => format!("Seen by {n}"),
        })
    };

    // Everything shown is read.
    Effect::new(move |_| {
        timeline.events.track();
        chat.mark_read(id);
    });

    // The timeline starts at the newest message and follows new ones while
    // it is scrolled to the bottom; scrolling near the top loads older ones
    // without moving what is on screen.
    let list = NodeRef::<leptos::html::Ol>::new();
    let following = StoredValue::new(true);
    let load_older = move || {
        let Some(first) = timeline.events.with_untracked(|e| e.first().map(|e| e.seq)) else {
            return;
        };
        if loading_older.get_untracked() {
            return;
        }
        loading_older.set(true);
        let from_bottom = list.get_untracked().map(|el| el.scroll_height() - el.scroll_top());
        spawn_local(async move {
            if let Ok(page) = api::history(id, Some(first)).await {
                timeline.more_before.set(page.more);
                timeline.merge(page.events);
                request_animation_frame(move || {
                    if let (Some(el), Some(from_bottom)) = (list.get_untracked(), from_bottom) {
                        el.set_scroll_top(el.scroll_height() - from_bottom);
                    }
                });
            }
            loading_older.set(false);
        });
    };
    let on_scroll = move |_| {
        let Some(el) = list.get_untracked() else { return };
        following.set_value(el.scroll_height() - el.scroll_top() - el.client_height() < 48);
        if el.scroll_top() < 150 && timeline.more_before.get_untracked() {
            load_older();
        }
    };
    Effect::new(move |_| {
        timeline.events.track();
        timeline.outgoing.track();
        if following.get_value() {
            request_animation_frame(move || {
                if let Some(el) = list.get_untracked() {
                    el.set_scroll_top(el.scroll_height());
                }
            });
        }
    });

    let typing_line = move || {
        let now = js_sys::Date::now();
        let who: Vec<String> = timeline.typing.with(|t| {
            t.iter()
                .filter(|(_, until)| *until > now)
                .map(|(u, _)| name(*u))
                .collect()
        });
        match who.len() {
            0 => String::new(),
            1 => format!("{} is typing…", who[0]),
            _ => format!("{} are typing…", who.join(", ")),
        }
    };

    // Dropping an image anywhere on the chat attaches it.
    let on_dragover = |ev: web_sys::DragEvent| ev.prevent_default();
    let on_drop = move |ev: web_sys::DragEvent| {
        if let Some(file) = first_file(ev.data_transfer().and_then(|d| d.files())) {
            ev.prevent_default();
            attachments.upload(file);
        }
    };

    view! {
        <div class="chat-body" on:dragover=on_dragover on:drop=on_drop>
        <header class="pane-header">
            <h2 id="conversation-title">{title(&loaded.conversation)}</h2>
            {is_group.then(|| view! {
                <A href=format!("/groups/{}", id.0) attr:class="button-link" attr:id="group-info">"Group info"</A>
            })}
        </header>
        <Show when=move || timeline.more_before.get()>
            <button type="button" class="secondary load-older" disabled=move || loading_older.get() on:click=move |_| load_older()>
                "Load earlier messages"
            </button>
        </Show>
        <ol class="timeline" aria-live="polite" node_ref=list on:scroll=on_scroll>
            <For each=move || timeline.events.get() key=|e| e.seq let:event>
                {
                    let mine = Some(event.sender) == me;
                    let seq = event.seq;
                    let separator = move || day_starts.with(|d| d.get(&seq).cloned()).map(|day| view! {
                        <li class="day-separator" role="separator">{day}</li>
                    });
                    let row = match &event.body {
                        EventBody::Message { content, reply_to } => {
                            let body = view! { <MessageBody content=content.clone() /> };
                            let quote = reply_to.as_ref().map(|target| {
                                let text = quote_of(target).unwrap_or_else(|| "An earlier message".to_owned());
                                view! { <blockquote class="quote">{text}</blockquote> }
                            });
                            let reply_target = (event.id.clone(), format!("{}: {}", name(event.sender), snippet(content)));
                            let reply = move |_| replying.set(Some(reply_target.clone()));
                            view! {
                                <li class=if mine { "event message mine sent" } else { "event message" } data-seq=event.seq>
                                    {(is_group && !mine).then(|| view! {
                                        <span class="sender"><Avatar name=name(event.sender) id=event.sender.0 small=true />{name(event.sender)}</span>
                                    })}
                                    {quote}
                                    <span class="text">{body}</span>
                                    {move || (mine && my_latest.get() == Some(seq)).then(|| view! {
                                        <span class="status receipt">{receipt_line}</span>
                                    })}
                                    <button type="button" class="reply-button" title="Reply" aria-label="Reply" on:click=reply>"↩"</button>
                                </li>
                            }.into_any()
                        }
                        _ => view! { <li class="event system" data-seq=event.seq>{describe(&event, &name)}</li> }.into_any(),
                    };
                    view! { {separator} {row} }
                }
            </For>
            <For each=move || timeline.outgoing.get() key=|m| (m.client_msg_id.clone(), m.failed.clone()) let:msg>
                {
                    let retry_id = msg.client_msg_id.clone();
                    let failed = msg.failed.clone();
                    let class = if failed.is_some() { "event message mine failed" } else { "event message mine pending" };
                    view! {
                        <li class=class>
                            <span class="text"><MessageBody content=msg.content.clone() /></span>
                            {match failed {
                                Some(why) => view! {
                                    <span class="status" role="alert">{why}</span>
                                    <button type="button" class="retry secondary" on:click=move |_| chat.retry(id, &retry_id)>"Retry"</button>
                                }.into_any(),
                                None => view! { <span class="status">"Sending…"</span> }.into_any(),
                            }}
                        </li>
                    }
                }
            </For>
        </ol>
        <p class="typing" aria-live="polite">{typing_line}</p>
        <Composer conversation=id attachments replying />
        </div>
    }
}
