//! Images in the real app: a thumbnail opens the in-app viewer, which steps
//! through the conversation's images in timeline order by keyboard and by
//! its buttons and gives focus back when it closes, without leaving the
//! page; an attached image is previewed and sent only on "Send"; and the
//! viewer fits a 375×812 phone.

use anyhow::{ensure, Context};
use fantoccini::{
    actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT},
    key::Key,
    Client, Locator,
};
use natter_common::{
    events::{EventBody, MessageContent},
    frames::ServerFrame,
    ids::ConversationId,
};
use natter_tests::{
    api::{befriend, full_history, register_all, Authed},
    browser::{click, open_chat, press, set_viewport, sign_in, wait_for, wait_js},
    ws::WsClient,
    Browser, TestServer, FAST,
};
use serde_json::json;

/// Posts an image message of `media_id` and returns its ack.
async fn post_image(
    ws: &mut WsClient,
    dm: ConversationId,
    tag: &str,
    media_id: &str,
) -> anyhow::Result<natter_tests::ws::Ack> {
    ws.post(
        dm,
        tag,
        MessageContent::Image {
            media_id: media_id.into(),
        },
    )
    .await?
    .map_err(|code| anyhow::anyhow!("image {tag} refused: {code:?}"))
}

/// The thumbnail of image `media_id` in the timeline.
fn thumbnail(media_id: &str) -> String {
    format!("ol.timeline button.image-link[data-media='{media_id}']")
}

/// Waits until the viewer is open, modal, showing image `media_id` as
/// number `count` ("2 of 3").
async fn viewer_shows(c: &Client, media_id: &str, count: &str) -> anyhow::Result<()> {
    wait_for(
        c,
        &format!(
            "//div[contains(@class,'image-viewer')][@role='dialog'][@aria-modal='true'][@aria-label]\
             [.//img[contains(@class,'viewer-image')][@src='/media/{media_id}']]\
             [.//*[contains(@class,'viewer-count')][normalize-space(.)='{count}']]"
        ),
    )
    .await
}

/// Waits until the viewer has gone and focus is on a thumbnail of the
/// timeline (`media_id`'s, if given).
async fn viewer_closed_with_focus_on_thumbnail(c: &Client, media_id: Option<&str>) -> anyhow::Result<()> {
    let wanted = match media_id {
        Some(id) => thumbnail(id),
        None => "ol.timeline button.image-link".to_owned(),
    };
    wait_js(
        c,
        "the viewer closed and focus back on the thumbnail",
        "const a = document.activeElement;
         if (document.querySelector('.image-viewer')) return 'the viewer is still open';
         return (a && a.matches(arguments[0])) || 'focus is on ' + (a ? a.outerHTML.slice(0, 120) : 'nothing');",
        vec![json!(wanted)],
    )
    .await
}

/// Waits until focus is inside the viewer.
async fn focus_in_viewer(c: &Client) -> anyhow::Result<()> {
    wait_js(
        c,
        "focus inside the viewer",
        "const a = document.activeElement;
         return (a && a.closest('.image-viewer') !== null) || 'focus is on ' + (a ? a.outerHTML.slice(0, 120) : 'nothing');",
        vec![],
    )
    .await
}

/// Clicks at a point of the viewport.
async fn click_at(c: &Client, x: f64, y: f64) -> anyhow::Result<()> {
    c.perform_actions(
        MouseActions::new("mouse".into())
            .then(PointerAction::MoveTo { duration: None, x, y })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            }),
    )
    .await?;
    Ok(())
}

/// The image messages of a conversation as its history has them now.
async fn images_in_history(user: &Authed, dm: ConversationId) -> anyhow::Result<Vec<String>> {
    Ok(full_history(user, dm)
        .await?
        .into_iter()
        .filter_map(|event| match event.body {
            EventBody::Message {
                content: MessageContent::Image { media_id },
                ..
            } => Some(media_id),
            _ => None,
        })
        .collect())
}

#[tokio::test]
async fn the_viewer_steps_through_a_chats_images_and_gives_focus_back() -> anyhow::Result<()> {
    let server = TestServer::with_app_and(&FAST).await?;
    let [ann, bob] = register_all(&server, ["view_ann", "view_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    // Three images, with a text and a deleted image among them.
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let mut media = Vec::new();
    for shade in [40, 120, 200, 250] {
        media.push(ann.upload_png(640, 480, shade).await?.id);
    }
    let (first, second, gone, third) = (&media[0], &media[1], &media[2], &media[3]);
    post_image(&mut ann_ws, dm, "img-1", first).await?;
    ann_ws.post_text(dm, "between", "a text between the images").await?;
    post_image(&mut ann_ws, dm, "img-2", second).await?;
    let deleted = post_image(&mut ann_ws, dm, "img-gone", gone).await?;
    post_image(&mut ann_ws, dm, "img-3", third).await?;
    ann_ws
        .delete(dm, "del-gone", &deleted.id)
        .await?
        .map_err(|code| anyhow::anyhow!("delete refused: {code:?}"))?;

    let url = server.url.clone();
    let (first, second, third) = (first.clone(), second.clone(), third.clone());
    Browser::launch()
        .await?
        .run("images_viewer", |b| async move {
            sign_in(&b, &url, "view_bob").await?;
            open_chat(&b, &url, dm.0).await?;
            wait_for(
                &b,
                "(//ol[contains(@class,'timeline')]//button[contains(@class,'image-link')])[3]",
            )
            .await?;
            ensure!(
                b.find_all(Locator::Css("ol.timeline button.image-link")).await?.len() == 3,
                "the deleted image still has a thumbnail"
            );
            let page = b.current_url().await?;

            // The second thumbnail, a button, opens the viewer on its image.
            click(&b, Locator::Css(&thumbnail(&second))).await?;
            viewer_shows(&b, &second, "2 of 3").await?;
            focus_in_viewer(&b).await?;
            let original = b.find(Locator::Css(".image-viewer a.viewer-original")).await?;
            ensure!(original.attr("href").await?.as_deref() == Some(format!("/media/{second}").as_str()));
            ensure!(original.attr("target").await?.as_deref() == Some("_blank"));
            ensure!(original
                .attr("rel")
                .await?
                .is_some_and(|rel| rel.split_whitespace().any(|r| r == "noopener")));

            // Arrows step through the chat's images in order, past the deleted one.
            press(&b, Key::Right).await?;
            viewer_shows(&b, &third, "3 of 3").await?;
            press(&b, Key::Left).await?;
            viewer_shows(&b, &second, "2 of 3").await?;
            press(&b, Key::Left).await?;
            viewer_shows(&b, &first, "1 of 3").await?;
            // The first has nothing before it.
            press(&b, Key::Left).await?;
            viewer_shows(&b, &first, "1 of 3").await?;
            // So do the on-screen buttons.
            click(&b, Locator::Css(".image-viewer button.viewer-next")).await?;
            viewer_shows(&b, &second, "2 of 3").await?;
            click(&b, Locator::Css(".image-viewer button.viewer-prev")).await?;
            viewer_shows(&b, &first, "1 of 3").await?;

            // Escape closes it; focus is back on the thumbnail that opened it.
            press(&b, Key::Escape).await?;
            viewer_closed_with_focus_on_thumbnail(&b, Some(&second)).await?;

            // The close button, and a click on the backdrop beside the image.
            click(&b, Locator::Css(&thumbnail(&third))).await?;
            viewer_shows(&b, &third, "3 of 3").await?;
            click(&b, Locator::Css(".image-viewer button.viewer-close")).await?;
            viewer_closed_with_focus_on_thumbnail(&b, Some(&third)).await?;
            click(&b, Locator::Css(&thumbnail(&first))).await?;
            viewer_shows(&b, &first, "1 of 3").await?;
            let height = b
                .execute("return window.innerHeight", vec![])
                .await?
                .as_f64()
                .unwrap_or(0.0);
            click_at(&b, 4.0, height - 4.0).await?;
            viewer_closed_with_focus_on_thumbnail(&b, Some(&first)).await?;

            // All of it happened in the page: no navigation, no new tab.
            ensure!(b.current_url().await? == page, "the page navigated");
            let windows = b.windows().await?.len();
            ensure!(windows == 1, "{windows} windows are open");
            Ok(())
        })
        .await
}

#[tokio::test]
async fn an_attached_image_is_previewed_and_sent_only_on_send() -> anyhow::Result<()> {
    let server = TestServer::with_app_and(&FAST).await?;
    let [ann, bob] = register_all(&server, ["attach_ann", "attach_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let picture = tempfile::Builder::new().prefix("holiday-").suffix(".png").tempfile()?;
    image::DynamicImage::new_rgb8(600, 300).save_with_format(picture.path(), image::ImageFormat::Png)?;
    let path = picture.path().to_str().context("temp path")?.to_owned();
    let name = picture
        .path()
        .file_name()
        .and_then(|n| n.to_str())
        .context("file name")?
        .to_owned();

    let url = server.url.clone();
    let (server, ann, bob) = (&server, &ann, &bob);
    Browser::launch()
        .await?
        .run("images_attach", |a| async move {
            sign_in(&a, &url, "attach_ann").await?;
            open_chat(&a, &url, dm.0).await?;
            let preview = format!(
                "//div[contains(@class,'attachment-preview')]\
                 [.//img[starts-with(@src,'blob:')]][.//*[normalize-space(.)='{name}']]\
                 [.//button[@id='send-attachment']][.//button[@id='cancel-attachment']]"
            );
            let no_preview =
                "return document.querySelector('.attachment-preview') === null || 'the preview is still there'";

            // Attached through the file dialog: a preview, loaded from the file.
            a.find(Locator::Id("attach-input")).await?.send_keys(&path).await?;
            wait_for(&a, &preview).await?;
            wait_js(
                &a,
                "the preview image loaded",
                "const img = document.querySelector('.attachment-preview img');
                 return (img.complete && img.naturalWidth === 600) || 'natural width ' + img.naturalWidth;",
                vec![],
            )
            .await?;
            let blob = a
                .find(Locator::Css(".attachment-preview img"))
                .await?
                .attr("src")
                .await?
                .context("preview src")?;

            // Cancel: the preview goes, its object URL is freed, nothing is sent.
            click(&a, Locator::Id("cancel-attachment")).await?;
            wait_js(&a, "the preview gone", no_preview, vec![]).await?;
            let freed = a
                .execute_async(
                    "const done = arguments[arguments.length - 1];
                     fetch(arguments[0]).then(() => done(false), () => done(true));",
                    vec![json!(blob)],
                )
                .await?;
            ensure!(freed == json!(true), "the cancelled preview's object URL still answers");
            ensure!(
                a.find_all(Locator::Css(".upload-status")).await?.is_empty(),
                "an upload started"
            );
            ensure!(
                images_in_history(ann, dm).await?.is_empty(),
                "a cancelled image was sent"
            );

            // Escape in the preview cancels it too.
            a.find(Locator::Id("attach-input")).await?.send_keys(&path).await?;
            wait_for(&a, &preview).await?;
            press(&a, Key::Escape).await?;
            wait_js(&a, "the preview gone after Escape", no_preview, vec![]).await?;
            ensure!(
                images_in_history(ann, dm).await?.is_empty(),
                "an image was sent on Escape"
            );

            // Attached again and sent: Bob hears of it, once.
            let mut bob_ws = WsClient::connect(server, &bob.token).await?;
            a.find(Locator::Id("attach-input")).await?.send_keys(&path).await?;
            wait_for(&a, &preview).await?;
            click(&a, Locator::Id("send-attachment")).await?;
            wait_js(&a, "the preview gone after Send", no_preview, vec![]).await?;
            let event = bob_ws.next_event().await?;
            let EventBody::Message {
                content: MessageContent::Image { media_id },
                ..
            } = event.body
            else {
                anyhow::bail!("expected the image message, got {:?}", event.body);
            };
            a.wait()
                .for_element(Locator::Css(&format!(
                    "ol.timeline li.message[data-seq] button.image-link[data-media='{media_id}']"
                )))
                .await?;
            let more: Vec<ServerFrame> = bob_ws
                .until_pong(7)
                .await?
                .into_iter()
                .filter(|frame| matches!(frame, ServerFrame::Event { .. }))
                .collect();
            ensure!(more.is_empty(), "more events after the image: {more:?}");
            ensure!(
                images_in_history(ann, dm).await? == [media_id],
                "the history's images differ"
            );
            Ok(())
        })
        .await
}

#[tokio::test]
async fn the_viewer_fits_a_phone() -> anyhow::Result<()> {
    let server = TestServer::with_app_and(&FAST).await?;
    let [ann, bob] = register_all(&server, ["phone_view_ann", "phone_view_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    // Larger than the screen both ways, and a second one to step to.
    let big = ann.upload_png(1600, 2400, 90).await?.id;
    let other = ann.upload_png(1200, 800, 180).await?.id;
    post_image(&mut ann_ws, dm, "big", &big).await?;
    post_image(&mut ann_ws, dm, "other", &other).await?;

    let url = server.url.clone();
    Browser::launch()
        .await?
        .run("images_phone", |b| async move {
            set_viewport(&b, 375, 812).await?;
            sign_in(&b, &url, "phone_view_bob").await?;
            open_chat(&b, &url, dm.0).await?;
            click(&b, Locator::Css(&thumbnail(&big))).await?;
            viewer_shows(&b, &big, "1 of 2").await?;
            // The image is scaled down to fit; the controls are on screen,
            // not covered, and big enough to tap.
            let fits = "const img = document.querySelector('.image-viewer img.viewer-image');
                 if (!img.complete || img.naturalWidth === 0) return 'not loaded yet';
                 const [w, h] = [window.innerWidth, window.innerHeight];
                 const box = el => el.getBoundingClientRect();
                 const inside = r => r.left >= 0 && r.top >= 0 && r.right <= w && r.bottom <= h && r.width > 0 && r.height > 0;
                 const r = box(img);
                 if (!inside(r)) return `image at ${JSON.stringify(r)} in ${w}×${h}`;
                 if (r.width >= img.naturalWidth) return `image not scaled: ${r.width} px wide`;
                 for (const name of ['viewer-close', 'viewer-prev', 'viewer-next']) {
                     const el = document.querySelector('.image-viewer button.' + name);
                     const c = box(el);
                     if (!inside(c)) return `${name} at ${JSON.stringify(c)}`;
                     if (c.width < 44 || c.height < 44) return `${name} is ${c.width}×${c.height}`;
                     const hit = document.elementFromPoint(c.left + c.width / 2, c.top + c.height / 2);
                     if (!el.contains(hit)) return `${name} is covered by ${hit && hit.outerHTML.slice(0, 80)}`;
                 }
                 return true;";
            wait_js(&b, "the viewer fits the phone", fits, vec![]).await?;
            click(&b, Locator::Css(".image-viewer button.viewer-next")).await?;
            viewer_shows(&b, &other, "2 of 2").await?;
            wait_js(&b, "the second image fits the phone", fits, vec![]).await?;
            click(&b, Locator::Css(".image-viewer button.viewer-close")).await?;
            viewer_closed_with_focus_on_thumbnail(&b, Some(&big)).await?;
            Ok(())
        })
        .await
}
