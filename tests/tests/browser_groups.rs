//! A big group in the real app: the group page shows its members a page
//! (100) at a time, and "Show more members" appends the next page, once.

use fantoccini::{Client, Locator};
use natter_tests::{
    api::everyone_group_with_app,
    browser::{click, set_viewport, sign_in_with, wait_for, wait_js},
    Browser,
};
use serde_json::json;

/// Provisioned accounts' password (backend/src/admin.rs).
const PROVISIONED_PASSWORD: &str = "load-test-password";

/// Polls, bounded, until exactly `count` member rows show.
async fn member_rows(c: &Client, count: usize) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("{count} member rows"),
        "const n = document.querySelectorAll('ul.members li.member').length;
         return n === arguments[0] || `${n} rows`;",
        vec![json!(count)],
    )
    .await
}

#[tokio::test]
async fn a_150_member_group_pages_its_members() -> anyhow::Result<()> {
    let (server, _, _, group) = everyone_group_with_app("big", 150).await?;

    let url = server.url.clone();
    let page = format!("{url}groups/{}", group.id.0);
    let chat = format!("{url}c/{}", group.id.0);
    Browser::launch()
        .await?
        .run("groups_page_members", |c| async move {
            set_viewport(&c, 1280, 900).await?;
            sign_in_with(&c, &url, "big0", PROVISIONED_PASSWORD).await?;
            c.goto(&page).await?;
            wait_for(&c, "//h2[@id='group-title'][normalize-space()='Everyone']").await?;
            member_rows(&c, 100).await?;
            wait_for(&c, "//button[@id='more-members'][normalize-space()='Show more members']").await?;

            // Members come in user-id order, so the last one is on page two.
            let first_page = c.find_all(Locator::Css("li.member[data-username='big149']")).await?;
            assert!(first_page.is_empty(), "big149 should not be on the first page");

            click(&c, Locator::Id("more-members")).await?;
            member_rows(&c, 150).await?;
            wait_js(
                &c,
                "the button is gone",
                "return document.getElementById('more-members') === null || 'still there';",
                vec![],
            )
            .await?;
            // Everyone once: a second-page member too, and no one twice.
            wait_js(
                &c,
                "each member listed once",
                "const names = [...document.querySelectorAll('ul.members li.member .name')].map(e => e.textContent);
                 const once = names.filter(n => n === 'big149').length;
                 return (once === 1 && new Set(names).size === 150) || `big149 ×${once}, ${new Set(names).size} distinct`;",
                vec![],
            )
            .await?;
            // Appended members keep their controls.
            wait_for(
                &c,
                "//li[@data-username='big149']//button[contains(@class,'make-owner')]",
            )
            .await?;
            // The group's log says who was added in one line, not 149.
            c.goto(&chat).await?;
            wait_for(&c, "//li[contains(normalize-space(), 'added big1, big2, big3 and 146 others')]").await?;
            Ok(())
        })
        .await
}
