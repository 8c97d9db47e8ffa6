//! Opening a message far back in a long chat as a *window*, in headless
//! Chromium: a search hit 1 190 messages up opens the conversation with the
//! page around it (at most three history requests, at most ~150 rows),
//! marked and in view; scrolling down brings newer pages in below, in
//! order, with nothing missing or doubled and the rows in view not moving;
//! a message that arrives live meanwhile is not added after the gap but
//! counted on the "new messages" pill, and the pill (or scrolling on to
//! the end, or sending a message) leads to the live end with it there —
//! on a desktop and on a phone.
//!
//! States are awaited with `wait_js` (polled, bounded). The mark on the
//! message lasts a moment only, so whether it was seen in view is recorded
//! by the page itself, every animation frame ([`watch_landing`]). History
//! requests are counted from the browser's resource timing entries.

use std::time::Duration;

use anyhow::{ensure, Context};
use fantoccini::{key::Key, Client, Locator};
use natter_common::{
    api::{History, MessageHit, Page},
    events::{EventBody, MessageContent},
    ids::{ConversationId, EventId},
};
use natter_tests::{
    api::{befriend, register_all, Authed},
    browser::{
        click, ctrl_k, install_error_hook, page_errors, press, say, set_viewport, sign_in, wait_js, VISIBILITY_JS,
    },
    ws::WsClient,
    Browser, TestServer, FAST,
};
use serde_json::json;

const DESKTOP: (u32, u32) = (1280, 800);
const PHONE: (u32, u32) = (375, 812);
/// Messages in the chat; the one searched for is [`FAR`], 1 190 back.
const MESSAGES: usize = 1200;
const FAR: usize = 10;
const WORD: &str = "quokka";
/// Messages sent before waiting for their acks.
const BURST: usize = 100;
/// How long the search index may take to show what was sent.
const INDEXED_WITHIN: Duration = Duration::from_secs(30);
/// At most this many history requests to open the chat at [`FAR`].
const MAX_REQUESTS: usize = 3;
/// At most this many rows in the list when it opens there.
const MAX_ROWS: usize = 150;

/// The text of message `n` of the chat.
fn text(n: usize) -> String {
    if n == FAR {
        format!("message {n} about a {WORD}")
    } else {
        format!("message {n}")
    }
}

// ---------------------------------------------------------------------------
// In the page.

/// Helpers every page script below starts with.
const JS: &str = r#"
const list = () => document.querySelector('ol.timeline');
// The rows of acknowledged events, oldest first, as { seq, text }.
const rows = () => [...document.querySelectorAll('ol.timeline li[data-seq]')].map(li => {
    const t = li.querySelector(':scope > span.text');
    return { seq: Number(li.dataset.seq), text: t ? t.textContent.trim() : '' };
});
// Why the rows are not one unbroken run, in order, each once ('' if they
// are). `folded` are the seqs of events that are no row of their own (edits).
const broken = (folded = []) => {
    const all = rows();
    for (let i = 1; i < all.length; i++) {
        const [a, b] = [all[i - 1].seq, all[i].seq];
        if (b !== a + 1 + folded.filter(f => f > a && f < b).length) return `seq ${a} then ${b}`;
    }
    const texts = all.map(r => r.text).filter(t => t.startsWith('message '));
    for (let i = 1; i < texts.length; i++) {
        const [a, b] = [parseInt(texts[i - 1].split(' ')[1]), parseInt(texts[i].split(' ')[1])];
        if (b !== a + 1) return `"${texts[i - 1]}" then "${texts[i]}"`;
    }
    return '';
};
const rowSaying = text => [...document.querySelectorAll('ol.timeline li[data-seq]')]
    .filter(li => { const t = li.querySelector(':scope > span.text'); return t && t.textContent.trim() === text; });
// History requests made since `performance.clearResourceTimings()`.
const historyRequests = () => performance.getEntriesByType('resource')
    .map(e => e.name).filter(n => /\/api\/v1\/conversations\/\d+\/events/.test(n)).map(n => n.split('?')[1] || '');
const pill = () => document.getElementById('jump-latest');
"#;

/// A page script: [`JS`], then `body`.
fn js(body: &str) -> String {
    format!("{VISIBILITY_JS}\n{JS}\n{body}")
}

/// Searches for [`WORD`] and opens its one result, in a page whose history
/// requests are counted from then on; waits until message [`FAR`], saying
/// `far`, was seen marked and in view with the composer.
async fn open_far_message(c: &Client, far: &str) -> anyhow::Result<()> {
    ctrl_k(c).await?;
    let input = c
        .wait()
        .for_element(Locator::Id("search-box"))
        .await
        .context("the search box")?;
    input.clear().await?;
    input.send_keys(WORD).await?;
    wait_js(
        c,
        "the one result, message 10",
        "const o = [...document.querySelectorAll('#search-results [role=option]')];
         return (o.length === 1 && o[0].textContent.includes(arguments[0])) || o.map(x => x.textContent).join(' | ')",
        vec![json!(far)],
    )
    .await?;
    // Counted from here; the buffer made large enough to hold them all.
    c.execute(
        "performance.setResourceTimingBufferSize(100000); performance.clearResourceTimings();",
        vec![],
    )
    .await?;
    c.execute(
        &js(r#"
            const [text] = arguments;
            window.__landed = false;
            const check = () => {
                const found = rowSaying(text), row = found[0];
                const seen = { rows: found.length, marked: !!row && row.classList.contains('highlight'),
                    rowInView: inView(row), composerInView: inView(document.getElementById('composer')),
                    searchOpen: !!document.getElementById('search-box') };
                if (seen.rows === 1 && seen.marked && seen.rowInView && seen.composerInView && !seen.searchOpen) {
                    window.__landed = true;
                    return;
                }
                window.__landedLast = JSON.stringify(seen);
                requestAnimationFrame(check);
            };
            requestAnimationFrame(check);
        "#),
        vec![json!(far)],
    )
    .await?;
    press(c, Key::Enter).await?;
    wait_js(
        c,
        "message 10 shown once, marked and in view, with the composer",
        "return window.__landed === true || window.__landedLast || 'not checked yet'",
        vec![],
    )
    .await
}

/// The chat opened as a window: few history requests, few rows, in one
/// unbroken run, and not the live end.
async fn opened_as_a_window(c: &Client) -> anyhow::Result<()> {
    let seen = c
        .execute(
            &js(r#"
                const all = rows();
                return { requests: historyRequests(), rows: all.length, broken: broken(),
                         newest: all.length ? all[all.length - 1].text : null, pill: !!pill() };
            "#),
            vec![],
        )
        .await?;
    eprintln!("opened message {FAR} of {MESSAGES}: {seen}");
    let requests = seen["requests"].as_array().map_or(usize::MAX, Vec::len);
    ensure!(
        requests <= MAX_REQUESTS,
        "{requests} history requests to open message {FAR} (at most {MAX_REQUESTS}): {seen}"
    );
    let count = seen["rows"].as_u64().unwrap_or(u64::MAX) as usize;
    ensure!(
        count <= MAX_ROWS,
        "{count} rows in the list (at most {MAX_ROWS}): {seen}"
    );
    ensure!(seen["broken"] == json!(""), "the rows are not one run: {seen}");
    ensure!(
        seen["newest"] != json!(text(MESSAGES)),
        "the newest message is in the list: that is the live end, not a window: {seen}"
    );
    ensure!(seen["pill"] == json!(true), "no \"Jump to latest\" in a window: {seen}");
    Ok(())
}

/// Scrolls the list to its bottom and waits until a newer page came in
/// below: the rows still one run, the row that was first in view not moved.
async fn scroll_down_a_page(c: &Client) -> anyhow::Result<()> {
    c.execute(
        &js(r#"
            const el = list(), view = el.getBoundingClientRect();
            el.scrollTop = el.scrollHeight;
            const first = [...el.querySelectorAll('li[data-seq]')].find(li => li.getBoundingClientRect().bottom > view.top);
            window.__anchor = { seq: first.dataset.seq, top: first.getBoundingClientRect().top, count: rows().length,
                                newest: rows()[rows().length - 1].seq };
        "#),
        vec![],
    )
    .await?;
    wait_js(
        c,
        "a newer page below, in one run, what was in view not moved",
        &js(r#"
            const a = window.__anchor, all = rows();
            if (all.length <= a.count) return `still ${all.length} rows`;
            const b = broken();
            if (b) return `not one run: ${b}`;
            if (all[a.count - 1].seq !== a.newest) return `the rows before changed: ${all[a.count - 1].seq} vs ${a.newest}`;
            const row = list().querySelector(`li[data-seq='${a.seq}']`);
            const moved = row.getBoundingClientRect().top - a.top;
            return Math.abs(moved) <= 1 || `the first row in view moved by ${moved} px`;
        "#),
        vec![],
    )
    .await
}

/// Waits until the pill counts one new message while the live one is not
/// in the list.
async fn one_new_message_held_back(c: &Client, live: &str) -> anyhow::Result<()> {
    wait_js(
        c,
        "the pill saying \"1 new message\", the message not added below the window",
        &js(r#"
            const p = pill(), n = rowSaying(arguments[0]).length;
            return (!!p && p.textContent.trim() === '1 new message ↓' && p.classList.contains('new-messages') && n === 0)
                || JSON.stringify({ pill: p && p.textContent, rows: n });
        "#),
        vec![json!(live)],
    )
    .await
}

/// Waits until the list is the live end: ending with `newest` (in view,
/// once), all in one run (but for the `folded` seqs), no pill, the composer
/// in view.
async fn at_the_live_end(c: &Client, newest: &str, folded: &[i64], what: &str) -> anyhow::Result<()> {
    wait_js(
        c,
        what,
        &js(r#"
            const [newest, folded] = arguments, all = rows(), found = rowSaying(newest);
            const seen = { last: all.length ? all[all.length - 1].text : null, copies: found.length, broken: broken(folded),
                           inView: inView(found[0]), pill: !!pill(), composer: inView(document.getElementById('composer')),
                           has1200: rowSaying('message 1200').length };
            return (seen.last === newest && seen.copies === 1 && !seen.broken && seen.inView && !seen.pill
                    && seen.composer && seen.has1200 === 1) || JSON.stringify(seen);
        "#),
        vec![json!(newest), json!(folded)],
    )
    .await
}

async fn no_page_errors(c: &Client) -> anyhow::Result<()> {
    let errors = page_errors(c).await?;
    ensure!(errors.is_empty(), "the page reported errors: {errors:#?}");
    Ok(())
}

// ---------------------------------------------------------------------------
// Setting up through the API.

/// A DM in which `ann` sent [`MESSAGES`] messages ([`text`]), all read by
/// `bob`, each indexed for search; and the id of message [`FAR`].
async fn long_dm(server: &TestServer, prefix: &str) -> anyhow::Result<(Authed, ConversationId, EventId)> {
    let [ann, bob] = register_all(server, [&format!("{prefix}_ann"), &format!("{prefix}_bob")]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut ws = WsClient::connect(server, &ann.token).await?;
    let mut sent = 1;
    while sent < MESSAGES {
        let burst = BURST.min(MESSAGES - sent);
        for n in sent..sent + burst {
            ws.send_text(dm, &format!("m-{n}"), &text(n)).await?;
        }
        ws.await_acks(burst).await?;
        sent += burst;
    }
    let newest = ws.post_text(dm, "m-last", &text(MESSAGES)).await?;
    WsClient::connect(server, &bob.token)
        .await?
        .mark_read(dm, newest.seq)
        .await?;
    indexed(&bob, WORD, &text(FAR)).await?;
    let first: History = ann
        .get_json(&format!("api/v1/conversations/{}/events?after=0&limit=100", dm.0))
        .await?;
    let far = first
        .events
        .into_iter()
        .find(|e| matches!(&e.body, EventBody::Message { content: MessageContent::Text { text: t }, .. } if *t == text(FAR)))
        .context("message 10 in the first page")?;
    Ok((ann, dm, far.id))
}

/// Waits (bounded) until the server finds `text` for `user` searching `q`.
async fn indexed(user: &Authed, q: &str, text: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + INDEXED_WITHIN;
    loop {
        let page: Page<MessageHit> = user.get_json(&format!("api/v1/search/messages?q={q}")).await?;
        let found = page
            .items
            .iter()
            .any(|hit| hit.snippet.parts.iter().map(|p| p.text.as_str()).collect::<String>() == text);
        if found {
            return Ok(());
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the server does not find {text:?} for {q:?} within {} s",
            INDEXED_WITHIN.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `ann` sends `text` now, over a connection of her own.
async fn peer_says(server: &TestServer, ann: &Authed, dm: ConversationId, text: &str) -> anyhow::Result<()> {
    WsClient::connect(server, &ann.token)
        .await?
        .post_text(dm, &format!("live-{text}"), text)
        .await?;
    Ok(())
}

/// `ann` changes the text of her message `target`; the edit's seq.
async fn ws_edit(
    server: &TestServer,
    ann: &Authed,
    dm: ConversationId,
    target: &EventId,
    text: &str,
) -> anyhow::Result<i64> {
    WsClient::connect(server, &ann.token)
        .await?
        .edit(dm, "edit-far", target, text)
        .await?
        .map_err(|code| anyhow::anyhow!("the edit was refused: {code:?}"))
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn a_search_hit_far_back_opens_a_window_that_pages_down_and_jumps_to_latest() -> anyhow::Result<()> {
    const LIVE: &str = "said while the window was open";
    const MINE: &str = "sent from a window";
    const EDITED: &str = "message 10 about a quokka, edited";
    let server = TestServer::with_app_and(&FAST).await?;
    let (ann, dm, far) = long_dm(&server, "win").await?;

    let url = server.url.clone();
    let server = &server;
    Browser::launch()
        .await?
        .run("window_desktop", |c| async move {
            set_viewport(&c, DESKTOP.0, DESKTOP.1).await?;
            sign_in(&c, &url, "win_bob").await?;
            install_error_hook(&c).await?;
            open_far_message(&c, &text(FAR)).await?;
            opened_as_a_window(&c).await?;

            // Scrolling down brings the pages after it, one at a time.
            scroll_down_a_page(&c).await?;
            scroll_down_a_page(&c).await?;

            // A message that comes now is counted, not added after the gap...
            peer_says(server, &ann, dm, LIVE).await?;
            one_new_message_held_back(&c, LIVE).await?;
            // An edit of a message in the window still shows there.
            let edit = ws_edit(server, &ann, dm, &far, EDITED).await?;
            wait_js(
                &c,
                "message 10 edited in place",
                &js("return rowSaying(arguments[0]).length === 1 || rows().slice(0, 12).map(r => r.text).join(' | ')"),
                vec![json!(EDITED)],
            )
            .await?;
            one_new_message_held_back(&c, LIVE).await?;
            // ...and the pill shows the newest messages, it among them.
            click(&c, Locator::Id("jump-latest")).await?;
            at_the_live_end(&c, LIVE, &[], "the live end after the pill, with the new message").await?;

            // Opened at the same message again from inside the chat, then a
            // message sent from the window: the live end, showing it.
            open_far_message(&c, EDITED).await?;
            wait_js(
                &c,
                "a window again",
                &js("return (rowSaying('message 1200').length === 0 && !!pill()) || 'the newest is still loaded'"),
                vec![],
            )
            .await?;
            c.find(Locator::Id("composer")).await?.click().await?;
            say(&c, MINE).await?;
            at_the_live_end(&c, MINE, &[edit], "the live end after sending, with my message").await?;
            no_page_errors(&c).await
        })
        .await
}

#[tokio::test]
async fn on_a_phone_a_window_scrolls_down_to_the_live_end_with_what_came_meanwhile() -> anyhow::Result<()> {
    const LIVE: &str = "arrived during the window";
    const AFTER: &str = "arrived at the live end";
    let server = TestServer::with_app_and(&FAST).await?;
    let (ann, dm, _) = long_dm(&server, "pwin").await?;

    let url = server.url.clone();
    let server = &server;
    Browser::launch()
        .await?
        .run("window_phone", |c| async move {
            set_viewport(&c, PHONE.0, PHONE.1).await?;
            sign_in(&c, &url, "pwin_bob").await?;
            install_error_hook(&c).await?;
            open_far_message(&c, &text(FAR)).await?;
            opened_as_a_window(&c).await?;

            peer_says(server, &ann, dm, LIVE).await?;
            one_new_message_held_back(&c, LIVE).await?;

            // Scrolled down page after page until nothing newer remains: the
            // live end, the message that came meanwhile last and once.
            let mut pages = 0;
            loop {
                let done = c
                    .execute(
                        &js("const all = rows(); return all.length > 0 && all[all.length - 1].text === arguments[0]"),
                        vec![json!(LIVE)],
                    )
                    .await?;
                if done == json!(true) {
                    break;
                }
                pages += 1;
                ensure!(
                    pages <= MESSAGES / 50 + 2,
                    "still not at the live end after {pages} pages"
                );
                scroll_down_a_page(&c).await?;
            }
            c.execute(
                "const el = document.querySelector('ol.timeline'); el.scrollTop = el.scrollHeight",
                vec![],
            )
            .await?;
            at_the_live_end(&c, LIVE, &[], "the live end reached by scrolling").await?;

            // From now on it is the live end as before: a new message shows
            // at the bottom.
            peer_says(server, &ann, dm, AFTER).await?;
            at_the_live_end(&c, AFTER, &[], "a message at the live end followed").await?;
            no_page_errors(&c).await
        })
        .await
}
