//! The message composer: text (Enter sends, Shift+Enter breaks the line),
//! `@mentions` completed from a group's members, images (file dialog,
//! paste, or drop anywhere on the chat; previewed, and sent only on
//! "Send"), stickers.

use gloo_timers::future::TimeoutFuture;
use leptos::{ev::KeyboardEvent, prelude::*, task::spawn_local};
use natter_common::{
    api::User,
    events::MessageContent,
    frames::ClientFrame,
    ids::{ConversationId, EventId, UserId},
    limits::MESSAGE_TEXT_MAX_CHARS,
    stickers,
};
use wasm_bindgen::JsCast;
use web_sys::{File, Url};

use super::{avatar::Avatar, emoji_picker::EmojiPicker, when::When};
use crate::{
    api,
    chat::{use_chat, Chat, Link},
    erased::effect,
    storage,
    text::lowercase,
    upload::Upload,
};

/// An image chosen and not yet sent, with the object URL its preview shows.
#[derive(Clone)]
pub struct Staged {
    file: File,
    name: String,
    url: String,
}

/// An image being uploaded, with its own preview, progress and cancel.
#[derive(Clone)]
pub struct Sending {
    key: u32,
    name: String,
    /// The preview's object URL, freed when the upload ends.
    url: String,
    /// 0–1 as its bytes go out.
    progress: ArcRwSignal<f64>,
    upload: Option<Upload>,
    /// Stored, and waiting for the images chosen before it to be sent first.
    media: Option<String>,
}

/// The image waiting for "Send" and the uploads in progress, shared with
/// the chat pane for drops. Each upload goes on by itself: another image
/// chosen meanwhile does not stop it, and they are sent in the order they
/// were chosen.
#[derive(Clone, Copy)]
pub struct Attachments {
    conversation: ConversationId,
    chat: Chat,
    /// The image attached and previewed, not yet sent.
    pub staged: RwSignal<Option<Staged>, LocalStorage>,
    /// The uploads in flight, in the order they were sent.
    pub uploads: RwSignal<Vec<Sending>, LocalStorage>,
    pub error: RwSignal<Option<String>>,
    next_key: StoredValue<u32>,
}

impl Attachments {
    pub fn new(conversation: ConversationId) -> Self {
        Self {
            conversation,
            chat: use_chat(),
            staged: RwSignal::new_local(None),
            uploads: RwSignal::new_local(Vec::new()),
            error: RwSignal::new(None),
            next_key: StoredValue::new(0),
        }
    }

    /// Attaches an image: it shows as a preview until sent or discarded.
    pub fn attach(&self, file: File) {
        if !file.type_().starts_with("image/") {
            self.error.set(Some("Only images can be attached.".into()));
            return;
        }
        let Ok(url) = Url::create_object_url_with_blob(&file) else {
            self.error.set(Some("The image could not be read.".into()));
            return;
        };
        self.discard();
        self.error.set(None);
        self.staged.set(Some(Staged {
            name: file.name(),
            file,
            url,
        }));
    }

    /// Drops the attached image, if any, and frees its preview.
    pub fn discard(&self) {
        if let Some(staged) = self.staged.try_update(Option::take).flatten() {
            let _ = Url::revoke_object_url(&staged.url);
        }
    }

    /// Sends the attached image: uploads it (its preview goes along) and,
    /// once stored, sends it as a message.
    pub fn send(&self) {
        if let Some(staged) = self.staged.try_update(Option::take).flatten() {
            self.upload(staged);
        }
    }

    fn upload(&self, staged: Staged) {
        let this = *self;
        let key = self.next_key.get_value();
        self.next_key.set_value(key + 1);
        let progress = ArcRwSignal::new(0.0);
        let shown = progress.clone();
        self.error.set(None);
        let started = Upload::start(
            &staged.file,
            move |fraction| shown.set(fraction),
            move |outcome| this.finished(key, outcome),
        );
        match started {
            Ok(upload) => self.uploads.update(|list| {
                list.push(Sending {
                    key,
                    name: staged.name,
                    url: staged.url,
                    progress,
                    upload: Some(upload),
                    media: None,
                })
            }),
            Err(err) => {
                let _ = Url::revoke_object_url(&staged.url);
                self.error.set(Some(err.message));
            }
        }
    }

    /// Upload `key` has ended: a stored image waits its turn, a failed one
    /// says why and goes.
    fn finished(&self, key: u32, outcome: Result<natter_common::api::Media, natter_common::ErrorBody>) {
        let media = match outcome {
            Ok(media) => media.id,
            Err(err) => {
                self.error.try_set(Some(err.message));
                self.cancel(key);
                return;
            }
        };
        // Nothing on screen changes until it is sent.
        let listed = self.uploads.try_update_untracked(|list| {
            if let Some(sending) = list.iter_mut().find(|s| s.key == key) {
                sending.upload = None;
                sending.media = Some(media.clone());
            }
        });
        match listed {
            Some(()) => self.send_ready(),
            // The chat was closed meanwhile: the image goes all the same.
            None => self
                .chat
                .send(self.conversation, MessageContent::Image { media_id: media }, None),
        }
    }

    /// Sends the stored images that no earlier upload is still holding up.
    fn send_ready(&self) {
        loop {
            let ready = self.uploads.try_update(|list| match list.first() {
                Some(first) if first.media.is_some() => Some(list.remove(0)),
                _ => None,
            });
            let Some(Some(sending)) = ready else { return };
            let _ = Url::revoke_object_url(&sending.url);
            if let Some(media_id) = sending.media {
                self.chat
                    .send(self.conversation, MessageContent::Image { media_id }, None);
            }
        }
    }

    /// Stops upload `key` (the others go on) and forgets it.
    pub fn cancel(&self, key: u32) {
        let gone = self
            .uploads
            .try_update(|list| list.iter().position(|s| s.key == key).map(|at| list.remove(at)))
            .flatten();
        if let Some(sending) = gone {
            if let Some(upload) = sending.upload {
                upload.cancel();
            }
            let _ = Url::revoke_object_url(&sending.url);
            self.send_ready();
        }
    }
}

/// Members offered at most when completing a mention.
const MENTION_CHOICES: usize = 8;
/// How long typing after `@` pauses before the server is asked.
const MENTION_ASK_AFTER_MS: u32 = 150;

/// The `@name` being typed just before the cursor (`caret`, a byte
/// offset): where its `@` is and what follows it.
fn mention_at(text: &str, caret: usize) -> Option<(usize, &str)> {
    let before = text.get(..caret)?;
    let at = before.rfind('@')?;
    let typed = &before[at + 1..];
    let name_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    let starts_word = at == 0 || !(name_char(before.as_bytes()[at - 1]) || before.as_bytes()[at - 1] == b'@');
    (starts_word && typed.len() <= 32 && typed.bytes().all(name_char)).then_some((at, typed))
}

/// Byte offset in `text` of a position counted in UTF-16 units (as the
/// browser counts `selectionStart`), and back.
fn byte_offset(text: &str, units: u32) -> usize {
    let mut seen = 0;
    for (at, c) in text.char_indices() {
        if seen >= units as usize {
            return at;
        }
        seen += c.len_utf16();
    }
    text.len()
}

fn utf16_len(text: &str) -> u32 {
    text.encode_utf16().count() as u32
}

/// Members whose username, or a word of whose display name, starts with
/// `typed` (case ignored), me left out.
fn mention_choices(members: &[User], typed: &str, me: Option<UserId>) -> Vec<User> {
    let typed = lowercase(typed);
    members
        .iter()
        .filter(|m| Some(m.id) != me)
        .filter(|m| {
            lowercase(&m.username).starts_with(&typed)
                || m.display_name
                    .split_whitespace()
                    .any(|word| lowercase(word).starts_with(&typed))
        })
        .take(MENTION_CHOICES)
        .cloned()
        .collect()
}

/// The first file of a drop or paste, if any.
pub fn first_file(files: Option<web_sys::FileList>) -> Option<File> {
    files.and_then(|list| list.get(0))
}

#[component]
pub fn Composer(
    conversation: ConversationId,
    attachments: Attachments,
    /// The message being answered, with a one-line quote of it.
    replying: RwSignal<Option<(EventId, String)>>,
    /// Up in the empty composer: edit my last message.
    edit_last: Callback<()>,
) -> impl IntoView {
    let chat = use_chat();
    // The draft survives switching chats and reloading, per conversation.
    let me = crate::state::use_auth()
        .user
        .with_untracked(|u| u.as_ref().map(|u| u.id));
    let draft_key = format!("natter.draft.{}.{}", me.map_or(0, |u| u.0), conversation.0);
    let draft = RwSignal::new(storage::load::<String>(&draft_key).unwrap_or_default());
    let draft_key = StoredValue::new(draft_key);
    let keep_draft = move |text: &str| {
        draft_key.with_value(|key| {
            if text.is_empty() {
                storage::remove(key);
            } else {
                storage::save(key, &text);
            }
        })
    };
    let last_typing = StoredValue::new(0.0f64);
    let stickers_open = RwSignal::new(false);
    let emoji_open = RwSignal::new(false);
    let insert_emoji = Callback::new(move |emoji: String| {
        draft.update(|d| d.push_str(&emoji));
        draft.with_untracked(|d| keep_draft(d));
    });

    // Completing a mention: where its `@` is and what was typed after it,
    // the members that fit, and the one chosen (Up/Down, Enter or Tab).
    let textarea = NodeRef::<leptos::html::Textarea>::new();
    let members = chat.timeline(conversation).members;
    let mention = RwSignal::new(None::<(usize, String)>);
    let choice = RwSignal::new(0usize);
    let choices = Memo::new(move |_| {
        mention.with(|m| {
            m.as_ref()
                .map(|(_, typed)| members.with(|all| mention_choices(all, typed, me)))
                .unwrap_or_default()
        })
    });
    let completing = move || choices.with(|c| !c.is_empty());
    // A group bigger than its first page of members: those past it are
    // asked for by what was typed (`?q=`) once the typing pauses, unless
    // what is known already fills the list, or a shorter prefix was
    // answered in full.
    let timeline = chat.timeline(conversation);
    let answered = StoredValue::new(Vec::<String>::new());
    let typed_now = move || {
        mention
            .try_with_untracked(|m| m.as_ref().map(|m| m.1.to_ascii_lowercase()))
            .flatten()
    };
    effect(move || {
        mention.track();
        let Some(typed) = typed_now() else { return };
        if typed.is_empty()
            || !timeline.more_members.get_value()
            || choices.with_untracked(Vec::len) >= MENTION_CHOICES
            || answered.with_value(|a| a.iter().any(|p| typed.starts_with(p.as_str())))
        {
            return;
        }
        spawn_local(async move {
            TimeoutFuture::new(MENTION_ASK_AFTER_MS).await;
            if typed_now().as_ref() != Some(&typed) {
                return;
            }
            let Ok(page) = api::group_members_named(conversation, &typed, MENTION_CHOICES + 1).await else {
                return;
            };
            if page.next_cursor.is_none() {
                answered.try_update_value(|a| a.push(typed));
            }
            let found: Vec<User> = timeline.members.with_untracked(|known| {
                page.items
                    .into_iter()
                    .map(|m| m.user)
                    .filter(|u| !known.iter().any(|k| k.id == u.id))
                    .collect()
            });
            if !found.is_empty() {
                timeline.members.update(|m| m.extend(found));
            }
        });
    });
    let find_mention = move || {
        let Some(el) = textarea.get_untracked() else { return };
        let text = el.value();
        let caret = el.selection_start().ok().flatten().unwrap_or(0);
        let found = mention_at(&text, byte_offset(&text, caret)).map(|(at, typed)| (at, typed.to_owned()));
        if mention.with_untracked(|m| m.as_ref().map(|m| &m.1) != found.as_ref().map(|f| &f.1)) {
            choice.set(0);
        }
        mention.set(found);
    };
    let pick = move |user: User| {
        let (Some(el), Some((at, typed))) = (textarea.get_untracked(), mention.get_untracked()) else {
            return;
        };
        let text = el.value();
        let end = (at + 1 + typed.len()).min(text.len());
        let inserted = format!("{}@{} ", &text[..at], user.username);
        let caret = utf16_len(&inserted);
        let text = format!("{inserted}{}", &text[end..]);
        el.set_value(&text);
        let _ = el.set_selection_range(caret, caret);
        let _ = el.focus();
        keep_draft(&text);
        draft.set(text);
        mention.set(None);
    };

    let send = move || {
        let text = draft.get_untracked();
        if text.trim().is_empty() || text.chars().count() > MESSAGE_TEXT_MAX_CHARS {
            return;
        }
        chat.send(
            conversation,
            MessageContent::Text { text },
            replying.get_untracked().map(|r| r.0),
        );
        replying.set(None);
        draft.set(String::new());
        keep_draft("");
    };
    let on_keydown = move |ev: KeyboardEvent| match ev.key().as_str() {
        "ArrowDown" | "ArrowUp" if completing() => {
            ev.prevent_default();
            let count = choices.with_untracked(Vec::len);
            let step = if ev.key() == "ArrowDown" { 1 } else { count - 1 };
            choice.update(|c| *c = (*c + step) % count);
        }
        "Enter" | "Tab" if completing() && !ev.is_composing() => {
            ev.prevent_default();
            let chosen = choices.with_untracked(|c| c.get(choice.get_untracked()).cloned());
            if let Some(user) = chosen {
                pick(user);
            }
        }
        "Escape" if completing() => {
            ev.prevent_default();
            mention.set(None);
        }
        "Enter" if !ev.shift_key() && !ev.is_composing() => {
            ev.prevent_default();
            send();
        }
        "ArrowUp" if draft.with_untracked(String::is_empty) => {
            ev.prevent_default();
            edit_last.run(());
        }
        // Escape closes what the composer opened, the innermost first.
        "Escape" if emoji_open.get_untracked() => emoji_open.set(false),
        "Escape" if stickers_open.get_untracked() => stickers_open.set(false),
        "Escape" if attachments.staged.with_untracked(Option::is_some) => attachments.discard(),
        "Escape" if replying.with_untracked(Option::is_some) => replying.set(None),
        _ => {}
    };
    let on_input = move |ev| {
        let text = event_target_value(&ev);
        keep_draft(&text);
        draft.set(text);
        find_mention();
        let now = js_sys::Date::now();
        if now - last_typing.get_value() > 3000.0 {
            last_typing.set_value(now);
            chat.send_frame(ClientFrame::Typing {
                conversation_id: conversation,
            });
        }
    };
    let on_paste = move |ev: web_sys::ClipboardEvent| {
        if let Some(file) = first_file(ev.clipboard_data().and_then(|d| d.files())) {
            ev.prevent_default();
            attachments.attach(file);
        }
    };
    let on_pick = move |ev: leptos::ev::Event| {
        let input = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok());
        if let Some(input) = input {
            if let Some(file) = first_file(input.files()) {
                attachments.attach(file);
            }
            input.set_value("");
        }
    };
    // An attached image takes focus to its "Send", so Enter sends it.
    let send_attachment = NodeRef::<leptos::html::Button>::new();
    effect(move || {
        if let Some(button) = send_attachment.get() {
            let _ = button.focus();
        }
    });
    let discard_attachment = move || {
        attachments.discard();
        super::message::focus_composer();
    };
    on_cleanup(move || attachments.discard());
    let too_long = move || draft.with(|d| d.chars().count() > MESSAGE_TEXT_MAX_CHARS);

    view! {
        // Rebuilt when an upload comes or goes (rare); each row's progress
        // is its own signal.
        {move || attachments.uploads.with(|list| list.iter().map(|sending| {
                let Sending { key, name, url, progress, .. } = sending.clone();
                let id = format!("upload-progress-{key}");
                view! {
                    <div class="upload-status" data-upload=key>
                        <img class="upload-preview" src=url alt="" />
                        <label for=id.clone()>{format!("Uploading {name}")}</label>
                        // A property, not an attribute: the browser reflects
                        // it to `value` itself, and the wasm needs no float
                        // formatting.
                        <progress id=id max="1" prop:value=move || progress.get()></progress>
                        <button type="button" class="cancel-upload secondary" aria-label=format!("Cancel uploading {name}")
                            on:click=move |_| attachments.cancel(key)>"Cancel"</button>
                    </div>
                }.into_any()
            }).collect::<Vec<_>>())}
        <p class="form-error" role="alert">{move || attachments.error.get()}</p>
        <When when=move || stickers_open.get()>
            <div class="sticker-panel" role="group" aria-label="Stickers">
                {stickers::STICKERS.iter().map(|(id, description)| {
                    let id = id.to_string();
                    let sticker = id.clone();
                    view! {
                        <button type="button" class="sticker-choice secondary" data-sticker=id.clone() title=*description
                            on:click=move |_| {
                                chat.send(conversation, MessageContent::Sticker { sticker_id: sticker.clone() }, replying.get_untracked().map(|r| r.0));
                                replying.set(None);
                                stickers_open.set(false);
                            }>
                            <img src=stickers::url(&id) alt=*description />
                        </button>
                    }
                }).collect_view()}
            </div>
        </When>
        <When when=move || replying.with(Option::is_some)>
            <div class="replying">
                <span>"Replying to " <q>{move || replying.with(|r| r.as_ref().map(|r| r.1.clone()))}</q></span>
                <button type="button" id="cancel-reply" class="secondary" on:click=move |_| replying.set(None)>"Cancel reply"</button>
            </div>
        </When>
        <When when=move || emoji_open.get()>
            <div on:keydown=move |ev: KeyboardEvent| if ev.key() == "Escape" { emoji_open.set(false); super::message::focus_composer(); }>
                <EmojiPicker on_pick=insert_emoji />
            </div>
        </When>
        <When when=move || attachments.staged.with(Option::is_some)>
            <div class="attachment-preview" role="group" aria-label="Image to send"
                on:keydown=move |ev: KeyboardEvent| if ev.key() == "Escape" { discard_attachment(); }>
                <img class="attachment-image" src=move || attachments.staged.with(|s| s.as_ref().map(|s| s.url.clone()))
                    alt=move || attachments.staged.with(|s| s.as_ref().map(|s| format!("Preview of {}", s.name))) />
                <div class="attachment-details">
                    <span class="attachment-name">{move || attachments.staged.with(|s| s.as_ref().map(|s| s.name.clone()))}</span>
                    <div class="attachment-actions">
                        <button type="button" id="send-attachment" node_ref=send_attachment
                            on:click=move |_| { attachments.send(); super::message::focus_composer(); }>"Send"</button>
                        <button type="button" id="cancel-attachment" class="secondary" on:click=move |_| discard_attachment()>"Cancel"</button>
                    </div>
                </div>
            </div>
        </When>
        <When when=completing>
            <ul id="mention-list" class="mention-list" role="listbox" aria-label="Members to mention">
                {move || choices.get().into_iter().enumerate().map(|(i, user)| {
                    let chosen = move || choice.get() == i;
                    let handle = format!("@{}", user.username);
                    let name = user.display_name.clone();
                    let (uid, picture) = (user.id.0, user.avatar.clone());
                    view! {
                        <li id=format!("mention-{i}") role="option" class="mention-choice" class:selected=chosen
                            aria-selected=move || chosen().to_string() data-username=user.username.clone()
                            on:mousedown=move |ev| { ev.prevent_default(); pick(user.clone()); }>
                            <Avatar name=name.clone() id=uid picture size="small" />
                            <strong>{handle}</strong> " " <span class="handle">{name}</span>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </When>
        <form class="composer" on:submit=move |ev| { ev.prevent_default(); send(); }>
            <label for="attach-input" class="button-link attach" title="Attach an image">"Image"</label>
            <input id="attach-input" type="file" accept="image/png,image/jpeg,image/gif,image/webp" class="visually-hidden" on:change=on_pick />
            <button type="button" id="sticker-button" class="secondary" aria-expanded=move || stickers_open.get().to_string()
                on:click=move |_| stickers_open.update(|o| *o = !*o)>"Sticker"</button>
            <button type="button" id="emoji-button" class="secondary" aria-expanded=move || emoji_open.get().to_string()
                on:click=move |_| emoji_open.update(|o| *o = !*o)>"Emoji"</button>
            <label for="composer" class="visually-hidden">"Message"</label>
            <textarea id="composer" rows="2" placeholder="Write a message — Enter sends, Shift+Enter for a new line"
                node_ref=textarea aria-autocomplete="list" aria-controls=move || completing().then_some("mention-list")
                aria-activedescendant=move || completing().then(|| format!("mention-{}", choice.get()))
                prop:value=move || draft.get() on:input=on_input on:keydown=on_keydown on:paste=on_paste
                on:click=move |_| find_mention() on:blur=move |_| mention.set(None)></textarea>
            <button type="submit" id="send" disabled=too_long>"Send"</button>
        </form>
        <When when=too_long>
            <p class="form-error">{format!("Messages can be at most {MESSAGE_TEXT_MAX_CHARS} characters.")}</p>
        </When>
        <When when=move || chat.link.get() != Link::Online>
            <p class="notice">"Offline: messages will be sent when the connection is back."</p>
        </When>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_mention_being_typed() {
        assert_eq!(mention_at("hi @ca", 6), Some((3, "ca")));
        assert_eq!(mention_at("@", 1), Some((0, "")));
        assert_eq!(mention_at("mail a@ca", 9), None);
        assert_eq!(mention_at("hi @ca there", 12), None);
        assert_eq!(byte_offset("é@x", 2), 3);
    }
}
