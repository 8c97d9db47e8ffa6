//! Two users in two browsers find each other, become contacts, and make a
//! group with a third, all through the real app.

use fantoccini::{Client, Locator};
use natter_tests::{
    api::{befriend, register_all},
    browser::sign_in,
    Browser, TestServer,
};

/// Clicks the button with class `button` inside the list item for `username`.
async fn click_in_row(c: &Client, row_class: &str, username: &str, button: &str) -> anyhow::Result<()> {
    let css = format!("li.{row_class}[data-username='{username}'] button.{button}");
    c.wait().for_element(Locator::Css(&css)).await?.click().await?;
    Ok(())
}

#[tokio::test]
async fn befriend_in_two_browsers_then_make_a_group_of_three() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, _ben, cat] = register_all(&server, ["ann", "ben", "cat"]).await?;
    befriend(&ann, &cat).await?;
    let url = server.url.clone();

    let ann_browser = Browser::launch().await?;
    let ben_browser = Browser::launch().await?;
    let ben_client = ben_browser.client.clone();
    let url_for_ann = url.clone();
    let outcome = ann_browser
        .run("social_ann", |a| async move {
            // Ann finds Ben and asks.
            sign_in(&a, &url_for_ann, "ann").await?;
            a.find(Locator::Id("nav-contacts")).await?.click().await?;
            a.wait()
                .for_element(Locator::Id("contact-search"))
                .await?
                .send_keys("be")
                .await?;
            click_in_row(&a, "search-result", "ben", "add-contact").await?;
            a.wait()
                .for_element(Locator::Css("li.outgoing-request[data-username='ben']"))
                .await?;

            // Ben, in his own browser, accepts.
            let b = ben_client;
            sign_in(&b, &url_for_ann, "ben").await?;
            b.find(Locator::Id("nav-contacts")).await?.click().await?;
            click_in_row(&b, "incoming-request", "ann", "accept").await?;
            b.wait()
                .for_element(Locator::Css("li.contact[data-username='ann']"))
                .await?;

            // Ann sees Ben among her contacts after a refresh of the page.
            a.refresh().await?;
            a.wait()
                .for_element(Locator::Css("li.contact[data-username='ben']"))
                .await?;

            // Ann makes a group with Ben and Cat.
            a.find(Locator::Id("nav-new-group")).await?.click().await?;
            a.wait()
                .for_element(Locator::Id("group-name"))
                .await?
                .send_keys("Trio")
                .await?;
            a.wait()
                .for_element(Locator::Css("input[type=checkbox][data-username='ben']"))
                .await?
                .click()
                .await?;
            a.find(Locator::Css("input[type=checkbox][data-username='cat']"))
                .await?
                .click()
                .await?;
            a.find(Locator::Id("create-group")).await?.click().await?;
            a.wait()
                .for_element(Locator::XPath("//h2[@id='group-title'][normalize-space(.)='Trio']"))
                .await?;
            for name in ["ann", "ben", "cat"] {
                a.wait()
                    .for_element(Locator::Css(&format!("li.member[data-username='{name}']")))
                    .await?;
            }

            // Ben finds the group in his sidebar, with its history.
            b.goto(&url_for_ann).await?;
            b.wait()
                .for_element(Locator::XPath(
                    "//a[contains(@class,'conversation-link')][contains(.,'Trio')]",
                ))
                .await?
                .click()
                .await?;
            b.wait()
                .for_element(Locator::XPath(
                    "//li[contains(@class,'system')][contains(.,'created the group “Trio”')]",
                ))
                .await?;
            b.find(Locator::Id("group-info")).await?.click().await?;
            let owner_role = b
                .wait()
                .for_element(Locator::Css("li.member[data-username='ann'] .role"))
                .await?
                .text()
                .await?;
            anyhow::ensure!(owner_role == "owner", "ann should be owner, shows {owner_role:?}");
            // A plain member gets no management controls.
            anyhow::ensure!(b
                .find_all(Locator::Css("#rename-button, button.remove-member"))
                .await?
                .is_empty());
            Ok(())
        })
        .await;
    ben_browser.run("social_ben", |_| async { outcome }).await?;
    Ok(())
}
