//! The "⋯" button of each message on a 375×812 phone, where nothing hovers
//! (`hover: none`, which headless Chromium matches too): at rest it is
//! unseen and untouchable on every message (opacity 0, over none of the
//! bubbles above), not greyed on all of them over the bubble above; a
//! long-press on a bubble opens the menu and shows the button, and a tap
//! on the button closes the menu; the keyboard's focus shows it too.
//! Shown, it is at least 44 px square, beside its own bubble, and nothing
//! moves.
//!
//! The touches are WebDriver touch pointer actions, which chromedriver
//! turns into the touch and pointer events a finger makes.

use std::time::Duration;

use anyhow::{ensure, Context};
use fantoccini::{key::Key, Client, Locator};
use natter_tests::{
    api::{befriend, register_all},
    browser::{frames, open_chat, press, set_viewport, sign_in, touch, wait_for, wait_js},
    ws::WsClient,
    Browser, TestServer, FAST,
};
use serde::Deserialize;

/// One message row as the page lays it out: its box, its "⋯" button's box
/// and computed opacity, and the box of the message row before it.
#[derive(Debug, Deserialize)]
struct Row {
    id: String,
    row: [f64; 4],
    button: [f64; 4],
    opacity: f64,
    /// A tap on the button's middle would reach it.
    tappable: bool,
    previous: Option<[f64; 4]>,
}

/// Every message row of the open timeline, in order. Boxes are
/// `[left, top, right, bottom]` in CSS pixels.
async fn rows(c: &Client) -> anyhow::Result<Vec<Row>> {
    let value = c
        .execute(
            "const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
             const rows = [...document.querySelectorAll('ol.timeline li.message')];
             return rows.filter((li) => li.querySelector(':scope > .message-menu-button')).map((li) => {
               const button = li.querySelector(':scope > .message-menu-button');
               const previous = li.previousElementSibling;
               return {
                 id: li.dataset.id,
                 row: box(li),
                 button: box(button),
                 opacity: parseFloat(getComputedStyle(button).opacity),
                 tappable: document.elementFromPoint((box(button)[0] + box(button)[2]) / 2, (box(button)[1] + box(button)[3]) / 2) === button,
                 previous: previous && previous.matches('li.message') ? box(previous) : null,
               };
             });",
            vec![],
        )
        .await?;
    serde_json::from_value(value).context("reading the rows' layout")
}

/// Whether two boxes share any area (touching edges do not count).
fn overlap(a: [f64; 4], b: [f64; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

/// The row of message `id`, as laid out now.
async fn row(c: &Client, id: &str) -> anyhow::Result<Row> {
    rows(c)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .with_context(|| format!("no row {id}"))
}

/// Waits until the "⋯" button of message `id` has finished showing.
async fn wait_shown(c: &Client, id: &str) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("the menu button of {id} showing"),
        "const b = document.querySelector(`li.message[data-id=\"${arguments[0]}\"] > .message-menu-button`);
         const o = b && getComputedStyle(b).opacity;
         return o === '1' || `opacity ${o}`;",
        vec![serde_json::json!(id)],
    )
    .await
}

/// The button of a row that shows it: a finger-sized target beside its own
/// bubble, over none of the one above, and the row where it was.
fn ensure_shown_well(shown: &Row, at_rest: &Row) -> anyhow::Result<()> {
    ensure!(shown.tappable, "the shown menu button of {} takes no taps", shown.id);
    let [left, top, right, bottom] = shown.button;
    ensure!(
        right - left >= 44.0 && bottom - top >= 44.0,
        "the shown button of {} is {}×{} px, under 44 px",
        shown.id,
        right - left,
        bottom - top
    );
    if let Some(previous) = shown.previous {
        ensure!(
            !overlap(shown.button, previous),
            "the shown button of {} {:?} covers the bubble above {previous:?}",
            shown.id,
            shown.button
        );
    }
    ensure!(
        shown.row == at_rest.row,
        "the row of {} moved when its button showed: {:?} → {:?}",
        shown.id,
        at_rest.row,
        shown.row
    );
    Ok(())
}

#[tokio::test]
async fn the_message_menu_button_hides_on_a_phone_until_a_long_press_or_focus() -> anyhow::Result<()> {
    let server = TestServer::with_app_and(&FAST).await?;
    let [ann, bob] = register_all(&server, ["phone_menu_ann", "phone_menu_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    // Short bubbles close together (runs by one sender sit closest), both
    // sides, and one that wraps.
    let mut ids = Vec::new();
    for (i, (from_ann, text)) in [
        (true, "hi"),
        (false, "hey"),
        (true, "how are you?"),
        (true, "still there?"),
        (false, "yes"),
        (
            false,
            "a longer message that wraps over two lines or more on a phone, as long ones do",
        ),
        (true, "ok"),
        (true, "👍"),
    ]
    .into_iter()
    .enumerate()
    {
        let ws = if from_ann { &mut ann_ws } else { &mut bob_ws };
        ids.push(ws.post_text(dm, &format!("pm-{i}"), text).await?.id.0);
    }

    let url = server.url.clone();
    let ids = &ids;
    Browser::launch()
        .await?
        .run("message_menu_phone", |b| async move {
            set_viewport(&b, 375, 812).await?;
            sign_in(&b, &url, "phone_menu_bob").await?;
            open_chat(&b, &url, dm.0).await?;
            wait_for(&b, &format!("//li[@data-id='{}']", ids[ids.len() - 1])).await?;
            ensure!(
                b.execute("return matchMedia('(hover: none)').matches", vec![]).await? == true,
                "this browser can hover: the test would not be of a phone"
            );
            frames(&b, 3).await?;

            // At rest: unseen on every message, over none of the bubbles above.
            let at_rest = rows(&b).await?;
            ensure!(
                at_rest.len() == ids.len(),
                "{} rows with a menu button, expected {}",
                at_rest.len(),
                ids.len()
            );
            for row in &at_rest {
                ensure!(
                    row.opacity == 0.0,
                    "the menu button of {} shows at rest (opacity {})",
                    row.id,
                    row.opacity
                );
                ensure!(!row.tappable, "the unseen menu button of {} takes taps", row.id);
                if let Some(previous) = row.previous {
                    ensure!(
                        !overlap(row.button, previous),
                        "the menu button of {} {:?} lies over the bubble above {previous:?}",
                        row.id,
                        row.button
                    );
                }
            }

            // A long-press on a bubble (Ann's second in a row, the tightest
            // spot) opens its menu; its button shows, and no other does.
            let pressed = &ids[3];
            let before = at_rest.iter().find(|r| &r.id == pressed).context("pressed row")?;
            let [left, top, right, bottom] = before.row;
            touch(
                &b,
                ((left + right) / 2.0, (top + bottom) / 2.0),
                Duration::from_millis(1000),
            )
            .await?;
            wait_for(
                &b,
                &format!("//li[@data-id='{pressed}']//div[contains(@class,'message-menu')][@role='menu']"),
            )
            .await?;
            wait_shown(&b, pressed).await?;
            ensure_shown_well(&row(&b, pressed).await?, before)?;
            for other in rows(&b).await?.iter().filter(|r| &r.id != pressed) {
                ensure!(other.opacity == 0.0, "the menu button of {} shows too", other.id);
            }
            // A tap on the button, seen beside the bubble, closes the menu.
            let [left, top, right, bottom] = row(&b, pressed).await?.button;
            touch(
                &b,
                ((left + right) / 2.0, (top + bottom) / 2.0),
                Duration::from_millis(50),
            )
            .await?;
            wait_js(
                &b,
                "the menu closed and its button unseen again",
                "const b = document.querySelector(`li.message[data-id=\"${arguments[0]}\"] > .message-menu-button`);
                 return !document.querySelector('.message-menu') && getComputedStyle(b).opacity === '0';",
                vec![serde_json::json!(pressed)],
            )
            .await?;

            // The keyboard: Tab from the button before lands on Bob's "yes",
            // whose button shows while it has the focus.
            let focused = &ids[4];
            let before = at_rest.iter().find(|r| &r.id == focused).context("focused row")?;
            b.execute(
                "document.querySelector(`li.message[data-id=\"${arguments[0]}\"] > .message-menu-button`).focus()",
                vec![serde_json::json!(ids[3])],
            )
            .await?;
            press(&b, Key::Tab).await?;
            let active = b
                .execute(
                    "const a = document.activeElement;
                     return a.matches('.message-menu-button:focus-visible') && a.closest('li.message').dataset.id;",
                    vec![],
                )
                .await?;
            ensure!(
                active == serde_json::json!(focused),
                "Tab did not bring the keyboard's focus to the menu button of {focused}: {active}"
            );
            wait_shown(&b, focused).await?;
            ensure_shown_well(&row(&b, focused).await?, before)?;
            press(&b, Key::Enter).await?;
            wait_for(
                &b,
                &format!("//li[@data-id='{focused}']//div[contains(@class,'message-menu')][@role='menu']"),
            )
            .await?;
            ensure!(
                b.find_all(Locator::Css(".message-menu")).await?.len() == 1,
                "more than one menu open"
            );
            Ok(())
        })
        .await
}
