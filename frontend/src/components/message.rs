//! One message in the timeline: its content as it is now, its time and
//! status, its reactions, and the menu of what can be done with it
//! (react, reply, edit, delete, copy) — by hover, right-click or
//! long-press, and by keyboard.

use std::collections::{HashMap, HashSet};

use gloo_timers::callback::Timeout;
use leptos::{
    ev::{KeyboardEvent, PointerEvent, TouchEvent},
    html,
    prelude::*,
};
use natter_common::{
    events::{EventBody, MessageContent, Reactions},
    ids::{ConversationId, EventId, UserId},
    validate,
};
use wasm_bindgen::JsCast;

use super::{
    avatar::Avatar,
    emoji_picker::EmojiPicker,
    message_content::{snippet, MessageBody},
    when::When,
};
use crate::{
    chat::{use_chat, Entry, Now, Timeline},
    erased::effect,
};

/// How long a finger held on a message opens its menu, as on Android.
const LONG_PRESS_MS: u32 = 500;

/// Offered first in every message's menu.
pub const QUICK_REACTIONS: [&str; 6] = ["👍", "❤️", "😂", "😮", "😢", "🎉"];

/// What every row of one open conversation shares.
#[derive(Clone, Copy)]
pub struct Rows {
    pub conversation: ConversationId,
    pub timeline: Timeline,
    pub me: Option<UserId>,
    pub is_group: bool,
    /// I own or administer the group: I may delete anyone's messages.
    pub moderator: Signal<bool>,
    /// Display names as the page read them.
    pub names: RwSignal<HashMap<UserId, String>>,
    /// Names as the app knows them now, ahead of `names`: looked up one by
    /// one for people the page has no list for, and changed live
    /// (`Chat::people`).
    pub people: RwSignal<HashMap<UserId, String>>,
    /// Pictures, by person (`Chat::pictures`).
    pub pictures: RwSignal<HashMap<UserId, String>>,
    /// Messages that continue their sender's run (no name line again).
    pub continued: Memo<HashSet<i64>>,
    /// The seq whose menu is open (one at a time).
    pub menu: RwSignal<Option<i64>>,
    /// The seq being edited in place.
    pub editing: RwSignal<Option<i64>>,
    pub replying: RwSignal<Option<(EventId, String)>>,
    /// The message just jumped to, marked for a moment.
    pub highlight: RwSignal<Option<i64>>,
    /// Brings a message into view, loading older history if needed.
    pub jump: Callback<EventId>,
    /// My newest message, which carries the receipt line.
    pub my_latest: Memo<Option<i64>>,
    pub receipt: Signal<String>,
}

impl Rows {
    pub fn name(&self, user: UserId) -> String {
        name_of(self.names, self.people, user)
    }

    /// The media id of `user`'s picture, if they have one.
    pub fn picture(&self, user: UserId) -> Option<String> {
        self.pictures.with(|p| p.get(&user).cloned())
    }
}

/// The name to show for `user`: as the app knows it now (changed live,
/// or looked up), else the page's own, else "user N" until it is known.
pub fn name_of(
    names: RwSignal<HashMap<UserId, String>>,
    people: RwSignal<HashMap<UserId, String>>,
    user: UserId,
) -> String {
    people
        .with(|p| p.get(&user).filter(|n| !n.is_empty()).cloned())
        .or_else(|| names.with(|n| n.get(&user).cloned()))
        .unwrap_or_else(|| format!("user {user}"))
}

/// Local time as "14:05", and in full for the tooltip, and ISO for `datetime`.
pub(crate) fn times(ms: i64) -> (String, String, String) {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    let short = format!("{:02}:{:02}", date.get_hours(), date.get_minutes());
    let full = String::from(date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED));
    let iso = String::from(date.to_iso_string());
    (short, full, iso)
}

#[component]
pub fn MessageRow(entry: Entry, rows: Rows) -> impl IntoView {
    let Entry { event, now } = entry;
    let Some(now) = now else {
        return ().into_any();
    };
    let now: Signal<Now> = now.into();
    let seq = event.seq;
    let id = event.id.clone();
    let sender = event.sender;
    let mine = Some(sender) == rows.me;
    let reply_to = match &event.body {
        EventBody::Message { reply_to, .. } => reply_to.clone(),
        _ => None,
    };
    let deleted = move || now.with(|n| n.content == MessageContent::Deleted);
    let class = move || {
        let mut class = String::from("event message");
        if mine {
            class.push_str(" mine sent");
        }
        if deleted() {
            class.push_str(" deleted");
        }
        if rows.highlight.get() == Some(seq) {
            class.push_str(" highlight");
        }
        if rows.continued.with(|c| c.contains(&seq)) {
            class.push_str(" continued");
        }
        if !mine && now.with(|n| rows.me.is_some_and(|me| n.mentions.contains(&me))) {
            class.push_str(" mentions-me");
        }
        class
    };
    // The usernames of the members it mentions, to mark where named.
    let mentioned = move || {
        now.with(|n| {
            rows.timeline.members.with(|members| {
                members
                    .iter()
                    .filter(|m| n.mentions.contains(&m.id))
                    .map(|m| m.username.clone())
                    .collect::<Vec<_>>()
            })
        })
    };
    // Mine: ✓ once stored, ✓✓ once someone has read it.
    let tick = mine.then(|| {
        let seen = move || rows.timeline.receipts.with(|r| r.values().any(|read| *read >= seq));
        view! {
            <span class="tick" title=move || if seen() { "Seen" } else { "Sent" }
                aria-label=move || if seen() { "Seen" } else { "Sent" }>{move || if seen() { "✓✓" } else { "✓" }}</span>
        }
    });
    let (short, full, iso) = times(event.created_at);
    let quote = reply_to.map(|target| {
        let jump_to = target.clone();
        // Follows the original: an edit or deletion shows here too.
        let text = move || match rows.timeline.message(&target).and_then(|e| e.now) {
            Some(original) => {
                let who = rows.timeline.message(&target).map(|e| rows.name(e.event.sender));
                original.with(|n| format!("{}: {}", who.unwrap_or_default(), snippet(&n.content)))
            }
            None => "An earlier message".to_owned(),
        };
        view! {
            <button type="button" class="quote" title="Show the message this answers"
                on:click=move |_| rows.jump.run(jump_to.clone())>{text}</button>
        }
    });
    let open_menu = move || rows.menu.set(Some(seq));
    // Not while it is being edited: the edit box keeps the browser's own
    // menu (paste, spelling).
    let has_menu = move || !deleted() && rows.editing.get_untracked() != Some(seq);
    let on_contextmenu = move |ev: leptos::ev::MouseEvent| {
        // Right-click on a desktop, long-press on a phone.
        if has_menu() {
            ev.prevent_default();
            open_menu();
        }
    };
    // A long-press, for the browsers that make no contextmenu event of one
    // (Safari on iOS): a finger held still opens the menu (one that moves
    // scrolls, which cancels its pointer), and its lifting is then not also
    // a tap (on a link in the bubble, say). Once the menu is open, a slow
    // tap on it is a tap.
    let press = StoredValue::new_local(None::<Timeout>);
    let pressed = StoredValue::new(false);
    let on_pointer = move |ev: PointerEvent| {
        let down = ev.type_() == "pointerdown";
        if down {
            pressed.set_value(false);
        }
        let timer = (down
            && ev.pointer_type() != "mouse"
            && ev.is_primary()
            && has_menu()
            && rows.menu.get_untracked() != Some(seq))
        .then(|| {
            Timeout::new(LONG_PRESS_MS, move || {
                pressed.set_value(true);
                open_menu();
            })
        });
        press.set_value(timer);
    };
    let on_touchend = move |ev: TouchEvent| {
        if pressed.get_value() {
            pressed.set_value(false);
            ev.prevent_default();
        }
    };
    let content = move || {
        if rows.editing.get() == Some(seq) {
            view! { <Editor rows seq id=id.clone() now /> }.into_any()
        } else {
            view! { <span class="text" dir="auto">{move || view! { <MessageBody content=now.with(|n| n.content.clone()) mentioned=mentioned() /> }}</span> }
                .into_any()
        }
    };

    view! {
        <li class=class data-seq=seq data-id=event.id.0.clone() on:contextmenu=on_contextmenu
            on:pointerdown=on_pointer on:pointerup=on_pointer on:pointercancel=on_pointer on:touchend=on_touchend>
            {move || (rows.is_group && !mine && !rows.continued.with(|c| c.contains(&seq))).then(|| view! {
                <span class="sender">
                    <Avatar name=rows.name(sender) id=sender.0 picture=rows.picture(sender) size="small" />
                    {rows.name(sender)}
                </span>
            })}
            {quote}
            {content}
            <span class="meta">
                {move || now.with(|n| n.edited_at.is_some()).then(|| view! { <span class="edited">"edited"</span> })}
                <time datetime=iso title=full>{short}</time>
                {tick}
            </span>
            {move || (mine && rows.my_latest.get() == Some(seq)).then(|| view! {
                <span class="status receipt">{move || rows.receipt.get()}</span>
            })}
            <ReactionChips rows target=event.id.clone() now />
            <When when=move || !deleted()>
                <button type="button" class="message-menu-button" aria-label="Message actions" aria-haspopup="menu"
                    aria-expanded=move || (rows.menu.get() == Some(seq)).to_string()
                    on:click=move |_| if rows.menu.get_untracked() == Some(seq) { rows.menu.set(None) } else { open_menu() }>
                    "⋯"
                </button>
            </When>
            {
                let id = event.id.clone();
                move || (rows.menu.get() == Some(seq)).then(|| view! { <Menu rows seq id=id.clone() sender now /> })
            }
        </li>
    }
    .into_any()
}

/// Reactions under a message: one chip per emoji with its count; mine are
/// marked, and clicking a chip adds or takes back mine.
#[component]
fn ReactionChips(rows: Rows, target: EventId, now: Signal<Now>) -> impl IntoView {
    let chat = use_chat();
    let chip = move |reaction: Reactions| {
        let target = target.clone();
        let mut names: Vec<String> = reaction.users.iter().map(|u| rows.name(*u)).collect();
        let unnamed = reaction.count as usize - names.len().min(reaction.count as usize);
        if unnamed > 0 {
            names.push(format!("{unnamed} more"));
        }
        let class = if reaction.mine {
            "reaction-chip mine"
        } else {
            "reaction-chip"
        };
        let emoji = reaction.emoji.clone();
        let on = !reaction.mine;
        view! {
            <li>
                <button type="button" class=class data-emoji=reaction.emoji.clone() title=names.join(", ")
                    aria-pressed=reaction.mine.to_string()
                    on:click=move |_| chat.react(rows.conversation, target.clone(), emoji.clone(), on)>
                    {format!("{} {}", reaction.emoji, reaction.count)}
                </button>
            </li>
        }
    };
    move || {
        let reactions = now.with(|n| n.reactions.clone());
        (!reactions.is_empty()).then(|| {
            view! { <ul class="reactions" aria-label="Reactions">{reactions.into_iter().map(chip.clone()).collect_view()}</ul> }
        })
    }
}

/// The menu of one message.
#[component]
fn Menu(rows: Rows, seq: i64, id: EventId, sender: UserId, now: Signal<Now>) -> impl IntoView {
    let chat = use_chat();
    let confirming = RwSignal::new(false);
    let picking = RwSignal::new(false);
    let menu = NodeRef::<html::Div>::new();
    let mine = Some(sender) == rows.me;
    let text = now.with_untracked(|n| match &n.content {
        MessageContent::Text { text } => Some(text.clone()),
        _ => None,
    });
    let may_delete = mine || rows.moderator.get_untracked();
    let close = move || rows.menu.set(None);
    // Opens upwards when there is no room below it in the list.
    let upwards = RwSignal::new(false);
    // Keyboard users land in the menu, and Escape takes them back out.
    effect(move || {
        if let Some(menu) = menu.get() {
            let list = menu.closest("ol.timeline").ok().flatten();
            if list
                .is_some_and(|list| menu.get_bounding_client_rect().bottom() > list.get_bounding_client_rect().bottom())
            {
                upwards.set(true);
            }
            if let Ok(Some(first)) = menu.query_selector("button") {
                if let Ok(first) = first.dyn_into::<web_sys::HtmlElement>() {
                    let _ = first.focus();
                }
            }
        }
    });
    let on_keydown = move |ev: KeyboardEvent| {
        if ev.key() == "Escape" {
            ev.prevent_default();
            ev.stop_propagation();
            close();
        }
    };
    let react = {
        let id = id.clone();
        move |emoji: String| {
            let on = !now.with_untracked(|n| n.reactions.iter().any(|r| r.emoji == emoji && r.mine));
            chat.react(rows.conversation, id.clone(), emoji, on);
            close();
        }
    };
    let pick = {
        let react = react.clone();
        Callback::new(move |emoji: String| react(emoji))
    };
    let reply = {
        let id = id.clone();
        move |_| {
            let quote = format!("{}: {}", rows.name(sender), now.with_untracked(|n| snippet(&n.content)));
            rows.replying.set(Some((id.clone(), quote)));
            close();
            focus_composer();
        }
    };
    let delete = {
        let id = id.clone();
        move |_| {
            chat.delete(rows.conversation, id.clone());
            close();
        }
    };
    let copy = text.clone().map(|text| {
        move |_| {
            if let Some(window) = web_sys::window() {
                let _ = window.navigator().clipboard().write_text(&text);
            }
            close();
        }
    });

    view! {
        <div class=move || if upwards.get() { "message-menu up" } else { "message-menu" } role="menu"
            aria-label="Message actions" node_ref=menu on:keydown=on_keydown>
            {move || if confirming.get() {
                view! {
                    <p class="confirm">"Delete this message for everyone?"</p>
                    <button type="button" role="menuitem" class="delete-confirm danger" on:click=delete.clone()>"Delete"</button>
                    <button type="button" role="menuitem" class="delete-cancel secondary" on:click=move |_| confirming.set(false)>"Cancel"</button>
                }.into_any()
            } else {
                view! {
                    <div class="quick-reactions" role="group" aria-label="React">
                        {QUICK_REACTIONS.iter().map(|emoji| {
                            let react = react.clone();
                            view! {
                                <button type="button" role="menuitem" class="quick-reaction" data-emoji=*emoji
                                    aria-label=format!("React with {emoji}") on:click=move |_| react(emoji.to_string())>{*emoji}</button>
                            }
                        }).collect_view()}
                        <button type="button" role="menuitem" class="action-more-reactions" aria-label="More reactions"
                            aria-expanded=move || picking.get().to_string() on:click=move |_| picking.update(|p| *p = !*p)>"+"</button>
                    </div>
                    <When when=move || picking.get()>
                        <EmojiPicker on_pick=pick />
                    </When>
                    <button type="button" role="menuitem" class="action-reply" on:click=reply.clone()>"Reply"</button>
                    {(mine && text.is_some()).then(|| view! {
                        <button type="button" role="menuitem" class="action-edit"
                            on:click=move |_| { rows.editing.set(Some(seq)); close(); }>"Edit"</button>
                    })}
                    {copy.clone().map(|copy| view! {
                        <button type="button" role="menuitem" class="action-copy" on:click=copy>"Copy text"</button>
                    })}
                    {may_delete.then(|| view! {
                        <button type="button" role="menuitem" class="action-delete danger" on:click=move |_| confirming.set(true)>"Delete"</button>
                    })}
                }.into_any()
            }}
        </div>
    }
}

/// Editing a message in place: Enter saves, Shift+Enter breaks the line,
/// Escape cancels.
#[component]
fn Editor(rows: Rows, seq: i64, id: EventId, now: Signal<Now>) -> impl IntoView {
    let chat = use_chat();
    let original = now.with_untracked(|n| match &n.content {
        MessageContent::Text { text } => text.clone(),
        _ => String::new(),
    });
    let draft = RwSignal::new(original.clone());
    let input = NodeRef::<html::Textarea>::new();
    effect(move || {
        if let Some(input) = input.get() {
            let _ = input.focus();
            let end = input.value().len() as u32;
            let _ = input.set_selection_range(end, end);
        }
    });
    let invalid = move || draft.with(|d| validate::message_text(d).err().map(|e| e.message));
    let done = move || {
        rows.editing.set(None);
        focus_composer();
    };
    let save = move || {
        let text = draft.get_untracked();
        if validate::message_text(&text).is_err() {
            return;
        }
        if text != original {
            chat.edit(rows.conversation, id.clone(), text);
        }
        done();
    };
    let save_click = {
        let save = save.clone();
        move |_| save()
    };
    let on_keydown = move |ev: KeyboardEvent| match ev.key().as_str() {
        "Enter" if !ev.shift_key() && !ev.is_composing() => {
            ev.prevent_default();
            save();
        }
        "Escape" => {
            ev.prevent_default();
            ev.stop_propagation();
            done();
        }
        _ => {}
    };
    view! {
        <div class="editor">
            <label class="visually-hidden" for=format!("edit-{seq}")>"Edit message"</label>
            <textarea id=format!("edit-{seq}") class="edit-input" rows="2" node_ref=input dir="auto"
                prop:value=move || draft.get() on:input=move |ev| draft.set(event_target_value(&ev)) on:keydown=on_keydown></textarea>
            <span class="form-error" role="alert">{invalid}</span>
            <button type="button" class="edit-save" on:click=save_click>"Save"</button>
            <button type="button" class="edit-cancel secondary" on:click=move |_| done()>"Cancel"</button>
        </div>
    }
}

/// Puts the cursor back in the composer.
pub fn focus_composer() {
    let composer = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("composer"))
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(composer) = composer {
        let _ = composer.focus();
    }
}
