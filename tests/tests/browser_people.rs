//! People in the real app: finding a contact by their surname (never
//! yourself), blocking them only after saying so and unblocking them from
//! the Blocked list; removing a member, handing a group over and leaving a
//! group, each only after saying so; all on a 375×812 phone, without
//! sideways scrolling.

use anyhow::ensure;
use fantoccini::{key::Key, Client, Locator};
use natter_common::api::{Group, User};
use natter_tests::{
    api::{befriend, create_group, register_all, Authed},
    browser::{click, fits_the_width, press, set_viewport, sign_in, wait_for, wait_js},
    Browser, TestServer,
};
use reqwest::StatusCode;
use serde_json::json;

/// Polls, bounded, until nothing matches `css`.
async fn gone(c: &Client, css: &str) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("{css} is gone"),
        "return document.querySelector(arguments[0]) === null || 'still there';",
        vec![json!(css)],
    )
    .await
}

/// Polls, bounded, until the focused element matches `css`.
async fn focused(c: &Client, css: &str) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("focus on {css}"),
        "const a = document.activeElement;
         return (a && a.matches(arguments[0])) || `focus is on ${a ? a.outerHTML.slice(0, 120) : 'nothing'}`;",
        vec![json!(css)],
    )
    .await
}

async fn rename(who: &Authed, display_name: &str) -> anyhow::Result<()> {
    let response = who
        .call(
            reqwest::Method::PATCH,
            "api/v1/me",
            Some(json!({"display_name": display_name})),
        )
        .await?;
    ensure!(response.status() == StatusCode::OK, "rename: {}", response.status());
    Ok(())
}

#[tokio::test]
async fn find_by_surname_block_and_unblock_and_leave_a_group_after_confirming() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, ada, bob] = register_all(&server, ["people_ann", "people_ada", "people_bob"]).await?;
    // Ann shares Ada's surname: her own search must not list her.
    rename(&ann, "Ann Lovelace").await?;
    rename(&ada, "Ada Lovelace").await?;
    // A name with no place to break it, to try the phone layout.
    rename(&bob, &format!("Bob {}", "W".repeat(56))).await?;
    befriend(&ann, &ada).await?;
    befriend(&ann, &bob).await?;
    let group: Group = create_group(&bob, "Book club", &[&ann]).await?;
    let chess: Group = create_group(&ann, "Chess", &[&ada, &bob]).await?;
    let url = server.url.clone();
    let ann_api = ann.clone();

    let browser = Browser::launch().await?;
    browser
        .run("people", |c| async move {
            set_viewport(&c, 375, 812).await?;
            sign_in(&c, &url, "people_ann").await?;
            c.goto(&format!("{url}contacts")).await?;
            c.wait()
                .for_element(Locator::Css("li.contact[data-username='people_bob']"))
                .await?;
            fits_the_width(&c, "the contacts page").await?;

            // By surname, in any case: Ada, and not Ann herself.
            c.wait()
                .for_element(Locator::Id("contact-search"))
                .await?
                .send_keys("lOVEL")
                .await?;
            wait_for(
                &c,
                "//li[contains(@class,'search-result')][@data-username='people_ada']\
                 [.//span[@class='name'][normalize-space(.)='Ada Lovelace']]",
            )
            .await?;
            let listed = c.find_all(Locator::Css("li.search-result")).await?.len();
            ensure!(listed == 1, "{listed} results for lovel, Ann's own among them?");
            fits_the_width(&c, "with search results").await?;

            // Block asks first; Escape takes the question back.
            let ada_row = "li.contact[data-username='people_ada']";
            click(&c, Locator::Css(&format!("{ada_row} button.block"))).await?;
            wait_for(
                &c,
                "//li[contains(@class,'contact')][@data-username='people_ada']\
                 //*[contains(@class,'confirming')][contains(.,'Block Ada Lovelace?')]",
            )
            .await?;
            focused(&c, &format!("{ada_row} .confirming button.cancel")).await?;
            fits_the_width(&c, "asking to block").await?;
            press(&c, Key::Escape).await?;
            gone(&c, &format!("{ada_row} .confirming")).await?;
            focused(&c, &format!("{ada_row} button.block")).await?;
            let blocks: Vec<User> = ann_api.get_json("api/v1/blocks").await?;
            ensure!(blocks.is_empty(), "Escape blocked: {blocks:?}");

            // Confirmed, the block is made: Ada leaves the contacts for the Blocked list.
            click(&c, Locator::Css(&format!("{ada_row} button.block"))).await?;
            click(&c, Locator::Css(&format!("{ada_row} .confirming button.confirm"))).await?;
            c.wait()
                .for_element(Locator::Css("ul.blocked-list li.blocked[data-username='people_ada']"))
                .await?;
            gone(&c, ada_row).await?;
            wait_for(&c, "//h3[@id='blocked-title'][normalize-space(.)='Blocked']").await?;
            fits_the_width(&c, "with the Blocked list").await?;

            // Unblock: she is off the list, and the list goes with her.
            click(
                &c,
                Locator::Css("li.blocked[data-username='people_ada'] button.unblock"),
            )
            .await?;
            gone(&c, "#blocked-title").await?;
            wait_for(
                &c,
                "//p[@class='notice'][normalize-space(.)='Ada Lovelace is unblocked.']",
            )
            .await?;
            let blocks: Vec<User> = ann_api.get_json("api/v1/blocks").await?;
            ensure!(blocks.is_empty(), "still blocked: {blocks:?}");

            // In her own group, removing a member and handing over ownership
            // each ask first too.
            c.goto(&format!("{url}groups/{}", chess.id.0)).await?;
            let ada_member = "li.member[data-username='people_ada']";
            click(&c, Locator::Css(&format!("{ada_member} button.remove-member"))).await?;
            wait_for(
                &c,
                "//li[contains(@class,'member')][@data-username='people_ada']\
                 //*[contains(@class,'confirming')][contains(.,'Remove Ada Lovelace from the group?')]",
            )
            .await?;
            click(&c, Locator::Css(&format!("{ada_member} .confirming button.confirm"))).await?;
            gone(&c, ada_member).await?;
            let bob_member = "li.member[data-username='people_bob']";
            click(&c, Locator::Css(&format!("{bob_member} button.make-owner"))).await?;
            wait_for(
                &c,
                "//li[contains(@class,'member')][@data-username='people_bob']\
                 //*[contains(@class,'confirming')][contains(.,'the owner? You become an admin.')]",
            )
            .await?;
            fits_the_width(&c, "asking to hand over a group").await?;
            click(&c, Locator::Css(&format!("{bob_member} .confirming button.confirm"))).await?;
            wait_for(
                &c,
                "//li[contains(@class,'member')][@data-username='people_bob']//*[@class='role'][.='owner']",
            )
            .await?;
            let now: Group = ann_api.get_json(&format!("api/v1/groups/{}", chess.id.0)).await?;
            ensure!(
                now.member_count == 2 && now.my_role == natter_common::api::Role::Admin,
                "after removing and handing over: {now:?}"
            );

            // Leaving a group asks first; Cancel keeps her in it.
            c.goto(&format!("{url}groups/{}", group.id.0)).await?;
            click(&c, Locator::Id("leave-group")).await?;
            wait_for(
                &c,
                "//*[contains(@class,'confirming')][@data-action='leave-group'][contains(.,'Leave Book club?')]",
            )
            .await?;
            click(&c, Locator::Css("[data-action='leave-group'] button.cancel")).await?;
            focused(&c, "#leave-group").await?;
            let groups: Vec<Group> = ann_api.get_json("api/v1/groups").await?;
            ensure!(groups.len() == 2, "cancel left the group");

            // Confirmed, she leaves and lands on the start page.
            click(&c, Locator::Id("leave-group")).await?;
            click(&c, Locator::Css("[data-action='leave-group'] button.confirm")).await?;
            wait_js(
                &c,
                "back at the start page",
                "return location.pathname === '/' || location.pathname;",
                vec![],
            )
            .await?;
            let groups: Vec<Group> = ann_api.get_json("api/v1/groups").await?;
            ensure!(groups.iter().all(|g| g.id != group.id), "still in {groups:?}");
            Ok(())
        })
        .await
}
