//! The emoji picker: the Unicode set by group, search by name or shortcode,
//! skin tones where an emoji has them, and recently used ones remembered in
//! this browser.
//!
//! The data (names, shortcodes, skin-tone variants: ~120 KB of JSON, ~31 KB
//! gzipped) is not in the wasm: it is `assets/emoji/emoji-data.json`,
//! generated from the `emojis` crate by `common/tests/emoji_data.rs`, copied
//! into the app by trunk, fetched the first time a picker opens and kept for
//! the rest of the session.

use std::{cell::RefCell, rc::Rc};

use futures::future::{FutureExt, LocalBoxFuture, Shared};
use leptos::{prelude::*, task::spawn_local};
use serde::Deserialize;

use super::when::When;
use crate::text::lowercase;

const DATA_URL: &str = "/emoji-data.json";
const RECENT_KEY: &str = "natter.recent_emoji";
const RECENT_MAX: usize = 24;
const SEARCH_MAX: usize = 120;

const TONES: [&str; 6] = ["Default", "Light", "Medium-light", "Medium", "Medium-dark", "Dark"];

/// Icon and label of each group, in the order of the data's group index
/// (`emojis::Group::iter()`).
const GROUPS: [(&str, &str); 9] = [
    ("😀", "Smileys and emotion"),
    ("👋", "People and body"),
    ("🐱", "Animals and nature"),
    ("🍕", "Food and drink"),
    ("✈️", "Travel and places"),
    ("⚽", "Activities"),
    ("💡", "Objects"),
    ("❤️", "Symbols"),
    ("🏁", "Flags"),
];

/// One emoji as the data file has it: the emoji, its CLDR name, its group
/// index, its shortcodes, and its five non-default skin tones (light to
/// dark) or none.
#[derive(Deserialize)]
struct Emoji(String, String, usize, Vec<String>, Vec<String>);

impl Emoji {
    fn name(&self) -> &str {
        &self.1
    }

    /// The emoji as shown with skin tone `tone` (an index into `TONES`), when it has tones.
    fn toned(&self, tone: usize) -> &str {
        tone.checked_sub(1).and_then(|i| self.4.get(i)).unwrap_or(&self.0)
    }

    fn matches(&self, query: &str) -> bool {
        self.1.contains(query) || self.3.iter().any(|code| code.contains(query))
    }
}

#[derive(Deserialize)]
struct EmojiFile {
    emoji: Vec<Emoji>,
}

type Data = Rc<Vec<Emoji>>;
type Loading = Shared<LocalBoxFuture<'static, Option<Data>>>;

thread_local! {
    /// The data, fetched once per session; a failed fetch is forgotten so
    /// the next picker tries again.
    static DATA: RefCell<Option<Loading>> = const { RefCell::new(None) };
}

async fn fetch() -> Option<Data> {
    let response = gloo_net::http::Request::get(DATA_URL).send().await.ok()?;
    if !response.ok() {
        return None;
    }
    let file: EmojiFile = serde_json::from_str(&response.text().await.ok()?).ok()?;
    Some(Rc::new(file.emoji))
}

/// The data if it has already arrived.
fn loaded() -> Option<Data> {
    DATA.with(|cell| {
        cell.borrow()
            .as_ref()
            .and_then(|loading| loading.peek().cloned().flatten())
    })
}

async fn load() -> Option<Data> {
    let loading = DATA.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| fetch().boxed_local().shared())
            .clone()
    });
    let data = loading.await;
    if data.is_none() {
        DATA.with(|cell| cell.borrow_mut().take());
    }
    data
}

fn load_recent() -> Vec<String> {
    crate::storage::load(RECENT_KEY).unwrap_or_default()
}

fn save_recent(recent: &[String]) {
    crate::storage::save(RECENT_KEY, &recent);
}

/// What the grid shows before and instead of the data.
#[derive(Clone, Copy, PartialEq)]
enum State {
    Loading,
    Failed,
    Ready,
}

#[component]
pub fn EmojiPicker(on_pick: Callback<String>) -> impl IntoView {
    let group = RwSignal::new(0usize);
    let query = RwSignal::new(String::new());
    let tone = RwSignal::new(0usize);
    let recent = RwSignal::new(load_recent());
    let data = StoredValue::new_local(loaded());
    let state = RwSignal::new(if data.with_value(Option::is_some) {
        State::Ready
    } else {
        State::Loading
    });
    if state.get_untracked() == State::Loading {
        spawn_local(async move {
            let fetched = load().await;
            let ready = fetched.is_some();
            // The picker may have closed while the data was on its way.
            if data.try_set_value(fetched).is_none() {
                state.try_set(if ready { State::Ready } else { State::Failed });
            }
        });
    }

    let pick = move |emoji: String| {
        recent.update(|list| {
            list.retain(|e| *e != emoji);
            list.insert(0, emoji.clone());
            list.truncate(RECENT_MAX);
            save_recent(list);
        });
        on_pick.run(emoji);
    };
    let button = move |text: String, title: String| {
        let chosen = text.clone();
        let data = text.clone();
        view! {
            <button type="button" class="emoji-choice" title=title.clone() aria-label=title data-emoji=data
                on:click=move |_| pick(chosen.clone())>{text}</button>
        }
    };
    let shown = move || match state.get() {
        State::Loading => view! { <p class="emoji-status" role="status">"Loading…"</p> }.into_any(),
        State::Failed => view! { <p class="emoji-status" role="alert">"Emoji could not be loaded."</p> }.into_any(),
        State::Ready => {
            let q = lowercase(query.get().trim());
            let tone = tone.get();
            let group = group.get();
            let list = data.with_value(|data| {
                let all = data.as_deref().map_or(&[][..], Vec::as_slice);
                let chosen: Vec<&Emoji> = if q.is_empty() {
                    all.iter().filter(|e| e.2 == group).collect()
                } else {
                    all.iter().filter(|e| e.matches(&q)).take(SEARCH_MAX).collect()
                };
                chosen
                    .into_iter()
                    .map(|e| (e.toned(tone).to_owned(), e.name().to_owned()))
                    .collect::<Vec<_>>()
            });
            list.into_iter()
                .map(|(text, name)| button(text, name))
                .collect_view()
                .into_any()
        }
    };

    view! {
        <div class="emoji-picker" role="dialog" aria-label="Emoji">
            <div class="emoji-tools">
                <label for="emoji-search" class="visually-hidden">"Search emoji"</label>
                <input id="emoji-search" type="search" placeholder="Search emoji" autocomplete="off"
                    prop:value=move || query.get() on:input=move |ev| query.set(event_target_value(&ev)) />
                <label for="emoji-tone" class="visually-hidden">"Skin tone"</label>
                <select id="emoji-tone" on:change=move |ev| {
                    let index: usize = event_target_value(&ev).parse().unwrap_or(0);
                    tone.set(if index < TONES.len() { index } else { 0 });
                }>
                    {TONES.iter().enumerate().map(|(i, label)| view! { <option value=i.to_string()>{*label}</option> }).collect_view()}
                </select>
            </div>
            <When when=move || recent.with(|r| !r.is_empty()) && query.with(|q| q.trim().is_empty())>
                <div class="emoji-grid recent" aria-label="Recently used">
                    {move || recent.get().into_iter().map(|e| button(e.clone(), format!("Recent: {e}"))).collect_view()}
                </div>
            </When>
            <div class="emoji-groups" role="tablist">
                {GROUPS.iter().enumerate().map(|(g, (icon, label))| {
                    view! {
                        <button type="button" role="tab" class="emoji-group" title=*label aria-label=*label
                            aria-selected=move || (group.get() == g).to_string()
                            on:click=move |_| { group.set(g); query.set(String::new()); }>{*icon}</button>
                    }
                }).collect_view()}
            </div>
            <div class="emoji-grid">{shown}</div>
        </div>
    }
}
