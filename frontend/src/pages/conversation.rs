//! `/c/:id`: a conversation's timeline.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_router::components::A;
use natter_common::{
    api::{Conversation, ConversationKind, Role},
    events::{Event, EventBody, MessageContent},
    ids::UserId,
    ErrorBody, ErrorCode,
};

use super::conversation_param;
use crate::{
    api,
    components::conversation_list::title,
    state::{use_auth, use_changes},
};

/// Everything the timeline needs: the conversation, its events, and names.
#[derive(Clone)]
struct Loaded {
    conversation: Conversation,
    events: Vec<Event>,
    names: HashMap<UserId, String>,
}

async fn load(
    id: natter_common::ids::ConversationId,
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
    let history = api::history(id).await?;
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
    Ok(Loaded {
        conversation,
        events: history.events,
        names,
    })
}

/// One timeline line for an event, in words.
fn describe(event: &Event, name: &dyn Fn(UserId) -> String) -> (bool, String) {
    let by = name(event.sender);
    match &event.body {
        EventBody::Message { content, .. } => (
            false,
            match content {
                MessageContent::Text { text } => text.clone(),
                MessageContent::Image { .. } => "[image]".into(),
                MessageContent::Sticker { sticker_id } => format!("[sticker {sticker_id}]"),
            },
        ),
        EventBody::GroupCreated { name } => (true, format!("{by} created the group “{name}”")),
        EventBody::GroupRenamed { name } => (true, format!("{by} renamed the group to “{name}”")),
        EventBody::MemberJoined { user } if *user == event.sender => (true, format!("{by} joined")),
        EventBody::MemberJoined { user } => (true, format!("{by} added {}", name(*user))),
        EventBody::MemberLeft { user } => (true, format!("{} left", name(*user))),
        EventBody::MemberRemoved { user } => (true, format!("{by} removed {}", name(*user))),
        EventBody::RoleChanged { user, role } => {
            let role = match role {
                Role::Owner => "owner",
                Role::Admin => "an admin",
                Role::Member => "a member",
            };
            (true, format!("{by} made {} {role}", name(*user)))
        }
        EventBody::MessageEdited { .. } | EventBody::MessageDeleted { .. } => (true, format!("{by} changed a message")),
        EventBody::ReactionAdded { .. } | EventBody::ReactionRemoved { .. } => (true, format!("{by} reacted")),
        _ => (
            true,
            "Something happened that this version of natter can't show.".into(),
        ),
    }
}

#[component]
pub fn ConversationPage() -> impl IntoView {
    let id = conversation_param();
    let changes = use_changes();
    let auth = use_auth();
    let data = LocalResource::new(move || {
        changes.track();
        let id = id();
        let me = auth.user.get_untracked();
        async move {
            match id {
                Some(id) => load(id, me).await,
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
                Some(Ok(loaded)) => {
                    let is_group = matches!(loaded.conversation.kind, ConversationKind::Group { .. });
                    let names = loaded.names.clone();
                    let name = move |id: UserId| names.get(&id).cloned().unwrap_or_else(|| format!("user {id}"));
                    view! {
                        <header class="pane-header">
                            <h2 id="conversation-title">{title(&loaded.conversation)}</h2>
                            {is_group.then(|| view! {
                                <A href=format!("/groups/{}", loaded.conversation.id.0) attr:class="button-link" attr:id="group-info">"Group info"</A>
                            })}
                        </header>
                        <ol class="timeline" aria-live="polite">
                            {loaded.events.iter().map(|event| {
                                let (system, text) = describe(event, &name);
                                let class = if system { "event system" } else { "event message" };
                                view! { <li class=class data-seq=event.seq>{text}</li> }
                            }).collect_view()}
                        </ol>
                    }.into_any()
                }
            }}
        </section>
    }
}
