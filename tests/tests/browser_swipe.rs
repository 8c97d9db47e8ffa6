//! The image viewer on a 375×812 phone: a swipe to the left shows the next
//! image and one to the right the previous one, a touch that moves too
//! little or mostly up or down does nothing, and the viewer stays open.
//! The touches are WebDriver touch pointer actions, which chromedriver
//! turns into the touch and pointer events a finger makes.

use std::time::Duration;

use anyhow::ensure;
use fantoccini::{
    actions::{InputSource, PointerAction, TouchActions, MOUSE_BUTTON_LEFT},
    Client, Locator,
};
use natter_common::events::MessageContent;
use natter_tests::{
    api::{befriend, register_all},
    browser::{click, frames, open_chat, set_viewport, sign_in, wait_for},
    ws::WsClient,
    Browser, TestServer, FAST,
};

/// A finger put down at (`x`, `y`), moved by (`dx`, `dy`) over a fifth of
/// a second, and lifted.
async fn swipe(c: &Client, (x, y): (f64, f64), (dx, dy): (f64, f64)) -> anyhow::Result<()> {
    c.perform_actions(
        TouchActions::new("finger".into())
            .then(PointerAction::MoveTo { duration: None, x, y })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::MoveTo {
                duration: Some(Duration::from_millis(100)),
                x: x + dx / 2.0,
                y: y + dy / 2.0,
            })
            .then(PointerAction::MoveTo {
                duration: Some(Duration::from_millis(100)),
                x: x + dx,
                y: y + dy,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            }),
    )
    .await?;
    c.release_actions().await?;
    Ok(())
}

/// Waits until the viewer is open on image `media_id`, number `count`.
async fn viewer_shows(c: &Client, media_id: &str, count: &str) -> anyhow::Result<()> {
    wait_for(
        c,
        &format!(
            "//div[contains(@class,'image-viewer')][@role='dialog']\
             [.//img[contains(@class,'viewer-image')][@src='/media/{media_id}']]\
             [.//*[contains(@class,'viewer-count')][normalize-space(.)='{count}']]"
        ),
    )
    .await
}

#[tokio::test]
async fn a_swipe_steps_through_the_images_on_a_phone() -> anyhow::Result<()> {
    let server = TestServer::with_app_and(&FAST).await?;
    let [ann, bob] = register_all(&server, ["swipe_ann", "swipe_bob"]).await?;
    let dm = befriend(&ann, &bob).await?;
    let mut ann_ws = WsClient::connect(&server, &ann.token).await?;
    let mut images = Vec::new();
    for (i, shade) in [40u8, 120, 200].into_iter().enumerate() {
        let id = ann.upload_png(900, 600, shade).await?.id;
        ann_ws
            .post(
                dm,
                &format!("image-{i}"),
                MessageContent::Image { media_id: id.clone() },
            )
            .await?
            .map_err(|code| anyhow::anyhow!("image {i} refused: {code:?}"))?;
        images.push(id);
    }

    let url = server.url.clone();
    let images = &images;
    Browser::launch()
        .await?
        .run("swipe_viewer", |b| async move {
            set_viewport(&b, 375, 812).await?;
            sign_in(&b, &url, "swipe_bob").await?;
            open_chat(&b, &url, dm.0).await?;
            click(
                &b,
                Locator::Css(&format!("ol.timeline button.image-link[data-media='{}']", images[0])),
            )
            .await?;
            viewer_shows(&b, &images[0], "1 of 3").await?;
            // Over the image, which fills the width.
            let (right, left, middle) = ((300.0, 420.0), (75.0, 420.0), (187.0, 420.0));

            // To the left: the next image, twice; the last stays the last.
            swipe(&b, right, (-200.0, 10.0)).await?;
            viewer_shows(&b, &images[1], "2 of 3").await?;
            swipe(&b, right, (-200.0, -10.0)).await?;
            viewer_shows(&b, &images[2], "3 of 3").await?;

            // To the right: the previous one.
            swipe(&b, left, (200.0, 0.0)).await?;
            viewer_shows(&b, &images[1], "2 of 3").await?;

            // Too short, or mostly downwards: no step.
            swipe(&b, middle, (-15.0, 0.0)).await?;
            swipe(&b, middle, (-60.0, 250.0)).await?;
            frames(&b, 3).await?;
            viewer_shows(&b, &images[1], "2 of 3").await?;
            ensure!(
                b.current_url().await?.path().starts_with("/c/"),
                "the page navigated away"
            );
            Ok(())
        })
        .await
}
