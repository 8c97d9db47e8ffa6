//! Profile pictures in the real app, two browsers at once: Ann picks a PNG
//! on her profile page (after a text file, a damaged image and one over the
//! server's upload limit are each refused beside the buttons, the damaged
//! one in the server's own words, the large one with the server's limit);
//! it shows there and in her top bar at once. Bob sees her initials while
//! the picture cannot load, then the picture, loaded, wherever Ann appears
//! (conversation list, the DM's header, her messages in a group, contacts,
//! the group's members). Ann removes it; after a reload Bob sees her
//! initials again.
//!
//! Also the chat header at 375×812: the notification level's `<select>`
//! shows its whole label (a shorter one on a phone) inside the header,
//! clear of the title, and the long one again at 1280×800.

use std::io::Write;

use anyhow::{ensure, Context};
use fantoccini::{Client, Locator};
use natter_common::api::User;
use natter_tests::{
    api::{befriend, create_group, expect_error, register_all, Authed},
    browser::{
        accessibility_violations, click, fits_the_width, open_chat, set_viewport, sign_in, wait_for, wait_js,
        xpath_literal,
    },
    ws::WsClient,
    Browser, TestServer,
};
use reqwest::StatusCode;
use serde_json::json;

/// A temporary file named `<prefix>…<suffix>` holding `bytes`, and its path.
fn temp_file(prefix: &str, suffix: &str, bytes: &[u8]) -> anyhow::Result<(tempfile::NamedTempFile, String)> {
    let mut file = tempfile::Builder::new().prefix(prefix).suffix(suffix).tempfile()?;
    file.write_all(bytes)?;
    file.flush()?;
    let path = file.path().to_str().context("temp path")?.to_owned();
    Ok((file, path))
}

/// A small PNG, a gradient (so its thumbnail is a real image).
fn png(width: u32, height: u32) -> anyhow::Result<Vec<u8>> {
    use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
    let image = RgbImage::from_fn(width, height, |x, y| Rgb([(x * 2) as u8, (y * 2) as u8, 160]));
    let mut bytes = Vec::new();
    DynamicImage::ImageRgb8(image).write_to(&mut std::io::Cursor::new(&mut bytes), ImageFormat::Png)?;
    Ok(bytes)
}

/// Waits until the `<img>` at `css` shows `src` and has loaded (a real
/// image: `naturalWidth` > 0).
async fn picture_loaded(c: &Client, css: &str, src: &str) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("{css} showing {src}"),
        "const img = document.querySelector(arguments[0]);
         if (!img) return 'no picture';
         if (img.tagName !== 'IMG') return `a ${img.tagName}`;
         if (img.getAttribute('src') !== arguments[1]) return `src ${img.getAttribute('src')}`;
         if (img.getAttribute('alt') !== '') return `alt ${img.getAttribute('alt')}`;
         return (img.complete && img.naturalWidth > 0) || `not loaded (complete ${img.complete}, ${img.naturalWidth} px)`;",
        vec![json!(css), json!(src)],
    )
    .await
}

/// Waits until `css` is the initials `letters`, with no picture in it or
/// beside it.
async fn initials_shown(c: &Client, css: &str, letters: &str) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("{css} showing the initials {letters}"),
        "const el = document.querySelector(arguments[0]);
         if (!el) return 'nothing';
         if (el.tagName !== 'SPAN') return `a ${el.tagName}`;
         if (el.parentElement.querySelector('img.avatar')) return 'a picture beside it';
         return el.textContent.trim() === arguments[1] || `reads ${el.textContent}`;",
        vec![json!(css), json!(letters)],
    )
    .await
}

/// Picks the file at `path` in the profile page's picture chooser.
async fn choose_picture(c: &Client, path: &str) -> anyhow::Result<()> {
    c.find(Locator::Id("picture-input")).await?.send_keys(path).await?;
    Ok(())
}

/// Waits until the profile's picture error reads `text`.
async fn picture_error(c: &Client, text: &str) -> anyhow::Result<()> {
    wait_for(
        c,
        &format!("//*[@id='picture-error'][normalize-space(.)={}]", xpath_literal(text)),
    )
    .await
}

/// What the server answers to uploading `bytes` as an image, refused.
async fn refusal(server: &TestServer, user: &Authed, bytes: Vec<u8>, status: StatusCode) -> anyhow::Result<String> {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("image.png")
        .mime_str("image/png")?;
    let response = reqwest::Client::new()
        .post(server.at("api/v1/media"))
        .bearer_auth(&user.token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await?;
    Ok(expect_error(response, status).await?.message)
}

#[tokio::test]
async fn a_picture_set_on_the_profile_shows_for_others_and_goes_when_removed() -> anyhow::Result<()> {
    // Uploads over 1 MiB are refused, so "too large" is quick to reach.
    let server = TestServer::with_app_and(&[("NATTER_MAX_UPLOAD_BYTES", "1048576")]).await?;
    let [ann, bob] = register_all(&server, ["pic_ann", "pic_bob"]).await?;
    let dm = befriend(&ann, &bob).await?.0;
    let group = create_group(&ann, "Picture club", &[&bob]).await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    ann_ws.post_text(group.id, "p1", "Hello from Ann").await?;

    let (_text_file, text_path) = temp_file("notes-", ".txt", b"not a picture")?;
    let damaged = b"\x89PNG\r\n\x1a\nthe rest is missing".to_vec();
    let (_damaged_file, damaged_path) = temp_file("damaged-", ".png", &damaged)?;
    let damaged_says = refusal(&server, &ann, damaged, StatusCode::UNSUPPORTED_MEDIA_TYPE).await?;
    let mut big = png(8, 8)?;
    big.resize(1_300_000, 0);
    let (_big_file, big_path) = temp_file("big-", ".png", &big)?;
    let (_picture_file, picture_path) = temp_file("ann-", ".png", &png(96, 96)?)?;

    let url = server.url.clone();
    let ann = &ann;
    let ann_browser = Browser::launch().await?;
    let bob_browser = Browser::launch().await?;
    let b = bob_browser.client.clone();
    let cdp = bob_browser.cdp();
    let outcome = ann_browser
        .run("avatars_ann", |a| async move {
            sign_in(&a, &url, "pic_ann").await?;
            click(&a, Locator::Id("nav-profile")).await?;
            // No picture yet: initials, large, and nothing to remove.
            initials_shown(&a, "#profile-picture .avatar.large", "PD").await?;
            initials_shown(&a, "#nav-profile .avatar", "PD").await?;
            ensure!(
                a.find_all(Locator::Id("remove-picture")).await?.is_empty(),
                "a Remove button with no picture"
            );
            // No blank lines kept under the name field: Save follows it.
            let gap = a
                .execute(
                    "return document.getElementById('save-profile').getBoundingClientRect().top
                         - document.getElementById('display-name').getBoundingClientRect().bottom;",
                    vec![],
                )
                .await?
                .as_f64()
                .unwrap_or(f64::MAX);
            ensure!(gap < 40.0, "{gap} px between the name field and Save");

            // Refused, each said beside the buttons; nothing changes.
            choose_picture(&a, &text_path).await?;
            picture_error(&a, "Choose an image: JPEG, PNG, GIF or WebP.").await?;
            choose_picture(&a, &damaged_path).await?;
            picture_error(&a, &damaged_says).await?;
            choose_picture(&a, &big_path).await?;
            picture_error(&a, "That image is too large: pictures may be at most 1 MiB.").await?;
            let me: User = ann.get_json("api/v1/me").await?;
            ensure!(me.avatar.is_none(), "a refused upload became the picture: {me:?}");

            // A real picture: shown on the profile and in the top bar at once.
            choose_picture(&a, &picture_path).await?;
            wait_for(&a, "//*[@id='remove-picture']").await?;
            let me: User = ann.get_json("api/v1/me").await?;
            let media = me.avatar.context("the upload did not become the picture")?;
            let thumb = format!("/media/{media}/thumb");
            picture_loaded(&a, "#profile-picture img.avatar.large", &thumb).await?;
            picture_loaded(&a, "#nav-profile img.avatar", &thumb).await?;
            wait_for(&a, "//*[@id='picture-error'][normalize-space(.)='']").await?;
            let violations = accessibility_violations(&a).await?;
            ensure!(violations.is_empty(), "profile with a picture: {violations:#?}");

            // A picture that cannot be loaded gives way to the initials.
            let row = format!("a.conversation-link[href='/c/{dm}'] .avatar");
            cdp.send(&b, "Network.enable", json!({})).await?;
            cdp.send(&b, "Network.setBlockedURLs", json!({ "urls": ["*/thumb"] }))
                .await?;
            sign_in(&b, &url, "pic_bob").await?;
            initials_shown(&b, &row, "PD").await?;
            cdp.send(&b, "Network.setBlockedURLs", json!({ "urls": [] })).await?;

            // Bob sees it wherever Ann appears.
            b.refresh().await?;
            picture_loaded(&b, &row, &thumb).await?;
            open_chat(&b, &url, dm).await?;
            picture_loaded(&b, ".pane-header .avatar", &thumb).await?;
            open_chat(&b, &url, group.id.0).await?;
            picture_loaded(&b, "li.message .sender .avatar", &thumb).await?;
            click(&b, Locator::Id("group-info")).await?;
            picture_loaded(&b, "li.member[data-username='pic_ann'] .avatar", &thumb).await?;
            click(&b, Locator::Id("nav-contacts")).await?;
            picture_loaded(&b, "li.contact[data-username='pic_ann'] .avatar", &thumb).await?;

            // Ann removes it: initials here at once, for Bob after a reload.
            click(&a, Locator::Id("remove-picture")).await?;
            initials_shown(&a, "#profile-picture .avatar.large", "PD").await?;
            wait_js(
                &a,
                "the focus on Change picture once Remove is gone",
                "return document.activeElement.id === 'change-picture' || document.activeElement.outerHTML.slice(0, 80);",
                vec![],
            )
            .await?;
            initials_shown(&a, "#nav-profile .avatar", "PD").await?;
            let me: User = ann.get_json("api/v1/me").await?;
            ensure!(me.avatar.is_none(), "still a picture after removing it: {me:?}");

            b.refresh().await?;
            initials_shown(&b, &row, "PD").await?;
            initials_shown(&b, "li.contact[data-username='pic_ann'] .avatar", "PD").await?;
            open_chat(&b, &url, group.id.0).await?;
            wait_for(
                &b,
                "//li[contains(@class,'message')]//*[normalize-space(.)='Hello from Ann']",
            )
            .await?;
            initials_shown(&b, "li.message .sender .avatar", "PD").await?;
            Ok(())
        })
        .await;
    bob_browser.run("avatars_bob", |_| async { outcome }).await
}

/// Whether the chat header's notification `<select>` shows `label`, as wide
/// as its labels need (nothing cut off), inside the header and the window,
/// clear of the title, which is shown whole, and at least 44 px tall on a
/// phone.
async fn notify_select_fits(c: &Client, label: &str, when: &str) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("{when}: the notification level reads {label}, whole"),
        "const s = document.getElementById('notify-level');
         const header = s && s.closest('.pane-header');
         const title = document.getElementById('conversation-title');
         if (!s || !header || !title) return 'no header';
         const problems = [];
         const shown = s.options[s.selectedIndex].text.trim();
         if (shown !== arguments[0]) problems.push(`reads ${shown}`);
         // The same select with no width limit: the width its labels need.
         const probe = s.cloneNode(true);
         probe.removeAttribute('id');
         probe.style.maxWidth = 'none';
         probe.style.position = 'absolute';
         probe.style.visibility = 'hidden';
         s.parentNode.appendChild(probe);
         const needs = probe.getBoundingClientRect().width;
         probe.remove();
         const r = s.getBoundingClientRect(), h = header.getBoundingClientRect(), t = title.getBoundingClientRect();
         if (needs > r.width + 0.5) problems.push(`${r.width} px wide where its labels need ${needs} px`);
         if (r.left < h.left - 0.5 || r.right > h.right + 0.5 || r.top < h.top - 0.5 || r.bottom > h.bottom + 0.5
             || r.right > window.innerWidth) problems.push('out of the header');
         if (!(r.left >= t.right || r.right <= t.left || r.top >= t.bottom || r.bottom <= t.top))
             problems.push('over the title');
         if (title.scrollWidth > title.clientWidth + 1) problems.push('the title is cut off');
         if (window.innerWidth <= 640 && r.height < 44) problems.push(`${r.height} px tall`);
         return problems.length ? problems.join('; ') : true;",
        vec![json!(label)],
    )
    .await
}

#[tokio::test]
async fn the_notification_level_fits_the_chat_header_on_a_phone() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob] = register_all(&server, ["bell_ann", "bell_bob"]).await?;
    let dm = befriend(&ann, &bob).await?.0;
    let group = create_group(&ann, "Weekend", &[&bob]).await?;
    let url = server.url.clone();
    Browser::launch()
        .await?
        .run("avatars_notify_select", |c| async move {
            sign_in(&c, &url, "bell_ann").await?;
            set_viewport(&c, 375, 812).await?;
            open_chat(&c, &url, group.id.0).await?;
            notify_select_fits(&c, "Default", "a group at 375×812").await?;
            c.find(Locator::Id("notify-level"))
                .await?
                .select_by_value("mentions")
                .await?;
            notify_select_fits(&c, "Mentions", "a group at 375×812").await?;
            fits_the_width(&c, "a group at 375×812").await?;
            open_chat(&c, &url, dm).await?;
            notify_select_fits(&c, "Default", "a DM at 375×812").await?;
            fits_the_width(&c, "a DM at 375×812").await?;
            // Room for the whole words again on a desktop.
            set_viewport(&c, 1280, 800).await?;
            notify_select_fits(&c, "Default (all)", "a DM at 1280×800").await?;
            open_chat(&c, &url, group.id.0).await?;
            notify_select_fits(&c, "Mentions only", "a group at 1280×800").await?;
            Ok(())
        })
        .await
}
