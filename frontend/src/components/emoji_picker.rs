//! The emoji picker: the Unicode set from the `emojis` crate by group,
//! search by name or shortcode, skin tones where an emoji has them, and
//! recently used ones remembered in this browser.

use emojis::{Emoji, Group, SkinTone};
use leptos::prelude::*;

const RECENT_KEY: &str = "natter.recent_emoji";
const RECENT_MAX: usize = 24;
const SEARCH_MAX: usize = 120;

const TONES: [(SkinTone, &str); 6] = [
    (SkinTone::Default, "Default"),
    (SkinTone::Light, "Light"),
    (SkinTone::MediumLight, "Medium-light"),
    (SkinTone::Medium, "Medium"),
    (SkinTone::MediumDark, "Medium-dark"),
    (SkinTone::Dark, "Dark"),
];

fn group_label(group: Group) -> (&'static str, &'static str) {
    match group {
        Group::SmileysAndEmotion => ("😀", "Smileys and emotion"),
        Group::PeopleAndBody => ("👋", "People and body"),
        Group::AnimalsAndNature => ("🐱", "Animals and nature"),
        Group::FoodAndDrink => ("🍕", "Food and drink"),
        Group::TravelAndPlaces => ("✈️", "Travel and places"),
        Group::Activities => ("⚽", "Activities"),
        Group::Objects => ("💡", "Objects"),
        Group::Symbols => ("❤️", "Symbols"),
        Group::Flags => ("🏁", "Flags"),
    }
}

fn load_recent() -> Vec<String> {
    crate::storage::load(RECENT_KEY).unwrap_or_default()
}

fn save_recent(recent: &[String]) {
    crate::storage::save(RECENT_KEY, &recent);
}

/// The emoji as shown with the chosen skin tone, when it has tones.
fn toned(emoji: &'static Emoji, tone: SkinTone) -> &'static str {
    emoji.with_skin_tone(tone).unwrap_or(emoji).as_str()
}

fn matches(emoji: &Emoji, query: &str) -> bool {
    emoji.name().contains(query) || emoji.shortcodes().any(|code| code.contains(query))
}

#[component]
pub fn EmojiPicker(on_pick: Callback<String>) -> impl IntoView {
    let group = RwSignal::new(Group::SmileysAndEmotion);
    let query = RwSignal::new(String::new());
    let tone = RwSignal::new(SkinTone::Default);
    let recent = RwSignal::new(load_recent());

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
    let shown = move || {
        let q = query.get().trim().to_lowercase();
        let tone = tone.get();
        let list: Vec<&'static Emoji> = if q.is_empty() {
            group.get().emojis().collect()
        } else {
            emojis::iter().filter(|e| matches(e, &q)).take(SEARCH_MAX).collect()
        };
        list.into_iter()
            .map(|e| button(toned(e, tone).to_owned(), e.name().to_owned()))
            .collect_view()
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
                    tone.set(TONES.get(index).map_or(SkinTone::Default, |t| t.0));
                }>
                    {TONES.iter().enumerate().map(|(i, (_, label))| view! { <option value=i.to_string()>{*label}</option> }).collect_view()}
                </select>
            </div>
            <Show when=move || recent.with(|r| !r.is_empty()) && query.with(|q| q.trim().is_empty())>
                <div class="emoji-grid recent" aria-label="Recently used">
                    {move || recent.get().into_iter().map(|e| button(e.clone(), format!("Recent: {e}"))).collect_view()}
                </div>
            </Show>
            <div class="emoji-groups" role="tablist">
                {Group::iter().map(|g| {
                    let (icon, label) = group_label(g);
                    view! {
                        <button type="button" role="tab" class="emoji-group" title=label aria-label=label
                            aria-selected=move || (group.get() == g).to_string()
                            on:click=move |_| { group.set(g); query.set(String::new()); }>{icon}</button>
                    }
                }).collect_view()}
            </div>
            <div class="emoji-grid">{shown}</div>
        </div>
    }
}
