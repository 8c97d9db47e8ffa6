//! The sidebar list of DMs and groups.

use leptos::prelude::*;
use leptos_router::components::A;
use natter_common::api::{Conversation, ConversationKind, NotifyLevel};

use super::{avatar::Avatar, each::Each, when::When};
use crate::{chat::use_chat, erased::effect};

/// One line about the newest event, for the sidebar.
fn preview(conversation: &Conversation, me: Option<natter_common::ids::UserId>) -> String {
    use natter_common::events::{EventBody, MessageContent};
    let Some(event) = &conversation.last_event else {
        return String::new();
    };
    let who = if Some(event.sender) == me { "You: " } else { "" };
    match &event.body {
        EventBody::Message {
            content: MessageContent::Text { text },
            ..
        } => {
            let short: String = text.chars().take(80).collect();
            format!("{who}{short}")
        }
        EventBody::Message { content, .. } => format!("{who}{}", super::message_content::snippet(content)),
        EventBody::MessageEdited { .. } => format!("{who}edited a message"),
        EventBody::MessageDeleted { .. } => format!("{who}deleted a message"),
        EventBody::ReactionAdded { emoji, .. } => format!("{who}reacted {emoji}"),
        EventBody::ReactionRemoved { .. } => format!("{who}took back a reaction"),
        _ => "Group updated".to_owned(),
    }
}

/// A DM's picture: the other person's, if they have one.
pub fn picture(conversation: &Conversation) -> Option<String> {
    match &conversation.kind {
        ConversationKind::Direct { peer } => peer.avatar.clone(),
        ConversationKind::Group { .. } => None,
    }
}

/// The name to show for a conversation.
pub fn title(conversation: &Conversation) -> String {
    match &conversation.kind {
        ConversationKind::Direct { peer } => peer.display_name.clone(),
        ConversationKind::Group { name, .. } => name.clone(),
    }
}

#[component]
pub fn ConversationList() -> impl IntoView {
    let chat = use_chat();
    let me = crate::state::use_auth()
        .user
        .with_untracked(|u| u.as_ref().map(|u| u.id));
    // Fetched on first show; live events keep it current from then on,
    // and fetch it again only when conversations come, go or change (see
    // `Chat::live_event`).
    effect(move || chat.refresh_list());
    // Whether there is a list, and whether it is empty: the rows below
    // update by key, not by rebuilding the list.
    let shape = Memo::new(move |_| chat.list.with(|list| list.as_ref().map(Vec::is_empty)));
    let row = move |c: Conversation| {
        let is_group = matches!(c.kind, ConversationKind::Group { .. });
        let href = format!("/c/{}", c.id.0);
        let id = c.id;
        let (peer, avatar_id) = match &c.kind {
            ConversationKind::Direct { peer } => (Some(peer.id), peer.id.0),
            ConversationKind::Group { .. } => (None, c.id.0),
        };
        let unread = move || chat.unread.with(|u| u.get(&id).copied().unwrap_or(0));
        let mentions = move || chat.mentions.with(|m| m.get(&id).copied().unwrap_or(0));
        let muted = move || chat.notify.with(|n| n.get(&id) == Some(&NotifyLevel::Muted));
        let presence = move || {
            peer.map(|p| {
                let online = chat.online.with(|o| o.contains(&p));
                view! {
                    <span class=if online { "dot online" } else { "dot" }
                        title=if online { "online" } else { "offline" }
                        aria-label=if online { "online" } else { "offline" }></span>
                }
            })
        };
        view! {
            <li>
                <A href=href attr:class="conversation-link">
                    <Avatar name=title(&c) id=avatar_id picture=picture(&c) />
                    <span class="visually-hidden">{if is_group { "Group: " } else { "Direct: " }}</span>
                    <span class="names">
                        <span class="title">{title(&c)}</span>
                        <span class="preview">{preview(&c, me)}</span>
                    </span>
                    {presence}
                    <When when=muted>
                        <span class="muted-icon" title="Muted" aria-hidden="true">"🔕"</span>
                        <span class="visually-hidden">"Muted"</span>
                    </When>
                    <When when=move || { mentions() > 0 }>
                        <span class="badge mention" title="You were mentioned">
                            "@"<span class="visually-hidden">" mentioned you"</span>
                        </span>
                    </When>
                    <When when=move || { unread() > 0 }>
                        <span class=move || if muted() { "badge muted" } else { "badge" } aria-label="unread messages">
                            {move || if unread() > 999 { "999+".to_owned() } else { unread().to_string() }}
                        </span>
                    </When>
                </A>
            </li>
        }
    };

    view! {
        <ul class="conversation-list">
            {move || match shape.get() {
                None => view! { <li class="empty">"Loading…"</li> }.into_any(),
                Some(true) => view! { <li class="empty">"No conversations yet."</li> }.into_any(),
                Some(false) => view! {
                    <Each each=move || chat.list.get().unwrap_or_default()
                        key=|c| (c.id, c.last_seq, title(c), picture(c)) children=row />
                }.into_any(),
            }}
        </ul>
    }
}
