//! The chat on a screen, in real headless Chromium: a long conversation
//! opens at its newest message (or at the first unread one, far back as a
//! window of a few pages) with the composer and the top bar in view, on a
//! page that never scrolls itself; older pages come in above without
//! moving what is being read; a message arriving while the list is
//! scrolled up shows a pill instead of a jump; only what has been on
//! screen counts as read; drafts and unsent messages survive; switching
//! chats never panics; and a phone gets two screens with a way back.
//!
//! Geometry is read in the page with the small script library [`JS`]; a
//! state that no element marks is polled, bounded, with `wait_js`, and what
//! the app puts off to the next animation frame is awaited with `frames`.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use fantoccini::{Client, Locator};
use natter_common::{
    api::Receipt,
    events::{Event, EventBody, MessageContent},
    frames::ServerFrame,
    ids::{ConversationId, UserId},
};
use natter_tests::{
    api::{befriend, full_history, register_all, Authed},
    browser::{
        click, frames, install_error_hook, open_chat, page_errors, say, set_viewport, sign_in, wait_for, wait_js,
        wait_online, xpath_literal, VISIBILITY_JS,
    },
    ws::WsClient,
    Browser, TestServer, FAST,
};
use serde_json::{json, Value};

const DESKTOP: (u32, u32) = (1280, 800);
const PHONE: (u32, u32) = (375, 812);
/// A long chat: ten pages of history.
const LONG: usize = 500;
/// Messages sent before waiting for their acks.
const BURST: usize = 100;
/// How far (px) a message may move on screen when older ones come in above.
const ANCHOR_SLACK: f64 = 4.0;
/// How far (px) the list may drift when a message arrives while scrolled up.
const SCROLL_SLACK: f64 = 2.0;
/// The smallest comfortable touch target (px).
const TOUCH: f64 = 44.0;
/// Bound on polling the server for a read position.
const READ_WAIT: Duration = Duration::from_secs(20);
/// Unread messages in a chat far behind: twelve pages.
const FAR_UNREAD: usize = 600;
/// At most this many history requests to open a chat far behind.
const MAX_REQUESTS: usize = 3;
/// At most this many rows in the list when it opens there.
const MAX_ROWS: usize = 150;

// ---------------------------------------------------------------------------
// In the page.

/// Helpers every page script below starts with.
const JS: &str = r#"
const list = () => document.querySelector('ol.timeline');
const row = seq => document.querySelector(`ol.timeline li[data-seq="${seq}"]`);
const rect = el => {
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return { top: Math.round(r.top), bottom: Math.round(r.bottom), left: Math.round(r.left), right: Math.round(r.right), height: Math.round(r.height) };
};
const seqs = () => [...document.querySelectorAll('ol.timeline li[data-seq]')].map(li => Number(li.dataset.seq));
const oldest = () => Math.min(...seqs());
// The first message at least partly in view in the list, and its top.
const firstVisible = () => {
    const l = list();
    if (!l) return null;
    const top = l.getBoundingClientRect().top;
    for (const li of l.querySelectorAll('li.message[data-seq]')) {
        const r = li.getBoundingClientRect();
        if (r.bottom > top + 1) return { seq: Number(li.dataset.seq), top: r.top };
    }
    return null;
};
// The newest message any part of which is in view in the list.
const newestOnScreen = () => {
    const l = list();
    if (!l) return null;
    const v = l.getBoundingClientRect();
    let newest = null;
    for (const li of l.querySelectorAll('li.message[data-seq]')) {
        const r = li.getBoundingClientRect();
        if (r.bottom > v.top && r.top < v.bottom) newest = Number(li.dataset.seq);
    }
    return newest;
};
const page = () => {
    const s = document.scrollingElement;
    return { scrollHeight: s.scrollHeight, innerHeight: window.innerHeight, scrollY: window.scrollY };
};
// The document itself does not scroll: only the message list does.
const pageFits = () => { const p = page(); return p.scrollHeight <= p.innerHeight + 1 && p.scrollY === 0; };
// The history requests this document has made (their query strings).
const historyRequests = () => performance.getEntriesByType('resource').map(e => e.name)
    .filter(n => /\/api\/v1\/conversations\/\d+\/events/.test(n)).map(n => n.split('?')[1] || '');
"#;

/// A page script: [`JS`], then `body`.
fn js(body: &str) -> String {
    format!("{VISIBILITY_JS}\n{JS}\n{body}")
}

/// Runs `script` once; it must return `true` (anything else is the reason why not).
async fn ensure_js(c: &Client, what: &str, script: &str, args: Vec<Value>) -> anyhow::Result<()> {
    let value = c
        .execute(script, args)
        .await
        .with_context(|| format!("checking {what}"))?;
    ensure!(value == Value::Bool(true), "not so: {what}; seen: {value}");
    Ok(())
}

/// The list's scroll offset.
async fn scroll_top(c: &Client) -> anyhow::Result<f64> {
    c.execute(&js("return list() ? list().scrollTop : null"), vec![])
        .await?
        .as_f64()
        .context("no message list")
}

// ---------------------------------------------------------------------------
// Locators.

/// XPath test: the element has class `name` (the whole class).
fn has_class(name: &str) -> String {
    format!("contains(concat(' ', normalize-space(@class), ' '), ' {name} ')")
}

/// The sidebar's link to the conversation titled `title`.
fn conversation_link(title: &str) -> String {
    format!(
        "//nav[{}]//a[{}][.//span[{}][normalize-space(.)={}]]",
        has_class("sidebar"),
        has_class("conversation-link"),
        has_class("title"),
        xpath_literal(title)
    )
}

/// An acknowledged (or received) message showing `text`.
fn message_showing(text: &str) -> String {
    format!(
        "//ol[{}]//li[{}][not({})][@data-seq]/span[{}][normalize-space(.)={}]",
        has_class("timeline"),
        has_class("message"),
        has_class("pending"),
        has_class("text"),
        xpath_literal(text)
    )
}

/// The jump-to-latest pill reading `label`, counting new messages or not.
fn pill(label: &str, counting: bool) -> String {
    let counting = if counting {
        has_class("new-messages")
    } else {
        format!("not({})", has_class("new-messages"))
    };
    format!(
        "//button[@id='jump-latest'][{counting}][normalize-space(.)={}]",
        xpath_literal(label)
    )
}

/// A DM's title: the peer's display name (`api::register` derives it).
fn display_name(username: &str) -> String {
    format!("{username} display")
}

// ---------------------------------------------------------------------------
// Setting up through the API.

/// Sends `count` text messages ("<prefix> <n>", from 1) in bursts, each
/// burst acknowledged before the next.
async fn send_messages(
    ws: &mut WsClient,
    conversation: ConversationId,
    count: usize,
    prefix: &str,
) -> anyhow::Result<()> {
    let mut sent = 0;
    while sent < count {
        let burst = BURST.min(count - sent);
        for n in sent + 1..=sent + burst {
            ws.send_text(conversation, &format!("{prefix}-{n}"), &format!("{prefix} {n}"))
                .await?;
        }
        ws.await_acks(burst).await?;
        sent += burst;
    }
    Ok(())
}

/// The seqs of the conversation's messages, oldest first.
async fn message_seqs(user: &Authed, conversation: ConversationId) -> anyhow::Result<Vec<i64>> {
    Ok(full_history(user, conversation)
        .await?
        .into_iter()
        .filter(|e| matches!(e.body, EventBody::Message { .. }))
        .map(|e| e.seq)
        .collect())
}

/// Whether `event` is a text message saying `text`.
fn says(event: &Event, text: &str) -> bool {
    matches!(&event.body, EventBody::Message { content: MessageContent::Text { text: t }, .. } if t == text)
}

/// `sender` writes `count` messages to `reader`, and `reader` (through a
/// socket of their own) reads them all, so the chat opens with nothing
/// unread. Returns the messages' seqs.
async fn read_chat(
    server: &TestServer,
    sender: &Authed,
    reader: &Authed,
    conversation: ConversationId,
    count: usize,
    prefix: &str,
) -> anyhow::Result<Vec<i64>> {
    let mut ws = WsClient::connect(server, &sender.token).await?;
    send_messages(&mut ws, conversation, count, prefix).await?;
    let seqs = message_seqs(sender, conversation).await?;
    ensure!(seqs.len() == count, "{} messages stored, not {count}", seqs.len());
    let newest = *seqs.last().context("no messages")?;
    WsClient::connect(server, &reader.token)
        .await?
        .mark_read(conversation, newest)
        .await?;
    Ok(seqs)
}

/// How far `reader` has read `conversation`, as `viewer` (another member)
/// is told by the receipts endpoint; 0 for nothing yet.
async fn read_position(viewer: &Authed, conversation: ConversationId, reader: UserId) -> anyhow::Result<i64> {
    let receipts: Vec<Receipt> = viewer
        .get_json(&format!("api/v1/conversations/{}/receipts", conversation.0))
        .await?;
    Ok(receipts.iter().find(|r| r.user_id == reader).map_or(0, |r| r.read_seq))
}

// ---------------------------------------------------------------------------
// Checks in the browser.

/// Waits until the newest message (`newest`), the composer and the top bar
/// are all wholly in view, and the page itself does not scroll.
async fn shows_the_newest_with_the_composer(c: &Client, newest: i64) -> anyhow::Result<()> {
    wait_js(
        c,
        "the newest message, the composer and the top bar in view, on a page that does not scroll",
        &js(r#"
            const newest = row(arguments[0]), composer = document.getElementById('composer');
            const topbar = document.querySelector('header.topbar');
            const ok = inView(newest) && inView(composer) && inView(topbar)
                && topbar.getBoundingClientRect().top >= 0 && pageFits();
            return ok || JSON.stringify({
                newest: rect(newest), newestInView: inView(newest), composer: rect(composer),
                composerInView: inView(composer), topbar: rect(topbar), list: rect(list()),
                viewport: [innerWidth, innerHeight], page: page() });
        "#),
        vec![json!(newest)],
    )
    .await
}

/// Scrolls the list to its very top, which loads an older page: the page
/// itself must not scroll at any point, and the top bar and the composer
/// stay in view.
async fn scrolling_the_list_leaves_the_page_still(c: &Client) -> anyhow::Result<()> {
    let before = c
        .execute(
            &js(r#"
                const held = oldest();
                list().scrollTop = 0;
                return { held, fits: pageFits(), page: page() };
            "#),
            vec![],
        )
        .await?;
    ensure!(
        before["fits"] == Value::Bool(true),
        "the page scrolls once the list is at its top: {before}"
    );
    let held = before["held"].as_i64().context("no rows")?;
    wait_js(
        c,
        "an older page loaded above the oldest message",
        &js("return oldest() < arguments[0] || `the oldest row is still ${oldest()}`"),
        vec![json!(held)],
    )
    .await?;
    frames(c, 2).await?;
    ensure_js(
        c,
        "after an older page came in, the page still does not scroll and the top bar and composer are in view",
        &js(r#"
            const composer = document.getElementById('composer'), topbar = document.querySelector('header.topbar');
            return (pageFits() && inView(composer) && inView(topbar))
                || JSON.stringify({ page: page(), composer: rect(composer), topbar: rect(topbar) });
        "#),
        vec![],
    )
    .await
}

/// After the list was scrolled (or the button pressed) with the message at
/// `seq` first in view, its top at `top`: waits for rows older than `held`,
/// lets the app settle the scroll offset (two frames), and checks the
/// message is where it was.
async fn older_page_came_in_above(c: &Client, held: i64, seq: i64, top: f64) -> anyhow::Result<()> {
    wait_js(
        c,
        "an older page loaded above the oldest message",
        &js("return oldest() < arguments[0] || `the oldest row is still ${oldest()}`"),
        vec![json!(held)],
    )
    .await?;
    frames(c, 2).await?;
    let after = c
        .execute(
            &js("const r = row(arguments[0]); return r ? r.getBoundingClientRect().top : null"),
            vec![json!(seq)],
        )
        .await?
        .as_f64()
        .with_context(|| format!("the message at seq {seq} is gone from the list"))?;
    ensure!(
        (after - top).abs() <= ANCHOR_SLACK,
        "the message first in view (seq {seq}) moved from {top:.1} px to {after:.1} px when the older page came in"
    );
    Ok(())
}

/// Scrolls the list to `offset` (near its top): it must load the page before
/// the oldest row held while the first message in view stays put.
async fn scroll_near_the_top_loads_older(c: &Client, offset: f64) -> anyhow::Result<()> {
    let before = c
        .execute(
            &js(r#"
                const held = oldest();
                list().scrollTop = arguments[0];
                return { held, anchor: firstVisible(), scrollTop: list().scrollTop };
            "#),
            vec![json!(offset)],
        )
        .await?;
    let held = before["held"].as_i64().context("no rows")?;
    let seq = before["anchor"]["seq"].as_i64().context("no message in view")?;
    let top = before["anchor"]["top"].as_f64().context("no message in view")?;
    let at = before["scrollTop"].as_f64().unwrap_or(f64::MAX);
    ensure!(at < 150.0, "could not scroll the list near its top: {before}");
    older_page_came_in_above(c, held, seq, top).await
}

/// Scrolls the list to the middle of what it holds (well away from both
/// ends) and waits for the plain "Jump to latest" pill; returns the offset.
async fn scroll_to_the_middle(c: &Client) -> anyhow::Result<f64> {
    let offset = c
        .execute(
            &js(r#"
                const l = list();
                l.scrollTop = Math.round((l.scrollHeight - l.clientHeight) / 2);
                return [l.scrollTop, l.scrollHeight - l.clientHeight - l.scrollTop];
            "#),
            vec![],
        )
        .await?;
    let (top, below) = (offset[0].as_f64().unwrap_or(0.0), offset[1].as_f64().unwrap_or(0.0));
    ensure!(
        top >= 300.0 && below >= 300.0,
        "the list is too short to sit away from both ends: {top} px above, {below} px below"
    );
    wait_for(c, &pill("Jump to latest ↓", false)).await?;
    frames(c, 2).await?;
    let now = scroll_top(c).await?;
    ensure!(
        (now - top).abs() <= SCROLL_SLACK,
        "the list moved from {top} to {now} px on its own"
    );
    Ok(now)
}

/// The phone's list screen: the sidebar alone, at `/`.
async fn shows_the_list_alone(c: &Client) -> anyhow::Result<()> {
    wait_js(
        c,
        "the conversation list alone (section.chat not displayed) at /",
        &js(r#"
            const side = document.querySelector('nav.sidebar'), chat = document.querySelector('section.chat');
            const ok = location.pathname === '/' && shown(side) && rect(side).top >= 0
                && !!chat && getComputedStyle(chat).display === 'none';
            return ok || JSON.stringify({ path: location.pathname, sidebar: side && getComputedStyle(side).display,
                sidebarRect: rect(side), chat: chat && getComputedStyle(chat).display });
        "#),
        vec![],
    )
    .await
}

/// The phone's chat screen: the pane alone, with the way back in its header.
async fn shows_the_pane_alone(c: &Client) -> anyhow::Result<()> {
    wait_js(
        c,
        "the chat pane alone (nav.sidebar not displayed) with a back link in its header",
        &js(r#"
            const side = document.querySelector('nav.sidebar'), chat = document.querySelector('section.chat');
            const back = document.querySelector('header.pane-header a.back');
            const ok = !!side && getComputedStyle(side).display === 'none' && shown(chat) && inView(back)
                && back.textContent.trim() === '←' && back.getAttribute('aria-label') === 'Back to conversations';
            return ok || JSON.stringify({ sidebar: side && getComputedStyle(side).display,
                chat: chat && getComputedStyle(chat).display, back: rect(back),
                backText: back && back.textContent.trim(), backLabel: back && back.getAttribute('aria-label') });
        "#),
        vec![],
    )
    .await
}

/// Every shown element matching each selector is at least 44 px tall (and
/// each selector matches at least one).
async fn targets_are_tall_enough(c: &Client, selectors: &[&str]) -> anyhow::Result<()> {
    ensure_js(
        c,
        &format!("{selectors:?} are at least {TOUCH} px tall"),
        &js(r#"
            const problems = [];
            for (const selector of arguments[0]) {
                const found = [...document.querySelectorAll(selector)].filter(shown);
                if (found.length === 0) problems.push(`${selector}: none shown`);
                for (const el of found) {
                    const h = el.getBoundingClientRect().height;
                    if (h < arguments[1] - 0.5) problems.push(`${selector}: ${h} px`);
                }
            }
            return problems.length === 0 || problems.join('; ');
        "#),
        vec![json!(selectors), json!(TOUCH)],
    )
    .await
}

/// Clicks the sidebar's link to `title` and waits for that chat and its composer.
async fn open_by_link(c: &Client, title: &str) -> anyhow::Result<()> {
    click(c, Locator::XPath(&conversation_link(title))).await?;
    showing_chat(c, title).await
}

/// Waits until the pane shows the chat titled `title`, with its composer.
async fn showing_chat(c: &Client, title: &str) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("the chat with {title} open"),
        r#"
            const t = document.getElementById('conversation-title');
            const seen = t && t.textContent.trim();
            return (seen === arguments[0] && !!document.getElementById('composer')) || `title ${seen}`;
        "#,
        vec![json!(title)],
    )
    .await
}

/// Waits until the pane shows the chat titled `title` with `draft` in its composer.
async fn showing_draft(c: &Client, title: &str, draft: &str) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("the chat with {title} holding the draft {draft:?}"),
        r#"
            const t = document.getElementById('conversation-title'), composer = document.getElementById('composer');
            const seen = { title: t && t.textContent.trim(), draft: composer && composer.value };
            return (seen.title === arguments[0] && seen.draft === arguments[1]) || JSON.stringify(seen);
        "#,
        vec![json!(title), json!(draft)],
    )
    .await
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_long_chat_opens_at_the_newest_message_with_the_composer_in_view() -> anyhow::Result<()> {
    let server = TestServer::with_app_and(&FAST).await?;
    let [ann, bob] = register_all(&server, ["long_ann", "long_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let seqs = read_chat(&server, &ann, &bob, dm, LONG, "long").await?;
    let newest = *seqs.last().context("no messages")?;

    let url = server.url.clone();
    Browser::launch()
        .await?
        .run("screen_long_chat_desktop", |c| async move {
            set_viewport(&c, DESKTOP.0, DESKTOP.1).await?;
            sign_in(&c, &url, "long_bob").await?;
            open_chat(&c, &url, dm.0).await?;
            shows_the_newest_with_the_composer(&c, newest).await?;
            scrolling_the_list_leaves_the_page_still(&c).await
        })
        .await?;

    // A phone: the list first, the chat a tap away, and back.
    let url = server.url.clone();
    Browser::launch()
        .await?
        .run("screen_long_chat_phone", |c| async move {
            set_viewport(&c, PHONE.0, PHONE.1).await?;
            sign_in(&c, &url, "long_bob").await?;
            wait_online(&c).await?;
            shows_the_list_alone(&c).await?;
            open_by_link(&c, &display_name("long_ann")).await?;
            shows_the_pane_alone(&c).await?;
            shows_the_newest_with_the_composer(&c, newest).await?;
            scrolling_the_list_leaves_the_page_still(&c).await?;
            click(&c, Locator::Css("header.pane-header a.back")).await?;
            shows_the_list_alone(&c).await
        })
        .await
}

#[tokio::test]
async fn scrolling_up_loads_older_pages_and_keeps_the_reading_position() -> anyhow::Result<()> {
    let server = TestServer::with_app_and(&FAST).await?;
    let [ann, bob] = register_all(&server, ["older_ann", "older_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let seqs = read_chat(&server, &ann, &bob, dm, LONG, "older").await?;
    let newest = *seqs.last().context("no messages")?;
    let url = server.url.clone();
    Browser::launch()
        .await?
        .run("screen_older_pages", |c| async move {
            set_viewport(&c, DESKTOP.0, DESKTOP.1).await?;
            sign_in(&c, &url, "older_bob").await?;
            open_chat(&c, &url, dm.0).await?;
            shows_the_newest_with_the_composer(&c, newest).await?;
            let first_page = c.execute(&js("return seqs().length"), vec![]).await?;
            ensure!(
                first_page.as_u64().is_some_and(|n| n < LONG as u64),
                "the whole history is loaded at once ({first_page} rows): nothing to page"
            );

            // The list scrolled to its very top, then near it: a page each time.
            scroll_near_the_top_loads_older(&c, 0.0).await?;
            scroll_near_the_top_loads_older(&c, 120.0).await?;

            // The keyboard's way: the button, while older messages remain.
            let button = c
                .find(Locator::Css("button.load-older"))
                .await
                .context("no “Load earlier messages” button while older messages remain")?;
            wait_js(
                &c,
                "the load-older button enabled",
                "const b = document.querySelector('button.load-older'); return (!!b && !b.disabled) || 'disabled'",
                vec![],
            )
            .await?;
            let before = c
                .execute(&js("return { held: oldest(), anchor: firstVisible() }"), vec![])
                .await?;
            let held = before["held"].as_i64().context("no rows")?;
            let seq = before["anchor"]["seq"].as_i64().context("no message in view")?;
            let top = before["anchor"]["top"].as_f64().context("no message in view")?;
            button.send_keys("\u{E007}").await?; // Enter
            older_page_came_in_above(&c, held, seq, top).await?;
            ensure!(
                oldest_loaded(&c).await? > seqs[0],
                "the whole history is loaded after four pages"
            );
            c.find(Locator::Css("button.load-older"))
                .await
                .context("the “Load earlier messages” button went while older messages remain")?;
            Ok(())
        })
        .await
}

/// The oldest seq the list holds.
async fn oldest_loaded(c: &Client) -> anyhow::Result<i64> {
    c.execute(&js("return oldest()"), vec![])
        .await?
        .as_i64()
        .context("no rows")
}

#[tokio::test]
async fn a_message_arriving_while_scrolled_up_shows_the_pill_not_a_jump() -> anyhow::Result<()> {
    let server = TestServer::with_app_and(&FAST).await?;
    let [ann, bob] = register_all(&server, ["pill_ann", "pill_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let seqs = read_chat(&server, &ann, &bob, dm, LONG, "pill").await?;
    let newest = *seqs.last().context("no messages")?;
    let url = server.url.clone();
    let (server, ann) = (&server, &ann);
    Browser::launch()
        .await?
        .run("screen_new_message_pill", |c| async move {
            set_viewport(&c, DESKTOP.0, DESKTOP.1).await?;
            sign_in(&c, &url, "pill_bob").await?;
            open_chat(&c, &url, dm.0).await?;
            shows_the_newest_with_the_composer(&c, newest).await?;
            // At the bottom: no pill.
            ensure_js(
                &c,
                "no jump-to-latest pill at the bottom of the list",
                &js("const pill = document.getElementById('jump-latest'); return !shown(pill) || pill.textContent"),
                vec![],
            )
            .await?;

            let offset = scroll_to_the_middle(&c).await?;
            // Connected only now: an idle socket would be dropped meanwhile.
            let mut ann_ws = WsClient::connect(server, &ann.token).await?;
            let arrived = ann_ws.post_text(dm, "pill-live-1", "while you were up there").await?.seq;
            wait_for(&c, &pill("1 new message ↓", true)).await?;
            wait_js(
                &c,
                "the new message in the list",
                &js("return !!row(arguments[0]) || 'not yet'"),
                vec![json!(arrived)],
            )
            .await?;
            frames(&c, 2).await?;
            let now = scroll_top(&c).await?;
            ensure!(
                (now - offset).abs() <= SCROLL_SLACK,
                "the list moved from {offset} to {now} px when a message arrived"
            );
            ensure_js(
                &c,
                "the new message is not brought into view",
                &js("return !inView(row(arguments[0])) || 'in view'"),
                vec![json!(arrived)],
            )
            .await?;

            // The pill takes me there and goes.
            click(&c, Locator::Id("jump-latest")).await?;
            wait_js(
                &c,
                "the new message in view and the pill gone",
                &js(r#"
                    const pill = document.getElementById('jump-latest');
                    return (inView(row(arguments[0])) && !shown(pill))
                        || JSON.stringify({ row: rect(row(arguments[0])), list: rect(list()), pill: pill && pill.textContent });
                "#),
                vec![json!(arrived)],
            )
            .await?;

            // At the bottom the next one is followed, without a pill.
            let followed = ann_ws.post_text(dm, "pill-live-2", "and another").await?.seq;
            wait_js(
                &c,
                "the next message followed into view, with no pill",
                &js(r#"
                    const pill = document.getElementById('jump-latest');
                    return (inView(row(arguments[0])) && !shown(pill))
                        || JSON.stringify({ row: rect(row(arguments[0])), list: rect(list()), pill: pill && pill.textContent });
                "#),
                vec![json!(followed)],
            )
            .await?;

            // Scrolled up again, two arrive: the pill counts both, the list stays.
            let offset = scroll_to_the_middle(&c).await?;
            ann_ws.post_text(dm, "pill-live-3", "one").await?;
            let last = ann_ws.post_text(dm, "pill-live-4", "two").await?.seq;
            wait_for(&c, &pill("2 new messages ↓", true)).await?;
            wait_js(
                &c,
                "both new messages in the list",
                &js("return !!row(arguments[0]) || 'not yet'"),
                vec![json!(last)],
            )
            .await?;
            frames(&c, 2).await?;
            let now = scroll_top(&c).await?;
            ensure!(
                (now - offset).abs() <= SCROLL_SLACK,
                "the list moved from {offset} to {now} px when two messages arrived"
            );
            Ok(())
        })
        .await
}

#[tokio::test]
async fn only_messages_that_were_on_screen_are_reported_read() -> anyhow::Result<()> {
    let server = TestServer::with_app_and(&FAST).await?;
    let [ann, bob] = register_all(&server, ["honest_ann", "honest_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    send_messages(&mut ann_ws, dm, 150, "honest").await?;
    drop(ann_ws);
    let seqs = message_seqs(&ann, dm).await?;
    let (first, newest) = (seqs[0], *seqs.last().context("no messages")?);
    ensure!(
        read_position(&ann, dm, bob.id()).await? == 0,
        "Bob has read something before opening the chat"
    );
    let url = server.url.clone();
    let (server, ann, bob) = (&server, &ann, &bob);
    Browser::launch()
        .await?
        .run("screen_honest_reading", |c| async move {
            set_viewport(&c, DESKTOP.0, DESKTOP.1).await?;
            sign_in(&c, &url, "honest_bob").await?;
            open_chat(&c, &url, dm.0).await?;

            // It opens at the divider, just above the first unread message.
            opens_at_the_divider(&c, first).await?;
            let on_screen = c
                .execute(&js("return newestOnScreen()"), vec![])
                .await?
                .as_i64()
                .context("no message on screen")?;
            ensure!(
                on_screen < newest,
                "all {} messages fit on screen: this test needs more",
                seqs.len()
            );

            // Read as far as the screen shows, no further.
            let read = wait_read(ann, dm, bob.id(), &c, "above 0", |r| r > 0).await?;
            ensure!(
                (first..=on_screen).contains(&read),
                "Bob's read position is {read}; what he has seen runs from {first} to {on_screen}"
            );
            // Markers go out at most once a second: a second one, were it
            // coming, would be here well within 2.5 s.
            let until = Instant::now() + Duration::from_millis(2500);
            while Instant::now() < until {
                let read = read_position(ann, dm, bob.id()).await?;
                ensure!(
                    read <= on_screen,
                    "Bob's read position moved to {read} while he saw no further than {on_screen}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let still = c.execute(&js("return newestOnScreen()"), vec![]).await?;
            ensure!(
                still.as_i64() == Some(on_screen),
                "the list moved on its own (newest on screen {still}, was {on_screen})"
            );

            // Scrolling down to the end reads the rest, a marker at most once
            // a second on the way. Bob's other device hears of each one.
            let mut bob_ws = WsClient::connect(server, &bob.token).await?;
            let started = Instant::now();
            scroll_to_the_end(&c, newest).await?;
            let mut markers = Vec::new();
            loop {
                let read_seq = bob_ws
                    .next_where(|f| match f {
                        ServerFrame::ReadState {
                            conversation_id,
                            read_seq,
                            ..
                        } if conversation_id == dm => Some(read_seq),
                        _ => None,
                    })
                    .await
                    .with_context(|| format!("Bob's read markers so far: {markers:?}; the newest is {newest}"))?;
                markers.push(read_seq);
                if read_seq >= newest {
                    break;
                }
            }
            let elapsed = started.elapsed().as_secs_f64();
            ensure!(
                markers.len() as f64 <= elapsed.ceil() + 1.0,
                "{} read markers in {elapsed:.1} s: {markers:?}",
                markers.len()
            );
            let read = wait_read(ann, dm, bob.id(), &c, "at the newest message", |r| r >= newest).await?;
            ensure!(
                read == newest,
                "Bob's read position is {read}, past the newest {newest}"
            );
            Ok(())
        })
        .await
}

#[tokio::test]
async fn a_chat_far_behind_opens_at_the_first_unread_without_loading_every_page() -> anyhow::Result<()> {
    let server = TestServer::with_app_and(&FAST).await?;
    let [ann, bob] = register_all(&server, ["behind_ann", "behind_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    send_messages(&mut ann_ws, dm, FAR_UNREAD, "behind").await?;
    drop(ann_ws);
    let seqs = message_seqs(&ann, dm).await?;
    ensure!(
        seqs.len() == FAR_UNREAD,
        "{} messages stored, not {FAR_UNREAD}",
        seqs.len()
    );
    let (first, newest) = (seqs[0], *seqs.last().context("no messages")?);
    let url = server.url.clone();
    let (ann, bob, seqs) = (&ann, &bob, &seqs);
    Browser::launch()
        .await?
        .run("screen_far_unread", |c| async move {
            set_viewport(&c, DESKTOP.0, DESKTOP.1).await?;
            sign_in(&c, &url, "behind_bob").await?;
            open_chat(&c, &url, dm.0).await?;
            opens_at_the_divider(&c, first).await?;

            // Not every page in between: a few requests, a few pages of rows
            // (given a moment, in case more were on their way).
            frames(&c, 30).await?;
            let held = c
                .execute(
                    &js("return { rows: seqs().length, requests: historyRequests() }"),
                    vec![],
                )
                .await?;
            let rows = held["rows"].as_u64().context("no row count")? as usize;
            let requests = held["requests"].as_array().context("no requests")?;
            ensure!(
                requests.len() <= MAX_REQUESTS,
                "{} history requests to open the chat: {requests:?}",
                requests.len()
            );
            ensure!(rows <= MAX_ROWS, "{rows} rows in the list when it opened");

            // Read as far as the screen shows, no further.
            let on_screen = c
                .execute(&js("return newestOnScreen()"), vec![])
                .await?
                .as_i64()
                .context("no message on screen")?;
            let read = wait_read(ann, dm, bob.id(), &c, "above 0", |r| r > 0).await?;
            ensure!(
                (first..=on_screen).contains(&read) && read < newest,
                "Bob's read position is {read}; what he has seen runs from {first} to {on_screen}"
            );

            // Scrolling down brings the pages after it in, up to the newest,
            // nothing missing on the way, and reads them.
            scroll_to_the_end(&c, newest).await?;
            wait_js(
                &c,
                "the newest message in view, every message from the first held to it there",
                &js(r#"
                    const newest = row(arguments[0]), from = oldest();
                    const missing = arguments[1].filter(s => s >= from && !row(s));
                    return (newest && inView(newest) && missing.length === 0)
                        || JSON.stringify({ newest: rect(newest), from, missing: missing.slice(0, 10), rows: seqs().length });
                "#),
                vec![json!(newest), json!(seqs)],
            )
            .await?;
            let read = wait_read(ann, dm, bob.id(), &c, "at the newest message", |r| r >= newest).await?;
            ensure!(read == newest, "Bob's read position is {read}, past the newest {newest}");
            Ok(())
        })
        .await
}

/// Waits until the "Unread messages" divider is in view right above the
/// message `first`, also in view.
async fn opens_at_the_divider(c: &Client, first: i64) -> anyhow::Result<()> {
    wait_js(
        c,
        "the unread divider in view, right above the first unread message, also in view",
        &js(r#"
            const divider = document.getElementById('unread-divider'), first = row(arguments[0]);
            const next = divider && divider.nextElementSibling;
            const ok = inView(divider) && divider.textContent.trim() === 'Unread messages'
                && next === first && first.matches('li.message') && inView(first)
                && divider.getBoundingClientRect().bottom <= first.getBoundingClientRect().top + 1;
            return ok || JSON.stringify({ divider: rect(divider), text: divider && divider.textContent.trim(),
                next: next && next.outerHTML.slice(0, 80), first: rect(first), list: rect(list()) });
        "#),
        vec![json!(first)],
    )
    .await
}

/// Scrolls the list down a little every animation frame, on past pages
/// that come in below (a window), until the message `newest` is there and
/// the list is at its bottom; returns at once, the page scrolling on.
async fn scroll_to_the_end(c: &Client, newest: i64) -> anyhow::Result<()> {
    c.execute(
        &js(r#"
            const l = list(), newest = arguments[0];
            const next = () => {
                const to = l.scrollHeight - l.clientHeight;
                l.scrollTop = Math.min(to, l.scrollTop + 60);
                if (!(row(newest) && l.scrollTop >= to - 1)) requestAnimationFrame(next);
            };
            requestAnimationFrame(next);
        "#),
        vec![json!(newest)],
    )
    .await?;
    Ok(())
}

/// Polls (bounded) until `reader`'s read position, as `viewer` sees it,
/// satisfies `done`; a timeout reports whether the page could count as seen.
async fn wait_read(
    viewer: &Authed,
    conversation: ConversationId,
    reader: UserId,
    c: &Client,
    what: &str,
    done: impl Fn(i64) -> bool,
) -> anyhow::Result<i64> {
    let deadline = Instant::now() + READ_WAIT;
    loop {
        let read = read_position(viewer, conversation, reader).await?;
        if done(read) {
            return Ok(read);
        }
        if Instant::now() >= deadline {
            let page = c
                .execute(
                    "return { focused: document.hasFocus(), visibility: document.visibilityState }",
                    vec![],
                )
                .await?;
            bail!(
                "the read position never got {what} within {} s: it is {read} (the page: {page})",
                READ_WAIT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn drafts_survive_switching_chats_and_a_reload() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob, cat] = register_all(&server, ["draft_ann", "draft_bob", "draft_cat"]).await?;
    let with_ann = befriend(&ann, &bob).await?;
    let with_cat = befriend(&cat, &bob).await?;
    let (ann_title, cat_title) = (display_name("draft_ann"), display_name("draft_cat"));
    const FOR_ANN: &str = "half a thought for Ann";
    const FOR_CAT: &str = "and one for Cat";
    let url = server.url.clone();
    let bob_api = &bob;
    Browser::launch()
        .await?
        .run("screen_drafts", |c| async move {
            set_viewport(&c, DESKTOP.0, DESKTOP.1).await?;
            sign_in(&c, &url, "draft_bob").await?;
            open_chat(&c, &url, with_ann.0).await?;
            showing_draft(&c, &ann_title, "").await?;
            c.find(Locator::Id("composer")).await?.send_keys(FOR_ANN).await?;
            showing_draft(&c, &ann_title, FOR_ANN).await?;

            // Another chat has its own (empty) draft; each keeps its own.
            open_by_link(&c, &cat_title).await?;
            showing_draft(&c, &cat_title, "").await?;
            c.find(Locator::Id("composer")).await?.send_keys(FOR_CAT).await?;
            showing_draft(&c, &cat_title, FOR_CAT).await?;
            open_by_link(&c, &ann_title).await?;
            showing_draft(&c, &ann_title, FOR_ANN).await?;

            // A reload keeps both.
            c.refresh().await?;
            c.wait().for_element(Locator::Id("composer")).await?;
            wait_online(&c).await?;
            showing_draft(&c, &ann_title, FOR_ANN).await?;
            open_by_link(&c, &cat_title).await?;
            showing_draft(&c, &cat_title, FOR_CAT).await?;

            // Nothing was sent.
            for (conversation, text) in [(with_ann, FOR_ANN), (with_cat, FOR_CAT)] {
                let history = full_history(bob_api, conversation).await?;
                ensure!(!history.iter().any(|e| says(e, text)), "the draft “{text}” was sent");
            }

            // Sent, a draft is gone, here and after a reload; the other stays.
            c.find(Locator::Id("composer")).await?.send_keys("\u{E007}").await?; // Enter
            wait_for(&c, &message_showing(FOR_CAT)).await?;
            showing_draft(&c, &cat_title, "").await?;
            c.refresh().await?;
            c.wait().for_element(Locator::Id("composer")).await?;
            wait_online(&c).await?;
            wait_for(&c, &message_showing(FOR_CAT)).await?;
            showing_draft(&c, &cat_title, "").await?;
            open_by_link(&c, &ann_title).await?;
            showing_draft(&c, &ann_title, FOR_ANN).await
        })
        .await
}

#[tokio::test]
async fn a_message_sent_while_the_server_is_down_is_delivered_once_after_a_reload() -> anyhow::Result<()> {
    const TEXT: &str = "written while the server was down";
    let mut server = TestServer::with_app().await?;
    let [ann, bob] = register_all(&server, ["unsent_ann", "unsent_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let url = server.url.clone();
    let (server, ann, bob_id) = (&mut server, &ann, bob.id());
    Browser::launch()
        .await?
        .run("screen_unsent_survives", |c| async move {
            sign_in(&c, &url, "unsent_bob").await?;
            open_chat(&c, &url, dm.0).await?;

            server.stop().await?;
            wait_for(&c, "//*[@id='connection-state'][starts-with(normalize-space(.),'Offline')]").await?;
            say(&c, TEXT).await?;
            wait_for(
                &c,
                &format!(
                    "//ol[{}]//li[{}][{}][span[{}][normalize-space(.)={}]][.//*[normalize-space(.)='Sending…']]",
                    has_class("timeline"),
                    has_class("message"),
                    has_class("pending"),
                    has_class("text"),
                    xpath_literal(TEXT)
                ),
            )
            .await?;

            // The tab leaves the app with the message unsent; the server returns.
            c.goto("about:blank").await?;
            let server = server.start_again().await?;
            let mut ann_ws = WsClient::connect(&server, &ann.token).await?;

            let delivered_once = js(r#"
                const rows = [...document.querySelectorAll('ol.timeline li.message')]
                    .filter(li => (li.querySelector('.text') || {}).textContent?.trim() === arguments[0]);
                const pending = document.querySelectorAll('ol.timeline li.pending').length;
                const ok = rows.length === 1 && !rows[0].matches('.pending') && rows[0].hasAttribute('data-seq') && pending === 0;
                return ok || JSON.stringify({ rows: rows.map(r => r.className), pending });
            "#);
            open_chat(&c, &url, dm.0).await?;
            wait_js(&c, "the message shown once, delivered", &delivered_once, vec![json!(TEXT)]).await?;
            let event = ann_ws
                .next_where(|f| match f {
                    ServerFrame::Event { event } if says(&event, TEXT) => Some(event),
                    _ => None,
                })
                .await
                .context("Ann never received the message")?;
            ensure!(event.sender == bob_id, "the message came from {:?}", event.sender);

            // Another reload sends nothing again.
            c.refresh().await?;
            c.wait().for_element(Locator::Id("composer")).await?;
            wait_online(&c).await?;
            wait_js(&c, "the message shown once, delivered", &delivered_once, vec![json!(TEXT)]).await?;
            let later = ann_ws.until_pong(7).await?;
            let again = later
                .iter()
                .filter(|f| matches!(f, ServerFrame::Event { event } if says(event, TEXT)))
                .count();
            ensure!(again == 0, "Ann received the message {} times", again + 1);
            let stored = full_history(ann, dm)
                .await?
                .iter()
                .filter(|e| says(e, TEXT))
                .count();
            ensure!(stored == 1, "the message is stored {stored} times");
            Ok(())
        })
        .await
}

#[tokio::test]
async fn switching_chats_and_pages_never_panics() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob, cat] = register_all(&server, ["calm_ann", "calm_bob", "calm_cat"]).await?;
    let with_ann = befriend(&ann, &bob).await?;
    let with_cat = befriend(&cat, &bob).await?;
    WsClient::connect(&server, &ann.token)
        .await?
        .post_text(with_ann, "calm-1", "hello from Ann")
        .await?;
    WsClient::connect(&server, &cat.token)
        .await?
        .post_text(with_cat, "calm-2", "hello from Cat")
        .await?;
    let (ann_title, cat_title) = (display_name("calm_ann"), display_name("calm_cat"));
    const LIVE: &str = "said while you were in another chat";
    let url = server.url.clone();
    let (server, ann) = (&server, &ann);
    Browser::launch()
        .await?
        .run("screen_no_panics", |c| async move {
            set_viewport(&c, DESKTOP.0, DESKTOP.1).await?;
            sign_in(&c, &url, "calm_bob").await?;
            wait_online(&c).await?;
            // From here on every move is a click: the page is never loaded anew.
            install_error_hook(&c).await?;

            open_by_link(&c, &ann_title).await?;
            wait_for(&c, &message_showing("hello from Ann")).await?;
            click(&c, Locator::Id("nav-contacts")).await?;
            c.wait().for_element(Locator::Id("contact-search")).await?;
            open_by_link(&c, &ann_title).await?;
            wait_for(&c, &message_showing("hello from Ann")).await?;
            open_by_link(&c, &cat_title).await?;
            wait_for(&c, &message_showing("hello from Cat")).await?;

            // Quick switches, each before the last chat has finished loading.
            for _ in 0..3 {
                click(&c, Locator::XPath(&conversation_link(&ann_title))).await?;
                click(&c, Locator::XPath(&conversation_link(&cat_title))).await?;
            }
            showing_chat(&c, &cat_title).await?;

            // Ann writes into her chat while Bob is in Cat's.
            let mut ann_ws = WsClient::connect(server, &ann.token).await?;
            let seq = ann_ws.post_text(with_ann, "calm-live", LIVE).await?.seq;
            open_by_link(&c, &ann_title).await?;
            wait_for(&c, &message_showing(LIVE)).await?;
            ensure_js(
                &c,
                "the message from Ann in her chat, once",
                &js("return document.querySelectorAll(`ol.timeline li[data-seq=\"${arguments[0]}\"]`).length === 1 || 'not once'"),
                vec![json!(seq)],
            )
            .await?;
            let errors = page_errors(&c).await?;
            ensure!(errors.is_empty(), "the page reported errors: {errors:#?}");
            // Still alive: it answers a message of Bob's.
            say(&c, "still here").await?;
            wait_for(&c, &message_showing("still here")).await?;
            let errors = page_errors(&c).await?;
            ensure!(errors.is_empty(), "the page reported errors: {errors:#?}");
            Ok(())
        })
        .await
}

#[tokio::test]
async fn the_phone_layout_is_two_screens_with_a_back_button() -> anyhow::Result<()> {
    let server = TestServer::with_app_and(&FAST).await?;
    let [ann, bob, cat] = register_all(&server, ["phone_ann", "phone_bob", "phone_cat"]).await?;
    let dm = befriend(&ann, &bob).await?;
    befriend(&cat, &bob).await?;
    // More than a phone screen holds, all read.
    let seqs = read_chat(&server, &ann, &bob, dm, 60, "phone").await?;
    let newest = *seqs.last().context("no messages")?;
    let ann_title = display_name("phone_ann");
    let url = server.url.clone();
    Browser::launch()
        .await?
        .run("screen_phone", |c| async move {
            set_viewport(&c, PHONE.0, PHONE.1).await?;
            sign_in(&c, &url, "phone_bob").await?;
            wait_online(&c).await?;
            install_error_hook(&c).await?;

            // The list, alone, with rows big enough to tap.
            shows_the_list_alone(&c).await?;
            c.wait()
                .for_element(Locator::XPath(&conversation_link(&display_name("phone_cat"))))
                .await?;
            targets_are_tall_enough(&c, &["a.conversation-link", "#nav-contacts", "#logout"]).await?;
            ensure_js(
                &c,
                "the page does not scroll",
                &js("return pageFits() || JSON.stringify(page())"),
                vec![],
            )
            .await?;

            // A tap opens the chat, alone, at its newest message.
            open_by_link(&c, &ann_title).await?;
            shows_the_pane_alone(&c).await?;
            shows_the_newest_with_the_composer(&c, newest).await?;
            targets_are_tall_enough(&c, &["#send", "header.pane-header a.back"]).await?;

            // Back to the list.
            click(&c, Locator::Css("header.pane-header a.back")).await?;
            shows_the_list_alone(&c).await?;
            targets_are_tall_enough(&c, &["a.conversation-link"]).await?;

            // And in again: the same two screens.
            open_by_link(&c, &ann_title).await?;
            shows_the_pane_alone(&c).await?;
            shows_the_newest_with_the_composer(&c, newest).await?;
            let errors = page_errors(&c).await?;
            ensure!(
                !errors.iter().any(|e| e.contains("panicked")),
                "the app panicked: {errors:#?}"
            );
            Ok(())
        })
        .await
}
