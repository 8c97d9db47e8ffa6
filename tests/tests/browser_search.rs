//! Message search in the real app, in headless Chromium: Ctrl+K (or "/")
//! opens it from anywhere and Escape gives the focus back; typing finds a
//! message far up a long chat, with the matching words in `<mark>`; Enter
//! or a tap opens the conversation there, the message scrolled into view
//! and marked, the composer still on screen — on a desktop and on a phone
//! (where the search and then the chat take the whole screen); results are
//! grouped by conversation, Up and Down move through them, and "In this
//! conversation" narrows them to the open one; many results come a page
//! at a time; no match, and a query the server refuses, are said so; a
//! sender who renames themselves while the results are open is shown by
//! the new name; and axe-core finds nothing serious in the dialog, light
//! or dark.
//!
//! States are awaited with `wait_js` (polled, bounded), and the search
//! index, which follows the log asynchronously, with [`indexed`]. The mark
//! on the message lasts a moment only, so whether it was seen in view is
//! recorded by the page itself, every animation frame, from before the
//! result is chosen ([`watch_landing`]).

use std::time::Duration;

use anyhow::{ensure, Context};
use fantoccini::{key::Key, Client, Locator};
use natter_common::{
    api::{MessageHit, Page},
    ids::ConversationId,
};
use natter_tests::{
    api::{befriend, create_group, register_all, Authed},
    browser::{
        accessibility_violations, click, ctrl_k, fits_the_width, install_error_hook, open_chat, page_errors, press,
        set_viewport, sign_in, wait_js, VISIBILITY_JS,
    },
    ws::WsClient,
    Browser, TestServer, FAST,
};
use serde_json::json;

const DESKTOP: (u32, u32) = (1280, 800);
const PHONE: (u32, u32) = (375, 812);
/// Messages sent before waiting for their acks.
const BURST: usize = 100;
/// How long the search index may take to show what was sent (it follows
/// the log asynchronously).
const INDEXED_WITHIN: Duration = Duration::from_secs(20);
/// The last message [`long_chat`] sends: once it is found, so is the rest.
const NEWEST: &str = "the newest message";

// ---------------------------------------------------------------------------
// In the page.

/// Helpers every page script below starts with.
const JS: &str = r#"
const rect = el => {
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return { top: Math.round(r.top), bottom: Math.round(r.bottom), left: Math.round(r.left), right: Math.round(r.right) };
};
// The timeline's rows of acknowledged messages whose own text is `text`.
const rowsSaying = text => [...document.querySelectorAll('ol.timeline li.message[data-seq]')]
    .filter(li => { const t = li.querySelector(':scope > span.text'); return t && t.textContent.trim() === text; });
// The search's results, as { text, marks, sender, group, selected, id }.
const results = () => [...document.querySelectorAll('#search-results [role=option]')].map(o => ({
    text: o.querySelector('.search-hit-text').textContent,
    marks: [...o.querySelectorAll('mark')].map(m => m.textContent),
    sender: o.querySelector('.search-hit-sender').textContent,
    group: o.closest('[role=group]').querySelector('.search-group-title').textContent,
    selected: o.getAttribute('aria-selected') === 'true',
    id: o.id,
}));
const box = () => document.getElementById('search-box');
"#;

/// A page script: [`JS`], then `body`.
fn js(body: &str) -> String {
    format!("{VISIBILITY_JS}\n{JS}\n{body}")
}

// ---------------------------------------------------------------------------
// Keys.

// ---------------------------------------------------------------------------
// Checks.

/// Waits until the search is open with the cursor in its box.
async fn search_open(c: &Client) -> anyhow::Result<()> {
    wait_js(
        c,
        "the search open, the cursor in its box",
        &js("return (!!box() && document.activeElement === box()) || `focus on ${document.activeElement && (document.activeElement.id || document.activeElement.tagName)}`"),
        vec![],
    )
    .await
}

/// Types `query` into the search box (replacing what is there).
async fn search_for(c: &Client, query: &str) -> anyhow::Result<()> {
    let input = c.find(Locator::Id("search-box")).await?;
    input.clear().await?;
    input
        .send_keys(query)
        .await
        .with_context(|| format!("typing {query:?}"))
}

/// Waits until the results are exactly `expected` (text, group) pairs, in
/// order: each result's text contains its text, and the matched parts
/// include `mark` (case ignored).
async fn results_are(c: &Client, mark: &str, expected: &[(&str, &str)]) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("the results {expected:?}, {mark:?} marked"),
        &js(r#"
            const [mark, expected] = arguments;
            const found = results();
            const ok = found.length === expected.length && found.every((r, i) =>
                r.text.includes(expected[i][0]) && r.group === expected[i][1]
                && r.marks.some(m => m.toLowerCase().includes(mark.toLowerCase())));
            return ok || JSON.stringify({ found, status: (document.getElementById('search-status') || {}).textContent });
        "#),
        vec![json!(mark), json!(expected)],
    )
    .await
}

/// Waits until the results are the newest `at_least` to `at_most` fillers
/// of [`long_chat`] ("filler 300" down), in order, each once, with "filler"
/// marked.
async fn fillers_newest_first(c: &Client, at_least: usize, at_most: usize) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("the {at_least} to {at_most} newest fillers, newest first, each once"),
        &js(r#"
            const [least, most] = arguments, found = results();
            const ok = found.length >= least && found.length <= most && new Set(found.map(r => r.id)).size === found.length
                && found.every((r, i) => r.text === `filler ${300 - i}` && r.marks.some(m => m.toLowerCase() === 'filler'));
            return ok || JSON.stringify(found.map(r => r.text));
        "#),
        vec![json!(at_least), json!(at_most)],
    )
    .await
}

/// Starts recording, every animation frame, whether the timeline shows the
/// message saying `text` exactly once, marked and wholly in view, with the
/// composer in view and the search closed, at `path`. Read by [`landed`].
async fn watch_landing(c: &Client, text: &str, path: &str) -> anyhow::Result<()> {
    c.execute(
        &js(r#"
            const [text, path] = arguments;
            window.__landed = false;
            const check = () => {
                const rows = rowsSaying(text), row = rows[0], composer = document.getElementById('composer');
                const seen = { path: location.pathname, rows: rows.length, marked: !!row && row.classList.contains('highlight'),
                    rowInView: inView(row), row: rect(row), composerInView: inView(composer), searchOpen: !!box() };
                if (seen.path === path && seen.rows === 1 && seen.marked && seen.rowInView && seen.composerInView && !seen.searchOpen) {
                    window.__landed = true;
                    return;
                }
                window.__landedLast = JSON.stringify(seen);
                requestAnimationFrame(check);
            };
            requestAnimationFrame(check);
        "#),
        vec![json!(text), json!(path)],
    )
    .await?;
    Ok(())
}

/// Waits until [`watch_landing`] saw the message marked and in view.
async fn landed(c: &Client, text: &str) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("the message {text:?} shown once, marked and in view, with the composer"),
        "return window.__landed === true || window.__landedLast || 'not checked yet'",
        vec![],
    )
    .await
}

/// The page logged no error and no panic.
async fn no_page_errors(c: &Client) -> anyhow::Result<()> {
    let errors = page_errors(c).await?;
    ensure!(errors.is_empty(), "the page reported errors: {errors:#?}");
    Ok(())
}

/// The message saying `text` is not in the timeline (it is far up, not loaded).
async fn not_loaded(c: &Client, text: &str) -> anyhow::Result<()> {
    let rows = c
        .execute(&js("return rowsSaying(arguments[0]).length"), vec![json!(text)])
        .await?;
    ensure!(
        rows == json!(0),
        "{text:?} is loaded from the start: this test needs it far up"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Setting up through the API.

/// `sender` posts `before` fillers, then `text`, then `after` fillers, in
/// bursts each acknowledged before the next; `reader` then reads it all, so
/// the chat opens at the newest message.
async fn long_chat(
    server: &TestServer,
    sender: &Authed,
    reader: &Authed,
    conversation: ConversationId,
    (before, text, after): (usize, &str, usize),
) -> anyhow::Result<()> {
    let mut ws = WsClient::connect(server, &sender.token).await?;
    fill(&mut ws, conversation, 1, before).await?;
    ws.post_text(conversation, "the-one", text).await?;
    fill(&mut ws, conversation, before + 1, after).await?;
    let newest = ws.post_text(conversation, "last", NEWEST).await?;
    WsClient::connect(server, &reader.token)
        .await?
        .mark_read(conversation, newest.seq)
        .await
}

/// Sends `count` messages "filler <n>", numbered from `first`.
async fn fill(ws: &mut WsClient, conversation: ConversationId, first: usize, count: usize) -> anyhow::Result<()> {
    let mut sent = 0;
    while sent < count {
        let burst = BURST.min(count - sent);
        for n in first + sent..first + sent + burst {
            ws.send_text(conversation, &format!("fill-{n}"), &format!("filler {n}"))
                .await?;
        }
        ws.await_acks(burst).await?;
        sent += burst;
    }
    Ok(())
}

/// Waits (bounded) until the server finds each of `texts` for `user`
/// searching `q`: the index follows the log asynchronously, and a failure
/// in the browser should be the app's.
async fn indexed(user: &Authed, q: &str, texts: &[&str]) -> anyhow::Result<()> {
    let path = format!("api/v1/search/messages?q={}", encode(q));
    let deadline = tokio::time::Instant::now() + INDEXED_WITHIN;
    loop {
        let page: Page<MessageHit> = user.get_json(&path).await?;
        let found: Vec<String> = page
            .items
            .iter()
            .map(|hit| hit.snippet.parts.iter().map(|p| p.text.as_str()).collect())
            .collect();
        if texts.iter().all(|text| found.iter().any(|f| f == text)) {
            return Ok(());
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the server does not find {texts:?} for {q:?} within {} s: {found:?}",
            INDEXED_WITHIN.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Percent-encodes a query value (UTF-8 bytes outside the unreserved set).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A DM's title: the peer's display name (`api::register` derives it).
fn display_name(username: &str) -> String {
    format!("{username} display")
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn ctrl_k_finds_a_message_far_up_and_opens_the_chat_there() -> anyhow::Result<()> {
    const TEXT: &str = "A Zebracorn was seen near the river";
    let server = TestServer::with_app_and(&FAST).await?;
    let [ann, bob] = register_all(&server, ["zeb_ann", "zeb_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    long_chat(&server, &ann, &bob, dm, (5, TEXT, 295)).await?;
    indexed(&bob, "newest", &[NEWEST]).await?;
    indexed(&bob, "zebra", &[TEXT]).await?;

    let url = server.url.clone();
    Browser::launch()
        .await?
        .run("search_desktop", |c| async move {
            set_viewport(&c, DESKTOP.0, DESKTOP.1).await?;
            sign_in(&c, &url, "zeb_bob").await?;
            open_chat(&c, &url, dm.0).await?;
            install_error_hook(&c).await?;
            not_loaded(&c, TEXT).await?;
            // Searched from elsewhere: the chat opens anew, at the message.
            click(&c, Locator::Css("a.brand")).await?;
            wait_js(&c, "the home page", "return location.pathname === '/' || location.pathname", vec![]).await?;

            // Escape closes it and the focus goes back where it was.
            c.execute("document.getElementById('nav-contacts').focus()", vec![])
                .await?;
            ctrl_k(&c).await?;
            search_open(&c).await?;
            ensure!(
                c.find_all(Locator::Id("search-here")).await?.is_empty(),
                "\"In this conversation\" is offered with no conversation open"
            );
            press(&c, Key::Escape).await?;
            wait_js(
                &c,
                "the search closed, the focus back on the Contacts link",
                &js("return (!box() && document.activeElement && document.activeElement.id === 'nav-contacts') || `focus on ${document.activeElement && (document.activeElement.id || document.activeElement.tagName)}`"),
                vec![],
            )
            .await?;

            // Many results come a page at a time, newest first, none twice.
            ctrl_k(&c).await?;
            search_open(&c).await?;
            search_for(&c, "filler").await?;
            fillers_newest_first(&c, 20, 20).await?;
            // Scrolled to the end, the next page comes in below...
            c.execute("const p = document.querySelector('.search-panel'); p.scrollTop = p.scrollHeight", vec![])
                .await?;
            fillers_newest_first(&c, 40, 40).await?;
            // ...and "Load more" is reached by keyboard (Tab: the close
            // button, then it).
            press(&c, Key::Tab).await?;
            press(&c, Key::Tab).await?;
            wait_js(
                &c,
                "the focus on \"Load more\"",
                "return document.activeElement.id === 'search-more' || document.activeElement.id",
                vec![],
            )
            .await?;
            press(&c, Key::Enter).await?;
            fillers_newest_first(&c, 60, 300).await?;

            search_for(&c, "zebra").await?;
            let title = display_name("zeb_ann");
            results_are(&c, "zebra", &[(TEXT, title.as_str())]).await?;
            wait_js(
                &c,
                "the result named by its sender, selected, and the box pointing at it",
                &js(r#"
                    const [r] = results();
                    return (r.sender === arguments[0] && r.selected && box().getAttribute('aria-activedescendant') === r.id)
                        || JSON.stringify({ r, active: box().getAttribute('aria-activedescendant') });
                "#),
                vec![json!(title)],
            )
            .await?;
            let violations = accessibility_violations(&c).await?;
            ensure!(violations.is_empty(), "the search dialog: {violations:#?}");

            watch_landing(&c, TEXT, &format!("/c/{}", dm.0)).await?;
            press(&c, Key::Enter).await?;
            landed(&c, TEXT).await?;
            no_page_errors(&c).await
        })
        .await
}

#[tokio::test]
async fn on_a_phone_slash_searches_chinese_and_a_tap_opens_the_chat_screen() -> anyhow::Result<()> {
    const TEXT: &str = "明天的会议改到三点";
    let server = TestServer::with_app_and(&FAST).await?;
    let [ann, bob] = register_all(&server, ["cjk_ann", "cjk_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    long_chat(&server, &ann, &bob, dm, (10, TEXT, 140)).await?;
    indexed(&bob, "newest", &[NEWEST]).await?;
    indexed(&bob, "会议", &[TEXT]).await?;

    let url = server.url.clone();
    Browser::launch()
        .await?
        .run("search_phone", |c| async move {
            set_viewport(&c, PHONE.0, PHONE.1).await?;
            sign_in(&c, &url, "cjk_bob").await?;
            install_error_hook(&c).await?;
            fits_the_width(&c, "the list screen with the search button").await?;

            // "/" outside a text field opens it, over the whole screen.
            c.execute("document.activeElement && document.activeElement.blur()", vec![])
                .await?;
            press(&c, '/').await?;
            search_open(&c).await?;
            let value = c
                .execute(&js("return box().value"), vec![])
                .await?;
            ensure!(value == json!(""), "the \"/\" that opened the search was typed into it: {value}");
            wait_js(
                &c,
                "the search covering the whole screen",
                &js(r#"
                    const r = document.querySelector('.search-panel').getBoundingClientRect();
                    const ok = Math.abs(r.left) <= 1 && Math.abs(r.top) <= 1
                        && Math.abs(r.width - innerWidth) <= 1 && Math.abs(r.height - innerHeight) <= 1;
                    return ok || JSON.stringify({ panel: rect(document.querySelector('.search-panel')), viewport: [innerWidth, innerHeight] });
                "#),
                vec![],
            )
            .await?;

            search_for(&c, "会议").await?;
            let title = display_name("cjk_ann");
            results_are(&c, "会议", &[(TEXT, title.as_str())]).await?;
            fits_the_width(&c, "the search with a result").await?;

            watch_landing(&c, TEXT, &format!("/c/{}", dm.0)).await?;
            click(&c, Locator::Css("#search-results [role=option]")).await?;
            landed(&c, TEXT).await?;
            wait_js(
                &c,
                "the chat screen alone (the list hidden)",
                &js(r#"
                    const side = document.querySelector('nav.sidebar'), chat = document.querySelector('section.chat');
                    return (getComputedStyle(side).display === 'none' && shown(chat))
                        || JSON.stringify({ sidebar: getComputedStyle(side).display, chat: rect(chat) });
                "#),
                vec![],
            )
            .await?;
            fits_the_width(&c, "the chat opened from the search").await?;
            no_page_errors(&c).await
        })
        .await
}

#[tokio::test]
async fn results_are_grouped_move_by_keyboard_and_narrow_to_the_open_conversation() -> anyhow::Result<()> {
    const BOB_SAYS: &str = "pineapple pizza tonight?";
    const CAT_SAYS: &str = "pineapple juice please";
    let server = TestServer::with_app().await?;
    let [ann, bob, cat] = register_all(&server, ["pin_ann", "pin_bob", "pin_cat"]).await?;
    let with_bob = befriend(&ann, &bob).await?;
    let with_cat = befriend(&ann, &cat).await?;
    WsClient::connect(&server, &bob.token)
        .await?
        .post_text(with_bob, "b1", BOB_SAYS)
        .await?;
    WsClient::connect(&server, &cat.token)
        .await?
        .post_text(with_cat, "c1", CAT_SAYS)
        .await?;
    indexed(&ann, "pineapple", &[BOB_SAYS, CAT_SAYS]).await?;

    let url = server.url.clone();
    // In the dark scheme (the other tests run in the light one).
    Browser::launch_dark()
        .await?
        .run("search_filter", |c| async move {
            set_viewport(&c, DESKTOP.0, DESKTOP.1).await?;
            sign_in(&c, &url, "pin_ann").await?;
            open_chat(&c, &url, with_bob.0).await?;
            install_error_hook(&c).await?;
            let (bob_title, cat_title) = (display_name("pin_bob"), display_name("pin_cat"));
            let (bob_title, cat_title) = (bob_title.as_str(), cat_title.as_str());

            // The button opens it too; newest first, one group per conversation.
            click(&c, Locator::Id("open-search")).await?;
            search_open(&c).await?;
            search_for(&c, "pine").await?;
            results_are(&c, "pine", &[(CAT_SAYS, cat_title), (BOB_SAYS, bob_title)]).await?;
            let violations = accessibility_violations(&c).await?;
            ensure!(violations.is_empty(), "the search dialog, dark: {violations:#?}");

            // "In this conversation": only the open one's.
            click(&c, Locator::Id("search-here")).await?;
            results_are(&c, "pine", &[(BOB_SAYS, bob_title)]).await?;
            // The same message found by another word shows that word marked.
            search_for(&c, "pizza").await?;
            results_are(&c, "pizza", &[(BOB_SAYS, bob_title)]).await?;
            search_for(&c, "pine").await?;
            results_are(&c, "pine", &[(BOB_SAYS, bob_title)]).await?;
            click(&c, Locator::Id("search-here")).await?;
            results_are(&c, "pine", &[(CAT_SAYS, cat_title), (BOB_SAYS, bob_title)]).await?;

            // Down and Up move the selection, the box pointing at it.
            let selected = |index: usize| {
                js(&format!(
                    r#"const found = results(), active = box().getAttribute('aria-activedescendant');
                       return (found.length === 2 && found[{index}].selected && !found[{other}].selected && active === found[{index}].id)
                           || JSON.stringify({{ found, active }});"#,
                    other = 1 - index
                ))
            };
            c.find(Locator::Id("search-box")).await?.click().await?;
            wait_js(&c, "the first result selected", &selected(0), vec![]).await?;
            press(&c, Key::Down).await?;
            wait_js(&c, "the second result selected", &selected(1), vec![]).await?;
            press(&c, Key::Up).await?;
            wait_js(&c, "the first result selected again", &selected(0), vec![]).await?;
            press(&c, Key::Down).await?;
            wait_js(&c, "the second result selected again", &selected(1), vec![]).await?;

            // Enter on a message of the open chat brings it into view there.
            watch_landing(&c, BOB_SAYS, &format!("/c/{}", with_bob.0)).await?;
            press(&c, Key::Enter).await?;
            landed(&c, BOB_SAYS).await?;

            // Nothing found, and a query the server refuses, are said so.
            ctrl_k(&c).await?;
            search_open(&c).await?;
            search_for(&c, "pineapplez").await?;
            wait_js(
                &c,
                "\"No messages match\" and no results",
                &js(r#"
                    const status = document.getElementById('search-status').textContent;
                    return (status.startsWith('No messages match') && results().length === 0) || status;
                "#),
                vec![],
            )
            .await?;
            search_for(&c, &"x".repeat(65)).await?;
            wait_js(
                &c,
                "the server's reason shown as an alert",
                &js(r#"
                    const alert = document.querySelector('.search-panel [role=alert]');
                    return (!!alert && alert.textContent.trim().length > 0 && results().length === 0)
                        || `status: ${document.getElementById('search-status').textContent}`;
                "#),
                vec![],
            )
            .await?;
            no_page_errors(&c).await
        })
        .await
}

#[tokio::test]
async fn open_results_show_a_sender_renamed_meanwhile() -> anyhow::Result<()> {
    const CAT_SAYS: &str = "marmalade on toast";
    let server = TestServer::with_app().await?;
    let [ann, bob, cat] = register_all(&server, ["ren_ann", "ren_bob", "ren_cat"]).await?;
    // Ann and Cat share only Bob's group: no DM names Cat for Ann.
    befriend(&bob, &ann).await?;
    befriend(&bob, &cat).await?;
    let group = create_group(&bob, "Breakfast", &[&ann, &cat]).await?.id;
    WsClient::connect(&server, &cat.token)
        .await?
        .post_text(group, "c1", CAT_SAYS)
        .await?;
    indexed(&ann, "marmalade", &[CAT_SAYS]).await?;

    let url = server.url.clone();
    let cat = &cat;
    Browser::launch()
        .await?
        .run("search_renamed", |c| async move {
            set_viewport(&c, DESKTOP.0, DESKTOP.1).await?;
            sign_in(&c, &url, "ren_ann").await?;
            install_error_hook(&c).await?;
            ctrl_k(&c).await?;
            search_open(&c).await?;
            search_for(&c, "marmalade").await?;
            let sender_is = |name: &'static str| {
                let c = c.clone();
                async move {
                    wait_js(
                        &c,
                        &format!("the result's sender shown as {name}"),
                        &js("const r = results(); return (r.length === 1 && r[0].sender === arguments[0]) || JSON.stringify(r);"),
                        vec![json!(name)],
                    )
                    .await
                }
            };
            sender_is("ren_cat display").await?;

            // Cat renames herself (her own session): the open results follow.
            let renamed = cat
                .call(
                    reqwest::Method::PATCH,
                    "api/v1/me",
                    Some(json!({ "display_name": "Catalina" })),
                )
                .await?;
            ensure!(renamed.status().is_success(), "PATCH /me: {}", renamed.status());
            sender_is("Catalina").await?;
            no_page_errors(&c).await
        })
        .await
}
