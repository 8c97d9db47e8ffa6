//! `/c/:id`: a conversation: its timeline, live, and the composer.

use std::collections::{HashMap, HashSet};

use leptos::{prelude::*, task::spawn_local};
use leptos_router::components::A;
use natter_common::{
    api::{Conversation, ConversationKind, NotifyLevel, Role},
    events::{Event, EventBody, MessageContent},
    ids::{ConversationId, EventId, UserId},
    ErrorBody, ErrorCode,
};
use wasm_bindgen::JsCast;

use super::conversation_param;
use crate::{
    api::{self, Slice, PAGE},
    chat::{use_chat, Timeline},
    components::{
        avatar::Avatar,
        composer::{first_file, Attachments, Composer},
        conversation_list::title,
        each::Each,
        message::{focus_composer, name_of, MessageRow, Rows},
        message_content::MessageBody,
        when::When,
    },
    erased::{effect, resource},
    state::{use_auth, use_reveal},
};

/// The conversation, the names of the people in it, and my role there.
#[derive(Clone)]
struct Loaded {
    conversation: Conversation,
    names: HashMap<UserId, String>,
    role: Role,
}

async fn load(
    id: ConversationId,
    chat: crate::chat::Chat,
    me: Option<natter_common::api::User>,
) -> Result<Loaded, ErrorBody> {
    let timeline = chat.timeline(id);
    let not_found = || ErrorBody {
        code: ErrorCode::NotFound,
        message: "No such conversation.".into(),
    };
    // The sidebar's list is kept current: it is asked for only when it has
    // not come yet or does not have this conversation.
    let listed = chat
        .list
        .with_untracked(|list| list.iter().flatten().find(|c| c.id == id).cloned());
    let conversation = match listed {
        Some(conversation) => conversation,
        None => api::conversations()
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(not_found)?,
    };
    let mark = timeline.mark();
    let history = api::history(id, Slice::Newest).await?;
    if timeline.is_window() {
        // A window left open last time: the chat opens at the live end.
        if timeline.replace(mark, history.events, history.more, false) {
            chat.catch_up(id);
        }
    } else {
        if timeline.first_seq().is_none() {
            timeline.more_before.set(history.more);
        }
        timeline.merge(history.events);
    }
    let receipts = api::receipts(id).await?;
    timeline.note_receipts(receipts.into_iter().map(|r| (r.user_id, r.read_seq)));
    let mut names = HashMap::new();
    if let Some(me) = me {
        names.insert(me.id, me.display_name);
    }
    let mut role = Role::Member;
    match &conversation.kind {
        ConversationKind::Direct { peer } => {
            names.insert(peer.id, peer.display_name.clone());
            chat.note_users(std::slice::from_ref(peer));
        }
        ConversationKind::Group { .. } => {
            role = api::group(id).await?.my_role;
            let page = api::group_members(id, None).await?;
            timeline.more_members.set_value(page.next_cursor.is_some());
            let members = page.items;
            for member in &members {
                names.insert(member.user.id, member.user.display_name.clone());
            }
            let users: Vec<_> = members.into_iter().map(|m| m.user).collect();
            // Senders' names and pictures as the group's page of members has them now.
            chat.note_users(&users);
            timeline.members.set(users);
        }
    }
    Ok(Loaded {
        conversation,
        names,
        role,
    })
}

/// "Today", or the date, for a Unix time in milliseconds (local time).
fn day_label(ms: i64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    let today = js_sys::Date::new_0();
    if date.to_date_string() == today.to_date_string() {
        "Today".to_owned()
    } else {
        String::from(date.to_locale_date_string("default", &wasm_bindgen::JsValue::UNDEFINED))
    }
}

/// Whom a system event shows a name of, besides its sender (a long list
/// of people added is shown by its first few).
fn mentioned(body: &EventBody) -> &[UserId] {
    match body {
        EventBody::MemberJoined { user }
        | EventBody::MemberLeft { user }
        | EventBody::MemberRemoved { user }
        | EventBody::RoleChanged { user, .. } => std::slice::from_ref(user),
        EventBody::MembersJoined { users } => &users[..users.len().min(NAMES_SHOWN)],
        _ => &[],
    }
}

/// People named in a "added A, B, C and 4 others" line.
const NAMES_SHOWN: usize = 3;

/// A system event in words.
fn describe(event: &Event, name: &dyn Fn(UserId) -> String) -> String {
    let by = name(event.sender);
    match &event.body {
        EventBody::GroupCreated { name } => format!("{by} created the group “{name}”"),
        EventBody::GroupRenamed { name } => format!("{by} renamed the group to “{name}”"),
        EventBody::MemberJoined { user } if *user == event.sender => format!("{by} joined"),
        EventBody::MemberJoined { user } => format!("{by} added {}", name(*user)),
        EventBody::MembersJoined { users } => {
            let mut shown: Vec<String> = users.iter().take(NAMES_SHOWN).map(|u| name(*u)).collect();
            let more = users.len().saturating_sub(NAMES_SHOWN);
            let listed = match more {
                0 => {
                    let last = shown.pop().unwrap_or_default();
                    if shown.is_empty() {
                        last
                    } else {
                        format!("{} and {last}", shown.join(", "))
                    }
                }
                1 => format!("{} and 1 other", shown.join(", ")),
                _ => format!("{} and {more} others", shown.join(", ")),
            };
            format!("{by} added {listed}")
        }
        EventBody::MemberLeft { user } => format!("{} left", name(*user)),
        EventBody::MemberRemoved { user } => format!("{by} removed {}", name(*user)),
        EventBody::RoleChanged { user, role } => {
            let role = match role {
                Role::Owner => "the owner",
                Role::Admin => "an admin",
                Role::Member => "a member",
            };
            format!("{by} made {} {role}", name(*user))
        }
        _ => "Something happened that this version of natter can't show.".into(),
    }
}

#[component]
pub fn ConversationPage() -> impl IntoView {
    let id = conversation_param();
    let auth = use_auth();
    let chat = use_chat();
    // Loaded once per conversation; from then on the timeline is live.
    let data = resource(move || {
        let id = id();
        let me = auth.user.get_untracked();
        async move {
            match id {
                Some(id) => load(id, chat, me).await,
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
                Some(Ok(loaded)) => view! { <Chat loaded /> }.into_any(),
            }}
        </section>
    }
}

/// Loads the page of history before the oldest held; false when there was
/// nothing to load or it failed.
async fn load_older(id: ConversationId, timeline: Timeline) -> bool {
    let Some(first) = timeline.first_seq() else {
        return false;
    };
    let mark = timeline.mark();
    match api::history(id, Slice::Before(first)).await {
        Ok(page) => timeline.prepend(mark, page.events, page.more),
        Err(_) => false,
    }
}

/// Loads the page after the newest held, in a window; false when there was
/// nothing to load or it failed. Once nothing newer remains, what came live
/// meanwhile is asked for.
async fn load_newer(chat: crate::chat::Chat, id: ConversationId, timeline: Timeline) -> bool {
    let Some(last) = timeline.last_seq().filter(|_| timeline.is_window()) else {
        return false;
    };
    let mark = timeline.mark();
    let Ok(page) = api::history(id, Slice::After(last)).await else {
        return false;
    };
    let more = page.more;
    if !timeline.append(mark, page.events, more) {
        return false;
    }
    if !more {
        chat.catch_up(id);
    }
    true
}

/// Replaces what is held with the page around `seq` (a window, unless that
/// page reaches the live end) or, without one, with the newest page.
async fn load_at(chat: crate::chat::Chat, id: ConversationId, timeline: Timeline, slice: Slice) -> bool {
    let mark = timeline.mark();
    let page = api::history(id, slice).await;
    let Ok(page) = page else { return false };
    let more_after = page.more_newer.unwrap_or(false);
    if !timeline.replace(mark, page.events, page.more, more_after) {
        return false;
    }
    if !more_after {
        chat.catch_up(id);
    }
    true
}

/// Older pages loaded, at most, looking for a reply's original before a
/// window is opened around it by its id (it is usually close by).
const REPLY_PAGES: usize = 1;

/// A message to bring into view: by id (a reply's original) or by seq (a
/// search result).
enum Target {
    Id(EventId),
    Seq(i64),
}

impl Target {
    /// Its seq, once its row is loaded.
    fn find(&self, timeline: Timeline) -> Option<i64> {
        match self {
            Self::Id(id) => timeline.message(id).map(|e| e.event.seq),
            Self::Seq(seq) => timeline
                .entries
                .with_untracked(|entries| entries.binary_search_by_key(seq, |e| e.event.seq).is_ok())
                .then_some(*seq),
        }
    }

    /// Whether it can still be in an older page than those loaded.
    fn may_be_older(&self, timeline: Timeline) -> bool {
        match self {
            Self::Id(_) => true,
            Self::Seq(seq) => timeline.first_seq().is_none_or(|first| first > *seq),
        }
    }

    /// Where to open a window when the target is far: a seq more than a
    /// page before the oldest message held, or after the newest (of a
    /// window).
    fn far(&self, timeline: Timeline) -> Option<Slice> {
        let Self::Seq(seq) = self else { return None };
        match (timeline.first_seq(), timeline.last_seq()) {
            (Some(first), Some(last)) => (first - seq > PAGE || *seq > last).then_some(Slice::Around(*seq)),
            _ => Some(Slice::Around(*seq)),
        }
    }

    /// Where to open a window when older pages did not hold it.
    fn window(&self) -> Slice {
        match self {
            Self::Id(id) => Slice::AroundId(id.clone()),
            Self::Seq(seq) => Slice::Around(*seq),
        }
    }
}

/// The timeline's row for a message's seq.
fn row_of(list: &web_sys::HtmlElement, seq: i64) -> Option<web_sys::Element> {
    list.query_selector(&format!("li[data-seq='{seq}']")).ok().flatten()
}

/// The timeline's rows that carry a seq, oldest first.
fn rows(list: &web_sys::HtmlElement) -> Vec<web_sys::Element> {
    let Ok(nodes) = list.query_selector_all("li[data-seq]") else {
        return Vec::new();
    };
    (0..nodes.length())
        .filter_map(|i| nodes.item(i))
        .filter_map(|node| node.dyn_into::<web_sys::Element>().ok())
        .collect()
}

fn seq_of(row: &web_sys::Element) -> Option<i64> {
    row.get_attribute("data-seq")?.parse().ok()
}

/// The first row at least partly in view, and where its top is.
fn first_row_in_view(list: &web_sys::HtmlElement) -> Option<(i64, f64)> {
    let top = list.get_bounding_client_rect().top();
    rows(list).into_iter().find_map(|row| {
        let rect = row.get_bounding_client_rect();
        (rect.bottom() > top).then(|| seq_of(&row).map(|seq| (seq, rect.top())))?
    })
}

/// The newest row whose top is inside the list's visible part.
fn last_seen_row(list: &web_sys::HtmlElement) -> Option<i64> {
    let view = list.get_bounding_client_rect();
    rows(list).into_iter().rev().find_map(|row| {
        let rect = row.get_bounding_client_rect();
        (rect.top() < view.bottom() - 8.0 && rect.bottom() > view.top()).then(|| seq_of(&row))?
    })
}

#[component]
fn Chat(loaded: Loaded) -> impl IntoView {
    let chat = use_chat();
    let me = use_auth().user.get_untracked().map(|u| u.id);
    let id = loaded.conversation.id;
    let timeline = chat.timeline(id);
    // On screen: its messages notify only while the tab is not looked at.
    chat.viewing.set(Some(id));
    on_cleanup(move || {
        if chat.viewing.get_untracked() == Some(id) {
            chat.viewing.set(None);
        }
    });
    let (is_group, avatar_id) = match &loaded.conversation.kind {
        ConversationKind::Direct { peer } => (false, peer.id.0),
        ConversationKind::Group { .. } => (true, id.0),
    };
    let peer = match &loaded.conversation.kind {
        ConversationKind::Direct { peer } => Some(peer.id),
        ConversationKind::Group { .. } => None,
    };
    let names = RwSignal::new(loaded.names);
    let name = move |user: UserId| name_of(names, chat.people, user);
    // The header follows a change of name or picture while it is open: a
    // DM's from the peer as the app knows them now, a group's name from
    // the sidebar's list.
    let first_title = title(&loaded.conversation);
    let heading = Memo::new(move |_| match peer {
        Some(peer) => name(peer),
        None => chat
            .list
            .with(|list| list.iter().flatten().find(|c| c.id == id).map(title))
            .unwrap_or_else(|| first_title.clone()),
    });
    let header_picture = Memo::new(move |_| peer.and_then(|peer| chat.pictures.with(|p| p.get(&peer).cloned())));
    // People the log mentions who are not members now (they left, or the
    // group has more members than the first page): their names are fetched
    // once a session (`Chat::people`).
    effect(move || {
        let mut missing: Vec<UserId> = timeline.entries.with(|entries| {
            entries
                .iter()
                .flat_map(|e| std::iter::once(e.event.sender).chain(mentioned(&e.event.body).iter().copied()))
                .collect()
        });
        missing.retain(|u| names.with_untracked(|n| !n.contains_key(u)));
        chat.look_up(missing);
    });
    let reveal = use_reveal();
    let loading_older = RwSignal::new(false);
    let attachments = Attachments::new(id);
    let replying = RwSignal::new(None::<(EventId, String)>);
    // The seqs that start a new day, with the day's label.
    let day_starts = Memo::new(move |_| {
        timeline.entries.with(|entries| {
            let mut starts = HashMap::new();
            let mut previous = String::new();
            for entry in entries {
                let day = day_label(entry.event.created_at);
                if day != previous {
                    starts.insert(entry.event.seq, day.clone());
                    previous = day;
                }
            }
            starts
        })
    });

    // A message continues its sender's run when the row before it is theirs
    // too, from the same day and within five minutes.
    let continued = Memo::new(move |_| {
        let starts = day_starts.get();
        timeline.entries.with(|entries| {
            entries
                .windows(2)
                .filter(|pair| {
                    let (before, this) = (&pair[0], &pair[1]);
                    before.now.is_some()
                        && this.now.is_some()
                        && before.event.sender == this.event.sender
                        && this.event.created_at - before.event.created_at < 5 * 60 * 1000
                        && !starts.contains_key(&this.event.seq)
                })
                .map(|pair| pair[1].event.seq)
                .collect::<HashSet<i64>>()
        })
    });
    // Read receipts show under my newest message: "Seen" in a DM, "Seen by
    // n" in a group.
    let my_latest = Memo::new(move |_| {
        timeline.entries.with(|entries| {
            entries
                .iter()
                .rev()
                .find(|e| Some(e.event.sender) == me && e.now.is_some())
                .map(|e| e.event.seq)
        })
    });
    let receipt_line = move || {
        let Some(seq) = my_latest.get() else {
            return String::new();
        };
        let seen_by = timeline
            .receipts
            .with(|r| r.values().filter(|read| **read >= seq).count());
        match (seen_by, is_group) {
            (0, _) => "Sent".to_owned(),
            (_, false) => "Seen".to_owned(),
            (n, true) => format!("Seen by {n}"),
        }
    };

    // Where the list stands: following the newest messages (scrolled to
    // the bottom), and how many arrived while it was not.
    let list = NodeRef::<leptos::html::Ol>::new();
    let following = RwSignal::new(true);
    let unseen = RwSignal::new(0usize);
    // `started` once the first page is in; `opened` once the list stands
    // where it opens (until then nothing else moves it).
    let started = StoredValue::new(false);
    let opened = StoredValue::new(false);

    // The first message that was unread when the chat opened: the divider
    // goes above it and the chat opens there.
    chat.note_read(id, loaded.conversation.read_seq);
    let opened_at = chat.read_seq(id);
    let first_unread = Memo::new(move |_| {
        timeline.entries.with(|entries| {
            entries
                .iter()
                .find(|e| e.event.seq > opened_at && e.now.is_some() && Some(e.event.sender) != me)
                .map(|e| e.event.seq)
        })
    });

    // What has been on screen, while the tab is visible and focused, is read.
    let report_read = move || {
        if !crate::notify::page_in_view() {
            return;
        }
        let Some(list) = list.try_get_untracked().flatten() else {
            return;
        };
        if let Some(seq) = last_seen_row(&list) {
            let last_row = timeline.entries.with_untracked(|e| e.last().map(|e| e.event.seq));
            // Past the last row lie only edits and reactions: read them too.
            let seq = if Some(seq) == last_row {
                timeline.last_seq().unwrap_or(seq)
            } else {
                seq
            };
            chat.read_up_to(id, seq);
        }
    };
    let focus_listener = window_event_listener(leptos::ev::focus, move |_| report_read());
    let visibility_listener = window_event_listener(leptos::ev::visibilitychange, move |_| report_read());
    on_cleanup(move || {
        focus_listener.remove();
        visibility_listener.remove();
    });

    let to_bottom = move || {
        if let Some(el) = list.try_get_untracked().flatten() {
            el.set_scroll_top(el.scroll_height());
        }
        following.set(true);
        unseen.set(0);
        timeline.missed.set(0);
    };
    // "Jump to latest": to the bottom, and in a window first the newest
    // page instead of it.
    let to_latest = move || {
        if !timeline.is_window() {
            to_bottom();
            return;
        }
        following.set(true);
        unseen.set(0);
        spawn_local(async move {
            if load_at(chat, id, timeline, Slice::Newest).await {
                request_animation_frame(move || {
                    if !list.is_disposed() {
                        to_bottom();
                        report_read();
                    }
                });
            }
        });
    };
    // Older pages come in above what is on screen, which stays where it is
    // to the pixel: the first row in view is found again after the load.
    let older = move || {
        if loading_older.get_untracked() || timeline.first_seq().is_none() {
            return;
        }
        loading_older.set(true);
        let anchor = list.get_untracked().and_then(|el| first_row_in_view(&el));
        spawn_local(async move {
            if load_older(id, timeline).await {
                request_animation_frame(move || {
                    if let (Some(el), Some((seq, top))) = (list.try_get_untracked().flatten(), anchor) {
                        if let Some(row) = row_of(&el, seq) {
                            let moved = row.get_bounding_client_rect().top() - top;
                            el.set_scroll_top(el.scroll_top() + moved.round() as i32);
                        }
                    }
                });
            }
            loading_older.set(false);
        });
    };
    // In a window, newer pages come in below as the bottom nears; rows
    // added below move nothing in view, and they are history, not new
    // messages for the pill.
    let loading_newer = StoredValue::new(false);
    let last_row = StoredValue::new(timeline.entries.with_untracked(|e| e.last().map(|e| e.event.seq)));
    let newer = move || {
        if loading_newer.get_value() || !timeline.is_window() {
            return;
        }
        loading_newer.set_value(true);
        spawn_local(async move {
            if load_newer(chat, id, timeline).await {
                last_row.set_value(timeline.entries.with_untracked(|e| e.last().map(|e| e.event.seq)));
            }
            loading_newer.set_value(false);
        });
    };
    let on_scroll = move |_| {
        let Some(el) = list.get_untracked().filter(|_| opened.get_value()) else {
            return;
        };
        let below = el.scroll_height() - el.scroll_top() - el.client_height();
        // Only the live end is followed: a window's bottom is not.
        let at_bottom = below < 48 && !timeline.is_window();
        if at_bottom != following.get_untracked() {
            following.set(at_bottom);
        }
        if at_bottom {
            unseen.set(0);
            timeline.missed.set(0);
        }
        if el.scroll_top() < 150 && timeline.more_before.get_untracked() {
            older();
        }
        if below < 300 && timeline.is_window() {
            newer();
        }
        report_read();
    };
    // Bringing a message into view (a reply's original, a search hit): one
    // far back opens a window around it; one within a page of the oldest
    // held (or a reply's original, whose seq is unknown) loads older pages
    // until it is there. Then it is scrolled to the middle of the list and
    // marked for a moment.
    let highlight = RwSignal::new(None::<i64>);
    let bring = move |target: Target| async move {
        following.set(false);
        let mut found = target.find(timeline);
        if found.is_none() {
            loading_older.set(true);
            if let Some(slice) = target.far(timeline) {
                if load_at(chat, id, timeline, slice).await {
                    found = target.find(timeline);
                }
            }
            let mut pages = 0;
            while found.is_none()
                && pages < REPLY_PAGES
                && target.may_be_older(timeline)
                && timeline.more_before.get_untracked()
                && load_older(id, timeline).await
            {
                pages += 1;
                found = target.find(timeline);
            }
            // Still not held (a reply to something far back): a window around it.
            if found.is_none()
                && target.may_be_older(timeline)
                && timeline.more_before.get_untracked()
                && load_at(chat, id, timeline, target.window()).await
            {
                found = target.find(timeline);
            }
            loading_older.set(false);
        }
        let Some(seq) = found else { return };
        following.set(false);
        highlight.set(Some(seq));
        // The chat may have closed while older pages loaded.
        request_animation_frame(move || {
            let Some(list) = list.try_get_untracked().flatten() else {
                return;
            };
            if let Some(row) = row_of(&list, seq) {
                let options = web_sys::ScrollIntoViewOptions::new();
                options.set_block(web_sys::ScrollLogicalPosition::Center);
                row.scroll_into_view_with_scroll_into_view_options(&options);
            }
        });
        gloo_timers::callback::Timeout::new(2_000, move || {
            if highlight.try_get_untracked() == Some(Some(seq)) {
                highlight.set(None);
            }
        })
        .forget();
    };
    let jump = Callback::new(move |target: EventId| spawn_local(bring(Target::Id(target))));
    // A search result chosen while the chat is open (one chosen before it
    // opened is where it opens, above).
    effect(move || {
        if reveal.waiting(id) && opened.get_value() {
            if let Some(seq) = reveal.take(id) {
                spawn_local(bring(Target::Seq(seq)));
            }
        }
    });
    // The chat opens at the first unread message, else at the newest. One
    // more than a page before the oldest held opens a window around it, as
    // a search hit far back does; one nearer loads older pages until it is
    // there.
    effect(move || {
        timeline.entries.track();
        if started.get_value() {
            return;
        }
        started.set_value(true);
        spawn_local(async move {
            // A search result chosen: the chat opens there.
            if let Some(seq) = reveal.take(id) {
                bring(Target::Seq(seq)).await;
                request_animation_frame(move || {
                    if list.is_disposed() {
                        return;
                    }
                    opened.set_value(true);
                    report_read();
                });
                return;
            }
            let mut pages = 0;
            // Only others' messages count as unread (the hello's count).
            let unread = chat.unread.with_untracked(|u| u.get(&id).copied().unwrap_or(0));
            let after_read = opened_at + 1;
            if unread > 0
                && timeline.first_seq().is_some_and(|first| first - after_read > PAGE)
                && load_at(chat, id, timeline, Slice::Around(after_read)).await
            {
                // My own messages may come first after the read position:
                // newer pages until the first unread one is there.
                while first_unread.try_get_untracked().is_some_and(|seq| seq.is_none())
                    && pages < 20
                    && load_newer(chat, id, timeline).await
                {
                    pages += 1;
                }
            }
            // Older pages until the first unread one is there (the one
            // before it is read, or the log starts).
            while unread > 0
                && timeline.first_seq().is_some_and(|first| first > opened_at + 1)
                && pages < 20
                && timeline.more_before.get_untracked()
                && load_older(id, timeline).await
            {
                pages += 1;
            }
            request_animation_frame(move || {
                let Some(el) = list.try_get_untracked().flatten() else {
                    return;
                };
                match first_unread.get_untracked().and_then(|seq| row_of(&el, seq)) {
                    Some(row) => {
                        let top = row.get_bounding_client_rect().top() - el.get_bounding_client_rect().top();
                        // The divider above it stays in view.
                        el.set_scroll_top(el.scroll_top() + top as i32 - 48);
                        // A window's bottom is not the live end.
                        following.set(
                            !timeline.is_window() && el.scroll_height() - el.scroll_top() - el.client_height() < 48,
                        );
                    }
                    None => to_bottom(),
                }
                opened.set_value(true);
                // A window too short to scroll asks for the page after it.
                if timeline.is_window() && el.scroll_height() - el.scroll_top() - el.client_height() < 300 {
                    newer();
                }
                report_read();
                // A search result chosen while it was opening.
                if let Some(seq) = reveal.take(id) {
                    spawn_local(bring(Target::Seq(seq)));
                }
            });
        });
    });
    // New messages: followed while at the bottom, else counted for the pill.
    effect(move || {
        let newest = timeline.entries.with(|e| e.last().map(|e| e.event.seq));
        timeline.outgoing.track();
        let before = last_row.get_value();
        last_row.set_value(newest);
        if !opened.get_value() {
            return;
        }
        if following.get_untracked() {
            request_animation_frame(move || {
                if let Some(el) = list.try_get_untracked().flatten() {
                    el.set_scroll_top(el.scroll_height());
                }
                report_read();
            });
        } else if let (Some(before), Some(newest)) = (before, newest) {
            let arrived = timeline.entries.with_untracked(|entries| {
                entries
                    .iter()
                    .filter(|e| e.event.seq > before && e.event.seq <= newest)
                    .filter(|e| e.now.is_some() && Some(e.event.sender) != me)
                    .count()
            });
            unseen.update(|n| *n += arrived);
        }
    });
    // My own new message always brings the newest into view (leaving a
    // window for the live end).
    effect(move || {
        if timeline.outgoing.with(|o| !o.is_empty()) && !following.get_untracked() {
            request_animation_frame(move || {
                if !list.is_disposed() {
                    to_latest();
                }
            });
        }
    });

    // On a desktop the cursor starts in the composer; a phone's keyboard
    // waits for a tap.
    request_animation_frame(|| {
        if !phone_width() {
            focus_composer();
        }
    });

    let menu = RwSignal::new(None::<i64>);
    let editing = RwSignal::new(None::<i64>);
    let role = loaded.role;
    let rows = Rows {
        conversation: id,
        timeline,
        me,
        is_group,
        moderator: Signal::derive(move || is_group && role.can_manage()),
        names,
        people: chat.people,
        pictures: chat.pictures,
        continued,
        menu,
        editing,
        replying,
        highlight,
        jump,
        my_latest,
        receipt: Signal::derive(receipt_line),
    };
    // Up in an empty composer edits my newest text message.
    let edit_last = Callback::new(move |()| {
        let last = timeline.entries.with_untracked(|entries| {
            entries.iter().rev().find_map(|e| {
                let now = e.now.as_ref()?;
                let text = now.with_untracked(|n| matches!(n.content, MessageContent::Text { .. }));
                (Some(e.event.sender) == me && text).then_some(e.event.seq)
            })
        });
        if let Some(seq) = last {
            editing.set(Some(seq));
        }
    });

    // New messages not yet seen: arrived below while scrolled up, or live
    // while a window was open.
    let new_count = move || unseen.get() + timeline.missed.get();

    let typing_line = move || {
        let now = js_sys::Date::now();
        let who: Vec<String> = timeline.typing.with(|t| {
            t.iter()
                .filter(|(_, until)| *until > now)
                .map(|(u, _)| name(*u))
                .collect()
        });
        match who.len() {
            0 => String::new(),
            1 => format!("{} is typing…", who[0]),
            _ => format!("{} are typing…", who.join(", ")),
        }
    };

    // Dropping an image anywhere on the chat attaches it.
    let on_dragover = |ev: web_sys::DragEvent| ev.prevent_default();
    let on_drop = move |ev: web_sys::DragEvent| {
        if let Some(file) = first_file(ev.data_transfer().and_then(|d| d.files())) {
            ev.prevent_default();
            attachments.attach(file);
        }
    };

    view! {
        <div class="chat-body" on:dragover=on_dragover on:drop=on_drop>
        <header class="pane-header">
            <A href="/" attr:class="back button-link" attr:aria-label="Back to conversations">"←"</A>
            {move || view! { <Avatar name=heading.get() id=avatar_id picture=header_picture.get() /> }}
            <h2 id="conversation-title">{move || heading.get()}</h2>
            <NotifySetting id is_group />
            {is_group.then(|| view! {
                // One word on a phone, for the title's sake.
                <A href=format!("/groups/{}", id.0) attr:class="button-link" attr:id="group-info" attr:aria-label="Group info">
                    <span class="long-label">"Group info"</span><span class="short-label">"Info"</span>
                </A>
            })}
        </header>
        <When when=move || timeline.more_before.get()>
            <button type="button" class="secondary load-older" disabled=move || loading_older.get() on:click=move |_| older()>
                "Load earlier messages"
            </button>
        </When>
        <ol class="timeline" aria-live="polite" node_ref=list on:scroll=on_scroll>
            <Each each=move || timeline.entries.get() key=|e| e.event.seq let:entry>
                {
                    let seq = entry.event.seq;
                    let separator = move || day_starts.with(|d| d.get(&seq).cloned()).map(|day| view! {
                        <li class="day-separator">{day}</li>
                    });
                    let divider = move || (first_unread.get() == Some(seq)).then(|| view! {
                        <li class="unread-divider" id="unread-divider">"Unread messages"</li>
                    });
                    let row = if entry.now.is_some() {
                        view! { <MessageRow entry rows /> }.into_any()
                    } else {
                        let event = entry.event.clone();
                        view! { <li class="event system" data-seq=seq>{move || describe(&event, &name)}</li> }.into_any()
                    };
                    view! { {separator} {divider} {row} }
                }
            </Each>
            // Unsent messages belong at the live end, not under a window.
            <Each each=move || if timeline.more_after.get() { Vec::new() } else { timeline.outgoing.get() } key=|m| (m.client_msg_id.clone(), m.failed.clone()) let:msg>
                {
                    let retry_id = msg.client_msg_id.clone();
                    let failed = msg.failed.clone();
                    let class = if failed.is_some() { "event message mine failed" } else { "event message mine pending" };
                    view! {
                        <li class=class>
                            <span class="text" dir="auto"><MessageBody content=msg.content.clone() /></span>
                            {match failed {
                                Some(why) => view! {
                                    <span class="status" role="alert">{why}</span>
                                    <button type="button" class="retry secondary" on:click=move |_| chat.retry(id, &retry_id)>"Retry"</button>
                                }.into_any(),
                                None => view! { <span class="status">"Sending…"</span> }.into_any(),
                            }}
                        </li>
                    }
                }
            </Each>
        </ol>
        <div class="jump-latest-anchor">
            <When when=move || !following.get()>
                <button type="button" id="jump-latest" class=move || { if new_count() > 0 { "jump-latest new-messages" } else { "jump-latest" } }
                    on:click=move |_| to_latest()>
                    {move || match new_count() {
                        0 => "Jump to latest ↓".to_owned(),
                        1 => "1 new message ↓".to_owned(),
                        n => format!("{n} new messages ↓"),
                    }}
                </button>
            </When>
        </div>
        <p class="typing" aria-live="polite">{typing_line}</p>
        <When when=move || chat.notice.with(Option::is_some)>
            <p class="notice action-notice" role="alert">
                {move || chat.notice.get()}
                <button type="button" class="secondary" on:click=move |_| chat.notice.set(None)>"Dismiss"</button>
            </p>
        </When>
        <Composer conversation=id attachments replying edit_last />
        </div>
    }
}

/// Whether the window is as narrow as a phone's (the stylesheet's 640 px).
fn phone_width() -> bool {
    web_sys::window()
        .and_then(|w| w.inner_width().ok())
        .and_then(|w| w.as_f64())
        .is_some_and(|w| w <= 640.0)
}

/// What I am notified of in this conversation: kept by the server, so
/// every device (and Web Push) obeys it. On a phone it is the bell alone
/// (app.css): the select lies unseen over it, so a tap opens the system's
/// list, and its name says the level.
#[component]
fn NotifySetting(id: ConversationId, is_group: bool) -> impl IntoView {
    let chat = use_chat();
    let choices: &[(NotifyLevel, &str, &str)] = if is_group {
        &[
            (NotifyLevel::Default, "default", "Default (mentions)"),
            (NotifyLevel::All, "all", "All messages"),
            (NotifyLevel::Mentions, "mentions", "Mentions only"),
            (NotifyLevel::Muted, "muted", "Muted"),
        ]
    } else {
        &[
            (NotifyLevel::Default, "default", "Default (all)"),
            (NotifyLevel::Muted, "muted", "Muted"),
        ]
    };
    let current = move || chat.notify.with(|n| n.get(&id).copied().unwrap_or_default());
    let change = move |ev| {
        let value = event_target_value(&ev);
        let Some(&(level, ..)) = choices.iter().find(|(_, v, ..)| *v == value) else {
            return;
        };
        let before = current();
        chat.notify.update(|n| {
            n.insert(id, level);
        });
        spawn_local(async move {
            match api::set_conversation_notify(id, level).await {
                Ok(settings) => chat.notify.update(|n| {
                    n.insert(id, settings.notify);
                }),
                Err(err) => {
                    chat.notice.set(Some(err.message));
                    chat.notify.update(|n| {
                        n.insert(id, before);
                    });
                }
            }
        });
    };
    let name = move || {
        let level = current();
        let label = choices.iter().find(|c| c.0 == level).map_or("", |c| c.2);
        format!("Notifications: {label}")
    };
    // The level the bell shows: what gets through, the default resolved.
    let mentions_only = move || match current() {
        NotifyLevel::Mentions => true,
        NotifyLevel::Default => is_group,
        _ => false,
    };
    view! {
        <label class="notify-setting" title="Notifications">
            <span class="bell" aria-hidden="true">
                {move || if current() == NotifyLevel::Muted { "🔕" } else { "🔔" }}
                <span class="bell-at" class:shown=mentions_only>"@"</span>
            </span>
            <select id="notify-level" aria-label=name on:change=change>
                {choices.iter().map(|&(level, value, label)| view! {
                    <option value=value prop:selected=move || current() == level>{label}</option>
                }).collect_view()}
            </select>
        </label>
    }
}
