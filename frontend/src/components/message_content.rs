//! How a message's content looks in the timeline.

use leptos::prelude::*;
use natter_common::{events::MessageContent, stickers};

use super::rich_text::RichText;

#[component]
pub fn MessageBody(content: MessageContent) -> impl IntoView {
    match content {
        MessageContent::Text { text } => view! { <RichText text /> }.into_any(),
        MessageContent::Image { media_id } => {
            let full = format!("/media/{media_id}");
            let thumb = format!("/media/{media_id}/thumb");
            view! {
                <a href=full target="_blank" rel="noopener noreferrer" class="image-link" title="Open full size">
                    <img class="thumb" src=thumb alt="Image" loading="lazy" />
                </a>
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
