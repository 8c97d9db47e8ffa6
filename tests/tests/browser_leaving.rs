//! Deleting your account in the real app. The profile page asks for the
//! password in a dialog (Enter submits, Escape cancels, Tab stays inside,
//! the focus goes back to the button); a wrong one is said inline and
//! changes nothing; the right one signs this browser and every other session
//! out, the sign-in page says why, and the other person still reads the
//! messages, from "Deleted user". Also at 375×812, and with axe-core on the
//! open dialog. The sign-in page gives the server's word for a disabled
//! account.

use std::time::Duration;

use anyhow::ensure;
use fantoccini::{key::Key, Client, Locator};
use natter_common::{
    api::User,
    events::{EventBody, MessageContent},
    frames::close::SESSION_ENDED,
};
use natter_tests::{
    api::{befriend, full_history, register_all, Authed, PASSWORD},
    browser::{
        accessibility_violations, click, count_is, fits_the_width, install_error_hook, page_errors, press,
        set_viewport, sign_in, wait_for, wait_js, wait_online,
    },
    ws::WsClient,
    Browser, TestServer,
};
use reqwest::StatusCode;
use serde_json::json;

/// Waits until the element `#id` has the focus.
async fn focus_is(c: &Client, id: &str) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("the focus on #{id}"),
        "const a = document.activeElement;
         return (a && a.id === arguments[0]) || `on ${a ? a.tagName + '#' + a.id + '.' + a.className : 'nothing'}`;",
        vec![json!(id)],
    )
    .await
}

/// Opens the password dialog from the profile page; the password field
/// takes the focus.
async fn open_dialog(c: &Client) -> anyhow::Result<()> {
    click(c, Locator::Id("delete-account")).await?;
    c.wait()
        .for_element(Locator::Css("[role='dialog'][aria-modal='true']"))
        .await?;
    focus_is(c, "delete-password").await
}

/// Replaces what the password field holds with `text` and presses Enter.
async fn enter_password(c: &Client, text: &str) -> anyhow::Result<()> {
    let input = c.find(Locator::Id("delete-password")).await?;
    input.clear().await?;
    input.send_keys(text).await?;
    press(c, Key::Enter).await
}

/// Waits (up to 20 s: the socket's close and a `/me` check) for the sign-in page.
async fn lands_on_login(c: &Client, who: &str) -> anyhow::Result<()> {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Id("login-title"))
        .await
        .map_err(|err| anyhow::anyhow!("{who} never reached /login: {err}"))?;
    let path = c.current_url().await?.path().to_owned();
    ensure!(path.ends_with("/login"), "{who} is on {path}");
    Ok(())
}

#[tokio::test]
async fn delete_your_account_with_its_password_and_every_session_ends() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob] = register_all(&server, ["gone_ann", "gone_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut live = WsClient::connect(&server, &ann.token).await?;
    live.post_text(dm, "m1", "hello from ann").await?;

    let first = Browser::launch().await?;
    let second = Browser::launch().await?;
    let b = second.client.clone();
    let url = server.url.clone();
    let api_ann = ann.clone();
    let outcome = first
        .run("leaving_delete", |a| async move {
            // Ann's other tab, live.
            sign_in(&b, &url, "gone_ann").await?;
            wait_online(&b).await?;
            install_error_hook(&b).await?;

            set_viewport(&a, 1280, 800).await?;
            sign_in(&a, &url, "gone_ann").await?;
            wait_online(&a).await?;
            install_error_hook(&a).await?;
            click(&a, Locator::Id("nav-profile")).await?;
            wait_for(
                &a,
                "//section[contains(@class, 'danger-zone')]//*[contains(., 'Deleted user')]",
            )
            .await?;

            // Escape cancels, and the focus is back on the button.
            open_dialog(&a).await?;
            let violations = accessibility_violations(&a).await?;
            ensure!(violations.is_empty(), "profile with the dialog open: {violations:#?}");
            press(&a, Key::Escape).await?;
            count_is(&a, "[role='dialog']", 0).await?;
            focus_is(&a, "delete-account").await?;

            // Tab goes round the dialog's three controls and stays inside.
            open_dialog(&a).await?;
            press(&a, Key::Tab).await?;
            focus_is(&a, "cancel-delete-account").await?;
            press(&a, Key::Tab).await?;
            focus_is(&a, "confirm-delete-account").await?;
            press(&a, Key::Tab).await?;
            focus_is(&a, "delete-password").await?;

            // A wrong password: the server's word under the field, the
            // dialog open, and nothing else changed.
            enter_password(&a, "not my password").await?;
            wait_for(
                &a,
                "//*[@id='delete-password-error'][normalize-space(.)='Wrong password.']",
            )
            .await?;
            count_is(&a, "#delete-password[aria-invalid='true']", 1).await?;
            let me = api_ann.get("api/v1/me").await?.status();
            ensure!(me == StatusCode::OK, "a wrong password ended ann's session: {me}");
            ensure!(
                a.current_url().await?.path().ends_with("/profile"),
                "a wrong password left the profile page"
            );

            // What ann typed and didn't send is kept in this browser...
            a.execute(
                "localStorage.setItem(`natter.draft.${arguments[0]}.1`, '\"a secret draft\"');
                 localStorage.setItem(`natter.outbox.${arguments[0]}`, '[]');
                 localStorage.setItem('natter.draft.999999.1', '\"someone else\"');",
                vec![serde_json::json!(api_ann.id().0)],
            )
            .await?;

            // The right one: this tab goes to the sign-in page, which says why.
            let input = a.find(Locator::Id("delete-password")).await?;
            input.clear().await?;
            input.send_keys(PASSWORD).await?;
            click(&a, Locator::Id("confirm-delete-account")).await?;
            lands_on_login(&a, "the deleting tab").await?;
            wait_for(&a, "//*[@id='login-notice'][contains(., 'account was deleted')]").await?;
            // ...and goes with the account; another user's stays.
            let kept = a
                .execute(
                    "return Object.keys(localStorage).filter(k => k.startsWith('natter.draft.') || k.startsWith('natter.outbox.'));",
                    vec![],
                )
                .await?;
            ensure!(kept == serde_json::json!(["natter.draft.999999.1"]), "left in storage: {kept}");

            // Ann's other tab is signed out on its own.
            lands_on_login(&b, "ann's other tab").await?;

            for (who, c) in [("the deleting tab", &a), ("the other tab", &b)] {
                let errors = page_errors(c).await?;
                ensure!(errors.is_empty(), "{who} reported errors: {errors:#?}");
            }
            Ok(())
        })
        .await;
    second.run("leaving_other_tab", |_| async { outcome }).await?;

    // Every session of ann's is over, the API's and its WebSocket too.
    let me = ann.get("api/v1/me").await?.status();
    ensure!(me == StatusCode::UNAUTHORIZED, "ann's token still answers {me}");
    let (code, _) = live.until_closed().await?;
    ensure!(code == Some(SESSION_ENDED), "ann's WebSocket closed with {code:?}");

    // Bob still reads what ann wrote, from "Deleted user".
    let history = full_history(&bob, dm).await?;
    ensure!(
        history.iter().any(|e| matches!(
            &e.body,
            EventBody::Message { content: MessageContent::Text { text }, .. } if text == "hello from ann"
        )),
        "ann's message is gone from the DM"
    );
    let gone: User = bob.get_json(&format!("api/v1/users/{}", ann.id().0)).await?;
    ensure!(
        gone.display_name == "Deleted user",
        "ann shows as {:?}",
        gone.display_name
    );
    Ok(())
}

#[tokio::test]
async fn the_delete_section_and_its_dialog_fit_a_phone() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let ann = Authed::register(&server, "gone_phone").await?;
    let browser = Browser::launch().await?;
    let url = server.url.clone();
    browser
        .run("leaving_phone", |c| async move {
            set_viewport(&c, 375, 812).await?;
            sign_in(&c, &url, "gone_phone").await?;
            click(&c, Locator::Id("nav-profile")).await?;
            c.wait().for_element(Locator::Id("delete-account")).await?;
            fits_the_width(&c, "the profile page with its delete section at 375×812").await?;

            open_dialog(&c).await?;
            enter_password(&c, "not my password").await?;
            wait_for(
                &c,
                "//*[@id='delete-password-error'][normalize-space(.)='Wrong password.']",
            )
            .await?;
            fits_the_width(&c, "the delete dialog at 375×812").await?;
            wait_js(
                &c,
                "the dialog inside the viewport",
                "const r = document.querySelector('[role=dialog]').getBoundingClientRect();
                 return (r.left >= 0 && r.right <= innerWidth && r.top >= 0 && r.bottom <= innerHeight)
                     || `at ${r.left},${r.top} to ${r.right},${r.bottom} in ${innerWidth}×${innerHeight}`;",
                vec![],
            )
            .await?;
            let violations = accessibility_violations(&c).await?;
            ensure!(violations.is_empty(), "the delete dialog on a phone: {violations:#?}");

            click(&c, Locator::Id("cancel-delete-account")).await?;
            count_is(&c, "[role='dialog']", 0).await?;
            focus_is(&c, "delete-account").await?;
            Ok(())
        })
        .await?;
    let me = ann.get("api/v1/me").await?.status();
    ensure!(me == StatusCode::OK, "cancelling deleted the account: {me}");
    Ok(())
}

#[tokio::test]
async fn a_disabled_account_is_told_so_at_sign_in() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    Authed::register(&server, "off_ann").await?;
    let status = server
        .admin_command()
        .args(["users", "disable", "off_ann"])
        .stdout(std::process::Stdio::null())
        .status()?;
    ensure!(status.success(), "admin users disable: {status}");

    let browser = Browser::launch().await?;
    let url = server.url.clone();
    browser
        .run("leaving_disabled", |c| async move {
            c.goto(&format!("{url}login")).await?;
            c.wait()
                .for_element(Locator::Id("username"))
                .await?
                .send_keys("off_ann")
                .await?;
            c.find(Locator::Id("password")).await?.send_keys(PASSWORD).await?;
            c.find(Locator::Css("button[type=submit]")).await?.click().await?;
            wait_for(
                &c,
                "//*[contains(@class, 'form-error')][contains(., 'has been disabled')]",
            )
            .await?;
            Ok(())
        })
        .await
}
