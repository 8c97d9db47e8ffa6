//! One module per route.

pub mod contacts;
pub mod conversation;
pub mod group;
pub mod login;
pub mod new_group;
pub mod profile;
pub mod register;
pub mod shell;
pub mod welcome;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use natter_common::ids::ConversationId;

/// The `:id` route parameter as a conversation id.
pub fn conversation_param() -> impl Fn() -> Option<ConversationId> + Copy {
    let params = use_params_map();
    move || {
        params
            .with(|p| p.get("id"))
            .and_then(|id| id.parse().ok())
            .map(ConversationId)
    }
}
