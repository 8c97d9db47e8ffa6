//! The emoji picker in the real app: its data is not in the wasm but a
//! static `emoji-data.json` served with the app, fetched the first time a
//! picker opens and kept for the session.

use fantoccini::{Client, Locator};
use natter_tests::{
    api::{befriend, register_all},
    browser::{open_chat, say, sign_in, wait_for},
    Browser, TestServer,
};

/// The picker's button for `emoji`, once it is there.
async fn choice(c: &Client, emoji: &str) -> anyhow::Result<fantoccini::elements::Element> {
    Ok(c.wait()
        .for_element(Locator::Css(&format!(
            ".emoji-picker .emoji-grid:not(.recent) button.emoji-choice[data-emoji='{emoji}']"
        )))
        .await?)
}

/// How many times this page has fetched the emoji data.
async fn data_fetches(c: &Client) -> anyhow::Result<u64> {
    let n = c
        .execute(
            "return performance.getEntriesByType('resource').filter(e => e.name.endsWith('/emoji-data.json')).length",
            vec![],
        )
        .await?;
    Ok(n.as_u64().unwrap_or(0))
}

#[tokio::test]
async fn the_emoji_picker_loads_its_data_once_and_its_choice_reaches_the_other_side() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob] = register_all(&server, ["emo_ann", "emo_bob"]).await?;
    let dm = befriend(&ann, &bob).await?.0;
    let url = server.url.clone();

    // The data is served with the app as JSON.
    let response = reqwest::get(format!("{url}emoji-data.json")).await?;
    anyhow::ensure!(response.status() == 200, "emoji-data.json: {}", response.status());
    let data: serde_json::Value = response.json().await?;
    anyhow::ensure!(
        data["emoji"].as_array().is_some_and(|list| list.len() > 1800),
        "emoji-data.json has no emoji list"
    );

    // …and precompressed, like the app's other files.
    let compressed = reqwest::Client::new()
        .get(format!("{url}emoji-data.json"))
        .header(reqwest::header::ACCEPT_ENCODING, "gzip, br")
        .send()
        .await?;
    anyhow::ensure!(
        compressed
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .is_some_and(|v| v == "br"),
        "emoji-data.json not sent as brotli: {:?}",
        compressed.headers()
    );

    let ann_browser = Browser::launch().await?;
    let bob_browser = Browser::launch().await?;
    let b = bob_browser.client.clone();
    let outcome = ann_browser
        .run("emo_ann", |a| async move {
            sign_in(&a, &url, "emo_ann").await?;
            sign_in(&b, &url, "emo_bob").await?;
            open_chat(&a, &url, dm).await?;
            open_chat(&b, &url, dm).await?;
            anyhow::ensure!(
                data_fetches(&a).await? == 0,
                "emoji data fetched before the picker opened"
            );

            // First open: the first group, then search by name and by shortcode.
            a.find(Locator::Id("emoji-button")).await?.click().await?;
            choice(&a, "😀").await?;
            a.find(Locator::Id("emoji-search"))
                .await?
                .send_keys("with sweat")
                .await?;
            choice(&a, "😅").await?;
            a.find(Locator::Id("emoji-search")).await?.clear().await?;
            a.find(Locator::Id("emoji-search"))
                .await?
                .send_keys("sweat_smile")
                .await?;
            choice(&a, "😅").await?.click().await?;
            say(&a, " picked").await?;
            wait_for(
                &b,
                "//ol[contains(@class,'timeline')]//span[@class='text'][normalize-space(.)='😅 picked']",
            )
            .await?;

            // Skin tones apply to the emoji that have them.
            a.find(Locator::Id("emoji-search")).await?.clear().await?;
            a.find(Locator::Css("#emoji-tone option[value='5']"))
                .await?
                .click()
                .await?;
            a.find(Locator::Css("button.emoji-group[aria-label='People and body']"))
                .await?
                .click()
                .await?;
            choice(&a, "👋🏿").await?;
            // Recently used remembers the pick.
            a.find(Locator::Css(".emoji-grid.recent button.emoji-choice[data-emoji='😅']"))
                .await?;

            // Closed and opened again, the picker has its data at once, without a second fetch.
            a.find(Locator::Id("emoji-button")).await?.click().await?;
            a.find(Locator::Id("emoji-button")).await?.click().await?;
            choice(&a, "😀").await?;
            anyhow::ensure!(
                a.find_all(Locator::Css(".emoji-picker .emoji-status"))
                    .await?
                    .is_empty(),
                "the reopened picker is loading again"
            );
            let fetches = data_fetches(&a).await?;
            anyhow::ensure!(fetches == 1, "emoji data fetched {fetches} times");
            Ok(())
        })
        .await;
    bob_browser.run("emo_bob", |_| async { outcome }).await
}
