//! Message search: a dialog over the app, opened by the top bar's button,
//! Ctrl+K or ⌘K anywhere, or "/" outside a text field. It searches as you
//! type, lists what matched grouped by conversation with the matching words
//! marked, and opens the chosen message in its conversation, scrolled to
//! and marked. The box is a combobox: focus stays in it while Up and Down
//! move through the results and Enter opens one; Escape closes the dialog
//! and gives the focus back to where it was.

use std::collections::HashSet;

use gloo_timers::future::TimeoutFuture;
use leptos::{ev, html, prelude::*, task::spawn_local};
use leptos_router::{
    hooks::{use_location, use_navigate},
    NavigateOptions,
};
use natter_common::{
    api::{ConversationKind, MessageHit, MessageSearch, Snippet},
    ids::{ConversationId, UserId},
};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::HtmlElement;

use super::{conversation_list::title, image_viewer::trap_focus, message::times, when::When};
use crate::{
    api,
    chat::{use_chat, Chat},
    erased::effect,
    state::{use_auth, use_reveal, Auth},
};

/// How long typing pauses before the search goes out.
const DEBOUNCE_MS: u32 = 250;
/// Results asked for at a time.
const PAGE: u32 = 20;
/// How close (px) to the end of the results scrolling loads more.
const MORE_WITHIN: i32 = 160;

/// Where the search stands.
#[derive(Clone, PartialEq)]
enum Phase {
    /// Nothing typed.
    Idle,
    Searching,
    Done,
    /// The server refused, or could not be reached: its message.
    Failed(String),
}

/// A result's place: its conversation and seq.
type Key = (ConversationId, i64);

fn key(hit: &MessageHit) -> Key {
    (hit.conversation_id, hit.seq)
}

/// The id of a result's element, for `aria-activedescendant`.
fn option_id((conversation, seq): Key) -> String {
    format!("search-hit-{}-{seq}", conversation.0)
}

/// The search's state. It lives with the shell, so the last query and its
/// results are there again when the dialog reopens.
#[derive(Clone, Copy)]
pub struct Search {
    open: RwSignal<bool>,
    query: RwSignal<String>,
    /// Only the open conversation ("In this conversation").
    here: RwSignal<bool>,
    /// The conversation open in the pane, if any.
    current: Memo<Option<ConversationId>>,
    hits: RwSignal<Vec<MessageHit>>,
    next: RwSignal<Option<String>>,
    phase: RwSignal<Phase>,
    loading_more: RwSignal<bool>,
    selected: RwSignal<Option<Key>>,
    /// The search the results answer (the next page asks it again).
    answered: StoredValue<Option<MessageSearch>>,
    /// Bumped by every new search: answers to older ones are dropped.
    generation: StoredValue<u64>,
    /// What had the focus before the dialog opened; it gets it back.
    opener: StoredValue<Option<HtmlElement>, LocalStorage>,
    chat: Chat,
    auth: Auth,
}

impl Search {
    pub fn new() -> Self {
        let location = use_location();
        let current = Memo::new(move |_| {
            location.pathname.with(|path| {
                path.strip_prefix("/c/")
                    .and_then(|id| id.parse().ok())
                    .map(ConversationId)
            })
        });
        Self {
            open: RwSignal::new(false),
            query: RwSignal::new(String::new()),
            here: RwSignal::new(false),
            current,
            hits: RwSignal::new(Vec::new()),
            next: RwSignal::new(None),
            phase: RwSignal::new(Phase::Idle),
            loading_more: RwSignal::new(false),
            selected: RwSignal::new(None),
            answered: StoredValue::new(None),
            generation: StoredValue::new(0),
            opener: StoredValue::new_local(None),
            chat: use_chat(),
            auth: use_auth(),
        }
    }

    /// Opens the dialog, or puts the cursor back in its box when open.
    fn show(&self) {
        if self.open.get_untracked() {
            focus_box();
            return;
        }
        let active = document()
            .active_element()
            .and_then(|el| el.dyn_into::<HtmlElement>().ok());
        self.opener.set_value(active);
        self.open.set(true);
        // What matched before may have changed since.
        if !self.query.with_untracked(|q| q.trim().is_empty()) {
            self.run(0);
        }
    }

    /// Closes the dialog; the focus goes back to where it was.
    fn close(&self) {
        if !self.open.get_untracked() {
            return;
        }
        self.open.set(false);
        let opener = self.opener.try_update_value(Option::take).flatten();
        if let Some(el) = opener.filter(|el| el.is_connected()) {
            let _ = el.focus();
        }
    }

    fn scope(&self) -> Option<ConversationId> {
        self.current.get_untracked().filter(|_| self.here.get_untracked())
    }

    /// Whether a search started as `generation` is still the latest (and
    /// the shell still there: it goes on signing out).
    fn is_current(&self, generation: u64) -> bool {
        self.generation.try_get_value() == Some(generation)
    }

    /// Searches for what is in the box now, after `delay_ms` without
    /// another change.
    fn run(&self, delay_ms: u32) {
        let generation = self
            .generation
            .try_update_value(|g| {
                *g += 1;
                *g
            })
            .unwrap_or_default();
        self.loading_more.set(false);
        let q = self.query.with_untracked(|q| q.trim().to_owned());
        if q.is_empty() {
            self.hits.set(Vec::new());
            self.next.set(None);
            self.selected.set(None);
            self.phase.set(Phase::Idle);
            return;
        }
        self.phase.set(Phase::Searching);
        let search = MessageSearch {
            q,
            conversation_id: self.scope(),
            limit: Some(PAGE),
            ..Default::default()
        };
        let this = *self;
        spawn_local(async move {
            if delay_ms > 0 {
                TimeoutFuture::new(delay_ms).await;
                if !this.is_current(generation) {
                    return;
                }
            }
            let answer = api::search_messages(&search).await;
            if !this.is_current(generation) {
                return;
            }
            match answer {
                Ok(page) => {
                    this.learn_names(&page.items);
                    this.selected.set(page.items.first().map(key));
                    this.hits.set(page.items);
                    this.next.set(page.next_cursor);
                    this.answered.set_value(Some(search));
                    this.phase.set(Phase::Done);
                }
                Err(err) => {
                    this.hits.set(Vec::new());
                    this.next.set(None);
                    this.selected.set(None);
                    this.phase.set(Phase::Failed(err.message));
                }
            }
        });
    }

    /// Loads the next page of results, if there is one.
    fn more(&self) {
        if self.loading_more.get_untracked() || self.phase.get_untracked() != Phase::Done {
            return;
        }
        let (Some(cursor), Some(search)) = (self.next.get_untracked(), self.answered.get_value()) else {
            return;
        };
        let generation = self.generation.get_value();
        self.loading_more.set(true);
        let this = *self;
        spawn_local(async move {
            let answer = api::search_messages(&MessageSearch {
                cursor: Some(cursor),
                ..search
            })
            .await;
            if !this.is_current(generation) {
                return;
            }
            this.loading_more.set(false);
            match answer {
                Ok(page) => {
                    this.learn_names(&page.items);
                    this.hits.update(|hits| {
                        let held: HashSet<Key> = hits.iter().map(key).collect();
                        hits.extend(page.items.into_iter().filter(|hit| !held.contains(&key(hit))));
                    });
                    this.next.set(page.next_cursor);
                }
                Err(err) => this.phase.set(Phase::Failed(err.message)),
            }
        });
    }

    /// The name the app shows for a sender: "You", or as the app knows
    /// them now (`Chat::people`, changed live by `user_updated`), or a DM
    /// peer's from the sidebar's list.
    fn name(&self, user: UserId) -> Option<String> {
        if self.auth.user.with(|u| u.as_ref().is_some_and(|u| u.id == user)) {
            return Some("You".to_owned());
        }
        if let Some(name) = self
            .chat
            .people
            .with(|p| p.get(&user).filter(|n| !n.is_empty()).cloned())
        {
            return Some(name);
        }
        self.chat.list.with(|list| {
            list.iter().flatten().find_map(|c| match &c.kind {
                ConversationKind::Direct { peer } if peer.id == user => Some(peer.display_name.clone()),
                _ => None,
            })
        })
    }

    /// Fetches the names of senders not known yet, once a session, into
    /// `Chat::people`, where a rename reaches them.
    fn learn_names(&self, hits: &[MessageHit]) {
        let mut missing: Vec<UserId> = hits.iter().map(|h| h.sender).collect();
        missing.retain(|u| untrack(|| self.name(*u)).is_none());
        self.chat.look_up(missing);
    }

    /// A conversation's title as the sidebar shows it.
    fn title(&self, id: ConversationId) -> String {
        self.chat
            .list
            .with(|list| list.iter().flatten().find(|c| c.id == id).map(title))
            .unwrap_or_else(|| "Conversation".to_owned())
    }
}

fn focus_box() {
    if let Some(input) = document()
        .get_element_by_id("search-box")
        .and_then(|el| el.dyn_into::<web_sys::HtmlInputElement>().ok())
    {
        let _ = input.focus();
        input.select();
    }
}

/// Whether the focus is where "/" is typed rather than a shortcut.
fn typing_in_a_field() -> bool {
    let Some(el) = document().active_element() else {
        return false;
    };
    if let Some(input) = el.dyn_ref::<web_sys::HtmlInputElement>() {
        return !matches!(
            input.type_().as_str(),
            "button" | "checkbox" | "color" | "file" | "image" | "radio" | "range" | "reset" | "submit"
        );
    }
    matches!(el.tag_name().as_str(), "TEXTAREA" | "SELECT")
        || el
            .dyn_ref::<HtmlElement>()
            .is_some_and(HtmlElement::is_content_editable)
}

fn is_mac() -> bool {
    web_sys::window()
        .and_then(|w| w.navigator().platform().ok())
        .is_some_and(|p| p.starts_with("Mac") || p.starts_with("iP"))
}

/// The top bar's button that opens the search.
#[component]
pub fn SearchButton(search: Search) -> impl IntoView {
    let (shortcut, title) = if is_mac() {
        ("⌘K", "Search messages (⌘K)")
    } else {
        ("Ctrl K", "Search messages (Ctrl+K)")
    };
    view! {
        <button type="button" id="open-search" class="search-button" title=title
            aria-keyshortcuts="Control+K Meta+K /" aria-haspopup="dialog" on:click=move |_| search.show()>
            <svg class="search-icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
                <circle cx="10.5" cy="10.5" r="6.5" />
                <path d="M15.5 15.5 21 21" />
            </svg>
            <span class="search-button-label">"Search"</span>
            <kbd class="search-shortcut" aria-hidden="true">{shortcut}</kbd>
        </button>
    }
}

/// The shortcuts that open the search, and its dialog while open.
#[component]
pub fn MessageSearch(search: Search) -> impl IntoView {
    let keys = window_event_listener(ev::keydown, move |ev| {
        if ev.default_prevented() || ev.is_composing() || ev.alt_key() {
            return;
        }
        let key = ev.key();
        // The dialog handles its own keys; this is for a focus it lost.
        if key == "Escape" && search.open.get_untracked() {
            ev.prevent_default();
            search.close();
            return;
        }
        let command = ev.ctrl_key() || ev.meta_key();
        let shortcut = command && !ev.shift_key() && (ev.code() == "KeyK" || key.eq_ignore_ascii_case("k"));
        let slash = key == "/" && !command && !search.open.get_untracked() && !typing_in_a_field();
        // The image viewer is modal: its keys are its own.
        let viewer = document().query_selector(".image-viewer").ok().flatten().is_some();
        if (shortcut || slash) && !viewer {
            ev.prevent_default();
            search.show();
        }
    });
    on_cleanup(move || keys.remove());
    view! {
        <When when=move || search.open.get()>
            <Dialog search />
        </When>
    }
}

/// "14:05" for today, else the date; with the full time for the tooltip
/// and ISO for `datetime`.
fn when(ms: i64) -> (String, String, String) {
    let (short, full, iso) = times(ms);
    let date = js_sys::Date::new(&JsValue::from_f64(ms as f64));
    let label = if date.to_date_string() == js_sys::Date::new_0().to_date_string() {
        short
    } else {
        String::from(date.to_locale_date_string("default", &JsValue::UNDEFINED))
    };
    (label, full, iso)
}

/// The snippet as text, the matched parts in `<mark>`, "…" where the
/// message goes on.
fn snippet_view(snippet: Snippet) -> impl IntoView {
    let parts = snippet
        .parts
        .into_iter()
        .map(|part| {
            if part.hit {
                view! { <mark>{part.text}</mark> }.into_any()
            } else {
                part.text.into_any()
            }
        })
        .collect_view();
    view! { {snippet.cut_start.then_some("…")} {parts} {snippet.cut_end.then_some("…")} }
}

/// Results grouped by conversation, each group where its newest result
/// came, its results newest first.
fn grouped(hits: &[MessageHit]) -> Vec<(ConversationId, Vec<MessageHit>)> {
    let mut groups: Vec<(ConversationId, Vec<MessageHit>)> = Vec::new();
    for hit in hits {
        match groups.iter_mut().find(|(id, _)| *id == hit.conversation_id) {
            Some((_, group)) => group.push(hit.clone()),
            None => groups.push((hit.conversation_id, vec![hit.clone()])),
        }
    }
    groups
}

/// Scrolls the panel, if needed, so that `option` is below its sticky head.
fn keep_in_view(panel: &HtmlElement, head: &HtmlElement, option: &web_sys::Element) {
    let top = head.get_bounding_client_rect().bottom();
    let bottom = panel.get_bounding_client_rect().bottom();
    let at = option.get_bounding_client_rect();
    if at.top() < top {
        panel.set_scroll_top(panel.scroll_top() - (top - at.top()).ceil() as i32);
    } else if at.bottom() > bottom {
        panel.set_scroll_top(panel.scroll_top() + (at.bottom() - bottom).ceil() as i32);
    }
}

#[component]
fn Dialog(search: Search) -> impl IntoView {
    let navigate = StoredValue::new_local(use_navigate());
    let reveal = use_reveal();
    let panel = NodeRef::<html::Div>::new();
    let head = NodeRef::<html::Div>::new();
    let input = NodeRef::<html::Input>::new();
    // The cursor goes into the box as it opens.
    effect(move || {
        if let Some(input) = input.get() {
            let _ = input.focus();
            input.select();
        }
    });
    let back = window_event_listener(ev::popstate, move |_| search.close());
    on_cleanup(move || back.remove());

    let groups = Memo::new(move |_| search.hits.with(|hits| grouped(hits)));
    let order = Memo::new(move |_| {
        groups.with(|groups| {
            groups
                .iter()
                .flat_map(|(_, hits)| hits.iter().map(key))
                .collect::<Vec<Key>>()
        })
    });
    let any = move || order.with(|o| !o.is_empty());

    // The conversation page takes the message from `reveal`: at once if
    // it is open, else once it has loaded.
    let choose = move |(conversation, seq): Key| {
        let navigate = navigate.get_value();
        reveal.show(conversation, seq);
        search.close();
        if search.current.get_untracked() != Some(conversation) {
            navigate(&format!("/c/{}", conversation.0), NavigateOptions::default());
        }
    };
    let step = move |by: isize| {
        let order = order.get_untracked();
        let Some(last) = order.len().checked_sub(1) else {
            return;
        };
        let at = search
            .selected
            .get_untracked()
            .and_then(|k| order.iter().position(|o| *o == k));
        let next = match at {
            None if by > 0 => 0,
            None => last,
            Some(i) => i.saturating_add_signed(by).min(last),
        };
        search.selected.set(Some(order[next]));
        if by > 0 && next == last {
            search.more();
        }
        // Selecting changes no sizes: the option is where it will stay.
        // The first one brings its group's title back into view too.
        if let (Some(panel), Some(head), Some(option)) = (
            panel.get_untracked(),
            head.get_untracked(),
            document().get_element_by_id(&option_id(order[next])),
        ) {
            if next == 0 {
                panel.set_scroll_top(0);
            } else {
                keep_in_view(&panel, &head, &option);
            }
        }
    };
    let on_keydown = move |ev: ev::KeyboardEvent| {
        if ev.is_composing() {
            return;
        }
        let in_box = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .is_some_and(|el| el.id() == "search-box");
        match ev.key().as_str() {
            "Escape" => {
                ev.prevent_default();
                ev.stop_propagation();
                search.close();
            }
            "ArrowDown" if in_box => {
                ev.prevent_default();
                step(1);
            }
            "ArrowUp" if in_box => {
                ev.prevent_default();
                step(-1);
            }
            "Enter" if in_box => {
                ev.prevent_default();
                if let Some(k) = search.selected.get_untracked() {
                    choose(k);
                }
            }
            "Tab" => {
                if let Some(panel) = panel.get_untracked() {
                    trap_focus(&ev, &panel);
                }
            }
            _ => {}
        }
    };
    let on_backdrop = move |ev: ev::MouseEvent| {
        if ev.target() == ev.current_target() {
            search.close();
        }
    };
    let on_scroll = move |_| {
        if let Some(p) = panel.get_untracked() {
            if p.scroll_top() + p.client_height() >= p.scroll_height() - MORE_WITHIN {
                search.more();
            }
        }
    };

    let status = move || match search.phase.get() {
        Phase::Idle => "Type to search your messages.".to_owned(),
        Phase::Searching => "Searching…".to_owned(),
        Phase::Done => match order.with(Vec::len) {
            0 => format!("No messages match “{}”.", search.query.with(|q| q.trim().to_owned())),
            1 => "1 message".to_owned(),
            n if search.next.with(Option::is_some) => format!("{n}+ messages"),
            n => format!("{n} messages"),
        },
        Phase::Failed(_) => String::new(),
    };
    let error = move || match search.phase.get() {
        Phase::Failed(message) => Some(view! { <p class="form-error search-error" role="alert">{message}</p> }),
        _ => None,
    };

    let hit_view = move |hit: MessageHit| {
        let k = key(&hit);
        let is_selected = move || search.selected.get() == Some(k);
        let sender = hit.sender;
        let (label, full, iso) = when(hit.created_at);
        view! {
            <div role="option" id=option_id(k) aria-selected=move || is_selected().to_string()
                class=move || if is_selected() { "search-hit selected" } else { "search-hit" }
                on:mousedown=|ev: ev::MouseEvent| ev.prevent_default()
                on:mousemove=move |_| if !is_selected() { search.selected.set(Some(k)) }
                on:click=move |_| choose(k)>
                <span class="search-hit-head">
                    <span class="search-hit-sender">{move || search.name(sender).unwrap_or_default()}</span>
                    <time datetime=iso title=full>{label}</time>
                </span>
                <span class="search-hit-text" dir="auto">{snippet_view(hit.snippet)}</span>
            </div>
        }
    };

    view! {
        <div class="search-backdrop" on:click=on_backdrop on:keydown=on_keydown>
            <div class="search-panel" role="dialog" aria-modal="true" aria-labelledby="search-label"
                node_ref=panel on:scroll=on_scroll>
                <div class="search-head" node_ref=head>
                    <div class="search-bar">
                        <label id="search-label" for="search-box" class="visually-hidden">"Search messages"</label>
                        <input id="search-box" type="search" role="combobox" node_ref=input
                            autocomplete="off" spellcheck="false" placeholder="Search messages"
                            aria-autocomplete="list" aria-describedby="search-status"
                            aria-expanded=move || any().to_string()
                            aria-controls=move || any().then_some("search-results")
                            aria-activedescendant=move || search.selected.get().map(option_id)
                            prop:value=move || search.query.get()
                            on:input=move |ev| {
                                search.query.set(event_target_value(&ev));
                                search.run(DEBOUNCE_MS);
                            } />
                        <button type="button" class="search-close secondary" aria-label="Close search" title="Close (Esc)"
                            on:click=move |_| search.close()>"✕"</button>
                    </div>
                    <When when=move || search.current.get().is_some()>
                        <label class="search-scope">
                            <input type="checkbox" id="search-here" prop:checked=move || search.here.get()
                                on:change=move |ev| {
                                    search.here.set(event_target_checked(&ev));
                                    search.run(0);
                                } />
                            "In this conversation"
                        </label>
                    </When>
                    <p id="search-status" class="search-status" role="status">{status}</p>
                    {error}
                </div>
                <When when=any>
                    <div role="listbox" id="search-results" class="search-results" aria-label="Messages found"
                        aria-busy=move || (search.phase.get() == Phase::Searching).to_string()>
                        // Not keyed: a new search may bring the same
                        // messages with other words marked.
                        {move || groups.get().into_iter().map(|(conversation, hits)| {
                            let label = format!("search-group-{}", conversation.0);
                            let labelled_by = label.clone();
                            view! {
                                <div role="group" class="search-group" aria-labelledby=labelled_by>
                                    <div class="search-group-title" id=label>{move || search.title(conversation)}</div>
                                    {hits.into_iter().map(hit_view).collect_view()}
                                </div>
                            }
                        }).collect_view()}
                    </div>
                </When>
                <When when=move || search.next.with(Option::is_some)>
                    // Not `disabled` while loading: a focused button that
                    // turns disabled drops the focus to the page.
                    <button type="button" id="search-more" class="secondary search-more"
                        aria-disabled=move || search.loading_more.get().to_string() on:click=move |_| search.more()>
                        {move || if search.loading_more.get() { "Loading…" } else { "Load more" }}
                    </button>
                </When>
            </div>
        </div>
    }
}
