//! How a message's content looks in the timeline; an image's thumbnail
//! opens the image viewer.

use leptos::{ev::MouseEvent, prelude::*};
use natter_common::{events::MessageContent, stickers};
use wasm_bindgen::JsCast;
use web_sys::HtmlElement;

use super::{image_viewer, rich_text::RichText};
use crate::{chat::use_chat, pages::conversation_param};

/// A message's content; `mentioned` are the usernames its text mentions,
/// marked where they are named.
#[component]
pub fn MessageBody(content: MessageContent, #[prop(optional)] mentioned: Vec<String>) -> impl IntoView {
    match content {
        MessageContent::Text { text } => view! { <RichText text mentioned /> }.into_any(),
        MessageContent::Image { media_id } => {
            let thumb = format!("/media/{media_id}/thumb");
            // The conversation on screen: the viewer steps through its images.
            let conversation = untrack(conversation_param());
            let chat = use_chat();
            let media = media_id.clone();
            let open = move |ev: MouseEvent| {
                if let Some(id) = conversation {
                    let opener = ev.current_target().and_then(|t| t.dyn_into::<HtmlElement>().ok());
                    image_viewer::open(chat.timeline(id), media.clone(), opener);
                }
            };
            view! {
                <button type="button" class="image-link" data-media=media_id title="View full size" aria-haspopup="dialog" on:click=open>
                    <img class="thumb" src=thumb alt="Image" loading="lazy" />
                </button>
            }
            .into_any()
        }
        MessageContent::Sticker { sticker_id } => {
            let alt = stickers::STICKERS
                .iter()
                .find(|(id, _)| *id == sticker_id)
                .map_or("Sticker", |(_, description)| description);
            view! { <img class="sticker" src=stickers::url(&sticker_id) alt=alt /> }.into_any()
        }
        MessageContent::Deleted => view! { <span class="deleted">"Message deleted"</span> }.into_any(),
        MessageContent::Unknown => view! { <span class="deleted">"Unsupported message"</span> }.into_any(),
    }
}

/// A one-line summary of a message, for quotes and previews.
pub fn snippet(content: &MessageContent) -> String {
    match content {
        MessageContent::Text { text } => {
            let short: String = text.chars().take(80).collect();
            if short.len() < text.len() {
                format!("{short}…")
            } else {
                short
            }
        }
        MessageContent::Image { .. } => "Photo".to_owned(),
        MessageContent::Sticker { .. } => "Sticker".to_owned(),
        MessageContent::Deleted => "Message deleted".to_owned(),
        MessageContent::Unknown => "Message".to_owned(),
    }
}
