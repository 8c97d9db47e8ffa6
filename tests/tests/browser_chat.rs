//! Chatting in the real app, two browsers at once: live delivery both ways,
//! hostile text shown as text, and a server restart mid-conversation that
//! both sides ride out without losing or doubling a message.

use std::time::Duration;

use fantoccini::{Client, Locator};
use natter_tests::{
    api::{befriend, create_group, register_all},
    browser::{long_press, open_chat, say, sign_in, wait_for, wait_online, xpath_literal},
    Browser, TestServer,
};

const XSS: &str = "<img src=x onerror=alert(1)>";

/// Waits until a sent (acknowledged) or received message shows `text`.
async fn wait_for_message(c: &Client, text: &str) -> anyhow::Result<()> {
    let xpath = format!(
        "//li[contains(@class,'message')][not(contains(@class,'pending'))]/span[@class='text'][normalize-space(.)={}]",
        xpath_literal(text)
    );
    wait_for(c, &xpath).await
}

/// The texts of all messages in the timeline, in order.
async fn messages(c: &Client) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for li in c.find_all(Locator::Css("ol.timeline li.message .text")).await? {
        out.push(li.text().await?);
    }
    Ok(out)
}

/// Waits until my message `text` carries the read receipt `receipt`.
async fn wait_for_receipt(c: &Client, text: &str, receipt: &str) -> anyhow::Result<()> {
    let xpath = format!(
        "//li[contains(@class,'mine')][span[@class='text'][normalize-space(.)={}]]/span[contains(@class,'receipt')][normalize-space(.)={}]",
        xpath_literal(text),
        xpath_literal(receipt)
    );
    wait_for(c, &xpath).await
}

#[tokio::test]
async fn two_users_chat_live_and_survive_a_server_restart() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob] = register_all(&server, ["chat_ann", "chat_bob"]).await?;
    let dm = befriend(&ann, &bob).await?.0;
    let url = server.url.clone();

    let ann_browser = Browser::launch().await?;
    let bob_browser = Browser::launch().await?;
    let b = bob_browser.client.clone();
    let mut server = Some(server);
    let server_slot = &mut server;
    let outcome = ann_browser
        .run("chat_ann", |a| async move {
            sign_in(&a, &url, "chat_ann").await?;
            sign_in(&b, &url, "chat_bob").await?;
            open_chat(&a, &url, dm).await?;
            open_chat(&b, &url, dm).await?;

            say(&a, "hello bob").await?;
            wait_for_message(&b, "hello bob").await?;
            say(&b, "hi ann ☺").await?;
            wait_for_message(&a, "hi ann ☺").await?;
            // Bob has the chat open, so Ann's message shows as seen.
            wait_for_receipt(&a, "hello bob", "Seen").await?;

            // Bob answers Ann's first message (its menu by a long-press:
            // headless Chromium has no hover, as a phone); the answer
            // carries its quote.
            let first = b
                .find(Locator::XPath("//li[contains(@class,'message')][span[@class='text'][normalize-space(.)='hello bob']]"))
                .await?;
            long_press(&b, &first).await?;
            b.wait().for_element(Locator::Css("div.message-menu button.action-reply")).await?.click().await?;
            b.wait().for_element(Locator::Id("cancel-reply")).await?;
            say(&b, "an answer").await?;
            wait_for_message(&a, "an answer").await?;
            a.wait()
                .for_element(Locator::XPath("//li[contains(@class,'message')][span[@class='text'][normalize-space(.)='an answer']]/button[contains(@class,'quote')][contains(.,'hello bob')]"))
                .await?;

            // Hostile text arrives as text, not markup.
            say(&a, XSS).await?;
            wait_for_message(&b, XSS).await?;
            anyhow::ensure!(
                b.find_all(Locator::Css("ol.timeline img")).await?.is_empty(),
                "markup was rendered"
            );
            say(&a, "see https://example.com/page.").await?;
            let link = b
                .wait()
                .for_element(Locator::Css("ol.timeline a[href='https://example.com/page']"))
                .await?;
            anyhow::ensure!(link.attr("rel").await?.as_deref() == Some("noopener noreferrer"));

            // The server goes down; Ann writes while it is away.
            let running = server_slot.as_mut().expect("server");
            running.stop().await?;
            wait_for(&a, "//*[@id='connection-state'][starts-with(normalize-space(.),'Offline')]").await?;
            say(&a, "written while the server was down").await?;
            a.wait().for_element(Locator::Css("li.message.pending")).await?;
            *server_slot = Some(running.start_again().await?);

            // Both reconnect; the queued message goes through once; talk resumes.
            wait_online(&a).await?;
            wait_online(&b).await?;
            wait_for_message(&b, "written while the server was down").await?;
            say(&b, "welcome back").await?;
            wait_for_message(&a, "welcome back").await?;

            let expected = [
                "hello bob",
                "hi ann ☺",
                "an answer",
                XSS,
                "see https://example.com/page.",
                "written while the server was down",
                "welcome back",
            ];
            for client in [&a, &b] {
                anyhow::ensure!(
                    messages(client).await? == expected,
                    "timeline: {:?}",
                    messages(client).await?
                );
            }
            Ok(())
        })
        .await;
    bob_browser.run("chat_bob", |_| async { outcome }).await
}

#[tokio::test]
async fn three_people_talk_in_a_group() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob, cat] = register_all(&server, ["trio_ann", "trio_bob", "trio_cat"]).await?;
    befriend(&ann, &bob).await?;
    befriend(&ann, &cat).await?;
    let group = create_group(&ann, "Trio", &[&bob, &cat]).await?.id.0;
    let url = server.url.clone();

    let ann_browser = Browser::launch().await?;
    let bob_browser = Browser::launch().await?;
    let cat_browser = Browser::launch().await?;
    let (b, c) = (bob_browser.client.clone(), cat_browser.client.clone());
    let outcome = ann_browser
        .run("trio_ann", |a| async move {
            for (client, name) in [(&a, "trio_ann"), (&b, "trio_bob"), (&c, "trio_cat")] {
                sign_in(client, &url, name).await?;
                open_chat(client, &url, group).await?;
            }
            say(&a, "hello group").await?;
            wait_for_message(&b, "hello group").await?;
            wait_for_message(&c, "hello group").await?;
            say(&b, "bob here").await?;
            wait_for_message(&a, "bob here").await?;
            wait_for_message(&c, "bob here").await?;
            say(&c, "cat too").await?;
            for client in [&a, &b, &c] {
                wait_for_message(client, "cat too").await?;
            }
            // Both others have the chat open: Ann's message is seen by two.
            wait_for_receipt(&a, "hello group", "Seen by 2").await?;

            // Everyone sees one timeline, in one order, with who said what.
            let expected = ["hello group", "bob here", "cat too"];
            for client in [&a, &b, &c] {
                anyhow::ensure!(messages(client).await? == expected, "{:?}", messages(client).await?);
            }
            let sender = c
                .find(Locator::XPath(
                    "//li[contains(@class,'message')][span[@class='text'][normalize-space(.)='bob here']]/span[@class='sender']",
                ))
                .await?;
            anyhow::ensure!(sender.text().await?.contains("trio_bob display"));
            let avatar = sender.find(Locator::Css(".avatar")).await?;
            anyhow::ensure!(avatar.text().await? == "TD", "initials of “trio_bob display”");
            Ok(())
        })
        .await;
    let outcome = bob_browser.run("trio_bob", |_| async { outcome }).await;
    cat_browser.run("trio_cat", |_| async { outcome }).await
}

#[tokio::test]
async fn an_image_a_sticker_and_an_emoji_reach_the_other_side() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob] = register_all(&server, ["pic_ann", "pic_bob"]).await?;
    let dm = befriend(&ann, &bob).await?.0;
    let url = server.url.clone();
    let picture = tempfile::Builder::new().suffix(".png").tempfile()?;
    image::DynamicImage::new_rgb8(800, 400).save_with_format(picture.path(), image::ImageFormat::Png)?;
    let path = picture.path().to_str().unwrap_or_default().to_owned();

    let ann_browser = Browser::launch().await?;
    let bob_browser = Browser::launch().await?;
    let b = bob_browser.client.clone();
    let outcome = ann_browser
        .run("pic_ann", |a| async move {
            sign_in(&a, &url, "pic_ann").await?;
            sign_in(&b, &url, "pic_bob").await?;
            open_chat(&a, &url, dm).await?;
            open_chat(&b, &url, dm).await?;

            // Attach through the file dialog's input, and send the preview.
            a.find(Locator::Id("attach-input")).await?.send_keys(&path).await?;
            a.wait()
                .for_element(Locator::Id("send-attachment"))
                .await?
                .click()
                .await?;
            let thumb = b
                .wait()
                .at_most(Duration::from_secs(40))
                .for_element(Locator::Css("ol.timeline img.thumb"))
                .await?;
            // The thumbnail has loaded (a broken image has no natural width) and opens its image.
            // Polls the image's own load state, bounded.
            let mut width = serde_json::Value::Null;
            for _ in 0..100 {
                width = b
                    .execute("return arguments[0].naturalWidth", vec![serde_json::to_value(&thumb)?])
                    .await?;
                if width.as_u64().unwrap_or(0) > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            anyhow::ensure!(width.as_u64() == Some(320), "thumbnail width {width}");
            let media = b
                .find(Locator::Css("ol.timeline button.image-link"))
                .await?
                .attr("data-media")
                .await?;
            anyhow::ensure!(media.as_deref().is_some_and(|m| !m.is_empty()), "{media:?}");

            a.find(Locator::Id("sticker-button")).await?.click().await?;
            a.wait()
                .for_element(Locator::Css("button.sticker-choice[data-sticker='cat']"))
                .await?
                .click()
                .await?;
            b.wait()
                .for_element(Locator::Css("ol.timeline img.sticker[src='/stickers/cat.svg']"))
                .await?;
            Ok(())
        })
        .await;
    bob_browser.run("pic_bob", |_| async { outcome }).await
}

#[tokio::test]
async fn an_offline_user_sees_what_they_missed_in_order() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob] = register_all(&server, ["miss_ann", "miss_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    // Ann writes while Bob has no browser open at all.
    let mut ann_ws = natter_tests::ws::WsClient::connect(&server, &ann.token).await?;
    let missed: Vec<String> = (1..=12).map(|i| format!("missed message {i}")).collect();
    for (i, text) in missed.iter().enumerate() {
        ann_ws.send_and_ack(dm, &format!("miss-{i}"), text).await?;
    }
    let url = server.url.clone();
    let browser = Browser::launch().await?;
    browser
        .run("offline_bob", |b| async move {
            sign_in(&b, &url, "miss_bob").await?;
            // The sidebar shows the unread count before the chat is opened.
            b.wait()
                .for_element(Locator::XPath(
                    "//a[contains(@class,'conversation-link')]//span[@class='badge'][normalize-space(.)='12']",
                ))
                .await?;
            open_chat(&b, &url, dm.0).await?;
            wait_for_message(&b, "missed message 12").await?;
            // One day separator above today's messages, and the sidebar preview.
            let separators = b
                .find_all(Locator::XPath(
                    "//li[@class='day-separator'][normalize-space(.)='Today']",
                ))
                .await?;
            anyhow::ensure!(separators.len() == 1, "{} day separators", separators.len());
            b.find(Locator::XPath(
                "//span[@class='preview'][normalize-space(.)='missed message 12']",
            ))
            .await?;
            anyhow::ensure!(messages(&b).await? == missed, "timeline: {:?}", messages(&b).await?);
            Ok(())
        })
        .await
}

#[tokio::test]
async fn the_layout_fits_a_375_pixel_phone_without_sideways_scrolling() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob] = register_all(&server, ["narrow_ann", "narrow_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut ann_ws = natter_tests::ws::WsClient::connect(&server, &ann.token).await?;
    let long_word = "W".repeat(300);
    ann_ws
        .send_and_ack(
            dm,
            "wide",
            &format!("a very long word: {long_word} and https://example.com/{long_word}"),
        )
        .await?;
    let url = server.url.clone();
    let browser = Browser::launch().await?;
    browser
        .run("narrow", |b| async move {
            b.set_window_size(375, 800).await?;
            let fits = || async {
                let widths = b
                    .execute(
                        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]",
                        vec![],
                    )
                    .await?;
                let (scroll, client) = (widths[0].as_u64().unwrap_or(0), widths[1].as_u64().unwrap_or(0));
                anyhow::ensure!(
                    client > 0 && scroll <= client,
                    "page is {scroll} px wide in a {client} px viewport"
                );
                anyhow::Ok(())
            };
            b.goto(&format!("{url}login")).await?;
            b.wait().for_element(Locator::Id("login-title")).await?;
            fits().await?;
            sign_in(&b, &url, "narrow_bob").await?;
            fits().await?;
            open_chat(&b, &url, dm.0).await?;
            wait_for_message(
                &b,
                &format!("a very long word: {long_word} and https://example.com/{long_word}"),
            )
            .await?;
            fits().await?;
            b.goto(&format!("{url}contacts")).await?;
            b.wait().for_element(Locator::Id("contact-search")).await?;
            fits().await
        })
        .await
}
