//! Acting on messages in the real app: editing, deleting, reacting to and
//! replying to a message through its menu, seen live in a second browser;
//! editing the last message with ArrowUp; the final state shown to a browser
//! that was away; a quote far up the history that loads it and jumps there;
//! the menu by keyboard; and who may delete in a group.
//!
//! Messages are found by their `data-id` (the event id), so an edit or a
//! deletion is checked on the very row that showed the original.

use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context};
use fantoccini::{elements::Element, key::Key, Client, Locator};
use natter_common::{events::MessageContent, frames::ClientFrame};
use natter_tests::{
    api::{befriend, create_group, register_all},
    browser::{long_press, open_chat, press, say, sign_in, wait_for, wait_online, xpath_literal},
    ws::WsClient,
    Browser, TestServer, FAST,
};

/// How long an expected element may take to appear (reconnects back off).
const WAIT: Duration = Duration::from_secs(40);

const THUMBS_UP: &str = "👍";
const HEART: &str = "\u{2764}\u{FE0F}";
/// The menu's quick reactions, in the contract's order.
const QUICK_REACTIONS: [&str; 6] = [THUMBS_UP, HEART, "😂", "😮", "😢", "🎉"];

// ---------------------------------------------------------------------------
// Locators (XPath, so rows can be picked by their text and state).

/// XPath test: the element has class `name` (a whole class, not a substring:
/// `message` must not match `message-menu`).
fn has_class(name: &str) -> String {
    format!("contains(concat(' ', normalize-space(@class), ' '), ' {name} ')")
}

/// Any message row of the timeline.
fn any_row() -> String {
    format!("//ol[{}]//li[{}]", has_class("timeline"), has_class("message"))
}

/// The timeline row of the message with event id `id`.
fn row(id: &str) -> String {
    format!("{}[@data-id={}]", any_row(), xpath_literal(id))
}

/// The row of the message at `seq`.
fn row_at(seq: i64) -> String {
    format!("{}[@data-seq='{seq}']", any_row())
}

/// A message's own text (not the text of a message it quotes).
fn text_span() -> String {
    format!("span[{}][not(ancestor::*[{}])]", has_class("text"), has_class("quote"))
}

/// Row `id`, showing `text`.
fn row_showing(id: &str, text: &str) -> String {
    format!(
        "{}[.//{}[normalize-space(.)={}]]",
        row(id),
        text_span(),
        xpath_literal(text)
    )
}

/// An acknowledged (or received) message showing `text`.
fn message_showing(text: &str) -> String {
    format!(
        "{}[not({})][@data-id][.//{}[normalize-space(.)={}]]",
        any_row(),
        has_class("pending"),
        text_span(),
        xpath_literal(text)
    )
}

/// Row `id`, showing `text` and marked "edited".
fn edited_row(id: &str, text: &str) -> String {
    format!(
        "{}[.//span[{}][normalize-space(.)='edited']]",
        row_showing(id, text),
        has_class("edited")
    )
}

/// Row `id`, deleted.
fn deleted_row(id: &str) -> String {
    format!("{}[{}]", row_showing(id, "Message deleted"), has_class("deleted"))
}

/// The open menu of row `id`.
fn menu(id: &str) -> String {
    format!("{}//div[{}]", row(id), has_class("message-menu"))
}

/// A button with class `class` in the open menu of row `id`.
fn menu_item(id: &str, class: &str) -> String {
    format!("{}//button[{}]", menu(id), has_class(class))
}

/// The quick reaction `emoji` in the open menu of row `id`.
fn quick_reaction(id: &str, emoji: &str) -> String {
    format!(
        "{}//button[{}][@data-emoji={}]",
        menu(id),
        has_class("quick-reaction"),
        xpath_literal(emoji)
    )
}

/// The menu button of row `id`.
fn menu_button(id: &str) -> String {
    format!("{}//button[{}]", row(id), has_class("message-menu-button"))
}

/// The inline edit box of row `id`.
fn edit_input(id: &str) -> String {
    format!("{}//textarea[{}]", row(id), has_class("edit-input"))
}

/// Any reaction chip under row `id`.
fn any_chip(id: &str) -> String {
    format!(
        "{}//ul[{}]//button[{}]",
        row(id),
        has_class("reactions"),
        has_class("reaction-chip")
    )
}

/// The `emoji` chip under row `id`.
fn chip(id: &str, emoji: &str) -> String {
    format!("{}[@data-emoji={}]", any_chip(id), xpath_literal(emoji))
}

/// The `emoji` chip under row `id` reading "<emoji> <count>", marked `mine` or not.
fn chip_showing(id: &str, emoji: &str, count: u32, mine: bool) -> String {
    let mine = if mine {
        has_class("mine")
    } else {
        format!("not({})", has_class("mine"))
    };
    format!(
        "{}[normalize-space(.)={}][{mine}]",
        chip(id, emoji),
        xpath_literal(&format!("{emoji} {count}"))
    )
}

/// The quote above row `id` (a reply's).
fn quote(id: &str) -> String {
    format!("{}//button[{}]", row(id), has_class("quote"))
}

// ---------------------------------------------------------------------------
// Actions and waits.

/// Waits for an element matching `xpath` and returns it.
async fn element(c: &Client, xpath: &str) -> anyhow::Result<Element> {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(xpath))
        .await
        .with_context(|| format!("waiting for {xpath}"))
}

/// How many elements match `xpath` right now.
async fn count(c: &Client, xpath: &str) -> anyhow::Result<usize> {
    Ok(c.find_all(Locator::XPath(xpath)).await?.len())
}

/// Waits for `xpath` and clicks it (again if a re-render replaced it between
/// finding and clicking).
async fn click(c: &Client, xpath: &str) -> anyhow::Result<()> {
    for _ in 0..3 {
        match element(c, xpath).await?.click().await {
            Err(err) if err.is_stale_element_reference() => continue,
            other => return other.with_context(|| format!("clicking {xpath}")),
        }
    }
    bail!("{xpath} went stale three times in a row")
}

/// Polls, bounded, until nothing matches `xpath`: something going away leaves
/// no element to wait for.
async fn wait_gone(c: &Client, xpath: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if count(c, xpath).await? == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("still there after 20 s: {xpath}")
}

/// Waits until a message shows `text` (acknowledged, if mine); returns its
/// event id (`data-id`).
async fn message_id(c: &Client, text: &str) -> anyhow::Result<String> {
    element(c, &message_showing(text))
        .await?
        .attr("data-id")
        .await?
        .filter(|id| !id.is_empty())
        .with_context(|| format!("the message “{text}” has no data-id"))
}

/// The `data-id` of every message row, in timeline order.
async fn timeline_ids(c: &Client) -> anyhow::Result<Vec<Option<String>>> {
    let mut ids = Vec::new();
    for li in c.find_all(Locator::XPath(&any_row())).await? {
        ids.push(li.attr("data-id").await?);
    }
    Ok(ids)
}

/// Ensures the timeline holds exactly these messages, each once, in order.
async fn ensure_timeline(c: &Client, expected: &[&str]) -> anyhow::Result<()> {
    let ids = timeline_ids(c).await?;
    let expected: Vec<Option<String>> = expected.iter().map(|id| Some((*id).to_owned())).collect();
    ensure!(ids == expected, "timeline rows {ids:?}, expected {expected:?}");
    Ok(())
}

/// Opens the menu of row `id`, unless it is open already, as a person does
/// where nothing hovers: headless Chromium, like a phone, has `hover:
/// none`, where the "⋯" button stays unseen and untouchable until the menu
/// is open, and a long-press on the bubble opens it.
async fn open_menu(c: &Client, id: &str) -> anyhow::Result<()> {
    if count(c, &menu(id)).await? > 0 {
        return Ok(());
    }
    long_press(c, &element(c, &row(id)).await?).await?;
    wait_for(c, &format!("{}[@role='menu']", menu(id))).await
}

/// Opens the menu of row `id` and picks the item with class `class`.
async fn menu_action(c: &Client, id: &str, class: &str) -> anyhow::Result<()> {
    open_menu(c, id).await?;
    click(c, &menu_item(id, class)).await
}

/// Closes the open menu of row `id` with Escape.
async fn escape_menu(c: &Client, id: &str) -> anyhow::Result<()> {
    press(c, Key::Escape).await?;
    wait_gone(c, &menu(id)).await
}

/// In row `id`'s open edit box (which must start with `before`), replaces
/// the text with `after` and presses Enter; waits for the box to close.
async fn edit_inline(c: &Client, id: &str, before: &str, after: &str) -> anyhow::Result<()> {
    let input = element(c, &edit_input(id)).await?;
    let value = input.prop("value").await?;
    ensure!(
        value.as_deref() == Some(before),
        "the edit box starts with {value:?}, not “{before}”"
    );
    // Ctrl+A selects everything; NULL lets go of Ctrl; the typing replaces it.
    input.send_keys("\u{E009}a\u{E000}").await?;
    input.send_keys(after).await?;
    let value = input.prop("value").await?;
    ensure!(
        value.as_deref() == Some(after),
        "the edit box holds {value:?} after typing"
    );
    input.send_keys("\u{E007}").await?; // Enter
    wait_gone(c, &edit_input(id)).await
}

/// Ensures the menu of row `id` (open) offers the items `present` and not `absent`.
async fn ensure_menu(c: &Client, id: &str, present: &[&str], absent: &[&str]) -> anyhow::Result<()> {
    // The menu always has Reply: wait for it, then the rest is rendered too.
    element(c, &menu_item(id, "action-reply")).await?;
    for class in present {
        ensure!(count(c, &menu_item(id, class)).await? == 1, "the menu has no {class}");
    }
    for class in absent {
        ensure!(count(c, &menu_item(id, class)).await? == 0, "the menu offers {class}");
    }
    Ok(())
}

/// The `title` of the `emoji` chip under row `id`.
async fn chip_title(c: &Client, id: &str, emoji: &str) -> anyhow::Result<String> {
    Ok(element(c, &chip(id, emoji))
        .await?
        .attr("title")
        .await?
        .unwrap_or_default())
}

// ---------------------------------------------------------------------------

#[tokio::test]
async fn edit_delete_react_and_reply_reach_the_other_browser() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob] = register_all(&server, ["act_ann", "act_bob"]).await?;
    let dm = befriend(&ann, &bob).await?.0;
    let url = server.url.clone();

    let ann_browser = Browser::launch().await?;
    let bob_browser = Browser::launch().await?;
    let b = bob_browser.client.clone();
    let outcome = ann_browser
        .run("actions_ann", |a| async move {
            sign_in(&a, &url, "act_ann").await?;
            sign_in(&b, &url, "act_bob").await?;
            open_chat(&a, &url, dm).await?;
            open_chat(&b, &url, dm).await?;

            say(&a, "first draft").await?;
            let id = message_id(&a, "first draft").await?;
            ensure!(
                message_id(&b, "first draft").await? == id,
                "the two browsers disagree on the id"
            );
            ensure!(
                count(&a, &format!("{}[{}]", row(&id), has_class("mine"))).await? == 1,
                "not mine for Ann"
            );
            ensure!(
                count(&b, &format!("{}[{}]", row(&id), has_class("mine"))).await? == 0,
                "mine for Bob"
            );

            // Ann edits it through the menu: all of her own actions are offered.
            open_menu(&a, &id).await?;
            ensure_menu(&a, &id, &["action-edit", "action-delete", "action-copy"], &[]).await?;
            click(&a, &menu_item(&id, "action-edit")).await?;
            element(&a, &format!("{}//button[{}]", row(&id), has_class("edit-save"))).await?;
            element(&a, &format!("{}//button[{}]", row(&id), has_class("edit-cancel"))).await?;
            edit_inline(&a, &id, "first draft", "final text").await?;
            for c in [&a, &b] {
                wait_for(c, &edited_row(&id, "final text")).await?;
                // The edit changed the row; it is not a message of its own.
                ensure_timeline(c, &[&id]).await?;
            }

            // Bob reacts 👍 from the menu, which offers him no edit or delete
            // of Ann's message, and closes once he has picked.
            open_menu(&b, &id).await?;
            ensure_menu(&b, &id, &["action-copy"], &["action-edit", "action-delete"]).await?;
            for emoji in QUICK_REACTIONS {
                ensure!(
                    count(&b, &quick_reaction(&id, emoji)).await? == 1,
                    "no quick reaction {emoji}"
                );
            }
            click(&b, &quick_reaction(&id, THUMBS_UP)).await?;
            wait_gone(&b, &menu(&id)).await?;
            wait_for(&b, &chip_showing(&id, THUMBS_UP, 1, true)).await?;
            wait_for(&a, &chip_showing(&id, THUMBS_UP, 1, false)).await?;
            let title = chip_title(&a, &id, THUMBS_UP).await?;
            ensure!(title.contains("act_bob display"), "chip title {title:?}");

            // Ann adds hers by clicking Bob's chip.
            click(&a, &chip(&id, THUMBS_UP)).await?;
            for c in [&a, &b] {
                wait_for(c, &chip_showing(&id, THUMBS_UP, 2, true)).await?;
                ensure!(count(c, &any_chip(&id)).await? == 1, "more than one chip");
            }
            let title = chip_title(&b, &id, THUMBS_UP).await?;
            ensure!(
                title.contains("act_ann display") && title.contains("act_bob display"),
                "chip title {title:?}"
            );

            // Bob answers Ann's message; the answer quotes it, on both sides.
            menu_action(&b, &id, "action-reply").await?;
            b.wait().at_most(WAIT).for_element(Locator::Id("cancel-reply")).await?;
            say(&b, "agreed").await?;
            let reply = message_id(&b, "agreed").await?;
            ensure!(message_id(&a, "agreed").await? == reply);
            for c in [&a, &b] {
                wait_for(c, &format!("{}[contains(., 'final text')]", quote(&reply))).await?;
            }
            let quoted = element(&a, &quote(&reply)).await?.text().await?;
            ensure!(
                quoted.contains("act_ann display"),
                "the quote names no sender: {quoted:?}"
            );

            // Ann deletes her message: the first time she thinks better of it.
            menu_action(&a, &id, "action-delete").await?;
            element(&a, &menu_item(&id, "delete-confirm")).await?;
            click(&a, &menu_item(&id, "delete-cancel")).await?;
            wait_gone(&a, &format!("{}//button[{}]", row(&id), has_class("delete-confirm"))).await?;
            ensure!(
                count(&a, &row_showing(&id, "final text")).await? == 1,
                "cancelled, yet changed"
            );
            // Cancel may close the menu or go back to its items.
            if count(&a, &menu(&id)).await? == 0 {
                open_menu(&a, &id).await?;
            }
            click(&a, &menu_item(&id, "action-delete")).await?;
            click(&a, &menu_item(&id, "delete-confirm")).await?;
            for c in [&a, &b] {
                wait_for(c, &deleted_row(&id)).await?;
                wait_gone(c, &any_chip(&id)).await?;
                let shown = element(c, &row(&id)).await?.text().await?;
                ensure!(!shown.contains("final text"), "the deleted row still shows {shown:?}");
                // The reply stays, but no longer quotes the erased text.
                wait_for(c, &row_showing(&reply, "agreed")).await?;
                wait_gone(c, &format!("{}[contains(., 'final text')]", quote(&reply))).await?;
                ensure_timeline(c, &[&id, &reply]).await?;
            }
            Ok(())
        })
        .await;
    bob_browser.run("actions_bob", |_| async { outcome }).await
}

#[tokio::test]
async fn up_arrow_in_an_empty_composer_edits_my_last_message() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob] = register_all(&server, ["up_ann", "up_bob"]).await?;
    let dm = befriend(&ann, &bob).await?.0;
    let url = server.url.clone();
    let browser = Browser::launch().await?;
    browser
        .run("up_arrow", |a| async move {
            sign_in(&a, &url, "up_ann").await?;
            open_chat(&a, &url, dm).await?;
            say(&a, "one").await?;
            let one = message_id(&a, "one").await?;
            say(&a, "two").await?;
            let two = message_id(&a, "two").await?;

            // Each message carries its time: machine-readable, and in full on hover.
            for id in [&one, &two] {
                let time = element(&a, &format!("{}//time", row(id))).await?;
                let datetime = time.attr("datetime").await?.unwrap_or_default();
                ensure!(
                    datetime
                        .get(..4)
                        .is_some_and(|year| year.bytes().all(|b| b.is_ascii_digit()))
                        && datetime.contains('T'),
                    "datetime {datetime:?} is not ISO 8601"
                );
                let title = time.attr("title").await?.unwrap_or_default();
                ensure!(!title.trim().is_empty(), "the time has no title");
            }

            let composer = a.find(Locator::Id("composer")).await?;
            let draft = composer.prop("value").await?;
            ensure!(
                draft.as_deref() == Some(""),
                "the composer holds {draft:?} after sending"
            );

            // ArrowUp opens my last message for editing; Escape leaves it as it was.
            composer.send_keys("\u{E013}").await?; // ArrowUp
            let input = element(&a, &edit_input(&two)).await?;
            ensure!(count(&a, &edit_input(&one)).await? == 0, "editing the wrong message");
            input.send_keys("\u{E00C}").await?; // Escape
            wait_gone(&a, &edit_input(&two)).await?;
            wait_for(&a, &row_showing(&two, "two")).await?;
            ensure!(
                count(&a, &format!("{}//span[{}]", row(&two), has_class("edited"))).await? == 0,
                "cancelled, yet marked edited"
            );

            // Again, and this time Enter saves.
            a.find(Locator::Id("composer")).await?.send_keys("\u{E013}").await?;
            edit_inline(&a, &two, "two", "two, corrected").await?;
            wait_for(&a, &edited_row(&two, "two, corrected")).await?;
            ensure!(
                count(&a, &row_showing(&one, "one")).await? == 1,
                "the first message changed"
            );
            ensure!(
                count(&a, &format!("{}//span[{}]", row(&one), has_class("edited"))).await? == 0,
                "the first message is marked edited"
            );
            ensure_timeline(&a, &[&one, &two]).await?;

            // History shows the message as it is now.
            a.refresh().await?;
            a.wait().at_most(WAIT).for_element(Locator::Id("composer")).await?;
            wait_online(&a).await?;
            wait_for(&a, &edited_row(&two, "two, corrected")).await?;
            wait_for(&a, &row_showing(&one, "one")).await?;
            ensure!(
                count(&a, &format!("{}//span[{}]", row(&one), has_class("edited"))).await? == 0,
                "the first message is marked edited after a reload"
            );
            ensure_timeline(&a, &[&one, &two]).await
        })
        .await
}

#[tokio::test]
async fn a_browser_that_was_offline_shows_the_final_state() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob] = register_all(&server, ["off_ann", "off_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let first = ann_ws.post_text(dm, "off-1", "first message").await?;
    let second = ann_ws.post_text(dm, "off-2", "second message").await?;
    let third = ann_ws.post_text(dm, "off-3", "third message").await?;
    let (first_id, second_id, third_id) = (first.id.0.clone(), second.id.0.clone(), third.id.0.clone());
    let url = server.url.clone();
    let browser = Browser::launch().await?;
    browser
        .run("offline_actions", |b| async move {
            sign_in(&b, &url, "off_bob").await?;
            open_chat(&b, &url, dm.0).await?;
            wait_for(&b, &row_showing(&first_id, "first message")).await?;
            wait_for(&b, &row_showing(&second_id, "second message")).await?;
            wait_for(&b, &row_showing(&third_id, "third message")).await?;

            // Bob's browser leaves the app; Ann acts on all three meanwhile.
            b.goto("about:blank").await?;
            ann_ws
                .edit(dm, "off-edit", &first.id, "first message, edited")
                .await?
                .map_err(|code| anyhow!("edit refused: {code:?}"))?;
            ann_ws
                .delete(dm, "off-delete", &second.id)
                .await?
                .map_err(|code| anyhow!("delete refused: {code:?}"))?;
            ann_ws
                .react(dm, "off-react", &third.id, HEART)
                .await?
                .map_err(|code| anyhow!("reaction refused: {code:?}"))?;
            let fourth = ann_ws.post_text(dm, "off-4", "while you were away").await?.id.0;

            // Back (the session cookie still signs him in): everything as it is now.
            open_chat(&b, &url, dm.0).await?;
            wait_for(&b, &row_showing(&fourth, "while you were away")).await?;
            wait_for(&b, &edited_row(&first_id, "first message, edited")).await?;
            wait_for(&b, &deleted_row(&second_id)).await?;
            wait_for(&b, &chip_showing(&third_id, HEART, 1, false)).await?;
            wait_for(&b, &row_showing(&third_id, "third message")).await?;
            let title = chip_title(&b, &third_id, HEART).await?;
            ensure!(title.contains("off_ann display"), "chip title {title:?}");
            ensure!(
                count(
                    &b,
                    &format!(
                        "{}//ul[{}]//button[{}]",
                        any_row(),
                        has_class("reactions"),
                        has_class("reaction-chip")
                    )
                )
                .await?
                    == 1,
                "reaction chips on other messages"
            );
            let timeline = element(&b, &format!("//ol[{}]", has_class("timeline")))
                .await?
                .text()
                .await?;
            ensure!(
                !timeline.contains("second message"),
                "the deleted text is shown: {timeline:?}"
            );
            // Each message exactly once, in order; the changes are not rows of their own.
            ensure_timeline(&b, &[&first_id, &second_id, &third_id, &fourth]).await
        })
        .await
}

#[tokio::test]
async fn a_reply_to_a_message_far_up_loads_history_and_jumps_there() -> anyhow::Result<()> {
    let server = TestServer::with_app_and(&FAST).await?;
    let [ann, bob] = register_all(&server, ["far_ann", "far_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let mut fifth = None;
    for i in 1..=5 {
        fifth = Some(
            ann_ws
                .post_text(dm, &format!("far-{i}"), &format!("message {i}"))
                .await?,
        );
    }
    let fifth = fifth.context("no fifth message")?;
    for i in 6..=299 {
        ann_ws
            .send_text(dm, &format!("far-{i}"), &format!("message {i}"))
            .await?;
    }
    ann_ws.await_acks(294).await?;
    let reply = ann_ws
        .request(&ClientFrame::Send {
            client_msg_id: "far-300".into(),
            conversation_id: dm,
            content: MessageContent::Text {
                text: "about message 5".into(),
            },
            reply_to: Some(fifth.id.clone()),
        })
        .await?
        .map_err(|code| anyhow!("the reply was refused: {code:?}"))?;
    let (reply_id, target) = (reply.id.0.clone(), fifth.seq);
    // Bob has read it all, so the chat opens at the newest message.
    WsClient::connect(&server, &bob.token)
        .await?
        .mark_read(dm, reply.seq)
        .await?;
    let url = server.url.clone();
    let browser = Browser::launch().await?;
    browser
        .run("jump_to_quote", |b| async move {
            sign_in(&b, &url, "far_bob").await?;
            open_chat(&b, &url, dm.0).await?;
            wait_for(&b, &row_showing(&reply_id, "about message 5")).await?;
            ensure!(
                count(&b, &row_at(target)).await? == 0,
                "message 5 is loaded from the start: this test needs it far up"
            );

            click(&b, &quote(&reply_id)).await?;
            // Older pages load until it is there; then it is highlighted...
            b.wait()
                .at_most(Duration::from_secs(60))
                .for_element(Locator::XPath(&format!(
                    "{}[{}]",
                    row_at(target),
                    has_class("highlight")
                )))
                .await
                .context("message 5 was never shown highlighted")?;
            ensure!(count(&b, &row_at(target)).await? == 1, "message 5 is shown twice");
            // Not paged back to: one older page is tried, then a window
            // opened around it by its id (newer pages, `after=`, are the
            // window filling its view afterwards).
            let requests = b
                .execute(
                    "return performance.getEntriesByType('resource').map(e => e.name)
                         .filter(n => /\\/events/.test(n) && !n.includes('after='));",
                    vec![],
                )
                .await?;
            let made = requests.as_array().map_or(0, Vec::len);
            ensure!(made <= 3, "{made} history requests to reach message 5: {requests}");
            wait_for(
                &b,
                &format!("{}[.//{}[normalize-space(.)='message 5']]", row_at(target), text_span()),
            )
            .await?;

            // ...and scrolled into the visible part of the timeline (polled: a
            // smooth scroll may still be under way).
            let script = r#"
                const li = document.querySelector(`ol.timeline li.message[data-seq="${arguments[0]}"]`);
                if (!li) return null;
                const r = li.getBoundingClientRect();
                let top = 0, bottom = window.innerHeight;
                for (let el = li.parentElement; el && el !== document.documentElement; el = el.parentElement) {
                    const overflow = getComputedStyle(el).overflowY;
                    if (el.matches('ol.timeline') || /auto|scroll|hidden/.test(overflow)) {
                        const v = el.getBoundingClientRect();
                        top = Math.max(top, v.top);
                        bottom = Math.min(bottom, v.bottom);
                    }
                }
                return [r.top, r.bottom, top, bottom];
            "#;
            let mut last = serde_json::Value::Null;
            for _ in 0..50 {
                last = b.execute(script, vec![serde_json::json!(target)]).await?;
                let edges: Vec<f64> = last
                    .as_array()
                    .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
                    .unwrap_or_default();
                if let &[li_top, li_bottom, top, bottom] = edges.as_slice() {
                    if li_bottom > li_top && li_top >= top - 1.0 && li_bottom <= bottom + 1.0 {
                        return Ok(());
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            bail!("message 5 is not in view: [li top, li bottom, visible top, visible bottom] = {last}")
        })
        .await
}

#[tokio::test]
async fn the_message_menu_is_reachable_by_keyboard() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob] = register_all(&server, ["kb_ann", "kb_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    let id = bob_ws.post_text(dm, "kb-1", "press a key").await?.id.0;
    let url = server.url.clone();
    let browser = Browser::launch().await?;
    browser
        .run("menu_keyboard", |a| async move {
            sign_in(&a, &url, "kb_ann").await?;
            open_chat(&a, &url, dm.0).await?;
            wait_for(&a, &row_showing(&id, "press a key")).await?;

            let button = element(&a, &menu_button(&id)).await?;
            let label = button.attr("aria-label").await?;
            ensure!(label.as_deref() == Some("Message actions"), "aria-label {label:?}");
            let focused = a
                .execute(
                    "arguments[0].focus(); return document.activeElement === arguments[0];",
                    vec![serde_json::to_value(&button)?],
                )
                .await?;
            ensure!(
                focused == serde_json::Value::Bool(true),
                "the menu button cannot take focus"
            );

            press(&a, Key::Enter).await?;
            wait_for(&a, &format!("{}[@role='menu']", menu(&id))).await?;
            element(&a, &menu_item(&id, "action-reply")).await?;
            press(&a, Key::Escape).await?;
            wait_gone(&a, &format!("//div[{}]", has_class("message-menu"))).await?;
            ensure!(
                count(&a, &row_showing(&id, "press a key")).await? == 1,
                "the message changed"
            );
            Ok(())
        })
        .await
}

#[tokio::test]
async fn group_admins_may_delete_others_messages_but_members_may_not() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob, cat] = register_all(&server, ["grp_ann", "grp_bob", "grp_cat"]).await?;
    befriend(&ann, &bob).await?;
    befriend(&ann, &cat).await?;
    let group = create_group(&ann, "Tidy", &[&bob, &cat]).await?.id;
    let mut cat_ws = WsClient::connect(&server, &cat.token).await?;
    let cats = cat_ws.post_text(group, "grp-cat", "cat was here").await?.id.0;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    let bobs = bob_ws.post_text(group, "grp-bob", "bob was here").await?.id.0;
    let url = server.url.clone();

    let ann_browser = Browser::launch().await?;
    let bob_browser = Browser::launch().await?;
    let b = bob_browser.client.clone();
    let outcome = ann_browser
        .run("group_delete_ann", |a| async move {
            sign_in(&a, &url, "grp_ann").await?;
            sign_in(&b, &url, "grp_bob").await?;
            open_chat(&a, &url, group.0).await?;
            open_chat(&b, &url, group.0).await?;
            for c in [&a, &b] {
                wait_for(c, &row_showing(&cats, "cat was here")).await?;
                wait_for(c, &row_showing(&bobs, "bob was here")).await?;
            }

            // Bob, a member: Cat's message is not his to delete (or edit)...
            open_menu(&b, &cats).await?;
            ensure_menu(&b, &cats, &[], &["action-delete", "action-edit"]).await?;
            escape_menu(&b, &cats).await?;
            // ...his own is.
            open_menu(&b, &bobs).await?;
            ensure_menu(&b, &bobs, &["action-delete", "action-edit"], &[]).await?;
            escape_menu(&b, &bobs).await?;

            // Ann, the owner, may delete Cat's message (but not edit it).
            open_menu(&a, &cats).await?;
            ensure_menu(&a, &cats, &["action-delete"], &["action-edit"]).await?;
            click(&a, &menu_item(&cats, "action-delete")).await?;
            click(&a, &menu_item(&cats, "delete-confirm")).await?;
            for c in [&a, &b] {
                wait_for(c, &deleted_row(&cats)).await?;
                ensure!(
                    count(c, &row_showing(&bobs, "bob was here")).await? == 1,
                    "Bob's message changed"
                );
                ensure!(
                    count(c, &format!("{}[{}]", row(&bobs), has_class("deleted"))).await? == 0,
                    "Bob's message is deleted"
                );
            }
            Ok(())
        })
        .await;
    bob_browser.run("group_delete_bob", |_| async { outcome }).await
}
