//! Names in a group bigger than a page of members (100): senders past the
//! first page are shown by name, not "user N", each looked up once a
//! session (`GET /api/v1/users/{id}`), however often the chat is opened
//! again, and someone new to the chat who writes live gets their name too.

use anyhow::ensure;
use fantoccini::{Client, Locator};
use natter_common::ids::ConversationId;
use natter_tests::{
    api::everyone_group_with_app,
    browser::{click, fetched, set_viewport, sign_in_with, wait_for, wait_js, FETCH_LOG_JS},
    server::ProvisionedUser,
    ws::WsClient,
    Browser, TestServer,
};
use serde_json::json;

/// Provisioned accounts' password (backend/src/admin.rs).
const PROVISIONED_PASSWORD: &str = "load-test-password";

/// Waits until a message of `username` shows its sender's name (the
/// sender line's own text, beside the avatar's initials).
async fn sender_named(c: &Client, username: &str) -> anyhow::Result<()> {
    wait_for(
        c,
        &format!("//ol[contains(@class,'timeline')]//li[@data-seq]//span[@class='sender'][normalize-space(text())='{username}']"),
    )
    .await
}

/// No sender in the timeline is shown as "user N".
async fn nobody_unnamed(c: &Client) -> anyhow::Result<()> {
    let unnamed = c
        .execute(
            "return [...document.querySelectorAll('ol.timeline .sender')].map(e => [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim()).filter(t => t.startsWith('user '));",
            vec![],
        )
        .await?;
    ensure!(unnamed == json!([]), "senders without a name: {unnamed}");
    Ok(())
}

/// How many times the page asked for user `id`.
async fn lookups(c: &Client, id: i64) -> anyhow::Result<usize> {
    let wanted = format!("GET /api/v1/users/{id}");
    Ok(fetched(c).await?.iter().filter(|r| **r == wanted).count())
}

async fn say_as(server: &TestServer, user: &ProvisionedUser, group: ConversationId, text: &str) -> anyhow::Result<()> {
    let mut ws = WsClient::connect(server, &user.token).await?;
    ws.post_text(group, &format!("{}-{text}", user.username), text).await?;
    ws.close().await
}

#[tokio::test]
async fn senders_past_the_first_page_of_members_are_named_and_looked_up_once() -> anyhow::Result<()> {
    let (server, provisioned, owner, group) = everyone_group_with_app("named", 150).await?;
    let gid = group.id;

    // Members are listed by user id: these are past the first 100.
    let (late, later, live) = (
        &provisioned.users[149],
        &provisioned.users[120],
        &provisioned.users[130],
    );
    let first_page: Vec<i64> = owner
        .get_json::<natter_common::api::Page<natter_common::api::Member>>(&format!(
            "api/v1/groups/{}/members?limit=100",
            gid.0
        ))
        .await?
        .items
        .iter()
        .map(|m| m.user.id.0)
        .collect();
    for user in [late, later, live] {
        ensure!(!first_page.contains(&user.id), "{} is on the first page", user.username);
    }
    say_as(&server, late, gid, "hello from the end").await?;
    say_as(&server, &provisioned.users[5], gid, "hello from the start").await?;
    say_as(&server, later, gid, "hello from further on").await?;

    let url = server.url.clone();
    let early = provisioned.users[5].id;
    let server = &server;
    let browser = Browser::launch().await?;
    let cdp = browser.cdp();
    browser
        .run("group_names", |c| async move {
            set_viewport(&c, 1280, 900).await?;
            cdp.before_load(&c, FETCH_LOG_JS).await?;
            sign_in_with(&c, &url, "named0", PROVISIONED_PASSWORD).await?;
            c.goto(&format!("{url}c/{}", gid.0)).await?;
            c.wait().for_element(Locator::Id("composer")).await?;
            sender_named(&c, &late.username).await?;
            sender_named(&c, "named5").await?;
            sender_named(&c, &later.username).await?;
            nobody_unnamed(&c).await?;
            ensure!(
                lookups(&c, late.id).await? == 1,
                "named149 looked up {} times",
                lookups(&c, late.id).await?
            );
            ensure!(
                lookups(&c, later.id).await? == 1,
                "named120 looked up {} times",
                lookups(&c, later.id).await?
            );
            // On the first page: known from the members list.
            ensure!(lookups(&c, early).await? == 0, "named5 looked up");

            // To the group's page and back: the names are still known.
            click(&c, Locator::Id("group-info")).await?;
            wait_for(&c, "//h2[@id='group-title'][normalize-space()='Everyone']").await?;
            click(&c, Locator::XPath("//header//a[normalize-space()='Open chat']")).await?;
            c.wait().for_element(Locator::Id("composer")).await?;
            sender_named(&c, &late.username).await?;
            sender_named(&c, &later.username).await?;
            nobody_unnamed(&c).await?;

            // Someone past the first page writes for the first time, live.
            say_as(server, live, gid, "hello, live").await?;
            sender_named(&c, &live.username).await?;
            nobody_unnamed(&c).await?;
            wait_js(
                &c,
                "each of them looked up once",
                "const count = id => window.__fetched.filter(r => r === `GET /api/v1/users/${id}`).length;
                 const seen = arguments[0].map(count);
                 return seen.every(n => n === 1) || JSON.stringify(seen);",
                vec![json!([late.id, later.id, live.id])],
            )
            .await?;
            Ok(())
        })
        .await
}
