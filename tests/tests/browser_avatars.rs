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
//! Also the chat header at 375×812: the notification level is a bell of
//! 44 px inside the header, clear of the title, its select named by the
//! level; at 1280×800 the select shows its whole label.
//!
//! Live: Bob, with a group open, sees Ann's new name and picture (set in
//! her own browser) in her messages, the group's lines, the sidebar, the
//! mention list and then the DM's header, all without a reload; a change
//! from another of Ann's sessions reaches her own browser's top bar and
//! Bob's open DM, and Bob's open contacts page. And layout: pane headers
//! are one line at 375×812 and 1280×800 (a long title ends in an
//! ellipsis), and no empty `.notice` is left in a page.

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

/// Whether the chat header's notification `<select>` is at `label`, inside
/// the header and the window and clear of the title. On a desktop it shows
/// the label, as wide as its labels need (nothing cut off), and the title
/// is whole; on a phone it is the bell (the select unseen over it), at
/// least 44 px square, named "Notifications: <label>".
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
         const phone = window.innerWidth <= 640;
         if (phone) {
             const name = s.getAttribute('aria-label');
             if (name !== `Notifications: ${arguments[0]}`) problems.push(`named ${name}`);
         } else {
             // The same select with no width limit: the width its labels need.
             const probe = s.cloneNode(true);
             probe.removeAttribute('id');
             probe.style.maxWidth = 'none';
             probe.style.position = 'absolute';
             probe.style.visibility = 'hidden';
             s.parentNode.appendChild(probe);
             const needs = probe.getBoundingClientRect().width;
             probe.remove();
             if (needs > s.getBoundingClientRect().width + 0.5)
                 problems.push(`${s.getBoundingClientRect().width} px wide where its labels need ${needs} px`);
         }
         const r = (phone ? s.closest('.notify-setting') : s).getBoundingClientRect();
         const h = header.getBoundingClientRect(), t = title.getBoundingClientRect();
         if (r.left < h.left - 0.5 || r.right > h.right + 0.5 || r.top < h.top - 0.5 || r.bottom > h.bottom + 0.5
             || r.right > window.innerWidth) problems.push('out of the header');
         if (!(r.left >= t.right || r.right <= t.left || r.top >= t.bottom || r.bottom <= t.top))
             problems.push('over the title');
         if (title.scrollWidth > title.clientWidth + 1 && window.innerWidth > 640) problems.push('the title is cut off');
         if (phone && (r.height < 44 || r.width < 44)) problems.push(`${r.width}×${r.height} px`);
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
            notify_select_fits(&c, "Default (mentions)", "a group at 375×812").await?;
            c.find(Locator::Id("notify-level"))
                .await?
                .select_by_value("mentions")
                .await?;
            notify_select_fits(&c, "Mentions only", "a group at 375×812").await?;
            fits_the_width(&c, "a group at 375×812").await?;
            open_chat(&c, &url, dm).await?;
            notify_select_fits(&c, "Default (all)", "a DM at 375×812").await?;
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

/// Waits until the text of `css`, its avatar's initials left out, reads
/// `text` (spaces trimmed).
async fn reads(c: &Client, css: &str, text: &str) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("{css} reading {text}"),
        "const el = document.querySelector(arguments[0]);
         if (!el) return 'nothing';
         const copy = el.cloneNode(true);
         copy.querySelectorAll('.avatar').forEach(a => a.remove());
         const shown = copy.textContent.trim();
         return shown === arguments[1] || `reads ${shown}`;",
        vec![json!(css), json!(text)],
    )
    .await
}

/// Marks the page, to tell later that it was not loaded again.
async fn mark_page(c: &Client) -> anyhow::Result<()> {
    c.execute("window.natterSamePage = true;", vec![]).await?;
    Ok(())
}

async fn same_page(c: &Client, when: &str) -> anyhow::Result<()> {
    let same = c.execute("return window.natterSamePage === true;", vec![]).await?;
    ensure!(same == json!(true), "{when}: the page was loaded again");
    Ok(())
}

#[tokio::test]
async fn a_new_name_and_picture_show_for_others_without_a_reload() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob] = register_all(&server, ["live_ann", "live_bob"]).await?;
    let dm = befriend(&ann, &bob).await?.0;
    let group = create_group(&ann, "Live crew", &[&bob]).await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    ann_ws.post_text(group.id, "l1", "Hello from Ann").await?;
    let (_picture_file, picture_path) = temp_file("live-", ".png", &png(80, 80)?)?;

    let url = server.url.clone();
    let ann = &ann;
    let ann_browser = Browser::launch().await?;
    let bob_browser = Browser::launch().await?;
    let b = bob_browser.client.clone();
    let dm_row = format!("a.conversation-link[href='/c/{dm}']");
    let outcome = ann_browser
        .run("avatars_live_ann", |a| async move {
            // Bob has the group open, Ann's message in it, before she changes.
            set_viewport(&b, 1280, 800).await?;
            sign_in(&b, &url, "live_bob").await?;
            open_chat(&b, &url, group.id.0).await?;
            reads(&b, "li.message .sender", "live_ann display").await?;
            initials_shown(&b, "li.message .sender .avatar", "LD").await?;
            reads(&b, &format!("{dm_row} .title"), "live_ann display").await?;
            mark_page(&b).await?;

            // Ann, in her own browser, renames herself and picks a picture.
            sign_in(&a, &url, "live_ann").await?;
            click(&a, Locator::Id("nav-profile")).await?;
            let field = a.wait().for_element(Locator::Id("display-name")).await?;
            field.clear().await?;
            field.send_keys("Annabel Live").await?;
            click(&a, Locator::Id("save-profile")).await?;
            wait_for(&a, "//p[@class='notice'][normalize-space(.)='Saved.']").await?;
            choose_picture(&a, &picture_path).await?;
            wait_for(&a, "//*[@id='remove-picture']").await?;
            let me: User = ann.get_json("api/v1/me").await?;
            let thumb = format!("/media/{}/thumb", me.avatar.context("no picture")?);

            // Bob sees both where he is, without a reload: her message's
            // name and picture, the group's first line, the sidebar's DM.
            reads(&b, "li.message .sender", "Annabel Live").await?;
            picture_loaded(&b, "li.message .sender .avatar", &thumb).await?;
            wait_for(
                &b,
                "//li[contains(@class,'system')][starts-with(normalize-space(.),'Annabel Live created the group')]",
            )
            .await?;
            reads(&b, &format!("{dm_row} .title"), "Annabel Live").await?;
            picture_loaded(&b, &format!("{dm_row} .avatar"), &thumb).await?;
            // The members offered for a mention, with their pictures.
            b.find(Locator::Id("composer")).await?.send_keys("@").await?;
            let choice = "#mention-list li[data-username='live_ann']";
            reads(&b, &format!("{choice} .handle"), "Annabel Live").await?;
            picture_loaded(&b, &format!("{choice} .avatar"), &thumb).await?;
            // The DM, opened from the sidebar: its header too.
            click(&b, Locator::Css(&dm_row)).await?;
            reads(&b, "#conversation-title", "Annabel Live").await?;
            picture_loaded(&b, ".pane-header .avatar", &thumb).await?;
            same_page(&b, "after Ann's name and picture changed").await?;

            // Changed from another of Ann's devices (her API session): her
            // browser's top bar follows, and Bob's open DM, picture gone.
            mark_page(&a).await?;
            let renamed = ann
                .call(
                    reqwest::Method::PATCH,
                    "api/v1/me",
                    Some(json!({ "display_name": "Ann Again" })),
                )
                .await?;
            ensure!(renamed.status() == StatusCode::OK, "rename: {}", renamed.status());
            ensure!(
                ann.delete("api/v1/me/avatar").await?.status() == StatusCode::OK,
                "no removal"
            );
            reads(&a, "#nav-profile .shell-user", "Ann Again").await?;
            initials_shown(&a, "#nav-profile .avatar", "AA").await?;
            same_page(&a, "Ann's own browser").await?;
            reads(&b, "#conversation-title", "Ann Again").await?;
            initials_shown(&b, ".pane-header .avatar", "AA").await?;
            initials_shown(&b, &format!("{dm_row} .avatar"), "AA").await?;

            // Bob's contacts page, open, reads its list again.
            click(&b, Locator::Id("nav-contacts")).await?;
            reads(&b, "li.contact[data-username='live_ann'] .name", "Ann Again").await?;
            let renamed = ann
                .call(
                    reqwest::Method::PATCH,
                    "api/v1/me",
                    Some(json!({ "display_name": "Ann Thrice" })),
                )
                .await?;
            ensure!(renamed.status() == StatusCode::OK, "rename: {}", renamed.status());
            reads(&b, "li.contact[data-username='live_ann'] .name", "Ann Thrice").await?;
            same_page(&b, "Bob's contacts").await?;
            Ok(())
        })
        .await;
    bob_browser.run("avatars_live_bob", |_| async { outcome }).await
}

/// Whether the pane's header at `css` is one line (as tall as its tallest
/// item, every item side by side on it) inside the window, its title cut
/// off only with an ellipsis; with `cut`, whether the title is cut off.
async fn header_is_one_line(c: &Client, css: &str, cut: Option<bool>, when: &str) -> anyhow::Result<()> {
    wait_js(
        c,
        &format!("{when}: {css} on one line"),
        "const header = document.querySelector(arguments[0]);
         if (!header) return 'no header';
         const title = header.querySelector('h2');
         const items = [...header.children].filter(el => el.getClientRects().length > 0);
         const h = header.getBoundingClientRect();
         const tallest = Math.max(...items.map(el => el.getBoundingClientRect().height));
         const problems = [];
         if (h.height > tallest + 1) problems.push(`${h.height} px tall for items of at most ${tallest} px`);
         const rects = items.map(el => el.getBoundingClientRect());
         for (let i = 1; i < rects.length; i++) {
             if (rects[i].left < rects[i - 1].right - 0.5) problems.push(`item ${i} not beside item ${i - 1}`);
         }
         if (h.right > window.innerWidth + 0.5) problems.push('past the window');
         const cut = title.scrollWidth > title.clientWidth + 1;
         if (arguments[1] !== null && cut !== arguments[1]) problems.push(cut ? 'the title is cut off' : 'the title is whole');
         if (cut && getComputedStyle(title).textOverflow !== 'ellipsis') problems.push('cut without an ellipsis');
         // Room for a few letters of it, whatever else is in the header.
         const em = parseFloat(getComputedStyle(title).fontSize);
         if (title.clientWidth < 3 * em) problems.push(`the title has ${title.clientWidth} px`);
         return problems.length ? problems.join('; ') : true;",
        vec![json!(css), json!(cut)],
    )
    .await
}

/// No `.notice` without words in the page (an empty one is a blank band).
async fn no_empty_notices(c: &Client, when: &str) -> anyhow::Result<()> {
    let empty = c
        .execute(
            "return [...document.querySelectorAll('.notice')].filter(el => el.textContent.trim() === '').length;",
            vec![],
        )
        .await?;
    ensure!(empty == json!(0), "{when}: {empty} empty notices");
    Ok(())
}

#[tokio::test]
async fn headers_are_one_line_and_empty_notices_take_no_room() -> anyhow::Result<()> {
    let server = TestServer::with_app().await?;
    let [ann, bob, cat] = register_all(&server, ["line_ann", "line_bob", "line_cat"]).await?;
    let dm = befriend(&ann, &bob).await?.0;
    befriend(&ann, &cat).await?;
    let long = "Saturday morning hikers, climbers and board game players";
    let group = create_group(&ann, long, &[&bob]).await?;
    let short = create_group(&ann, "Hikes", &[&bob]).await?;
    let url = server.url.clone();
    Browser::launch()
        .await?
        .run("avatars_header_lines", |c| async move {
            sign_in(&c, &url, "line_ann").await?;
            for (width, height) in [(375, 812), (1280, 800)] {
                let at = format!("{width}×{height}");
                set_viewport(&c, width, height).await?;
                open_chat(&c, &url, group.id.0).await?;
                header_is_one_line(
                    &c,
                    "header.pane-header",
                    Some(true),
                    &format!("a long group name at {at}"),
                )
                .await?;
                open_chat(&c, &url, short.id.0).await?;
                header_is_one_line(
                    &c,
                    "header.pane-header",
                    Some(false),
                    &format!("a short group name at {at}"),
                )
                .await?;
                open_chat(&c, &url, dm).await?;
                header_is_one_line(&c, "header.pane-header", None, &format!("a DM at {at}")).await?;
                fits_the_width(&c, &format!("a DM at {at}")).await?;

                // Pages with a status line and nothing to say in it.
                c.goto(&format!("{url}profile")).await?;
                wait_for(&c, "//ul[@class='devices']/li").await?;
                no_empty_notices(&c, &format!("the profile at {at}")).await?;
                // Nothing between the Devices heading and the list.
                let gap = c
                    .execute(
                        "return document.querySelector('ul.devices').getBoundingClientRect().top
                             - document.getElementById('devices-title').getBoundingClientRect().bottom;",
                        vec![],
                    )
                    .await?
                    .as_f64()
                    .unwrap_or(f64::MAX);
                ensure!(gap < 24.0, "{gap} px between Devices and the list at {at}");
                c.goto(&format!("{url}contacts")).await?;
                wait_for(&c, "//li[@class='contact']").await?;
                no_empty_notices(&c, &format!("contacts at {at}")).await?;
                c.goto(&format!("{url}groups/{}", group.id.0)).await?;
                wait_for(&c, "//li[@class='member']").await?;
                no_empty_notices(&c, &format!("the group's page at {at}")).await?;
                header_is_one_line(
                    &c,
                    ".group-panel .pane-header",
                    Some(true),
                    &format!("the group's page at {at}"),
                )
                .await?;
                // Its checklist of contacts to add shows their pictures too.
                wait_for(&c, "//ul[@class='choices']/li/label/*[contains(@class,'avatar')]").await?;
                c.goto(&format!("{url}groups/new")).await?;
                wait_for(&c, "//ul[@class='choices']/li/label/*[contains(@class,'avatar')]").await?;
                no_empty_notices(&c, &format!("a new group at {at}")).await?;
            }
            // The notice still says what happened, once there is something.
            c.goto(&format!("{url}contacts")).await?;
            click(&c, Locator::Css("li.contact[data-username='line_cat'] button.remove")).await?;
            wait_for(
                &c,
                "//div[@role='status']/p[@class='notice'][normalize-space(.)='Contact removed.']",
            )
            .await?;
            no_empty_notices(&c, "after removing a contact").await?;
            Ok(())
        })
        .await
}
