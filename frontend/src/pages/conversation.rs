//! `/c/:id`: a conversation: its timeline, live, and the composer.

use std::collections::HashMap;

use leptos::{prelude::*, task::spawn_local};
use leptos_router::components::A;
use natter_common::{
    api::{Conversation, ConversationKind, Role},
    events::{Event, EventBody, MessageContent},
    ids::{ConversationId, EventId, UserId},
    ErrorBody, ErrorCode,
};

use super::conversation_param;
use crate::{
    api,
    chat::{use_chat, Timeline},
    components::{
        composer::{first_file, Attachments, Composer},
        conversation_list::title,
        message::{MessageRow, Rows},
        message_content::MessageBody,
    },
    state::use_auth,
};

/// The conversation, the names of the people in it, and my role there.
#[derive(Clone)]
struct Loaded {
    conversation: Conversation,
    names: HashMap<UserId, String>,
    role: Role,
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
    if timeline.first_seq().is_none() {
        timeline.more_before.set(history.more);
    }
    timeline.merge(history.events);
    let receipts = api::receipts(id).await?;
    timeline.note_receipts(receipts.into_iter().map(|r| (r.user_id, r.read_seq)));
    let mut names = HashMap::new();
    if let Some(me) = me {
        names.insert(me.id, me.display_name);
    }
    let mut role = Role::Member;
    match &conversation.kind {
        ConversationKind::Direct { peer } => {
            names.insert(peer.id, peer.display_name.clone());
        }
        ConversationKind::Group { .. } => {
            role = api::group(id).await?.my_role;
            for member in api::group_members(id, None).await?.items {
                names.insert(member.user.id, member.user.display_name);
            }
        }
    }
    Ok(Loaded {
        conversation,
        names,
        role,
    })
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

/// Loads the page of history before the oldest held; false when there was
/// nothing to load or it failed.
async fn load_older(id: ConversationId, timeline: Timeline) -> bool {
    let Some(first) = timeline.first_seq() else {
        return false;
    };
    match api::history(id, Some(first)).await {
        Ok(page) => {
            timeline.more_before.set(page.more);
            timeline.merge(page.events);
            true
        }
        Err(_) => false,
    }
}

/// The timeline's row for a message's seq.
fn row_of(list: &web_sys::HtmlElement, seq: i64) -> Option<web_sys::Element> {
    list.query_selector(&format!("li[data-seq='{seq}']")).ok().flatten()
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
    let replying = RwSignal::new(None::<(EventId, String)>);
    // The seqs that start a new day, with the day's label.
    let day_starts = Memo::new(move |_| {
        timeline.entries.with(|entries| {
            let mut starts = HashMap::new();
            let mut previous = String::new();
            for entry in entries {
                let day = day_label(entry.event.created_at);
                if day != previous {
                    starts.insert(entry.event.seq, day.clone());
                    previous = day;
                }
            }
            starts
        })
    });

    // Read receipts show under my newest message: "Seen" in a DM, "Seen by
    // n" in a group.
    let my_latest = Memo::new(move |_| {
        timeline.entries.with(|entries| {
            entries
                .iter()
                .rev()
                .find(|e| Some(e.event.sender) == me && e.now.is_some())
                .map(|e| e.event.seq)
        })
    });
    let receipt_line = move || {
        let Some(seq) = my_latest.get() else {
            return String::new();
        };
        let seen_by = timeline
            .receipts
            .with(|r| r.values().filter(|read| **read >= seq).count());
        match (seen_by, is_group) {
            (0, _) => "Sent".to_owned(),
            (_, false) => "Seen".to_owned(),
            (n, true) => format!("Seen by {n}"),
        }
    };

    // Everything shown is read.
    Effect::new(move |_| {
        timeline.entries.track();
        chat.mark_read(id);
    });

    // The timeline starts at the newest message and follows new ones while
    // it is scrolled to the bottom; scrolling near the top loads older ones
    // without moving what is on screen.
    let list = NodeRef::<leptos::html::Ol>::new();
    let following = StoredValue::new(true);
    let older = move || {
        if loading_older.get_untracked() || timeline.first_seq().is_none() {
            return;
        }
        loading_older.set(true);
        let from_bottom = list.get_untracked().map(|el| el.scroll_height() - el.scroll_top());
        spawn_local(async move {
            if load_older(id, timeline).await {
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
            older();
        }
    };
    Effect::new(move |_| {
        timeline.entries.track();
        timeline.outgoing.track();
        if following.get_value() {
            request_animation_frame(move || {
                if let Some(el) = list.get_untracked() {
                    el.set_scroll_top(el.scroll_height());
                }
            });
        }
    });

    // Jumping to a message (a reply's original): older pages are loaded
    // until it is there, then it is brought into view and marked.
    let highlight = RwSignal::new(None::<i64>);
    let jump = Callback::new(move |target: EventId| {
        following.set_value(false);
        spawn_local(async move {
            loading_older.set(true);
            let mut found = timeline.message(&target);
            while found.is_none() && timeline.more_before.get_untracked() && load_older(id, timeline).await {
                found = timeline.message(&target);
            }
            loading_older.set(false);
            let Some(entry) = found else { return };
            let seq = entry.event.seq;
            following.set_value(false);
            highlight.set(Some(seq));
            request_animation_frame(move || {
                let Some(list) = list.get_untracked() else { return };
                if let Some(row) = row_of(&list, seq) {
                    let options = web_sys::ScrollIntoViewOptions::new();
                    options.set_block(web_sys::ScrollLogicalPosition::Center);
                    row.scroll_into_view_with_scroll_into_view_options(&options);
                }
            });
            gloo_timers::callback::Timeout::new(2_000, move || {
                if highlight.get_untracked() == Some(seq) {
                    highlight.set(None);
                }
            })
            .forget();
        });
    });

    let menu = RwSignal::new(None::<i64>);
    let editing = RwSignal::new(None::<i64>);
    let role = loaded.role;
    let rows = Rows {
        conversation: id,
        timeline,
        me,
        is_group,
        moderator: Signal::derive(move || is_group && role.can_manage()),
        names,
        menu,
        editing,
        replying,
        highlight,
        jump,
        my_latest,
        receipt: Signal::derive(receipt_line),
    };
    // Up in an empty composer edits my newest text message.
    let edit_last = Callback::new(move |()| {
        let last = timeline.entries.with_untracked(|entries| {
            entries.iter().rev().find_map(|e| {
                let now = e.now.as_ref()?;
                let text = now.with_untracked(|n| matches!(n.content, MessageContent::Text { .. }));
                (Some(e.event.sender) == me && text).then_some(e.event.seq)
            })
        });
        if let Some(seq) = last {
            editing.set(Some(seq));
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
            <button type="button" class="secondary load-older" disabled=move || loading_older.get() on:click=move |_| older()>
                "Load earlier messages"
            </button>
        </Show>
        <ol class="timeline" aria-live="polite" node_ref=list on:scroll=on_scroll>
            <For each=move || timeline.entries.get() key=|e| e.event.seq let:entry>
                {
                    let seq = entry.event.seq;
                    let separator = move || day_starts.with(|d| d.get(&seq).cloned()).map(|day| view! {
                        <li class="day-separator" role="separator">{day}</li>
                    });
                    let row = if entry.now.is_some() {
                        view! { <MessageRow entry rows /> }.into_any()
                    } else {
                        view! { <li class="event system" data-seq=seq>{describe(&entry.event, &name)}</li> }.into_any()
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
                            <span class="text" dir="auto"><MessageBody content=msg.content.clone() /></span>
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
        <Show when=move || chat.notice.with(Option::is_some)>
            <p class="notice action-notice" role="alert">
                {move || chat.notice.get()}
                <button type="button" class="secondary" on:click=move |_| chat.notice.set(None)>"Dismiss"</button>
            </p>
        </Show>
        <Composer conversation=id attachments replying edit_last />
        </div>
    }
}
