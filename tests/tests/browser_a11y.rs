//! axe-core on the pages people use most — the login page, a chat in light
//! and in dark mode (with reactions, an edit, a reply and the message menu
//! open), and a group's page — finds no serious or critical violation.

use fantoccini::{Client, Locator};
use natter_common::{events::MessageContent, frames::ClientFrame};
use natter_tests::{
    api::{befriend, create_group, register_all},
    browser::{accessibility_violations, long_press, open_chat, sign_in},
    ws::WsClient,
    Browser, TestServer,
};

async fn expect_accessible(c: &Client, page: &str) -> anyhow::Result<()> {
    let violations = accessibility_violations(c).await?;
    anyhow::ensure!(violations.is_empty(), "{page}: {violations:#?}");
    Ok(())
}

/// Whether the page is in its dark colour scheme.
async fn dark(c: &Client) -> anyhow::Result<bool> {
    let dark = c
        .execute("return matchMedia('(prefers-color-scheme: dark)').matches", vec![])
        .await?;
    Ok(dark.as_bool().unwrap_or(false))
}

#[tokio::test]
async fn the_main_pages_have_no_serious_accessibility_violations() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob, cat] = register_all(&server, ["axe_ann", "axe_bob", "axe_cat"]).await?;
    let dm = befriend(&ann, &bob).await?;
    befriend(&ann, &cat).await?;
    let group = create_group(&ann, "Accessible", &[&bob, &cat]).await?;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let first = bob_ws.post_text(dm, "a1", "Hello, is this readable?").await?;
    let mine = ann_ws.post_text(dm, "a2", "Yes, in both themes").await?;
    ann_ws
        .edit(dm, "a3", &mine.id, "Yes, in both colour themes")
        .await?
        .ok();
    ann_ws.react(dm, "a4", &first.id, "👍").await?.ok();
    ann_ws
        .request(&ClientFrame::Send {
            client_msg_id: "a5".into(),
            conversation_id: dm,
            content: MessageContent::Text {
                text: "an answer".into(),
            },
            reply_to: Some(first.id.clone()),
        })
        .await?
        .ok();
    bob_ws.post_text(group.id, "a6", "in the group").await?;
    let url = server.url.clone();

    for (browser, scheme) in [
        (Browser::launch().await?, "light"),
        (Browser::launch_dark().await?, "dark"),
    ] {
        let url = url.clone();
        let first_id = first.id.0.clone();
        browser
            .run(&format!("a11y_{scheme}"), |c| async move {
                c.goto(&format!("{url}login")).await?;
                c.wait().for_element(Locator::Id("username")).await?;
                anyhow::ensure!(dark(&c).await? == (scheme == "dark"), "not in the {scheme} scheme");
                expect_accessible(&c, &format!("login ({scheme})")).await?;

                sign_in(&c, &url, "axe_ann").await?;
                open_chat(&c, &url, dm.0).await?;
                c.wait().for_element(Locator::Css(".reaction-chip")).await?;
                expect_accessible(&c, &format!("chat ({scheme})")).await?;

                // A long-press opens the menu: headless Chromium has no
                // hover, as a phone, so the "⋯" button stays unseen until then.
                let first = c.find(Locator::Css(&format!("li[data-id='{first_id}']"))).await?;
                long_press(&c, &first).await?;
                c.wait().for_element(Locator::Css(".message-menu")).await?;
                expect_accessible(&c, &format!("chat with a message menu open ({scheme})")).await?;

                c.goto(&format!("{url}groups/{}", group.id.0)).await?;
                c.wait().for_element(Locator::Id("group-title")).await?;
                expect_accessible(&c, &format!("group page ({scheme})")).await?;
                Ok(())
            })
            .await?;
    }
    Ok(())
}
