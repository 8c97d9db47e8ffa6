//! The profile page in the real app: renaming yourself (checked inline
//! first) changes the top bar and survives a reload; the devices list shows
//! both browsers a user is signed in on, and signing the other one out,
//! after confirming, removes its row and sends that browser to /login.
//! Also at 375×812 without sideways scrolling.

use anyhow::ensure;
use fantoccini::{Client, Locator};
use natter_tests::{
    api::Authed,
    browser::{
        accessibility_violations, click, count_is, fits_the_width, set_viewport, sign_in, wait_for, wait_online,
    },
    Browser, TestServer,
};
use reqwest::StatusCode;
use serde_json::json;

/// Replaces the text of input `#id` with `text`.
async fn fill(c: &Client, id: &str, text: &str) -> anyhow::Result<()> {
    let input = c.wait().for_element(Locator::Id(id)).await?;
    input.clear().await?;
    input.send_keys(text).await?;
    Ok(())
}

/// Waits until the top bar's name reads `name`.
async fn top_bar_shows(c: &Client, name: &str) -> anyhow::Result<()> {
    wait_for(
        c,
        &format!("//a[@id='nav-profile']//*[contains(@class, 'shell-user')][normalize-space(.)='{name}']"),
    )
    .await
}

#[tokio::test]
async fn rename_yourself_and_the_top_bar_follows_across_a_reload() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    Authed::register(&server, "prof_ada").await?;
    let browser = Browser::launch().await?;
    let url = server.url.clone();
    browser
        .run("profile_rename", |c| async move {
            sign_in(&c, &url, "prof_ada").await?;
            click(&c, Locator::Id("nav-profile")).await?;
            wait_for(&c, "//*[@id='profile-username'][normalize-space(.)='@prof_ada']").await?;
            let shown = c.find(Locator::Id("display-name")).await?.prop("value").await?;
            ensure!(
                shown.as_deref() == Some("prof_ada display"),
                "the form starts from {shown:?}"
            );

            // The shared rules answer before any request: a blank name is refused.
            fill(&c, "display-name", "   ").await?;
            click(&c, Locator::Id("save-profile")).await?;
            wait_for(&c, "//*[@id='display-name-error'][contains(., 'cannot be empty')]").await?;
            top_bar_shows(&c, "prof_ada display").await?;

            fill(&c, "display-name", "Countess of Lovelace").await?;
            click(&c, Locator::Id("save-profile")).await?;
            top_bar_shows(&c, "Countess of Lovelace").await?;
            wait_for(&c, "//*[@id='display-name-error'][normalize-space(.)='']").await?;

            c.refresh().await?;
            top_bar_shows(&c, "Countess of Lovelace").await?;
            let shown = c
                .wait()
                .for_element(Locator::Id("display-name"))
                .await?
                .prop("value")
                .await?;
            ensure!(
                shown.as_deref() == Some("Countess of Lovelace"),
                "after a reload the form shows {shown:?}"
            );
            Ok(())
        })
        .await
}

#[tokio::test]
async fn sign_out_another_device_after_confirming_and_it_lands_on_login() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    // Registering opens a session of its own; end it, so the two browsers
    // are the only devices.
    let ada = Authed::register(&server, "dev_ada").await?;
    let response = ada.post("api/v1/auth/logout", json!({})).await?;
    ensure!(
        response.status() == StatusCode::NO_CONTENT,
        "logout: {}",
        response.status()
    );

    let first = Browser::launch().await?;
    let second = Browser::launch().await?;
    let b = second.client.clone();
    let url = server.url.clone();
    let outcome = first
        .run("profile_devices_first", |a| async move {
            sign_in(&b, &url, "dev_ada").await?;
            wait_online(&b).await?;
            sign_in(&a, &url, "dev_ada").await?;
            click(&a, Locator::Id("nav-profile")).await?;

            count_is(&a, "li.device", 2).await?;
            count_is(&a, "li.device.current", 1).await?;
            wait_for(
                &a,
                "//li[contains(@class, 'current')]//*[normalize-space(.)='This device']",
            )
            .await?;
            count_is(&a, "li.device.current .revoke-session", 0).await?;
            count_is(&a, "li.device:not(.current) .revoke-session", 1).await?;
            // Last used is a local date and time, with the instant alongside.
            let stamp = a.find(Locator::Css("li.device:not(.current) .last-used time")).await?;
            ensure!(
                stamp.attr("datetime").await?.is_some_and(|iso| iso.ends_with('Z')),
                "no ISO instant on the last-used time"
            );
            ensure!(!stamp.text().await?.trim().is_empty(), "no last-used time shown");

            // The phone layout fits, and nothing on the page is inaccessible.
            set_viewport(&a, 375, 812).await?;
            fits_the_width(&a, "profile at 375×812").await?;
            let violations = accessibility_violations(&a).await?;
            ensure!(violations.is_empty(), "profile: {violations:#?}");

            // The first click only asks; Cancel leaves everything as it was.
            click(&a, Locator::Css("li.device:not(.current) .revoke-session")).await?;
            click(&a, Locator::Css("[data-action='revoke-session'] .cancel")).await?;
            count_is(&a, "li.device:not(.current) .revoke-session", 1).await?;

            click(&a, Locator::Css("li.device:not(.current) .revoke-session")).await?;
            click(&a, Locator::Css("[data-action='revoke-session'] .confirm")).await?;
            count_is(&a, "li.device", 1).await?;
            count_is(&a, "li.device.current", 1).await?;

            // The other browser is told and goes to the sign-in page on its own.
            b.wait()
                .at_most(std::time::Duration::from_secs(20))
                .for_element(Locator::Id("login-title"))
                .await
                .map_err(|err| anyhow::anyhow!("the signed-out browser never reached /login: {err}"))?;
            ensure!(
                b.current_url().await?.path().ends_with("/login"),
                "the second browser is not on /login"
            );

            // Still signed in here: a reload keeps the one device.
            a.refresh().await?;
            count_is(&a, "li.device", 1).await?;
            Ok(())
        })
        .await;
    second.run("profile_devices_second", |_| async { outcome }).await
}
