//! What the app asks the server for while messages come and go, counted
//! by a `fetch` wrapper put in before the app loads
//! ([`natter_tests::browser::FETCH_LOG_JS`]): with the contacts page or a
//! group's page open, messages and acks fetch nothing; a `contacts_changed`
//! frame reads the contacts page's lists (and the sidebar's) once, a
//! group's membership events read that group's page once and no other
//! group's, and opening a chat asks nothing the sidebar already has.

use std::collections::BTreeMap;

use anyhow::ensure;
use fantoccini::{Client, Locator};
use natter_common::ids::ConversationId;
use natter_tests::{
    api::{befriend, create_group, register_all, Authed},
    browser::{click, fetched, frames, say, sign_in, wait_for, wait_js, wait_online, xpath_literal, FETCH_LOG_JS},
    ws::WsClient,
    Browser, TestServer, FAST,
};
use reqwest::Method;
use serde_json::json;

/// The API requests made since `before` was read, "METHOD /path" (query
/// left out) with how many times each.
async fn since(c: &Client, before: &[String]) -> anyhow::Result<BTreeMap<String, usize>> {
    let all = fetched(c).await?;
    let mut counts = BTreeMap::new();
    for request in all[before.len().min(all.len())..]
        .iter()
        .filter(|r| r.contains(" /api/"))
    {
        let without_query = request.split('?').next().unwrap_or(request).to_owned();
        *counts.entry(without_query).or_default() += 1;
    }
    Ok(counts)
}

/// `[("GET /api/v1/x", 2), …]` as a map.
fn requests<const N: usize>(expected: [(&str, usize); N]) -> BTreeMap<String, usize> {
    expected.into_iter().map(|(r, n)| (r.to_owned(), n)).collect()
}

/// Waits until at least the `expected` requests were made since `before`,
/// lets the page draw a few frames (anything else it was going to ask for
/// has been asked for by then), and checks that they were all.
async fn exactly(c: &Client, before: &[String], expected: BTreeMap<String, usize>, when: &str) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("{when}: {expected:?}"),
        "const seen = {};
         for (const r of window.__fetched.slice(arguments[0]).filter(r => r.includes(' /api/'))) { const k = r.split('?')[0]; seen[k] = (seen[k] || 0) + 1; }
         const want = arguments[1];
         return Object.keys(want).every(k => (seen[k] || 0) >= want[k]) || JSON.stringify(seen);",
        vec![json!(before.len()), json!(expected)],
    )
    .await?;
    frames(c, 5).await?;
    let seen = since(c, before).await?;
    ensure!(
        seen == expected,
        "{when}: expected {expected:?}, the app asked for {seen:?}"
    );
    Ok(())
}

/// Waits until the sidebar's row titled `title` previews `preview`.
async fn sidebar_shows(c: &Client, title: &str, preview: &str) -> anyhow::Result<()> {
    wait_for(
        c,
        &format!(
            "//ul[contains(@class,'conversation-list')]//a[.//span[@class='title'][normalize-space()={}]]\
             //span[@class='preview'][normalize-space()={}]",
            xpath_literal(title),
            xpath_literal(preview)
        ),
    )
    .await
}

/// `count` messages from `ws` into `conversation`, each acknowledged.
async fn send_many(ws: &mut WsClient, conversation: ConversationId, prefix: &str, count: usize) -> anyhow::Result<()> {
    for i in 1..=count {
        ws.post_text(conversation, &format!("{prefix}-{i}"), &format!("{prefix} {i}"))
            .await?;
    }
    Ok(())
}

async fn set_role(owner: &Authed, group: ConversationId, member: &Authed, role: &str) -> anyhow::Result<()> {
    let response = owner
        .call(
            Method::PUT,
            &format!("api/v1/groups/{}/members/{}/role", group.0, member.id().0),
            Some(json!({ "role": role })),
        )
        .await?;
    ensure!(response.status().is_success(), "role change: {}", response.status());
    Ok(())
}

#[tokio::test]
async fn the_contacts_page_reads_its_lists_again_only_when_contacts_change() -> anyhow::Result<()> {
    let server = TestServer::with_app_and(&FAST).await?;
    let [ann, bob, cat, dan] = register_all(&server, ["refc_ann", "refc_bob", "refc_cat", "refc_dan"]).await?;
    let dm = befriend(&ann, &bob).await?;
    befriend(&ann, &cat).await?;
    let crew = create_group(&ann, "crew", &[&bob, &cat]).await?.id;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    let mut ann_phone = WsClient::connect(&server, &ann.token).await?;

    let url = server.url.clone();
    let (ann, cat, dan) = (&ann, &cat, &dan);
    let browser = Browser::launch().await?;
    let cdp = browser.cdp();
    browser
        .run("refetch_contacts", |c| async move {
            cdp.before_load(&c, FETCH_LOG_JS).await?;
            sign_in(&c, &url, "refc_ann").await?;
            c.goto(&format!("{url}contacts")).await?;
            wait_for(&c, "//li[contains(@class,'contact')][@data-username='refc_cat']").await?;
            wait_for(
                &c,
                "//section[contains(@class,'contacts')]//p[normalize-space()='None right now.']",
            )
            .await?;
            wait_for(
                &c,
                "//ul[contains(@class,'conversation-list')]//span[@class='title'][normalize-space()='crew']",
            )
            .await?;
            wait_online(&c).await?;
            // Everything the page reads on opening, once.
            exactly(
                &c,
                &[],
                requests([
                    ("GET /api/v1/me", 1),
                    ("GET /api/v1/conversations", 1),
                    ("GET /api/v1/contacts", 1),
                    // The page's list and the Contacts link's count.
                    ("GET /api/v1/contact-requests", 2),
                    ("GET /api/v1/blocks", 1),
                    ("GET /api/v1/notifications", 1),
                ]),
                "opening the contacts page",
            )
            .await?;
            let before = fetched(&c).await?;

            // Messages from others, and mine from another device: the
            // sidebar follows them, nothing is fetched.
            send_many(&mut bob_ws, dm, "dm", 10).await?;
            send_many(&mut bob_ws, crew, "crew", 10).await?;
            send_many(&mut ann_phone, crew, "phone", 5).await?;
            sidebar_shows(&c, "refc_bob display", "dm 10").await?;
            sidebar_shows(&c, "crew", "You: phone 5").await?;
            exactly(&c, &before, BTreeMap::new(), "25 messages with the contacts page open").await?;

            // A group's membership changes: the sidebar reads its list
            // again, the contacts page does not.
            set_role(ann, crew, cat, "admin").await?;
            sidebar_shows(&c, "crew", "Group updated").await?;
            exactly(
                &c,
                &before,
                requests([("GET /api/v1/conversations", 1)]),
                "a role changed in a group",
            )
            .await?;

            // A contact request (a `contacts_changed` frame): each list
            // once, and the sidebar's once.
            let response = dan
                .post("api/v1/contact-requests", json!({ "user_id": ann.id() }))
                .await?;
            ensure!(response.status().is_success(), "contact request: {}", response.status());
            wait_for(
                &c,
                "//li[contains(@class,'incoming-request')][@data-username='refc_dan']",
            )
            .await?;
            exactly(
                &c,
                &before,
                requests([
                    ("GET /api/v1/conversations", 2),
                    ("GET /api/v1/contacts", 1),
                    ("GET /api/v1/contact-requests", 2),
                    ("GET /api/v1/blocks", 1),
                ]),
                "a contact request came",
            )
            .await?;
            Ok(())
        })
        .await
}

#[tokio::test]
async fn a_group_page_reads_again_only_for_its_own_membership_and_a_chat_for_nothing() -> anyhow::Result<()> {
    let server = TestServer::with_app_and(&FAST).await?;
    let [ann, bob, cat] = register_all(&server, ["refg_ann", "refg_bob", "refg_cat"]).await?;
    let dm = befriend(&ann, &bob).await?;
    befriend(&ann, &cat).await?;
    let crew = create_group(&ann, "crew", &[&bob, &cat]).await?.id;
    let other = create_group(&ann, "other", &[&bob]).await?.id;
    let mut bob_ws = WsClient::connect(&server, &bob.token).await?;
    let mut ann_phone = WsClient::connect(&server, &ann.token).await?;

    let url = server.url.clone();
    let (ann, cat) = (&ann, &cat);
    let browser = Browser::launch().await?;
    let cdp = browser.cdp();
    browser
        .run("refetch_group", |c| async move {
            cdp.before_load(&c, FETCH_LOG_JS).await?;
            sign_in(&c, &url, "refg_ann").await?;
            c.goto(&format!("{url}groups/{}", crew.0)).await?;
            wait_for(&c, "//li[contains(@class,'member')][@data-username='refg_cat']//span[@class='role'][.='member']")
                .await?;
            wait_for(&c, "//ul[contains(@class,'conversation-list')]//span[@class='title'][normalize-space()='other']")
                .await?;
            wait_online(&c).await?;
            let crew_page = format!("GET /api/v1/groups/{}", crew.0);
            let crew_members = format!("GET /api/v1/groups/{}/members", crew.0);
            exactly(
                &c,
                &[],
                requests([
                    ("GET /api/v1/me", 1),
                    ("GET /api/v1/conversations", 1),
                    ("GET /api/v1/contact-requests", 1),
                    (&crew_page, 1),
                    (&crew_members, 1),
                    ("GET /api/v1/contacts", 1),
                    ("GET /api/v1/notifications", 1),
                ]),
                "opening the group page",
            )
            .await?;
            let before = fetched(&c).await?;

            send_many(&mut bob_ws, crew, "crew", 10).await?;
            send_many(&mut bob_ws, dm, "dm", 5).await?;
            send_many(&mut ann_phone, crew, "phone", 5).await?;
            sidebar_shows(&c, "refg_bob display", "dm 5").await?;
            sidebar_shows(&c, "crew", "You: phone 5").await?;
            exactly(&c, &before, BTreeMap::new(), "20 messages with a group page open").await?;

            // Another group renamed: the sidebar reads its list, this page
            // nothing.
            let response = ann
                .call(
                    Method::PATCH,
                    &format!("api/v1/groups/{}", other.0),
                    Some(json!({ "name": "elsewhere" })),
                )
                .await?;
            ensure!(response.status().is_success(), "rename: {}", response.status());
            wait_for(&c, "//ul[contains(@class,'conversation-list')]//span[@class='title'][normalize-space()='elsewhere']")
                .await?;
            exactly(
                &c,
                &before,
                requests([("GET /api/v1/conversations", 1)]),
                "another group renamed",
            )
            .await?;

            // This group's member made admin: the page shows it, read once.
            set_role(ann, crew, cat, "admin").await?;
            wait_for(&c, "//li[contains(@class,'member')][@data-username='refg_cat']//span[@class='role'][.='admin']")
                .await?;
            exactly(
                &c,
                &before,
                requests([
                    ("GET /api/v1/conversations", 2),
                    (&crew_page, 1),
                    (&crew_members, 1),
                    ("GET /api/v1/contacts", 1),
                ]),
                "this group's member made admin",
            )
            .await?;

            // Opening the chat from the page: its history, receipts and
            // members, not the conversation list the sidebar holds.
            let before = fetched(&c).await?;
            click(&c, Locator::XPath("//header//a[normalize-space()='Open chat']")).await?;
            c.wait().for_element(Locator::Id("composer")).await?;
            wait_for(&c, "//ol[contains(@class,'timeline')]//li[@data-seq][.//*[normalize-space()='phone 5']]").await?;
            let opening = since(&c, &before).await?;
            ensure!(
                !opening.contains_key("GET /api/v1/conversations"),
                "opening the chat read the conversation list again: {opening:?}"
            );

            // My own messages and their acks fetch nothing either.
            frames(&c, 5).await?;
            let before = fetched(&c).await?;
            for i in 1..=5 {
                say(&c, &format!("ack {i}")).await?;
            }
            wait_for(
                &c,
                "//ol[contains(@class,'timeline')]//li[@data-seq][.//*[normalize-space()='ack 5']]//span[@class='tick']",
            )
            .await?;
            sidebar_shows(&c, "crew", "You: ack 5").await?;
            exactly(&c, &before, BTreeMap::new(), "5 messages sent and acknowledged").await?;
            Ok(())
        })
        .await
}
